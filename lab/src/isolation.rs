//! DOC: keeps heavy kernel tests apart from the tests they can disturb, across every test
//! process of the machine (several `cargo test` runs may share it). A test that floods the
//! kernel (thousands of interfaces, large tables) holds [`KernelLock::exclusive`]; every lab
//! and namespace test holds [`KernelLock::shared`] for its lifetime. Both are `flock`s on one
//! file, so they are released when the holder exits, even when it crashed; inside a process
//! a read-write lock does the same between test threads (`flock` is per open file).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The lock file (next to the lab's liveness locks).
pub const KERNEL_LOCK: &str = "/run/bgplab/kernel.lock";

static IN_PROCESS: RwLock<()> = RwLock::new(());

/// A held kernel lock (released on drop).
pub struct KernelLock {
    _file: Option<File>,
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _exclusive: Option<RwLockWriteGuard<'static, ()>>,
}

impl std::fmt::Debug for KernelLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelLock")
    }
}

fn flock(exclusive: bool) -> Option<File> {
    std::fs::create_dir_all("/run/bgplab").ok()?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(KERNEL_LOCK)
        .ok()?;
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on a file descriptor we own; blocks until granted.
    (unsafe { libc::flock(f.as_raw_fd(), op) } == 0).then_some(f)
}

impl KernelLock {
    /// For ordinary namespace tests: many at once, none while a heavy test runs.
    pub fn shared() -> KernelLock {
        let g = IN_PROCESS.read().unwrap_or_else(|p| p.into_inner());
        KernelLock {
            _file: flock(false),
            _shared: Some(g),
            _exclusive: None,
        }
    }

    /// For heavy kernel tests: alone on the machine (among tests that take these locks).
    pub fn exclusive() -> KernelLock {
        let g = IN_PROCESS.write().unwrap_or_else(|p| p.into_inner());
        KernelLock {
            _file: flock(true),
            _shared: None,
            _exclusive: Some(g),
        }
    }
}

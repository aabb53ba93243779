//! Giving freed memory back to the kernel once the set of sessions settles.
//!
//! glibc's allocator returns memory to the kernel only from the top of its heaps
//! (`M_TRIM_THRESHOLD`): what the sessions that came up or left freed between blocks still in
//! use (their OPEN exchange, the first UPDATEs, the RIB's messages, `show protocols` replies)
//! stays in the process, so RSS after 1,000 neighbours came up varied between 5.3 and 9.5 KB
//! per neighbour for the same ~4 KB of live heap (issue 19). `malloc_trim(0)` also releases the
//! free pages inside the heaps. It runs when session states have stopped changing for
//! [`QUIET`], at most once per [`MIN_INTERVAL`], on a blocking thread.

use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// How long session states must stay unchanged before the trim.
const QUIET: Duration = Duration::from_secs(2);

/// The shortest time between two trims (each walks the allocator's free lists).
const MIN_INTERVAL: Duration = Duration::from_secs(5);

struct Trim {
    /// When to trim, if a change asked for one.
    due: Mutex<Option<Instant>>,
    wake: Notify,
}

static TRIM: OnceLock<Trim> = OnceLock::new();

/// A session changed state or a neighbour left: trim once things are quiet. Must be called
/// inside the runtime (the first call starts the task that trims).
pub(crate) fn soon() {
    let t = TRIM.get_or_init(|| {
        tokio::spawn(run());
        Trim {
            due: Mutex::new(None),
            wake: Notify::new(),
        }
    });
    *super::lock(&t.due) = Some(Instant::now() + QUIET);
    t.wake.notify_one();
}

async fn run() {
    // `soon` sets TRIM right after spawning this task.
    let t = loop {
        if let Some(t) = TRIM.get() {
            break t;
        }
        tokio::task::yield_now().await;
    };
    loop {
        let due = *super::lock(&t.due);
        match due {
            None => t.wake.notified().await,
            // `soon` may have moved it later meanwhile: look again after the sleep.
            Some(d) if d > Instant::now() => tokio::time::sleep_until(d).await,
            Some(_) => {
                *super::lock(&t.due) = None;
                let started = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(release).await;
                tracing::debug!("freed memory given back in {:?}", started.elapsed());
                tokio::time::sleep(MIN_INTERVAL).await;
            }
        }
    }
}

/// Returns the allocator's free pages to the kernel.
fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists (under its locks).
    unsafe {
        libc::malloc_trim(0);
    }
}

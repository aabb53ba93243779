//! `bgpd` command-line entry point: the daemon and its control client (see [`bgpd::cli`]).
// As in the core crates: no panicking shortcuts outside tests (integration tests allow them).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::process::ExitCode;

use bgpd::personality::{self, Personality};

fn main() -> ExitCode {
    tune_malloc();
    // Installed under BIRD's names (`bird`, `bird6`, `birdcl`, ...) it is that program.
    let mut argv = std::env::args_os();
    let arg0 = argv.next().unwrap_or_default();
    let prog = arg0.to_string_lossy().into_owned();
    let args = || -> Vec<String> { argv.map(|a| a.to_string_lossy().into_owned()).collect() };
    match Personality::of_argv0(&arg0) {
        Personality::Bgpd => bgpd::cli::main(),
        Personality::Daemon(f) => personality::daemon_main(f, &prog, &args()),
        Personality::Client(f) => personality::client_main(f, &prog, &args()),
    }
}

/// glibc's allocator raises its mmap threshold each time a large block is freed, after which
/// the multi-megabyte vectors a full table load grows (queues, logs, change chunks) come from
/// the per-thread arenas and stay there. A fixed threshold returns them to the kernel when
/// freed, and two arenas are enough for our threads (RIB task, FIB thread): at 1M routes the
/// daemon's peak RSS went from 190 MB to 152 MB with these settings (benches/REPORT.md).
/// Environment variables (`MALLOC_MMAP_THRESHOLD_`, ...) still override them.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |var: &str, param: libc::c_int, value: libc::c_int| {
            if std::env::var_os(var).is_none() {
                // SAFETY: mallopt only adjusts allocator parameters; called before any thread
                // is started.
                unsafe { libc::mallopt(param, value) };
            }
        };
        set("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 256 * 1024);
        set(
            "MALLOC_TRIM_THRESHOLD_",
            libc::M_TRIM_THRESHOLD,
            1024 * 1024,
        );
        set("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2);
    }
}

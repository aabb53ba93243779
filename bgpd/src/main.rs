//! `bgpd` command-line entry point: the daemon and its control client (see [`bgpd::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    tune_malloc();
    bgpd::cli::main()
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

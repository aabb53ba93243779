//! DOC: giving freed memory back to the kernel once the set of sessions settles (the peer
//! tasks ask for it): when is `bgp_core::driver::trim`'s answer ([`TrimSchedule`]); this task
//! waits for it and runs `malloc_trim(0)` (which also releases the free pages inside the heaps)
//! on a blocking thread.

use std::sync::{Mutex, OnceLock};

use bgp_core::driver::trim::TrimSchedule;
use tokio::sync::Notify;

/// The log target of these lines, as before they moved here (`[log] level` directives name it).
const LOG: &str = "bgpd::daemon::peer::trim";

struct Trim {
    schedule: Mutex<TrimSchedule>,
    wake: Notify,
}

static TRIM: OnceLock<Trim> = OnceLock::new();

/// Trims done (for the test).
#[cfg(test)]
static DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A session came up or went down, or a neighbour left: trim once things are quiet. Must be
/// called inside the runtime (the first call starts the task that trims).
pub(crate) fn soon() {
    let t = TRIM.get_or_init(|| {
        tokio::spawn(run());
        Trim {
            schedule: Mutex::new(TrimSchedule::default()),
            wake: Notify::new(),
        }
    });
    crate::daemon::lock(&t.schedule).ask(std::time::Instant::now());
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
        let now = std::time::Instant::now();
        let (due, trim) = {
            let mut s = crate::daemon::lock(&t.schedule);
            (s.poll_timeout(), s.poll(now))
        };
        match due {
            None => t.wake.notified().await,
            // An ask may move it later meanwhile: look again after the sleep.
            Some(_) if !trim => {
                let at = due.map_or(now, |d| d.max(now));
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
            }
            Some(_) => {
                let started = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(release).await;
                #[cfg(test)]
                DONE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tracing::debug!(target: LOG, "freed memory given back in {:?}", started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn an_ask_is_followed_by_a_trim() {
        let before = DONE.load(Ordering::SeqCst);
        for _ in 0..3 {
            soon();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while DONE.load(Ordering::SeqCst) == before {
            assert!(Instant::now() < deadline, "no trim");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

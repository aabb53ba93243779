//! DOC: systemd integration of the binary's daemon (`Type=notify`, `WatchdogSec=`), over the
//! `sd-notify` crate. Every call is a no-op when `NOTIFY_SOCKET` is unset (not started by
//! systemd), and a failed send is logged, never fatal.
//!
//! * `READY=1` once the BGP listeners are bound (in `Daemon::start`) and the control socket
//!   and the metrics endpoint are bound (in [`super::run`]): from then on `bgpd show ...`
//!   answers.
//! * `RELOADING=1` (with `MONOTONIC_USEC`) when SIGHUP starts a reload, `READY=1` when it is
//!   applied or refused; `STOPPING=1` on SIGTERM / SIGINT.
//! * `WATCHDOG=1` every quarter of `WATCHDOG_USEC`, but only if both the RIB task and the FIB
//!   thread went around their loops since the last ping. Their liveness signals are counters
//!   they bump anyway: `Stats::rib_batches` (one per RIB loop turn, at least every second: the
//!   task has a 1 s tick) and `Stats::fib_turns` (one per FIB loop turn, at least every second:
//!   its wait is capped at 1 s). A task stuck behind a lock or a thread stuck in a syscall
//!   stops the pings, and systemd restarts the daemon (`Restart=on-failure`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use sd_notify::NotifyState;

use super::{Handle, Stats};

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("sd_notify: {e}");
    }
}

/// `READY=1` with a status line.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1`: a SIGHUP reload starts (followed by [`ready`]).
pub(crate) fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

/// `STOPPING=1`: the graceful shutdown starts.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How far the RIB task and the FIB thread got (`None`: no FIB thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    rib: u64,
    fib: Option<u64>,
}

impl Progress {
    fn read(stats: &Stats, fib_enabled: bool) -> Progress {
        Progress {
            rib: stats.rib_batches.load(Ordering::Relaxed),
            fib: fib_enabled.then(|| stats.fib_turns()),
        }
    }

    /// Whether every loop went around since `earlier`.
    fn advanced_since(&self, earlier: &Progress) -> bool {
        self.rib != earlier.rib && (self.fib.is_none() || self.fib != earlier.fib)
    }
}

/// Starts the watchdog pinger when systemd asked for one (`WATCHDOG_USEC`, and
/// `WATCHDOG_PID` unset or ours).
pub(crate) fn spawn_watchdog(handle: &Handle) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let shared = std::sync::Arc::clone(&handle.shared);
    let period = (timeout / 4).max(Duration::from_millis(10));
    tracing::info!(?timeout, "systemd watchdog enabled");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Progress::read(&shared.stats, shared.fib_enabled);
        let mut missed = 0u32;
        loop {
            tick.tick().await;
            if shared.shutting_down.load(Ordering::Relaxed) {
                return;
            }
            let now = Progress::read(&shared.stats, shared.fib_enabled);
            if now.advanced_since(&last) {
                send(&[NotifyState::Watchdog]);
                last = now;
                missed = 0;
            } else {
                missed += 1;
                if missed == 2 {
                    tracing::warn!(
                        rib_turns = now.rib,
                        fib_turns = ?now.fib,
                        "watchdog: no progress of the RIB task or the FIB thread for {:?}; not pinging systemd",
                        period * 2
                    );
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rib: u64, fib: Option<u64>) -> Progress {
        Progress { rib, fib }
    }

    #[test]
    fn pings_only_when_both_loops_went_around() {
        assert!(p(2, Some(2)).advanced_since(&p(1, Some(1))));
        assert!(!p(2, Some(1)).advanced_since(&p(1, Some(1))), "FIB stuck");
        assert!(!p(1, Some(2)).advanced_since(&p(1, Some(1))), "RIB stuck");
        assert!(!p(1, Some(1)).advanced_since(&p(1, Some(1))));
        assert!(p(2, None).advanced_since(&p(1, None)), "no FIB thread");
        assert!(!p(1, None).advanced_since(&p(1, None)));
    }

    #[test]
    fn stats_feed_the_progress() {
        let s = Stats::default();
        let a = Progress::read(&s, true);
        s.rib_batch(0, Duration::ZERO);
        assert!(!Progress::read(&s, true).advanced_since(&a));
        s.fib_state(0, 0);
        assert!(Progress::read(&s, true).advanced_since(&a));
        assert!(Progress::read(&s, false).advanced_since(&Progress::read(&Stats::default(), false)));
    }
}

//! DOC: systemd integration of the binary's daemon (`Type=notify`, `WatchdogSec=`), over the
//! `sd-notify` crate: platform code the daemon calls. Every call is a no-op when
//! `NOTIFY_SOCKET` is unset (not started by systemd), and a failed send is logged, never fatal.
//! Its log lines keep their target `bgpd::daemon::notify`.
//!
//! * `READY=1` once the BGP listeners are bound (in `Daemon::start`) and the control socket
//!   and the metrics endpoint are bound (in [`crate::daemon::run`]): from then on `bgpd show ...`
//!   answers.
//! * `RELOADING=1` (with `MONOTONIC_USEC`) when SIGHUP starts a reload, `READY=1` when it is
//!   applied or refused; `STOPPING=1` on SIGTERM / SIGINT.
//! * `WATCHDOG=1` every quarter of `WATCHDOG_USEC`, but only if both the RIB task and the FIB
//!   thread went around their loops since the last ping. Their liveness signals are counters
//!   they bump anyway: `Stats::rib_batches` (one per RIB loop turn, at least every second: the
//!   task has a 1 s tick) and `Stats::fib_turns` (one per FIB loop turn, at least every second:
//!   its wait is capped at 1 s). A task stuck behind a lock or a thread stuck in a syscall
//!   stops the pings, and systemd restarts the daemon (`Restart=on-failure`). The rule is
//!   `bgp_core::driver::watchdog`'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bgp_core::driver::watchdog::{Progress, Tick, Watchdog, STALL_TICKS};
use sd_notify::NotifyState;

use crate::daemon::Shared;
use crate::metrics::Stats;

/// The log target of these lines, as before they moved here (`[log] level` directives name it).
const LOG: &str = "bgpd::daemon::notify";

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(target: LOG, "sd_notify: {e}");
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
fn progress(stats: &Stats, fib_enabled: bool) -> Progress {
    Progress {
        rib: stats.rib_batches.load(Ordering::Relaxed),
        fib: fib_enabled.then(|| stats.fib_turns()),
    }
}

/// Starts the watchdog pinger when systemd asked for one (`WATCHDOG_USEC`, and
/// `WATCHDOG_PID` unset or ours).
pub(crate) fn spawn_watchdog(shared: &Arc<Shared>) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let shared = Arc::clone(shared);
    let period = (timeout / 4).max(Duration::from_millis(10));
    tracing::info!(target: LOG, ?timeout, "systemd watchdog enabled");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watchdog = Watchdog::new(progress(&shared.stats, shared.fib_enabled));
        loop {
            tick.tick().await;
            if shared.shutting_down.load(Ordering::Relaxed) {
                return;
            }
            let now = progress(&shared.stats, shared.fib_enabled);
            match watchdog.tick(now) {
                Tick::Ping => send(&[NotifyState::Watchdog]),
                Tick::Wait => {}
                Tick::Stalled => tracing::warn!(
                    target: LOG, rib_turns = now.rib,
                    fib_turns = ?now.fib,
                    "watchdog: no progress of the RIB task or the FIB thread for {:?}; not pinging systemd",
                    period * STALL_TICKS
                ),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_feed_the_progress() {
        let s = Stats::default();
        let a = progress(&s, true);
        s.rib_batch(0, Duration::ZERO);
        assert!(!progress(&s, true).advanced_since(&a));
        s.fib_state(0, 0);
        assert!(progress(&s, true).advanced_since(&a));
        assert!(progress(&s, false).advanced_since(&progress(&Stats::default(), false)));
    }
}

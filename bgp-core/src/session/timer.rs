//! DOC: the session's timers as an enum-indexed table of deadlines (quinn-proto style). Nothing
//! here reads a clock: deadlines are `Instant`s computed from the `now` the driver passes in.

use std::time::Instant;

/// The timers of one session (RFC 4271 §8, RFC 4724).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// ConnectRetryTimer: the next outgoing connection attempt (also BIRD's connect delay).
    ConnectRetry = 0,
    /// HoldTimer: the peer has been silent for too long.
    Hold = 1,
    /// KeepaliveTimer: time to send a KEEPALIVE.
    Keepalive = 2,
    /// DelayOpenTimer: stop waiting for the peer's OPEN and send ours.
    DelayOpen = 3,
    /// IdleHoldTimer: automatic restart after an error (exponential back-off) or after a
    /// max-prefix teardown.
    IdleHold = 4,
    /// Graceful restart helper: the peer's Restart Time, running while its session is down
    /// and its routes are kept stale (RFC 4724 §4.2).
    GracefulRestart = 5,
    /// Graceful restart helper: the upper bound on keeping stale routes once the session is
    /// back, waiting for End-of-RIB.
    StaleRoutes = 6,
}

const COUNT: usize = 7;

impl Timer {
    /// Every timer, in firing priority order for equal deadlines.
    pub const ALL: [Timer; COUNT] = [
        Timer::Hold,
        Timer::Keepalive,
        Timer::DelayOpen,
        Timer::ConnectRetry,
        Timer::IdleHold,
        Timer::GracefulRestart,
        Timer::StaleRoutes,
    ];
}

/// Deadlines indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers([Option<Instant>; COUNT]);

impl Timers {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = Some(at);
        }
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = None;
        }
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.0.get(t as usize).copied().flatten()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The timer with the earliest deadline at or before `now`, stopped: each expiry is
    /// handled exactly once, so a repeated or early `handle_timeout` is a no-op.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .iter()
            .copied()
            .filter(|t| self.get(*t).is_some_and(|d| d <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_once() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(Timer::Keepalive, t0 + Duration::from_secs(30));
        t.set(Timer::Hold, t0 + Duration::from_secs(90));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(t.take_expired(t0 + Duration::from_secs(29)), None);
        let late = t0 + Duration::from_secs(100);
        assert_eq!(t.take_expired(late), Some(Timer::Keepalive));
        assert_eq!(t.take_expired(late), Some(Timer::Hold));
        assert_eq!(t.take_expired(late), None);
        assert_eq!(t.next(), None);
    }
}

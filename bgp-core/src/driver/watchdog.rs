//! DOC: when a driver pings a service manager's watchdog (systemd's `WATCHDOG=1`): only if
//! every loop it watches went around since the last ping. Each loop bumps a counter once per
//! turn anyway (the RIB task's batches, the FIB thread's turns); a loop stuck behind a lock or
//! in a syscall stops the pings, and the service manager restarts the daemon. The driver reads
//! the counters at each tick ([`Watchdog::tick`]) and sends what the answer says.

/// How far the watched loops got: counters each loop bumps once per turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The RIB task's loop turns.
    pub rib: u64,
    /// The FIB thread's loop turns (`None`: no FIB thread).
    pub fib: Option<u64>,
}

impl Progress {
    /// Whether every loop went around since `earlier`.
    pub fn advanced_since(&self, earlier: &Progress) -> bool {
        self.rib != earlier.rib && (self.fib.is_none() || self.fib != earlier.fib)
    }
}

/// Ticks without progress after which the stall is reported (once).
pub const STALL_TICKS: u32 = 2;

/// What to do at a watchdog tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Every loop went around: ping.
    Ping,
    /// No progress yet: no ping.
    Wait,
    /// No progress for [`STALL_TICKS`] ticks: no ping, and say so (once per stall).
    Stalled,
}

/// The progress seen at the last ping and the ticks since without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    last: Progress,
    missed: u32,
}

impl Watchdog {
    /// Starts from the loops' counters when the watchdog starts.
    pub fn new(start: Progress) -> Watchdog {
        Watchdog {
            last: start,
            missed: 0,
        }
    }

    /// A tick with the loops' counters `now`.
    pub fn tick(&mut self, now: Progress) -> Tick {
        if now.advanced_since(&self.last) {
            self.last = now;
            self.missed = 0;
            return Tick::Ping;
        }
        self.missed = self.missed.saturating_add(1);
        if self.missed == STALL_TICKS {
            Tick::Stalled
        } else {
            Tick::Wait
        }
    }
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
    fn a_stall_is_reported_once_and_progress_resumes_the_pings() {
        let mut w = Watchdog::new(p(0, Some(0)));
        assert_eq!(w.tick(p(1, Some(1))), Tick::Ping);
        // The FIB thread stops: no ping; the stall is told at the second tick, only then.
        assert_eq!(w.tick(p(2, Some(1))), Tick::Wait);
        assert_eq!(w.tick(p(3, Some(1))), Tick::Stalled);
        assert_eq!(w.tick(p(4, Some(1))), Tick::Wait);
        assert_eq!(w.tick(p(5, Some(1))), Tick::Wait);
        // Progress is measured against the last ping: both moved since.
        assert_eq!(w.tick(p(5, Some(2))), Tick::Ping);
        assert_eq!(w.tick(p(5, Some(2))), Tick::Wait);
        assert_eq!(w.tick(p(5, Some(2))), Tick::Stalled);
    }

    #[test]
    fn a_long_stall_does_not_overflow() {
        let mut w = Watchdog {
            last: p(0, None),
            missed: u32::MAX,
        };
        assert_eq!(w.tick(p(0, None)), Tick::Wait);
        assert_eq!(w.tick(p(1, None)), Tick::Ping);
    }
}

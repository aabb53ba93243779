//! DOC: when a driver gives freed memory back to the kernel (glibc's `malloc_trim`). The
//! allocator returns memory only from the top of its heaps: what sessions coming up or leaving
//! freed between blocks still in use (their OPEN exchange, first UPDATEs, the RIB's messages)
//! stays in the process, so RSS after 1,000 neighbours came up varied between 5.3 and 9.5 KB
//! per neighbour for the same ~4 KB of live heap (issue 19). A trim is asked for when a
//! session comes up or goes down ([`worth_trimming`]) or a neighbour leaves, and done once
//! session states have stopped changing for [`QUIET`], at most once per [`MIN_INTERVAL`]
//! (each trim walks the allocator's free lists).

use std::time::{Duration, Instant};

use crate::session::StateKind;

/// How long session states must stay unchanged before the trim.
pub const QUIET: Duration = Duration::from_secs(2);

/// The shortest time between two trims.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// Whether a session's change of state asks for a trim: it came up or went down.
pub fn worth_trimming(from: StateKind, to: StateKind) -> bool {
    from == StateKind::Established || to == StateKind::Established
}

/// When the next trim is due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimSchedule {
    /// Asked for, and due then (unless asked again meanwhile).
    due: Option<Instant>,
    /// The last trim's time plus [`MIN_INTERVAL`].
    not_before: Option<Instant>,
}

impl TrimSchedule {
    /// A trim is asked for at `now`: it is due once [`QUIET`] passed without another ask.
    pub fn ask(&mut self, now: Instant) {
        self.due = Some(now + QUIET);
    }

    /// When to look again ([`TrimSchedule::poll`]); `None` until a trim is asked for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = self.due?;
        Some(self.not_before.map_or(due, |n| due.max(n)))
    }

    /// Whether to trim at `now`; if so, the ask is done.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.poll_timeout().is_none_or(|t| t > now) {
            return false;
        }
        self.due = None;
        self.not_before = Some(now + MIN_INTERVAL);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_coming_up_or_going_down_ask_for_a_trim() {
        use StateKind::*;
        assert!(worth_trimming(OpenConfirm, Established));
        assert!(worth_trimming(Established, Idle));
        assert!(!worth_trimming(Connect, OpenSent));
    }

    #[test]
    fn a_trim_waits_for_quiet_and_keeps_its_distance() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = TrimSchedule::default();
        assert_eq!(t.poll_timeout(), None);
        assert!(!t.poll(t0 + s(100)), "nothing asked");
        t.ask(t0);
        t.ask(t0 + s(1));
        // Each ask moves the trim QUIET later.
        assert_eq!(t.poll_timeout(), Some(t0 + s(1) + QUIET));
        assert!(!t.poll(t0 + s(2)));
        assert!(t.poll(t0 + s(3)));
        assert_eq!(t.poll_timeout(), None);
        // Asked again at once: not before MIN_INTERVAL after the last trim.
        t.ask(t0 + s(3));
        assert_eq!(t.poll_timeout(), Some(t0 + s(3) + MIN_INTERVAL));
        assert!(!t.poll(t0 + s(6)));
        assert!(t.poll(t0 + s(8)));
        // Later asks only wait for quiet.
        t.ask(t0 + s(20));
        assert_eq!(t.poll_timeout(), Some(t0 + s(20) + QUIET));
    }
}

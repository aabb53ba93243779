//! DOC: when a dynamic neighbour (one accepted from a configured range, BIRD's dynamic BGP) is
//! forgotten: once it owes nothing (no connection, no session past Active, no stale routes
//! kept for its graceful restart) for its range's linger time. Anything it owes again cancels
//! the wait.

use std::time::{Duration, Instant};

use crate::session::StateKind;

/// Whether a dynamic neighbour owes nothing: no open `connections`, no session past Active
/// (`state`), no `stale` routes kept for it.
pub fn owes_nothing(state: StateKind, connections: usize, stale: bool) -> bool {
    connections == 0
        && matches!(
            state,
            StateKind::Idle | StateKind::Connect | StateKind::Active
        )
        && !stale
}

/// The wait before a dynamic neighbour is forgotten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Linger {
    at: Option<Instant>,
}

impl Linger {
    /// Starts the wait (`linger` from `now`) when the neighbour owes nothing and none runs,
    /// cancels it when it owes something.
    pub fn update(&mut self, now: Instant, owes_nothing: bool, linger: impl FnOnce() -> Duration) {
        if !owes_nothing {
            self.at = None;
        } else if self.at.is_none() {
            self.at = Some(now + linger());
        }
    }

    /// When the neighbour is forgotten, if it is waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.at
    }

    /// Whether the wait ended at `now`; it is over then (the driver checks, once more, that
    /// the neighbour still owes nothing before it forgets it).
    pub fn expired(&mut self, now: Instant) -> bool {
        let due = self.at.is_some_and(|t| t <= now);
        if due {
            self.at = None;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_idle_unconnected_neighbour_without_stale_routes_owes_nothing() {
        assert!(owes_nothing(StateKind::Active, 0, false));
        assert!(owes_nothing(StateKind::Idle, 0, false));
        assert!(!owes_nothing(StateKind::Active, 1, false));
        assert!(!owes_nothing(StateKind::OpenSent, 0, false));
        assert!(!owes_nothing(StateKind::Established, 0, false));
        assert!(!owes_nothing(StateKind::Idle, 0, true));
    }

    #[test]
    fn the_wait_starts_once_and_anything_owed_cancels_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Linger::default();
        l.update(t0, true, || s(10));
        assert_eq!(l.deadline(), Some(t0 + s(10)));
        // Still idle later: the wait keeps its end.
        l.update(t0 + s(3), true, || s(10));
        assert_eq!(l.deadline(), Some(t0 + s(10)));
        assert!(!l.expired(t0 + s(9)));
        // A connection: cancelled; idle again: a new wait.
        l.update(t0 + s(4), false, || s(10));
        assert_eq!(l.deadline(), None);
        l.update(t0 + s(5), true, || s(10));
        assert!(!l.expired(t0 + s(14)));
        assert!(l.expired(t0 + s(15)));
        assert_eq!(l.deadline(), None, "an expired wait is over");
        assert!(!l.expired(t0 + s(16)));
    }
}

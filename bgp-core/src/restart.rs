//! DOC: the restarting speaker's bookkeeping of RFC 4724 §4.1, sans-IO: after our own restart
//! (forwarding state kept in the kernel), our advertisements are deferred until every
//! graceful-restart-capable peer has sent End-of-RIB in each negotiated family, or the wait
//! timer runs out; then our stale routes (those the new RIB did not re-learn) are swept.
//!
//! A peer that restarts too (its Restart State bit set) waits for *our* End-of-RIB, so our
//! advertisements are not held back for it (that would deadlock both); the sweep still waits
//! for its End-of-RIB, or it would delete routes the peer is about to send again. A peer
//! without graceful restart is not waited for.
//!
//! The driver feeds peers coming up ([`Recovery::peer_up`]), End-of-RIBs
//! ([`Recovery::end_of_rib`]) and the time ([`Recovery::poll`]), and acts on what `poll`
//! returns: wake the peers to advertise, then sweep.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::rib::SourceId;
use crate::wire::Family;

/// Which End-of-RIB the recovery waits for from a peer whose session came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EorWait {
    /// None: the peer does not do graceful restart.
    No,
    /// Before the sweep only: the peer restarts too (Restart State bit).
    SweepOnly,
    /// Before our advertisements and the sweep.
    Full,
}

impl EorWait {
    /// What to wait for from a peer whose session came up with `neg`. RFC 4724 §4.1: a
    /// restarting speaker waits for End-of-RIB from its peers "excluding the ones with the
    /// Restart State bit set in the received capability and excluding the ones that do not
    /// advertise the graceful restart capability": two nodes restarting together must not wait
    /// for each other until the wait timer. The sweep of our stale kernel routes still waits
    /// for such a peer's End-of-RIB.
    pub fn of(neg: &crate::wire::Negotiated) -> EorWait {
        match &neg.peer_graceful_restart {
            None => EorWait::No,
            Some(g) if g.restart_state => EorWait::SweepOnly,
            Some(_) => EorWait::Full,
        }
    }
}

/// What the driver does after [`Recovery::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing new.
    Wait,
    /// The deferral of our advertisements is over (once): wake the peers. The sweep still
    /// waits for peers that restart too.
    Advertise,
    /// The recovery is over: sweep the stale routes (and advertise, if not done yet). The
    /// recovery is finished; drop it.
    Done,
}

/// The graceful-restart recovery of our own restart.
#[derive(Debug, Clone)]
pub struct Recovery {
    started: Instant,
    wait: Duration,
    /// Peers not yet done (End-of-RIB in every negotiated family): our advertisements wait
    /// for them.
    waiting: HashSet<SourceId>,
    /// Peers that restart too: only the sweep waits for them.
    late: HashSet<SourceId>,
    /// Families still owed End-of-RIB, per peer whose session came up.
    pending: HashMap<SourceId, HashSet<Family>>,
    advertising: bool,
}

impl Recovery {
    /// A recovery started at `now` with the wait timer `wait` (BIRD's `wait time`), waiting
    /// for `peers` (the enabled ones) until their sessions say otherwise.
    pub fn new(now: Instant, wait: Duration, peers: impl IntoIterator<Item = SourceId>) -> Self {
        Recovery {
            started: now,
            wait,
            waiting: peers.into_iter().collect(),
            late: HashSet::new(),
            pending: HashMap::new(),
            advertising: false,
        }
    }

    /// Waits for `peers` too (peers configured after the recovery began).
    pub fn expect(&mut self, peers: impl IntoIterator<Item = SourceId>) {
        self.waiting.extend(peers);
    }

    /// `peer`'s session came up with `families` negotiated; `wait` says what to wait for.
    pub fn peer_up(&mut self, peer: SourceId, families: &[Family], wait: EorWait) {
        match wait {
            EorWait::Full => {
                self.pending
                    .insert(peer, families.iter().copied().collect());
            }
            EorWait::SweepOnly => {
                self.pending
                    .insert(peer, families.iter().copied().collect());
                self.waiting.remove(&peer);
                self.late.insert(peer);
            }
            EorWait::No => {
                self.pending.remove(&peer);
                self.waiting.remove(&peer);
                self.late.remove(&peer);
            }
        }
    }

    /// `peer` sent End-of-RIB for `family`.
    pub fn end_of_rib(&mut self, peer: SourceId, family: Family) {
        let Some(p) = self.pending.get_mut(&peer) else {
            return;
        };
        p.remove(&family);
        if p.is_empty() {
            self.done_with(peer);
        }
    }

    fn done_with(&mut self, peer: SourceId) {
        self.pending.remove(&peer);
        self.waiting.remove(&peer);
        self.late.remove(&peer);
    }

    /// What to do at `now`. `fib_idle`: every change so far has reached the FIB (the sweep
    /// must not run before the re-learned routes are handed over).
    pub fn poll(&mut self, now: Instant, fib_idle: bool) -> Step {
        let timed_out = self.timed_out(now);
        let done = (timed_out || (self.waiting.is_empty() && self.late.is_empty())) && fib_idle;
        if done {
            self.advertising = true;
            return Step::Done;
        }
        if !self.advertising && (self.waiting.is_empty() || timed_out) {
            self.advertising = true;
            return Step::Advertise;
        }
        Step::Wait
    }

    /// Whether the wait timer has run out at `now`.
    pub fn timed_out(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= self.wait
    }

    /// Whether our advertisements are still deferred.
    pub fn deferring(&self) -> bool {
        !self.advertising
    }

    /// Whether our advertisements wait for `peer`.
    pub fn awaits(&self, peer: SourceId) -> bool {
        self.waiting.contains(&peer)
    }

    /// Whether the sweep waits for `peer` (a peer that restarts too).
    pub fn sweep_awaits(&self, peer: SourceId) -> bool {
        self.late.contains(&peer)
    }

    /// How many peers the recovery still waits for (advertisements or sweep).
    pub fn awaited(&self) -> usize {
        self.waiting.len() + self.late.len()
    }

    /// When the recovery began.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The wait timer.
    pub fn wait(&self) -> Duration {
        self.wait
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    const V4: Family = Family::IPV4_UNICAST;
    const V6: Family = Family::IPV6_UNICAST;
    const A: SourceId = SourceId(10);
    const B: SourceId = SourceId(11);

    fn rec(t0: Instant) -> Recovery {
        Recovery::new(t0, Duration::from_secs(240), [A, B])
    }

    #[test]
    fn advertisements_wait_for_every_peers_end_of_rib_in_every_family() {
        let t0 = Instant::now();
        let mut r = rec(t0);
        assert_eq!(r.poll(t0, true), Step::Wait);
        assert!(r.deferring() && r.awaits(A) && r.awaits(B));
        r.peer_up(A, &[V4, V6], EorWait::Full);
        r.peer_up(B, &[V4], EorWait::Full);
        r.end_of_rib(A, V4);
        r.end_of_rib(B, V4);
        assert_eq!(r.poll(t0, true), Step::Wait, "A still owes IPv6");
        assert!(r.awaits(A) && !r.awaits(B));
        // An End-of-RIB of a family not negotiated, or of a peer not up, changes nothing.
        r.end_of_rib(SourceId(99), V6);
        assert_eq!(r.awaited(), 1);
        r.end_of_rib(A, V6);
        assert_eq!(r.poll(t0, true), Step::Done);
        assert!(!r.deferring());
    }

    #[test]
    fn the_sweep_waits_for_the_fib() {
        let t0 = Instant::now();
        let mut r = Recovery::new(t0, Duration::from_secs(240), [A]);
        r.peer_up(A, &[V4], EorWait::Full);
        r.end_of_rib(A, V4);
        // Every peer is done but the FIB has not taken every change yet: advertise, no sweep.
        assert_eq!(r.poll(t0, false), Step::Advertise);
        assert_eq!(r.poll(t0, false), Step::Wait);
        assert_eq!(r.poll(t0, true), Step::Done);
    }

    #[test]
    fn a_peer_without_graceful_restart_is_not_waited_for() {
        let t0 = Instant::now();
        let mut r = rec(t0);
        r.peer_up(A, &[V4], EorWait::No);
        assert!(!r.awaits(A));
        assert_eq!(r.poll(t0, true), Step::Wait, "B not up yet");
        r.peer_up(B, &[V4], EorWait::No);
        assert_eq!(r.poll(t0, true), Step::Done);
    }

    /// bf13266: FRR announces the Restart State bit for its first 120 s after its own start.
    /// Our advertisements go (it waits for ours), the sweep waits for its End-of-RIB.
    #[test]
    fn a_peer_that_restarts_too_holds_back_the_sweep_not_the_advertisements() {
        let t0 = Instant::now();
        let mut r = Recovery::new(t0, Duration::from_secs(240), [A]);
        r.peer_up(A, &[V4], EorWait::SweepOnly);
        assert!(!r.awaits(A) && r.sweep_awaits(A));
        assert_eq!(r.poll(t0, true), Step::Advertise);
        assert!(!r.deferring());
        assert_eq!(
            r.poll(t0, true),
            Step::Wait,
            "the sweep waits for A's End-of-RIB"
        );
        assert_eq!(r.awaited(), 1);
        r.end_of_rib(A, V4);
        assert_eq!(r.poll(t0, true), Step::Done);
    }

    #[test]
    fn the_wait_timer_ends_the_recovery() {
        let t0 = Instant::now();
        let mut r = rec(t0);
        r.peer_up(A, &[V4], EorWait::Full);
        r.peer_up(B, &[V4], EorWait::SweepOnly);
        let before = t0 + Duration::from_secs(239);
        assert_eq!(r.poll(before, true), Step::Wait);
        assert!(!r.timed_out(before));
        let after = t0 + Duration::from_secs(240);
        assert!(r.timed_out(after));
        // Timed out while the FIB is busy: advertise now, sweep once it is idle.
        assert_eq!(r.poll(after, false), Step::Advertise);
        assert_eq!(r.poll(after, true), Step::Done);
    }

    #[test]
    fn a_session_that_comes_up_again_starts_its_wait_again() {
        let t0 = Instant::now();
        let mut r = Recovery::new(t0, Duration::from_secs(240), [A, B]);
        r.peer_up(A, &[V4], EorWait::SweepOnly);
        // A's session restarts, now without the Restart State bit: it owes End-of-RIB again,
        // and the sweep still waits for it.
        r.peer_up(A, &[V4], EorWait::Full);
        assert!(r.sweep_awaits(A));
        r.end_of_rib(A, V4);
        assert!(!r.sweep_awaits(A));
        assert_eq!(r.awaited(), 1, "B only");
        r.expect([SourceId(12)]);
        assert!(r.awaits(SourceId(12)));
    }

    #[test]
    fn what_to_wait_for_follows_the_peers_capability() {
        use crate::wire::{GracefulRestartCap, Negotiated};
        let mut n = Negotiated::default();
        assert_eq!(EorWait::of(&n), EorWait::No);
        n.peer_graceful_restart = Some(GracefulRestartCap::default());
        assert_eq!(EorWait::of(&n), EorWait::Full);
        n.peer_graceful_restart = Some(GracefulRestartCap {
            restart_state: true,
            ..GracefulRestartCap::default()
        });
        assert_eq!(EorWait::of(&n), EorWait::SweepOnly);
    }
}

//! DOC: the decisions of the RIB's one writer (the daemon's RIB task) that are not I/O. The
//! task receives messages, applies them here under the RIB lock, drains the Loc-RIB changes
//! here and does what comes back (hands FIB changes to the FIB thread, broadcasts best
//! paths, wakes peers, logs, counts):
//!
//! * the batching rule: how many messages, for how long, under one lock ([`batch_more`]);
//! * each message kind applied to the [`Rib`] with our graceful-restart recovery
//!   ([`Recovery`]), a peer's only while the session that sent it is the current one
//!   ([`Writer::peer`]): UPDATEs and their End-of-RIB, a session up, End-of-RIB, local (static)
//!   routes and the export policies carrying their communities, re-imports after a reload;
//! * the FIB hand-off: at most one chunk of FIB changes a turn, the chunk the FIB thread could
//!   not take kept (while it is, the RIB's own per-prefix queue coalesces further changes),
//!   whether more is waiting ([`Writer::fib_pending`]), whether the FIB is idle for the
//!   recovery's sweep;
//! * the best-path notifications' values ([`BestPathChange`]);
//! * filter run-time errors reported once, the RIB size gauges' period, the recovery's steps.
//!
//! Generic over the FIB's change type `T`: bgp-core knows nothing of bgp-fib.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::ForRib;
use crate::filter::{Filter, RuntimeError};
use crate::restart::{EorWait, Recovery, Step};
use crate::rib::{
    BatchStats, FibChange, PeerConfig, Rib, RouteType, SourceId, StaticRoute, Statics,
};
use crate::wire::{Family, Negotiated, Update};

/// Messages applied under one lock.
pub const BATCH_MAX: usize = 64;
/// Time spent under one lock before letting the peers pull.
pub const BATCH_TIME: Duration = Duration::from_millis(5);
/// How soon to try the FIB hand-off again while it is behind ([`Writer::fib_pending`]).
pub const FIB_RETRY: Duration = Duration::from_millis(5);
/// FIB thread events taken into the RIB with one batch, at most.
pub const FIB_EVENTS_MAX: usize = 4096;
/// How long the shutdown waits for the sessions to close (after their Cease) before the FIB
/// thread stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Period of the RIB size gauges.
pub const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Whether another message may be applied under the lock taken for this batch, after `msgs`
/// messages and `elapsed` time: a batch is up to [`BATCH_MAX`] messages or [`BATCH_TIME`].
pub fn batch_more(msgs: usize, elapsed: Duration) -> bool {
    msgs < BATCH_MAX && elapsed < BATCH_TIME
}

/// A best-path change in the Loc-RIB (the embedding API's notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestPathChange {
    /// The prefix.
    pub prefix: IpNet,
    /// The new best path's next hop and source protocol, or `None` when withdrawn.
    pub best: Option<BestPath>,
}

/// The essentials of a best path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestPath {
    /// Next hop (none for blackholes and direct routes).
    pub next_hop: Option<IpAddr>,
    /// The protocol it came from (`static1`, a peer name, ...).
    pub protocol: String,
    /// Blackhole.
    pub blackhole: bool,
}

impl BestPathChange {
    /// The notification of a Loc-RIB change: the first next hop and its source's name.
    pub fn of(rib: &Rib, c: &FibChange) -> BestPathChange {
        BestPathChange {
            prefix: c.prefix,
            best: c.route.as_ref().map(|r| BestPath {
                next_hop: r.next_hops.first().and_then(|h| h.addr),
                protocol: r
                    .next_hops
                    .first()
                    .map(|h| rib.source_name(h.source))
                    .unwrap_or_else(|| "static1".into()),
                blackhole: r.route_type == RouteType::Blackhole,
            }),
        }
    }
}

/// The RIB writer's own state: the static routes (the config's and those announced by the
/// embedding API), the FIB hand-off's backlog, what was reported.
#[derive(Debug)]
pub struct Writer<T> {
    statics: Statics,
    /// FIB changes the FIB thread could not take yet.
    backlog: Option<Vec<T>>,
    /// The RIB may hold more FIB changes than one hand-off took.
    more: bool,
    /// Filter run-time errors already reported.
    filter_errors_seen: u64,
    /// Last update of the RIB size gauges.
    gauges_at: Instant,
}

/// What the RIB applied of a peer's message ([`Writer::peer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// UPDATEs: how many, and what became of their routes.
    Updates(usize, BatchStats),
    /// The session is up in the RIB: its epoch may pull UPDATEs from the Adj-RIB-Out now.
    Up,
    /// Anything else, or nothing (a message of a session that is gone).
    Other,
}

/// The peer's current session, as a message of it is applied ([`Writer::peer`]).
#[derive(Debug)]
pub struct Current<C, M> {
    /// Our address on the session: next hops equal to it are ignored (RFC 4271 §6.3).
    pub own: Option<IpAddr>,
    /// The peer's RIB settings for a session that comes up (our address among them).
    pub config: C,
    /// Given each malformed UPDATE's RFC 7606 report.
    pub malformed: M,
}

/// Our recovery (RFC 4724 §4.1), when one runs, reached only when a message concerns it: the
/// driver keeps it where its sessions read it (behind a lock), tests in a plain `Option`.
pub trait RecoveryAccess {
    /// Runs `f` on the recovery, if one runs.
    fn with(self, f: impl FnOnce(&mut Recovery));
}

impl<F, G> RecoveryAccess for F
where
    F: FnOnce() -> G,
    G: std::ops::DerefMut<Target = Option<Recovery>>,
{
    fn with(self, f: impl FnOnce(&mut Recovery)) {
        if let Some(r) = self().as_mut() {
            f(r);
        }
    }
}

impl<T> Writer<T> {
    /// A writer starting at `now`, with no static routes yet.
    pub fn new(now: Instant) -> Self {
        Writer {
            statics: Statics::default(),
            backlog: None,
            more: false,
            filter_errors_seen: 0,
            gauges_at: now,
        }
    }

    /// A message of peer `id`'s session (`driver::peer`'s [`ForRib`]); `current`: the session
    /// is the peer's current one. What belongs to a session that is gone (its successor
    /// brings its own) is dropped; what ends a session (down, the stale timer, a removal)
    /// applies whichever session it came from.
    pub fn peer<C, M>(
        &mut self,
        rib: &mut Rib,
        recovery: impl RecoveryAccess,
        id: SourceId,
        msg: ForRib,
        current: Option<Current<C, M>>,
    ) -> Applied
    where
        C: FnOnce() -> PeerConfig,
        M: FnMut(String),
    {
        match (msg, current) {
            (ForRib::Updates(mut ups), Some(c)) => {
                let s = self.updates(rib, recovery, id, &mut ups, c.own, c.malformed);
                return Applied::Updates(ups.len(), s);
            }
            (ForRib::Up(n), Some(c)) => {
                let wait = EorWait::of(&n);
                self.peer_up(rib, recovery, id, (c.config)(), n, wait);
                return Applied::Up;
            }
            (ForRib::RefreshOut, Some(_)) => rib.refresh_export(id, true),
            (ForRib::EndOfRib(f), Some(_)) => self.end_of_rib(rib, recovery, id, f),
            (ForRib::Down { graceful }, _) => rib.peer_down(id, graceful),
            (ForRib::StaleExpired, _) => rib.stale_timer_expired(id),
            (ForRib::Remove, _) => rib.remove_peer(id),
            (
                ForRib::Updates(_) | ForRib::Up(_) | ForRib::RefreshOut | ForRib::EndOfRib(_),
                None,
            ) => {}
        }
        Applied::Other
    }

    /// A peer's UPDATEs (of its current session; `own`: our address on it, RFC 4271 §6.3);
    /// the End-of-RIB markers among them go to the recovery.
    fn updates(
        &mut self,
        rib: &mut Rib,
        recovery: impl RecoveryAccess,
        peer: SourceId,
        updates: &mut [Update],
        own: Option<IpAddr>,
        malformed: impl FnMut(String),
    ) -> BatchStats {
        let s = rib.apply_updates(peer, updates, own, malformed);
        if !s.end_of_rib.is_empty() {
            recovery.with(|r| s.end_of_rib.iter().for_each(|f| r.end_of_rib(peer, *f)));
        }
        s
    }

    /// A peer's session came up (with the RIB settings of this session, its local address
    /// among them); the recovery learns what to wait for from it (RFC 4724 §4.1).
    fn peer_up(
        &mut self,
        rib: &mut Rib,
        recovery: impl RecoveryAccess,
        peer: SourceId,
        config: PeerConfig,
        negotiated: Arc<Negotiated>,
        wait: EorWait,
    ) {
        rib.set_peer_config(peer, config);
        rib.peer_up(peer, Arc::clone(&negotiated));
        recovery.with(|r| r.peer_up(peer, &negotiated.families, wait));
    }

    /// End-of-RIB of a peer's current session.
    fn end_of_rib(
        &mut self,
        rib: &mut Rib,
        recovery: impl RecoveryAccess,
        peer: SourceId,
        family: Family,
    ) {
        rib.end_of_rib(peer, family);
        recovery.with(|r| r.end_of_rib(peer, family));
    }

    /// The configuration's static routes (the announced ones stay). The export policies
    /// must be installed again ([`Writer::set_policies`]): the communities may have changed.
    pub fn set_statics(&mut self, rib: &mut Rib, routes: Vec<StaticRoute>) {
        self.statics.set_config(rib, routes);
    }

    /// A route announced by the embedding API; the export policies must be installed again.
    pub fn announce(&mut self, rib: &mut Rib, route: StaticRoute) {
        self.statics.announce(rib, route);
    }

    /// Its withdrawal.
    pub fn withdraw(&mut self, rib: &mut Rib, prefix: IpNet) {
        self.statics.withdraw(rib, prefix);
    }

    /// The filter statements adding the static routes' communities on export (the prelude
    /// of the export policies).
    pub fn community_terms(&self) -> Vec<crate::filter::Stmt> {
        self.statics.community_terms()
    }

    /// Installs the export policies and lets every peer's Adj-RIB-Out catch up.
    pub fn set_policies<P: Into<Arc<Filter>>>(
        &mut self,
        rib: &mut Rib,
        policies: impl IntoIterator<Item = (String, P)>,
    ) {
        for (name, pol) in policies {
            rib.set_policy(name, pol);
        }
        let peers: Vec<SourceId> = rib.peers().collect();
        for p in peers {
            rib.refresh_export(p, false);
        }
    }

    /// After a reload changed these peers' import filters: each is filtered again from its
    /// stored Adj-RIB-In; those without one are returned (they need a ROUTE-REFRESH).
    pub fn reimport(&mut self, rib: &mut Rib, peers: Vec<SourceId>) -> Vec<SourceId> {
        peers.into_iter().filter(|p| !rib.reimport(*p)).collect()
    }

    /// Before a batch's drain: hands the backlog to the FIB thread (`send` gives it back when
    /// the thread is still behind).
    pub fn retry_backlog(&mut self, send: impl FnOnce(Vec<T>) -> Result<(), Vec<T>>) {
        if let Some(b) = self.backlog.take() {
            self.backlog = send(b).err();
        }
    }

    /// Drains the Loc-RIB's changes (under the RIB lock): `poll` takes the next one and pushes
    /// the FIB's changes to `out`; at most `chunk` FIB changes a turn, none while the FIB
    /// thread has a backlog (the RIB's queue coalesces them meanwhile). With `best`, each
    /// change's notification is pushed there. Returns true when the RIB's queue is empty.
    pub fn drain(
        &mut self,
        rib: &mut Rib,
        chunk: usize,
        out: &mut Vec<T>,
        mut poll: impl FnMut(&mut Rib, &mut Vec<T>) -> Option<FibChange>,
        mut best: Option<&mut Vec<BestPathChange>>,
    ) -> bool {
        self.more = false;
        if self.backlog.is_some() {
            return false;
        }
        loop {
            if out.len() >= chunk {
                self.more = true;
                return false;
            }
            let Some(c) = poll(rib, out) else {
                return true;
            };
            if let Some(best) = best.as_deref_mut() {
                best.push(BestPathChange::of(rib, &c));
            }
        }
    }

    /// After the drain: hands the changes to the FIB thread (kept when it is behind). While
    /// a backlog waits, the drain took nothing and the backlog stays (`changes` is empty).
    pub fn hand_over(&mut self, changes: Vec<T>, send: impl FnOnce(Vec<T>) -> Result<(), Vec<T>>) {
        if self.backlog.is_none() {
            self.backlog = send(changes).err();
        }
    }

    /// FIB changes wait (a backlog, or more in the RIB than one hand-off took): try again in
    /// [`FIB_RETRY`].
    pub fn fib_pending(&self) -> bool {
        self.backlog.is_some() || self.more
    }

    /// New filter run-time errors since the last call (each rejected a route): their count
    /// and the latest, to report once per batch.
    pub fn filter_errors(&mut self, rib: &Rib) -> Option<(u64, Option<(String, RuntimeError)>)> {
        let (n, last) = rib.filter_errors();
        if n <= self.filter_errors_seen {
            return None;
        }
        let new = n - self.filter_errors_seen;
        self.filter_errors_seen = n;
        Some((new, last))
    }

    /// Whether the RIB size gauges are due (every [`GAUGES_EVERY`]).
    pub fn gauges_due(&mut self, now: Instant) -> bool {
        let due = now.saturating_duration_since(self.gauges_at) >= GAUGES_EVERY;
        if due {
            self.gauges_at = now;
        }
        due
    }

    /// Our recovery's step after a batch: the sweep may run only once every change so far was
    /// handed to the FIB thread. On [`Step::Done`] the recovery is over (`recovery` is
    /// cleared): sweep our stale kernel routes and let the deferred advertisements go.
    pub fn recovery_step(&self, recovery: &mut Option<Recovery>, now: Instant) -> Step {
        let step = recovery
            .as_mut()
            .map_or(Step::Wait, |r| r.poll(now, !self.fib_pending()));
        if step == Step::Done {
            *recovery = None;
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::rib::{RibConfig, SourceKind};

    fn rib() -> Rib {
        Rib::new(RibConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1)))
    }

    /// A writer and a RIB with one peer, "a".
    fn with_peer_a(t0: Instant) -> (Writer<IpNet>, Rib, SourceId) {
        let mut rib = rib();
        let a = rib
            .add_peer(PeerConfig::new("a", "10.0.0.2".parse().unwrap()))
            .unwrap();
        (Writer::new(t0), rib, a)
    }

    fn blackholes(n: u8) -> Vec<StaticRoute> {
        (0..n)
            .map(|i| {
                let p = IpNet::new(IpAddr::V4(Ipv4Addr::new(10, i, 0, 0)), 16).unwrap();
                StaticRoute::announced(p, None, vec![])
            })
            .collect()
    }

    /// One FIB change per Loc-RIB change: its prefix.
    fn poll(rib: &mut Rib, out: &mut Vec<IpNet>) -> Option<FibChange> {
        let c = rib.poll_fib_change()?;
        out.push(c.prefix);
        Some(c)
    }

    #[test]
    fn a_batch_is_bounded_in_messages_and_time() {
        assert!(batch_more(1, Duration::ZERO));
        assert!(batch_more(BATCH_MAX - 1, BATCH_TIME / 2));
        assert!(!batch_more(BATCH_MAX, Duration::ZERO));
        assert!(!batch_more(1, BATCH_TIME));
    }

    #[test]
    fn the_fib_hand_off_goes_by_chunks_and_waits_for_a_full_thread() {
        let t0 = Instant::now();
        let mut w: Writer<IpNet> = Writer::new(t0);
        let mut rib = rib();
        w.set_statics(&mut rib, blackholes(5));
        // Two a turn: more is waiting.
        let mut out = Vec::new();
        let mut best = Vec::new();
        assert!(!w.drain(&mut rib, 2, &mut out, poll, Some(&mut best)));
        assert_eq!(out.len(), 2);
        assert!(w.fib_pending());
        assert_eq!(best.len(), 2);
        let b = best[0].best.as_ref().unwrap();
        assert!(b.blackhole && b.next_hop.is_none());
        assert_eq!(
            b.protocol,
            rib.source_name(SourceId::local(SourceKind::Static).unwrap())
        );
        // The FIB thread is behind: the chunk is kept, nothing more is drained meanwhile.
        w.hand_over(out, Err);
        let mut out = Vec::new();
        assert!(!w.drain(&mut rib, 2, &mut out, poll, None));
        assert!(out.is_empty() && w.fib_pending());
        // The empty hand-off of a blocked turn (which a FIB thread takes at once) keeps it.
        w.hand_over(out, |_| Ok(()));
        assert!(w.fib_pending());
        let mut out = Vec::new();
        w.retry_backlog(Err);
        assert!(w.fib_pending());
        let mut taken = Vec::new();
        w.retry_backlog(|b| {
            taken = b;
            Ok(())
        });
        assert_eq!(taken.len(), 2);
        // Then the rest, and the queue is empty.
        assert!(!w.drain(&mut rib, 2, &mut out, poll, None));
        w.hand_over(std::mem::take(&mut out), |_| Ok(()));
        assert!(w.drain(&mut rib, 2, &mut out, poll, None));
        assert_eq!(out.len(), 1);
        w.hand_over(out, |_| Ok(()));
        assert!(!w.fib_pending());
        // An announced route, then its withdrawal: `None`.
        let p: IpNet = "10.200.0.0/16".parse().unwrap();
        w.announce(&mut rib, StaticRoute::announced(p, None, vec![]));
        let mut out = Vec::new();
        assert!(w.drain(&mut rib, 2, &mut out, poll, None));
        w.withdraw(&mut rib, p);
        let (mut out, mut best) = (Vec::new(), Vec::new());
        assert!(w.drain(&mut rib, 2, &mut out, poll, Some(&mut best)));
        assert_eq!(
            best,
            vec![BestPathChange {
                prefix: p,
                best: None
            }]
        );
    }

    #[test]
    fn the_recovery_ends_once_every_peer_sent_end_of_rib_and_the_fib_is_idle() {
        let t0 = Instant::now();
        let (mut w, mut rib, a) = with_peer_a(t0);
        let mut rec = Some(Recovery::new(t0, Duration::from_secs(240), [a]));
        assert_eq!(w.recovery_step(&mut rec, t0), Step::Wait);
        let mut neg = Negotiated {
            local_as: 65000,
            peer_as: 65000,
            ..Negotiated::default()
        };
        neg.families = vec![Family::IPV4_UNICAST];
        let cfg = PeerConfig::new("a", "10.0.0.2".parse().unwrap());
        let r = &mut rec;
        w.peer_up(&mut rib, move || r, a, cfg, Arc::new(neg), EorWait::Full);
        assert!(rec.as_ref().unwrap().awaits(a));
        // Its End-of-RIB, inside a batch of UPDATEs.
        let mut ups = vec![Update::end_of_rib(Family::IPV4_UNICAST)];
        let r = &mut rec;
        let s = w.updates(&mut rib, move || r, a, &mut ups, None, |_| {});
        assert_eq!(s.end_of_rib, vec![Family::IPV4_UNICAST]);
        // The sweep waits until the FIB took every change.
        w.set_statics(&mut rib, blackholes(3));
        let mut out = Vec::new();
        w.drain(&mut rib, 1, &mut out, poll, None);
        assert_eq!(w.recovery_step(&mut rec, t0), Step::Advertise);
        assert!(rec.is_some());
        w.hand_over(std::mem::take(&mut out), |_| Ok(()));
        while !w.drain(&mut rib, 8, &mut out, poll, None) {}
        assert_eq!(w.recovery_step(&mut rec, t0), Step::Done);
        assert!(rec.is_none());
        assert_eq!(w.recovery_step(&mut rec, t0), Step::Wait);
    }

    #[test]
    fn reimport_asks_a_refresh_of_peers_without_their_routes_and_gauges_keep_their_period() {
        let t0 = Instant::now();
        let (mut w, mut rib, a) = with_peer_a(t0);
        assert_eq!(w.reimport(&mut rib, vec![a]), vec![a]);
        assert!(!w.gauges_due(t0 + GAUGES_EVERY / 2));
        assert!(w.gauges_due(t0 + GAUGES_EVERY));
        assert!(!w.gauges_due(t0 + GAUGES_EVERY + GAUGES_EVERY / 2));
        assert_eq!(w.filter_errors(&rib), None);
    }

    #[test]
    fn a_message_of_a_session_that_is_gone_is_dropped_unless_it_ends_one() {
        let t0 = Instant::now();
        let (mut w, mut rib, a) = with_peer_a(t0);
        let none = || Box::new(None::<Recovery>);
        let cur = |name: &'static str| {
            Some(Current {
                own: None,
                config: move || PeerConfig::new(name, "10.0.0.2".parse().unwrap()),
                malformed: |_: String| {},
            })
        };
        let gone = || None::<Current<fn() -> PeerConfig, fn(String)>>;
        let neg = Arc::new(Negotiated {
            local_as: 65000,
            peer_as: 65000,
            families: vec![Family::IPV4_UNICAST],
            ..Negotiated::default()
        });
        let up = || ForRib::Up(Arc::clone(&neg));
        assert_eq!(w.peer(&mut rib, none, a, up(), gone()), Applied::Other);
        assert_eq!(rib.peer_config(a).unwrap().name, "a", "not taken");
        assert_eq!(w.peer(&mut rib, none, a, up(), cur("a2")), Applied::Up);
        assert_eq!(
            rib.peer_config(a).unwrap().name,
            "a2",
            "this session's settings"
        );
        let eor = || ForRib::Updates(vec![Update::end_of_rib(Family::IPV4_UNICAST)]);
        assert_eq!(w.peer(&mut rib, none, a, eor(), gone()), Applied::Other);
        let stats = BatchStats {
            end_of_rib: vec![Family::IPV4_UNICAST],
            ..BatchStats::default()
        };
        let applied = w.peer(&mut rib, none, a, eor(), cur("a2"));
        assert_eq!(applied, Applied::Updates(1, stats));
        // A removal applies whichever session sent it.
        assert_eq!(
            w.peer(&mut rib, none, a, ForRib::Remove, gone()),
            Applied::Other
        );
        assert!(rib.peer_config(a).is_none());
    }
}

//! DOC: the RIB task: the one writer of the shared `Rib`. It takes decoded UPDATEs and every
//! other change (peers added, up, down, removed, stale timers, refresh requests, reloads) from
//! the peer tasks over one bounded channel (depth bgp-core's `batch::RIB_CHANNEL_DEPTH`; a
//! full channel stops the senders reading their sockets) and the FIB thread's events, and is
//! a loop: receive, apply under one lock what bgp-core's `driver::rib::Writer` (batching,
//! each message, the FIB hand-off, best paths, the recovery's steps) and bgpd-config's `fib`
//! (intents and tags, learned and direct routes) decide, then do what they ask: hand the
//! changes to the FIB thread, broadcast best paths, wake the peers that have UPDATEs to send,
//! log and count. On stop it runs the shutdown sequence.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_core::driver::rib::{self as core, Applied, Current, Writer};
use bgp_core::driver::{Admin, ForRib};
use bgp_core::restart::Step;
use bgp_core::rib::{Rib, SourceId};
use bgp_core::wire::Family;
use bgp_fib::FibEvent;
use ipnet::IpNet;
use tokio::sync::{mpsc, watch};

use super::fib::FibBridge;
use super::peer::PeerCmd;
use super::{lock, LocalRoute, Shared};
use crate::config::Config;

/// Work for the RIB task.
#[derive(Debug)]
pub(crate) enum RibMsg {
    /// What a peer's session `epoch` hands to the RIB.
    Peer(SourceId, u64, ForRib),
    /// A new peer: its source slot (`None` when the RIB has no free slot) goes back.
    AddPeer(
        Box<bgp_core::rib::PeerConfig>,
        tokio::sync::oneshot::Sender<Option<SourceId>>,
    ),
    /// A peer's RIB settings changed (a reload that keeps or resets its session).
    PeerConfig(SourceId, Box<bgp_core::rib::PeerConfig>),
    /// Our AS, router id or cluster id changed to this configuration's (a reload; every
    /// session resets).
    Identity(Arc<Config>),
    /// A local route from the embedding API.
    Announce(LocalRoute),
    /// Its withdrawal.
    Withdraw(IpNet),
    /// A new configuration was applied (statics, policies may have changed); these peers'
    /// import filter changed.
    Reconfigured(Arc<Config>, Vec<SourceId>),
}

struct RibTask {
    shared: Arc<Shared>,
    fib: Option<FibBridge>,
    /// The decisions: statics, the FIB hand-off's backlog, what was reported.
    w: Writer<bgp_fib::FibChange>,
}

/// Starts the RIB task.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    rx: mpsc::Receiver<RibMsg>,
    fib: Option<FibBridge>,
    stop: watch::Receiver<bool>,
    done: watch::Sender<bool>,
) {
    let w = Writer::new(Instant::now());
    let mut t = RibTask { shared, fib, w };
    tokio::spawn(async move {
        let cfg = t.shared.config();
        {
            let shared = Arc::clone(&t.shared);
            let mut rib = lock(&shared.rib);
            t.sync_statics(&mut rib, &cfg);
        }
        t.after_batch(0, Instant::now());
        t.run(rx, stop).await;
        t.shutdown().await;
        let _ = done.send(true);
    });
}

impl RibTask {
    async fn run(&mut self, mut rx: mpsc::Receiver<RibMsg>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let fib_ev = async {
                match self.fib.as_mut() {
                    Some(f) => f.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            enum First {
                Msg(RibMsg),
                Fib(FibEvent),
                Tick,
            }
            let retry = self.w.fib_pending();
            let first = tokio::select! {
                m = rx.recv() => match m { Some(m) => First::Msg(m), None => return },
                _ = tokio::time::sleep(core::FIB_RETRY), if retry => First::Tick,
                Some(ev) = fib_ev => First::Fib(ev),
                _ = tick.tick() => First::Tick,
                _ = super::stopped(&mut stop) => return,
            };
            let t0 = Instant::now();
            let mut n = 0;
            {
                let shared = Arc::clone(&self.shared);
                let mut rib = lock(&shared.rib);
                match first {
                    First::Msg(m) => n += self.handle(&mut rib, m),
                    First::Fib(ev) => self.fib_event(&mut rib, ev),
                    First::Tick => {}
                }
                let mut msgs = 1;
                while core::batch_more(msgs, t0.elapsed()) {
                    match rx.try_recv() {
                        Ok(m) => n += self.handle(&mut rib, m),
                        Err(_) => break,
                    }
                    msgs += 1;
                }
                for _ in 0..core::FIB_EVENTS_MAX {
                    let Some(ev) = self.fib.as_mut().and_then(|f| f.events.try_recv().ok()) else {
                        break;
                    };
                    self.fib_event(&mut rib, ev);
                }
            }
            self.after_batch(n, t0);
        }
    }

    /// Applies one message; returns the number of UPDATEs applied.
    fn handle(&mut self, rib: &mut Rib, m: RibMsg) -> usize {
        match m {
            RibMsg::Peer(id, epoch, m) => return self.peer_msg(rib, id, epoch, m),
            RibMsg::AddPeer(cfg, reply) => {
                let _ = reply.send(rib.add_peer(*cfg));
            }
            RibMsg::PeerConfig(id, cfg) => {
                rib.set_peer_config(id, *cfg);
            }
            RibMsg::Identity(c) => rib.set_identity(c.asn(), c.router_id(), c.cluster_id()),
            RibMsg::Announce(r) => {
                self.w.announce(rib, r.into());
                self.refresh_policies(rib, &self.shared.config());
            }
            RibMsg::Withdraw(p) => self.w.withdraw(rib, p),
            RibMsg::Reconfigured(cfg, reimport) => {
                // New pools: every prefix goes to bgp-fib again, resolved with them.
                if let Some(f) = self.fib.as_mut() {
                    f.set_pools(&cfg, rib);
                }
                self.sync_statics(rib, &cfg);
                for id in self.w.reimport(rib, reimport) {
                    if let Some(p) = self.shared.peer_by_id(id) {
                        let _ = p.cmd.send(PeerCmd::RouteRefresh);
                    }
                }
            }
        }
        0
    }

    /// A peer's message of its session `epoch` (`bgp_core::driver::peer`'s), applied by the
    /// writer (what belongs to a session that is gone is dropped). Returns the number of
    /// UPDATEs applied.
    fn peer_msg(&mut self, rib: &mut Rib, id: SourceId, epoch: u64, m: ForRib) -> usize {
        let p = self.shared.peer_by_id(id);
        let p = p.filter(|p| p.epoch.load(Ordering::SeqCst) == epoch);
        let shared = &Arc::clone(&self.shared);
        let current = p.as_ref().map(|p| {
            // Our address on this session: the next hop for "self", ignored as a next hop.
            let own = lock(&p.status).local_addr;
            let config = move || shared.config().rib_peer_config_on(&lock(&p.spec), own);
            let malformed = |report: String| {
                let peer = lock(&p.spec).name.clone();
                tracing::warn!(%peer, "malformed UPDATE: {report}");
            };
            Current {
                own,
                config,
                malformed,
            }
        });
        let recovery = || lock(&shared.recovery);
        match (self.w.peer(rib, recovery, id, m, current), p) {
            (Applied::Updates(n, s), Some(p)) => {
                lock(&p.status).updates(&s);
                return n;
            }
            (Applied::Up, Some(p)) => p.rib_epoch.store(epoch, Ordering::SeqCst),
            _ => {}
        }
        0
    }

    /// Makes the RIB's static routes those of the config plus the API's.
    fn sync_statics(&mut self, rib: &mut Rib, cfg: &Config) {
        self.w.set_statics(rib, cfg.static_routes());
        self.refresh_policies(rib, cfg);
    }

    /// Re-installs the export policies (config policies with pools, plus the community terms
    /// of the static routes) and lets every peer's Adj-RIB-Out catch up.
    fn refresh_policies(&mut self, rib: &mut Rib, cfg: &Config) {
        let (policies, errors) = cfg.policies_with_export_prelude(&self.w.community_terms());
        for (filter, e) in errors {
            tracing::error!(%filter, error = %e, "cannot add static route communities");
        }
        self.w.set_policies(rib, policies);
    }

    /// An event of the FIB thread (which logs the kernel's answers itself): learned kernel
    /// routes and local addresses (`direct`) into the RIB (bgpd-config's `Config::learn`); a
    /// resync hands every prefix over again.
    fn fib_event(&mut self, rib: &mut Rib, ev: FibEvent) {
        let view = Arc::clone(&lock(&self.shared.kernel_view));
        let rest = self.shared.config().learn(rib, &view, ev);
        if let (Some(FibEvent::Resync), Some(f)) = (rest, self.fib.as_mut()) {
            f.sync.resync(rib);
        }
    }

    /// Drains the Loc-RIB changes (FIB, subscribers), wakes peers, checks the recovery.
    fn after_batch(&mut self, updates: usize, t0: Instant) {
        let mut fib_changes = Vec::new();
        let mut best = Vec::new();
        let subscribers = self.shared.best_tx.receiver_count() > 0;
        // Backpressure from the FIB thread: while it cannot take the last hand-off, the RIB
        // keeps further changes in its own per-prefix (coalescing) FIB queue.
        if let Some(f) = &self.fib {
            self.w.retry_backlog(|b| f.handle.try_send(b));
        }
        {
            let rib = &mut *lock(&self.shared.rib);
            let best_out = subscribers.then_some(&mut best);
            let mut sync = self.fib.as_mut().map(|f| &mut f.sync);
            let poll = |rib: &mut Rib, out: &mut Vec<_>| match sync.as_deref_mut() {
                Some(s) => s.poll(rib, out),
                None => rib.poll_fib_change(),
            };
            let chunk = bgp_fib::thread::HANDOFF_CHUNK;
            self.w.drain(rib, chunk, &mut fib_changes, poll, best_out);
            for p in lock(&self.shared.peers).iter() {
                if rib.has_pending(p.id) {
                    p.notify.notify_one();
                }
            }
            self.shared.stats.rib_batch(updates, t0.elapsed());
            // Filter run-time errors (each rejected a route): one warning per batch with the
            // latest, and the counter.
            if let Some((n, last)) = self.w.filter_errors(rib) {
                if let Some((filter, e)) = last {
                    tracing::warn!(%filter, error = %e, count = n, "filter run-time error: route rejected");
                }
                self.shared.stats.filter_errors(n);
            }
            // RIB size gauges (O(1) counters).
            if self.w.gauges_due(Instant::now()) {
                self.shared
                    .stats
                    .rib_routes(rib.len(Family::IPV4_UNICAST), rib.len(Family::IPV6_UNICAST));
            }
        }
        self.shared.stats.fib_sent(fib_changes.len());
        if let Some(f) = &self.fib {
            self.w.hand_over(fib_changes, |c| f.handle.try_send(c));
        }
        for b in best {
            let _ = self.shared.best_tx.send(b);
        }
        let step = self
            .w
            .recovery_step(&mut lock(&self.shared.recovery), Instant::now());
        match step {
            Step::Wait => return,
            Step::Advertise => tracing::info!(
                "graceful restart: advertising (the sweep waits for peers that restart too)"
            ),
            Step::Done => {
                tracing::info!("graceful restart recovery done: sweeping stale kernel routes");
                if let Some(f) = &self.fib {
                    f.handle.release_stale();
                }
            }
        }
        // The deferred advertisements (RFC 4724 §4.1) may go now.
        for p in lock(&self.shared.peers).iter() {
            p.notify.notify_one();
        }
    }

    async fn shutdown(&mut self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let notify = self.shared.config().shutdown_notifies();
        let peers: Vec<_> = lock(&self.shared.peers).clone();
        for p in &peers {
            let _ = p.cmd.send(PeerCmd::Admin(Admin::Shutdown { notify }));
        }
        let deadline = Instant::now() + core::SHUTDOWN_GRACE;
        while Instant::now() < deadline && peers.iter().any(|p| !p.cmd.is_closed()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(f) = self.fib.take() {
            f.shutdown().await;
        }
        tracing::info!("stopped");
    }
}

//! DOC: the peer task: one tokio task per neighbour driving a `bgp_core::peer::Peer` (at most
//! two connections; collision handling is bgp-core's). The task reads its connections itself
//! when they are readable, one read at a time, so when it waits for room in the RIB channel
//! nothing is read and TCP throttles the sender. It keeps no reader task and no read queue: an
//! idle neighbour costs the task, its future and the session (issue 19: ≤ 4 KB of heap each).
//!
//! Outbound: the session pulls UPDATEs through [`RibSource`](conn::RibSource) (a short lock of the shared RIB
//! per UPDATE) only while the connection's write buffer is below [`TX_HIGH`](conn::TX_HIGH); the buffer is
//! written with non-blocking writes when the socket is writable. The RIB task signals
//! `PeerHandle::notify` when the peer has something new to send. Nothing grows without bound.
//!
//! Session state changes, NOTIFICATIONs and errors are logged in a per-peer span and kept in
//! [`PeerStatus`] (bgpd-control's) for `show protocols`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bgp_core::driver::trim::worth_trimming;
use bgp_core::driver::{owes_nothing, Admin, Feed, Handoff, Linger, ToRib};
use bgp_core::peer::{ConnId, Peer, PeerAction};
use bgp_core::rib::SourceId;
use bgp_core::session::{Command, Event, Settings, SourceStatus, UpdateSource};
use bgp_core::wire::{EncodeError, Family, Negotiated, Update};
use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::{inbox, trim};
use tracing::Instrument;

use super::rib::RibMsg;
use super::{lock, PeerHandle, PeerStateChange, Shared};
use crate::config::{PeerOrigin, PeerSpec};
use crate::net::tcp as sockets;
pub use bgpd_control::protocols::PeerStatus;

mod conn;
mod wait;

use conn::{close_conn, Conn, Connecting};
use wait::Wake;

/// Commands to a peer task.
#[derive(Debug)]
pub(crate) enum PeerCmd {
    /// The peer connected to us.
    Incoming(TcpStream),
    /// `enable`.
    Enable,
    /// `disable` with a shutdown communication.
    Disable(String),
    /// `restart`.
    Restart,
    /// The session settings changed (reload): reset with Cease 6/6 and start anew.
    Reconfigure(Box<PeerSpec>),
    /// The daemon stops: Cease (`notify`) or just close TCP, keeping the peer's GR state.
    Shutdown { notify: bool },
    /// Deconfigured (reload): Cease 6/3, routes removed, task ends.
    Remove,
    /// Ask the peer to send its routes again (its import filter changed).
    RouteRefresh,
    /// Only the BFD settings changed (reload): re-attach, BGP untouched.
    Bfd(Box<PeerSpec>),
}

/// A session epoch no earlier handle used: RIB source slots are reused once a peer is removed
/// (a forgotten dynamic neighbour, a de-configured peer), and a message still queued for the
/// slot's previous owner must not match its new one.
fn epoch_base() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1 << 32, Ordering::Relaxed)
}

/// Registers the peer with the RIB (through the RIB task, its one writer) and the shared
/// table and starts its task.
pub(crate) async fn spawn(shared: &Arc<Shared>, spec: PeerSpec) -> Arc<PeerHandle> {
    let (reply, slot) = tokio::sync::oneshot::channel();
    let msg = RibMsg::AddPeer(Box::new(shared.config().rib_peer_config(&spec)), reply);
    let id = match shared.rib_tx.send(msg).await {
        Ok(()) => slot.await.ok().flatten(),
        Err(_) => None,
    };
    start(shared, spec, id)
}

/// Registers a configured peer at start-up, before the RIB task (the RIB's one writer once it
/// runs) exists, and starts its task.
pub(crate) fn spawn_at_start(shared: &Arc<Shared>, spec: PeerSpec) -> Arc<PeerHandle> {
    let id = lock(&shared.rib).add_peer(shared.config().rib_peer_config(&spec));
    start(shared, spec, id)
}

/// The peer's handle, in the shared table, and its task; `id`: its RIB source slot (`None`:
/// the RIB has none free, the peer runs but its routes cannot be kept).
fn start(shared: &Arc<Shared>, spec: PeerSpec, id: Option<SourceId>) -> Arc<PeerHandle> {
    let spec = Arc::new(spec);
    let id = id.unwrap_or(SourceId(u16::MAX));
    let (tx, rx) = inbox::unbounded();
    let h = Arc::new(PeerHandle {
        id,
        spec: Mutex::new(Arc::clone(&spec)),
        epoch: std::sync::atomic::AtomicU64::new(epoch_base()),
        rib_epoch: std::sync::atomic::AtomicU64::new(u64::MAX),
        notify: inbox::Signal::default(),
        cmd: tx,
        status: Mutex::new(PeerStatus {
            enabled: !spec.common.disabled,
            ..PeerStatus::default()
        }),
    });
    lock(&shared.peers).push(Arc::clone(&h));
    let task = Box::new(PeerTask::new(Arc::clone(shared), Arc::clone(&h), spec, rx));
    tokio::spawn(task.run());
    h
}

struct PeerTask {
    shared: Arc<Shared>,
    h: Arc<PeerHandle>,
    spec: Arc<PeerSpec>,
    peer: Peer,
    conns: Vec<Conn>,
    /// Outgoing connections being opened.
    connecting: Vec<Connecting>,
    cmd_rx: inbox::Receiver<PeerCmd>,
    /// What the session's events hand to the RIB (UPDATEs batched).
    feed: Feed,
    /// When this dynamic neighbour is forgotten (`bgp_core::driver::linger`).
    linger: Linger,
    done: bool,
    /// The peer asked for our routes again (ROUTE-REFRESH): to be told to the RIB task.
    refresh_out: bool,
    /// The BFD session bound to this peer (`bfd` set); boxed, as most peers have none (its
    /// ~0.1 KB would be in every peer's task).
    bfd: Option<Box<super::bfd::PeerBfd>>,
}

fn new_peer(shared: &Shared, spec: &PeerSpec) -> Peer {
    let restarting = shared.restarting && lock(&shared.recovery).is_some();
    let sc = shared.config().session_config(spec, restarting);
    let (settings, invalid) = Settings::shared_or_defaults(sc);
    if let Some(e) = invalid {
        tracing::error!("invalid session settings ({e}); using defaults");
    }
    Peer::with_settings(&settings)
}

impl PeerTask {
    fn new(
        shared: Arc<Shared>,
        h: Arc<PeerHandle>,
        spec: Arc<PeerSpec>,
        cmd_rx: inbox::Receiver<PeerCmd>,
    ) -> Self {
        let bfd = super::bfd::PeerBfd::attach(&shared, &spec).map(Box::new);
        PeerTask {
            bfd,
            peer: new_peer(&shared, &spec),
            shared,
            h,
            spec,
            conns: Vec::new(),
            connecting: Vec::new(),
            cmd_rx,
            feed: Feed::default(),
            linger: Linger::default(),
            done: false,
            refresh_out: false,
        }
    }

    fn ttl(&self) -> (u8, Option<u8>) {
        let c = &self.spec.common;
        let ebgp = self.spec.asn != self.shared.config().asn();
        let p = bgp_core::session::TtlPolicy::for_peer(ebgp, c.multihop, c.ttl_security);
        (p.send, p.min_receive)
    }

    /// The peer's log span. Entered only while the task works, never while it waits: a span
    /// kept for the task's life cost each idle neighbour ~0.4 KB (its formatted fields and
    /// extensions in the subscriber's registry).
    fn span(&self) -> tracing::Span {
        tracing::info_span!("peer", name = %self.spec.name, addr = %self.spec.address)
    }

    /// `self` boxed: an async fn keeps its argument and its moved-in local apart, so a task
    /// taken by value would sit twice in the future kept for each idle neighbour.
    async fn run(mut self: Box<Self>) {
        let span = self.span();
        Box::pin(self.start().instrument(span)).await;
        // The session's timer, reset to each next deadline (one, not one per wait).
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        while !self.done {
            self.update_linger();
            // One timer: the session's next timeout or the end of a dynamic neighbour's linger.
            let deadline = match (self.peer.poll_timeout(), self.linger.deadline()) {
                (Some(d), Some(f)) => Some(d.min(f)),
                (d, f) => d.or(f),
            }
            .map(tokio::time::Instant::from_std);
            if let Some(d) = deadline {
                if sleep.deadline() != d {
                    sleep.as_mut().reset(d);
                }
            }
            let want_write = self.conns.iter().position(|c| !c.tx.is_empty());
            // Only the waiting is in this future (kept for each idle neighbour), and its
            // sources are polled by hand, without a future each; the work is boxed, in its span.
            let wake = std::future::poll_fn(|cx| {
                let timer = deadline.map(|_| sleep.as_mut());
                self.poll_wake(cx, timer, want_write)
            })
            .await;
            let span = self.span();
            Box::pin(self.wake(wake).instrument(span)).await;
        }
        let span = self.span();
        Box::pin(self.close_all().instrument(span)).await;
    }

    async fn start(&mut self) {
        if !self.spec.common.disabled {
            self.peer.handle_command(Instant::now(), Command::Start);
        }
        self.process().await;
    }

    /// What woke the task, then the session's output.
    async fn wake(&mut self, w: Wake) {
        match w {
            // Boxed: commands are rare, and inline they would double every wake-up's future.
            Wake::Cmd(Some(c)) => Box::pin(self.command(c)).await,
            Wake::Cmd(None) => self.done = true,
            Wake::Read(i) => self.read_from(i),
            Wake::Connected(id, r) => self.connected(id, r),
            Wake::Timer => {
                if self.linger.expired(Instant::now()) {
                    Box::pin(self.forget()).await;
                    return;
                }
                self.peer.handle_timeout(Instant::now());
            }
            Wake::Bfd(v) => self.bfd_verdict(v),
            Wake::Work => {}
        }
        self.process().await;
    }

    /// BFD follows the peer's new settings.
    fn reattach_bfd(&mut self) {
        let old = self.bfd.take().map(|b| *b);
        self.bfd = super::bfd::reattach(&self.shared, &self.spec, old, &mut self.peer, &self.h)
            .map(Box::new);
    }

    fn bfd_verdict(&mut self, v: super::bfd::Verdict) {
        let held = self.bfd.as_ref().is_some_and(|b| b.held());
        super::bfd::apply_verdict(&mut self.peer, &self.h, held, v);
    }

    /// Connection `id` ended (end of stream, read or write error).
    fn closed(&mut self, id: ConnId) {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            drop(self.conns.swap_remove(i));
            self.peer.handle_disconnected(Instant::now(), id);
        }
    }

    /// An outgoing connection attempt finished.
    fn connected(&mut self, id: ConnId, r: io::Result<TcpStream>) {
        let now = Instant::now();
        match r {
            Ok(stream) => {
                if self.peer.handle_connected(now, id) {
                    self.add_conn(id, stream);
                }
            }
            Err(e) => {
                tracing::debug!("connect failed: {e}");
                self.peer.handle_disconnected(now, id);
            }
        }
    }

    async fn command(&mut self, c: PeerCmd) {
        let now = Instant::now();
        let (admin, new_spec) = match c {
            PeerCmd::Incoming(s) => {
                if self.shared.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                match self.peer.handle_incoming(now) {
                    Some(id) => self.add_conn(id, s),
                    None => tracing::debug!(
                        "incoming connection refused in state {:?}",
                        self.peer.state()
                    ),
                }
                return;
            }
            PeerCmd::Bfd(spec) => {
                self.spec = Arc::new(*spec);
                self.reattach_bfd();
                return;
            }
            PeerCmd::RouteRefresh => return self.peer.request_refresh(now),
            PeerCmd::Reconfigure(spec) => (Admin::Reconfigure, Some(spec)),
            PeerCmd::Enable => (Admin::Enable, None),
            PeerCmd::Disable(msg) => (Admin::Disable(msg), None),
            PeerCmd::Restart => (Admin::Restart, None),
            PeerCmd::Shutdown { notify } => (Admin::Shutdown { notify }, None),
            PeerCmd::Remove => (Admin::Remove, None),
        };
        if let Some(enabled) = admin.enabled() {
            lock(&self.h.status).enabled = enabled;
        }
        if let Some(spec) = new_spec {
            tracing::info!("settings changed: resetting the session");
            self.peer.handle_command(now, admin.command());
            self.process().await;
            self.close_all().await;
            // Attempts of the old session are abandoned (the new one numbers its own).
            self.connecting = Vec::new();
            self.spec = Arc::new(*spec);
            *lock(&self.h.spec) = self.spec.clone();
            self.reattach_bfd();
            self.peer = new_peer(&self.shared, &self.spec);
            if !self.spec.common.disabled {
                self.peer.handle_command(Instant::now(), Command::Start);
            }
            return;
        }
        self.peer.handle_command(now, admin.command());
        // What follows a stop, once its NOTIFICATION is on its way.
        match admin {
            Admin::Restart => {
                self.process().await;
                self.peer.handle_command(Instant::now(), Command::Start);
            }
            Admin::Shutdown { .. } => {
                self.process().await;
                self.done = true;
            }
            Admin::Remove => {
                self.process().await;
                self.remove().await;
            }
            Admin::Enable | Admin::Disable(_) | Admin::Reconfigure => {}
        }
    }

    /// Whether this is a dynamic neighbour that owes nothing (`bgp_core::driver::linger`).
    fn owes_nothing(&self) -> bool {
        self.spec.origin == PeerOrigin::Dynamic
            && owes_nothing(
                self.peer.state(),
                self.conns.len(),
                lock(&self.h.status).stale,
            )
    }

    /// Starts or cancels the linger of a dynamic neighbour (`forget_after` of its range).
    fn update_linger(&mut self) {
        let idle = self.owes_nothing();
        let (shared, addr) = (&self.shared, self.spec.address);
        (self.linger).update(Instant::now(), idle, || shared.config().forget_after(addr));
    }

    /// The linger of a dynamic neighbour that owes nothing ended: it leaves the daemon, unless
    /// a command (an incoming connection) arrived meanwhile.
    async fn forget(&mut self) {
        if let Some(c) = self.cmd_rx.try_recv() {
            self.command(c).await;
            self.process().await;
            return;
        }
        if !self.owes_nothing() {
            return;
        }
        tracing::info!("dynamic neighbour gone: forgotten");
        self.remove().await;
    }

    /// Leaves the daemon: the RIB drops the peer's routes and frees its source slot, the peer
    /// leaves the shared table (`show protocols` and the metrics, which are built from it at
    /// scrape time, its message counters included). The task ends.
    async fn remove(&mut self) {
        self.h.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self.shared.rib_tx.send(RibMsg::RemovePeer(self.h.id)).await;
        lock(&self.shared.peers).retain(|p| !Arc::ptr_eq(p, &self.h));
        self.done = true;
        trim::soon();
    }

    /// Drains events and actions, hands UPDATEs to the RIB, writes what fits.
    async fn process(&mut self) {
        for _ in 0..64 {
            let mut progress = false;
            // No event is held across an await here: the event lives in a block that ends
            // before it (an event's room, 0.5 KB, would be in every wake-up's future); what
            // it hands to the RIB is `bgp_core::driver::Feed`'s answer.
            loop {
                let h = {
                    let Some(ev) = self.peer.poll_event() else {
                        break;
                    };
                    progress = true;
                    self.observe(&ev);
                    self.feed.handle(ev)
                };
                if h.updates.is_some() || h.then.is_some() {
                    Box::pin(self.hand_off(h)).await;
                }
            }
            if let Some(u) = self.feed.flush() {
                self.send_updates(u).await;
            }
            while let Some(a) = self.peer.poll_action() {
                progress = true;
                Box::pin(self.action(a)).await;
            }
            if self.transmit() {
                progress = true;
            }
            if std::mem::take(&mut self.refresh_out) {
                let epoch = self.h.epoch.load(Ordering::SeqCst);
                let msg = RibMsg::RefreshOut(self.h.id, epoch);
                let _ = self.shared.rib_tx.send(msg).await;
            }
            if self.write_some() {
                progress = true;
            }
            if !progress {
                break;
            }
        }
        self.publish_state();
    }

    /// The peer's state (the most advanced of its sessions) into the status and to
    /// subscribers, when it changed.
    fn publish_state(&mut self) {
        let now = self.peer.state();
        let changed = lock(&self.h.status).observe(now, self.peer.stats(), SystemTime::now());
        let Some(from) = changed else {
            return;
        };
        tracing::info!("{} -> {}", from.name(), now.name());
        if worth_trimming(from, now) {
            trim::soon();
        }
        let _ = self.shared.peer_tx.send(PeerStateChange {
            name: self.spec.name.clone(),
            address: self.spec.address,
            from: from.name(),
            to: now.name(),
        });
    }

    /// Hands a batch of UPDATEs to the RIB task.
    async fn send_updates(&mut self, updates: Vec<Update>) {
        let epoch = self.h.epoch.load(Ordering::SeqCst);
        // Backpressure: waits while the RIB task is behind; nothing is read meanwhile.
        let msg = RibMsg::Updates(self.h.id, epoch, updates);
        let _ = self.shared.rib_tx.send(msg).await;
    }

    /// Logs a session event and keeps what `show protocols` shows of it.
    fn observe(&self, ev: &Event) {
        match ev {
            Event::Update(_) => return,
            Event::StateChanged { from, to } => {
                tracing::debug!("session {} -> {}", from.name(), to.name())
            }
            Event::Down(d) => {
                let msg = d.reason.bird_text();
                tracing::warn!(from = d.from.name(), "session down: {msg}")
            }
            Event::RouteRefresh(rr) => tracing::debug!("route refresh {:?}", rr.subtype),
            Event::MaxPrefixExceeded { family, limit } => {
                tracing::warn!(?family, limit, "max prefixes exceeded")
            }
            Event::SourceError(e) => tracing::error!("cannot encode an UPDATE: {e}"),
            Event::Established(_) | Event::EndOfRib(_) | Event::StaleRoutesExpired(_) => {}
        }
        lock(&self.h.status).follow(ev, SystemTime::now());
    }

    /// Hands what a session event means for the RIB to the RIB task, in order.
    async fn hand_off(&mut self, h: Handoff) {
        if let Some(u) = h.updates {
            self.send_updates(u).await;
        }
        let (id, epoch) = (self.h.id, self.h.epoch.load(Ordering::SeqCst));
        let msg = match h.then {
            None => return,
            Some(ToRib::Up(neg)) => {
                // Our address on this connection becomes the next hop for "self".
                let local = lock(&self.h.status).local_addr;
                RibMsg::PeerUp(Box::new(super::rib::PeerUp {
                    id,
                    epoch,
                    config: self.shared.config().rib_peer_config_on(&self.spec, local),
                    eor_wait: super::EorWait::of(&neg),
                    negotiated: neg,
                }))
            }
            Some(ToRib::Down { graceful }) => {
                // Messages of this session still queued are dropped by the RIB task.
                self.h.epoch.fetch_add(1, Ordering::SeqCst);
                RibMsg::PeerDown(id, graceful)
            }
            Some(ToRib::EndOfRib(f)) => RibMsg::EndOfRib(id, epoch, f),
            Some(ToRib::StaleExpired) => RibMsg::StaleExpired(id),
        };
        let _ = self.shared.rib_tx.send(msg).await;
    }

    async fn action(&mut self, a: PeerAction) {
        match a {
            PeerAction::Connect(id) => {
                let (ttl, gtsm) = self.ttl();
                let o = sockets::ConnectOpts {
                    peer: SocketAddr::new(self.spec.address, self.spec.common.port),
                    source: self.spec.common.source_address,
                    md5: self.spec.common.password.clone(),
                    ttl,
                    gtsm_min: gtsm,
                    timeout: Duration::from_secs(5),
                };
                self.connecting
                    .push((id, Box::pin(async move { sockets::connect(&o).await })));
            }
            PeerAction::Close(id) => {
                if let Some(i) = self.conns.iter().position(|c| c.id == id) {
                    let c = self.conns.swap_remove(i);
                    close_conn(c).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_peer_task_stays_small() {
        // What every idle neighbour keeps (issue 19): the waiting future and the boxed task.
        // The future was 712 octets with a `select!` over one future per source.
        fn future_of<F: FnOnce(Box<PeerTask>) -> Fut, Fut>(_: F) -> usize {
            std::mem::size_of::<Fut>()
        }
        let fut = future_of(PeerTask::run);
        assert!(fut <= 320, "the peer task's future is {fut} octets");
        // Each wake-up boxes its work: 1.6 KB before commands, the linger's end and events
        // were boxed apart (1,000 sessions coming up at once keep 1,000 of these).
        fn wake_of<'a, F: FnOnce(&'a mut PeerTask, Wake) -> Fut, Fut>(_: F) -> usize {
            std::mem::size_of::<Fut>()
        }
        let wake = wake_of(PeerTask::wake);
        assert!(wake <= 640, "a wake-up's future is {wake} octets");
        // 664 since the message counters (80 octets) moved from the daemon into the session
        // (`Peer::stats`, issue 14); the status keeps a copy for the control socket.
        let task = std::mem::size_of::<PeerTask>();
        assert!(task <= 672, "the peer task is {task} octets");
    }

    /// What waits for the RIB task from one peer stays a small part of a full table: ~2.8 MB
    /// of decoded routes at most with 4 KB UPDATEs (was the whole table).
    #[test]
    fn decoded_routes_waiting_are_bounded() {
        let per_update = 1024; // a 4 KB UPDATE of /24s, rounded up
        let waiting =
            bgp_core::driver::batch::waiting_bound(super::super::rib::CHANNEL_DEPTH, per_update);
        let size = std::mem::size_of::<bgp_core::wire::Nlri>();
        assert!(waiting * size <= 4 << 20, "{waiting} routes");
        assert!(waiting < 1_000_000 / 8);
    }
}

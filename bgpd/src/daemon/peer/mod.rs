//! DOC: the peer task: one tokio task per neighbour driving a `bgp_core::peer::Peer` (at most
//! two connections; collision handling is bgp-core's). The task reads its connections itself
//! when they are readable, one read at a time, so when it waits for room in the RIB channel
//! nothing is read and TCP throttles the sender. It keeps no reader task and no read queue: an
//! idle neighbour costs the task, its future and the session (issue 19: ≤ 4 KB of heap each).
//!
//! What follows each input is `bgp_core::driver::peer::PeerDriver`'s: the task waits (`wait`),
//! gives it what happened, and does what it polls out: RIB messages (it waits for room in the
//! RIB channel: backpressure), connects, closes, logs and the state to publish. No output is
//! held across an await (an event's room, 0.5 KB, would be in every wake-up's future).
//!
//! Outbound: the session pulls UPDATEs from the Adj-RIB-Out (`conn::Daemon`, a short lock of
//! the shared RIB per UPDATE) only while the connection's write buffer is below `TX_HIGH`;
//! the buffer is written with non-blocking writes when the socket is writable. The RIB task
//! signals `PeerHandle::notify` when the peer has something new to send. Nothing grows
//! without bound. Session events are logged in a per-peer span and kept in [`PeerStatus`]
//! (bgpd-control's) for `show protocols`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bgp_core::driver::{Admin, ForRib, Output, PeerDriver};
use bgp_core::peer::{ConnId, Peer};
use bgp_core::rib::SourceId;
use bgp_core::session::{Event, Settings, StateKind};
use tokio::net::TcpStream;

use crate::{inbox, trim};
use tracing::Instrument;

use super::bfd::PeerBfd;
use super::rib::RibMsg;
use super::{lock, PeerHandle, PeerStateChange, Shared};
use crate::config::{PeerOrigin, PeerSpec};
use crate::net::tcp as sockets;
pub use bgpd_control::protocols::PeerStatus;

mod conn;
mod wait;

use conn::{close_conn, Connecting};
use wait::Wake;

/// Commands to a peer task.
#[derive(Debug)]
pub(crate) enum PeerCmd {
    /// The peer connected to us.
    Incoming(TcpStream),
    /// `enable`, `disable`, `restart`, the daemon's shutdown, a removal or new session
    /// settings (reload; the handle's spec is the new one already): bgp-core's.
    Admin(Admin),
    /// Ask the peer to send its routes again (its import filter changed).
    RouteRefresh,
    /// Only the BFD settings changed (reload): re-attach, BGP untouched.
    BfdSettings(Box<PeerSpec>),
    /// The BFD session of this key changed (from the BFD task; taken only while the peer is
    /// bound to that session).
    BfdLink(bgp_core::bfd::Key, bgp_core::bfd::Link),
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
        epoch: std::sync::atomic::AtomicU64::new(bgp_core::driver::peer::epoch_base()),
        rib_epoch: std::sync::atomic::AtomicU64::new(u64::MAX),
        notify: inbox::Signal::default(),
        cmd: tx,
        status: Mutex::new(PeerStatus {
            enabled: !spec.common.disabled,
            ..PeerStatus::default()
        }),
    });
    lock(&shared.peers).push(Arc::clone(&h));
    let dynamic = spec.origin == PeerOrigin::Dynamic;
    let mut d = PeerDriver::new(new_peer(shared, &spec), dynamic);
    d.bind_bfd(Instant::now(), PeerBfd::attach(shared, &spec, &h.cmd));
    let task = Box::new(PeerTask {
        d,
        shared: Arc::clone(shared),
        h: Arc::clone(&h),
        cmd_rx: rx,
    });
    tokio::spawn(task.run());
    h
}

struct PeerTask {
    shared: Arc<Shared>,
    /// Its settings are the handle's (`spec`), as a reload left them.
    h: Arc<PeerHandle>,
    /// The session, its connections and attempts, its BFD attachment (`bfd` set; boxed in
    /// the driver, as most peers have none), and every decision about them.
    d: PeerDriver<TcpStream, Connecting, PeerBfd>,
    cmd_rx: inbox::Receiver<PeerCmd>,
}

fn new_peer(shared: &Shared, spec: &PeerSpec) -> Peer {
    let restarting = lock(&shared.recovery).is_some();
    let sc = shared.config().session_config(spec, restarting);
    let (settings, invalid) = Settings::shared_or_defaults(sc);
    if let Some(e) = invalid {
        tracing::error!("invalid session settings ({e}); using defaults");
    }
    Peer::with_settings(&settings)
}

/// What a wake-up does once the driver's output is taken out of it (nothing of it is held
/// across the await).
enum Step {
    Send(RibMsg),
    Close(conn::Conn),
}

impl PeerTask {
    /// The peer's log span. Entered only while the task works, never while it waits: a span
    /// kept for the task's life cost each idle neighbour ~0.4 KB (its formatted fields and
    /// extensions in the subscriber's registry).
    fn span(&self) -> tracing::Span {
        let spec = self.spec();
        tracing::info_span!("peer", name = %spec.name, addr = %spec.address)
    }

    fn spec(&self) -> Arc<PeerSpec> {
        lock(&self.h.spec).clone()
    }

    /// `self` boxed: an async fn keeps its argument and its moved-in local apart, so a task
    /// taken by value would sit twice in the future kept for each idle neighbour.
    async fn run(mut self: Box<Self>) {
        if !self.spec().common.disabled {
            self.d.start(Instant::now());
        }
        // The timer: the driver's next deadline (one, not one per wait).
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        loop {
            let span = self.span();
            Box::pin(self.process().instrument(span)).await;
            if self.d.is_done() {
                break;
            }
            let deadline = self.d.poll_timeout().map(tokio::time::Instant::from_std);
            if let Some(d) = deadline.filter(|d| *d != sleep.deadline()) {
                sleep.as_mut().reset(d);
            }
            let want_write = self.d.wants_write();
            // Only the waiting is in this future (kept for each idle neighbour), and its
            // sources are polled by hand, without a future each; the work is boxed, in its span.
            let wake = std::future::poll_fn(|cx| {
                let timer = deadline.map(|_| sleep.as_mut());
                self.poll_wake(cx, timer, want_write)
            })
            .await;
            self.span().in_scope(|| self.wake(wake));
        }
    }

    /// Gives the driver what woke the task.
    fn wake(&mut self, w: Wake) {
        let now = Instant::now();
        match w {
            Wake::Cmd(Some(c)) => self.command(c),
            Wake::Cmd(None) => self.d.end(),
            Wake::Read(i) => {
                let (shared, h, spec) = (&*self.shared, &*self.h, &*self.spec());
                self.d.read(now, i, &mut conn::Daemon { shared, h, spec });
            }
            Wake::Connected(id, r) => self.connected(id, r),
            Wake::Timer if self.d.handle_timeout(now) => loop {
                match self.cmd_rx.try_recv() {
                    // A BFD change is taken, but keeps no neighbour.
                    Some(c @ PeerCmd::BfdLink(..)) => self.command(c),
                    // An incoming connection arrived as the linger ended.
                    Some(c) => break self.command(c),
                    None => {
                        tracing::info!("dynamic neighbour gone: forgotten");
                        break self.d.forget();
                    }
                }
            },
            Wake::Timer | Wake::Work => {}
        }
        self.d.wake();
    }

    /// BFD follows the peer's new settings: the new attachment is made before the old one
    /// goes, so a session whose timers changed stays Up (a Poll Sequence negotiates them).
    fn reattach_bfd(&mut self, spec: &PeerSpec) {
        let new = PeerBfd::attach(&self.shared, spec, &self.h.cmd);
        let v = self.d.bind_bfd(Instant::now(), new);
        super::bfd::log_verdict(&self.h, v, self.d.enabled());
    }

    /// An outgoing connection attempt finished.
    fn connected(&mut self, id: ConnId, r: io::Result<TcpStream>) {
        let now = Instant::now();
        match r {
            Ok(s) => {
                if let Some(s) = self.d.handle_connected(now, id, s) {
                    conn::configure(s, &self.h, None);
                }
            }
            Err(e) => {
                tracing::debug!("connect failed: {e}");
                self.d.handle_connect_failed(now, id);
            }
        }
    }

    fn command(&mut self, c: PeerCmd) {
        let now = Instant::now();
        let admin = match c {
            PeerCmd::Admin(a) => a,
            PeerCmd::Incoming(s) => {
                if self.shared.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                let ttl = self.d.peer().config().ttl;
                match self.d.handle_incoming(now, s) {
                    Some(s) => conn::configure(s, &self.h, Some(ttl)),
                    None => tracing::debug!("incoming connection refused in {:?}", self.d.state()),
                }
                return;
            }
            PeerCmd::BfdSettings(spec) => return self.reattach_bfd(&spec),
            PeerCmd::BfdLink(key, link) => {
                // A change of a session the peer was bound away from means nothing.
                let v = self.d.handle_bfd(now, &key, &link);
                return super::bfd::log_verdict(&self.h, v, self.d.enabled());
            }
            PeerCmd::RouteRefresh => return self.d.request_refresh(now),
        };
        self.d.handle_admin(now, admin);
        lock(&self.h.status).enabled = self.d.enabled();
    }

    /// Does what the driver asks until it has nothing more.
    async fn process(&mut self) {
        let mut spec = self.spec();
        loop {
            let step = {
                let (shared, h) = (&*self.shared, &*self.h);
                match self.d.poll(
                    Instant::now(),
                    &mut conn::Daemon {
                        shared,
                        h,
                        spec: &spec,
                    },
                ) {
                    None => break,
                    Some(Output::Event(ev)) => {
                        self.observe(&ev);
                        continue;
                    }
                    Some(Output::Rib { epoch, msg }) => Step::Send(self.to_rib(epoch, msg)),
                    Some(Output::Connect { id, ttl }) => {
                        let o = sockets::ConnectOpts {
                            peer: SocketAddr::new(spec.address, spec.common.port),
                            source: spec.common.source_address,
                            md5: spec.common.password.clone(),
                            ttl: ttl.send,
                            gtsm_min: ttl.min_receive,
                            timeout: Duration::from_secs(5),
                        };
                        let f = Box::pin(async move { sockets::connect(&o).await });
                        self.d.connecting(id, f);
                        continue;
                    }
                    Some(Output::Close(c)) => Step::Close(c),
                    Some(Output::State { from, to, trim }) => {
                        self.publish(&spec, from, to, trim);
                        continue;
                    }
                    Some(Output::Reset) => {
                        spec = self.spec();
                        self.reattach_bfd(&spec);
                        let peer = new_peer(&self.shared, &spec);
                        self.d.replace(Instant::now(), peer, spec.common.disabled);
                        continue;
                    }
                    Some(Output::Done) => continue,
                }
            };
            match step {
                // Backpressure: waits while the RIB task is behind; nothing is read meanwhile.
                Step::Send(m) => {
                    let _ = self.shared.rib_tx.send(m).await;
                }
                Step::Close(c) => Box::pin(close_conn(c)).await,
            }
        }
        lock(&self.h.status).messages = self.d.stats();
    }

    /// The peer's state into the status and to subscribers.
    fn publish(&self, spec: &PeerSpec, from: StateKind, to: StateKind, trim: bool) {
        tracing::info!("{} -> {}", from.name(), to.name());
        lock(&self.h.status).observe(to, self.d.stats(), SystemTime::now());
        if trim {
            trim::soon();
        }
        let _ = self.shared.peer_tx.send(PeerStateChange {
            name: spec.name.clone(),
            address: spec.address,
            from: from.name(),
            to: to.name(),
        });
    }

    /// Logs a session event and keeps what `show protocols` shows of it.
    fn observe(&self, ev: &Event) {
        match ev {
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
            _ => {}
        }
        lock(&self.h.status).follow(ev, SystemTime::now());
    }

    /// The driver's message as the RIB task's; a neighbour that leaves also leaves the
    /// shared table (`show protocols`, the metrics).
    fn to_rib(&self, epoch: u64, msg: ForRib) -> RibMsg {
        if matches!(msg, ForRib::Remove) {
            lock(&self.shared.peers).retain(|p| !Arc::ptr_eq(p, &self.h));
            trim::soon();
        }
        RibMsg::Peer(self.h.id, epoch, msg)
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
        // were boxed apart (1,000 sessions coming up at once keep 1,000 of these); the work is
        // the driver's output, taken out of it before each await.
        fn work_of<'a, F: FnOnce(&'a mut PeerTask) -> Fut, Fut>(_: F) -> usize {
            std::mem::size_of::<Fut>()
        }
        let work = work_of(PeerTask::process);
        assert!(work <= 640, "a wake-up's future is {work} octets");
        // 664 since the message counters (80 octets) moved from the daemon into the session
        // (`Peer::stats`, issue 14); the status keeps a copy for the control socket.
        let task = std::mem::size_of::<PeerTask>();
        assert!(task <= 672, "the peer task is {task} octets");
        eprintln!("future {fut}, wake-up {work}, task {task}");
    }
}

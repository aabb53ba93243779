//! DOC: the BFD task: one task drives the sans-IO `bgp_core::bfd::Bfd` engine with the UDP
//! sockets of `crate::net::bfd`, and binds its sessions to BGP peers. It starts with the first
//! peer that has `bfd` set (a daemon without BFD opens no BFD port).
//!
//! * The task runs on its own thread with a single-threaded runtime: its timers are not
//!   delayed by route processing on the daemon's workers (a busy RIB must not look like a dead
//!   link to the peer), and a wake-up costs no cross-thread hand-off. Periodic packets go up
//!   to [`TX_SLACK`] early, so one wake-up serves every packet due within that window
//!   (`Bfd::set_tx_slack`: 200 sessions at 100 ms wake it ~100 times a second, not ~2,300).
//!
//! * A peer with BFD attaches ([`PeerBfd::attach`]) a client to the session of its key
//!   (address, source address, hop mode): peers to one address share one session, which is
//!   removed (after an AdminDown packet) when its last client goes.
//! * Session states reach the peer tasks through a `watch` per key. When a session that was Up
//!   goes Down, every BGP session bound to it is closed at once (Cease, subcode 10 "BFD Down",
//!   RFC 9384; routes withdrawn as for any closed session) and, with `[bfd] wait_for_up`
//!   (BIRD's behaviour), held down until BFD is Up again. A Down caused by the peer's
//!   AdminDown does not touch BGP (RFC 5882 §3.2).
//! * Every state change is logged with its diagnostic and counted in the metrics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

pub(crate) use bgp_core::bfd::Verdict;
use bgp_core::bfd::{
    Bfd, BfdEvent, Binding, Clients, Key, Link, Received, SessionParams, PACKET_LEN, PORT_MULTIHOP,
    PORT_SINGLE_HOP,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use bgp_core::peer::Peer;

use super::{lock, PeerHandle, Shared};
use crate::config::PeerSpec;
use crate::net::bfd as bfd_sockets;
use crate::status::{BfdCounters, BfdSessionStatus};
use bgpd_control::bfd::{counters_status, sessions_status};

/// How early a periodic packet may go to share a wake-up (at most a tenth of a session's
/// interval; the jitter range narrows by as much, RFC 5880 §6.8.7 holds).
const TX_SLACK: std::time::Duration = std::time::Duration::from_millis(10);

enum Cmd {
    Add(Key, SessionParams),
    Remove(Key),
}

/// The BFD task's shared side.
pub(crate) struct BfdHandle {
    cmd: mpsc::UnboundedSender<Cmd>,
    /// The peers of each session, their `watch`, when the session entered its state.
    clients: Mutex<Clients<watch::Sender<Link>>>,
    engine: Arc<Mutex<Bfd>>,
    /// Whether the receive sockets could be opened.
    pub listening: Mutex<Vec<String>>,
}

impl BfdHandle {
    fn start(shared: &Arc<Shared>) -> Arc<BfdHandle> {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut engine = Bfd::new(seed);
        engine.set_tx_slack(TX_SLACK);
        let h = Arc::new(BfdHandle {
            cmd: tx,
            clients: Mutex::new(Clients::default()),
            engine: Arc::new(Mutex::new(engine)),
            listening: Mutex::new(Vec::new()),
        });
        let task = Task {
            h: Arc::clone(&h),
            shared: Arc::clone(shared),
            tx_socks: HashMap::new(),
            port_seed: (seed >> 16) as u16,
        };
        let spawned = std::thread::Builder::new()
            .name("bgpd-bfd".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(task.run(rx)),
                    Err(e) => tracing::error!("BFD: cannot start its runtime: {e}"),
                }
            });
        if let Err(e) = spawned {
            tracing::error!("BFD: cannot start its thread: {e}");
        }
        h
    }

    /// Every session, for `show bfd sessions` and the metrics.
    pub fn sessions(&self) -> Vec<BfdSessionStatus> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        // The clients first, then the engine (the order every other caller keeps).
        let clients = lock(&self.clients);
        sessions_status(&lock(&self.engine), &clients, now, wall)
    }

    /// Packet counters of the whole daemon.
    pub fn counters(&self) -> BfdCounters {
        counters_status(lock(&self.engine).counters())
    }
}

/// Applies a BFD verdict to a peer's BGP (`Verdict::commands`: close at once, restarting it
/// unless `held`; or start it again once BFD is back Up; a disabled peer stays down).
pub(crate) fn apply_verdict(peer: &mut Peer, h: &PeerHandle, held: bool, v: Verdict) {
    let enabled = lock(&h.status).enabled;
    match v {
        Verdict::Close => {
            tracing::warn!("BFD session down: closing the BGP session");
            lock(&h.status).last_error = Some("BFD session down".into());
        }
        Verdict::Release if enabled => tracing::info!("BFD session up: starting the BGP session"),
        Verdict::Release | Verdict::Nothing => {}
    }
    let now = Instant::now();
    for c in v.commands(held, enabled) {
        peer.handle_command(now, c);
    }
}

/// New BFD settings of a peer: attaches the new client before `old` goes, so a session whose
/// timers changed stays Up and negotiates them with a Poll Sequence; a hold on BGP carries
/// over, and is released when BFD is no longer configured.
pub(crate) fn reattach(
    shared: &Arc<Shared>,
    spec: &PeerSpec,
    old: Option<PeerBfd>,
    peer: &mut Peer,
    h: &PeerHandle,
) -> Option<PeerBfd> {
    let held = old.as_ref().is_some_and(|b| b.held());
    let mut new = PeerBfd::attach(shared, spec);
    drop(old);
    let release = match &mut new {
        Some(b) => {
            let link = *b.rx.borrow();
            b.binding.carry_hold(held, &link)
        }
        None => held,
    };
    if release {
        apply_verdict(peer, h, false, Verdict::Release);
    }
    new
}

/// A peer's attachment to its BFD session (dropping it detaches).
pub(crate) struct PeerBfd {
    h: Arc<BfdHandle>,
    key: Key,
    name: String,
    rx: watch::Receiver<Link>,
    /// The wait for the next change ([`PeerBfd::poll_changed`]).
    wait: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    /// What the changes mean for BGP (bgp-core's rules).
    binding: Binding,
}

impl PeerBfd {
    /// Attaches `spec` to its BFD session if it has `bfd` set.
    pub fn attach(shared: &Arc<Shared>, spec: &PeerSpec) -> Option<PeerBfd> {
        let s = shared.config().bfd_session(spec)?;
        let (key, p) = (s.key, s.params);
        let h = Arc::clone(shared.bfd.get_or_init(|| BfdHandle::start(shared)));
        let rx = lock(&h.clients)
            .attach(key, &spec.name, || watch::channel(Link::default()).0)
            .subscribe();
        let _ = h.cmd.send(Cmd::Add(key, p));
        let binding = Binding::new(&rx.borrow(), s.wait_for_up);
        Some(PeerBfd {
            h,
            key,
            name: spec.name.clone(),
            rx,
            wait: None,
            binding,
        })
    }

    /// BGP is held down until BFD is Up.
    pub fn held(&self) -> bool {
        self.binding.held
    }

    /// `Ready` with what BGP must do once the session changed. Polled by the peer task by
    /// hand: the wait is a boxed future on a clone of the receiver (it has seen what this one
    /// has), made when needed and dropped once it fired.
    pub fn poll_changed(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Verdict> {
        let rx = &self.rx;
        let wait = self.wait.get_or_insert_with(|| {
            let mut rx = rx.clone();
            Box::pin(async move {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        });
        if wait.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        self.wait = None;
        std::task::Poll::Ready(self.verdict())
    }

    /// What the latest change means for BGP.
    fn verdict(&mut self) -> Verdict {
        let l = *self.rx.borrow_and_update();
        self.binding.verdict(&l)
    }
}

impl Drop for PeerBfd {
    fn drop(&mut self) {
        lock(&self.h.clients).detach(&self.key, &self.name);
        let _ = self.h.cmd.send(Cmd::Remove(self.key));
    }
}

struct Task {
    h: Arc<BfdHandle>,
    shared: Arc<Shared>,
    tx_socks: HashMap<u32, bfd_sockets::TxSocket>,
    port_seed: u16,
}

/// Waits until `s` (if any) is readable.
async fn readable(s: &Option<UdpSocket>) {
    match s {
        Some(s) => {
            let _ = s.readable().await;
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self, mut cmd_rx: mpsc::UnboundedReceiver<Cmd>) {
        let open = |v6: bool, port: u16| match bfd_sockets::rx_socket(v6, port) {
            Ok(s) => {
                lock(&self.h.listening)
                    .push(format!("{}:{port}", if v6 { "[::]" } else { "0.0.0.0" }));
                Some(s)
            }
            Err(e) => {
                tracing::error!(port, v6, "BFD: cannot open the receive socket: {e}");
                None
            }
        };
        let socks = [
            (open(false, PORT_SINGLE_HOP), false),
            (open(true, PORT_SINGLE_HOP), false),
            (open(false, PORT_MULTIHOP), true),
            (open(true, PORT_MULTIHOP), true),
        ];
        let mut stop = self.shared.stop_tx.subscribe();
        let mut buf = [0u8; 512];
        loop {
            let deadline = lock(&self.h.engine)
                .poll_timeout(Instant::now())
                .map(tokio::time::Instant::from_std);
            let [(s0, _), (s1, _), (s2, _), (s3, _)] = &socks;
            tokio::select! {
                biased;
                _ = super::stopped(&mut stop) => {
                    self.shutdown();
                    return;
                }
                c = cmd_rx.recv() => match c {
                    Some(c) => self.command(c),
                    None => return,
                },
                _ = readable(s0) => self.read(&socks[0], &mut buf),
                _ = readable(s1) => self.read(&socks[1], &mut buf),
                _ = readable(s2) => self.read(&socks[2], &mut buf),
                _ = readable(s3) => self.read(&socks[3], &mut buf),
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    lock(&self.h.engine).handle_timeout(Instant::now());
                }
            }
            self.flush();
        }
    }

    fn command(&mut self, c: Cmd) {
        let now = Instant::now();
        let mut e = lock(&self.h.engine);
        match c {
            Cmd::Add(key, p) => {
                let d = e.add(now, key, p);
                if !self.tx_socks.contains_key(&d) {
                    let start = self.port_seed.wrapping_add(d as u16);
                    let to = SocketAddr::new(key.remote, key.port());
                    match bfd_sockets::TxSocket::open(to, key.local, start) {
                        Ok(s) => {
                            self.tx_socks.insert(d, s);
                        }
                        Err(e) => {
                            tracing::error!(peer = %key.remote, "BFD: cannot open a send socket: {e}")
                        }
                    }
                    tracing::info!(peer = %key.remote, multihop = key.multihop, discriminator = d, "BFD session created");
                }
            }
            Cmd::Remove(key) => {
                if let Some(d) = e.find(&key) {
                    e.remove(now, d);
                }
            }
        }
    }

    fn read(&mut self, sock: &(Option<UdpSocket>, bool), buf: &mut [u8; 512]) {
        let (Some(s), multihop) = sock else { return };
        for _ in 0..64 {
            match bfd_sockets::recv(s, buf) {
                Ok((n, from, ttl)) => {
                    let rx = Received {
                        src: from.ip(),
                        dst: None,
                        multihop: *multihop,
                        ttl,
                    };
                    let bytes = buf.get(..n).unwrap_or(&[]);
                    let r = lock(&self.h.engine).handle_packet(Instant::now(), rx, bytes);
                    if let Err(reason) = r {
                        tracing::debug!(%from, %reason, "BFD packet dropped");
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Sends what is owed and publishes state changes.
    fn flush(&mut self) {
        let now = Instant::now();
        let mut pkt = [0u8; PACKET_LEN];
        let mut events: Vec<BfdEvent> = Vec::new();
        {
            let mut e = lock(&self.h.engine);
            while let Some(t) = e.poll_transmit(now, &mut pkt) {
                if let Some(s) = self.tx_socks.get(&t.discr) {
                    s.send(pkt.get(..t.len).unwrap_or(&[]));
                }
                if e.session(t.discr).is_none() {
                    self.tx_socks.remove(&t.discr);
                }
            }
            while let Some(ev) = e.poll_event() {
                events.push(ev);
            }
        }
        for ev in events {
            self.publish(ev);
        }
    }

    fn publish(&mut self, ev: BfdEvent) {
        let t = ev.transition;
        tracing::info!(
            peer = %ev.key.remote,
            multihop = ev.key.multihop,
            "BFD session {} -> {}: {}{}",
            t.from,
            t.to,
            t.diag,
            if t.remote_admin_down { " (neighbour AdminDown)" } else { "" }
        );
        self.shared.stats.bfd_transition(&ev, {
            let e = lock(&self.h.engine);
            e.session(ev.discr)
                .and_then(|s| s.last_rx())
                .map(|l| l.elapsed())
        });
        if let Some(tx) = lock(&self.h.clients).changed(ev.key, SystemTime::now()) {
            tx.send_modify(|l| l.follow(&t));
        }
    }

    fn shutdown(&mut self) {
        // AdminDown to every peer (RFC 5880 §6.8.16), so they do not count it as a failure.
        lock(&self.h.engine).admin_down_all(Instant::now());
        self.flush();
    }
}

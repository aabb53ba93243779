//! DOC: the BFD task: one thread drives bgp-core's sans-IO `bfd::Hub` (the sessions and the
//! BGP peers bound to them) with the UDP sockets of `crate::net::bfd`. It starts with the first
//! peer that has `bfd` set (a daemon without BFD opens no BFD port).
//!
//! * The task runs on its own thread with a single-threaded runtime: its timers are not
//!   delayed by route processing on the daemon's workers (a busy RIB must not look like a dead
//!   link to the peer), and a wake-up costs no cross-thread hand-off. Periodic packets go up
//!   to [`TX_SLACK`] early, so one wake-up serves every packet due within that window
//!   (`Bfd::set_tx_slack`: 200 sessions at 100 ms wake it ~100 times a second, not ~2,300).
//! * A peer with BFD attaches ([`PeerBfd::attach`]) to the session of its key with its command
//!   queue, and sees the session's link at once; each change of the session reaches every
//!   peer bound to it, in order, as a command (`PeerCmd::BfdLink`), taken only while the peer
//!   is still bound to that session. Each peer's driver decides what a change does to BGP
//!   (`PeerDriver::handle_bfd`, `bind_bfd`, over `bfd::Binding`, which ignores a link older
//!   than the one it was bound with or last took): when a session that was Up goes Down,
//!   every BGP session bound to it is closed at once (Cease, subcode 10 "BFD Down", RFC 9384)
//!   and, with `[bfd] wait_for_up` (BIRD's behaviour), held down until BFD is Up again. A
//!   Down caused by the peer's AdminDown does not touch BGP (RFC 5882 §3.2).
//! * Every state change is logged with its diagnostic and counted in the metrics.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

pub(crate) use bgp_core::bfd::Verdict;
use bgp_core::bfd::{Hub, Key, Link, Received, Transmit, LISTEN};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

use super::peer::PeerCmd;
use super::{lock, PeerHandle, Shared};
use crate::config::PeerSpec;
use crate::inbox;
use crate::net::bfd as bfd_sockets;
use crate::status::{BfdCounters, BfdSessionStatus};
use bgpd_control::bfd::{counters_status, sessions_status};

/// How early a periodic packet may go to share a wake-up (at most a tenth of a session's
/// interval; the jitter range narrows by as much, RFC 5880 §6.8.7 holds).
const TX_SLACK: std::time::Duration = std::time::Duration::from_millis(10);

/// The BFD task's shared side.
pub(crate) struct BfdHandle {
    /// The sessions and their peers, each attachment with its peer's command queue, and each
    /// session's send socket (opened at its first packet).
    hub: Mutex<Hub<inbox::Sender<PeerCmd>, bfd_sockets::TxSocket>>,
    /// Wakes the task after a peer attached or detached.
    wake: Notify,
}

impl BfdHandle {
    fn start(shared: &Arc<Shared>) -> Arc<BfdHandle> {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let h = Arc::new(BfdHandle {
            hub: Mutex::new(Hub::new(seed, TX_SLACK)),
            wake: Notify::new(),
        });
        let task = Task {
            h: Arc::clone(&h),
            shared: Arc::clone(shared),
            port_seed: (seed >> 16) as u16,
        };
        let spawned = std::thread::Builder::new()
            .name("bgpd-bfd".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(task.run()),
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
        let hub = lock(&self.hub);
        let (now, wall) = (Instant::now(), SystemTime::now());
        sessions_status(hub.engine(), hub.clients(), now, wall)
    }

    /// Packet counters of the whole daemon.
    pub fn counters(&self) -> BfdCounters {
        counters_status(lock(&self.hub).engine().counters())
    }
}

/// Logs what a BFD verdict did to a peer's BGP (bgp-core's `PeerDriver::handle_bfd` and
/// `bind_bfd` carried it out) and keeps it in the peer's status.
pub(crate) fn log_verdict(h: &PeerHandle, v: Verdict, enabled: bool) {
    match v {
        Verdict::Close => tracing::warn!("BFD session down: closing the BGP session"),
        Verdict::Release if enabled => tracing::info!("BFD session up: starting the BGP session"),
        Verdict::Release | Verdict::Nothing => {}
    }
    lock(&h.status).bfd(v);
}

/// A peer's attachment to its BFD session (dropping it detaches, and the hub's copy of the
/// peer's command queue goes with it).
pub(crate) struct PeerBfd {
    h: Arc<BfdHandle>,
    key: Key,
    /// The attachment in the hub.
    id: u64,
}

impl PeerBfd {
    /// Attaches `spec`, told of changes through `cmd` (its command queue), to its BFD session
    /// if it has `bfd` set: what the peer's driver binds (`PeerDriver::bind_bfd`): the
    /// session's key, its link now, `[bfd] wait_for_up` (BGP is held down after a failure until BFD is Up), and this
    /// attachment, which it keeps.
    pub fn attach(
        shared: &Arc<Shared>,
        spec: &PeerSpec,
        cmd: &inbox::Sender<PeerCmd>,
    ) -> Option<(Key, Link, bool, PeerBfd)> {
        let s = shared.config().bfd_session(spec)?;
        let h = Arc::clone(shared.bfd.get_or_init(|| BfdHandle::start(shared)));
        let (id, link) =
            lock(&h.hub).attach(Instant::now(), s.key, &spec.name, s.params, cmd.clone());
        h.wake.notify_one();
        Some((s.key, link, s.wait_for_up, PeerBfd { h, key: s.key, id }))
    }
}

impl Drop for PeerBfd {
    fn drop(&mut self) {
        lock(&self.h.hub).detach(Instant::now(), &self.key, self.id);
        self.h.wake.notify_one();
    }
}

struct Task {
    h: Arc<BfdHandle>,
    shared: Arc<Shared>,
    /// Where a session's source port is sought from (RFC 5881 §4: one per session).
    port_seed: u16,
}

impl Task {
    async fn run(mut self) {
        // A receive socket that cannot be opened is left out (logged).
        let open = |&(a, multihop): &(SocketAddr, bool)| {
            let s = bfd_sockets::rx_socket(a.is_ipv6(), a.port());
            let s = s.map_err(
                |e| tracing::error!(addr = %a, "BFD: cannot open the receive socket: {e}"),
            );
            Some((s.ok()?, multihop))
        };
        let socks: Vec<(UdpSocket, bool)> = LISTEN.iter().filter_map(open).collect();
        // The first receive socket with a datagram waiting.
        let readable = || {
            std::future::poll_fn(|cx| {
                let ready = socks
                    .iter()
                    .position(|(s, _)| s.poll_recv_ready(cx).is_ready());
                ready.map_or(std::task::Poll::Pending, std::task::Poll::Ready)
            })
        };
        let mut stop = self.shared.stop_tx.subscribe();
        let mut buf = [0u8; 512];
        loop {
            let deadline = lock(&self.h.hub)
                .poll_timeout(Instant::now())
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                _ = super::stopped(&mut stop) => {
                    // AdminDown to every peer (RFC 5880 §6.8.16): no failure for them.
                    lock(&self.h.hub).shutdown(Instant::now());
                    self.flush();
                    return;
                }
                _ = self.h.wake.notified() => {}
                i = readable() => if let Some((s, multihop)) = socks.get(i) {
                    self.read(s, *multihop, &mut buf);
                },
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => lock(&self.h.hub).handle_timeout(Instant::now()),
            }
            self.flush();
        }
    }

    fn read(&mut self, s: &UdpSocket, multihop: bool, buf: &mut [u8; 512]) {
        for _ in 0..64 {
            let Ok((n, from, ttl)) = bfd_sockets::recv(s, buf) else {
                return;
            };
            let (src, dst) = (from.ip(), None);
            let rx = Received {
                src,
                dst,
                multihop,
                ttl,
            };
            let bytes = buf.get(..n).unwrap_or(&[]);
            if let Err(reason) = lock(&self.h.hub).handle_packet(Instant::now(), rx, bytes) {
                tracing::debug!(%from, %reason, "BFD packet dropped");
            }
        }
    }

    /// Sends what is owed and publishes state changes.
    fn flush(&mut self) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut hub = lock(&self.h.hub);
        let open = |t: &Transmit| {
            let (key, port) = (t.key, self.port_seed.wrapping_add(t.discr as u16));
            let to = SocketAddr::new(key.remote, key.port());
            tracing::info!(peer = %key.remote, multihop = key.multihop, discriminator = t.discr, "BFD session created");
            bfd_sockets::TxSocket::open(to, key.local, port)
                .map_err(
                    |e| tracing::error!(peer = %key.remote, "BFD: cannot open a send socket: {e}"),
                )
                .ok()
        };
        hub.transmit(now, open, |s, _, bytes| s.send(bytes));
        while let Some(p) = hub.poll_event(now, wall) {
            let (ev, t) = (p.event, p.event.transition);
            let admin = if t.remote_admin_down {
                " (neighbour AdminDown)"
            } else {
                ""
            };
            tracing::info!(peer = %ev.key.remote, multihop = ev.key.multihop,
                "BFD session {} -> {}: {}{admin}", t.from, t.to, t.diag);
            self.shared.stats.bfd_transition(&ev, p.since_rx);
            // Every bound peer, through its own queue (a peer whose task ended detaches as
            // its attachment drops: a failed send is nothing to act on).
            if let Some((link, attached)) = p.notify {
                for a in attached {
                    let _ = a.notify.send(PeerCmd::BfdLink(ev.key, link));
                }
            }
        }
    }
}

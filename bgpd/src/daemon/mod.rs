//! DOC: the running daemon: start-up (`Daemon::start`), the embedding [`Handle`] and the
//! state the tasks share (the binary's process around it, [`run`], is `crate::process`). A
//! driver: what it decides is the core crates' (`bgp_core::peer`/`session`/`driver`/`bfd`/`restart`/`rib`,
//! bgp-fib, bgpd-config's model, bgpd-control's status values); one file per concern:
//!
//! * `listener`: accept loop, dispatch of incoming connections to peers (and dynamic peers);
//! * `peer`: one task per neighbour driving `bgp_core::peer::Peer` and `bgp_core::driver`;
//! * `rib`: the RIB task, a loop around `bgp_core::driver::rib::Writer` and bgpd-config's `fib`;
//! * `fib`: the bridge to bgp-fib's FIB thread (its handle, events and observer);
//! * `bfd`: the BFD task (sessions bound to BGP peers);
//! * `control`: the [`crate::status::Control`] implementation, and the control socket's own
//!   thread (its answers never queue behind the sessions' tasks);
//! * `reload`: applying a changed configuration;
//!
//! Beside it, the layers it calls: `crate::net` (socket options, listen and connect, BFD's UDP
//! sockets), `crate::metrics` (`Stats`, the counters the metrics endpoint reads),
//! `crate::systemd` (readiness, reload/stop notifications, the watchdog), `crate::logging`.

mod bfd;
mod control;
mod fib;
mod listener;
mod peer;
mod reload;
mod rib;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bgp_core::rib::{Rib, SourceId};
use ipnet::IpNet;
use tokio::sync::{broadcast, mpsc, watch};

use crate::config::{Config, PeerSpec};
use crate::status::{Control, ControlError};

pub use crate::api::{DaemonOptions, LocalRoute, PeerStateChange, StartError, StartOptions};
pub use crate::logging::{init_logging, log_filter};
pub use crate::metrics::Stats;
pub use crate::process::run;
/// Best-path notifications (`Handle::subscribe_best_paths`), computed by bgp-core's RIB writer.
pub use bgp_core::driver::rib::{BestPath, BestPathChange};
pub use peer::PeerStatus;

/// The graceful-restart recovery of our own restart (RFC 4724 §4.1), kept by bgp-core; the RIB
/// task drives it, peer tasks read whether advertisements are deferred.
pub(crate) use bgp_core::restart::Recovery;

/// Per-peer data shared between its task, the RIB task and the control plane.
pub(crate) struct PeerHandle {
    pub id: SourceId,
    /// Shared with the peer's task (one copy per peer); a reload swaps it.
    pub spec: Mutex<Arc<PeerSpec>>,
    /// Incremented when a session goes down: RIB messages of an older session are dropped.
    pub epoch: std::sync::atomic::AtomicU64,
    /// The epoch whose session the RIB task has brought up (`ForRib::Up`): the session
    /// pulls UPDATEs only while this equals `epoch`, never from the Adj-RIB-Out of a session
    /// the RIB has not yet taken down.
    pub rib_epoch: std::sync::atomic::AtomicU64,
    /// Signalled by the RIB task when the peer has outbound UPDATEs.
    pub notify: crate::inbox::Signal,
    pub cmd: crate::inbox::Sender<peer::PeerCmd>,
    pub status: Mutex<PeerStatus>,
}

/// State shared by the tasks (see the crate documentation for who owns what).
pub(crate) struct Shared {
    pub rib: Arc<Mutex<Rib>>,
    pub config: Mutex<Arc<Config>>,
    pub rib_tx: mpsc::Sender<rib::RibMsg>,
    pub peers: Mutex<Vec<Arc<PeerHandle>>>,
    pub started: SystemTime,
    pub last_reconfig: Mutex<SystemTime>,
    pub shutting_down: AtomicBool,
    pub reconfiguring: AtomicBool,
    /// Our restart's recovery (RFC 4724 §4.1) while it lasts.
    pub recovery: Mutex<Option<Recovery>>,
    /// The routes the kernel refused, as the FIB thread last listed them (`show fib`).
    pub fib_failures: Mutex<Vec<bgp_fib::FailedRoute>>,
    pub fib_enabled: bool,
    pub best_tx: broadcast::Sender<BestPathChange>,
    pub peer_tx: broadcast::Sender<PeerStateChange>,
    /// Set once a shutdown was requested.
    pub stop_tx: watch::Sender<bool>,
    pub stats: Stats,
    /// The running listeners (rebound by a reload that changes `listen`).
    pub listeners: Mutex<Vec<listener::ListenerEntry>>,
    /// The runtime, for work started from synchronous control calls.
    pub runtime: tokio::runtime::Handle,
    /// The BFD task, started by the first peer with BFD.
    pub bfd: std::sync::OnceLock<Arc<bfd::BfdHandle>>,
    /// The FIB thread's view of links and on-link subnets, as last published (`show route`
    /// names the interface a next hop is reached through).
    pub kernel_view: Mutex<Arc<bgp_fib::KernelView>>,
    /// The table counters the control plane read last (answered while the RIB is busy).
    pub counts_cache: bgpd_control::counts::CountsCache,
}

/// Waits until the watched flag is true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub(crate) use bgpd_control::lock;

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&lock(&self.config))
    }

    pub fn peer_by_name(&self, name: &str) -> Option<Arc<PeerHandle>> {
        lock(&self.peers)
            .iter()
            .find(|p| lock(&p.spec).name == name)
            .cloned()
    }

    pub fn peer_by_id(&self, id: SourceId) -> Option<Arc<PeerHandle>> {
        lock(&self.peers).iter().find(|p| p.id == id).cloned()
    }

    /// The addresses the listeners are bound to.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        lock(&self.listeners).iter().map(|e| e.bound).collect()
    }

    pub fn request_stop(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
    }
}

/// The daemon, as a library.
pub struct Daemon;

impl Daemon {
    /// Starts the whole daemon on the current tokio runtime: listener, peers, RIB task, FIB
    /// thread. Returns once every listening socket is bound.
    pub async fn start(config: Config, opts: StartOptions) -> Result<Handle, StartError> {
        let config = Arc::new(config);
        let f = &config.file;
        let rib_core = config.new_rib();

        let fib_enabled = f.kernel.enabled && !opts.no_kernel;
        // Our routes already in the kernel mean we restarted: recover gracefully (BIRD -R).
        let found_routes = fib_enabled && fib::kernel_has_our_routes(&config);
        let restarting = opts.recovery || found_routes;

        let (rib_tx, rib_rx) = mpsc::channel(bgp_core::driver::batch::RIB_CHANNEL_DEPTH);
        let (best_tx, _) = broadcast::channel(4096);
        let (peer_tx, _) = broadcast::channel(256);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let now = SystemTime::now();
        let shared = Arc::new(Shared {
            rib: Arc::new(Mutex::new(rib_core)),
            config: Mutex::new(Arc::clone(&config)),
            rib_tx,
            peers: Mutex::new(Vec::new()),
            started: now,
            last_reconfig: Mutex::new(now),
            shutting_down: AtomicBool::new(false),
            reconfiguring: AtomicBool::new(false),
            recovery: Mutex::new(None),
            fib_failures: Mutex::new(Vec::new()),
            fib_enabled,
            best_tx,
            peer_tx,
            stop_tx,
            stats: Stats::default(),
            listeners: Mutex::new(Vec::new()),
            runtime: tokio::runtime::Handle::current(),
            bfd: std::sync::OnceLock::new(),
            kernel_view: Mutex::new(Arc::default()),
            counts_cache: Default::default(),
        });

        // Listeners first: a bind error aborts the start before anything runs.
        let listeners = listener::bind(&config, &config.listen_addrs());
        let listeners = listeners.map_err(|(a, e)| StartError::Listen(a, e))?;

        let fib = if fib_enabled {
            Some(
                fib::FibBridge::start(&config, restarting, Arc::clone(&shared))
                    .map_err(StartError::Fib)?,
            )
        } else {
            None
        };

        // Recovery first: the peers' sessions announce the Restart State bit while it lasts.
        if restarting {
            *lock(&shared.recovery) = Some(config.recovery(Instant::now()));
            tracing::info!(
                found_routes,
                "graceful restart recovery: keeping our kernel routes until every peer sent End-of-RIB"
            );
        }
        for spec in config.peers() {
            peer::spawn_at_start(&shared, spec);
        }
        if let Some(r) = lock(&shared.recovery).as_mut() {
            r.expect(
                lock(&shared.peers)
                    .iter()
                    .filter(|p| !lock(&p.spec).common.disabled)
                    .map(|p| p.id),
            );
        }
        listener::spawn(&shared, listeners);
        rib::spawn(Arc::clone(&shared), rib_rx, fib, stop_rx, done_tx);
        Ok(Handle {
            shared,
            done: done_rx,
        })
    }
}

/// The embedding API of a running daemon.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
    done: watch::Receiver<bool>,
}

impl Handle {
    /// Announces (or replaces) a local route; it is exported per the peers' policies and, as a
    /// static route, installed in the kernel (blackholes) when the FIB is enabled.
    pub async fn announce(&self, route: LocalRoute) -> Result<(), ControlError> {
        self.to_rib(rib::RibMsg::Announce(route)).await
    }

    /// Withdraws a route announced with [`Handle::announce`].
    pub async fn withdraw(&self, prefix: IpNet) -> Result<(), ControlError> {
        self.to_rib(rib::RibMsg::Withdraw(prefix)).await
    }

    async fn to_rib(&self, m: rib::RibMsg) -> Result<(), ControlError> {
        let sent = self.shared.rib_tx.send(m).await;
        sent.map_err(|_| ControlError::ShuttingDown)
    }

    /// Best-path changes from now on (a lagging receiver loses the oldest ones).
    pub fn subscribe_best_paths(&self) -> broadcast::Receiver<BestPathChange> {
        self.shared.best_tx.subscribe()
    }

    /// Session state changes from now on.
    pub fn subscribe_peer_states(&self) -> broadcast::Receiver<PeerStateChange> {
        self.shared.peer_tx.subscribe()
    }

    /// Applies a new configuration; sessions whose settings did not change stay up.
    pub async fn reload(&self, config: Config) -> Result<(), ControlError> {
        reload::apply(&self.shared, config).await
    }

    /// The control interface (for the control socket and metrics).
    pub fn control(&self) -> Arc<dyn Control> {
        Arc::new(control::DaemonControl {
            shared: Arc::clone(&self.shared),
        })
    }

    /// Counters for the metrics endpoint.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The addresses the BGP listener is bound to (useful with `port = 0`).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.shared.listen_addrs()
    }

    /// Asks for a graceful shutdown and waits until it is done.
    pub async fn stop(mut self) {
        self.shared.request_stop();
        stopped(&mut self.done).await;
    }

    /// Waits until the daemon stopped (after `down`, a signal or [`Handle::stop`]).
    pub async fn stopped(&mut self) {
        stopped(&mut self.done).await;
    }
}

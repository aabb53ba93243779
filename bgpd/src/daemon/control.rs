//! DOC: [`DaemonControl`], the daemon's implementation of [`crate::status::Control`]: snapshots
//! taken under short locks (per-peer status, the RIB for a page of a query), commands forwarded
//! to the peer tasks, reload and shutdown. What the answers are is bgpd-control's: `show
//! route`'s walk (`routes::walk`), `show protocols` (`protocols`), the counters never waiting
//! behind a RIB batch (`counts`), `show fib` read back from the kernel as a stream, a page at
//! a time (`fib::kernel_rows`). No call waits for the RIB task. The control socket's own
//! thread is `crate::control::thread`.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bgp_core::driver::Admin;
use bgp_core::rib::TableCounts;
use bgpd_control::counts;
use bgpd_control::fib;
use bgpd_control::protocols::{local_source, protocols, LocalFacts};
use bgpd_control::routes::RouteContext;

use super::peer::PeerCmd;
use super::{lock, reload, Shared};
use crate::status::*;

/// How long `reload` waits for the daemon to accept or refuse a new configuration.
const RELOAD_ANSWER_SECS: u64 = 10;

/// The running daemon as the control plane sees it.
pub(crate) struct DaemonControl {
    pub shared: Arc<Shared>,
}

impl DaemonControl {
    /// The table's counters (`show protocols`, `show route count`, metrics), never waiting
    /// behind a RIB batch (`bgpd_control::counts::CountsCache`).
    fn protocol_counts(&self) -> Arc<TableCounts> {
        self.shared.counts_cache.read(&self.shared.rib)
    }
}

impl Control for DaemonControl {
    fn bfd_sessions(&self) -> Vec<crate::status::BfdSessionStatus> {
        self.shared
            .bfd
            .get()
            .map(|b| b.sessions())
            .unwrap_or_default()
    }

    fn bfd_counters(&self) -> crate::status::BfdCounters {
        self.shared
            .bfd
            .get()
            .map(|b| b.counters())
            .unwrap_or_default()
    }

    fn status(&self) -> DaemonStatus {
        let s = &self.shared;
        DaemonStatus {
            version: format!("bgpd {}", crate::VERSION),
            router_id: s.config().router_id(),
            started: s.started,
            last_reconfiguration: *lock(&s.last_reconfig),
            graceful_restart: lock(&s.recovery)
                .as_ref()
                .map(|r| GracefulRecovery::of(r, std::time::Instant::now())),
            reconfiguring: s.reconfiguring.load(Ordering::SeqCst),
            shutting_down: s.shutting_down.load(Ordering::SeqCst),
            listen: s.listen_addrs(),
        }
    }

    fn protocols(&self) -> Vec<ProtocolStatus> {
        let s = &self.shared;
        let cfg = s.config();
        let facts = LocalFacts {
            started: s.started,
            shutting_down: s.shutting_down.load(Ordering::SeqCst),
            fib_enabled: s.fib_enabled,
            direct: cfg.file.direct.is_some(),
            kernel_exported: s.stats.fib_installed()
                + s.stats.fib_pending()
                + s.stats.fib_failures(),
        };
        let counts = self.protocol_counts();
        // The list is copied (one Arc per peer) so the walk holds no daemon-wide lock: the
        // RIB task takes `peers` after every batch and dynamic neighbours come and go through
        // it. Each peer's spec and status are then cloned under their own short locks.
        let peers: Vec<Arc<super::PeerHandle>> = lock(&s.peers).clone();
        let rows: Vec<_> = (peers.iter())
            .map(|p| (lock(&p.spec).clone(), lock(&p.status).clone(), p.id))
            .collect();
        let rows = rows.iter().map(|(spec, st, id)| (&**spec, st, *id));
        protocols(&facts, &counts, rows, cfg.asn())
    }

    fn routes(&self, q: &RouteQuery) -> Vec<RouteEntry> {
        let s = &self.shared;
        let cx = RouteContext {
            kernel: Arc::clone(&lock(&s.kernel_view)),
            refused: bgpd_control::fib::refused_networks(&lock(&s.fib_failures)),
            fib_enabled: s.fib_enabled,
            since: s.started,
        };
        bgpd_control::routes::walk(q, &cx, || lock(&s.rib))
    }

    fn protocol_route_count(&self, name: &str, family: Option<IpFamily>) -> Option<u64> {
        let src = match local_source(name) {
            Some(src) => src,
            None => self.shared.peer_by_name(name)?.id,
        };
        counts::source_routes(&lock(&self.shared.rib), src, name, family)
    }

    fn route_count(&self) -> (u64, u64) {
        let t = self.protocol_counts();
        (t.routes, t.networks)
    }

    fn route_count_of(&self, family: Option<IpFamily>) -> (u64, u64) {
        let Some(f) = family else {
            return self.route_count();
        };
        counts::family_routes(&lock(&self.shared.rib), f)
    }

    fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
        fib::collect(|max, page| self.fib_pages(max, page))
    }

    fn fib_pages(
        &self,
        max: usize,
        page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
    ) -> FibCounts {
        let cfg = self.shared.config();
        let kernel = (cfg.fib_config().protocol, cfg.file.kernel.table);
        let failed = &self.shared.fib_failures;
        let (installed, dumped) = fib::kernel_rows(kernel, failed, max, page);
        if let Err(e) = dumped {
            tracing::warn!("show fib: cannot dump the kernel routes: {e}");
        }
        let stats = &self.shared.stats;
        fib::counts(
            installed,
            stats.fib_failures(),
            stats.fib_pending(),
            stats.fib_kernel(),
        )
    }

    fn admin(&self, name: &str, request: Admin) -> Result<(), ControlError> {
        let p = self.shared.peer_by_name(name);
        let sent = p.map(|p| p.cmd.send(PeerCmd::Admin(request)));
        sent.and_then(Result::ok)
            .ok_or_else(|| ControlError::NoSuchProtocol(name.to_string()))
    }

    fn reload(&self) -> Result<(), ControlError> {
        let config = self.shared.config();
        let path = config.path.as_ref().ok_or(ControlError::NoConfigFile)?;
        let new = config.reread(path).map_err(ControlError::Config)?;
        // What cannot be applied live (and listener bind errors) is refused before anything
        // else changes, so `bgpd reload` reports it; the rest goes on in the background.
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&self.shared);
        self.shared.runtime.spawn(async move {
            let r = reload::prepare(&shared, &new).await;
            let ok = r.is_ok();
            let _ = tx.send(r);
            if ok {
                reload::finish(&shared, new).await;
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(RELOAD_ANSWER_SECS)) {
            Ok(r) => r.inspect_err(|e| tracing::error!("reload refused: {e}")),
            Err(_) => Err(ControlError::ReloadTimeout(RELOAD_ANSWER_SECS)),
        }
    }

    fn shutdown(&self) {
        self.shared.request_stop();
    }
}

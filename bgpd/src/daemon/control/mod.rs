//! DOC: [`DaemonControl`], the daemon's implementation of [`crate::status::Control`]: snapshots
//! taken under short locks (per-peer status, the RIB for a page of a query), commands forwarded
//! to the peer tasks, reload and shutdown. `show route`'s walk is in `routes.rs`. `show fib`
//! reads the kernel back over a fresh netlink socket as a stream, handing the rows over a page
//! at a time. No call waits for the RIB task.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bgp_core::rib::{SourceId, TableCounts};
use bgpd_control::fib::{failed_entry, installed_entry, Pages};
use bgpd_control::protocols::{local_protocols, local_source, peer_protocol, LocalFacts};
use bgpd_control::routes::RouteContext;

mod server;

pub(crate) use server::ControlServer;

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
    /// The table's counters (`show protocols`, `show route count`, metrics): the RIB keeps
    /// them as it changes, so reading them costs a lock and one look per source.
    ///
    /// A probe must not wait behind a RIB batch (calico-node's read deadline is 2 s): while
    /// the RIB task holds the lock, the counters last read are answered (at most one batch
    /// old); they are read fresh whenever the lock is free.
    fn protocol_counts(&self) -> Arc<TableCounts> {
        let s = &self.shared;
        let peer_ids: Vec<SourceId> = lock(&s.peers).iter().map(|p| p.id).collect();
        let cached = lock(&s.counts_cache).clone();
        let rib = match (s.rib.try_lock(), cached) {
            (Ok(rib), _) => rib,
            (Err(std::sync::TryLockError::WouldBlock), Some(c)) => return c,
            (Err(std::sync::TryLockError::Poisoned(p)), _) => p.into_inner(),
            (Err(std::sync::TryLockError::WouldBlock), None) => lock(&s.rib),
        };
        let c = Arc::new(rib.counts_by_source(&peer_ids));
        drop(rib);
        *lock(&s.counts_cache) = Some(Arc::clone(&c));
        c
    }

    fn peer_cmd(&self, name: &str, c: PeerCmd) -> Result<(), ControlError> {
        let p = self
            .shared
            .peer_by_name(name)
            .ok_or_else(|| ControlError::NoSuchProtocol(name.to_string()))?;
        p.cmd
            .send(c)
            .map_err(|_| ControlError::NoSuchProtocol(name.to_string()))
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
            listen: lock(&s.listeners).iter().map(|e| e.bound).collect(),
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
                + lock(&s.fib_counts).failed,
        };
        let counts = self.protocol_counts();
        let mut out = local_protocols(&facts, &counts);
        // The list is copied (one Arc per peer) so the walk holds no daemon-wide lock: the
        // RIB task takes `peers` after every batch and dynamic neighbours come and go through
        // it. Each peer's spec and status are then cloned under their own short locks.
        let peers: Vec<Arc<super::PeerHandle>> = lock(&s.peers).clone();
        for p in &peers {
            let spec = lock(&p.spec).clone();
            let st = lock(&p.status).clone();
            let c = counts.per_source.get(&p.id).copied().unwrap_or_default();
            out.push(peer_protocol(&spec, &st, c, cfg.asn()));
        }
        out
    }

    fn routes(&self, q: &RouteQuery) -> Vec<RouteEntry> {
        let s = &self.shared;
        let cx = RouteContext {
            kernel: Arc::clone(&lock(&s.kernel_view)),
            direct: super::rib::direct_gateway_peers(s),
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
        let rib = lock(&self.shared.rib);
        // Only when the name is the one the walk would print for the source.
        if rib.source_name(src) != name {
            return None;
        }
        Some(match family {
            None => rib.source_counts(src).routes,
            Some(f) => rib.source_family_counts(src, f.unicast()).routes,
        })
    }

    fn route_count(&self) -> (u64, u64) {
        let t = self.protocol_counts();
        (t.routes, t.networks)
    }

    fn route_count_of(&self, family: Option<IpFamily>) -> (u64, u64) {
        let Some(f) = family else {
            return self.route_count();
        };
        let (networks, routes) = lock(&self.shared.rib).family_counts(f.unicast());
        (routes, networks)
    }

    fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
        let mut all = Vec::new();
        let counts = self.fib_pages(usize::MAX, &mut |p| {
            all.extend(p);
            ControlFlow::Continue(())
        });
        (all, counts)
    }

    fn fib_pages(
        &self,
        max: usize,
        page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
    ) -> FibCounts {
        let cfg = self.shared.config();
        let (protocol, table) = (cfg.fib_config().protocol, cfg.file.kernel.table);
        // Interface names by index, looked up once per dump (not once per route).
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut ifname = |i: u32| names.entry(i).or_insert_with(|| ifname(i)).clone();
        let mut pages = Pages::new(max, page);
        let mut installed = 0usize;
        // The kernel's routes are read as a stream: only a page of rows is held at a time.
        let dumped = bgp_fib::FibSocket::open(false)
            .map_err(bgp_fib::DumpError::from)
            .and_then(|mut s| {
                s.dump_routes_with(
                    |r| match installed_entry(&r, protocol, table, &mut ifname) {
                        Some(e) => {
                            installed += 1;
                            pages.push(e)
                        }
                        None => ControlFlow::Continue(()),
                    },
                )
            });
        if let Err(e) = dumped {
            // The refused routes below are still listed; the installed ones shown so far are
            // all that is known.
            tracing::warn!("show fib: cannot dump the kernel routes: {e}");
        }
        // The routes the kernel refused, as the FIB thread lists them (retried at each scan;
        // at most `bgp_fib::thread::FAILURES_LISTED`), copied so that no lock is held while a
        // page waits for the client.
        let failed: Vec<FibEntry> = lock(&self.shared.fib_failures)
            .iter()
            .map(failed_entry)
            .collect();
        for e in failed {
            if pages.push(e).is_break() {
                break;
            }
        }
        pages.finish();
        fib_counts(
            installed,
            lock(&self.shared.fib_counts).failed,
            &self.shared.stats,
        )
    }

    fn enable(&self, name: &str) -> Result<(), ControlError> {
        self.peer_cmd(name, PeerCmd::Enable)
    }

    fn disable(&self, name: &str, message: &str) -> Result<(), ControlError> {
        self.peer_cmd(name, PeerCmd::Disable(message.to_string()))
    }

    fn restart(&self, name: &str) -> Result<(), ControlError> {
        self.peer_cmd(name, PeerCmd::Restart)
    }

    fn reload(&self) -> Result<(), ControlError> {
        let path: Option<PathBuf> = self.shared.config().path.clone();
        let Some(path) = path else {
            return Err(ControlError::NoConfigFile);
        };
        let new = self
            .shared
            .config()
            .reread(&path)
            .map_err(ControlError::Config)?;
        // What cannot be applied live (and listener bind errors) is refused before anything
        // else changes, so `bgpd reload` reports it; the rest goes on in the background.
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&self.shared);
        self.shared.runtime.spawn(async move {
            let r = reload::prepare(&shared, &new).await;
            let ok = r.is_ok();
            let _ = tx.send(r);
            if ok {
                if let Err(e) = reload::finish(&shared, new).await {
                    tracing::error!("reload: {e}");
                }
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(RELOAD_ANSWER_SECS)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!("reload refused: {e}");
                Err(e)
            }
            Err(_) => Err(ControlError::ReloadTimeout(RELOAD_ANSWER_SECS)),
        }
    }

    fn shutdown(&self) {
        self.shared.request_stop();
    }
}

/// `show fib`'s counters: what the kernel read-back found installed, the routes failing to
/// install, and the FIB thread's real backlog and cumulative counters (its last reports through
/// [`crate::metrics::Stats`]).
pub(crate) fn fib_counts(
    read_back: usize,
    failed: u64,
    stats: &crate::metrics::Stats,
) -> FibCounts {
    FibCounts {
        installed: read_back as u64,
        failed,
        pending: stats.fib_pending(),
        kernel: stats.fib_kernel(),
    }
}

/// The name of interface `index` in the daemon's namespace (the index as text if it is gone).
fn ifname(index: u32) -> String {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires; it writes a
    // NUL-terminated name into it or returns NULL.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return index.to_string();
    }
    std::ffi::CStr::from_bytes_until_nul(&buf)
        .ok()
        .and_then(|c| c.to_str().ok())
        .map_or_else(|| index.to_string(), String::from)
}

/// Starts the control socket server (`crate::control`) on its own thread (`server.rs`): the
/// socket is bound before this returns, so a bind failure is reported at start-up. `None`
/// when it could not be bound (logged).
pub(crate) fn serve_control_socket(
    path: PathBuf,
    control: Arc<dyn Control>,
    view: Option<IpFamily>,
) -> Option<ControlServer> {
    match ControlServer::start(path.clone(), control, view) {
        Ok(server) => {
            tracing::info!(socket = %path.display(), ?view, "control socket listening");
            Some(server)
        }
        Err(e) => {
            tracing::error!(socket = %path.display(), "cannot bind the control socket: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_fib_pending_is_the_fib_threads_backlog() {
        let stats = crate::metrics::Stats::default();
        stats.fib_state(10, 7);
        let c = fib_counts(12, 1, &stats);
        assert_eq!((c.installed, c.failed, c.pending), (12, 1, 7));
        stats.fib_state(17, 0);
        assert_eq!(fib_counts(17, 0, &stats).pending, 0);
        let k = bgp_fib::FibStats {
            object_flushes: 1,
            flushed_routes: 2000,
            ..Default::default()
        };
        stats.fib_kernel_stats(k.into());
        let c = fib_counts(17, 0, &stats).kernel;
        assert_eq!((c.object_flushes, c.flushed_routes), (1, 2000));
    }
}

//! DOC: [`DaemonControl`], the daemon's implementation of [`crate::status::Control`]: snapshots
//! taken under short locks (per-peer status, the RIB for a page of a query), commands forwarded
//! to the peer tasks, reload and shutdown. `show route`'s walk is in `routes.rs`. `show fib`
//! reads the kernel back over a fresh netlink socket. No call waits for the RIB task.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::collections::HashMap;

use bgp_core::rib::{Rib, SourceId};
use bgp_core::wire::Family;

mod routes;
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

fn caps(n: &bgp_core::wire::Negotiated) -> Vec<String> {
    let mut v = Vec::new();
    if n.route_refresh {
        v.push("refresh".to_string());
    }
    if n.enhanced_route_refresh {
        v.push("enhanced-refresh".into());
    }
    if n.peer_graceful_restart.is_some() {
        v.push("restart-able".into());
    }
    if n.four_octet_as {
        v.push("AS4".into());
    }
    if !n.add_path_rx.is_empty() {
        v.push("add-path-rx".into());
    }
    if !n.add_path_tx.is_empty() {
        v.push("add-path-tx".into());
    }
    if n.extended_message {
        v.push("ext-messages".into());
    }
    v
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
        let c = Arc::new(table_counts(&rib, &peer_ids));
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
            graceful_restart: lock(&s.recovery).as_ref().map(|r| GracefulRecovery {
                waiting_for: r.awaited() as u32,
                elapsed_secs: r.started().elapsed().as_secs() as u32,
                wait_secs: r.wait().as_secs() as u32,
            }),
            reconfiguring: s.reconfiguring.load(Ordering::SeqCst),
            shutting_down: s.shutting_down.load(Ordering::SeqCst),
            listen: lock(&s.listeners).iter().map(|e| e.bound).collect(),
        }
    }

    fn protocols(&self) -> Vec<ProtocolStatus> {
        let s = &self.shared;
        let cfg = s.config();
        let up = if s.shutting_down.load(Ordering::SeqCst) {
            ProtoState::Stop
        } else {
            ProtoState::Up
        };
        let local = |name: &str, kind: ProtoKind, state: ProtoState| ProtocolStatus {
            name: name.into(),
            kind,
            state,
            since: s.started,
            info: String::new(),
            description: None,
            import_policy: "ACCEPT".into(),
            export_policy: "REJECT".into(),
            routes: RouteCounts::default(),
            bgp: None,
        };
        let counts = self.protocol_counts();
        let with_counts = |mut p: ProtocolStatus, id: SourceId| {
            let (imported, preferred, exported) =
                counts.per_source.get(&id).copied().unwrap_or_default();
            p.routes.imported = imported;
            p.routes.preferred = preferred;
            p.routes.exported = exported;
            p
        };
        let mut out = vec![
            local(
                "kernel1",
                ProtoKind::Kernel,
                if s.fib_enabled { up } else { ProtoState::Down },
            ),
            local("device1", ProtoKind::Device, up),
        ];
        if let Some(k) = out.first_mut() {
            *k = with_counts(k.clone(), SourceId::KERNEL);
            // The kernel protocol "exports" the routes it wants installed (refused ones too).
            k.routes.exported =
                s.stats.fib_installed() + s.stats.fib_pending() + lock(&s.fib_counts).failed;
        }
        if cfg.file.direct.is_some() {
            out.push(with_counts(
                local("direct1", ProtoKind::Direct, up),
                SourceId::DIRECT,
            ));
        }
        out.push(with_counts(
            local("static1", ProtoKind::Static, up),
            SourceId::STATIC,
        ));
        // The list is copied (one Arc per peer) so the walk holds no daemon-wide lock: the
        // RIB task takes `peers` after every batch and dynamic neighbours come and go through
        // it. Each peer's spec and status are then cloned under their own short locks.
        let peers: Vec<Arc<super::PeerHandle>> = lock(&s.peers).clone();
        for p in &peers {
            let spec = lock(&p.spec).clone();
            let st = lock(&p.status).clone();
            let established = st.state == bgp_core::session::StateKind::Established;
            let state = if !st.enabled {
                ProtoState::Down
            } else if established {
                ProtoState::Up
            } else {
                ProtoState::Start
            };
            let bgp_state = if !st.enabled {
                "Down".to_string()
            } else if spec.common.passive && st.state == bgp_core::session::StateKind::Active {
                "Passive".into()
            } else {
                st.state.name().into()
            };
            let info = match &st.last_error {
                Some(e) if !established => format!("{bgp_state:<14}{e}"),
                _ => bgp_state.clone(),
            };
            let n = st.negotiated.as_deref();
            out.push(ProtocolStatus {
                name: spec.name.clone(),
                kind: ProtoKind::Bgp,
                state,
                since: st.since,
                info,
                description: spec.common.description.clone(),
                import_policy: spec
                    .common
                    .import
                    .clone()
                    .unwrap_or_else(|| "ACCEPT".into()),
                export_policy: spec
                    .common
                    .export
                    .clone()
                    .unwrap_or_else(|| "ACCEPT".into()),
                routes: {
                    let (imported, preferred, exported) =
                        counts.per_source.get(&p.id).copied().unwrap_or_default();
                    RouteCounts {
                        imported,
                        preferred,
                        exported,
                        ..st.routes
                    }
                },
                bgp: Some(BgpStatus {
                    state: bgp_state,
                    neighbor_address: spec.address,
                    neighbor_port: spec.common.port,
                    neighbor_as: spec.asn,
                    local_as: cfg.asn(),
                    neighbor_id: n.map(|n| n.peer_id),
                    neighbor_caps: n.map(caps).unwrap_or_default(),
                    session_flags: n
                        .map(|n| {
                            let mut f =
                                vec![if n.is_ebgp() { "external" } else { "internal" }.to_string()];
                            if spec.common.multihop.is_some() {
                                f.push("multihop".into());
                            }
                            // BIRD 1.6's order: route-reflector, AS4, then what add-path
                            // negotiated.
                            if spec.common.rr_client {
                                f.push("route-reflector".into());
                            }
                            if n.four_octet_as {
                                f.push("AS4".into());
                            }
                            if !n.add_path_rx.is_empty() {
                                f.push("add-path-rx".into());
                            }
                            if !n.add_path_tx.is_empty() {
                                f.push("add-path-tx".into());
                            }
                            f
                        })
                        .unwrap_or_default(),
                    source_address: st.local_addr,
                    hold_timer: n.map(|n| (u32::from(n.hold_time), u32::from(n.hold_time))),
                    keepalive_timer: n.map(|n| {
                        let k = spec.common.keepalive_time.unwrap_or(n.hold_time / 3);
                        (u32::from(k), u32::from(k))
                    }),
                    last_error: st.last_error.clone(),
                    established_since: st.established_since,
                    rr_client: spec.common.rr_client,
                    graceful_restart_stale: st.stale,
                    messages_in: st.messages.received,
                    messages_out: st.messages.sent,
                }),
            });
        }
        out
    }

    fn routes(&self, q: &RouteQuery) -> Vec<RouteEntry> {
        self.walk_routes(q)
    }

    fn protocol_route_count(&self, name: &str, family: Option<IpFamily>) -> Option<u64> {
        let src = match name {
            "static1" => SourceId::STATIC,
            "kernel1" => SourceId::KERNEL,
            "direct1" => SourceId::DIRECT,
            _ => self.shared.peer_by_name(name)?.id,
        };
        let rib = lock(&self.shared.rib);
        // Only when the name is the one the walk would print for the source.
        if super::rib::source_name(&rib, src) != name {
            return None;
        }
        Some(match family {
            None => rib.source_counts(src).routes,
            Some(IpFamily::Ipv4) => rib.source_family_counts(src, Family::IPV4_UNICAST).routes,
            Some(IpFamily::Ipv6) => rib.source_family_counts(src, Family::IPV6_UNICAST).routes,
        })
    }

    fn route_count(&self) -> (u64, u64) {
        let t = self.protocol_counts();
        (t.routes, t.networks)
    }

    fn route_count_of(&self, family: Option<IpFamily>) -> (u64, u64) {
        let fam = match family {
            None => return self.route_count(),
            Some(IpFamily::Ipv4) => Family::IPV4_UNICAST,
            Some(IpFamily::Ipv6) => Family::IPV6_UNICAST,
        };
        let (networks, routes) = lock(&self.shared.rib).family_counts(fam);
        (routes, networks)
    }

    fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
        let cfg = self.shared.config();
        let fc = super::fib::fib_config(&cfg);
        let routes = match bgp_fib::FibSocket::open(false)
            .map_err(bgp_fib::DumpError::from)
            .and_then(|mut s| s.dump_routes())
        {
            Ok(r) => r,
            Err(e) => {
                // The refused routes below are still listed; the installed ones are unknown.
                tracing::warn!("show fib: cannot dump the kernel routes: {e}");
                Vec::new()
            }
        };
        let mut out = Vec::new();
        for r in routes
            .into_iter()
            .filter(|r| r.protocol == fc.protocol && r.table == cfg.file.kernel.table)
        {
            let dest = match r.rtype {
                bgp_fib::wire::RTN_BLACKHOLE => RouteDest::Blackhole,
                bgp_fib::wire::RTN_UNREACHABLE => RouteDest::Unreachable,
                bgp_fib::wire::RTN_PROHIBIT => RouteDest::Prohibit,
                _ => RouteDest::Via {
                    nexthops: r
                        .nexthops
                        .iter()
                        .filter_map(|h| Some((h.gateway?, Some(ifname(h.ifindex)))))
                        .collect::<Vec<(IpAddr, Option<String>)>>(),
                },
            };
            out.push(FibEntry {
                prefix: r.prefix,
                dest,
                onlink: r.nexthops.iter().any(|h| h.onlink),
                table: r.table,
                metric: r.metric,
                state: "installed".into(),
            });
        }
        let installed = out.len();
        // The routes the kernel refused, as the FIB thread lists them (retried at each scan).
        out.extend(lock(&self.shared.fib_failures).iter().map(failed_entry));
        let counts = fib_counts(
            installed,
            lock(&self.shared.fib_counts).failed,
            &self.shared.stats,
        );
        (out, counts)
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
/// install, and the FIB thread's real backlog (its last report through [`super::Stats`]).
pub(crate) fn fib_counts(read_back: usize, failed: u64, stats: &super::Stats) -> FibCounts {
    FibCounts {
        installed: read_back as u64,
        failed,
        pending: stats.fib_pending(),
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

/// `show fib`'s row for a route the kernel refused: the route as wanted, the error as state.
pub(crate) fn failed_entry(f: &bgp_fib::FailedRoute) -> FibEntry {
    use bgp_fib::{Device, RouteKind};
    let (dest, onlink) = match &f.kind {
        Some(RouteKind::Blackhole) => (RouteDest::Blackhole, false),
        Some(RouteKind::Unreachable) | None => (RouteDest::Unreachable, false),
        Some(RouteKind::Prohibit) => (RouteDest::Prohibit, false),
        Some(RouteKind::Unicast(nhs)) => (
            RouteDest::Via {
                nexthops: nhs
                    .iter()
                    .map(|h| {
                        let dev = h.device.as_ref().map(|d| match d {
                            Device::Index(i) => i.to_string(),
                            Device::Name(n) => n.clone(),
                        });
                        (h.gateway, dev)
                    })
                    .collect(),
            },
            nhs.iter().any(|h| h.onlink),
        ),
    };
    FibEntry {
        prefix: f.key.prefix,
        dest,
        onlink,
        table: f.key.table,
        metric: f.key.metric,
        state: format!("failed: {}", std::io::Error::from_raw_os_error(f.errno)),
    }
}

/// The table's exact counters at one instant (kept by the RIB as routes change).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TableCounts {
    /// Per source: (routes in the table, of those the best of their network, routes in its
    /// Adj-RIB-Out — the latter for the peers asked about only).
    pub per_source: HashMap<SourceId, (u64, u64, u64)>,
    /// Every route (path) of every network (`show route count`'s "of Y routes").
    pub routes: u64,
    /// Networks with at least one route ("for Z networks").
    pub networks: u64,
}

/// Counts what `show protocols` (BIRD 1.6: `Routes: N imported, M exported, K preferred`) and
/// `show route count` print: per source the routes it has in the table and those that are
/// the best (first selected) route of their network; per BGP peer in `peers` what its
/// Adj-RIB-Out holds (ADD-PATH paths count one each); the totals of routes and networks.
pub(crate) fn table_counts(rib: &Rib, peers: &[SourceId]) -> TableCounts {
    let (networks, routes) = rib.table_counts();
    let mut per_source = HashMap::new();
    let locals = [SourceId::STATIC, SourceId::KERNEL, SourceId::DIRECT];
    for src in locals.into_iter().chain(peers.iter().copied()) {
        let c = rib.source_counts(src);
        if c != bgp_core::rib::SourceCounts::default() {
            per_source.insert(src, (c.routes, c.best, c.exported));
        }
    }
    TableCounts {
        per_source,
        routes,
        networks,
    }
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
    fn a_refused_route_is_listed_with_its_error() {
        let key = bgp_fib::RouteKey::new(254, "10.1.2.0/24".parse().unwrap(), 32);
        let nh = bgp_fib::NextHop::onlink(
            "10.9.9.9".parse().unwrap(),
            bgp_fib::Device::Name("tunl0".into()),
        );
        let e = failed_entry(&bgp_fib::FailedRoute {
            key,
            errno: libc::ENETUNREACH,
            kind: Some(bgp_fib::RouteKind::Unicast(vec![nh])),
        });
        assert_eq!(e.prefix.to_string(), "10.1.2.0/24");
        assert_eq!((e.table, e.metric, e.onlink), (254, 32, true));
        assert_eq!(
            e.dest,
            RouteDest::Via {
                nexthops: vec![("10.9.9.9".parse().unwrap(), Some("tunl0".into()))]
            }
        );
        assert!(
            e.state.starts_with("failed: Network is unreachable"),
            "{}",
            e.state
        );
    }

    #[test]
    fn show_fib_pending_is_the_fib_threads_backlog() {
        let stats = super::super::Stats::default();
        stats.fib_state(10, 7);
        let c = fib_counts(12, 1, &stats);
        assert_eq!((c.installed, c.failed, c.pending), (12, 1, 7));
        stats.fib_state(17, 0);
        assert_eq!(fib_counts(17, 0, &stats).pending, 0);
    }
}

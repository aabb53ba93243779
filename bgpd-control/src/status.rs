//! DOC: the daemon's state as the control socket, the CLI's `--json` output and the metrics see
//! it: plain snapshot values, and the [`Control`] trait through which the control plane asks the
//! running daemon for them or gives it commands.
//!
//! This is the one seam between the daemon core (which implements [`Control`]) and its front
//! ends (the BIRD-compatible control socket, the JSON schema, Prometheus), so each side can be
//! built and tested without the other. Snapshots are cheap copies taken under short locks (or
//! answered by the owning task): a command never waits for the RIB to finish a large batch,
//! and `show route` over a million routes is produced in pages, not one lock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::time::SystemTime;

use bgp_core::driver::Admin;
use ipnet::IpNet;
use serde::Serialize;

/// `show status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonStatus {
    /// Our version string (`bgpd 0.1.0`).
    pub version: String,
    /// The router ID.
    pub router_id: Ipv4Addr,
    /// Daemon start.
    pub started: SystemTime,
    /// Last (re)configuration.
    pub last_reconfiguration: SystemTime,
    /// Graceful-restart recovery in progress (BIRD `-R`): protocols still to recover and the
    /// wait timer (elapsed, total seconds).
    pub graceful_restart: Option<GracefulRecovery>,
    /// A reload is being applied.
    pub reconfiguring: bool,
    /// `down` / SIGTERM received.
    pub shutting_down: bool,
    /// The addresses the BGP listener is bound to (with `port = 0`, the port the kernel
    /// chose): JSON only, BIRD prints no such line.
    pub listen: Vec<SocketAddr>,
}

/// Graceful-restart recovery after a restart of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GracefulRecovery {
    /// Peers that have not yet sent End-of-RIB.
    pub waiting_for: u32,
    /// Seconds since the recovery began.
    pub elapsed_secs: u32,
    /// The wait timer (seconds).
    pub wait_secs: u32,
}

impl GracefulRecovery {
    /// What `show status` says of `r` at `now`.
    pub fn of(r: &bgp_core::restart::Recovery, now: std::time::Instant) -> Self {
        GracefulRecovery {
            waiting_for: r.awaited() as u32,
            elapsed_secs: now.saturating_duration_since(r.started()).as_secs() as u32,
            wait_secs: r.wait().as_secs() as u32,
        }
    }
}

/// The kind of a protocol instance, as BIRD names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoKind {
    /// A BGP neighbour (configured, mesh or dynamic).
    Bgp,
    /// Kernel FIB sync (`kernel1`).
    Kernel,
    /// Interface scanner (`device1`).
    Device,
    /// Connected subnets (`direct1`).
    Direct,
    /// Static routes (`static1`).
    Static,
}

/// The protocol state column of `show protocols` (BIRD: down, start, wait, feed, up, stop, flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoState {
    /// Disabled or not running.
    Down,
    /// Starting (BGP: not yet Established).
    Start,
    /// Running.
    Up,
    /// Stopping.
    Stop,
}

/// Route counters of one protocol (`Routes: N imported, N exported, N preferred`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RouteCounts {
    /// Routes of this protocol in the table now (after import policy; BIRD's `imported`).
    pub imported: u64,
    /// Routes this protocol advertises now (BGP: its Adj-RIB-Out) or, for the kernel, wants
    /// installed.
    pub exported: u64,
    /// Of the imported routes, those that are the best route of their network now.
    pub preferred: u64,
    /// Route announcements received so far, before import policy (BGP; cumulative).
    pub received: u64,
    /// Announcements rejected so far by import policy or RFC 7606 treat-as-withdraw
    /// (cumulative).
    pub rejected: u64,
    /// Announcements accepted so far (cumulative: BIRD's `Import updates ... accepted`).
    pub accepted: u64,
}

/// One protocol instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtocolStatus {
    /// Name (`Mesh_10_0_0_2`, `kernel1`, ...).
    pub name: String,
    /// Kind.
    pub kind: ProtoKind,
    /// State.
    pub state: ProtoState,
    /// When the state last changed.
    pub since: SystemTime,
    /// The info column (BGP: the session state, then the last error).
    pub info: String,
    /// Description from the config.
    pub description: Option<String>,
    /// Import policy name (`ACCEPT` when none).
    pub import_policy: String,
    /// Export policy name (`REJECT` when none).
    pub export_policy: String,
    /// Route counters.
    pub routes: RouteCounts,
    /// BGP details, for BGP protocols.
    pub bgp: Option<BgpStatus>,
}

/// BGP details of a protocol (`show protocols all NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpStatus {
    /// Session state name (RFC 4271: Idle, Connect, Active, OpenSent, OpenConfirm, Established;
    /// BIRD also shows Passive while waiting for a passive peer).
    pub state: String,
    /// Neighbour address.
    pub neighbor_address: IpAddr,
    /// Neighbour port.
    pub neighbor_port: u16,
    /// Neighbour AS (configured, or learned for dynamic neighbours).
    pub neighbor_as: u32,
    /// Our AS towards it.
    pub local_as: u32,
    /// Neighbour BGP identifier, once known.
    pub neighbor_id: Option<Ipv4Addr>,
    /// Neighbour's capabilities in BIRD's words (`refresh`, `enhanced-refresh`, `restart-able`,
    /// `AS4`, `add-path-rx`, `add-path-tx`, `ext-messages`).
    pub neighbor_caps: Vec<String>,
    /// Session flags in BIRD's words (`internal`, `multihop`, `AS4`, `add-path-rx`, ...).
    pub session_flags: Vec<String>,
    /// Our source address.
    pub source_address: Option<IpAddr>,
    /// Hold timer: (seconds left, negotiated hold time).
    pub hold_timer: Option<(u32, u32)>,
    /// Keepalive timer: (seconds left, keepalive interval).
    pub keepalive_timer: Option<(u32, u32)>,
    /// Last error, as BIRD words it (`Received: Administrative shutdown`).
    pub last_error: Option<String>,
    /// Established since (for uptime metrics).
    pub established_since: Option<SystemTime>,
    /// Whether this peer is a route-reflector client.
    pub rr_client: bool,
    /// Peer's graceful restart: its routes are being kept as stale.
    pub graceful_restart_stale: bool,
    /// Messages received and sent, by type (open, update, notification, keepalive, refresh).
    pub messages_in: MessageCounts,
    /// Messages sent.
    pub messages_out: MessageCounts,
}

/// Messages by type (bgp-core's session counters).
pub use bgp_core::session::MessageCounts;

/// How a route forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RouteDest {
    /// `via GW on IF` (one next hop; several for ECMP).
    Via {
        /// Next hops: (gateway, interface name if known).
        nexthops: Vec<(IpAddr, Option<String>)>,
    },
    /// `dev IF`.
    Dev {
        /// Interface name.
        iface: String,
    },
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibited`.
    Prohibit,
}

/// BGP attributes of a route, for `show route all` and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpRouteAttrs {
    /// `IGP`, `EGP` or `Incomplete`.
    pub origin: String,
    /// AS path as BIRD prints it (`65001 65002 {1,2}`).
    pub as_path: String,
    /// BGP next hop.
    pub next_hop: Option<IpAddr>,
    /// MED.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities `(a,b)`.
    pub communities: Vec<(u16, u16)>,
    /// Large communities `(a,b,c)`.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<Ipv4Addr>,
}

/// One route of the RIB (every path of a prefix, best first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteEntry {
    /// The prefix.
    pub prefix: IpNet,
    /// Where it forwards.
    pub dest: RouteDest,
    /// The protocol it came from (`Mesh_10_0_0_2`, `static1`, `kernel1`, `direct1`).
    pub protocol: String,
    /// When it was learned.
    pub since: SystemTime,
    /// The BGP neighbour it came from, when that differs from the next hop (BIRD ` from X`).
    pub from: Option<IpAddr>,
    /// Best path (BIRD's `*`).
    pub primary: bool,
    /// Preference (BIRD: 100 BGP, 200 static, 240 direct, 10 kernel).
    pub preference: u16,
    /// IGP metric of the route resolving a BGP next hop, shown as `(100/0)`; `(pref)` when
    /// `None`. [`IGP_METRIC_UNKNOWN`] prints `?`, [`IGP_METRIC_UNRESOLVED`] prints `-`.
    pub igp_metric: Option<u32>,
    /// BGP attributes, for BGP routes.
    pub bgp: Option<BgpRouteAttrs>,
    /// Stale (kept through a peer's graceful restart).
    pub stale: bool,
    /// The kernel refused this primary route (BIRD 1.6's `KRF_SYNC_ERROR`: `!` in place of `*`).
    pub sync_error: bool,
    /// `(krt_source, krt_metric)` of a route learned from the kernel: `Kernel.source` and
    /// `Kernel.metric` in `show route all`.
    pub krt: Option<(u8, u32)>,
}

/// An address family, for the view of a control socket: `bird` (IPv4) and `bird6` (IPv6)
/// each see only their family's routes and neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of_addr(a: &IpAddr) -> IpFamily {
        match a {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }

    /// The family of a prefix.
    pub fn of_net(n: &IpNet) -> IpFamily {
        match n {
            IpNet::V4(_) => IpFamily::Ipv4,
            IpNet::V6(_) => IpFamily::Ipv6,
        }
    }

    /// The control sockets to serve and the view of each: `socket` with the program's
    /// `view` (`bird` IPv4, `bird6` IPv6, `bgpd` both), unless `control_socket_v6` names a
    /// second socket: then `socket` shows IPv4 and `socket_v6` IPv6, whatever the name.
    pub fn socket_views<P>(
        socket: P,
        socket_v6: Option<P>,
        view: Option<IpFamily>,
    ) -> Vec<(P, Option<IpFamily>)> {
        match socket_v6 {
            Some(v6) => vec![(socket, Some(IpFamily::Ipv4)), (v6, Some(IpFamily::Ipv6))],
            None => vec![(socket, view)],
        }
    }

    /// Its unicast BGP family (the RIB's tables).
    pub fn unicast(self) -> bgp_core::wire::Family {
        match self {
            IpFamily::Ipv4 => bgp_core::wire::Family::IPV4_UNICAST,
            IpFamily::Ipv6 => bgp_core::wire::Family::IPV6_UNICAST,
        }
    }
}

/// [`RouteEntry::igp_metric`] of a BGP route whose next hop resolves through a route with a
/// gateway: BIRD's `IGP_METRIC_UNKNOWN`, printed `(100/?)`.
pub const IGP_METRIC_UNKNOWN: u32 = 0x8000_0000;
/// [`RouteEntry::igp_metric`] of a BGP route whose next hop does not resolve: printed
/// `(100/-)` (and the route is `unreachable`), as BIRD does.
pub const IGP_METRIC_UNRESOLVED: u32 = u32::MAX;

/// Which routes `show route` wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteQuery {
    /// Only this family (the socket's view), or both.
    pub family: Option<IpFamily>,
    /// One prefix (exact), or all.
    pub prefix: Option<IpNet>,
    /// Only routes from this protocol.
    pub protocol: Option<String>,
    /// Only best paths.
    pub primary_only: bool,
    /// Skip this many matching routes (paging).
    pub offset: usize,
    /// The same position as `offset`, as a cursor: (network, n) = the last network shown and
    /// how many of its matching routes were; the walk goes on with that network's other routes
    /// (if it is still there) and then the networks after it (in prefix order, IPv4 before
    /// IPv6). A core that walks its table in prefix order starts there instead of counting
    /// `offset` routes from the first; one that does not ignores it.
    pub resume: Option<(IpNet, usize)>,
    /// At most this many (paging; 0 = no limit).
    pub limit: usize,
}

/// One route as installed in the kernel, read back from it (`show fib`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FibEntry {
    /// The prefix.
    pub prefix: IpNet,
    /// Where it forwards.
    pub dest: RouteDest,
    /// Whether the `onlink` flag is set (IP-in-IP through the tunnel).
    pub onlink: bool,
    /// Kernel table.
    pub table: u32,
    /// Metric.
    pub metric: u32,
    /// Install state: `installed`, `pending` or the error text.
    pub state: String,
}

/// FIB counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FibCounts {
    /// Routes installed and confirmed.
    pub installed: u64,
    /// Routes whose last install failed.
    pub failed: u64,
    /// Routes waiting to be sent.
    pub pending: u64,
    /// The FIB thread's cumulative counters since start (its last report).
    pub kernel: FibKernelCounts,
}

/// The FIB thread's cumulative counters (bgp-fib's `FibStats`), as `show fib` and the
/// `bgpd_fib_*_total` metrics show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FibKernelCounts {
    /// Netlink messages sent (route and nexthop object adds, replaces, deletes).
    pub messages: u64,
    /// Of which nexthop object messages.
    pub nexthop_messages: u64,
    /// Nexthop objects deleted to withdraw the routes using them in one kernel walk...
    pub object_flushes: u64,
    /// ... and the routes those deletes withdrew (no route delete was sent for them).
    pub flushed_routes: u64,
    /// Routes of ours changed or deleted by someone else, seen by the monitor and repaired.
    pub third_party_route_changes: u64,
    /// Requests the kernel refused (routes and nexthop objects).
    pub errors: u64,
    /// Netlink socket overruns (`ENOBUFS`: replies or notifications lost; a resync follows).
    pub overruns: u64,
    /// Scans of the kernel's routes (reconcile).
    pub scans: u64,
    /// Routes the FIB thread holds an entry for now: those queued, in flight, failed or
    /// being deleted one by one (the rest are known only to the RIB).
    pub entries: u64,
    /// Times the FIB thread asked for every prefix again (routes missing from the kernel).
    pub resyncs: u64,
}

impl From<bgp_fib::FibStats> for FibKernelCounts {
    fn from(s: bgp_fib::FibStats) -> Self {
        FibKernelCounts {
            messages: s.messages_sent,
            nexthop_messages: s.nexthop_messages,
            object_flushes: s.object_flushes,
            flushed_routes: s.flushed_routes,
            third_party_route_changes: s.third_party_route_changes,
            errors: s.errors,
            overruns: s.overruns,
            scans: s.scans,
            entries: s.entries,
            resyncs: s.resyncs,
        }
    }
}

/// Why a control command failed (shown as BIRD error codes: 8xxx runtime, 9xxx parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// `8003 No protocols match` / `9002 X is not a protocol`.
    #[error("{0} is not a protocol")]
    NoSuchProtocol(String),
    /// `8001 Network not in table`.
    #[error("Network not in table")]
    NotInTable,
    /// A reload with an invalid config; the running config stays.
    #[error("{0}")]
    Config(bgpd_config::ConfigErrors),
    /// A reload without a configuration file (an embedded daemon started from a value).
    #[error("no configuration file to re-read")]
    NoConfigFile,
    /// A reload that changes what is read only at start-up (these `[kernel]` keys).
    #[error("[kernel] {} changed: restart bgpd to apply it (the running configuration is unchanged)", .0.join(", "))]
    RestartRequired(Vec<&'static str>),
    /// A reload whose new `listen` address cannot be bound (`errno`).
    #[error("cannot listen on {addr}: {} (listen addresses unchanged)", std::io::Error::from_raw_os_error(*.errno))]
    Listen {
        addr: std::net::SocketAddr,
        errno: i32,
    },
    /// The daemon did not answer a reload in time.
    #[error("reload: no answer from the daemon within {0} s")]
    ReloadTimeout(u64),
    /// The daemon is shutting down.
    #[error("shutdown in progress")]
    ShuttingDown,
}

/// What the control plane can ask of and tell the running daemon. Implemented by the daemon
/// core; every method answers promptly (no method waits behind route processing).
pub trait Control: Send + Sync + 'static {
    /// `show status`.
    fn status(&self) -> DaemonStatus;
    /// `show protocols` (all protocols, in display order: kernel1, device1, direct1, static1,
    /// then BGP peers in configuration order).
    fn protocols(&self) -> Vec<ProtocolStatus>;
    /// `show route ...`: routes matching the query, best path of each prefix first.
    fn routes(&self, query: &RouteQuery) -> Vec<RouteEntry>;
    /// `show route count`: (routes, networks).
    fn route_count(&self) -> (u64, u64);
    /// `show route count` on a socket whose view is one family: (routes, networks) of that
    /// family. The default counts both families.
    fn route_count_of(&self, family: Option<IpFamily>) -> (u64, u64) {
        let _ = family;
        self.route_count()
    }
    /// `show route count protocol NAME` without other filters: the routes `NAME` has in the
    /// table (of `family`, or both), read from counters the table keeps; `None` when the core
    /// keeps none for `NAME` (then the routes are walked and counted).
    fn protocol_route_count(&self, name: &str, family: Option<IpFamily>) -> Option<u64> {
        let _ = (name, family);
        None
    }
    /// `show fib`: what the kernel holds of ours, and counters.
    fn fib(&self) -> (Vec<FibEntry>, FibCounts);
    /// `show fib` as a stream: the rows of [`Control::fib`] in order, given to `page` at most
    /// `max` at a time, then the counters. When `page` breaks (the client is gone) no more
    /// rows are produced. The default pages [`Control::fib`]'s answer; the daemon reads the
    /// kernel as it goes, so it holds a page, not the table, whatever the table size.
    fn fib_pages(
        &self,
        max: usize,
        page: &mut dyn FnMut(Vec<FibEntry>) -> ControlFlow<()>,
    ) -> FibCounts {
        let (rows, counts) = self.fib();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            if page(rows.by_ref().take(max.max(1)).collect()).is_break() {
                break;
            }
        }
        counts
    }
    /// `enable NAME`, `disable NAME ["message"]` (Cease with a shutdown communication) and
    /// `restart NAME`: bgp-core's request for the neighbour `name`.
    fn admin(&self, name: &str, request: Admin) -> Result<(), ControlError>;
    /// `reload` / `configure`: re-read the configuration file and apply it.
    fn reload(&self) -> Result<(), ControlError>;
    /// `down`: graceful shutdown.
    fn shutdown(&self);
    /// `show bfd sessions`: every BFD session (none when BFD is not configured).
    fn bfd_sessions(&self) -> Vec<BfdSessionStatus> {
        Vec::new()
    }
    /// BFD packet counters of the whole daemon.
    fn bfd_counters(&self) -> BfdCounters {
        BfdCounters::default()
    }
}

/// One BFD session (`show bfd sessions`, `docs/bfd.md`). Intervals in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BfdSessionStatus {
    /// The neighbour.
    pub address: IpAddr,
    /// Our source address, when configured.
    pub local: Option<IpAddr>,
    /// RFC 5883 multihop (UDP 4784) rather than single hop (3784).
    pub multihop: bool,
    /// `AdminDown`, `Down`, `Init`, `Up`.
    pub state: String,
    /// The neighbour's state as it last said.
    pub remote_state: String,
    /// Since when in this state.
    pub since: SystemTime,
    /// Our discriminator.
    pub local_discriminator: u32,
    /// The neighbour's (0 until known).
    pub remote_discriminator: u32,
    /// Why our state last changed (RFC 5880 diagnostic words).
    pub local_diagnostic: String,
    /// The neighbour's diagnostic.
    pub remote_diagnostic: String,
    /// Configured Desired Min TX Interval once Up.
    pub min_tx_ms: f64,
    /// Configured Required Min RX Interval.
    pub min_rx_ms: f64,
    /// Configured TX interval while not Up.
    pub idle_tx_ms: f64,
    /// Our Detect Mult.
    pub multiplier: u8,
    /// The neighbour's Detect Mult (0 until known).
    pub remote_multiplier: u8,
    /// The neighbour's Required Min RX Interval.
    pub remote_min_rx_ms: f64,
    /// The neighbour's Desired Min TX Interval.
    pub remote_min_tx_ms: f64,
    /// The negotiated transmit interval (before jitter); none when not sending periodically.
    pub tx_interval_ms: Option<f64>,
    /// The Detection Time; none before the first packet.
    pub detection_time_ms: Option<f64>,
    /// Packets accepted.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// The BGP protocols bound to it.
    pub peers: Vec<String>,
}

/// BFD packet counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BfdCounters {
    /// Accepted.
    pub packets_in: u64,
    /// Sent.
    pub packets_out: u64,
    /// Dropped, by reason (`docs/bfd.md`).
    pub dropped: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v6_socket_splits_the_views_whatever_the_name() {
        use IpFamily::{Ipv4, Ipv6};
        assert_eq!(IpFamily::socket_views("a", None, None), [("a", None)]);
        assert_eq!(
            IpFamily::socket_views("a", None, Some(Ipv6)),
            [("a", Some(Ipv6))]
        );
        let split = [("a", Some(Ipv4)), ("b", Some(Ipv6))];
        assert_eq!(IpFamily::socket_views("a", Some("b"), Some(Ipv6)), split);
        assert_eq!(IpFamily::socket_views("a", Some("b"), None), split);
        assert_eq!(Ipv6.unicast(), bgp_core::wire::Family::IPV6_UNICAST);
    }
}

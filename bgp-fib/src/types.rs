//! DOC: the plain values that cross the crate boundary: routes we want in the kernel
//! (`FibRoute`, `FibChange`), what we tell the daemon (`FibEvent`) and the configuration
//! (`FibConfig`). No netlink type appears here.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::intent::{RouteIntent, RoutePolicy};

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// The kernel's default metric for IPv6 routes given metric 0.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// The key the kernel files a route under: table, prefix and metric (priority).
///
/// The kernel also keys IPv4 routes on TOS, which we always leave at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    pub table: u32,
    pub prefix: IpNet,
    pub metric: u32,
}

impl RouteKey {
    /// Builds a key the way the kernel will store it: the prefix is truncated to its
    /// network address and an IPv6 metric of 0 becomes 1024, as the kernel does.
    pub fn new(table: u32, prefix: IpNet, metric: u32) -> Self {
        let metric = match prefix {
            IpNet::V6(_) if metric == 0 => IPV6_DEFAULT_METRIC,
            _ => metric,
        };
        RouteKey {
            table,
            prefix: prefix.trunc(),
            metric,
        }
    }
}

/// The outgoing device of a next hop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// An interface index.
    Index(u32),
    /// An interface name, resolved to an index from the interfaces the monitor has seen
    /// (for example the configured tunnel device `tunl0`).
    Name(String),
}

/// One next hop of a unicast route.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// The gateway. For IP-in-IP this is the BGP next hop itself, installed `onlink`.
    pub gateway: IpAddr,
    /// The outgoing device; `None` lets the kernel resolve it from the gateway (then any
    /// device the kernel picks counts as correct when reconciling).
    pub device: Option<Device>,
    /// Install with `RTNH_F_ONLINK`: the gateway is taken as directly reachable on the
    /// device, without a covering connected route.
    pub onlink: bool,
    /// ECMP weight, 1..=256 (stored in the kernel as `rtnh_hops = weight - 1`).
    pub weight: u16,
}

impl NextHop {
    /// `via gateway dev device`.
    pub fn via(gateway: IpAddr, device: Device) -> Self {
        NextHop {
            gateway,
            device: Some(device),
            onlink: false,
            weight: 1,
        }
    }

    /// `via gateway dev device onlink` (IP-in-IP through the tunnel device).
    pub fn onlink(gateway: IpAddr, device: Device) -> Self {
        NextHop {
            gateway,
            device: Some(device),
            onlink: true,
            weight: 1,
        }
    }
}

/// What a route does with packets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Forward through one or more next hops (more than one: ECMP, `RTA_MULTIPATH`).
    Unicast(Vec<NextHop>),
    /// Silently drop (local IPAM blocks are announced and installed as blackhole).
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP administratively prohibited.
    Prohibit,
}

/// A route we want in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FibRoute {
    pub prefix: IpNet,
    pub kind: RouteKind,
    pub metric: u32,
    pub table: u32,
}

impl FibRoute {
    pub fn key(&self) -> RouteKey {
        RouteKey::new(self.table, self.prefix, self.metric)
    }
}

/// A route the kernel refused (`Fib::failures`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRoute {
    /// The route's key.
    pub key: RouteKey,
    /// The kernel's error (positive errno: `ENETUNREACH`, `ENODEV`, `EEXIST`, ...).
    pub errno: i32,
    /// The route as we want it; `None` for a delete that failed.
    pub kind: Option<RouteKind>,
}

/// A change to the desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FibChange {
    /// Install the route, replacing whatever of ours has the same key.
    Upsert(FibRoute),
    /// Remove the route with this key (absent is fine).
    Remove(RouteKey),
    /// Install the route as the only one of ours for its prefix in its table: the same
    /// prefix held at another metric is removed (a kernel protocol's one route per network,
    /// whose metric a filter may change), so the caller need not remember the old metric.
    Set(FibRoute),
    /// Remove whatever of ours is held for the prefix in the table, at any metric.
    Clear { table: u32, prefix: IpNet },
    /// Install what the intent resolves to under [`FibConfig::routes`] and the kernel view
    /// (re-resolved when an on-link subnet appears or goes), as [`FibChange::Set`] does, in
    /// the policy's table; an intent that resolves to nothing (a VXLAN pool, a host-length
    /// blackhole, no next hop) clears the prefix.
    Intent(RouteIntent),
    /// Remove whatever of ours is held for the prefix in the policy's table, at any metric.
    Withdraw(IpNet),
    /// Tagged mode (see [`crate::tags`]): tag `tag` names this intent from now on (the
    /// intent's prefix only says which pool class it belongs to).
    Define { tag: u32, intent: RouteIntent },
    /// Tagged mode: tag `tag` is no longer used by any prefix (it may be defined again).
    Forget(u32),
    /// Tagged mode: `prefix` went from the route of tag `old` to that of tag `new` (0: no
    /// route). The driver keeps each prefix's tag (in its RIB); bgp-fib keeps no entry for
    /// a route once the kernel has it. `old == new` asks for the route to be written again.
    Tagged { prefix: IpNet, old: u32, new: u32 },
}

/// Which request a route outcome is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteOp {
    Add,
    Replace,
    Delete,
}

/// A route of another protocol seen in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedRoute {
    pub key: RouteKey,
    /// `rtm_protocol` number (4 = static, 3 = boot, ...).
    pub protocol: u8,
    /// `rtm_type` (1 unicast, 6 blackhole, 7 unreachable, 8 prohibit, ...).
    pub route_type: u8,
    pub scope: u8,
    /// Gateways with their output interfaces; empty for device routes without gateway.
    pub nexthops: Vec<(Option<IpAddr>, u32)>,
    /// Output interface of a single-path route (0 if none).
    pub ifindex: u32,
}

/// The `rtm_type` of a learned route, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearnedKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl LearnedRoute {
    /// What the route does (only these four kinds are learned).
    pub fn kind(&self) -> LearnedKind {
        match self.route_type {
            crate::wire::RTN_BLACKHOLE => LearnedKind::Blackhole,
            crate::wire::RTN_UNREACHABLE => LearnedKind::Unreachable,
            crate::wire::RTN_PROHIBIT => LearnedKind::Prohibit,
            _ => LearnedKind::Unicast,
        }
    }
}

/// What the FIB reports to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FibEvent {
    /// The kernel refused (or, with `report_success`, accepted) a request for a route.
    /// `errno` is positive (`libc::EEXIST`, `ENETUNREACH`, `ENODEV`, ...), 0 on success.
    Outcome {
        key: RouteKey,
        op: RouteOp,
        errno: i32,
    },
    /// A route of another protocol appeared or changed in the kernel.
    LearnedAdd(LearnedRoute),
    /// A route of another protocol left the kernel.
    LearnedRemove(RouteKey),
    /// An interface appeared or changed state.
    Link { index: u32, name: String, up: bool },
    /// An interface was deleted (and is forgotten).
    LinkRemoved { index: u32, name: String },
    /// A local address appeared; `subnet` is its on-link subnet (prefix truncated).
    AddressAdd {
        ifindex: u32,
        address: IpAddr,
        subnet: IpNet,
    },
    /// A local address went away.
    AddressRemove {
        ifindex: u32,
        address: IpAddr,
        subnet: IpNet,
    },
    /// A reconcile pass finished: how many routes it had to add, replace and delete.
    /// Sent after the start-up reconcile (the kernel is in step from then on) and after
    /// every later scan that had something to fix.
    Reconciled {
        added: usize,
        replaced: usize,
        deleted: usize,
    },
    /// A message was lost (`ENOBUFS` or a sequence gap): a full resync is scheduled.
    Overrun,
    /// Tagged mode: hand every prefix over again, even with its tag unchanged
    /// ([`FibChange::Tagged`] with `old == new`): a scan found routes missing that the FIB
    /// keeps no entry for, or their resolution changed.
    Resync,
}

impl FibEvent {
    /// Logs what the kernel did (the FIB thread logs each event it reports; learned routes,
    /// links and addresses are the embedding's to log).
    pub(crate) fn log(&self) {
        match self {
            FibEvent::Outcome { key, op, errno } if *errno != 0 => {
                let e = std::io::Error::from_raw_os_error(*errno);
                tracing::warn!(prefix = %key.prefix, ?op, "kernel refused the route: {e}");
            }
            FibEvent::Outcome { key, op, .. } => {
                tracing::info!(prefix = %key.prefix, ?op, "kernel accepted the route after a failure")
            }
            FibEvent::Reconciled {
                added,
                replaced,
                deleted,
            } if added + replaced + deleted > 0 => {
                tracing::info!(added, replaced, deleted, "kernel reconciled")
            }
            FibEvent::Overrun => tracing::warn!("netlink overrun: resyncing the kernel"),
            FibEvent::Resync => {
                tracing::info!("kernel routes missing: every prefix is to be handed over again")
            }
            _ => {}
        }
    }
}

/// Configuration of the kernel FIB sync.
#[derive(Clone, Debug)]
pub struct FibConfig {
    /// Our `rtm_protocol`: 12 (`bird`) for Calico deployments. See [`crate::protos`].
    pub protocol: u8,
    /// Name of the IP-in-IP tunnel device (`krt_tunnel`, `tunl0` in Calico); see
    /// [`FibConfig::tunnel_next_hop`].
    pub tunnel_device: String,
    /// Tables we own routes in: start-up and periodic reconcile remove our stale routes
    /// from these tables (tables of desired routes are always included).
    pub tables: Vec<u32>,
    /// Tables whose foreign routes are learned (reported as `LearnedAdd`).
    pub learn_tables: Vec<u32>,
    /// Report foreign routes at all (BIRD's `learn`).
    pub learn: bool,
    /// Also learn routes of protocol `kernel` (2) and `redirect` (1); BIRD's `learn all`.
    pub learn_kernel_routes: bool,
    /// Do not report addresses of interfaces that are administratively down (Calico's
    /// BIRD patch for kube-ipvs0, which holds every service IP); they are reported when
    /// the interface comes up. Default true.
    pub ignore_addresses_of_down_links: bool,
    /// Period of the reconcile scan (BIRD's `scan time`, default 2 s).
    pub scan_interval: Duration,
    /// On shutdown, delete our routes (default false: BIRD's `persist`).
    pub flush_on_shutdown: bool,
    /// Report `Outcome` events for successful requests too (default: failures only).
    pub report_success: bool,
    /// Upper bound of one `send`, in bytes.
    pub max_batch_bytes: usize,
    /// How many batches may be unacknowledged at once.
    pub max_batches_in_flight: usize,
    /// The address families whose routes are ours to reconcile and to learn. A daemon that
    /// handles one family (BIRD 1.6's `bird` and `bird6` run side by side, both with protocol
    /// `bird`) must neither delete nor learn the other one's routes. Default both.
    pub families: FibFamilies,
    /// How [`FibChange::Intent`]s become routes (pools, table, metric, ECMP cap); the pools
    /// may change while running ([`crate::FibCommand::SetPools`]).
    pub routes: RoutePolicy,
    /// Whether unicast routes point at kernel nexthop objects (`RTA_NH_ID`, Linux 5.3 and
    /// later): one object per distinct next hop (and one group per ECMP set), shared by
    /// every route that uses it, so a next hop that moves is one message. The library's
    /// default is `Off` (today's plain routes); bgpd's `[kernel] nexthop_objects` defaults
    /// to `Auto`.
    pub nexthop_objects: NexthopObjects,
}

/// [`FibConfig::nexthop_objects`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NexthopObjects {
    /// Use them when the kernel has them (a nexthop dump at start-up tells), plain routes
    /// otherwise.
    Auto,
    /// Use them; a kernel without them is reported (warning) and plain routes are used.
    On,
    /// Plain routes (gateway and device in every route).
    #[default]
    Off,
}

/// Which address families a [`Fib`](crate::Fib) manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FibFamilies {
    /// IPv4 routes.
    pub ipv4: bool,
    /// IPv6 routes.
    pub ipv6: bool,
}

impl FibFamilies {
    /// Both families.
    pub const BOTH: FibFamilies = FibFamilies {
        ipv4: true,
        ipv6: true,
    };

    /// Whether routes to `prefix` are managed.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(_) => self.ipv4,
            IpNet::V6(_) => self.ipv6,
        }
    }
}

impl FibConfig {
    /// The next hop of an IP-in-IP route: `via gateway dev <tunnel_device> onlink`, where the
    /// gateway is the BGP next hop itself (not resolved through the kernel).
    pub fn tunnel_next_hop(&self, gateway: IpAddr) -> NextHop {
        NextHop::onlink(gateway, Device::Name(self.tunnel_device.clone()))
    }
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            protocol: 12,
            tunnel_device: "tunl0".into(),
            tables: vec![TABLE_MAIN],
            learn_tables: vec![TABLE_MAIN],
            learn: true,
            learn_kernel_routes: false,
            ignore_addresses_of_down_links: true,
            scan_interval: Duration::from_secs(2),
            flush_on_shutdown: false,
            report_success: false,
            max_batch_bytes: 128 * 1024,
            max_batches_in_flight: 8,
            families: FibFamilies::BOTH,
            routes: RoutePolicy::default(),
            nexthop_objects: NexthopObjects::Off,
        }
    }
}

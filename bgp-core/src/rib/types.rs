//! The RIB's public value types: source ids, change flags, peer and RIB configuration, and what
//! the RIB hands out (route info, FIB changes, counters).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::{KernelTunnel, NhState, RouteAttrs, RouteType, SourceKind};
use super::decision::DecisionOptions;
use super::table::cf;
use crate::wire::Family;

/// A route source: a BGP peer or one of the local sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u16);

impl SourceId {
    /// Static routes (including blackhole blocks).
    pub const STATIC: SourceId = SourceId(0);
    /// Routes learned from the kernel.
    pub const KERNEL: SourceId = SourceId(1);
    /// Directly connected subnets.
    pub const DIRECT: SourceId = SourceId(2);

    /// The local source of `kind` (`None` for BGP).
    pub fn local(kind: SourceKind) -> Option<SourceId> {
        match kind {
            SourceKind::Static => Some(SourceId::STATIC),
            SourceKind::Kernel => Some(SourceId::KERNEL),
            SourceKind::Direct => Some(SourceId::DIRECT),
            SourceKind::Bgp => None,
        }
    }
}

/// What changed for a prefix, accumulated until the consumer looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeFlags(pub(crate) u8);

impl ChangeFlags {
    /// A different path is best (or the prefix appeared).
    pub const BEST: ChangeFlags = ChangeFlags(cf::BEST);
    /// The best path's attributes changed.
    pub const ATTRS: ChangeFlags = ChangeFlags(cf::ATTRS);
    /// The multipath set changed beyond its best.
    pub const MULTIPATH: ChangeFlags = ChangeFlags(cf::MULTIPATH);
    /// No usable path is left.
    pub const WITHDRAWN: ChangeFlags = ChangeFlags(cf::WITHDRAWN);
    /// Some path of the prefix changed (interesting to ADD-PATH peers only).
    pub const PATHS: ChangeFlags = ChangeFlags(cf::PATHS);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: ChangeFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for ChangeFlags {
    type Output = ChangeFlags;
    fn bitor(self, o: ChangeFlags) -> ChangeFlags {
        ChangeFlags(self.0 | o.0)
    }
}

/// Per-peer next-hop handling on export (BIRD's `next hop self` / `next hop keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum NextHopMode {
    /// RFC 4271 defaults: self towards eBGP and for local routes, unchanged towards iBGP.
    #[default]
    Default,
    /// Always our own address.
    SelfAlways,
    /// Never changed (when the route has one).
    Keep,
}

/// A peer's configuration: what the RIB needs to know about it beyond the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Name, for display (`Mesh_10_0_0_1`).
    pub name: String,
    /// The peer's address (the last tie-break, RFC 4271 §9.1.2.2 g).
    pub address: IpAddr,
    /// The peer is a route-reflector client of ours (`rr client`).
    pub rr_client: bool,
    /// Next-hop handling on export.
    pub next_hop: NextHopMode,
    /// Accept routes whose AS_PATH holds our AS up to this many times (`allow local as N`).
    pub allow_local_as: u8,
    /// Named import filter; `None` accepts everything.
    pub import: Option<String>,
    /// Named export filter; `None` accepts everything the export rules allow.
    pub export: Option<String>,
    /// Keep the pre-policy routes so [`Rib::reimport`](super::Rib::reimport) can rerun the import filter.
    pub soft_reconfig_inbound: bool,
    /// Our IPv4 address on this session, the next hop when it is "self" (defaults to the router
    /// ID, which Calico sets to the node address).
    pub local_v4: Option<Ipv4Addr>,
    /// Our IPv6 address on this session; IPv6 routes needing next-hop-self are not sent
    /// without one.
    pub local_v6: Option<Ipv6Addr>,
    /// With ADD-PATH send, how many paths per prefix to advertise.
    pub add_path_tx_max: usize,
    /// Route preference of this peer's routes (BIRD's protocol preference, default 100).
    pub preference: u16,
    /// BIRD's `gateway direct`: a next hop not on a connected network is reached through the
    /// peer's address; the FIB's hops carry it ([`FibNextHop::neighbor`]).
    pub gateway_direct: bool,
}

impl PeerConfig {
    /// A peer with default settings.
    pub fn new(name: impl Into<String>, address: IpAddr) -> Self {
        PeerConfig {
            name: name.into(),
            address,
            rr_client: false,
            next_hop: NextHopMode::Default,
            allow_local_as: 0,
            import: None,
            export: None,
            soft_reconfig_inbound: false,
            local_v4: None,
            local_v6: None,
            add_path_tx_max: 8,
            preference: SourceKind::Bgp.default_preference(),
            gateway_direct: false,
        }
    }
}

/// Global RIB settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Our cluster ID when reflecting (RFC 4456 §7: defaults to the router ID).
    pub cluster_id: Option<Ipv4Addr>,
    /// Decision-process options (MED handling, multipath width).
    pub decision: DecisionOptions,
    /// LOCAL_PREF assumed when a route has none (RFC 4271 §9.1.1 leaves it to policy; 100).
    pub default_local_pref: u32,
    /// Next-hop state assumed until the daemon says otherwise.
    pub default_next_hop: NhState,
    /// Most octets an update group keeps of encoded UPDATEs some member has not read yet
    /// (messages and their prefix lists): past it, members that lag furthest fall back to their
    /// own catch-up (2 MiB: a burst of a few thousand reflected routes, or a full table's
    /// first ~250k prefixes, stays shared).
    pub group_stream_bytes: usize,
}

impl RibConfig {
    /// Defaults for `local_as` and `router_id`.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        RibConfig {
            local_as,
            router_id,
            cluster_id: None,
            decision: DecisionOptions::default(),
            default_local_pref: 100,
            default_next_hop: NhState::default(),
            group_stream_bytes: 2 << 20,
        }
    }
}

/// A local route (static, blackhole block, learned kernel route, direct subnet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalRoute {
    /// Gateway, if any.
    pub next_hop: Option<IpAddr>,
    /// Forwarding type.
    pub route_type: RouteType,
    /// Interface.
    pub ifname: Option<Arc<str>>,
    /// Kernel metric (learned kernel routes).
    pub krt_metric: Option<u32>,
    /// Kernel protocol (`rtm_protocol`) of a learned kernel route (BIRD's `krt_source`).
    pub krt_source: Option<u8>,
    /// Every next hop of a learned multipath kernel route (gateway, interface); empty for a
    /// route with one (then `next_hop`/`ifname`).
    pub multipath: Vec<(IpAddr, Option<Arc<str>>)>,
}

/// The table's counters at one instant ([`Rib::counts_by_source`](super::Rib::counts_by_source)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Per source with any: its counters.
    pub per_source: std::collections::HashMap<SourceId, SourceCounts>,
    /// Every route (path) of every network (`show route count`'s "of Y routes").
    pub routes: u64,
    /// Networks with at least one route ("for Z networks").
    pub networks: u64,
}

/// A source's counters ([`Rib::source_counts`](super::Rib::source_counts)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Its paths in the table.
    pub routes: u64,
    /// Prefixes whose best path is its.
    pub best: u64,
    /// What a BGP peer's Adj-RIB-Out holds (prefix, path) pairs.
    pub exported: u64,
}

/// What an UPDATE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateStats {
    /// Prefixes accepted into the Adj-RIB-In.
    pub accepted: usize,
    /// Prefixes withdrawn.
    pub withdrawn: usize,
    /// Prefixes rejected by the import filter.
    pub filtered: usize,
    /// Prefixes dropped by loop detection (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST).
    pub looped: usize,
    /// The End-of-RIB family, when the UPDATE was that marker.
    pub end_of_rib: Option<Family>,
}

/// One path as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Where it came from.
    pub source: SourceId,
    /// What kind of source that is.
    pub source_kind: SourceKind,
    /// Its ADD-PATH identifier (0 without ADD-PATH).
    pub path_id: u32,
    /// Its (post-policy) attributes.
    pub attrs: Arc<RouteAttrs>,
    /// Best or multipath partner.
    pub selected: bool,
    /// Kept across a graceful restart, not yet refreshed.
    pub stale: bool,
}

/// One next hop of a FIB route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibNextHop {
    /// The gateway (`None`: on-link / no gateway).
    pub addr: Option<IpAddr>,
    /// The kernel tunnel decision for this path (Calico's `krt_tunnel`), if policy made one.
    pub tunnel: Option<KernelTunnel>,
    /// Which source the path came from.
    pub source: SourceId,
    /// The peer's address when the source is a peer in `gateway direct` mode
    /// ([`PeerConfig::gateway_direct`]).
    pub neighbor: Option<IpAddr>,
}

/// What the FIB should hold for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibRoute {
    /// Source of the best path: kernel-learned routes are already in the kernel, and the daemon
    /// decides whether static/direct ones are installed.
    pub source: SourceKind,
    /// Forwarding type.
    pub route_type: RouteType,
    /// The next hops: the best path's first, then its equal-cost partners ("merge paths").
    pub next_hops: Vec<FibNextHop>,
    /// Interface of the best path (local routes).
    pub ifname: Option<Arc<str>>,
    /// Kernel metric set by policy or learned.
    pub krt_metric: Option<u32>,
    /// The best path's LOCAL_PREF (Calico derives `krt_metric` from it).
    pub local_pref: u32,
}

/// One Loc-RIB change for the FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibChange {
    /// The prefix.
    pub prefix: IpNet,
    /// What changed since the FIB last saw this prefix.
    pub changed: ChangeFlags,
    /// The new route, or `None` to remove it.
    pub route: Option<FibRoute>,
}

/// The next-hop resolver hook: reachability and IGP cost of a BGP next hop.
pub trait NextHopResolver {
    /// The state of `addr`.
    fn resolve(&mut self, addr: IpAddr) -> NhState;
}

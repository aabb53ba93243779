//! DOC: the configuration schema as serde types. Unknown keys are errors everywhere
//! (`deny_unknown_fields`); values that later checks refer to keep their source span
//! ([`Spanned`]) so errors point at them. Defaults follow BIRD as Calico configures it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
pub use serde_spanned::Spanned;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// BGP identifier (IPv4).
    pub router_id: Spanned<Ipv4Addr>,
    /// Our AS.
    pub asn: Spanned<u32>,
    /// Where to accept BGP connections.
    #[serde(default)]
    pub listen: Listen,
    /// Control socket path (`-s` overrides it).
    #[serde(default = "default_socket")]
    pub control_socket: PathBuf,
    /// A second control socket whose view is IPv6 only (what `bird6` would show); with it,
    /// `control_socket` shows IPv4 only, so one bgpd answers calico-node's `bird` and `bird6`
    /// probes.
    #[serde(default)]
    pub control_socket_v6: Option<PathBuf>,
    /// What SIGTERM/`down` does to sessions.
    #[serde(default)]
    pub shutdown: ShutdownMode,
    /// Kernel FIB sync.
    #[serde(default)]
    pub kernel: Kernel,
    /// Our own graceful restart.
    #[serde(default)]
    pub graceful_restart: GracefulRestart,
    /// Calico-style IP pools.
    #[serde(default)]
    pub pools: Vec<Pool>,
    /// Local routes.
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticRoute>,
    /// Connected subnets.
    #[serde(default)]
    pub direct: Option<Direct>,
    /// iBGP full mesh.
    #[serde(default)]
    pub mesh: Option<Mesh>,
    /// Route-reflector role.
    #[serde(default)]
    pub route_reflector: Option<RouteReflector>,
    /// Configured neighbours.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Dynamic neighbours.
    #[serde(default)]
    pub peer_ranges: Vec<PeerRange>,
    /// Named filters.
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// BFD defaults (`docs/bfd.md`).
    #[serde(default)]
    pub bfd: super::bfd::BfdDefaults,
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/bgpd/bgpd.ctl")
}

/// `listen`: addresses and port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Addresses to listen on (default `0.0.0.0` and `::`); empty: no listener.
    #[serde(default = "default_listen_addrs")]
    pub addresses: Vec<IpAddr>,
    /// TCP port (default 179; 0 picks a free one, for tests).
    #[serde(default = "default_port")]
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            addresses: default_listen_addrs(),
            port: 179,
        }
    }
}

fn default_listen_addrs() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    ]
}

fn default_port() -> u16 {
    179
}

/// What happens to sessions on SIGTERM / SIGINT / `down`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownMode {
    /// Keep the peers' graceful-restart state: Cease only to peers that negotiated the N bit
    /// (RFC 8538), otherwise close TCP without NOTIFICATION, so they keep our routes as stale.
    #[default]
    Graceful,
    /// Cease / Administrative Shutdown with a shutdown communication to every peer.
    Notify,
}

/// `[kernel]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// Program the kernel FIB at all (false: RIB only, e.g. a route reflector off the path).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `rtm_protocol`: a number or a name from `/etc/iproute2/rt_protos` (`bird` = 12).
    #[serde(default = "default_proto")]
    pub protocol: Spanned<ProtoSpec>,
    /// Routing table (254 = main).
    #[serde(default = "default_table")]
    pub table: u32,
    /// Metric of installed routes.
    #[serde(default = "default_metric")]
    pub metric: u32,
    /// Import other protocols' kernel routes into the RIB (BIRD `learn`).
    #[serde(default)]
    pub learn: bool,
    /// Keep our routes in the kernel on exit (BIRD `persist`).
    #[serde(default = "yes")]
    pub persist: bool,
    /// Reconcile scan interval, seconds.
    #[serde(default = "default_scan")]
    pub scan_interval: Spanned<u64>,
    /// Largest ECMP set installed (BIRD `merge paths ... limit`); 1 disables ECMP.
    #[serde(default = "default_ecmp")]
    pub ecmp_max: Spanned<u32>,
    /// The IP-in-IP tunnel device.
    #[serde(default = "default_tunnel")]
    pub tunnel_device: String,
    /// Filter applied before routes reach the kernel (Calico's `calico_kernel_programming`).
    #[serde(default)]
    pub export: Option<Spanned<String>>,
    /// Filter applied to routes learned from the kernel (`learn`) before they enter the RIB
    /// (BIRD's kernel `import`); default: accept all.
    #[serde(default)]
    pub import: Option<Spanned<String>>,
    /// Kernel nexthop objects (`RTA_NH_ID`, Linux 5.3 and later): routes sharing a next hop
    /// point at one object, so a next hop that moves is one netlink message.
    #[serde(default)]
    pub nexthop_objects: NexthopObjectsMode,
}

/// `[kernel] nexthop_objects`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NexthopObjectsMode {
    /// When the kernel has them (detected at start-up), else plain routes.
    #[default]
    Auto,
    /// Always (a kernel without them is reported, and plain routes are used).
    On,
    /// Plain routes: gateway and device in every route.
    Off,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            enabled: true,
            protocol: default_proto(),
            table: default_table(),
            metric: default_metric(),
            learn: false,
            persist: true,
            scan_interval: default_scan(),
            ecmp_max: default_ecmp(),
            tunnel_device: default_tunnel(),
            export: None,
            import: None,
            nexthop_objects: NexthopObjectsMode::Auto,
        }
    }
}

/// A protocol given by number or name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ProtoSpec {
    /// `protocol = 12`.
    Number(u8),
    /// `protocol = "bird"`.
    Name(String),
}

impl ProtoSpec {
    /// The protocol number, resolving names through `/etc/iproute2/rt_protos` (and the
    /// built-in list).
    pub fn resolve(&self) -> Option<u8> {
        match self {
            ProtoSpec::Number(n) => Some(*n),
            ProtoSpec::Name(s) => bgp_fib::protos::resolve(s),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_proto() -> Spanned<ProtoSpec> {
    Spanned::new(0..0, ProtoSpec::Name("bird".into()))
}
fn default_table() -> u32 {
    254
}
fn default_metric() -> u32 {
    32
}
fn default_scan() -> Spanned<u64> {
    Spanned::new(0..0, 2)
}
fn default_ecmp() -> Spanned<u32> {
    Spanned::new(0..0, 16)
}
fn default_tunnel() -> String {
    "tunl0".into()
}

/// `[graceful_restart]`: our own restarts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestart {
    /// Announce the capability (helper and restarting speaker).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Restart time announced to peers, seconds (≤ 4095).
    #[serde(default = "default_restart_time")]
    pub restart_time: Spanned<u32>,
    /// After our own restart: how long to wait for End-of-RIB from every peer before sweeping
    /// stale kernel routes (BIRD's `graceful restart wait`, 240 s).
    #[serde(default = "default_gr_wait")]
    pub wait_time: u32,
    /// Helper: longest time a restarted peer's stale routes are kept once it is back.
    #[serde(default = "default_stale_time")]
    pub stale_time: u32,
    /// Announce the N bit (RFC 8538).
    #[serde(default = "yes")]
    pub notification: bool,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            enabled: true,
            restart_time: default_restart_time(),
            wait_time: default_gr_wait(),
            stale_time: default_stale_time(),
            notification: true,
        }
    }
}

fn default_restart_time() -> Spanned<u32> {
    Spanned::new(0..0, 120)
}
fn default_gr_wait() -> u32 {
    240
}
fn default_stale_time() -> u32 {
    360
}

/// IP-in-IP mode of a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpipMode {
    /// Every BGP route inside the pool goes `via NH dev <tunnel> onlink`.
    Always,
    /// Through the tunnel only when the next hop is outside every local on-link subnet.
    CrossSubnet,
    /// Plain `via NH`.
    #[default]
    Never,
}

/// `[[pools]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The pool CIDR.
    pub cidr: Spanned<IpNet>,
    /// IP-in-IP mode.
    #[serde(default)]
    pub ipip: IpipMode,
    /// A VXLAN pool: its routes are not programmed (Felix does it).
    #[serde(default)]
    pub vxlan: bool,
    /// Export routes inside the pool to BGP peers (false: a disabled pool).
    #[serde(default = "yes")]
    pub export: bool,
}

/// Per-peer graceful restart (BIRD's `graceful restart on|aware|off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerGracefulRestart {
    /// Restarting and receiving speaker.
    On,
    /// Receiving speaker only.
    Aware,
    /// No graceful restart.
    Off,
}

/// BIRD's `gateway direct|recursive`: how a BGP next hop becomes the kernel's gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    /// The next hop is installed as the gateway; the kernel resolves it.
    #[default]
    Recursive,
    /// BIRD 1.6's direct mode: a next hop on a directly connected network is the gateway, any
    /// other is replaced by the peer's address.
    Direct,
}

/// `[[static]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// The prefix.
    pub prefix: Spanned<IpNet>,
    /// A blackhole route (an IPAM block).
    #[serde(default)]
    pub blackhole: bool,
    /// An unreachable route (the kernel answers ICMP unreachable; BIRD's `unreachable`).
    #[serde(default)]
    pub unreachable: bool,
    /// A prohibit route (ICMP administratively prohibited; BIRD's `prohibit`).
    #[serde(default)]
    pub prohibit: bool,
    /// Gateway.
    #[serde(default)]
    pub via: Option<IpAddr>,
    /// Communities added when exported (`"65000:100"`).
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
}

/// `[direct]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    /// Interface patterns, BIRD style, first match wins: `"-cali*"` excludes, `"*"` includes.
    #[serde(default = "default_direct")]
    pub interfaces: Vec<String>,
}

fn default_direct() -> Vec<String> {
    vec!["-cali*".into(), "-kube-ipvs*".into(), "*".into()]
}

impl Direct {
    /// Whether the interface's subnets enter the RIB.
    pub fn matches(&self, ifname: &str) -> bool {
        for p in &self.interfaces {
            let (neg, pat) = match p.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            if bgp_core::filter::glob_match(pat, ifname) {
                return !neg;
            }
        }
        false
    }
}

/// Next-hop handling on export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextHopSetting {
    /// RFC 4271: self towards eBGP, unchanged towards iBGP.
    #[default]
    Default,
    /// Always ourselves.
    #[serde(rename = "self")]
    SelfAlways,
    /// Never changed.
    Keep,
}

/// ADD-PATH per peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddPathSetting {
    /// No ADD-PATH.
    #[default]
    Off,
    /// Receive several paths.
    Receive,
    /// Send several paths.
    Send,
    /// Both.
    Both,
}

/// An address family name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyName {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

/// Max-prefix limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPrefixes {
    /// IPv4 limit.
    pub ipv4: Option<u32>,
    /// IPv6 limit.
    pub ipv6: Option<u32>,
}

/// The settings shared by `[[peers]]`, `[mesh]` and `[[peer_ranges]]` (a macro, since serde's
/// `flatten` does not combine with `deny_unknown_fields`).
macro_rules! peer_settings {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// TCP port of the peer (179).
            #[serde(default = "default_port")]
            pub port: u16,
            /// Never connect out.
            #[serde(default)]
            pub passive: bool,
            /// TCP-MD5 password (RFC 2385).
            #[serde(default)]
            pub password: Option<String>,
            /// Multihop: the TTL of our packets (eBGP default 1, iBGP 64).
            #[serde(default)]
            pub multihop: Option<Spanned<u8>>,
            /// GTSM (RFC 5082): send with TTL 255, accept only TTL ≥ 255 - (multihop - 1).
            #[serde(default)]
            pub ttl_security: bool,
            /// Source address of our connections.
            #[serde(default)]
            pub source_address: Option<IpAddr>,
            /// Hold time proposed, seconds (0 or ≥ 3).
            #[serde(default)]
            pub hold_time: Option<Spanned<u16>>,
            /// Keepalive interval, seconds.
            #[serde(default)]
            pub keepalive_time: Option<u16>,
            /// Next-hop handling on export.
            #[serde(default)]
            pub next_hop: NextHopSetting,
            /// Route-reflector client.
            #[serde(default)]
            pub rr_client: bool,
            /// ADD-PATH.
            #[serde(default)]
            pub add_path: AddPathSetting,
            /// Graceful restart time announced to this peer (overrides `[graceful_restart]`).
            #[serde(default)]
            pub graceful_restart_time: Option<Spanned<u32>>,
            /// Graceful restart towards this peer (BIRD's `graceful restart on|aware|off`):
            /// `"on"` (the default while `[graceful_restart] enabled`), `"aware"` (helper only:
            /// the capability without restart time or families), `"off"` (no capability).
            #[serde(default)]
            pub graceful_restart: Option<PeerGracefulRestart>,
            /// How the kernel route reaches this peer's next hops (BIRD's `gateway`):
            /// `"recursive"` (default) or `"direct"` (a next hop on a connected network is used
            /// as is, any other is replaced by the peer's own address).
            #[serde(default)]
            pub gateway: GatewayMode,
            /// Import filter (default: accept all).
            #[serde(default)]
            pub import: Option<Spanned<String>>,
            /// Export filter (default: everything the export rules allow).
            #[serde(default)]
            pub export: Option<Spanned<String>>,
            /// Max prefixes per family.
            #[serde(default)]
            pub max_prefixes: MaxPrefixes,
            /// Families (default both).
            #[serde(default = "default_families")]
            pub families: Spanned<Vec<FamilyName>>,
            /// Description shown by `show protocols all`.
            #[serde(default)]
            pub description: Option<String>,
            /// Start disabled.
            #[serde(default)]
            pub disabled: bool,
            /// Our IPv6 next hop towards this peer (for IPv6 routes over an IPv4 session).
            #[serde(default)]
            pub next_hop_v6: Option<std::net::Ipv6Addr>,
            /// BFD towards this peer: `true` or `{ min_rx, min_tx, idle_tx, multiplier, multihop }`.
            #[serde(default)]
            pub bfd: Option<super::bfd::BfdSetting>,
            /// Our AS towards this peer (BIRD `local as` per protocol; default: `asn`).
            #[serde(default)]
            pub local_asn: Option<u32>,
            /// Accept routes whose AS_PATH holds our AS up to this many times (BIRD
            /// `allow local as [N]`; default 0).
            #[serde(default)]
            pub allow_local_as: u8,
            /// Preference of this peer's routes (BIRD `preference`; default 100).
            #[serde(default)]
            pub preference: Option<u16>,
            /// Seconds from start to the first connection attempt (BIRD `connect delay time`).
            #[serde(default)]
            pub connect_delay_time: Option<u16>,
            /// Seconds between failed connection attempts (BIRD `connect retry time`).
            #[serde(default)]
            pub connect_retry_time: Option<u16>,
            /// Back-off after an error, first and largest, seconds (BIRD `error wait time A,B`).
            #[serde(default)]
            pub error_wait_time: Option<[u16; 2]>,
        }
    };
}

fn default_families() -> Spanned<Vec<FamilyName>> {
    Spanned::new(0..0, vec![FamilyName::Ipv4, FamilyName::Ipv6])
}

peer_settings! {
    /// `[[peers]]`.
    pub struct Peer {
        /// Unique name (`show protocols`).
        pub name: Spanned<String>,
        /// Neighbour address.
        pub address: Spanned<IpAddr>,
        /// Neighbour AS.
        pub asn: Spanned<u32>,
    }
}

peer_settings! {
    /// `[mesh]`: iBGP full mesh with every listed address (our own address is skipped).
    pub struct Mesh {
        /// The nodes' addresses.
        pub peers: Vec<Spanned<IpAddr>>,
        /// Our address in the mesh (Calico's node IP) for the passive rule; default: the
        /// router ID.
        #[serde(default)]
        pub local_address: Option<IpAddr>,
        /// Calico's rule (confd: `passive on` when peerIP > currentNodeIP): towards a peer with a
        /// greater address we are passive, so the side with the greater address connects out.
        /// Compared numerically here (Calico compares strings). Must match the other nodes.
        #[serde(default = "yes")]
        pub calico_passive_rule: bool,
        /// Mesh AS (default: ours).
        #[serde(default)]
        pub asn: Option<u32>,
    }
}

peer_settings! {
    /// `[[peer_ranges]]`: accept sessions from any address in `prefix`.
    pub struct PeerRange {
        /// Name prefix: a neighbour 10.0.0.5 of range `Node` shows as `Node_10_0_0_5`.
        pub name: Spanned<String>,
        /// Accepted addresses.
        pub prefix: Spanned<IpNet>,
        /// Their AS.
        pub asn: Spanned<u32>,
        /// Seconds a neighbour of this range is kept after its session ended and nothing more
        /// is owed to it (a graceful-restart-capable one first keeps its routes as stale until
        /// its restart time ends); then it leaves `show protocols` and the metrics. Default 0.
        #[serde(default)]
        pub forget_after: u32,
    }
}

/// `[route_reflector]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteReflector {
    /// Cluster ID (default: the router ID).
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
    /// Names of peers (or peer ranges) that are clients, besides `rr_client = true` ones.
    #[serde(default)]
    pub clients: Vec<Spanned<String>>,
}

/// `[[policies]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    /// The name peers refer to.
    pub name: Spanned<String>,
    /// Verdict when no term gives one.
    #[serde(default = "default_verdict")]
    pub default: VerdictName,
    /// Terms, in order.
    #[serde(default)]
    pub terms: Vec<TermDef>,
}

fn default_verdict() -> VerdictName {
    VerdictName::Reject
}

/// `accept` / `reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictName {
    /// Accept.
    Accept,
    /// Reject.
    Reject,
}

/// One term: all matches hold → actions, then the verdict (or fall through).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermDef {
    /// Conditions (all must hold; none: always).
    #[serde(default, rename = "match")]
    pub matches: MatchDef,
    /// Modifications.
    #[serde(default)]
    pub actions: ActionsDef,
    /// Stop with this verdict.
    #[serde(default)]
    pub verdict: Option<VerdictName>,
}

/// Conditions, all of which must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// Prefix ranges: `a/b` exact, `a/b+` or-longer, `a/b{m,n}`.
    #[serde(default)]
    pub prefix: Option<Vec<Spanned<String>>>,
    /// Next hop inside one of these subnets.
    #[serde(default)]
    pub next_hop_in: Option<Vec<IpNet>>,
    /// Carries the community `a:b`.
    #[serde(default)]
    pub community: Option<Spanned<String>>,
    /// Carries the large community `a:b:c`.
    #[serde(default)]
    pub large_community: Option<Spanned<String>>,
    /// Neighbouring AS.
    #[serde(default)]
    pub as_path_first: Option<u32>,
    /// AS anywhere in the path.
    #[serde(default)]
    pub as_path_contains: Option<u32>,
    /// AS path length `[min, max]`.
    #[serde(default)]
    pub as_path_len: Option<[u32; 2]>,
    /// Source kinds: `bgp`, `static`, `kernel`, `direct`.
    #[serde(default)]
    pub source: Option<Vec<SourceName>>,
    /// Interface patterns.
    #[serde(default)]
    pub interface: Option<Vec<String>>,
    /// LOCAL_PREF `[min, max]`.
    #[serde(default)]
    pub local_pref: Option<[u32; 2]>,
    /// Kernel metric below.
    #[serde(default)]
    pub krt_metric_below: Option<u32>,
    /// None of these conditions hold (negation of their conjunction).
    #[serde(default)]
    pub not: Option<Box<MatchDef>>,
    /// At least one of these condition sets holds.
    #[serde(default)]
    pub any: Option<Vec<MatchDef>>,
}

/// A route source kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceName {
    /// BGP.
    Bgp,
    /// Static.
    Static,
    /// Kernel.
    Kernel,
    /// Direct.
    Direct,
}

/// Modifications, applied in the order listed here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsDef {
    /// LOCAL_PREF.
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// MED.
    #[serde(default)]
    pub med: Option<u32>,
    /// Communities to add.
    #[serde(default)]
    pub add_communities: Vec<Spanned<String>>,
    /// Communities to remove.
    #[serde(default)]
    pub remove_communities: Vec<Spanned<String>>,
    /// Large communities to add.
    #[serde(default)]
    pub add_large_communities: Vec<Spanned<String>>,
    /// Prepend our AS this many times.
    #[serde(default)]
    pub prepend: Option<u8>,
    /// Set the next hop.
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    /// Kernel tunnel: a device name (`"tunl0"`, installed onlink) or `""` (direct).
    #[serde(default)]
    pub kernel_tunnel: Option<String>,
    /// Kernel metric.
    #[serde(default)]
    pub krt_metric: Option<u32>,
    /// Route preference.
    #[serde(default)]
    pub preference: Option<u16>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Listen address of the Prometheus endpoint.
    pub listen: SocketAddr,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug`, `trace` (or a tracing filter directive).
    #[serde(default = "default_level")]
    pub level: String,
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: default_level(),
            format: LogFormat::Human,
        }
    }
}

fn default_level() -> String {
    "info".into()
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Human,
    /// JSON objects.
    Json,
}

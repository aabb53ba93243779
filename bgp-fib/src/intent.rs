//! DOC: what the daemon asks for before the kernel's facts are known, and those facts. A
//! [`RouteIntent`] names a prefix's next hops as a gateway plus how to reach it ([`Reach`]:
//! as the Calico IP pool says, through a tunnel device, directly) and, for BIRD's `gateway
//! direct` peers, the peer's address to use when the gateway is not on a connected network.
//! [`RoutePolicy`] (part of [`crate::FibConfig`]; the pools change on reload) turns intents
//! into kernel routes; the [`KernelView`] (links, on-link subnets) is what the resolution
//! reads, kept by the `Fib` from the monitor and published for the daemon (`show route`).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::types::TABLE_MAIN;

/// How a next hop's gateway is reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// As the IP pool holding the prefix says ([`PoolMode`]); outside every pool, directly.
    Pool,
    /// `via GW dev DEVICE onlink` (a filter's `krt_tunnel = "DEVICE"`).
    Tunnel(String),
    /// On the interface whose on-link subnet holds the gateway (as BIRD installs it); else
    /// the kernel resolves the device.
    Direct,
}

/// One next hop of a unicast intent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IntentHop {
    /// The BGP (or static) next hop.
    pub gateway: IpAddr,
    pub reach: Reach,
    /// BIRD's `gateway direct` (1.6's `bgp_set_next_hop`): when `gateway` is not on a
    /// connected network, this address (the peer's) is used instead.
    pub peer: Option<IpAddr>,
}

impl IntentHop {
    /// A next hop reached as the pools say.
    pub fn pool(gateway: IpAddr) -> Self {
        IntentHop {
            gateway,
            reach: Reach::Pool,
            peer: None,
        }
    }

    /// A next hop reached directly.
    pub fn direct(gateway: IpAddr) -> Self {
        IntentHop {
            gateway,
            reach: Reach::Direct,
            peer: None,
        }
    }
}

/// What a route does, before resolution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// Forward; several next hops are ECMP (de-duplicated once resolved, capped at
    /// [`RoutePolicy::ecmp_max`]); none installs nothing.
    Unicast(Vec<IntentHop>),
    Blackhole,
    Unreachable,
    Prohibit,
}

/// The route the daemon wants for a prefix, unresolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteIntent {
    pub prefix: IpNet,
    pub kind: IntentKind,
    /// The kernel metric; `None`: [`RoutePolicy::metric`].
    pub metric: Option<u32>,
}

/// What a Calico IP pool does with the unicast routes inside it that reach their next hops
/// [`Reach::Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolMode {
    /// IP-in-IP always: `via NH dev TUNNEL onlink`.
    IpipAlways,
    /// IP-in-IP when the next hop is outside every local on-link subnet; directly on the
    /// interface of that subnet otherwise (re-resolved when such a subnet appears or goes).
    IpipCrossSubnet,
    /// Directly (as [`Reach::Direct`]).
    Direct,
    /// A VXLAN pool: its routes are not programmed at all (Felix does it).
    Vxlan,
}

/// A Calico IP pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub cidr: IpNet,
    pub mode: PoolMode,
}

/// How intents become kernel routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePolicy {
    /// The IP pools; the longest one holding a prefix decides.
    pub pools: Vec<Pool>,
    /// The table of the routes.
    pub table: u32,
    /// The metric of an intent without one.
    pub metric: u32,
    /// At most this many (distinct) next hops per route; at least one is kept.
    pub ecmp_max: usize,
    /// Host-length (/32, /128) blackholes are not installed (Calico: the CNI owns the host
    /// route of a block that small).
    pub skip_host_blackholes: bool,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        RoutePolicy {
            pools: Vec::new(),
            table: TABLE_MAIN,
            metric: 0,
            ecmp_max: 16,
            skip_host_blackholes: false,
        }
    }
}

impl RoutePolicy {
    /// The mode of the longest pool holding `prefix`.
    pub fn pool_mode(&self, prefix: &IpNet) -> Option<PoolMode> {
        self.pools
            .iter()
            .filter(|p| p.cidr.contains(prefix))
            .max_by_key(|p| p.cidr.prefix_len())
            .map(|p| p.mode)
    }
}

/// The kernel's links and local on-link subnets, as the monitor reported them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelView {
    /// Interface names by index.
    pub links: HashMap<u32, String>,
    /// (on-link subnet, interface index, address), in the order they appeared.
    pub subnets: Vec<(IpNet, u32, IpAddr)>,
}

impl KernelView {
    /// The interface whose on-link subnet (the longest, host-length ones excluded) holds `gw`.
    pub fn onlink_iface(&self, gw: IpAddr) -> Option<u32> {
        self.subnets
            .iter()
            .filter(|(n, _, _)| n.contains(&gw) && n.prefix_len() < n.max_prefix_len())
            .max_by_key(|(n, _, _)| n.prefix_len())
            .map(|(_, i, _)| *i)
    }

    /// The name of the interface whose on-link subnet holds `gw`.
    pub fn onlink_name(&self, gw: IpAddr) -> Option<&str> {
        self.onlink_iface(gw)
            .and_then(|i| self.links.get(&i))
            .map(String::as_str)
    }

    /// Whether some address has `subnet` as its on-link subnet.
    pub fn has_subnet(&self, subnet: &IpNet) -> bool {
        self.subnets.iter().any(|(s, _, _)| s == subnet)
    }
}

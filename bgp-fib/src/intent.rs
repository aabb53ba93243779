//! DOC: what the daemon asks for before the kernel's facts are known, and those facts. A
//! [`RouteIntent`] names a prefix's next hops as a gateway plus how to reach it ([`Reach`]:
//! as the Calico IP pool says, through a tunnel device, directly) and, for BIRD's `gateway
//! direct` peers, the peer's address to use when the gateway is not on a connected network.
//! [`RoutePolicy`] (part of [`crate::FibConfig`]; the pools change on reload) turns intents
//! into kernel routes; the [`KernelView`] (links, on-link subnets) is what the resolution
//! reads, kept by the `Fib` from the monitor and published for the daemon (`show route`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use ipnet::IpNet;

use crate::types::TABLE_MAIN;

/// How a next hop's gateway is reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// As the IP pool holding the prefix says ([`PoolMode`]); outside every pool, directly.
    Pool,
    /// `via GW dev DEVICE onlink` (a filter's `krt_tunnel = "DEVICE"`). Shared with the
    /// route's attribute: handing it over allocates nothing.
    Tunnel(Arc<str>),
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

/// The next hops of a unicast intent: one is held inline, several on the heap. Intents are
/// built on the RIB task's thread and dropped on the FIB thread; a heap block per route freed
/// on another thread than the one that allocated it takes that thread's malloc arena lock
/// while it allocates the next intents (1M such frees made the FIB thread wait on the lock).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IntentHops(HopsRepr);

/// One hop is always `One`, so the derived equality is the slices'.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HopsRepr {
    One(IntentHop),
    Many(Box<[IntentHop]>),
}

impl IntentHops {
    /// No next hop (installs nothing).
    pub fn none() -> Self {
        IntentHops(HopsRepr::Many(Box::default()))
    }
}

impl Deref for IntentHops {
    type Target = [IntentHop];

    fn deref(&self) -> &[IntentHop] {
        match &self.0 {
            HopsRepr::One(h) => std::slice::from_ref(h),
            HopsRepr::Many(v) => v,
        }
    }
}

impl From<IntentHop> for IntentHops {
    fn from(h: IntentHop) -> Self {
        IntentHops(HopsRepr::One(h))
    }
}

impl From<Vec<IntentHop>> for IntentHops {
    fn from(mut v: Vec<IntentHop>) -> Self {
        match v.pop() {
            Some(h) if v.is_empty() => IntentHops(HopsRepr::One(h)),
            Some(h) => {
                v.push(h);
                IntentHops(HopsRepr::Many(v.into_boxed_slice()))
            }
            None => IntentHops::none(),
        }
    }
}

impl FromIterator<IntentHop> for IntentHops {
    /// Allocates only for two hops or more.
    fn from_iter<I: IntoIterator<Item = IntentHop>>(iter: I) -> Self {
        let mut it = iter.into_iter();
        let Some(first) = it.next() else {
            return IntentHops::none();
        };
        let Some(second) = it.next() else {
            return IntentHops(HopsRepr::One(first));
        };
        let mut v = vec![first, second];
        v.extend(it);
        IntentHops(HopsRepr::Many(v.into_boxed_slice()))
    }
}

/// What a route does, before resolution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// Forward; several next hops are ECMP (de-duplicated once resolved, capped at
    /// [`RoutePolicy::ecmp_max`]); none installs nothing.
    Unicast(IntentHops),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(s: &str) -> IntentHop {
        IntentHop::pool(s.parse().unwrap())
    }

    #[test]
    fn one_next_hop_is_inline_and_hops_compare_as_slices() {
        let (a, b) = (hop("172.31.0.13"), hop("172.31.0.14"));
        for one in [
            IntentHops::from(vec![a.clone()]),
            IntentHops::from(a.clone()),
            [a.clone()].into_iter().collect(),
        ] {
            assert!(matches!(one.0, HopsRepr::One(_)), "{one:?}");
            assert_eq!(&one[..], std::slice::from_ref(&a));
        }
        let two: IntentHops = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!(two, IntentHops::from(vec![a.clone(), b.clone()]));
        assert_eq!(&two[..], &[a, b][..]);
        let none = IntentHops::from(Vec::new());
        assert_eq!(none, IntentHops::none());
        assert!(none.is_empty() && std::iter::empty().collect::<IntentHops>().is_empty());
    }
}

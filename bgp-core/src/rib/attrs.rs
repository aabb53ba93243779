//! DOC: the attribute set a route carries in the RIB ([`RouteAttrs`]: BGP path attributes, next
//! hop and local metadata) and the interner that makes identical sets share one allocation.
//!
//! A full table has a million prefixes but only thousands of distinct attribute sets, so every
//! path stores a 4-octet [`AttrId`] into the [`Interner`]'s arena. Sets are reference counted and
//! freed when the last path using them goes. The interner also caches, per set, what the daemon
//! said about the next hop (reachable, IGP cost), so the decision process never hashes an
//! address.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;

use super::prefix::FastMap;
use crate::wire::{NextHop, PathAttributes};

/// Where a route came from (BIRD's `source`: `RTS_BGP`, `RTS_STATIC`, `RTS_INHERIT`, `RTS_DEVICE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SourceKind {
    /// Learned from a BGP peer.
    Bgp,
    /// A configured static route (including blackhole blocks).
    Static,
    /// Learned from the kernel routing table (`learn`).
    Kernel,
    /// A directly connected subnet of an interface.
    Direct,
}

impl SourceKind {
    /// BIRD's default protocol preference: direct 240, static 200, BGP 100, kernel 10.
    pub fn default_preference(self) -> u16 {
        match self {
            SourceKind::Direct => 240,
            SourceKind::Static => 200,
            SourceKind::Bgp => 100,
            SourceKind::Kernel => 10,
        }
    }
}

/// What kind of forwarding a route asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum RouteType {
    /// Forward via the next hop(s).
    #[default]
    Unicast,
    /// Drop silently (Calico's IPAM block routes).
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP administratively prohibited (BIRD's `prohibit`).
    Prohibit,
}

/// How the kernel should reach a route's next hop (Calico's `krt_tunnel`). As text (TOML):
/// `""` for [`KernelTunnel::Direct`], the device name otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "String", into = "String")
)]
pub enum KernelTunnel {
    /// `krt_tunnel = ""`: install directly on the interface of the next hop.
    Direct,
    /// `krt_tunnel = "tunl0"`: install `via NH dev <name> onlink`.
    Dev(Arc<str>),
}

impl From<String> for KernelTunnel {
    fn from(s: String) -> Self {
        if s.is_empty() {
            KernelTunnel::Direct
        } else {
            KernelTunnel::Dev(Arc::from(s))
        }
    }
}

impl From<KernelTunnel> for String {
    fn from(t: KernelTunnel) -> String {
        match t {
            KernelTunnel::Direct => String::new(),
            KernelTunnel::Dev(d) => d.to_string(),
        }
    }
}

/// One next hop of a learned multipath kernel route: gateway, interface.
pub type KernelNextHop = (IpAddr, Option<Arc<str>>);

/// Route metadata that is not a BGP attribute: never sent to peers, visible to policy and to the
/// FIB.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RouteMeta {
    /// Forwarding type.
    pub route_type: RouteType,
    /// Interface of a local (kernel, direct, static `dev`) route: BIRD's `ifname`.
    pub ifname: Option<Arc<str>>,
    /// Kernel metric of a learned kernel route, or one set by policy (BIRD's `krt_metric`).
    pub krt_metric: Option<u32>,
    /// Kernel protocol (`rtm_protocol`) of a learned kernel route (BIRD's `krt_source`).
    pub krt_source: Option<u8>,
    /// Every next hop of a learned multipath kernel route (gateway, interface): BIRD's
    /// `multipath` route. `None` for a route with one.
    pub multipath: Option<Arc<[KernelNextHop]>>,
    /// Tunnel decision for the kernel, set by policy (BIRD's `krt_tunnel`).
    pub tunnel: Option<KernelTunnel>,
    /// Route preference overriding the source's (BIRD's `preference`), set by policy.
    pub preference: Option<u16>,
}

/// One attribute set as the RIB stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RouteAttrs {
    /// The BGP path attributes. `attrs.next_hop` is always `None` here: the next hop, of any
    /// family, is [`RouteAttrs::next_hop`].
    pub attrs: PathAttributes,
    /// The next hop; `None` for routes without one (blackholes, direct routes).
    pub next_hop: Option<NextHop>,
    /// Local metadata.
    pub meta: RouteMeta,
}

impl RouteAttrs {
    /// The address to resolve for the decision process and the FIB: the IPv4 next hop or the
    /// global IPv6 one.
    pub fn next_hop_addr(&self) -> Option<IpAddr> {
        match &self.next_hop {
            Some(NextHop::V4(a)) => Some(IpAddr::V4(*a)),
            Some(NextHop::V6 { global, .. }) => Some(IpAddr::V6(*global)),
            _ => None,
        }
    }

    /// A copy that does not share memory with any received message: unknown attributes and
    /// opaque next hops are `Bytes` slices of the UPDATE they came in, and an interned copy must
    /// not pin that buffer.
    pub(crate) fn detached(&self) -> RouteAttrs {
        let mut c = self.clone();
        for u in &mut c.attrs.unknown {
            u.value = Bytes::copy_from_slice(&u.value);
        }
        if let Some(NextHop::Opaque(b)) = &mut c.next_hop {
            *b = Bytes::copy_from_slice(b);
        }
        c
    }
}

/// What the daemon says about a next hop: the answer of the resolver hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NhState {
    /// Whether the next hop is resolvable (RFC 4271 §9.1.2: unresolvable routes are excluded).
    pub reachable: bool,
    /// The IGP cost to it (RFC 4271 §9.1.2.2 e).
    pub igp_cost: u32,
}

impl Default for NhState {
    /// On-link and free: the common case for Calico nodes.
    fn default() -> Self {
        NhState {
            reachable: true,
            igp_cost: 0,
        }
    }
}

/// The index of an interned attribute set.
pub type AttrId = u32;

/// The values of one attribute set the decision process compares, computed once when the set
/// is interned so that comparing paths touches one small record per path.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionAttrs {
    /// AS_PATH length for the decision (RFC 4271 §9.1.2.2 a).
    pub as_len: u32,
    /// First AS of the path, if any.
    pub first_as: Option<u32>,
    /// ORIGIN code.
    pub origin: u8,
    /// MED, 0 when absent.
    pub med: u32,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// CLUSTER_LIST length.
    pub cluster_len: u32,
    /// ORIGINATOR_ID.
    pub originator: Option<Ipv4Addr>,
    /// Whether the set has a next hop.
    pub has_next_hop: bool,
    /// Route preference set by policy.
    pub preference: Option<u16>,
}

impl DecisionAttrs {
    fn of(a: &RouteAttrs) -> Self {
        let p = &a.attrs;
        DecisionAttrs {
            as_len: p.as_path.as_ref().map_or(0, |x| x.decision_len()) as u32,
            first_as: p.as_path.as_ref().and_then(|x| x.first_as()),
            origin: p.origin.map_or(0, |o| o.code()),
            med: p.med.unwrap_or(0),
            local_pref: p.local_pref,
            cluster_len: p.cluster_list.len() as u32,
            originator: p.originator_id,
            has_next_hop: a.next_hop.is_some(),
            preference: a.meta.preference,
        }
    }
}

struct Slot {
    attrs: Option<Arc<RouteAttrs>>,
    refs: u32,
    nh: NhState,
    dec: DecisionAttrs,
}

/// Reference-counted arena of distinct [`RouteAttrs`].
#[derive(Default)]
pub struct Interner {
    slots: Vec<Slot>,
    free: Vec<u32>,
    map: FastMap<Arc<RouteAttrs>, u32>,
}

impl Interner {
    /// Interns `a` and takes one reference on it. `nh` is the state of its next hop, used only
    /// when the set is new.
    pub fn intern(&mut self, a: &RouteAttrs, nh: NhState) -> AttrId {
        if let Some(&id) = self.map.get(a) {
            self.incref(id);
            return id;
        }
        let arc = Arc::new(a.detached());
        let slot = Slot {
            dec: DecisionAttrs::of(&arc),
            attrs: Some(arc.clone()),
            refs: 1,
            nh,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(arc, id);
        id
    }

    /// Takes one more reference on `id`.
    #[inline]
    pub fn incref(&mut self, id: AttrId) {
        if let Some(s) = self.slots.get_mut(id as usize) {
            s.refs += 1;
        }
    }

    /// Drops one reference on `id`, freeing the set with the last one.
    #[inline]
    pub fn decref(&mut self, id: AttrId) {
        let Some(s) = self.slots.get_mut(id as usize) else {
            return;
        };
        if s.refs == 0 {
            // Already free: never put a slot on the free list twice.
            debug_assert!(false, "attribute set {id} released more often than taken");
            return;
        }
        s.refs -= 1;
        if s.refs == 0 {
            if let Some(a) = s.attrs.take() {
                self.map.remove(&*a);
            }
            self.free.push(id);
        }
    }

    /// The set `id` (an empty set if `id` is not live, which the RIB never asks for).
    #[inline]
    pub fn get(&self, id: AttrId) -> &RouteAttrs {
        static EMPTY: std::sync::OnceLock<RouteAttrs> = std::sync::OnceLock::new();
        match self.slots.get(id as usize).and_then(|s| s.attrs.as_deref()) {
            Some(a) => a,
            None => EMPTY.get_or_init(RouteAttrs::default),
        }
    }

    /// The shared allocation of set `id`.
    pub fn get_arc(&self, id: AttrId) -> Option<Arc<RouteAttrs>> {
        self.slots.get(id as usize).and_then(|s| s.attrs.clone())
    }

    /// The decision values and next-hop state of set `id`.
    #[inline]
    pub fn decision(&self, id: AttrId) -> (DecisionAttrs, NhState) {
        self.slots
            .get(id as usize)
            .map(|s| (s.dec, s.nh))
            .unwrap_or_default()
    }

    /// The cached next-hop state of set `id`.
    #[inline]
    pub fn nh(&self, id: AttrId) -> NhState {
        self.slots
            .get(id as usize)
            .map(|s| s.nh)
            .unwrap_or_default()
    }

    /// Updates the cached state of every set whose next hop is `addr`; returns the ids whose
    /// state changed.
    pub fn set_nh(&mut self, addr: IpAddr, st: NhState) -> Vec<AttrId> {
        let mut changed = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(a) = &s.attrs {
                if a.next_hop_addr() == Some(addr) && s.nh != st {
                    s.nh = st;
                    changed.push(i as AttrId);
                }
            }
        }
        changed
    }

    /// Number of live sets.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no set is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The distinct next-hop addresses of live sets.
    pub fn next_hops(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .slots
            .iter()
            .filter_map(|s| s.attrs.as_ref().and_then(|a| a.next_hop_addr()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::RawAttribute;

    #[test]
    fn identical_sets_share_and_free() {
        let mut i = Interner::default();
        let mut a = RouteAttrs::default();
        a.attrs.med = Some(5);
        let x = i.intern(&a, NhState::default());
        let y = i.intern(&a.clone(), NhState::default());
        assert_eq!(x, y);
        assert_eq!(i.len(), 1);
        a.attrs.med = Some(6);
        let z = i.intern(&a, NhState::default());
        assert_ne!(x, z);
        i.decref(x);
        assert_eq!(i.len(), 2);
        i.decref(x);
        assert_eq!(i.len(), 1);
        // The freed slot is reused.
        a.attrs.med = Some(7);
        assert_eq!(i.intern(&a, NhState::default()), x);
    }

    #[test]
    fn interned_copy_does_not_pin_the_message() {
        let msg = Bytes::from(vec![1u8, 2, 3, 4, 5, 6, 7, 8]);
        let mut a = RouteAttrs::default();
        a.attrs.unknown.push(RawAttribute {
            flags: 0xc0,
            code: 99,
            value: msg.slice(2..4),
        });
        let mut i = Interner::default();
        let id = i.intern(&a, NhState::default());
        let stored = i.get(id).attrs.unknown[0].value.clone();
        assert_eq!(&stored[..], &[3, 4]);
        assert_ne!(stored.as_ptr(), msg.slice(2..4).as_ptr());
    }
}

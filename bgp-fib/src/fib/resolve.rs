//! DOC: intents to kernel targets. Every desired route is stored as an interned [`Intent`]
//! (a plain route's next hops fixed, a [`RouteIntent`]'s with how to reach them: the tunnel,
//! cross-subnet, directly, the `gateway direct` peer), shared by the routes that want the same
//! thing, with its [`Target`] resolved against the kernel view. When an on-link subnet appears
//! or goes, the intents whose gateways it holds are resolved again and the routes whose target
//! changed are queued, from the `Fib`'s own state: no walk of the daemon's RIB.

use super::*;
use crate::intent::{IntentHop, IntentKind, KernelView, PoolMode, Reach, RouteIntent};

/// How a stored next hop reaches its gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Via {
    /// As given (a plain [`FibRoute`]).
    Fixed(Dev, bool),
    /// `dev NAME onlink` (interned name).
    Tunnel(u32),
    /// On the interface of the on-link subnet holding the gateway, else through the tunnel.
    CrossSubnet(u32),
    /// On the interface of the on-link subnet holding the gateway, else the kernel decides.
    Direct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Hop {
    gateway: IpAddr,
    /// `gateway direct`: used instead of `gateway` when that is not on-link.
    peer: Option<IpAddr>,
    via: Via,
    weight: u16,
}

/// A desired route before the kernel view is applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Intent {
    Blackhole,
    Unreachable,
    Prohibit,
    One(Hop),
    /// Several next hops; the `u16` caps them after de-duplication (0: as given).
    Many(Box<[Hop]>, u16),
}

impl Intent {
    /// Whether its target may change when `subnet` appears or goes.
    fn depends_on(&self, subnet: &IpNet) -> bool {
        let hop = |h: &Hop| {
            (h.peer.is_some() || matches!(h.via, Via::CrossSubnet(_) | Via::Direct))
                && (subnet.contains(&h.gateway) || h.peer.is_some_and(|p| subnet.contains(&p)))
        };
        match self {
            Intent::One(h) => hop(h),
            Intent::Many(hs, _) => hs.iter().any(hop),
            _ => false,
        }
    }
}

fn resolve_hop(view: &KernelView, h: &Hop) -> Nh {
    let gateway = match h.peer {
        Some(p) => view.direct_gateway_of(h.gateway, p),
        None => h.gateway,
    };
    let direct = |gw| view.onlink_iface(gw).map_or(Dev::Any, Dev::Index);
    let (dev, onlink) = match h.via {
        Via::Fixed(dev, onlink) => (dev, onlink),
        Via::Tunnel(name) => (Dev::Name(name), true),
        Via::CrossSubnet(tunnel) => match view.onlink_iface(gateway) {
            Some(i) => (Dev::Index(i), false),
            None => (Dev::Name(tunnel), true),
        },
        Via::Direct => (direct(gateway), false),
    };
    Nh {
        gateway,
        dev,
        onlink,
        weight: h.weight,
    }
}

/// The kernel target of an intent under the view.
pub(super) fn resolve_intent(view: &KernelView, i: &Intent) -> Target {
    match i {
        Intent::Blackhole => Target::Blackhole,
        Intent::Unreachable => Target::Unreachable,
        Intent::Prohibit => Target::Prohibit,
        Intent::One(h) => Target::One(resolve_hop(view, h)),
        Intent::Many(hs, 0) => Target::Many(hs.iter().map(|h| resolve_hop(view, h)).collect()),
        Intent::Many(hs, max) => {
            // Paths via several reflectors share a next hop: one kernel next hop each.
            let mut v: Vec<Nh> = Vec::with_capacity(hs.len());
            for nh in hs.iter().map(|h| resolve_hop(view, h)) {
                if v.len() < usize::from(*max)
                    && !v.iter().any(|x| x.gateway == nh.gateway && x.dev == nh.dev)
                {
                    v.push(nh);
                }
            }
            match <[Nh; 1]>::try_from(v) {
                Ok([one]) => Target::One(one),
                Err(v) => Target::Many(v.into_boxed_slice()),
            }
        }
    }
}

impl Fib {
    /// The target of a desired entry.
    pub(super) fn target_of(&self, e: &Entry) -> Option<&Target> {
        self.resolved.get(e.target() as usize)
    }

    /// The id of `intent` with one more reference; a new one is resolved now.
    pub(super) fn acquire_intent(&mut self, intent: Intent) -> u32 {
        let (id, new) = self.intents.acquire(intent);
        if new {
            let t = self
                .intents
                .get(id)
                .map_or(Target::Unreachable, |i| resolve_intent(&self.view, i));
            match self.resolved.get_mut(id as usize) {
                Some(slot) => *slot = t,
                None => {
                    self.resolved.resize(id as usize, Target::Unreachable);
                    self.resolved.push(t);
                }
            }
        }
        id
    }

    /// A plain route's intent: its next hops as given.
    pub(super) fn fixed_intent(&mut self, kind: &RouteKind) -> Intent {
        let mut hop = |n: &NextHop| {
            let c = self.compact_nh(n);
            Hop {
                gateway: c.gateway,
                peer: None,
                via: Via::Fixed(c.dev, c.onlink),
                weight: c.weight,
            }
        };
        match kind {
            RouteKind::Blackhole => Intent::Blackhole,
            RouteKind::Unreachable => Intent::Unreachable,
            RouteKind::Prohibit => Intent::Prohibit,
            RouteKind::Unicast(nhs) => match nhs.as_slice() {
                [] => Intent::Unreachable,
                [one] => Intent::One(hop(one)),
                many => Intent::Many(many.iter().map(hop).collect(), 0),
            },
        }
    }

    fn tunnel_id(&mut self) -> u32 {
        match self.tunnel_id {
            Some(id) => id,
            None => {
                let name = self.cfg.tunnel_device.clone();
                let id = self.intern(&name);
                self.tunnel_id = Some(id);
                id
            }
        }
    }

    /// The stored form of a daemon's intent, or `None` when no route is wanted.
    pub(super) fn stored_intent(&mut self, ri: &RouteIntent) -> Option<Intent> {
        let p = &self.cfg.routes;
        Some(match &ri.kind {
            IntentKind::Blackhole => {
                if p.skip_host_blackholes && ri.prefix.prefix_len() == ri.prefix.max_prefix_len() {
                    return None;
                }
                Intent::Blackhole
            }
            IntentKind::Unreachable => Intent::Unreachable,
            IntentKind::Prohibit => Intent::Prohibit,
            IntentKind::Unicast(hops) => {
                let mode = p.pool_mode(&ri.prefix).unwrap_or(PoolMode::Direct);
                if mode == PoolMode::Vxlan || hops.is_empty() {
                    return None;
                }
                let max = p.ecmp_max.clamp(1, usize::from(u16::MAX)) as u16;
                let mut hop = |h: &IntentHop| Hop {
                    gateway: h.gateway,
                    peer: h.peer,
                    via: match &h.reach {
                        Reach::Tunnel(name) => Via::Tunnel(self.intern(name)),
                        Reach::Direct => Via::Direct,
                        Reach::Pool => match mode {
                            PoolMode::IpipAlways => Via::Tunnel(self.tunnel_id()),
                            PoolMode::IpipCrossSubnet => Via::CrossSubnet(self.tunnel_id()),
                            PoolMode::Direct | PoolMode::Vxlan => Via::Direct,
                        },
                    },
                    weight: 1,
                };
                // One hop (nearly every route) allocates nothing.
                match &hops[..] {
                    [one] => Intent::One(hop(one)),
                    many => Intent::Many(many.iter().map(hop).collect(), max),
                }
            }
        })
    }

    /// [`FibChange::Intent`].
    pub(super) fn apply_intent(&mut self, ri: RouteIntent) {
        let table = self.cfg.routes.table;
        let metric = ri.metric.unwrap_or(self.cfg.routes.metric);
        match self.stored_intent(&ri) {
            Some(intent) => {
                self.remove_other_metrics(table, ri.prefix, Some(metric));
                let key = RouteKey::new(table, ri.prefix, metric);
                self.upsert_intent(key, intent);
            }
            None => self.remove_other_metrics(table, ri.prefix, None),
        }
    }

    /// The pools changed (a reload): routes handed over from now on use the new ones.
    pub fn set_pools(&mut self, pools: Vec<crate::intent::Pool>) {
        self.cfg.routes.pools = pools;
    }

    /// What the monitor says about links and on-link subnets (what intents resolve against).
    pub fn kernel_view(&self) -> &KernelView {
        &self.view
    }

    /// The view, when it changed since the last call (for publishing it).
    pub fn take_view_update(&mut self) -> Option<&KernelView> {
        std::mem::take(&mut self.view_changed).then_some(&self.view)
    }

    /// A subnet appeared or went: the intents whose gateways it holds are resolved again, and
    /// the desired routes whose target changed are queued (one pass over the desired map, only
    /// when some target changed).
    pub(super) fn onlink_changed(&mut self, subnet: IpNet) {
        let mut changed = FxSet::default();
        // Intents whose nexthop object follows the change in place: their routes that use
        // it need no message of their own.
        let mut followed = FxSet::default();
        let ids: Vec<u32> = self
            .intents
            .iter()
            .filter(|(_, i)| i.depends_on(&subnet))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            let Some(t) = self.intents.get(id).map(|i| resolve_intent(&self.view, i)) else {
                continue;
            };
            if let Some(slot) = self.resolved.get_mut(id as usize) {
                if *slot != t {
                    let old = std::mem::replace(slot, t);
                    changed.insert(id);
                    if self.object_follows(id, &old) {
                        followed.insert(id);
                    }
                }
            }
        }
        if changed.is_empty() {
            return;
        }
        let mut n = 0;
        let uses: FxSet<(bool, u32)> = followed
            .iter()
            .flat_map(|id| [(true, *id), (false, *id)])
            .filter(|(v4, id)| self.uses_object(*v4, *id))
            .collect();
        for (pk, e) in self.desired.iter_mut() {
            if !e.doomed()
                && changed.contains(&e.target())
                && !uses.contains(&(matches!(pk, Packed::V4(_)), e.target()))
            {
                n += 1;
                if !e.queued() {
                    e.set_queued(true);
                    self.queue.push_back(pk);
                }
            }
        }
        // Tagged mode: the routes without an entry cannot be found here; unless every changed
        // intent's object follows for both families, they are handed over again.
        let all_follow = changed.iter().all(|id| {
            followed.contains(id) && uses.contains(&(true, *id)) && uses.contains(&(false, *id))
        });
        if self.tags.on && !all_follow {
            self.resync();
        }
        tracing::info!(
            %subnet,
            routes = n,
            objects = followed.len(),
            "on-link subnets changed: kernel routes resolved again"
        );
    }
}

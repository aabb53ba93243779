//! DOC: `show route` over the RIB: the walk (bgp-core's prefix cursor, a page of prefixes per
//! scan, their routes turned into entries a few hundred prefixes per look at the table), the
//! next hop as BIRD shows it (resolved against the kernel view and the local routes), and the
//! [`RouteEntry`] of each route. No IO and no locks of its own: the caller hands the RIB over
//! through `lock`, called once per scan and once per chunk of prefixes, so it can let go of
//! the table in between.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Deref;
use std::time::SystemTime;

use bgp_core::rib::{Rib, RouteInfo, RouteType, SourceId, SourceKind};
use bgp_core::wire::{AsPath, Family, Origin, SegmentKind};
use bgp_fib::KernelView;
use ipnet::IpNet;

use crate::status::{
    BgpRouteAttrs, IpFamily, RouteDest, RouteEntry, RouteQuery, IGP_METRIC_UNKNOWN,
    IGP_METRIC_UNRESOLVED,
};

/// Prefixes `show route` takes from the RIB's cursor per scan of the table (one lock).
pub const KEYS_PER_SCAN: usize = 4096;
/// Prefixes whose routes become entries under one lock of the RIB.
pub const PREFIXES_PER_LOCK: usize = 256;

/// What the entries are built with besides the RIB.
#[derive(Debug, Clone)]
pub struct RouteContext {
    /// The FIB thread's view of links and on-link subnets.
    pub kernel: std::sync::Arc<KernelView>,
    /// Networks whose install the kernel refused (BIRD 1.6 prints their primary route `!`).
    pub refused: HashSet<IpNet>,
    /// Whether the daemon programs the kernel (without, it knows no interfaces).
    pub fib_enabled: bool,
    /// Since when the routes are shown (the daemon's start).
    pub since: SystemTime,
}

impl Default for RouteContext {
    fn default() -> Self {
        RouteContext {
            kernel: std::sync::Arc::default(),
            refused: HashSet::new(),
            fib_enabled: false,
            since: SystemTime::UNIX_EPOCH,
        }
    }
}

/// The routes `q` asks for. One prefix under one `lock`; the whole table through bgp-core's
/// prefix cursor, a page of [`KEYS_PER_SCAN`] prefixes chosen under one `lock` and their
/// routes turned into entries [`PREFIXES_PER_LOCK`] prefixes per `lock`, so whoever else
/// uses the RIB never waits for a walk of the table (nor does the walk hold a copy of it).
pub fn walk<G: Deref<Target = Rib>>(
    q: &RouteQuery,
    cx: &RouteContext,
    mut lock: impl FnMut() -> G,
) -> Vec<RouteEntry> {
    let in_view = |p: &IpNet| q.family.is_none_or(|f| f == IpFamily::of_net(p));
    let mut walk = Walk {
        q,
        cx,
        skip: q.offset,
        out: Vec::new(),
    };
    let mut after = None;
    if let Some((last, shown)) = q.resume {
        // The rest of the last network shown, then the networks after it.
        walk.skip = shown;
        if in_view(&last) && q.prefix.is_none_or(|p| p.trunc() == last) {
            let rib = lock();
            if walk.add_routes(&mut Resolver::new(&rib, cx), last) {
                return walk.out;
            }
        }
        walk.skip = 0;
        after = Some(last);
    }
    if let Some(p) = q.prefix {
        let p = p.trunc();
        if in_view(&p) && after.is_none() {
            let rib = lock();
            walk.add_routes(&mut Resolver::new(&rib, cx), p);
        }
        return walk.out;
    }
    let families = [
        (IpFamily::Ipv4, Family::IPV4_UNICAST),
        (IpFamily::Ipv6, Family::IPV6_UNICAST),
    ];
    for (_, fam) in families
        .into_iter()
        .filter(|(f, _)| q.family.is_none_or(|v| v == *f))
    {
        loop {
            let keys = lock().prefixes_after(fam, after.as_ref(), KEYS_PER_SCAN);
            for chunk in keys.chunks(PREFIXES_PER_LOCK) {
                let rib = lock();
                let mut res = Resolver::new(&rib, cx);
                for p in chunk {
                    if walk.add_routes(&mut res, *p) {
                        return walk.out;
                    }
                }
            }
            if keys.len() < KEYS_PER_SCAN {
                break;
            }
            after = keys.last().copied();
        }
    }
    walk.out
}

/// One walk in progress: the query, what is still to skip, what is found.
struct Walk<'a> {
    q: &'a RouteQuery,
    cx: &'a RouteContext,
    skip: usize,
    out: Vec<RouteEntry>,
}

impl Walk<'_> {
    /// Adds `p`'s routes that match the query; `true` once its limit is reached.
    fn add_routes(&mut self, res: &mut Resolver<'_>, p: IpNet) -> bool {
        for (i, r) in res.rib.routes(&p).iter().enumerate() {
            let primary = i == 0 && r.selected;
            if self.q.primary_only && !primary {
                continue;
            }
            let mut e = entry(res, p, r, primary);
            e.sync_error = primary && self.cx.refused.contains(&p);
            if self.q.protocol.as_ref().is_some_and(|n| *n != e.protocol) {
                continue;
            }
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            self.out.push(e);
            if self.q.limit > 0 && self.out.len() >= self.q.limit {
                return true;
            }
        }
        false
    }
}

fn as_path_text(p: &AsPath) -> String {
    p.segments()
        .map(|s| {
            let asns: Vec<String> = s.asns.iter().map(u32::to_string).collect();
            match s.kind {
                SegmentKind::Sequence | SegmentKind::ConfedSequence => asns.join(" "),
                _ => format!("{{{}}}", asns.join(",")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a next hop is reached, as BIRD's recursive resolution (`rt_update_hostentry`) finds
/// it: the gateway packets go to, the interface, and the IGP metric shown after the preference.
#[derive(Debug, Clone)]
struct Resolved {
    gw: IpAddr,
    iface: String,
    metric: u32,
}

/// Resolves next hops against the kernel view and the RIB's local routes, caching per next
/// hop for one look at the table (a page of `show route` has few distinct next hops).
struct Resolver<'a> {
    rib: &'a Rib,
    cx: &'a RouteContext,
    cache: HashMap<IpAddr, Option<Resolved>>,
}

impl<'a> Resolver<'a> {
    fn new(rib: &'a Rib, cx: &'a RouteContext) -> Self {
        Resolver {
            rib,
            cx,
            cache: HashMap::new(),
        }
    }

    /// BIRD 1.6's `gateway direct` (`bgp_set_next_hop`): a next hop on a connected network
    /// is the gateway, any other is replaced by the neighbor's address (bgp-fib's
    /// `KernelView::direct_gateway`); `None` for a source in recursive mode.
    fn direct(&self, src: SourceId, nh: IpAddr) -> Option<Option<Resolved>> {
        let peer = (self.rib.peer_config(src))
            .filter(|c| c.gateway_direct)
            .map(|c| c.address)?;
        Some(
            self.cx
                .kernel
                .direct_gateway(nh, peer)
                .map(|(gw, name)| Resolved {
                    gw,
                    iface: name.to_string(),
                    metric: 0,
                }),
        )
    }

    /// An on-link subnet containing `nh` gives `via NH on IFACE` (metric 0, BIRD's device
    /// route); else the longest local route (kernel, direct, static) covering it: a device
    /// route gives `via NH on ITS IFACE`, a route with a gateway `via ITS GW on ITS IFACE`
    /// (metric unknown). BGP routes never resolve other BGP routes (BIRD refuses recursive
    /// resolution through a recursive route).
    fn resolve(&mut self, nh: IpAddr) -> Option<Resolved> {
        if let Some(r) = self.cache.get(&nh) {
            return r.clone();
        }
        let r = self.lookup(nh);
        self.cache.insert(nh, r.clone());
        r
    }

    fn lookup(&self, nh: IpAddr) -> Option<Resolved> {
        let view = &self.cx.kernel;
        if let Some(name) = view.onlink_name(nh) {
            return Some(Resolved {
                gw: nh,
                iface: name.to_string(),
                metric: 0,
            });
        }
        let max = match nh {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        for len in (0..=max).rev() {
            let Ok(net) = IpNet::new(nh, len).map(|n| n.trunc()) else {
                continue;
            };
            let Some(best) = self.rib.best(&net) else {
                continue;
            };
            if best.source_kind == SourceKind::Bgp {
                return None;
            }
            let a = &best.attrs;
            if a.meta.route_type != RouteType::Unicast {
                return None;
            }
            let iface = a.meta.ifname.as_deref().map(str::to_string).or_else(|| {
                a.next_hop_addr()
                    .and_then(|g| view.onlink_name(g))
                    .map(str::to_string)
            })?;
            return Some(match a.next_hop_addr() {
                Some(gw) => Resolved {
                    gw,
                    iface,
                    metric: IGP_METRIC_UNKNOWN,
                },
                None => Resolved {
                    gw: nh,
                    iface,
                    metric: 0,
                },
            });
        }
        None
    }
}

/// The entry of route `r` of `prefix` (`primary`: the first selected route of its network).
fn entry(res: &mut Resolver<'_>, prefix: IpNet, r: &RouteInfo, primary: bool) -> RouteEntry {
    let a = &r.attrs;
    let is_bgp = r.source_kind == SourceKind::Bgp;
    let mut igp_metric = None;
    let mut gateway = None;
    let dest = match a.meta.route_type {
        RouteType::Blackhole => RouteDest::Blackhole,
        RouteType::Unreachable => RouteDest::Unreachable,
        RouteType::Prohibit => RouteDest::Prohibit,
        // A learned multipath kernel route: BIRD's `multipath` with a line per next hop.
        RouteType::Unicast if !is_bgp && a.meta.multipath.is_some() => RouteDest::Via {
            nexthops: a
                .meta
                .multipath
                .iter()
                .flat_map(|m| m.iter())
                .map(|(g, i)| (*g, i.as_deref().map(str::to_string)))
                .collect(),
        },
        RouteType::Unicast => match (a.next_hop_addr(), a.meta.ifname.as_deref()) {
            // A local route that knows its interface (kernel-learned, static `dev`).
            (Some(nh), Some(ifname)) if !is_bgp => {
                gateway = Some(nh);
                RouteDest::Via {
                    nexthops: vec![(nh, Some(ifname.to_string()))],
                }
            }
            (Some(nh), _) => match res.direct(r.source, nh).unwrap_or_else(|| res.resolve(nh)) {
                Some(x) => {
                    if is_bgp {
                        igp_metric = Some(x.metric);
                    }
                    // Static routes name their gateway; BGP routes show the resolved one.
                    let gw = if is_bgp { x.gw } else { nh };
                    gateway = Some(gw);
                    RouteDest::Via {
                        nexthops: vec![(gw, Some(x.iface))],
                    }
                }
                // Without the kernel (no FIB) the daemon knows no interfaces: the next hop
                // as it is.
                None if !res.cx.fib_enabled => {
                    gateway = Some(nh);
                    RouteDest::Via {
                        nexthops: vec![(nh, None)],
                    }
                }
                // BIRD: a next hop no route resolves makes the route unreachable.
                None => {
                    if is_bgp {
                        igp_metric = Some(IGP_METRIC_UNRESOLVED);
                    }
                    RouteDest::Unreachable
                }
            },
            (None, ifname) => RouteDest::Dev {
                iface: ifname.unwrap_or("?").to_string(),
            },
        },
    };
    let rib = res.rib;
    let bgp = is_bgp.then(|| {
        let pa = &a.attrs;
        BgpRouteAttrs {
            origin: match pa.origin.unwrap_or_default() {
                Origin::Igp => "IGP",
                Origin::Egp => "EGP",
                Origin::Incomplete => "Incomplete",
            }
            .into(),
            as_path: pa.as_path.as_ref().map(as_path_text).unwrap_or_default(),
            next_hop: a.next_hop_addr(),
            med: pa.med,
            local_pref: pa.local_pref,
            communities: pa
                .communities
                .iter()
                .map(|c| (c.asn(), c.value()))
                .collect(),
            large_communities: pa
                .large_communities
                .iter()
                .map(|c| (c.global, c.local1, c.local2))
                .collect(),
            originator_id: pa.originator_id,
            cluster_list: pa.cluster_list.clone(),
        }
    });
    // BIRD: ` from NEIGHBOR` when the neighbour is not the gateway shown.
    let from = rib
        .peer_config(r.source)
        .map(|p| p.address)
        .filter(|addr| Some(*addr) != gateway);
    RouteEntry {
        prefix,
        dest,
        protocol: rib.source_name(r.source),
        since: res.cx.since,
        from,
        primary,
        preference: a
            .meta
            .preference
            .unwrap_or(r.source_kind.default_preference()),
        igp_metric,
        bgp,
        stale: r.stale,
        sync_error: false,
        krt: a
            .meta
            .krt_source
            .map(|s| (s, a.meta.krt_metric.unwrap_or(0))),
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;

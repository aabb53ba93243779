//! Read-only queries: the paths of a prefix, a source's routes, prefix lists, counters and a
//! peer's Adj-RIB-Out.

use std::collections::BinaryHeap;
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::RouteAttrs;
use super::out_state::tag_src;
use super::prefix::Key;
use super::shared::Shared;
use super::table::{Table, STALE};
use super::{family_of, K_from, Rib, RouteInfo, SourceCounts, SourceId, TableCounts};
use crate::wire::Family;

pub(super) fn route_info<K: Key>(t: &Table<K>, sh: &Shared, key: &K) -> Vec<RouteInfo> {
    t.with_paths(key, |ps| {
        ps.iter()
            .filter_map(|p| {
                let s = sh.sources.get(usize::from(p.src))?;
                Some(RouteInfo {
                    source: SourceId(p.src),
                    source_kind: s.kind,
                    path_id: p.pid,
                    attrs: sh.interner.get_arc(p.attr)?,
                    selected: p.selected(),
                    stale: p.flags & STALE != 0,
                })
            })
            .collect()
    })
}

impl Rib {
    /// The paths `peer` (or a local source) has in its Adj-RIB-In (post-policy) for `family`,
    /// by prefix, found through its log rather than a table scan when it has a small share of
    /// the table.
    pub fn source_routes(&self, peer: SourceId, family: Family) -> Vec<(IpNet, RouteInfo)> {
        fn get<K: Key>(t: &Table<K>, sh: &Shared, src: u16) -> Vec<(IpNet, RouteInfo)> {
            t.source_keys(src)
                .iter()
                .flat_map(|k| {
                    route_info(t, sh, k)
                        .into_iter()
                        .filter(|r| r.source.0 == src)
                        .map(move |r| (k.to_net(), r))
                })
                .collect()
        }
        with_table!(ref self, family, |t, sh| get(t, sh, peer.0)).unwrap_or_default()
    }

    /// Every path of `prefix`, selected ones first (best first).
    pub fn routes(&self, prefix: &IpNet) -> Vec<RouteInfo> {
        with_table!(ref self, family_of(prefix), |t, sh| K_from(t, prefix)
            .map(|k| route_info(t, sh, &k))
            .unwrap_or_default())
        .unwrap_or_default()
    }

    /// The best path of `prefix`.
    pub fn best(&self, prefix: &IpNet) -> Option<RouteInfo> {
        self.routes(prefix)
            .into_iter()
            .next()
            .filter(|r| r.selected)
    }

    /// The best path and multipath partners of `prefix`.
    pub fn selected(&self, prefix: &IpNet) -> Vec<RouteInfo> {
        self.routes(prefix)
            .into_iter()
            .take_while(|r| r.selected)
            .collect()
    }

    /// Every prefix of `family` with at least one path, sorted.
    pub fn prefixes(&self, family: Family) -> Vec<IpNet> {
        fn keys<K: Key>(t: &Table<K>) -> Vec<IpNet> {
            t.sorted_keys().into_iter().map(Key::to_net).collect()
        }
        with_table!(ref self, family, |t, _sh| keys(t)).unwrap_or_default()
    }

    /// A cursor over `family`'s prefixes: up to `n` prefixes with at least one path, ascending,
    /// all greater than `after` (from the first when `None`). Paging with the last prefix of
    /// one page as the `after` of the next returns each prefix once, and every prefix present
    /// for the whole walk, whatever is added or removed between pages; a caller can release
    /// the RIB between pages (`show route` of a large table). One pass over the table with an
    /// `n`-element heap, no sorted copy of the key set.
    ///
    /// Prefixes order as [`IpNet`] does (IPv4 before IPv6): an `after` of IPv6 when `family`
    /// is IPv4 gives nothing, an `after` of IPv4 when `family` is IPv6 starts at the first.
    pub fn prefixes_after(&self, family: Family, after: Option<&IpNet>, n: usize) -> Vec<IpNet> {
        fn page<K: Key>(t: &Table<K>, after: Option<&IpNet>, n: usize) -> Vec<IpNet> {
            let after = match after {
                None => None,
                Some(a) => match K::from_net(a) {
                    Some(k) => Some(k),
                    // The other family: IPv4 is before IPv6 (start here), IPv6 after IPv4
                    // (done).
                    None if K::FAMILY == Family::IPV6_UNICAST => None,
                    None => return Vec::new(),
                },
            };
            if n == 0 {
                return Vec::new();
            }
            // A max-heap of the `n` smallest keys seen so far.
            let mut heap: BinaryHeap<K> = BinaryHeap::with_capacity(n.saturating_add(1));
            for k in t.keys() {
                if after.is_some_and(|a| k <= a) {
                    continue;
                }
                if heap.len() < n {
                    heap.push(k);
                } else if let Some(mut top) = heap.peek_mut() {
                    if k < *top {
                        *top = k;
                    }
                }
            }
            heap.into_sorted_vec()
                .into_iter()
                .map(Key::to_net)
                .collect()
        }
        with_table!(ref self, family, |t, _sh| page(t, after, n)).unwrap_or_default()
    }

    /// Number of prefixes of `family` with at least one path.
    pub fn len(&self, family: Family) -> usize {
        with_table!(ref self, family, |t, _sh| t.len()).unwrap_or(0)
    }

    /// Networks (prefixes with at least one path) and routes (paths) over both families:
    /// BIRD's `show route count`. Kept as the tables change: O(1).
    pub fn table_counts(&self) -> (u64, u64) {
        let (a, b) = (&self.v4.counts, &self.v6.counts);
        ((a.networks + b.networks) as u64, (a.paths + b.paths) as u64)
    }

    /// Networks and routes (paths) of one family: `show route count` on a control socket
    /// whose view is that family (BIRD's `bird` / `bird6`). O(1).
    pub fn family_counts(&self, family: Family) -> (u64, u64) {
        with_table!(ref self, family, |t, _sh| (
            t.counts.networks as u64,
            t.counts.paths as u64
        ))
        .unwrap_or((0, 0))
    }

    /// A source's counters over both families (BIRD's `Routes: N imported, M exported, K
    /// preferred`): its paths in the table, the prefixes whose best path is its, and for a BGP
    /// peer what its Adj-RIB-Out holds. O(1) apart from ADD-PATH overflow entries.
    pub fn source_counts(&self, src: SourceId) -> SourceCounts {
        let i = usize::from(src.0);
        let get = |v: &Vec<usize>| v.get(i).copied().unwrap_or(0) as u64;
        let (e4, e6) = (exported(&self.v4, i), exported(&self.v6, i));
        SourceCounts {
            routes: get(&self.v4.counts.src_paths) + get(&self.v6.counts.src_paths),
            best: get(&self.v4.counts.src_best) + get(&self.v6.counts.src_best),
            exported: e4 + e6,
        }
    }

    /// A source's counters in one family (see [`Rib::source_counts`]): `show route count
    /// protocol X` on a control socket whose view is that family, in O(1).
    pub fn source_family_counts(&self, src: SourceId, family: Family) -> SourceCounts {
        let i = usize::from(src.0);
        let get = |v: &Vec<usize>| v.get(i).copied().unwrap_or(0) as u64;
        with_table!(ref self, family, |t, _sh| SourceCounts {
            routes: get(&t.counts.src_paths),
            best: get(&t.counts.src_best),
            exported: exported(t, i),
        })
        .unwrap_or_default()
    }

    /// The protocol name of a source as `show` prints it: BIRD's names for the local sources
    /// (`static1`, `kernel1`, `direct1`), a peer's configured name (`bgpN` for a slot without
    /// a configuration).
    pub fn source_name(&self, s: SourceId) -> String {
        match s {
            SourceId::STATIC => "static1".into(),
            SourceId::KERNEL => "kernel1".into(),
            SourceId::DIRECT => "direct1".into(),
            _ => self
                .peer_config(s)
                .map_or_else(|| format!("bgp{}", s.0), |p| p.name.clone()),
        }
    }

    /// What `show protocols` (BIRD 1.6: `Routes: N imported, M exported, K preferred`) and
    /// `show route count` print, at one instant: per source (the local ones and the peers) its
    /// counters when not all zero ([`Rib::source_counts`]), and the totals of routes and
    /// networks. O(1) per source.
    pub fn counts_by_source(&self) -> TableCounts {
        let (networks, routes) = self.table_counts();
        let locals = [SourceId::STATIC, SourceId::KERNEL, SourceId::DIRECT];
        let per_source = locals
            .into_iter()
            .chain(self.peers())
            .map(|s| (s, self.source_counts(s)))
            .filter(|(_, c)| *c != SourceCounts::default())
            .collect();
        TableCounts {
            per_source,
            routes,
            networks,
        }
    }

    /// Whether the RIB has no path at all.
    pub fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.len() == 0
    }

    /// Number of distinct received attribute sets in use.
    pub fn attr_sets(&self) -> usize {
        self.sh.interner.len()
    }

    /// What `peer` currently has from us for `prefix`: (path id, attributes) pairs.
    pub fn adj_rib_out(&self, peer: SourceId, prefix: &IpNet) -> Vec<(u32, Arc<RouteAttrs>)> {
        fn get<K: Key>(
            t: &Table<K>,
            sh: &Shared,
            i: usize,
            net: &IpNet,
        ) -> Vec<(u32, Arc<RouteAttrs>)> {
            let Some(k) = K::from_net(net) else {
                return Vec::new();
            };
            let Some(g) = t.out.group_of(i) else {
                return Vec::new();
            };
            let mut v = Vec::new();
            g.adj_out.get_into(&k, &mut v);
            v.iter()
                .filter(|&&(tag, _)| usize::from(tag_src(tag)) != i)
                .filter_map(|&(tag, id)| {
                    let pid = if g.key.add_path { tag } else { 0 };
                    Some((pid, sh.out_interner.get_arc(id)?))
                })
                .collect()
        }
        let i = usize::from(peer.0);
        with_table!(ref self, family_of(prefix), |t, sh| get(t, sh, i, prefix)).unwrap_or_default()
    }
}

/// What peer `i` has from us in `t`: its update group's Adj-RIB-Out but its own paths (as of the
/// group's evaluation; a member still reading the group's stream gets there).
fn exported<K: Key>(t: &Table<K>, i: usize) -> u64 {
    t.out.group_of(i).map_or(0, |g| {
        g.adj_out
            .len()
            .saturating_sub(g.adj_out.count_src(i as u16)) as u64
    })
}

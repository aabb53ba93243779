//! Read-only queries: the paths of a prefix, a source's routes, prefix lists, counters and a
//! peer's Adj-RIB-Out.

use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::RouteAttrs;
use super::prefix::Key;
use super::shared::Shared;
use super::table::{Table, STALE};
use super::{family_of, K_from, Rib, RouteInfo, SourceCounts, SourceId};
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
    /// by prefix, found through its log rather than a table scan.
    pub fn source_routes(&self, peer: SourceId, family: Family) -> Vec<(IpNet, RouteInfo)> {
        fn get<K: Key>(t: &Table<K>, sh: &Shared, src: u16) -> Vec<(IpNet, RouteInfo)> {
            let Some(st) = t.src.get(usize::from(src)) else {
                return Vec::new();
            };
            let mut keys = st.log.clone();
            keys.sort_unstable();
            keys.dedup();
            keys.iter()
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
        let e4 = self.v4.out.get(i).map_or(0, |o| o.adj_out.len() as u64);
        let e6 = self.v6.out.get(i).map_or(0, |o| o.adj_out.len() as u64);
        SourceCounts {
            routes: get(&self.v4.counts.src_paths) + get(&self.v6.counts.src_paths),
            best: get(&self.v4.counts.src_best) + get(&self.v6.counts.src_best),
            exported: e4 + e6,
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
            t.out
                .get(i)
                .map(|o| {
                    o.adj_out
                        .get(&k)
                        .iter()
                        .filter_map(|&(pid, id)| Some((pid, sh.out_interner.get_arc(id)?)))
                        .collect()
                })
                .unwrap_or_default()
        }
        let i = usize::from(peer.0);
        with_table!(ref self, family_of(prefix), |t, sh| get(t, sh, i, prefix)).unwrap_or_default()
    }
}

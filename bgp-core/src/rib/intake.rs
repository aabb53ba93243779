//! Route intake: UPDATEs and local routes through loop checks and the import filter into the
//! tables, withdrawals, and re-running the import filter (soft reconfiguration inbound).

use std::net::IpAddr;

use ipnet::IpNet;

use super::attrs::{AttrId, RouteAttrs, RouteMeta, SourceKind};
use super::prefix::Key;
use super::shared::Shared;
use super::table::{Path, Table, STALE};
use super::{ctx, family_of, K_from, LocalRoute, Rib, SourceId, UpdateStats, Verdict};
use crate::filter::Changes;
use crate::wire::{Family, NextHop, NextHopRef, Nlri, Origin, PathAttributes, Update};

/// Imports `nlri` from `src` with `base` attributes (already loop-checked): import filter,
/// soft-reconfiguration copy, table insert.
pub(super) fn announce_in<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    src: u16,
    base: &RouteAttrs,
    nlri: &[Nlri],
    stats: &mut UpdateStats,
) {
    let Some(source) = sh.sources.get(usize::from(src)) else {
        return;
    };
    let import = match source.kind {
        SourceKind::Kernel => sh.kernel_import.as_ref(),
        _ => source.peer.as_ref().and_then(|p| p.import.as_ref()),
    };
    let policy = sh.policy(import);
    let nh = sh.nh_state(base);
    let base_id = sh.interner.intern(base, nh);
    // Interned results of the filter, each holding one reference: a filter that never reads
    // `net` gives one outcome for the whole UPDATE (`fixed`); otherwise the attribute sets of
    // the changes seen so far (all relative to `base`) are reused rather than rebuilt and
    // re-interned (`cache`).
    let mut cache: Vec<(Changes, AttrId)> = Vec::new();
    let per_prefix = policy.as_ref().is_some_and(|p| p.analysis.reads_prefix);
    let mut fixed: Option<Option<AttrId>> = None;
    let keep_pre = t.src.get(usize::from(src)).is_some_and(|s| s.pre.is_some());
    for n in nlri {
        let Some(key) = K::from_net(&n.prefix) else {
            continue;
        };
        let pid = n.path_id.unwrap_or(0);
        if keep_pre {
            sh.interner.incref(base_id);
            let old = t
                .src
                .get_mut(usize::from(src))
                .and_then(|s| s.pre.as_mut())
                .and_then(|m| m.insert((key, pid), base_id));
            if let Some(old) = old {
                sh.interner.decref(old);
            }
        }
        let id = match (&policy, fixed) {
            (None, _) => Some(base_id),
            (Some(_), Some(f)) => f,
            (Some(p), None) => {
                let Some(source) = sh.sources.get(usize::from(src)) else {
                    return;
                };
                let o = sh.run_filter(p, source, &key.to_net(), base);
                let id = match (o.verdict, o.changes) {
                    (Verdict::Reject, _) => None,
                    (Verdict::Accept, None) => Some(base_id),
                    (Verdict::Accept, Some(c)) => Some(
                        match cache.iter().find(|(a, _)| *a == c).map(|(_, id)| *id) {
                            Some(id) => id,
                            None => {
                                // The cache keeps the reference intern() gives.
                                let m = c.to_attrs(base);
                                let id = sh.interner.intern(&m, sh.nh_state(&m));
                                cache.push((c, id));
                                id
                            }
                        },
                    ),
                };
                if !per_prefix {
                    fixed = Some(id);
                }
                id
            }
        };
        match id {
            Some(id) => {
                sh.interner.incref(id);
                insert_path(t, sh, src, key, pid, id);
                stats.accepted += 1;
            }
            None => {
                let _ = remove_path(t, sh, src, key, pid);
                stats.filtered += 1;
            }
        }
    }
    for (_, id) in cache {
        sh.interner.decref(id);
    }
    sh.interner.decref(base_id);
}

/// Puts path (`src`, `pid`) with attribute set `id` (whose reference it takes) at `key`.
pub(super) fn insert_path<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    src: u16,
    key: K,
    pid: u32,
    id: AttrId,
) {
    let mut new_for_src = false;
    let ctx = ctx!(sh);
    t.modify(
        key,
        &ctx,
        &mut sh.released,
        Some((src, pid)),
        |paths, rel| {
            let had_src = paths.iter().any(|p| p.src == src);
            match paths.iter_mut().find(|p| p.src == src && p.pid == pid) {
                Some(p) => {
                    if p.attr == id && p.flags & STALE == 0 {
                        rel.push(id);
                        return false;
                    }
                    rel.push(p.attr);
                    p.attr = id;
                    p.flags &= !STALE;
                }
                None => {
                    paths.push(Path {
                        attr: id,
                        pid,
                        src,
                        flags: 0,
                    });
                    new_for_src = !had_src;
                }
            }
            true
        },
    );
    if new_for_src {
        t.log_add(usize::from(src), key);
    }
    sh.release();
}

/// Removes path (`src`, `pid`) at `key`; whether there was one.
pub(super) fn remove_path<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    src: u16,
    key: K,
    pid: u32,
) -> bool {
    let mut gone_for_src = false;
    let ctx = ctx!(sh);
    let flags = t.modify(
        key,
        &ctx,
        &mut sh.released,
        Some((src, pid)),
        |paths, rel| {
            let Some(i) = paths.iter().position(|p| p.src == src && p.pid == pid) else {
                return false;
            };
            let p = paths.remove(i);
            rel.push(p.attr);
            gone_for_src = !paths.iter().any(|p| p.src == src);
            true
        },
    );
    if gone_for_src {
        t.log_remove(usize::from(src));
    }
    t.maybe_shrink();
    sh.release();
    flags != 0
}

/// Removes the pre-policy copy of (`key`, `pid`) from `src`.
pub(super) fn remove_pre<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, key: K, pid: u32) {
    let old = t
        .src
        .get_mut(usize::from(src))
        .and_then(|s| s.pre.as_mut())
        .and_then(|m| m.remove(&(key, pid)));
    if let Some(old) = old {
        sh.interner.decref(old);
    }
}

/// What a batch of one peer's UPDATEs did ([`Rib::apply_updates`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Prefixes announced: accepted, rejected by the import filter or dropped as loops.
    pub received: u64,
    /// Accepted into the Adj-RIB-In.
    pub accepted: u64,
    /// Rejected by the import filter.
    pub filtered: u64,
    /// The End-of-RIB markers among them, in order.
    pub end_of_rib: Vec<Family>,
}

impl Rib {
    /// Applies a batch of `peer`'s UPDATEs in order ([`Rib::apply_update`] each). `own`: our
    /// address on the peer's session; next hops equal to it are ignored first (RFC 4271
    /// §6.3). `malformed` is given each UPDATE's RFC 7606 report (the error, the NLRI
    /// involved, the whole UPDATE) for the log.
    pub fn apply_updates(
        &mut self,
        peer: SourceId,
        updates: &mut [Update],
        own: Option<IpAddr>,
        mut malformed: impl FnMut(String),
    ) -> BatchStats {
        let mut b = BatchStats::default();
        for u in updates {
            if let Some(a) = own {
                u.ignore_own_next_hop(a);
            }
            if let Some(report) = u.malformed_report() {
                malformed(report);
            }
            let s = self.apply_update(peer, u);
            b.accepted += s.accepted as u64;
            b.filtered += s.filtered as u64;
            b.received += (s.accepted + s.filtered + s.looped) as u64;
            b.end_of_rib.extend(s.end_of_rib);
        }
        b
    }

    /// Applies a decoded UPDATE from `peer`: withdrawals (including RFC 7606 treat-as-withdraw),
    /// announcements of every family, End-of-RIB.
    pub fn apply_update(&mut self, peer: SourceId, update: &Update) -> UpdateStats {
        let mut stats = UpdateStats::default();
        if let Some(f) = update.end_of_rib_family() {
            self.end_of_rib(peer, f);
            stats.end_of_rib = Some(f);
            return stats;
        }
        for (family, n) in update.withdrawn_routes() {
            if self.withdraw(peer, family, n) {
                stats.withdrawn += 1;
            }
        }
        for a in update.announced() {
            let nh = match a.next_hop {
                Some(NextHopRef::V4(v4)) => Some(NextHop::V4(v4)),
                Some(NextHopRef::Mp(nh)) => Some(nh.clone()),
                None => None,
            };
            let s = self.announce(peer, a.family, &update.attrs, nh, a.nlri);
            stats.accepted += s.accepted;
            stats.filtered += s.filtered;
            stats.looped += s.looped;
        }
        stats
    }

    /// Announces `nlri` of `family` from `peer` with `attrs` and `next_hop`. No allocation per
    /// prefix: the attribute set is checked and interned once for the batch.
    pub fn announce(
        &mut self,
        peer: SourceId,
        family: Family,
        attrs: &PathAttributes,
        next_hop: Option<NextHop>,
        nlri: &[Nlri],
    ) -> UpdateStats {
        let mut stats = UpdateStats::default();
        let Some(s) = self.sh.sources.get(usize::from(peer.0)) else {
            return stats;
        };
        let mut base = RouteAttrs {
            attrs: attrs.clone(),
            next_hop,
            meta: RouteMeta::default(),
        };
        base.attrs.next_hop = None;
        if s.kind == SourceKind::Bgp {
            let local_as = s
                .session
                .as_ref()
                .map_or(self.sh.cfg.local_as, |n| n.local_as);
            let allow = s.peer.as_ref().map_or(0, |p| usize::from(p.allow_local_as));
            let a = &base.attrs;
            // RFC 4271 §9.1.2: "If the AS_PATH attribute of a BGP route contains an AS loop,
            // the BGP route should be excluded from the Phase 2 decision function." An AS loop
            // is our own AS in the path (more often than `allow local as` permits).
            let as_loop = a
                .as_path
                .as_ref()
                .is_some_and(|p| p.count(local_as) > allow);
            // RFC 4456 §8: "A router that recognizes the ORIGINATOR_ID attribute SHOULD ignore
            // a route received with its BGP Identifier as the ORIGINATOR_ID." and "If the local
            // CLUSTER_ID is found in the CLUSTER_LIST, the advertisement received SHOULD be
            // ignored."
            let rr_loop = s.ibgp
                && (a.originator_id == Some(self.sh.cfg.router_id)
                    || a.cluster_list.contains(&self.sh.cluster_id()));
            if as_loop || rr_loop {
                for n in nlri {
                    if self.withdraw(peer, family, n) {
                        stats.withdrawn += 1;
                    }
                }
                stats.looped += nlri.len();
                return stats;
            }
            if !s.ibgp {
                // RFC 4271 §5.1.5: LOCAL_PREF "received from an external peer ... MUST be
                // ignored by the receiving speaker, except in the case of BGP Confederations".
                // BIRD 1.6 then attaches its default (`BGP.local_pref: 100` in `show route
                // all`, `bgp_local_pref` defined for filters such as Calico's kernel export).
                base.attrs.local_pref = Some(self.sh.cfg.default_local_pref);
            }
        }
        with_table!(self, family, |t, sh| announce_in(
            t, sh, peer.0, &base, nlri, &mut stats
        ));
        stats
    }

    /// Withdraws one prefix (with its path id) of `family` from `peer`; whether a path went.
    pub fn withdraw(&mut self, peer: SourceId, family: Family, n: &Nlri) -> bool {
        with_table!(self, family, |t, sh| {
            let Some(key) = K_from(t, &n.prefix) else {
                return false;
            };
            let pid = n.path_id.unwrap_or(0);
            remove_pre(t, sh, peer.0, key, pid);
            remove_path(t, sh, peer.0, key, pid)
        })
        .unwrap_or(false)
    }

    /// Adds or replaces a local route of `kind` (BGP is not a local kind).
    pub fn add_local(&mut self, kind: SourceKind, prefix: IpNet, route: LocalRoute) {
        let Some(src) = SourceId::local(kind) else {
            return;
        };
        let base = RouteAttrs {
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                ..PathAttributes::default()
            },
            next_hop: route.next_hop.map(|a| match a {
                IpAddr::V4(v4) => NextHop::V4(v4),
                IpAddr::V6(v6) => NextHop::V6 {
                    global: v6,
                    link_local: None,
                },
            }),
            meta: RouteMeta {
                route_type: route.route_type,
                ifname: route.ifname,
                krt_metric: route.krt_metric,
                krt_source: route.krt_source,
                multipath: (!route.multipath.is_empty()).then(|| route.multipath.into()),
                tunnel: None,
                preference: None,
            },
        };
        let fam = family_of(&prefix);
        let mut stats = UpdateStats::default();
        let nlri = [Nlri::new(prefix)];
        with_table!(self, fam, |t, sh| announce_in(
            t, sh, src.0, &base, &nlri, &mut stats
        ));
    }

    /// Removes the local route of `kind` for `prefix`.
    pub fn remove_local(&mut self, kind: SourceKind, prefix: IpNet) {
        if let Some(src) = SourceId::local(kind) {
            self.withdraw(src, family_of(&prefix), &Nlri::new(prefix));
        }
    }

    /// Reruns `peer`'s import filter over its pre-policy routes (soft reconfiguration inbound).
    /// Returns `false` when the peer does not keep them (ask it for a ROUTE-REFRESH instead).
    pub fn reimport(&mut self, peer: SourceId) -> bool {
        fn run<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16) -> bool {
            let Some(pre) = t.src.get(usize::from(src)).and_then(|s| s.pre.as_ref()) else {
                return false;
            };
            let mut entries: Vec<(K, u32, AttrId)> =
                pre.iter().map(|(&(k, p), &id)| (k, p, id)).collect();
            entries.sort_unstable();
            let mut stats = UpdateStats::default();
            for (k, pid, id) in entries {
                let base = sh.interner.get(id).clone();
                announce_in(
                    t,
                    sh,
                    src,
                    &base,
                    &[Nlri {
                        prefix: k.to_net(),
                        path_id: Some(pid),
                    }],
                    &mut stats,
                );
            }
            true
        }
        let a = run(&mut self.v4, &mut self.sh, peer.0);
        let b = run(&mut self.v6, &mut self.sh, peer.0);
        a && b
    }
}

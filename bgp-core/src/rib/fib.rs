//! The RIB's FIB output: the per-prefix FIB form of the selected paths (kernel filter applied),
//! the FIB change queue, and next-hop state changes that re-run the decision process.

use std::net::IpAddr;

use ipnet::IpNet;

use super::attrs::{AttrId, NhState};
use super::prefix::Key;
use super::shared::Shared;
use super::table::{Path, Rescan, Table, FIB_DIRTY};
use super::{
    ctx, family_of, ChangeFlags, FibChange, FibNextHop, FibRoute, Filter, K_from, NextHopResolver,
    Rib, SourceId, Verdict, FIB_TAG_MAX,
};
use crate::wire::Family;

/// Reruns the decision process at every prefix using one of `ids`.
pub(super) fn recompute<K: Key>(t: &mut Table<K>, sh: &mut Shared, ids: &[AttrId]) {
    let keys: Vec<K> = t
        .map
        .keys()
        .copied()
        .filter(|k| {
            t.with_paths(k, |ps| {
                ps.iter().any(|p| ids.binary_search(&p.attr).is_ok())
            })
        })
        .collect();
    for key in keys {
        let ctx = ctx!(sh);
        t.modify(key, &ctx, &mut sh.released, None, |_, _| true);
    }
}

/// Flags every prefix for the FIB again, as changed attributes: the rescan of the map shard by
/// shard (as after a queue overflow) hands them out, so this costs one pass and no memory.
fn refresh_fib<K: Key>(t: &mut Table<K>) {
    let mut any = false;
    for i in 0..t.map.shard_count() {
        for (_, slot) in t.map.shard_iter_mut(i) {
            slot.eflags |= FIB_DIRTY | ChangeFlags::ATTRS.0;
            any = true;
        }
    }
    if any {
        t.fib_rescan = Some(Rescan::default());
    }
}

/// A FIB driver's tag function: (change, old tag) → new tag.
type TagFn<'a> = &'a mut dyn FnMut(&FibChange, u32) -> u32;

/// The next FIB change of `t`; `tag`, when given, computes the prefix's new FIB tag from the
/// change and the old tag: returns the change, the old tag and the new one.
pub(super) fn fib_change<K: Key>(
    t: &mut Table<K>,
    sh: &Shared,
    tag: Option<TagFn<'_>>,
) -> Option<(FibChange, u32, u32)> {
    let kpol = sh.policy(sh.kernel_policy.as_ref());
    t.pop_fib(|key, flags, ps, t| {
        let prefix = key.to_net();
        let change = FibChange {
            prefix,
            changed: ChangeFlags(flags),
            route: fib_route_of(sh, &prefix, kpol.as_deref(), ps),
        };
        let old = *t;
        if let Some(f) = tag {
            let new = f(&change, old);
            debug_assert!(
                new <= FIB_TAG_MAX,
                "FIB tag {new} for {prefix} above FIB_TAG_MAX"
            );
            *t = if new <= FIB_TAG_MAX { new } else { 0 };
        }
        (change, old, *t)
    })
}

/// The FIB form of a prefix's paths: its selected ones (best first), the kernel filter applied
/// per path (rejected paths left out); `None` when nothing is left.
pub(super) fn fib_route_of(
    sh: &Shared,
    prefix: &IpNet,
    kpol: Option<&Filter>,
    ps: &[Path],
) -> Option<FibRoute> {
    let mut route: Option<FibRoute> = None;
    for p in ps.iter().take_while(|p| p.selected()) {
        let Some(s) = sh.sources.get(usize::from(p.src)) else {
            continue;
        };
        let base = sh.interner.get(p.attr);
        let o;
        // The kernel filter's changes are read in place: no attribute set is built.
        let changes = match kpol {
            None => None,
            Some(pol) => {
                o = sh.run_filter(pol, s, prefix, base);
                if o.verdict == Verdict::Reject {
                    continue;
                }
                o.changes.as_ref()
            }
        };
        let (a, tunnel, krt_metric, local_pref) = match changes {
            None => (
                base,
                base.meta.tunnel.as_ref(),
                base.meta.krt_metric,
                base.attrs.local_pref,
            ),
            Some(c) => (
                c.base(base),
                c.tunnel(base),
                c.krt_metric(base),
                c.local_pref(base),
            ),
        };
        let hop = FibNextHop {
            addr: a.next_hop_addr(),
            tunnel: tunnel.cloned(),
            source: SourceId(p.src),
            neighbor: (s.peer.as_ref())
                .filter(|c| c.gateway_direct)
                .map(|c| c.address),
        };
        match &mut route {
            Some(r) => r.next_hops.push(hop),
            None => {
                route = Some(FibRoute {
                    source: s.kind,
                    route_type: a.meta.route_type,
                    next_hops: vec![hop],
                    ifname: a.meta.ifname.clone(),
                    krt_metric,
                    local_pref: local_pref.unwrap_or(sh.cfg.default_local_pref),
                })
            }
        }
    }
    route
}

impl Rib {
    /// The daemon's answer about next hop `addr`; prefixes whose paths use it are re-decided
    /// when it changed (one pass over the table, rare).
    pub fn set_next_hop_state(&mut self, addr: IpAddr, st: NhState) {
        self.sh.nh_states.insert(addr, st);
        let mut ids = self.sh.interner.set_nh(addr, st);
        if ids.is_empty() {
            return;
        }
        ids.sort_unstable();
        recompute(&mut self.v4, &mut self.sh, &ids);
        recompute(&mut self.v6, &mut self.sh, &ids);
    }

    /// Asks `r` about every next hop in use and applies the answers (one pass over the table
    /// for all changed next hops together).
    pub fn resolve_next_hops(&mut self, r: &mut impl NextHopResolver) {
        let mut ids = Vec::new();
        for addr in self.sh.interner.next_hops() {
            let st = r.resolve(addr);
            self.sh.nh_states.insert(addr, st);
            ids.extend(self.sh.interner.set_nh(addr, st));
        }
        if !ids.is_empty() {
            ids.sort_unstable();
            recompute(&mut self.v4, &mut self.sh, &ids);
            recompute(&mut self.v6, &mut self.sh, &ids);
        }
    }

    /// Hands every prefix to the FIB again (through [`Rib::poll_fib_change`]): the kernel
    /// filter changed, so each route's kernel form may have.
    pub fn refresh_fib(&mut self) {
        refresh_fib(&mut self.v4);
        refresh_fib(&mut self.v6);
    }

    /// The next Loc-RIB change for the FIB, each changed prefix once with its latest state.
    /// Leaves the prefix's FIB tag as it is (see [`Rib::poll_fib_change_tagged`]).
    #[must_use]
    pub fn poll_fib_change(&mut self) -> Option<FibChange> {
        fib_change(&mut self.v4, &self.sh, None)
            .or_else(|| fib_change(&mut self.v6, &self.sh, None))
            .map(|(c, _, _)| c)
    }

    /// [`Rib::poll_fib_change`] for a FIB driver that keeps its per-prefix state in the RIB:
    /// the same changes in the same order, and for each, `f(&change, old_tag)` is called while
    /// the RIB is positioned on the prefix (no second lookup) and its result stored as the
    /// prefix's new FIB tag. Returns the change, the old tag and the new one.
    ///
    /// A tag is opaque to the RIB (the driver's id of what it handed the kernel; 0 = nothing
    /// in the FIB), `0..=FIB_TAG_MAX` (a larger value is a caller bug: 0 is stored, and debug
    /// builds panic). Only this call changes tags: path changes, peer down and stale sweeps,
    /// [`Rib::refresh_fib`], reloads and re-imports keep them. A prefix whose last path is
    /// gone stays in the table (invisible to every query, count and export) while its tag
    /// is not 0 or the FIB has yet to see its withdrawal; it goes when it is polled and its
    /// tag set to 0.
    pub fn poll_fib_change_tagged(
        &mut self,
        mut f: impl FnMut(&FibChange, u32) -> u32,
    ) -> Option<(FibChange, u32, u32)> {
        fib_change(&mut self.v4, &self.sh, Some(&mut f))
            .or_else(|| fib_change(&mut self.v6, &self.sh, Some(&mut f)))
    }

    /// The FIB tag stored for `prefix` by [`Rib::poll_fib_change_tagged`] (0 when none, or
    /// when the prefix is not in the table).
    pub fn fib_tag(&self, prefix: &IpNet) -> u32 {
        with_table!(ref self, family_of(prefix), |t, _sh| K_from(t, prefix)
            .map_or(0, |k| t.fib_tag(&k)))
        .unwrap_or(0)
    }

    /// How many prefixes (both families) have a FIB tag other than 0. O(1).
    pub fn fib_tagged_len(&self) -> usize {
        self.v4.tagged + self.v6.tagged
    }

    /// Number of parts [`Rib::fib_tagged_part`] splits a family's table into.
    pub fn fib_tagged_parts(&self) -> usize {
        self.v4.map.shard_count()
    }

    /// Appends the prefixes of `family` with a FIB tag other than 0, and their tags, that
    /// fall into part `part` (`0..fib_tagged_parts()`; a hash-defined split of the table,
    /// ~1/64 of it each) to `into`, in no particular order. Walking the parts with the RIB
    /// released between them visits every prefix tagged throughout the walk exactly once (a
    /// prefix's part never changes); a reconcile scan holds the RIB for one part at a time.
    pub fn fib_tagged_part(&self, family: Family, part: usize, into: &mut Vec<(IpNet, u32)>) {
        fn get<K: Key>(t: &Table<K>, part: usize, into: &mut Vec<(IpNet, u32)>) {
            t.fib_tagged_in_shard(part, |k, tag| into.push((k.to_net(), tag)));
        }
        with_table!(ref self, family, |t, _sh| get(t, part, into));
    }

    /// What the FIB should hold for `prefix` now (as [`Rib::poll_fib_change`] would hand it
    /// over), without touching the FIB queue: for a driver whose own view changed (a local
    /// subnet appeared, so cross-subnet routes take another form).
    pub fn fib_route(&self, prefix: &IpNet) -> Option<FibRoute> {
        let kpol = self.sh.policy(self.sh.kernel_policy.as_ref());
        let kpol = kpol.as_deref();
        with_table!(ref self, family_of(prefix), |t, sh| K_from(t, prefix)
            .and_then(|k| t.with_paths(&k, |ps| fib_route_of(sh, prefix, kpol, ps))))
        .flatten()
    }
}

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
    Rib, SourceId, Verdict,
};

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

pub(super) fn fib_change<K: Key>(t: &mut Table<K>, sh: &Shared) -> Option<FibChange> {
    let kpol = sh.policy(sh.kernel_policy.as_ref());
    t.pop_fib(|key, flags, ps| {
        let prefix = key.to_net();
        FibChange {
            prefix,
            changed: ChangeFlags(flags),
            route: fib_route_of(sh, &prefix, kpol.as_deref(), ps),
        }
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
    #[must_use]
    pub fn poll_fib_change(&mut self) -> Option<FibChange> {
        fib_change(&mut self.v4, &self.sh).or_else(|| fib_change(&mut self.v6, &self.sh))
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

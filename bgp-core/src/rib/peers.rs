//! BGP peers as sources: adding, reconfiguring and removing them, session up and down, graceful
//! restart (stale marking and sweeps, RFC 4724) and export refreshes.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::attrs::SourceKind;
use super::group;
use super::prefix::{FastMap, Key};
use super::shared::{Shared, Source};
use super::table::{self, Table, STALE};
use super::{ctx, PeerConfig, Rib, SourceId};
use crate::wire::{Family, Negotiated};

/// Removes `src`'s paths (only the stale ones if `only_stale`) from every prefix in its log,
/// or, for a source without one (it holds most of the table), from every prefix of the table
/// where it has a path, found shard by shard.
pub(super) fn sweep_source<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, only_stale: bool) {
    let Some(st) = t.src.get_mut(usize::from(src)) else {
        return;
    };
    let log = st.log.take();
    if !only_stale {
        if let Some(pre) = st.pre.as_mut() {
            for (_, id) in pre.drain() {
                sh.interner.decref(id);
            }
        }
    }
    let live = match log {
        Some(mut log) => {
            log.sort_unstable();
            log.dedup();
            let live = sweep_keys(t, sh, src, only_stale, &log);
            if live == 0 {
                log = Vec::new();
            } else {
                log.retain(|k| t.with_paths(k, |ps| ps.iter().any(|p| p.src == src)));
            }
            if let Some(st) = t.src.get_mut(usize::from(src)) {
                st.log = Some(log);
            }
            live
        }
        None => {
            // One shard's keys at a time: no copy of the source's whole key set.
            let mut keys = Vec::new();
            let mut live = 0;
            for i in 0..t.map.shard_count() {
                keys.clear();
                t.src_keys_in_shard(i, src, &mut keys);
                live += sweep_keys(t, sh, src, only_stale, &keys);
            }
            live
        }
    };
    if let Some(st) = t.src.get_mut(usize::from(src)) {
        st.live = live;
    }
    // A sweep may leave the source with a small share of the table: log it again if so.
    t.log_remove_none(usize::from(src));
    t.maybe_shrink();
}

/// Removes `src`'s paths (only the stale ones if `only_stale`) at `keys`; returns at how many
/// of them it still has a path.
fn sweep_keys<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    src: u16,
    only_stale: bool,
    keys: &[K],
) -> usize {
    let mut live = 0;
    for &key in keys {
        let ctx = ctx!(sh);
        t.modify(key, &ctx, &mut sh.released, None, |paths, rel| {
            let before = paths.len();
            paths.retain(|p| {
                let drop = p.src == src && (!only_stale || p.flags & STALE != 0);
                if drop {
                    rel.push(p.attr);
                }
                !drop
            });
            paths.len() != before
        });
        sh.release();
        if only_stale && t.with_paths(&key, |ps| ps.iter().any(|p| p.src == src)) {
            live += 1;
        }
    }
    live
}

/// Marks every path of `src` stale (graceful restart: keep using them, sweep later).
pub(super) fn mark_stale<K: Key>(t: &mut Table<K>, src: u16) {
    let Some(st) = t.src.get_mut(usize::from(src)) else {
        return;
    };
    match st.log.take() {
        Some(log) => {
            for key in &log {
                t.set_path_flag(key, src, STALE, true);
            }
            if let Some(s) = t.src.get_mut(usize::from(src)) {
                s.log = Some(log);
            }
        }
        None => t.set_path_flag_everywhere(src, STALE, true),
    }
}

impl Rib {
    /// Adds a BGP peer (not yet established), reusing the slot of a removed one. `None` when
    /// out of source slots.
    pub fn add_peer(&mut self, cfg: PeerConfig) -> Option<SourceId> {
        let free = self
            .sh
            .sources
            .iter()
            .position(|s| s.kind == SourceKind::Bgp && s.peer.is_none());
        let i = free.unwrap_or(self.sh.sources.len());
        if i >= table::MAX_SOURCES {
            return None;
        }
        let src = Source {
            kind: SourceKind::Bgp,
            preference: cfg.preference,
            ibgp: false,
            router_id: Ipv4Addr::UNSPECIFIED,
            addr: Some(cfg.address),
            rr_client: cfg.rr_client,
            peer: None,
            session: None,
            staged: VecDeque::new(),
        };
        match self.sh.sources.get_mut(i) {
            Some(slot) => *slot = src,
            None => self.sh.sources.push(src),
        }
        let soft = cfg.soft_reconfig_inbound;
        if let Some(s) = self.sh.sources.get_mut(i) {
            s.peer = Some(cfg);
        }
        self.v4.ensure_source(i);
        self.v6.ensure_source(i);
        group::leave(&mut self.v4, &mut self.sh, i, false);
        group::leave(&mut self.v6, &mut self.sh, i, false);
        // A reused slot starts clean: nothing of its previous owner's export state (queues,
        // feed position, Adj-RIB-Out, pending End-of-RIB) or intake log may leak into the new
        // peer's (a forgotten dynamic neighbour's slot is reused by the next one).
        self.v4.reset_source(i);
        self.v6.reset_source(i);
        if soft {
            if let Some(s) = self.v4.src.get_mut(i) {
                s.pre = Some(FastMap::default());
            }
            if let Some(s) = self.v6.src.get_mut(i) {
                s.pre = Some(FastMap::default());
            }
        }
        Some(SourceId(i as u16))
    }

    /// Removes a peer: its routes go as with a hard [`Rib::peer_down`], and its slot may be
    /// reused by a later [`Rib::add_peer`].
    pub fn remove_peer(&mut self, peer: SourceId) {
        self.peer_down(peer, false);
        if let Some(s) = self.sh.sources.get_mut(usize::from(peer.0)) {
            if s.kind == SourceKind::Bgp {
                s.peer = None;
                s.addr = None;
            }
        }
        if let Some(st) = self.v4.src.get_mut(usize::from(peer.0)) {
            st.pre = None;
        }
        if let Some(st) = self.v6.src.get_mut(usize::from(peer.0)) {
            st.pre = None;
        }
    }

    /// Replaces a peer's configuration (a daemon reload). Changed import or export filter
    /// names take effect through [`Rib::reimport`] / [`Rib::refresh_export`], which the caller
    /// runs; `soft_reconfig_inbound` keeps its value from [`Rib::add_peer`]. Returns `false`
    /// for an unknown or non-BGP source.
    pub fn set_peer_config(&mut self, peer: SourceId, cfg: PeerConfig) -> bool {
        let Some(s) = self.sh.sources.get_mut(usize::from(peer.0)) else {
            return false;
        };
        if s.kind != SourceKind::Bgp {
            return false;
        }
        s.preference = cfg.preference;
        s.rr_client = cfg.rr_client;
        s.addr = Some(cfg.address);
        s.peer = Some(cfg);
        // A changed export filter, next-hop treatment or kind may call for another group.
        let i = usize::from(peer.0);
        group::regroup(&mut self.v4, &mut self.sh, i);
        group::regroup(&mut self.v6, &mut self.sh, i);
        true
    }

    /// The peers the RIB holds (added and not removed).
    pub fn peers(&self) -> impl Iterator<Item = SourceId> + '_ {
        let ids = (0..).map(SourceId);
        let peers = ids.zip(&self.sh.sources).filter(|(_, s)| s.peer.is_some());
        peers.map(|(id, _)| id)
    }

    /// The peer's configuration.
    pub fn peer_config(&self, peer: SourceId) -> Option<&PeerConfig> {
        self.sh.sources.get(usize::from(peer.0))?.peer.as_ref()
    }

    /// The session with `peer` is established: remember what was negotiated and start the
    /// initial feed of every negotiated family (ended by End-of-RIB, RFC 4724 §2).
    pub fn peer_up(&mut self, peer: SourceId, neg: impl Into<std::sync::Arc<Negotiated>>) {
        let neg = neg.into();
        let i = usize::from(peer.0);
        let Some(s) = self.sh.sources.get_mut(i) else {
            return;
        };
        if s.kind != SourceKind::Bgp {
            return;
        }
        s.ibgp = !neg.is_ebgp();
        s.router_id = neg.peer_id;
        s.staged.clear();
        let fams = neg.families.clone();
        s.session = Some(neg);
        // Membership follows what was negotiated (a renegotiation may change the group).
        group::leave(&mut self.v4, &mut self.sh, i, false);
        group::leave(&mut self.v6, &mut self.sh, i, false);
        if fams.contains(&Family::IPV4_UNICAST) {
            group::join(&mut self.v4, &self.sh, i);
        }
        if fams.contains(&Family::IPV6_UNICAST) {
            group::join(&mut self.v6, &self.sh, i);
        }
    }

    /// The session with `peer` went down. With `graceful` (the peer negotiated graceful restart
    /// and the session did not end with a NOTIFICATION, RFC 4724 §4.2) its routes are kept but
    /// marked stale until End-of-RIB or [`Rib::stale_timer_expired`]; otherwise they are removed,
    /// visiting only the prefixes the peer had.
    pub fn peer_down(&mut self, peer: SourceId, graceful: bool) {
        let i = usize::from(peer.0);
        let Some(s) = self.sh.sources.get_mut(i) else {
            return;
        };
        if s.kind != SourceKind::Bgp {
            return;
        }
        s.session = None;
        let staged = std::mem::take(&mut s.staged);
        for st in staged {
            if let Some(id) = st.out {
                self.sh.out_interner.decref(id);
            }
        }
        group::leave(&mut self.v4, &mut self.sh, i, false);
        group::leave(&mut self.v6, &mut self.sh, i, false);
        if graceful {
            mark_stale(&mut self.v4, peer.0);
            mark_stale(&mut self.v6, peer.0);
        } else {
            sweep_source(&mut self.v4, &mut self.sh, peer.0, false);
            sweep_source(&mut self.v6, &mut self.sh, peer.0, false);
        }
    }

    /// End-of-RIB from `peer` for `family`: its paths still stale there are removed (RFC 4724
    /// §4.2: "the Receiving Speaker MUST immediately remove all the stale routes from the peer
    /// that it is restarting with" for that family).
    pub fn end_of_rib(&mut self, peer: SourceId, family: Family) {
        with_table!(self, family, |t, sh| sweep_source(t, sh, peer.0, true));
    }

    /// The restart or stale timer for `peer` fired: remove all its stale paths.
    pub fn stale_timer_expired(&mut self, peer: SourceId) {
        sweep_source(&mut self.v4, &mut self.sh, peer.0, true);
        sweep_source(&mut self.v6, &mut self.sh, peer.0, true);
    }

    /// Re-examines every prefix for `peer`'s Adj-RIB-Out: after its export filter changed
    /// (`full = false`: only differences are sent, to every member of its update group, which
    /// it may have changed) or when it asked for a ROUTE-REFRESH (`full = true`: everything is
    /// sent again, to it alone).
    pub fn refresh_export(&mut self, peer: SourceId, full: bool) {
        self.refresh_export_family(peer, Family::IPV4_UNICAST, full);
        self.refresh_export_family(peer, Family::IPV6_UNICAST, full);
    }

    /// [`Rib::refresh_export`] for one family (a ROUTE-REFRESH names one).
    pub fn refresh_export_family(&mut self, peer: SourceId, family: Family, full: bool) {
        let i = usize::from(peer.0);
        with_table!(self, family, |t, sh| group::refresh(t, sh, i, full));
    }
}

#[cfg(test)]
mod tests {
    //! The log switch-over itself (its sweeps' results are tested in `tests/rib_sweep.rs`).
    use super::super::table::LOG_OFF_MIN;
    use super::*;
    use crate::wire::{AsPath, NextHop, Nlri, Origin, PathAttributes};
    use ipnet::{IpNet, Ipv4Net};

    fn nets(a: u8, r: std::ops::Range<u32>) -> Vec<Nlri> {
        r.map(|i| {
            let addr = Ipv4Addr::from((u32::from(a) << 24) + i * 256);
            Nlri::new(IpNet::V4(Ipv4Net::new(addr, 24).unwrap()))
        })
        .collect()
    }

    fn peer(r: &mut Rib, last: u8) -> SourceId {
        let addr = Ipv4Addr::new(10, 0, 0, last);
        let p = r
            .add_peer(PeerConfig::new(format!("p{last}"), addr.into()))
            .unwrap();
        let neg = Negotiated {
            local_as: 65000,
            peer_as: 65100,
            local_id: Ipv4Addr::new(10, 0, 0, 1),
            peer_id: addr,
            families: vec![Family::IPV4_UNICAST],
            ..Negotiated::default()
        };
        r.peer_up(p, neg);
        p
    }

    fn announce(r: &mut Rib, p: SourceId, n: &[Nlri]) {
        let a = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(&[65100])),
            ..PathAttributes::default()
        };
        let nh = Some(NextHop::V4(Ipv4Addr::new(10, 0, 0, 2)));
        for c in n.chunks(500) {
            r.announce(p, Family::IPV4_UNICAST, &a, nh.clone(), c);
        }
    }

    fn logged(r: &Rib, p: SourceId) -> Option<usize> {
        r.v4.src[usize::from(p.0)].log.as_ref().map(Vec::len)
    }

    #[test]
    fn a_source_drops_its_log_past_half_the_table_and_gets_it_back_under_a_quarter() {
        let mut r = Rib::new(super::super::RibConfig::new(
            65000,
            Ipv4Addr::new(10, 0, 0, 1),
        ));
        let (a, b) = (peer(&mut r, 2), peer(&mut r, 3));
        let full = 3 * LOG_OFF_MIN as u32;
        // Alone, a small table keeps its log; a big one drops it.
        announce(&mut r, a, &nets(30, 0..LOG_OFF_MIN as u32));
        assert_eq!(logged(&r, a), Some(LOG_OFF_MIN));
        announce(&mut r, a, &nets(30, LOG_OFF_MIN as u32..full));
        assert_eq!(logged(&r, a), None);
        // Another source brings 4x as many: `a` is rebuilt at its next change.
        announce(&mut r, b, &nets(31, 0..4 * full));
        assert_eq!(logged(&r, b), None);
        assert_eq!(logged(&r, a), None);
        r.withdraw(a, Family::IPV4_UNICAST, &nets(30, 0..1)[0]);
        assert_eq!(logged(&r, a), Some(full as usize - 1));
        // Under half again only after `b` goes: its hard sweep leaves it an empty log.
        r.peer_down(b, false);
        assert_eq!(logged(&r, b), Some(0));
        announce(&mut r, a, &nets(30, full..full + 1));
        assert_eq!(logged(&r, a), None);
        // A graceful restart's End-of-RIB that leaves it little brings the log back.
        r.peer_down(a, true);
        announce(&mut r, b, &nets(31, 0..full));
        r.peer_up(
            a,
            Negotiated {
                local_as: 65000,
                peer_as: 65100,
                local_id: Ipv4Addr::new(10, 0, 0, 1),
                peer_id: Ipv4Addr::new(10, 0, 0, 2),
                families: vec![Family::IPV4_UNICAST],
                ..Negotiated::default()
            },
        );
        announce(&mut r, a, &nets(30, 0..10));
        r.end_of_rib(a, Family::IPV4_UNICAST);
        assert_eq!(logged(&r, a), Some(10));
        assert_eq!(r.v4.src[usize::from(a.0)].live, 10);
    }
}

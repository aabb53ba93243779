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

/// Removes `src`'s paths (only the stale ones if `only_stale`) from every prefix in its log.
pub(super) fn sweep_source<K: Key>(t: &mut Table<K>, sh: &mut Shared, src: u16, only_stale: bool) {
    let Some(st) = t.src.get_mut(usize::from(src)) else {
        return;
    };
    let mut log = std::mem::take(&mut st.log);
    if !only_stale {
        if let Some(pre) = st.pre.as_mut() {
            for (_, id) in pre.drain() {
                sh.interner.decref(id);
            }
        }
    }
    log.sort_unstable();
    log.dedup();
    for &key in &log {
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
    }
    if only_stale {
        log.retain(|k| t.with_paths(k, |ps| ps.iter().any(|p| p.src == src)));
    } else {
        log.clear();
        log.shrink_to_fit();
    }
    if let Some(st) = t.src.get_mut(usize::from(src)) {
        st.live = log.len();
        st.log = log;
    }
    t.maybe_shrink();
}

/// Marks every path of `src` stale (graceful restart: keep using them, sweep later).
pub(super) fn mark_stale<K: Key>(t: &mut Table<K>, src: u16) {
    let log = t
        .src
        .get_mut(usize::from(src))
        .map(|s| std::mem::take(&mut s.log))
        .unwrap_or_default();
    for key in &log {
        t.set_path_flag(key, src, STALE, true);
    }
    if let Some(s) = t.src.get_mut(usize::from(src)) {
        s.log = log;
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

//! DOC: update groups: peers whose exports come out identical share one Adj-RIB-Out and one
//! encoding of every UPDATE (FRR's update groups, BIRD's shared export tables).
//!
//! # What makes a group
//! [`GroupKey`] holds everything [`super::export::export_path`] and the UPDATE encoder read per
//! peer: the export filter (by name: every peer naming a filter runs the same compiled
//! [`crate::filter::Filter`]), the peer kind (iBGP or eBGP, route-reflector client or not, our
//! AS on the session), the next-hop treatment (mode and our own addresses towards the peer),
//! and the negotiated capabilities that change the bytes (4-octet AS, extended messages,
//! ADD-PATH and its path limit, extended next hop). The family is the table's. Membership is
//! computed when the session comes up ([`super::Rib::peer_up`], so renegotiation regroups) and
//! again when the configuration changes ([`super::Rib::set_peer_config`],
//! [`super::Rib::refresh_export`]).
//!
//! # One evaluation, one encoding
//! A changed prefix is marked once per group; the group evaluates it once (with the first
//! member's configuration and session, which every member shares), diffs it against its
//! Adj-RIB-Out, and appends the encoded UPDATEs to its stream. Members copy the same bytes;
//! each keeps only its position in the stream. A message is dropped once every member read it.
//!
//! # Slow members
//! The stream holds at most `RibConfig::group_stream_bytes` (2 MiB by default). When it holds
//! more, the members that lag furthest are moved past the oldest messages, until what is left
//! is half of that, and keep the prefixes of the messages they skipped in their own coalesced
//! set; they later get the group's current
//! entry for each of those (or a withdrawal), encoded for themselves, and carry on with the
//! stream. A member that stops reading therefore holds back neither the others nor memory
//! beyond one set of distinct prefixes (the bound the per-peer design had too). A member
//! joining a group that already advertises (or asking for a ROUTE-REFRESH) walks the group's
//! Adj-RIB-Out the same way while it holds its stream position.
//!
//! # Split horizon
//! A route is never sent back to the peer it came from, as before groups (the per-peer export
//! refused it): RFC 4456 §8 only says a client "SHOULD ignore a route received with its BGP
//! Identifier as the ORIGINATOR_ID", and RFC 4271 §9 only that a route with an AS loop "should
//! be excluded from the Phase 2 decision function" — neither is a MUST, an eBGP peer with
//! `allow local as` accepts its own AS back, and BIRD never sends a route back to its source.
//! So the group's Adj-RIB-Out keeps each path's source, and a stream message announcing paths
//! of source S names S as `except`: member S skips it, or, when it had another path for those
//! prefixes from us, gets them withdrawn instead (encoded for itself). Announcements are
//! packed per (attribute set, source) for this. ADD-PATH senders are not grouped at all (their
//! per-peer path limit applies after split horizon): each forms a group of its own.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::out_state::{Group, OutState};
use super::prefix::Key;
use super::shared::Shared;
use super::table::Table;
use super::NextHopMode;
use crate::wire::{Afi, Family};

/// Everything that makes one peer's export output differ from another's (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupKey {
    /// An ADD-PATH sender is a group of its own: its source index.
    pub solo: Option<u16>,
    pub ibgp: bool,
    pub rr_client: bool,
    pub next_hop: NextHopMode,
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
    pub export: Option<String>,
    pub add_path: bool,
    pub add_path_max: usize,
    pub local_as: u32,
    pub four_octet_as: bool,
    pub extended_message: bool,
    pub extended_next_hop: Vec<(Family, Afi)>,
}

/// The group key of established peer `i` for `family`.
pub(crate) fn group_key(sh: &Shared, i: usize, family: Family) -> Option<GroupKey> {
    let s = sh.sources.get(i)?;
    let cfg = s.peer.as_ref()?;
    let neg = s.session.as_deref()?;
    let add_path = neg.add_path_tx(family);
    Some(GroupKey {
        solo: add_path.then_some(i as u16),
        ibgp: s.ibgp,
        rr_client: cfg.rr_client,
        next_hop: cfg.next_hop,
        local_v4: cfg.local_v4,
        local_v6: cfg.local_v6,
        export: cfg.export.clone(),
        add_path,
        add_path_max: cfg.add_path_tx_max.max(1),
        local_as: neg.local_as,
        four_octet_as: neg.four_octet_as,
        extended_message: neg.extended_message,
        extended_next_hop: neg
            .extended_next_hop
            .iter()
            .filter(|(f, _)| *f == family)
            .copied()
            .collect(),
    })
}

/// Makes established peer `i` a member of its group in `t` (creating the group), with End-of-RIB
/// pending after its initial feed.
pub(crate) fn join<K: Key>(t: &mut Table<K>, sh: &Shared, i: usize) {
    let Some(key) = group_key(sh, i, K::FAMILY) else {
        return;
    };
    let mask = sh.out_mask(i, key.add_path);
    let found = t
        .out
        .groups
        .iter()
        .position(|g| g.as_ref().is_some_and(|g| g.key == key));
    let (gi, pos, feed) = match found {
        Some(gi) => {
            let Some(g) = t.out.groups.get(gi).and_then(Option::as_ref) else {
                return;
            };
            // It gets what the group already advertises on its own; what comes after is in
            // the stream from its position on.
            let feed = !g.adj_out.is_empty();
            let pending = pending_pairs(g);
            let r = (gi, g.end(), feed.then(|| (t.shared_keys(), 0)));
            if let Some(m) = t.out.members.get_mut(i) {
                m.dirty = pending;
            }
            r
        }
        None => {
            // A peer that exports nothing gets End-of-RIB at once and no feed.
            let g = Group {
                key,
                members: Vec::new(),
                mask,
                dirty: Default::default(),
                queue: Vec::new(),
                feed: (mask != 0).then(|| (t.shared_keys(), 0)),
                adj_out: Default::default(),
                stream: Default::default(),
                base: 0,
                stream_bytes: 0,
            };
            let gi = match t.out.groups.iter().position(Option::is_none) {
                Some(free) => {
                    if let Some(slot) = t.out.groups.get_mut(free) {
                        *slot = Some(g);
                    }
                    free
                }
                None => {
                    t.out.groups.push(Some(g));
                    t.out.groups.len() - 1
                }
            };
            (gi, 0, None)
        }
    };
    if let Some(Some(g)) = t.out.groups.get_mut(gi) {
        g.members.push(i as u16);
    }
    if let Some(m) = t.out.members.get_mut(i) {
        *m = OutState {
            active: true,
            group: Some(gi),
            pos,
            feed,
            eor_pending: true,
            dirty: std::mem::take(&mut m.dirty),
            queue: Vec::new(),
        };
    }
}

/// The group's advertised (prefix, outgoing path id) pairs whose prefix it has yet to look at
/// again. A member walking the table for its catch-up may not find them (the prefix may be
/// gone from the table and back), and the group sends nothing for them if they come out as
/// they were: the member takes them into its own set.
fn pending_pairs<K: Key>(g: &Group<K>) -> super::prefix::FastSet<(K, u32)> {
    let mut cur = Vec::new();
    let mut out = super::prefix::FastSet::default();
    for k in g.dirty.iter().chain(g.queue.iter()) {
        g.adj_out.get_into(k, &mut cur);
        for &(tag, _) in &cur {
            out.insert((*k, if g.key.add_path { tag } else { 0 }));
        }
    }
    out
}

/// Takes peer `i` out of its group in `t`, releasing the group with its last member. Returns
/// the prefixes (with outgoing path ids) the peer may have from the group: its unread stream
/// messages' and the group's Adj-RIB-Out's, when `collect`.
pub(crate) fn leave<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    i: usize,
    collect: bool,
) -> Vec<(K, u32)> {
    let mut had = Vec::new();
    let Some(m) = t.out.members.get_mut(i) else {
        return had;
    };
    let old = std::mem::take(m);
    let Some(gi) = old.group else {
        return had;
    };
    let Some(Some(g)) = t.out.groups.get_mut(gi) else {
        return had;
    };
    g.members.retain(|&x| usize::from(x) != i);
    let first = old.pos.saturating_sub(g.base) as usize;
    for msg in g.stream.iter_mut().skip(first) {
        msg.readers = msg.readers.saturating_sub(1);
        if collect {
            had.extend_from_slice(&msg.nlri);
        }
    }
    if collect {
        let add_path = g.key.add_path;
        had.extend(
            g.adj_out
                .pairs()
                .map(|(k, tag)| (k, if add_path { tag } else { 0 })),
        );
        had.extend(old.dirty);
        had.extend(old.queue);
    }
    pop_read(g);
    if g.members.is_empty() {
        if let Some(Some(g)) = t.out.groups.get_mut(gi).map(Option::take) {
            for id in g.adj_out.into_ids() {
                sh.out_interner.decref(id);
            }
        }
        t.release_snapshot();
    }
    had
}

/// Drops the stream's front messages every member has read.
pub(crate) fn pop_read<K>(g: &mut Group<K>) {
    while g.stream.front().is_some_and(|m| m.readers == 0) {
        if let Some(m) = g.stream.pop_front() {
            g.stream_bytes = g.stream_bytes.saturating_sub(m.cost());
        }
        g.base += 1;
    }
    if g.stream.is_empty() && g.stream.capacity() > 16 {
        g.stream = Default::default();
    }
}

/// Moves active peer `i` to the group its configuration and session now call for, if that
/// changed: it then gets what the new group advertises, and withdrawals of what it had from
/// the old one that the new one does not advertise. Returns whether it moved.
pub(crate) fn regroup<K: Key>(t: &mut Table<K>, sh: &mut Shared, i: usize) -> bool {
    let Some(cur) = t.out.group_of(i).map(|g| g.key.clone()) else {
        return false;
    };
    if group_key(sh, i, K::FAMILY).is_none_or(|k| k == cur) {
        return false;
    }
    let eor = t.out.get(i).is_some_and(|m| m.eor_pending);
    let had = leave(t, sh, i, true);
    join(t, sh, i);
    if let Some(m) = t.out.members.get_mut(i) {
        m.eor_pending = eor;
        m.dirty.extend(had);
    }
    true
}

/// After a configuration change or a ROUTE-REFRESH from peer `i`: regroups it, then
/// re-evaluates its group's whole Adj-RIB-Out against the table (`full = false`: only
/// differences are sent, to every member) or sends it everything its group advertises again
/// (`full = true`).
pub(crate) fn refresh<K: Key>(t: &mut Table<K>, sh: &mut Shared, i: usize, full: bool) {
    if !t.out.get(i).is_some_and(|m| m.active) {
        return;
    }
    regroup(t, sh, i);
    let add_path = t.out.group_of(i).is_some_and(|g| g.key.add_path);
    let mask = sh.out_mask(i, add_path);
    let keys = t.shared_keys();
    let Some(gi) = t.out.get(i).and_then(|m| m.group) else {
        return;
    };
    let Some(Some(g)) = t.out.groups.get_mut(gi) else {
        return;
    };
    g.mask = mask;
    // Nothing to withdraw and nothing can pass: no walk over the table.
    let walk = mask != 0 || !g.adj_out.is_empty();
    if full {
        let pending = pending_pairs(g);
        if let Some(m) = t.out.members.get_mut(i) {
            m.feed = walk.then_some((keys, 0));
            m.dirty.extend(pending);
        }
    } else if !g
        .feed
        .as_ref()
        .is_some_and(|(k, p)| *p == 0 && std::sync::Arc::ptr_eq(k, &keys))
    {
        // Every member of a group refreshed after one reload starts the walk once.
        g.feed = walk.then_some((keys, 0));
    }
}

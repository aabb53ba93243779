//! DOC: export: which paths go to which peer with which attributes (RFC 4271 §9.2, RFC 4456
//! §6–8, RFC 1997), the per-peer Adj-RIB-Out diff, and the pull method that packs the result
//! into UPDATEs.
//!
//! A peer's pending work is a coalesced set of prefixes (see [`super::table::OutState`]). When
//! the session can write, [`Rib::poll_update`] takes up to [`BATCH`] prefixes, computes what the
//! peer should have for each, compares it with the Adj-RIB-Out, and stages only the
//! differences, grouped by outgoing attribute set; then it encodes one UPDATE from the staged
//! groups. Memory under backpressure is therefore bounded by the dirty set and one batch.

use std::collections::VecDeque;

use bytes::BytesMut;
use ipnet::IpNet;

use super::attrs::{AttrId, RouteAttrs};
use super::prefix::{FastMap, Key};
use super::table::{Ctx, Path, Table};
use super::{ctx, NextHopMode, Rib, Shared, SourceId, SourceKind, Staged, Verdict};
use crate::wire::{
    encode_announcements, encode_withdrawals, AsPath, Community, EncodeError, Family, NextHop,
    Nlri, Origin, Update,
};

/// Prefixes examined per refill of a peer's staged work.
pub(crate) const BATCH: usize = 1024;

/// The outgoing path identifier for a path with ADD-PATH send: the source in the high half,
/// the received identifier's low half below (two paths of one peer whose identifiers agree in
/// their low 16 bits would collide; the later one is then not advertised).
fn out_path_id(p: &Path) -> u32 {
    (u32::from(p.src) << 16) | (p.pid & 0xffff)
}

/// Our own address towards the peer for `family`.
fn self_next_hop(sh: &Shared, peer: usize, family: Family) -> Option<NextHop> {
    let cfg = sh.sources.get(peer)?.peer.as_ref()?;
    if family == Family::IPV6_UNICAST {
        cfg.local_v6.map(|g| NextHop::V6 {
            global: g,
            link_local: None,
        })
    } else {
        Some(NextHop::V4(cfg.local_v4.unwrap_or(sh.cfg.router_id)))
    }
}

/// The attributes `peer` should receive for path `p` of `prefix`, or `None` if the export rules
/// or the export filter keep it from the peer.
pub(crate) fn export_path(
    sh: &Shared,
    peer: usize,
    p: &Path,
    prefix: &IpNet,
    family: Family,
) -> Option<RouteAttrs> {
    let target = sh.sources.get(peer)?;
    let tcfg = target.peer.as_ref()?;
    let neg = target.session.as_deref()?;
    if usize::from(p.src) == peer {
        return None;
    }
    let s = sh.sources.get(usize::from(p.src))?;
    let ra = sh.interner.get(p.attr);
    let to_ibgp = target.ibgp;
    // RFC 1997: NO_ADVERTISE "MUST NOT be advertised to any BGP peer"; NO_EXPORT "MUST NOT be
    // advertised outside a BGP confederation boundary".
    let c = &ra.attrs.communities;
    if c.contains(&Community::NO_ADVERTISE)
        || (!to_ibgp
            && (c.contains(&Community::NO_EXPORT) || c.contains(&Community::NO_EXPORT_SUBCONFED)))
    {
        return None;
    }
    let from_bgp = s.kind == SourceKind::Bgp;
    let mut out = ra.clone();
    if from_bgp && s.ibgp && to_ibgp {
        // RFC 4271 §9.2: "the receiving BGP speaker SHALL NOT re-distribute the routing
        // information contained in that UPDATE message to other internal peers (unless the
        // speaker acts as a BGP Route Reflector [RFC2796])."
        // RFC 4456 §6: "A route from a Non-Client IBGP peer: Reflect to all the Clients. ...
        // A route from a Client peer: Reflect to all the Non-Client peers and also to the
        // Client peers."
        if !(s.rr_client || tcfg.rr_client) {
            return None;
        }
        // RFC 4456 §8: "This attribute will be created by an RR in reflecting a route. This
        // attribute will carry the BGP Identifier of the originator of the route in the local
        // AS. A BGP speaker SHOULD NOT create an ORIGINATOR_ID attribute if one already
        // exists."
        out.attrs.originator_id.get_or_insert(s.router_id);
        // "When an RR reflects a route, it MUST prepend the local CLUSTER_ID to the
        // CLUSTER_LIST. If the CLUSTER_LIST is empty, it MUST create a new one."
        out.attrs.cluster_list.insert(0, sh.cluster_id());
    }
    let own = || self_next_hop(sh, peer, family);
    if to_ibgp {
        // RFC 4271 §5.1.5: LOCAL_PREF "SHALL be included in all UPDATE messages that a given
        // BGP speaker sends to other internal peers".
        out.attrs.local_pref = Some(out.attrs.local_pref.unwrap_or(sh.cfg.default_local_pref));
        out.next_hop = match tcfg.next_hop {
            NextHopMode::SelfAlways => own(),
            NextHopMode::Keep => out.next_hop.or_else(own),
            NextHopMode::Default if from_bgp => out.next_hop.or_else(own),
            NextHopMode::Default => own(),
        };
    } else {
        // RFC 4271 §5.1.2: "When a given BGP speaker advertises the route to an external peer,
        // the advertising speaker updates the AS_PATH attribute ... prepends its own AS number
        // as the last element of the sequence".
        let path = out.attrs.as_path.take().unwrap_or_default();
        out.attrs.as_path = Some(path.without_confed().prepend(neg.local_as, 1));
        // RFC 4271 §5.1.5: "A BGP speaker MUST NOT include this attribute in UPDATE messages it
        // sends to external peers".
        out.attrs.local_pref = None;
        // RFC 4456: ORIGINATOR_ID and CLUSTER_LIST are optional non-transitive, internal to
        // the AS.
        out.attrs.originator_id = None;
        out.attrs.cluster_list.clear();
        // RFC 4271 §5.1.4: a MED "received from a neighboring AS MUST NOT be propagated to
        // other neighboring ASes" (the export filter may set a new one).
        if from_bgp {
            out.attrs.med = None;
        }
        out.next_hop = match tcfg.next_hop {
            NextHopMode::Keep => out.next_hop.or_else(own),
            _ => own(),
        };
    }
    out.next_hop.as_ref()?;
    out.attrs.origin.get_or_insert(Origin::Igp);
    out.attrs.as_path.get_or_insert_with(AsPath::new);
    if let Some(pol) = sh.policy(tcfg.export.as_ref()) {
        let o = sh.run_export_filter(&pol, s, prefix, &out);
        if o.verdict == Verdict::Reject {
            return None;
        }
        if let Some(c) = o.changes {
            c.apply(&mut out);
        }
    }
    out.next_hop.as_ref()?;
    out.meta = Default::default();
    out.attrs.next_hop = None;
    Some(out)
}

/// Examines up to `budget` of `peer`'s pending prefixes in `t` and stages the differences.
/// Returns whether any prefix was examined.
/// The next prefix to examine for a peer: from the feed snapshot (`from_feed`), else from the
/// drained dirty set.
fn next_key<K: Key>(o: &mut super::table::OutState<K>, from_feed: bool) -> Option<K> {
    if from_feed {
        let (keys, pos) = o.feed.as_mut()?;
        let k = keys.get(*pos).copied();
        *pos += 1;
        if k.is_none() {
            o.feed = None;
        }
        return k;
    }
    o.queue.pop()
}

/// Examines up to `budget` of `peer`'s pending prefixes in `t` — those of its feed when
/// `from_feed`, else its changed ones — and stages the differences. Returns whether any prefix
/// was examined.
fn refill<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    peer: usize,
    budget: usize,
    from_feed: bool,
) -> bool {
    let Some(o) = t.out.get_mut(peer) else {
        return false;
    };
    if !o.active {
        return false;
    }
    if from_feed {
        if o.feed.is_none() {
            t.release_snapshot();
            return false;
        }
    } else if o.queue.is_empty() {
        if o.dirty.is_empty() {
            return false;
        }
        let mut q: Vec<K> = o.dirty.drain().collect();
        q.sort_unstable_by(|a, b| b.cmp(a));
        o.queue = q;
        o.dirty.shrink_to(64);
    }
    let add_path = sh
        .sources
        .get(peer)
        .and_then(|s| s.session.as_deref())
        .is_some_and(|n| n.add_path_tx(K::FAMILY));
    let max_paths = sh
        .sources
        .get(peer)
        .and_then(|s| s.peer.as_ref())
        .map_or(1, |c| c.add_path_tx_max.max(1));
    let mut withdrawals: Vec<Nlri> = Vec::new();
    let mut groups: Vec<(AttrId, Vec<Nlri>)> = Vec::new();
    let mut examined = false;
    let mut current: Vec<(u32, AttrId)> = Vec::new();
    let mut desired: Vec<(u32, AttrId)> = Vec::new();
    let mut cand_paths: Vec<Path> = Vec::new();
    let mut group_of: FastMap<AttrId, usize> = FastMap::default();
    let no_policy = sh
        .sources
        .get(peer)
        .and_then(|s| s.peer.as_ref())
        .is_some_and(|c| c.export.is_none());
    let mut cache: Option<FastMap<(u16, AttrId), Option<AttrId>>> =
        no_policy.then(FastMap::default);
    for _ in 0..budget {
        let Some(key) = t.out.get_mut(peer).and_then(|o| next_key(o, from_feed)) else {
            break;
        };
        examined = true;
        let prefix = key.to_net();
        // The candidate paths: the best, or with ADD-PATH every usable path.
        cand_paths.clear();
        {
            let ctx: Ctx<'_> = ctx!(sh);
            t.with_paths(&key, |ps| {
                for p in ps {
                    if add_path {
                        if p.selected() || ctx_reachable(&ctx, p) {
                            cand_paths.push(*p);
                        }
                    } else {
                        if p.selected() {
                            cand_paths.push(*p);
                        }
                        break;
                    }
                }
            });
        }
        // What the peer should have. Without an export filter the result depends only on the
        // path's source and attribute set, not on the prefix: cache it for the batch.
        desired.clear();
        for p in &cand_paths {
            if desired.len() >= max_paths {
                break;
            }
            let pid = if add_path { out_path_id(p) } else { 0 };
            if desired.iter().any(|(q, _)| *q == pid) {
                continue;
            }
            let id = match cache
                .as_mut()
                .and_then(|c| c.get(&(p.src, p.attr)).copied())
            {
                Some(hit) => {
                    if let Some(id) = hit {
                        sh.out_interner.incref(id);
                    }
                    hit
                }
                None => {
                    let id = export_path(sh, peer, p, &prefix, K::FAMILY)
                        .map(|a| sh.out_interner.intern(&a, Default::default()));
                    if let Some(c) = cache.as_mut() {
                        if let Some(id) = id {
                            sh.out_interner.incref(id);
                        }
                        c.insert((p.src, p.attr), id);
                    }
                    id
                }
            };
            if let Some(id) = id {
                desired.push((pid, id));
            }
        }
        let Some(o) = t.out.get_mut(peer) else {
            break;
        };
        o.adj_out.take(&key, &mut current);
        let nlri = |pid: u32| Nlri {
            prefix,
            path_id: add_path.then_some(pid),
        };
        for &(pid, _) in &current {
            if !desired.iter().any(|(q, _)| *q == pid) {
                withdrawals.push(nlri(pid));
            }
        }
        for &(pid, id) in &desired {
            if !current.contains(&(pid, id)) {
                match group_of.get(&id).and_then(|&g| groups.get_mut(g)) {
                    Some((_, v)) => v.push(nlri(pid)),
                    None => {
                        sh.out_interner.incref(id);
                        group_of.insert(id, groups.len());
                        groups.push((id, vec![nlri(pid)]));
                    }
                }
            }
        }
        for &(_, id) in &current {
            sh.out_interner.decref(id);
        }
        o.adj_out.put(key, &desired);
    }
    for id in cache.into_iter().flat_map(|c| c.into_values()).flatten() {
        sh.out_interner.decref(id);
    }
    if let Some(s) = sh.sources.get_mut(peer) {
        if !withdrawals.is_empty() {
            s.staged.push_back(Staged {
                family: K::FAMILY,
                out: None,
                nlri: withdrawals,
                pos: 0,
            });
        }
        for (id, nlri) in groups {
            s.staged.push_back(Staged {
                family: K::FAMILY,
                out: Some(id),
                nlri,
                pos: 0,
            });
        }
    }
    examined
}

fn ctx_reachable(ctx: &Ctx<'_>, p: &Path) -> bool {
    let nh = ctx.interner.nh(p.attr);
    let a = ctx.interner.get(p.attr);
    a.next_hop.is_none() || nh.reachable
}

/// End-of-RIB is due once the initial feed is through (RFC 4724 §2: after "its initial
/// routing update"), whatever changed meanwhile.
fn take_eor<K: Key>(t: &mut Table<K>, peer: usize) -> Option<Family> {
    let o = t.out.get_mut(peer)?;
    if o.active && o.eor_pending && o.feed.is_none() {
        o.eor_pending = false;
        return Some(K::FAMILY);
    }
    None
}

fn pending<K: Key>(t: &Table<K>, peer: usize) -> bool {
    t.out.get(peer).is_some_and(|o| {
        o.active
            && (o.eor_pending || o.feed.is_some() || !o.queue.is_empty() || !o.dirty.is_empty())
    })
}

impl Rib {
    /// Whether `peer` has outbound work: call [`Rib::poll_update`] when its socket is writable.
    pub fn has_pending(&self, peer: SourceId) -> bool {
        let i = usize::from(peer.0);
        self.sh.sources.get(i).is_some_and(|s| !s.staged.is_empty())
            || pending(&self.v4, i)
            || pending(&self.v6, i)
    }

    /// Appends the next UPDATE for `peer` to `out`: withdrawals and announcements of prefixes
    /// that changed since the peer last saw them (coalesced, latest state only), prefixes with
    /// the same outgoing attributes packed together, then End-of-RIB after the initial feed.
    /// Returns `Ok(false)` when there is nothing to send. An attribute set that cannot be
    /// encoded (too large for one message) is dropped and reported as the error.
    pub fn poll_update(&mut self, peer: SourceId, out: &mut BytesMut) -> Result<bool, EncodeError> {
        let i = usize::from(peer.0);
        loop {
            let sh = &mut self.sh;
            let Some(s) = sh.sources.get_mut(i) else {
                return Ok(false);
            };
            let Some(neg) = s.session.as_deref() else {
                return Ok(false);
            };
            if let Some(st) = s.staged.front_mut() {
                let rest = st.nlri.get(st.pos..).unwrap_or_default();
                let r = match st.out {
                    None => encode_withdrawals(neg, st.family, rest, out),
                    Some(id) => {
                        let a = sh.out_interner.get(id);
                        match &a.next_hop {
                            Some(nh) => {
                                encode_announcements(neg, &a.attrs, st.family, nh, rest, out)
                            }
                            None => Err(EncodeError::Invalid("route without next hop")),
                        }
                    }
                };
                let done = match r {
                    Ok(n) => {
                        st.pos += n;
                        st.pos >= st.nlri.len()
                    }
                    Err(_) => true,
                };
                if done {
                    if let Some(st) = s.staged.pop_front() {
                        if let Some(id) = st.out {
                            sh.out_interner.decref(id);
                        }
                    }
                    // Drained: give the batch's memory back (a reflector with 1,000 clients
                    // would otherwise keep 1,000 queues of up to BATCH entries, and an idle
                    // neighbour its first, ~0.2 KB: issue 19).
                    if s.staged.is_empty() && s.staged.capacity() > 0 {
                        s.staged = VecDeque::new();
                    }
                }
                return r.map(|_| true);
            }
            // The initial feed first, then End-of-RIB, then what changed since.
            if refill(&mut self.v4, &mut self.sh, i, BATCH, true)
                || refill(&mut self.v6, &mut self.sh, i, BATCH, true)
            {
                continue;
            }
            let eor = take_eor(&mut self.v4, i).or_else(|| take_eor(&mut self.v6, i));
            if let (Some(f), Some(neg)) = (
                eor,
                self.sh.sources.get(i).and_then(|s| s.session.as_deref()),
            ) {
                return Update::end_of_rib(f).encode(neg, out).map(|_| true);
            }
            if refill(&mut self.v4, &mut self.sh, i, BATCH, false)
                || refill(&mut self.v6, &mut self.sh, i, BATCH, false)
            {
                continue;
            }
            return Ok(false);
        }
    }
}

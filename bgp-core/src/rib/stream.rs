//! DOC: the pull side of update groups (see `group`): a group evaluates its changed prefixes
//! once and appends encoded UPDATEs to its stream; [`Rib::poll_update`] gives a member, in
//! order, its own catch-up (encoded for itself), the stream's next message, End-of-RIB after
//! the initial feed, and otherwise drives its group's next batch. Whichever member pulls first
//! does the group's work; the others find it encoded.

use bytes::BytesMut;

use super::attrs::{AttrId, RouteAttrs};
use super::export::{Desire, BATCH};
use super::group::pop_read;
use super::out_state::{tag_src, Group, Msg, Outbound};
use super::prefix::{FastMap, Key};
use super::table::Table;
use super::{Rib, Shared, SourceId, SourceKind, Staged};
use crate::wire::{
    encode_announcements, encode_withdrawals, EncodeError, Family, Negotiated, Nlri, Update,
};

/// What one step of a member's pull did.
enum Step {
    /// Appended to the output.
    Wrote,
    /// Moved work along without output: step again.
    Progress,
    /// Nothing to do in this family.
    Idle,
}

/// The source index of `src` when it is a BGP peer (a possible member to keep a route from).
fn bgp_src(sh: &Shared, src: u16) -> Option<u16> {
    sh.sources
        .get(usize::from(src))
        .is_some_and(|s| s.kind == SourceKind::Bgp)
        .then_some(src)
}

/// The next prefix of a feed; `None` ends it.
fn next_feed<K: Key>(feed: &mut Option<(std::sync::Arc<[K]>, usize)>) -> Option<K> {
    let (keys, pos) = feed.as_mut()?;
    let k = keys.get(*pos).copied();
    *pos += 1;
    if k.is_none() {
        *feed = None;
    }
    k
}

/// Staged announcements keyed by what must be encoded apart.
struct Packer<G, N> {
    index: FastMap<G, usize>,
    groups: Vec<(G, Vec<N>)>,
}

impl<G: Copy + Eq + std::hash::Hash, N> Packer<G, N> {
    fn new() -> Self {
        Packer {
            index: FastMap::default(),
            groups: Vec::new(),
        }
    }

    /// Adds `n` under `g`; true when `g` is new.
    fn push(&mut self, g: G, n: N) -> bool {
        match self.index.get(&g).and_then(|&i| self.groups.get_mut(i)) {
            Some((_, v)) => {
                v.push(n);
                false
            }
            None => {
                self.index.insert(g, self.groups.len());
                self.groups.push((g, vec![n]));
                true
            }
        }
    }
}

/// Appends the UPDATEs carrying `list` (withdrawn when `attrs` is `None`) to `g`'s stream.
#[allow(clippy::too_many_arguments)]
fn append<K: Key>(
    g: &mut Group<K>,
    neg: &Negotiated,
    attrs: Option<&RouteAttrs>,
    except: Option<u16>,
    alt_withdraw: bool,
    list: &[(K, u32)],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let add_path = g.key.add_path;
    let nlri: Vec<Nlri> = list
        .iter()
        .map(|&(k, pid)| Nlri {
            prefix: k.to_net(),
            path_id: add_path.then_some(pid),
        })
        .collect();
    let mut pos = 0;
    while let Some(rest) = nlri.get(pos..).filter(|r| !r.is_empty()) {
        let n = match attrs {
            None => encode_withdrawals(neg, K::FAMILY, rest, buf)?,
            Some(a) => match &a.next_hop {
                Some(nh) => encode_announcements(neg, &a.attrs, K::FAMILY, nh, rest, buf)?,
                None => return Err(EncodeError::Invalid("route without next hop")),
            },
        };
        if n == 0 {
            break;
        }
        let m = Msg {
            bytes: buf.split().freeze(),
            nlri: list.get(pos..pos + n).unwrap_or_default().into(),
            except,
            alt_withdraw,
            readers: g.members.len() as u32,
        };
        g.stream_bytes += m.cost();
        g.stream.push_back(m);
        pos += n;
    }
    Ok(())
}

/// When the stream holds more than `limit` octets, moves the members that lag furthest past
/// the oldest messages until half of that is left, keeping those messages' prefixes in their own
/// catch-up set (see `group`).
fn trim<K: Key>(out: &mut Outbound<K>, gi: usize, limit: usize) {
    let Outbound { members, groups } = out;
    let Some(Some(g)) = groups.get_mut(gi) else {
        return;
    };
    if g.stream_bytes <= limit {
        return;
    }
    let mut left = g.stream_bytes;
    let mut cut = g.base;
    for m in &g.stream {
        if left <= limit / 2 {
            break;
        }
        left = left.saturating_sub(m.cost());
        cut += 1;
    }
    for &m in &g.members {
        let Some(ms) = members.get_mut(usize::from(m)) else {
            continue;
        };
        while ms.pos < cut {
            let idx = ms.pos.saturating_sub(g.base) as usize;
            if let Some(msg) = g.stream.get_mut(idx) {
                ms.dirty.extend(msg.nlri.iter().copied());
                msg.readers = msg.readers.saturating_sub(1);
            }
            ms.pos += 1;
        }
    }
    pop_read(g);
}

/// Evaluates up to `budget` of group `gi`'s pending prefixes (its feed first) and appends the
/// differences to its stream. Returns whether it moved (examined a prefix or ended its feed).
fn group_refill<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    gi: usize,
    budget: usize,
) -> Result<bool, EncodeError> {
    let Some(Some(g)) = t.out.groups.get_mut(gi) else {
        return Ok(false);
    };
    let from_feed = g.feed.is_some();
    if !from_feed && g.queue.is_empty() {
        if g.dirty.is_empty() {
            return Ok(false);
        }
        let mut q: Vec<K> = g.dirty.drain().collect();
        q.sort_unstable_by(|a, b| b.cmp(a));
        g.queue = q;
        g.dirty.shrink_to(64);
    }
    let Some(rep) = g.members.first().map(|&m| usize::from(m)) else {
        return Ok(false);
    };
    let add_path = g.key.add_path;
    let max = if add_path { g.key.add_path_max } else { 1 };
    let mut want = Desire::new(sh, rep, add_path, max, g.key.solo.is_some());
    let wire = |tag: u32| if add_path { tag } else { 0 };
    let mut withdrawals: Packer<Option<u16>, (K, u32)> = Packer::new();
    let mut announce: Packer<(AttrId, Option<u16>, bool), (K, u32)> = Packer::new();
    let (mut current, mut desired) = (Vec::new(), Vec::new());
    let mut moved = from_feed;
    for _ in 0..budget {
        let key = match t.out.groups.get_mut(gi) {
            Some(Some(g)) if from_feed => next_feed(&mut g.feed),
            Some(Some(g)) => g.queue.pop(),
            _ => None,
        };
        let Some(key) = key else {
            break;
        };
        moved = true;
        want.compute(t, sh, &key, &mut desired);
        let Some(Some(g)) = t.out.groups.get_mut(gi) else {
            break;
        };
        g.adj_out.take(&key, &mut current);
        for &(tag, _) in &current {
            if !desired.iter().any(|&(q, _)| wire(q) == wire(tag)) {
                // Its source had nothing from us for the prefix: no withdrawal for it.
                withdrawals.push(bgp_src(sh, tag_src(tag)), (key, wire(tag)));
            }
        }
        for &(tag, id) in &desired {
            if current.contains(&(tag, id)) {
                continue;
            }
            let src = tag_src(tag);
            let except = bgp_src(sh, src);
            // Without ADD-PATH the source had the previous path if another source's: it gets
            // the prefix withdrawn instead of its own path back.
            let alt = !add_path
                && except.is_some()
                && current.first().is_some_and(|&(c, _)| tag_src(c) != src);
            if announce.push((id, except, alt), (key, wire(tag))) {
                sh.out_interner.incref(id);
            }
        }
        for &(_, id) in &current {
            sh.out_interner.decref(id);
        }
        g.adj_out.put(key, &desired);
    }
    want.release(sh);
    if from_feed
        && t.out
            .groups
            .get(gi)
            .is_some_and(|g| g.as_ref().is_some_and(|g| g.feed.is_none()))
    {
        t.release_snapshot();
    }
    let neg = sh.sources.get(rep).and_then(|s| s.session.clone());
    let mut result = Ok(moved);
    if let (Some(neg), Some(Some(g))) = (neg, t.out.groups.get_mut(gi)) {
        let mut buf = BytesMut::new();
        for (except, list) in &withdrawals.groups {
            if let Err(e) = append(g, &neg, None, *except, false, list, &mut buf) {
                result = Err(e);
            }
        }
        for ((id, except, alt), list) in &announce.groups {
            let a = sh.out_interner.get(*id);
            if let Err(e) = append(g, &neg, Some(a), *except, *alt, list, &mut buf) {
                result = Err(e);
            }
        }
    }
    for ((id, _, _), _) in announce.groups {
        sh.out_interner.decref(id);
    }
    trim(&mut t.out, gi, sh.cfg.group_stream_bytes);
    result
}

/// Stages up to `budget` of member `i`'s own catch-up, encoded for itself: from its feed (what
/// group `gi` advertises, but its own paths) or from its set of single prefixes (the group's
/// entry, or a withdrawal). Returns whether it moved.
fn member_refill<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    i: usize,
    gi: usize,
    budget: usize,
) -> bool {
    let Outbound { members, groups } = &mut t.out;
    let (Some(m), Some(Some(g))) = (members.get_mut(i), groups.get(gi)) else {
        return false;
    };
    let from_feed = m.feed.is_some();
    if !from_feed && m.queue.is_empty() {
        if m.dirty.is_empty() {
            return false;
        }
        let mut q: Vec<(K, u32)> = m.dirty.drain().collect();
        q.sort_unstable_by(|a, b| b.cmp(a));
        m.queue = q;
        m.dirty.shrink_to(64);
    }
    let add_path = g.key.add_path;
    let me = i as u16;
    let nlri = |k: K, pid: u32| Nlri {
        prefix: k.to_net(),
        path_id: add_path.then_some(pid),
    };
    let mut withdrawals: Vec<Nlri> = Vec::new();
    let mut announce: Packer<AttrId, Nlri> = Packer::new();
    let mut cur = Vec::new();
    for _ in 0..budget {
        if from_feed {
            let Some(key) = next_feed(&mut m.feed) else {
                break;
            };
            g.adj_out.get_into(&key, &mut cur);
            for &(tag, id) in cur.iter().filter(|(tag, _)| tag_src(*tag) != me) {
                announce.push(id, nlri(key, if add_path { tag } else { 0 }));
            }
        } else {
            let Some((key, pid)) = m.queue.pop() else {
                break;
            };
            g.adj_out.get_into(&key, &mut cur);
            match cur
                .iter()
                .find(|&&(tag, _)| tag_src(tag) != me && (!add_path || tag == pid))
            {
                Some(&(_, id)) => announce.push(id, nlri(key, pid)),
                None => {
                    withdrawals.push(nlri(key, pid));
                    false
                }
            };
        }
    }
    let feed_ended = from_feed && m.feed.is_none();
    if let Some(s) = sh.sources.get_mut(i) {
        if !withdrawals.is_empty() {
            s.staged.push_back(Staged {
                family: K::FAMILY,
                out: None,
                nlri: withdrawals,
                pos: 0,
            });
        }
        for (id, nlri) in announce.groups {
            sh.out_interner.incref(id);
            s.staged.push_back(Staged {
                family: K::FAMILY,
                out: Some(id),
                nlri,
                pos: 0,
            });
        }
    }
    if feed_ended {
        t.release_snapshot();
    }
    true
}

/// Reads member `i`'s next stream message of group `gi` into `out`, if there is one.
fn read_stream<K: Key>(
    t: &mut Table<K>,
    sh: &Shared,
    i: usize,
    gi: usize,
    out: &mut BytesMut,
) -> Result<Option<Step>, EncodeError> {
    let Outbound { members, groups } = &mut t.out;
    let (Some(m), Some(Some(g))) = (members.get_mut(i), groups.get_mut(gi)) else {
        return Ok(None);
    };
    let idx = m.pos.saturating_sub(g.base) as usize;
    let Some(msg) = g.stream.get_mut(idx) else {
        return Ok(None);
    };
    m.pos += 1;
    msg.readers = msg.readers.saturating_sub(1);
    let step = if msg.except != Some(i as u16) {
        out.extend_from_slice(&msg.bytes);
        Step::Wrote
    } else if msg.alt_withdraw {
        // Split horizon: not its own path back, but the previous one withdrawn.
        let neg = sh.sources.get(i).and_then(|s| s.session.as_deref());
        let nlri: Vec<Nlri> = msg
            .nlri
            .iter()
            .map(|&(k, _)| Nlri::new(k.to_net()))
            .collect();
        let mut pos = 0;
        while let (Some(neg), Some(rest)) = (neg, nlri.get(pos..).filter(|r| !r.is_empty())) {
            match encode_withdrawals(neg, K::FAMILY, rest, out)? {
                0 => break,
                n => pos += n,
            }
        }
        Step::Wrote
    } else {
        Step::Progress
    };
    pop_read(g);
    Ok(Some(step))
}

/// One step of member `i`'s pull in `t` (see the module documentation).
fn pull<K: Key>(
    t: &mut Table<K>,
    sh: &mut Shared,
    i: usize,
    out: &mut BytesMut,
) -> Result<Step, EncodeError> {
    let Some(m) = t.out.get(i).filter(|m| m.active) else {
        return Ok(Step::Idle);
    };
    let Some(gi) = m.group else {
        return Ok(Step::Idle);
    };
    if m.feed.is_some() {
        member_refill(t, sh, i, gi, BATCH);
        return Ok(Step::Progress);
    }
    if let Some(step) = read_stream(t, sh, i, gi, out)? {
        return Ok(step);
    }
    let busy = t.out.group_of(i).is_none_or(|g| g.feed.is_some());
    let Some(m) = t.out.members.get_mut(i) else {
        return Ok(Step::Idle);
    };
    // Its own prefixes once the group is not walking the table (a new group's walk brings
    // what a member moved to it must not see withdrawn first).
    if !busy && (!m.dirty.is_empty() || !m.queue.is_empty()) {
        member_refill(t, sh, i, gi, BATCH);
        return Ok(Step::Progress);
    }
    // End-of-RIB is due once the initial feed is through (RFC 4724 §2: after "its initial
    // routing update"), whatever changed meanwhile.
    if m.eor_pending && !busy {
        m.eor_pending = false;
        if let Some(neg) = sh.sources.get(i).and_then(|s| s.session.as_deref()) {
            Update::end_of_rib(K::FAMILY).encode(neg, out)?;
            return Ok(Step::Wrote);
        }
    }
    if group_refill(t, sh, gi, BATCH)? {
        return Ok(Step::Progress);
    }
    Ok(Step::Idle)
}

fn pending<K: Key>(t: &Table<K>, i: usize) -> bool {
    let Some(m) = t.out.get(i).filter(|m| m.active) else {
        return false;
    };
    m.eor_pending
        || m.feed.is_some()
        || !m.dirty.is_empty()
        || !m.queue.is_empty()
        || t.out
            .group_of(i)
            .is_some_and(|g| m.pos < g.end() || g.has_work())
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
    /// The UPDATE is its update group's, encoded once for every member (see `group`). Returns
    /// `Ok(false)` when there is nothing to send. An attribute set that cannot be encoded (too
    /// large for one message) is dropped and reported as the error.
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
                        st.pos >= st.nlri.len() || n == 0
                    }
                    Err(_) => true,
                };
                if done {
                    if let Some(st) = s.staged.pop_front() {
                        if let Some(id) = st.out {
                            sh.out_interner.decref(id);
                        }
                    }
                    // Drained: give the batch's memory back (an idle neighbour would keep its
                    // first, ~0.2 KB: issue 19).
                    if s.staged.is_empty() && s.staged.capacity() > 0 {
                        s.staged = Default::default();
                    }
                }
                return r.map(|_| true);
            }
            match pull(&mut self.v4, &mut self.sh, i, out)? {
                Step::Wrote => return Ok(true),
                Step::Progress => continue,
                Step::Idle => {}
            }
            match pull(&mut self.v6, &mut self.sh, i, out)? {
                Step::Wrote => return Ok(true),
                Step::Progress => continue,
                Step::Idle => return Ok(false),
            }
        }
    }

    /// The update groups of `family`: each group's member peers (for display and tests).
    pub fn update_groups(&self, family: Family) -> Vec<Vec<SourceId>> {
        fn get<K: Key>(t: &Table<K>) -> Vec<Vec<SourceId>> {
            t.out
                .groups
                .iter()
                .flatten()
                .map(|g| g.members.iter().map(|&m| SourceId(m)).collect())
                .collect()
        }
        with_table!(ref self, family, |t, _sh| get(t)).unwrap_or_default()
    }

    /// What `peer`'s update group holds in its stream for `family` (messages unread by some
    /// member: how many, in octets), and the size of the peer's own catch-up set: what a slow
    /// member costs.
    pub fn update_group_backlog(&self, peer: SourceId, family: Family) -> (usize, usize, usize) {
        fn get<K: Key>(t: &Table<K>, i: usize) -> (usize, usize, usize) {
            let own = t.out.get(i).map_or(0, |m| m.dirty.len() + m.queue.len());
            t.out
                .group_of(i)
                .map_or((0, 0, own), |g| (g.stream.len(), g.stream_bytes, own))
        }
        let i = usize::from(peer.0);
        with_table!(ref self, family, |t, _sh| get(t, i)).unwrap_or_default()
    }
}

//! Outbound state in one family's table: update groups (one Adj-RIB-Out and one stream of
//! encoded UPDATEs each, see `group`) and each peer's membership (its position in its group's
//! stream and its own catch-up work).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::attrs::AttrId;
use super::group::GroupKey;
use super::prefix::{FastMap, FastSet, Key, KeyMap};
use super::table::cf;
use super::{Source, SourceKind};

/// The source half of an Adj-RIB-Out tag (see [`AdjOut`]).
pub(crate) fn tag_src(tag: u32) -> u16 {
    (tag >> 16) as u16
}

/// Adj-RIB-Out of one update group: per prefix, the (tag, outgoing attribute set) pairs its
/// members have from us. The tag is the path's source in the high half and the received path
/// identifier's low half below: the outgoing path identifier with ADD-PATH, and the source a
/// member must not get back (split horizon) in every case. The first pair is stored inline (16
/// octets per IPv4 prefix); only ADD-PATH groups with several paths use the overflow map.
pub(crate) struct AdjOut<K> {
    first: KeyMap<K, (u32, AttrId)>,
    more: FastMap<K, Vec<(u32, AttrId)>>,
    /// Entries per source (to count what a member has: the group's entries minus its own).
    per_src: FastMap<u16, usize>,
}

impl<K> Default for AdjOut<K> {
    fn default() -> Self {
        AdjOut {
            first: KeyMap::default(),
            more: FastMap::default(),
            per_src: FastMap::default(),
        }
    }
}

impl<K: Key> AdjOut<K> {
    /// Nothing is advertised.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// The (prefix, path) pairs advertised.
    pub fn len(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }

    /// The pairs whose path came from source `src`.
    pub fn count_src(&self, src: u16) -> usize {
        self.per_src.get(&src).copied().unwrap_or(0)
    }

    fn count(&mut self, tag: u32, up: bool) {
        let c = self.per_src.entry(tag_src(tag)).or_insert(0);
        *c = if up { *c + 1 } else { c.saturating_sub(1) };
        if *c == 0 {
            self.per_src.remove(&tag_src(tag));
        }
    }

    /// Removes the entry of `key` into `into` (cleared first).
    pub fn take(&mut self, key: &K, into: &mut Vec<(u32, AttrId)>) {
        into.clear();
        if let Some(f) = self.first.remove(key) {
            into.push(f);
            if let Some(m) = self.more.remove(key) {
                into.extend(m);
            }
        }
        for &(tag, _) in into.iter() {
            self.count(tag, false);
        }
    }

    /// Stores `v` as the entry of `key` (nothing when empty).
    pub fn put(&mut self, key: K, v: &[(u32, AttrId)]) {
        for &(tag, _) in v {
            self.count(tag, true);
        }
        if let Some((f, rest)) = v.split_first() {
            self.first.insert(key, *f);
            if !rest.is_empty() {
                self.more.insert(key, rest.to_vec());
            }
        }
    }

    /// The entry of `key` into `into` (cleared first).
    pub fn get_into(&self, key: &K, into: &mut Vec<(u32, AttrId)>) {
        into.clear();
        into.extend(self.first.get(key).copied());
        if let Some(m) = self.more.get(key) {
            into.extend_from_slice(m);
        }
    }

    /// Every (prefix, tag) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (K, u32)> + '_ {
        self.first.iter().map(|(k, &(t, _))| (*k, t)).chain(
            self.more
                .iter()
                .flat_map(|(k, v)| v.iter().map(move |&(t, _)| (*k, t))),
        )
    }

    /// Every attribute set referenced, consuming the table.
    pub fn into_ids(self) -> impl Iterator<Item = AttrId> {
        self.first
            .into_values()
            .map(|(_, id)| id)
            .chain(self.more.into_values().flatten().map(|(_, id)| id))
    }
}

/// One encoded UPDATE of a group's stream, written as is to every member but `except`.
pub(crate) struct Msg<K> {
    pub bytes: Bytes,
    /// Its prefixes with their outgoing path identifiers (0 without ADD-PATH): what a member
    /// that lags past this message must look at again, or what `except` gets withdrawn.
    pub nlri: Box<[(K, u32)]>,
    /// The member the announced paths came from (split horizon): it does not get this message.
    pub except: Option<u16>,
    /// `except` had another path for these prefixes: it gets them withdrawn instead.
    pub alt_withdraw: bool,
    /// Members still to read it; the front message is dropped when this reaches 0.
    pub readers: u32,
}

impl<K> Msg<K> {
    /// Octets it holds: the encoded message, its prefix list and itself.
    pub fn cost(&self) -> usize {
        self.bytes.len() + std::mem::size_of_val(&*self.nlri) + std::mem::size_of::<Msg<K>>()
    }
}

/// One update group: peers whose exports come out identical (see [`GroupKey`]).
pub(crate) struct Group<K> {
    pub key: GroupKey,
    /// Member source indexes; the first one's session encodes the stream.
    pub members: Vec<u16>,
    /// Which change flags concern the group.
    pub mask: u8,
    /// Prefixes changed since they were last looked at (coalesced).
    pub dirty: FastSet<K>,
    /// Prefixes to look at now (a drained dirty set), popped from the end.
    pub queue: Vec<K>,
    /// The group's initial feed (or a policy refresh): a sorted snapshot of the table's
    /// prefixes and the position reached.
    pub feed: Option<(Arc<[K]>, usize)>,
    /// What every member has from us (each but the paths it sent us itself).
    pub adj_out: AdjOut<K>,
    /// Encoded UPDATEs not yet read by every member.
    pub stream: VecDeque<Msg<K>>,
    /// The sequence number of `stream`'s first message.
    pub base: u64,
    /// What `stream` holds, in octets ([`Msg::cost`]).
    pub stream_bytes: usize,
}

impl<K> Group<K> {
    /// The sequence number the next message gets.
    pub fn end(&self) -> u64 {
        self.base + self.stream.len() as u64
    }

    /// Changes not yet evaluated.
    pub fn has_work(&self) -> bool {
        self.feed.is_some() || !self.queue.is_empty() || !self.dirty.is_empty()
    }
}

/// One peer's outbound state for this family.
pub(crate) struct OutState<K> {
    /// The peer is established for this family.
    pub active: bool,
    /// Its update group (an index into [`Outbound::groups`]).
    pub group: Option<usize>,
    /// The sequence number of the next stream message it reads.
    pub pos: u64,
    /// Its own catch-up (joining a group that already advertises, or a ROUTE-REFRESH): a
    /// sorted snapshot of the table's prefixes whose group entries it gets, and the position.
    pub feed: Option<(Arc<[K]>, usize)>,
    /// Its own catch-up of single prefixes (path id 0 without ADD-PATH): stream messages it
    /// lagged past, or prefixes its previous group advertised. It gets the group's current
    /// entry, or a withdrawal.
    pub dirty: FastSet<(K, u32)>,
    /// A drained `dirty`, popped from the end.
    pub queue: Vec<(K, u32)>,
    /// End-of-RIB still to be sent after the initial feed.
    pub eor_pending: bool,
}

impl<K> Default for OutState<K> {
    fn default() -> Self {
        OutState {
            active: false,
            group: None,
            pos: 0,
            feed: None,
            dirty: FastSet::default(),
            queue: Vec::new(),
            eor_pending: false,
        }
    }
}

/// A table's outbound state: its groups and every peer's membership.
pub(crate) struct Outbound<K> {
    /// Per source index.
    pub members: Vec<OutState<K>>,
    /// Groups by index; `None` is a free slot.
    pub groups: Vec<Option<Group<K>>>,
}

impl<K> Default for Outbound<K> {
    fn default() -> Self {
        Outbound {
            members: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl<K: Key> Outbound<K> {
    /// A peer's state.
    pub fn get(&self, i: usize) -> Option<&OutState<K>> {
        self.members.get(i)
    }

    /// A peer's group.
    pub fn group_of(&self, i: usize) -> Option<&Group<K>> {
        let g = self.members.get(i)?.group?;
        self.groups.get(g)?.as_ref()
    }

    /// Records that `key` changed with `flags` (best path source before and after) in every
    /// group it may concern.
    pub fn mark(
        &mut self,
        key: K,
        flags: u8,
        old_best: Option<u16>,
        new_best: Option<u16>,
        sources: &[Source],
    ) {
        for g in self.groups.iter_mut().flatten() {
            if flags & g.mask == 0 {
                continue;
            }
            // Without ADD-PATH a group only ever has our best path: skip it when neither the
            // old nor the new best could be exported to it.
            let concerned = g.mask & cf::PATHS != 0
                || old_best.is_some_and(|s| may_export(sources, s, &g.key))
                || new_best.is_some_and(|s| may_export(sources, s, &g.key));
            if concerned {
                g.dirty.insert(key);
            }
        }
    }
}

/// Whether a best path from source `src` could ever be exported to a group: false only for a
/// single-member group's own paths and for iBGP routes from a non-client towards iBGP
/// non-clients (RFC 4271 §9.2).
fn may_export(sources: &[Source], src: u16, g: &GroupKey) -> bool {
    if g.solo == Some(src) {
        return false;
    }
    match sources.get(usize::from(src)) {
        Some(s) => !(s.kind == SourceKind::Bgp && s.ibgp && g.ibgp && !s.rr_client && !g.rr_client),
        None => true,
    }
}

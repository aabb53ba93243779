//! A peer's outbound state in one family's table: its coalesced dirty set, the initial feed
//! position and its Adj-RIB-Out.

use std::sync::Arc;

use super::attrs::AttrId;
use super::prefix::{FastMap, FastSet, Key, KeyMap};

/// Adj-RIB-Out of one peer: per prefix, the (outgoing path id, outgoing attribute set) pairs
/// the peer has from us. The first pair is stored inline (16 octets per IPv4 prefix); only
/// ADD-PATH peers with several paths use the overflow map.
pub(crate) struct AdjOut<K> {
    first: KeyMap<K, (u32, AttrId)>,
    more: FastMap<K, Vec<(u32, AttrId)>>,
}

impl<K> Default for AdjOut<K> {
    fn default() -> Self {
        AdjOut {
            first: KeyMap::default(),
            more: FastMap::default(),
        }
    }
}

impl<K: Key> AdjOut<K> {
    /// The peer has nothing from us.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// The (prefix, path) pairs the peer has from us.
    pub fn len(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
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
    }

    /// Stores `v` as the entry of `key` (nothing when empty).
    pub fn put(&mut self, key: K, v: &[(u32, AttrId)]) {
        if let Some((f, rest)) = v.split_first() {
            self.first.insert(key, *f);
            if !rest.is_empty() {
                self.more.insert(key, rest.to_vec());
            }
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &K) -> Vec<(u32, AttrId)> {
        let mut v: Vec<(u32, AttrId)> = self.first.get(key).copied().into_iter().collect();
        if let Some(m) = self.more.get(key) {
            v.extend_from_slice(m);
        }
        v
    }

    /// Every attribute set referenced, consuming the table.
    pub fn into_ids(self) -> impl Iterator<Item = AttrId> {
        self.first
            .into_values()
            .map(|(_, id)| id)
            .chain(self.more.into_values().flatten().map(|(_, id)| id))
    }
}

/// One peer's outbound state for this family.
pub(crate) struct OutState<K> {
    /// The peer is established for this family.
    pub active: bool,
    /// Which change flags concern the peer.
    pub mask: u8,
    /// Prefixes changed since they were last looked at (coalesced).
    pub dirty: FastSet<K>,
    /// Prefixes to look at now (a drained dirty set), popped from the end.
    pub queue: Vec<K>,
    /// The initial feed (or a refresh): a sorted snapshot of the table's prefixes, shared by
    /// every peer fed from the same table state, and the position reached.
    pub feed: Option<(Arc<[K]>, usize)>,
    /// Adj-RIB-Out: what the peer has from us.
    pub adj_out: AdjOut<K>,
    /// End-of-RIB still to be sent after the initial feed.
    pub eor_pending: bool,
}

impl<K> Default for OutState<K> {
    fn default() -> Self {
        OutState {
            active: false,
            mask: 0,
            dirty: FastSet::default(),
            queue: Vec::new(),
            feed: None,
            adj_out: AdjOut::default(),
            eor_pending: false,
        }
    }
}

//! DOC: the shards behind a [`super::KeyMap`]: one family's keys in 64 hash tables that grow
//! (and shrink) one at a time, the shards' shares of the hash space spread so that they double
//! at different table sizes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::{FoldHasher, FoldMap};

/// Shards of a [`KeyMap`]: 64 hash tables, each growing (and shrinking) on its own.
pub(super) const SHARD_BITS: u32 = 6;
pub(super) const SHARDS: usize = 1 << SHARD_BITS;
/// A key's shard comes from 12 hash bits (44-55), above any bucket index a shard's table
/// uses and below the 7 bits hashbrown keeps as each bucket's tag, through [`SHARD_OF`].
pub(super) const SHARD_SHIFT: u32 = 44;
pub(super) const CELL_BITS: u32 = 12;
pub(super) const CELLS: usize = 1 << CELL_BITS;
/// A shard at least this large gives memory back once it is a quarter full or less.
pub(super) const SHRINK_ABOVE: usize = 64;

/// Hash cell -> shard, giving shard `i` a share of the hash space proportional to 2^(i/64)
/// (as bgp-core's RIB shards do): the shards' doubling points are spread over one octave of
/// table sizes instead of all falling at the same size. With equal shares every shard
/// doubled at once, and 1M routes (just past 7/8 of 2^20) sat at 48 % load; spread, the load
/// stays near the average of that swing (~63 %) at every size.
pub(super) static SHARD_OF: [u8; CELLS] = shard_table();

// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn shard_table() -> [u8; CELLS] {
    // 2^(1/64) in 32.32 fixed point; `r` steps through 2^(i/64).
    const STEP: u128 = 4_341_736_423;
    const ONE: u128 = 1 << 32;
    // starts[i]: the first cell of shard i, CELLS * (2^(i/64) - 1) rounded.
    let mut starts = [CELLS; SHARDS + 1];
    starts[0] = 0;
    let mut r = ONE;
    let mut i = 1;
    while i < SHARDS {
        r = (r * STEP) >> 32;
        starts[i] = (((r - ONE) * CELLS as u128 + ONE / 2) >> 32) as usize;
        i += 1;
    }
    let mut t = [0u8; CELLS];
    let mut i = 0;
    while i < SHARDS {
        let mut c = starts[i];
        while c < starts[i + 1] {
            t[c] = i as u8;
            c += 1;
        }
        i += 1;
    }
    t
}

#[inline]
fn shard_of<K: Hash>(k: &K) -> usize {
    let mut h = FoldHasher::default();
    k.hash(&mut h);
    let cell = ((h.finish() >> SHARD_SHIFT) as usize) & (CELLS - 1);
    SHARD_OF.get(cell).map_or(0, |&s| usize::from(s))
}

/// One family's keys in [`SHARDS`] hash tables chosen by bits of the key's hash. A single
/// table doubles all at once: while it moves a million entries into twice the buckets both
/// arrays are live (1M routes: 17.8 + 35.7 MB), so a full table peaked at 1.5× its steady
/// size. Here only one shard's old array (1/64 of the table) lives beside the new one.
/// The shards are allocated with the first key.
pub(super) struct Sharded<K, V> {
    pub(super) maps: Vec<FoldMap<K, V>>,
    pub(super) len: usize,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            maps: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    pub(super) fn shard_mut(&mut self, k: &K) -> Option<&mut FoldMap<K, V>> {
        if self.maps.is_empty() {
            self.maps = (0..SHARDS).map(|_| FoldMap::default()).collect();
        }
        self.maps.get_mut(shard_of(k))
    }

    pub(super) fn get(&self, k: &K) -> Option<&V> {
        self.maps.get(shard_of(k))?.get(k)
    }

    pub(super) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.maps.get_mut(shard_of(k))?.get_mut(k)
    }

    pub(super) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let m = self.shard_mut(&k)?;
        let old = m.insert(k, v);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub(super) fn remove(&mut self, k: &K) -> Option<V> {
        let m = self.maps.get_mut(shard_of(k))?;
        let v = m.remove(k)?;
        self.len -= 1;
        // After a mass withdrawal, give the memory back, one shard at a time.
        if m.capacity() > SHRINK_ABOVE && m.len() * 4 < m.capacity() {
            m.shrink_to(m.len() * 2);
        }
        Some(v)
    }

    /// Keeps the entries for which `f` is true, in one pass; returns how many went.
    pub(super) fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) -> usize {
        let before = self.len;
        for m in &mut self.maps {
            m.retain(|k, v| f(k, v));
            if m.capacity() > SHRINK_ABOVE && m.len() * 4 < m.capacity() {
                m.shrink_to(m.len() * 2);
            }
        }
        self.len = self.maps.iter().map(HashMap::len).sum();
        before - self.len
    }

    pub(super) fn reserve(&mut self, additional: usize) {
        if additional == 0 {
            return;
        }
        if self.maps.is_empty() {
            self.maps = (0..SHARDS).map(|_| FoldMap::default()).collect();
        }
        let mut cells = [0usize; SHARDS];
        for s in SHARD_OF {
            if let Some(c) = cells.get_mut(usize::from(s)) {
                *c += 1;
            }
        }
        // Each shard takes its share of the keys (and a little more for the spread).
        for (m, c) in self.maps.iter_mut().zip(cells) {
            let each = additional * c / CELLS;
            m.reserve(each + each / 16);
        }
    }

    /// Buckets of all shards.
    pub(super) fn capacity(&self) -> usize {
        self.maps.iter().map(HashMap::capacity).sum()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.maps.iter().flat_map(|m| m.iter())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.maps.iter_mut().flat_map(|m| m.iter_mut())
    }
}

//! A prefix map split into 64 independent hash tables (shards) chosen by bits of the key's
//! hash, so the table grows one shard at a time.
//!
//! A single hash table doubles all at once: while it moves a million entries into a new
//! array of twice the buckets, both arrays are live, and a table building up to 1M prefixes
//! peaked at ~1.6× its steady size. With 64 shards only one shard's old array (1/64 of the
//! table) coexists with the new ones. The shard comes from hash bits 44–55, which the
//! locality-preserving prefix hash keeps equal within a group of 64 neighbouring prefixes
//! (see [`super::prefix::V4Key`]), so consecutive prefixes still share a shard and neighbouring
//! buckets; the shard's own table uses the low bits and the 7-bit tag as before.

use std::hash::BuildHasher;

use super::prefix::{IdState, Key, KeyMap};

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// The shard comes from 12 hash bits (44–55), above the ones a shard's table can use for its
/// bucket index and below the tag, through [`SHARD_OF`].
const SHARD_SHIFT: u32 = 44;
const CELL_BITS: u32 = 12;
const CELLS: usize = 1 << CELL_BITS;

/// Hash cell → shard, giving shard `i` a share of the hash space proportional to 2^(i/64):
/// the largest shard gets twice the smallest's share, so the shards' doubling points are
/// spread evenly (on a log scale) over one octave of table sizes instead of all falling at
/// the same size. With equal shares every shard doubled at once: a table just past a power of
/// two (1M prefixes: 917k is 7/8 of 2^20) sat at 48 % load (36 B/route with the 16-octet buckets of then),
/// one just below at 84 %. Spread, the load stays near the average of that swing (~63 %) at
/// every size: fewer bytes just past a doubling point, more just below one.
static SHARD_OF: [u8; CELLS] = shard_table();

// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn shard_table() -> [u8; CELLS] {
    // 2^(1/64) in 32.32 fixed point; `r` steps through 2^(i/64).
    const STEP: u128 = 4_341_736_423;
    const ONE: u128 = 1 << 32;
    // starts[i]: the first cell of shard i, CELLS · (2^(i/64) − 1) rounded.
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
fn shard_of<K: Key>(k: &K) -> usize {
    let cell = ((IdState.hash_one(k) >> SHARD_SHIFT) as usize) & (CELLS - 1);
    SHARD_OF.get(cell).map_or(0, |&s| usize::from(s))
}

/// Prefix → `V`, in [`SHARDS`] hash tables.
pub(crate) struct ShardMap<K, V> {
    shards: Vec<KeyMap<K, V>>,
    len: usize,
}

impl<K: Key, V> Default for ShardMap<K, V> {
    fn default() -> Self {
        ShardMap {
            shards: (0..SHARDS).map(|_| KeyMap::default()).collect(),
            len: 0,
        }
    }
}

impl<K: Key, V> ShardMap<K, V> {
    #[inline]
    fn shard(&self, k: &K) -> Option<&KeyMap<K, V>> {
        self.shards.get(shard_of(k))
    }

    #[inline]
    fn shard_mut(&mut self, k: &K) -> Option<&mut KeyMap<K, V>> {
        self.shards.get_mut(shard_of(k))
    }

    /// The value at `k`.
    #[inline]
    pub fn get(&self, k: &K) -> Option<&V> {
        self.shard(k)?.get(k)
    }

    /// The value at `k`, mutably.
    #[inline]
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.shard_mut(k)?.get_mut(k)
    }

    /// The value at `k`, inserting `v` first if there is none; `None` only if the shard is
    /// missing, which cannot happen (the shards are made with the map).
    #[inline]
    pub fn get_or_insert(&mut self, k: K, v: V) -> Option<&mut V> {
        let i = shard_of(&k);
        let shard = self.shards.get_mut(i)?;
        let entry = shard.entry(k);
        if matches!(entry, std::collections::hash_map::Entry::Vacant(_)) {
            self.len += 1;
        }
        Some(entry.or_insert(v))
    }

    /// Removes `k`, returning its value.
    #[inline]
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let v = self.shard_mut(k)?.remove(k);
        if v.is_some() {
            self.len -= 1;
        }
        v
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the shards can hold without growing.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(|s| s.capacity()).sum()
    }

    /// Gives memory back where shards are mostly empty (after mass removals).
    pub fn shrink(&mut self) {
        for s in &mut self.shards {
            if s.capacity() > 64 && s.len() * 4 < s.capacity() {
                s.shrink_to_fit();
            }
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The entries of shard `i` (none for a shard that does not exist).
    pub fn shard_iter(&self, i: usize) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.get(i).into_iter().flat_map(|s| s.iter())
    }

    /// The entries of shard `i`, mutably (none for a shard that does not exist).
    pub fn shard_iter_mut(&mut self, i: usize) -> impl Iterator<Item = (&K, &mut V)> + '_ {
        self.shards
            .get_mut(i)
            .into_iter()
            .flat_map(|s| s.iter_mut())
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.shards.iter().flat_map(|s| s.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::prefix::V4Key;
    use ipnet::IpNet;

    fn key(i: u32) -> V4Key {
        let n: IpNet = format!("{}/24", std::net::Ipv4Addr::from((1u32 << 24) + i * 256))
            .parse()
            .unwrap();
        V4Key::from_net(&n).unwrap()
    }

    #[test]
    fn behaves_as_a_map_and_spreads_over_shards() {
        let mut m: ShardMap<V4Key, u32> = ShardMap::default();
        for i in 0..10_000 {
            *m.get_or_insert(key(i), 0).unwrap() += i;
        }
        *m.get_or_insert(key(7), 99).unwrap() += 1;
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&key(7)), Some(&8));
        assert_eq!(m.iter().count(), 10_000);
        let used = m.shards.iter().filter(|s| !s.is_empty()).count();
        assert!(used > SHARDS / 2, "{used} shards used");
        // 64 consecutive prefixes of a group share a shard.
        let groups: std::collections::HashSet<usize> = (0..64).map(|i| shard_of(&key(i))).collect();
        assert!(groups.len() <= 2);
        for i in 0..10_000 {
            assert_eq!(m.remove(&key(i)), Some(if i == 7 { 8 } else { i }));
        }
        assert_eq!(m.remove(&key(1)), None);
        assert!(m.is_empty());
        m.shrink();
        assert!(m.capacity() < 10_000);
    }

    #[test]
    fn shard_shares_grow_by_2_to_the_64th_root_over_one_octave() {
        let mut cells = [0usize; SHARDS];
        for &s in SHARD_OF.iter() {
            cells[usize::from(s)] += 1;
        }
        // Shard i has CELLS · 2^(i/64) · (2^(1/64) − 1) cells, ±1 for rounding.
        for (i, &n) in cells.iter().enumerate() {
            let want = CELLS as f64 * 2f64.powf(i as f64 / 64.0) * (2f64.powf(1.0 / 64.0) - 1.0);
            assert!(
                (n as f64 - want).abs() <= 1.0,
                "shard {i}: {n} cells, {want:.1} wanted"
            );
        }
        assert!(SHARD_OF.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The point of the unequal shares: whatever the table's size, its shards are not all
    /// just past a doubling point. Filled to between 67 and 100 % of the capacity the shards
    /// have grown to (7/8 of their buckets) at every size checked here; with equal shares the
    /// worst was 51 % (just past 917k, 7/8 of 2^20).
    #[test]
    fn the_load_stays_high_at_every_size() {
        let mut m: ShardMap<V4Key, u32> = ShardMap::default();
        let mut worst = f64::MAX;
        for i in 0..1_000_000u32 {
            m.get_or_insert(key(i), i);
            if i >= 250_000 && i % 20_000 == 0 {
                worst = worst.min(m.len() as f64 / m.capacity() as f64);
            }
        }
        assert!(
            worst > 0.62,
            "worst fill of the shards' capacity {worst:.3}"
        );
    }
}

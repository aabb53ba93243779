//! A prefix map split into 64 independent hash tables (shards) chosen by bits of the key's
//! hash, so the table grows one shard at a time.
//!
//! A single hash table doubles all at once: while it moves a million entries into a new
//! array of twice the buckets, both arrays are live, and a table building up to 1M prefixes
//! peaked at ~1.6× its steady size. With 64 shards only one shard's old array (1/64 of the
//! table) coexists with the new ones. The shard comes from hash bits 50–55, which the
//! locality-preserving prefix hash keeps equal within a group of 64 neighbouring prefixes
//! (see [`super::prefix::V4Key`]), so consecutive prefixes still share a shard and neighbouring
//! buckets; the shard's own table uses the low bits and the 7-bit tag as before.

use std::hash::BuildHasher;

use super::prefix::{IdState, Key, KeyMap};

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// Hash bits above the ones a shard's table can use for its bucket index, below the tag.
const SHARD_SHIFT: u32 = 50;

#[inline]
fn shard_of<K: Key>(k: &K) -> usize {
    ((IdState.hash_one(k) >> SHARD_SHIFT) as usize) & (SHARDS - 1)
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
}

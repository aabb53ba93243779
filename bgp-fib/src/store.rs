//! DOC: compact storage for the FIB's per-route state. At a million routes the desired state
//! dominates the daemon's memory, so a route key (table, prefix, metric) is stored packed:
//! the (table, metric) pair, nearly always one of a handful, is interned into a small index,
//! and an IPv4 key becomes one `u64` (an IPv6 key five `u32`s). [`KeyMap`] is a map on such
//! keys, [`KeyQueue`] a FIFO of them, [`Interned`] a reference-counted set of values (the
//! kernel targets, shared by every route with the same next hops). Packed keys hash with a
//! folded 128-bit multiply, so sequential prefixes (whose low bits are all zero) still spread
//! over the whole table.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::types::RouteKey;

/// Largest number of distinct (table, metric) pairs (24 bits of a packed key).
pub(crate) const MAX_TABLE_METRICS: usize = 1 << 24;

/// Hasher for packed keys: each word is folded in with a 64×64→128-bit multiply whose halves
/// are XORed, so every input bit reaches the low bits hashbrown indexes with.
#[derive(Default, Clone, Copy)]
pub(crate) struct FoldHasher {
    hash: u64,
}

const FOLD_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl FoldHasher {
    #[inline]
    fn fold(&mut self, w: u64) {
        let m = u128::from(self.hash ^ w) * u128::from(FOLD_SEED);
        self.hash = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            if let Some(d) = w.get_mut(..c.len()) {
                d.copy_from_slice(c);
            }
            self.fold(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.fold(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.fold(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.fold(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.fold(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.fold(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FoldMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// An IPv6 key: the address as four words, then `tm << 8 | prefix length`.
type Key6 = [u32; 5];

/// The interned (table, metric) pairs. Never shrinks: a pair stays valid for every packed key
/// that mentions it (there are as many pairs as distinct kernel tables × metrics configured).
#[derive(Default)]
pub(crate) struct TableMetrics {
    pairs: Vec<(u32, u32)>,
    ids: HashMap<(u32, u32), u32>,
}

/// A packed route key, as queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packed {
    V4(u64),
    V6(Key6),
}

impl TableMetrics {
    /// Packs `key`; `None` only when [`MAX_TABLE_METRICS`] distinct pairs are already in use.
    pub fn pack(&mut self, key: &RouteKey) -> Option<Packed> {
        let tm = match self.index(key.table, key.metric) {
            Some(i) => i,
            None => {
                if self.pairs.len() >= MAX_TABLE_METRICS {
                    return None;
                }
                let i = self.pairs.len() as u32;
                self.pairs.push((key.table, key.metric));
                self.ids.insert((key.table, key.metric), i);
                i
            }
        };
        Some(Self::pack_with(tm, &key.prefix))
    }

    /// Packs `key` if its (table, metric) pair is known (a key never packed is in no map).
    pub fn find(&self, key: &RouteKey) -> Option<Packed> {
        let tm = self.index(key.table, key.metric)?;
        Some(Self::pack_with(tm, &key.prefix))
    }

    /// The index of a known pair: a look along the few pairs most configurations have (every
    /// route is packed on its way in and found again at its ACK: a hash per route showed in
    /// the FIB thread's profile), the map past [`Self::SCAN_UP_TO`] of them.
    fn index(&self, table: u32, metric: u32) -> Option<u32> {
        if self.pairs.len() <= Self::SCAN_UP_TO {
            return self
                .pairs
                .iter()
                .position(|p| *p == (table, metric))
                .map(|i| i as u32);
        }
        self.ids.get(&(table, metric)).copied()
    }

    const SCAN_UP_TO: usize = 8;

    /// How many (table, metric) pairs are interned.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The (table, metric) pair with index `tm`.
    pub fn pair(&self, tm: usize) -> Option<(u32, u32)> {
        self.pairs.get(tm).copied()
    }

    pub fn pack_with(tm: u32, prefix: &IpNet) -> Packed {
        match prefix {
            IpNet::V4(n) => Packed::V4(
                (u64::from(tm) << 40)
                    | (u64::from(n.prefix_len()) << 32)
                    | u64::from(u32::from(n.network())),
            ),
            IpNet::V6(n) => {
                let a = u128::from(n.network());
                Packed::V6([
                    (a >> 96) as u32,
                    (a >> 64) as u32,
                    (a >> 32) as u32,
                    a as u32,
                    (tm << 8) | u32::from(n.prefix_len()),
                ])
            }
        }
    }

    /// The route key of a packed key.
    pub fn unpack(&self, p: Packed) -> RouteKey {
        let (tm, prefix) = match p {
            Packed::V4(k) => {
                let len = ((k >> 32) & 0xff) as u8;
                let net = Ipv4Net::new(Ipv4Addr::from(k as u32), len.min(32))
                    .map(IpNet::V4)
                    .unwrap_or_default();
                ((k >> 40) as u32, net)
            }
            Packed::V6([a, b, c, d, e]) => {
                let addr = (u128::from(a) << 96)
                    | (u128::from(b) << 64)
                    | (u128::from(c) << 32)
                    | u128::from(d);
                let len = (e & 0xff) as u8;
                let net = Ipv6Net::new(Ipv6Addr::from(addr), len.min(128))
                    .map(IpNet::V6)
                    .unwrap_or_default();
                (e >> 8, net)
            }
        };
        let (table, metric) = self.pairs.get(tm as usize).copied().unwrap_or((0, 0));
        RouteKey {
            table,
            prefix,
            metric,
        }
    }
}

mod sharded;
use sharded::Sharded;
#[cfg(test)]
use sharded::{CELLS, SHARDS, SHARD_OF, SHRINK_ABOVE};

/// A packed IPv4 key as two words: aligned to 4, so that with a 4-octet value a bucket takes
/// 12 octets instead of 16. Hashes as the `u64` it stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key4([u32; 2]);

impl Key4 {
    #[inline]
    fn new(k: u64) -> Key4 {
        Key4([(k >> 32) as u32, k as u32])
    }
    #[inline]
    fn get(self) -> u64 {
        (u64::from(self.0[0]) << 32) | u64::from(self.0[1])
    }
}

impl Hash for Key4 {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.get());
    }
}

/// A map from packed route keys to `V` (each family sharded, see [`Sharded`]).
pub(crate) struct KeyMap<V> {
    v4: Sharded<Key4, V>,
    v6: Sharded<Key6, V>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            v4: Sharded::default(),
            v6: Sharded::default(),
        }
    }
}

impl<V> KeyMap<V> {
    pub fn len(&self) -> usize {
        self.v4.len + self.v6.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of heap held by the tables (buckets and control bytes).
    pub fn heap_bytes(&self) -> usize {
        self.v4.capacity() * (std::mem::size_of::<(Key4, V)>() + 1)
            + self.v6.capacity() * (std::mem::size_of::<(Key6, V)>() + 1)
    }

    pub fn reserve_v4(&mut self, additional: usize) {
        self.v4.reserve(additional);
    }

    pub fn get(&self, k: Packed) -> Option<&V> {
        match k {
            Packed::V4(k) => self.v4.get(&Key4::new(k)),
            Packed::V6(k) => self.v6.get(&k),
        }
    }

    pub fn get_mut(&mut self, k: Packed) -> Option<&mut V> {
        match k {
            Packed::V4(k) => self.v4.get_mut(&Key4::new(k)),
            Packed::V6(k) => self.v6.get_mut(&k),
        }
    }

    pub fn contains(&self, k: Packed) -> bool {
        self.get(k).is_some()
    }

    pub fn insert(&mut self, k: Packed, v: V) -> Option<V> {
        match k {
            Packed::V4(k) => self.v4.insert(Key4::new(k), v),
            Packed::V6(k) => self.v6.insert(k, v),
        }
    }

    pub fn remove(&mut self, k: Packed) -> Option<V> {
        match k {
            Packed::V4(k) => self.v4.remove(&Key4::new(k)),
            Packed::V6(k) => self.v6.remove(&k),
        }
    }

    /// Keeps the entries for which `f` is true (one pass over the tables, no lookups);
    /// returns how many were removed.
    pub fn retain(&mut self, mut f: impl FnMut(Packed, &mut V) -> bool) -> usize {
        self.v4.retain(|k, v| f(Packed::V4(k.get()), v))
            + self.v6.retain(|k, v| f(Packed::V6(*k), v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (Packed, &V)> {
        self.v4
            .iter()
            .map(|(k, v)| (Packed::V4(k.get()), v))
            .chain(self.v6.iter().map(|(k, v)| (Packed::V6(*k), v)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Packed, &mut V)> {
        self.v4
            .iter_mut()
            .map(|(k, v)| (Packed::V4(k.get()), v))
            .chain(self.v6.iter_mut().map(|(k, v)| (Packed::V6(*k), v)))
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = Packed> + '_ {
        self.iter().map(|(k, _)| k)
    }
}

/// Queue length above which keys are taken from scattered positions.
pub(crate) const SCATTER_ABOVE: usize = 1024;

/// A scattered position below `len` from the xorshift64 state `rng` (deterministic; a zero
/// state is seeded): how [`KeyQueue`] and a nexthop object's doomed routes hand out keys.
pub(crate) fn scatter_pick(rng: &mut u64, len: usize) -> usize {
    if *rng == 0 {
        *rng = 0x2545_f491_4f6c_dd1d;
    }
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    (*rng % len.max(1) as u64) as usize
}

/// The keys waiting to be sent, IPv4 and IPv6 served in turn, each taken from a scattered
/// position rather than in arrival order: the kernel's LC-trie removes a table in address
/// order several times slower than in scattered order (500k /24 deletes on this machine's
/// kernel: 14.4 s ascending, 4.4 s descending, 3.8 s shuffled; inserts 4.0 s vs 3.7 s), and a
/// withdrawn peer's routes arrive in address order. Each key's operation is decided when it is
/// taken (from the desired state), so the order is free.
#[derive(Default)]
pub(crate) struct KeyQueue {
    v4: VecDeque<u64>,
    v6: VecDeque<Key6>,
    turn_v6: bool,
    /// xorshift64 state picking the positions (deterministic, non-zero).
    rng: u64,
}

impl KeyQueue {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn push_back(&mut self, k: Packed) {
        match k {
            Packed::V4(k) => self.v4.push_back(k),
            Packed::V6(k) => self.v6.push_back(k),
        }
    }

    pub fn extend(&mut self, ks: impl IntoIterator<Item = Packed>) {
        for k in ks {
            self.push_back(k);
        }
    }

    fn pick(&mut self, len: usize) -> usize {
        scatter_pick(&mut self.rng, len)
    }

    /// Takes a key: in arrival order from a short queue (a few changes keep their order),
    /// from a scattered position once more than [`SCATTER_ABOVE`] wait (see the type's docs).
    pub fn pop(&mut self) -> Option<Packed> {
        self.turn_v6 = !self.turn_v6;
        let v6_first = self.turn_v6 && !self.v6.is_empty() || self.v4.is_empty();
        if v6_first {
            let len = self.v6.len();
            if len <= SCATTER_ABOVE {
                return self.v6.pop_front().map(Packed::V6);
            }
            let i = self.pick(len);
            self.v6.swap_remove_back(i).map(Packed::V6)
        } else {
            let len = self.v4.len();
            if len <= SCATTER_ABOVE {
                return self.v4.pop_front().map(Packed::V4);
            }
            let i = self.pick(len);
            self.v4.swap_remove_back(i).map(Packed::V4)
        }
    }

    /// Drops the memory of a drained queue after a full load.
    pub fn release_if_empty(&mut self) {
        if self.v4.is_empty() && self.v4.capacity() > 4096 {
            self.v4 = VecDeque::new();
        }
        if self.v6.is_empty() && self.v6.capacity() > 4096 {
            self.v6 = VecDeque::new();
        }
    }
}

/// A reference-counted set of values, each stored once and named by a `u32`.
pub(crate) struct Interned<T> {
    values: Vec<Option<(T, u32)>>,
    ids: HashMap<T, u32, BuildHasherDefault<FoldHasher>>,
    free: Vec<u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            values: Vec::new(),
            ids: HashMap::default(),
            free: Vec::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Interned<T> {
    /// The id of `v` with one more reference, and whether `v` is new (was not held).
    pub fn acquire(&mut self, v: T) -> (u32, bool) {
        if let Some(id) = self.ids.get(&v) {
            if let Some(Some((_, refs))) = self.values.get_mut(*id as usize) {
                *refs += 1;
            }
            return (*id, false);
        }
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.values.get_mut(id as usize) {
                    *slot = Some((v.clone(), 1));
                }
                id
            }
            None => {
                self.values.push(Some((v.clone(), 1)));
                (self.values.len() - 1) as u32
            }
        };
        self.ids.insert(v, id);
        (id, true)
    }

    /// Drops one reference to `id`; true when that was the last one (`id` is free now).
    pub fn release(&mut self, id: u32) -> bool {
        let Some(slot) = self.values.get_mut(id as usize) else {
            return false;
        };
        let gone = match slot {
            Some((_, refs)) if *refs > 1 => {
                *refs -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if gone {
            if let Some((v, _)) = slot.take() {
                self.ids.remove(&v);
                self.free.push(id);
            }
        }
        gone
    }

    pub fn get(&self, id: u32) -> Option<&T> {
        self.values
            .get(id as usize)
            .and_then(|s| s.as_ref())
            .map(|(v, _)| v)
    }

    /// Every value held.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.values.iter().flatten().map(|(v, _)| v)
    }

    /// Every value held, with its id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.values
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(v, _)| (i as u32, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(table: u32, p: &str, metric: u32) -> RouteKey {
        RouteKey::new(table, p.parse().unwrap(), metric)
    }

    #[test]
    fn pairs_are_found_again_by_look_and_by_map() {
        let mut tm = TableMetrics::default();
        // Past SCAN_UP_TO pairs the map answers: every pair keeps its index either way.
        let keys: Vec<RouteKey> = (0..20u32)
            .map(|i| key(100 + i % 5, "10.0.0.0/24", i / 5))
            .collect();
        let packed: Vec<Packed> = keys.iter().map(|k| tm.pack(k).unwrap()).collect();
        assert_eq!(tm.len(), 20);
        for (k, p) in keys.iter().zip(&packed) {
            assert_eq!(tm.find(k), Some(*p));
            assert_eq!(tm.pack(k), Some(*p));
            assert_eq!(tm.unpack(*p), *k);
        }
        assert_eq!(tm.len(), 20);
        assert_eq!(tm.find(&key(99, "10.0.0.0/24", 0)), None);
    }

    #[test]
    fn pack_unpack_round_trips() {
        let mut tm = TableMetrics::default();
        for k in [
            key(254, "10.0.0.0/24", 0),
            key(254, "0.0.0.0/0", 0),
            key(100, "255.255.255.255/32", 7),
            key(254, "2001:db8::/48", 1024),
            key(1, "::/0", 5),
            key(
                u32::MAX,
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
                u32::MAX,
            ),
        ] {
            let p = tm.pack(&k).unwrap();
            assert_eq!(tm.unpack(p), k);
            assert_eq!(tm.find(&k), Some(p));
        }
        assert_eq!(tm.find(&key(9, "10.0.0.0/8", 9)), None);
        // Same prefix, other table or metric: other keys.
        let a = tm.pack(&key(254, "10.0.0.0/24", 0)).unwrap();
        let b = tm.pack(&key(254, "10.0.0.0/24", 1)).unwrap();
        let c = tm.pack(&key(253, "10.0.0.0/24", 0)).unwrap();
        let d = tm.pack(&key(254, "10.0.0.0/25", 0)).unwrap();
        assert!(a != b && a != c && b != c && a != d);
    }

    #[test]
    fn sequential_prefixes_spread_over_buckets() {
        // The low bits of sequential /24 keys are all zero: the hash must still use them.
        let mut tm = TableMetrics::default();
        let mut low = std::collections::HashSet::new();
        for i in 0..4096u32 {
            let k = key(
                254,
                &format!("{}.{}.{}.0/24", 10 + (i >> 16), (i >> 8) & 255, i & 255),
                0,
            );
            let Packed::V4(p) = tm.pack(&k).unwrap() else {
                panic!()
            };
            let mut h = FoldHasher::default();
            p.hash(&mut h);
            low.insert(h.finish() & 0xfff);
        }
        // 4096 keys over 4096 buckets: a good hash fills ~63% of them.
        assert!(low.len() > 2000, "{} distinct low-12-bit hashes", low.len());
    }

    #[test]
    fn map_and_queue_hold_both_families() {
        let mut tm = TableMetrics::default();
        let mut m = KeyMap::default();
        let mut q = KeyQueue::default();
        let k4 = tm.pack(&key(254, "10.1.0.0/16", 0)).unwrap();
        let k6 = tm.pack(&key(254, "2001:db8::/32", 1024)).unwrap();
        assert_eq!(m.insert(k4, 1), None);
        assert_eq!(m.insert(k6, 2), None);
        assert_eq!(m.insert(k4, 3), Some(1));
        assert_eq!((m.len(), m.get(k4), m.get(k6)), (2, Some(&3), Some(&2)));
        let mut keys: Vec<_> = m.keys().map(|k| tm.unpack(k)).collect();
        keys.sort();
        assert_eq!(keys.len(), 2);
        assert_eq!(m.remove(k4), Some(3));
        assert!(!m.contains(k4) && m.contains(k6));
        q.push_back(k4);
        q.push_back(k4);
        q.push_back(k6);
        let mut got = Vec::new();
        while let Some(k) = q.pop() {
            got.push(k);
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got.iter().filter(|k| **k == k4).count(), 2);
        assert!(q.is_empty());
    }

    #[test]
    fn key_map_grows_one_shard_at_a_time() {
        let mut tm = TableMetrics::default();
        let mut m: KeyMap<u32> = KeyMap::default();
        assert_eq!(m.heap_bytes(), 0, "an empty map holds no shards");
        let k = |tm: &mut TableMetrics, i: u32| {
            tm.pack(&RouteKey::new(
                254,
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()),
                0,
            ))
            .unwrap()
        };
        let mut cap = 0;
        for i in 0..200_000u32 {
            let pk = k(&mut tm, i);
            assert_eq!(m.insert(pk, i), None);
            let now = m.v4.capacity();
            // A single table would double here (growth = its whole size): a shard's growth
            // is about 1/64 of the table.
            assert!(
                now - cap <= cap / 16 + 1024,
                "{cap} -> {now} buckets at {i} keys"
            );
            cap = now;
        }
        let used = m.v4.maps.iter().filter(|s| !s.is_empty()).count();
        assert_eq!(used, SHARDS, "sequential prefixes spread over every shard");
        assert_eq!(m.len(), 200_000);
        assert_eq!(m.iter().count(), 200_000);
        let k6 = tm.pack(&key(254, "2001:db8::/32", 0)).unwrap();
        m.insert(k6, 7);
        assert_eq!((m.len(), m.get(k6)), (200_001, Some(&7)));
        *m.get_mut(k(&mut tm, 5)).unwrap() += 1;
        assert_eq!(m.get(k(&mut tm, 5)), Some(&6));
        for (_, v) in m.iter_mut() {
            *v += 1;
        }
        assert_eq!(m.get(k6), Some(&8));
        // Removal, then a one-pass retain of the odd keys: memory goes back.
        for i in 0..100_000u32 {
            assert_eq!(m.remove(k(&mut tm, i)), Some(i + 1 + u32::from(i == 5)));
        }
        assert_eq!(m.remove(k(&mut tm, 0)), None);
        assert_eq!(m.len(), 100_001);
        let gone = m.retain(|pk, v| matches!(pk, Packed::V6(_)) || *v % 2 == 0);
        assert_eq!(gone, 50_000);
        assert_eq!(m.len(), 50_001);
        assert!(m.keys().all(|pk| m.get(pk).is_some_and(|v| *v % 2 == 0)));
        assert!(m.contains(k6));
        let gone = m.retain(|_, _| false);
        assert_eq!((gone, m.len(), m.is_empty()), (50_001, 0, true));
        assert!(
            m.v4.capacity() <= SHARDS * SHRINK_ABOVE,
            "{}",
            m.v4.capacity()
        );
    }

    #[test]
    fn an_ipv4_bucket_with_a_four_octet_value_takes_twelve_octets() {
        assert_eq!(std::mem::size_of::<(Key4, u32)>(), 12);
        for k in [0u64, 1, u64::MAX, 0x0000_0118_0a00_0100] {
            assert_eq!(Key4::new(k).get(), k);
        }
        let mut m: KeyMap<u32> = KeyMap::default();
        m.insert(Packed::V4(5), 1);
        assert_eq!(m.heap_bytes(), m.v4.capacity() * 13);
    }

    #[test]
    fn shards_double_at_spread_sizes() {
        // Shard shares grow by 2^(1/64): the largest has twice the smallest's.
        let mut cells = [0usize; SHARDS];
        for s in SHARD_OF {
            cells[usize::from(s)] += 1;
        }
        assert_eq!(cells.iter().sum::<usize>(), CELLS);
        assert!(
            cells[0] >= 40 && cells[SHARDS - 1] <= 2 * cells[0] + 2,
            "{cells:?}"
        );
        assert!(cells.windows(2).all(|w| w[0] <= w[1] + 1));
        // Just past 7/8 of a power of two (where equal shards all doubled: 48 % load), the
        // table stays well loaded.
        let mut tm = TableMetrics::default();
        let mut m: KeyMap<u32> = KeyMap::default();
        let n = 520_000u32;
        for i in 0..n {
            let pk = tm
                .pack(&RouteKey::new(
                    254,
                    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()),
                    0,
                ))
                .unwrap();
            m.insert(pk, i);
        }
        let buckets: usize = m.v4.maps.iter().map(|s| s.capacity() * 8 / 7 + 1).sum();
        let load = f64::from(n) / buckets as f64;
        assert!(load > 0.55, "load {load:.2} ({buckets} buckets)");
    }

    #[test]
    fn reserve_spreads_over_the_shards() {
        let mut m: KeyMap<()> = KeyMap::default();
        m.reserve_v4(1 << 20);
        let cap = m.v4.capacity();
        assert!(cap >= 1 << 20, "{cap}");
        let mut tm = TableMetrics::default();
        for i in 0..(1u32 << 20) {
            let pk = tm
                .pack(&RouteKey::new(
                    254,
                    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(i << 8), 24).unwrap()),
                    0,
                ))
                .unwrap();
            m.insert(pk, ());
        }
        assert_eq!(m.v4.capacity(), cap, "no shard grew after the reserve");
    }

    #[test]
    fn queue_gives_every_key_once_in_scattered_order() {
        let mut tm = TableMetrics::default();
        let mut q = KeyQueue::default();
        let mut keys: Vec<Packed> = Vec::new();
        for i in 0..5000u32 {
            keys.push(
                tm.pack(&key(254, &format!("10.{}.{}.0/24", i >> 8, i & 255), 0))
                    .unwrap(),
            );
        }
        for i in 0..10u32 {
            keys.push(
                tm.pack(&key(254, &format!("2001:db8:{i}::/48"), 0))
                    .unwrap(),
            );
        }
        q.extend(keys.iter().copied());
        let mut got = Vec::new();
        while let Some(k) = q.pop() {
            got.push(k);
        }
        assert_eq!(got.len(), keys.len());
        let mut a: Vec<_> = got.iter().map(|k| tm.unpack(*k)).collect();
        let mut b: Vec<_> = keys.iter().map(|k| tm.unpack(*k)).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // Not address order: few neighbours in the output are neighbours in the input.
        let v4: Vec<_> = got.iter().filter(|k| matches!(k, Packed::V4(_))).collect();
        let adjacent = v4
            .windows(2)
            .filter(|w| match (w[0], w[1]) {
                (Packed::V4(x), Packed::V4(y)) => y.abs_diff(*x) == 256,
                _ => false,
            })
            .count();
        // Only the last SCATTER_ABOVE keys come out in arrival order.
        assert!(
            adjacent < SCATTER_ABOVE + 100,
            "{adjacent} of 4999 pairs still in address order"
        );
        // IPv6 keys are served in turn, not after all IPv4 ones.
        let first_v6 = got.iter().position(|k| matches!(k, Packed::V6(_))).unwrap();
        assert!(first_v6 < 5);
    }

    #[test]
    fn interned_values_are_shared_and_freed() {
        let mut i = Interned::default();
        let (a, new_a) = i.acquire("a".to_string());
        let (b, _) = i.acquire("b".to_string());
        assert!(new_a);
        assert_eq!(i.acquire("a".to_string()), (a, false));
        assert_ne!(a, b);
        assert_eq!(i.values().count(), 2);
        i.release(a);
        assert_eq!(i.get(a).map(String::as_str), Some("a"));
        i.release(a);
        assert_eq!(i.get(a), None);
        assert_eq!(i.values().count(), 1);
        // The freed id is reused for the next new value.
        assert_eq!(i.acquire("c".to_string()), (a, true));
        assert_eq!(i.get(b).map(String::as_str), Some("b"));
    }
}

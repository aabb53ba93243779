//! DOC: compact prefix keys for the RIB tables and the fast keyed hasher they use.
//!
//! An IPv4 prefix is stored in 5 octets (address and length, 1-aligned) and an IPv6 prefix in
//! 24, so a million-prefix table spends its memory on routes rather than on keys. Host bits are
//! cleared when a key is built, so a peer that sends them set still withdraws what it announced.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::wire::Family;

/// A prefix key of one address family.
pub trait Key: Copy + Eq + Hash + Ord + Debug + 'static {
    /// The family of the table this key indexes.
    const FAMILY: Family;
    /// The key of `net`, or `None` if `net` is of the other address family.
    fn from_net(net: &IpNet) -> Option<Self>;
    /// The prefix back.
    fn to_net(self) -> IpNet;
    /// How many passes a FIB rescan makes over the table (see `Table::refill_fib_queue`),
    /// and which of them hands this key out. A family whose hash keeps neighbouring prefixes
    /// together spreads each group of neighbours over the passes.
    const FIB_PHASES: u8 = 1;
    /// The pass (`0..FIB_PHASES`) that hands this key to the FIB; the rescan takes it modulo
    /// `FIB_PHASES`, so a value out of range still names a pass.
    fn fib_phase(self) -> u8 {
        0
    }
}

/// An IPv4 prefix: 5 octets, 1-aligned (the address in network order), so a table entry with
/// its 11-octet slot is 16 octets, not 20. Ordered by address, then length.
#[derive(Debug, Clone, Copy)]
pub struct V4Key {
    addr: [u8; 4],
    len: u8,
}

impl V4Key {
    #[inline]
    fn addr(self) -> u32 {
        u32::from_be_bytes(self.addr)
    }
}

// By hand rather than derived: one word compare each, not one per octet.
impl PartialEq for V4Key {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        u32::from_ne_bytes(self.addr) == u32::from_ne_bytes(o.addr) && self.len == o.len
    }
}

impl Eq for V4Key {}

impl Ord for V4Key {
    #[inline]
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.addr(), self.len).cmp(&(o.addr(), o.len))
    }
}

impl PartialOrd for V4Key {
    #[inline]
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// The per-process seed of the key hashes.
fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64) | 1)
}

impl Hash for V4Key {
    /// Writes one word that is already a good hash, with locality: prefixes of one length
    /// whose network numbers differ only in their last 6 bits (e.g. 64 consecutive /24s, as
    /// UPDATEs and full-table dumps carry them) land in consecutive buckets of a [`KeyMap`],
    /// so a batch touches a few cache lines instead of one per prefix; groups are placed at
    /// seeded random positions and the 7-bit tag comes from the whole key.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let len = u32::from(self.len.min(32));
        let n = if len == 0 {
            0
        } else {
            u64::from(self.addr() >> (32 - len))
        };
        let group = (u64::from(len) << 32) | (n >> 6);
        let s = seed();
        let base = fold_mul(group ^ s, MUL) & ((1u64 << 56) - 1);
        let tag = fold_mul(((u64::from(len) << 32) | n) ^ s.rotate_left(29), MUL2) >> 57;
        state.write_u64((tag << 57) | (base + (n & 63)));
    }
}

impl Key for V4Key {
    const FAMILY: Family = Family::IPV4_UNICAST;
    fn from_net(net: &IpNet) -> Option<Self> {
        match net.trunc() {
            IpNet::V4(n) => Some(V4Key {
                addr: n.network().octets(),
                len: n.prefix_len(),
            }),
            IpNet::V6(_) => None,
        }
    }
    fn to_net(self) -> IpNet {
        Ipv4Net::new(Ipv4Addr::from(self.addr), self.len)
            .map(IpNet::V4)
            .unwrap_or_default()
    }
    /// Eight passes, by the network number modulo `FIB_PHASES` (its last three bits): a group
    /// of 64 neighbours (one run of buckets) comes out as eight members per pass, each pass
    /// spread over the whole table. Handed out group by group, the kernel empties (or fills) one /18 of /24s at a
    /// time and its LC-trie restructures the same nodes again and again: deleting 1M /24s
    /// took ~25 % longer than in scattered order (benches/README, "Withdraw order").
    const FIB_PHASES: u8 = 8;
    fn fib_phase(self) -> u8 {
        let len = u32::from(self.len.min(32));
        if len == 0 {
            return 0;
        }
        ((self.addr() >> (32 - len)) % u32::from(Self::FIB_PHASES)) as u8
    }
}

/// An IPv6 prefix: 17 octets, 1-aligned (packed: a table entry with its 11-octet slot is 28
/// octets; 24-octet aligned keys made it 40). Ordered by address, then length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C, packed)]
pub struct V6Key {
    hi: u64,
    lo: u64,
    len: u8,
}

impl Hash for V6Key {
    /// Writes one word that is already a good hash (see [`V4Key`]'s; no locality here).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let s = seed();
        let h = fold_mul(self.hi ^ s, MUL);
        let h = fold_mul(h ^ self.lo, MUL2);
        state.write_u64(fold_mul(h ^ u64::from(self.len), MUL));
    }
}

impl Key for V6Key {
    const FAMILY: Family = Family::IPV6_UNICAST;
    fn from_net(net: &IpNet) -> Option<Self> {
        match net.trunc() {
            IpNet::V6(n) => {
                let a = u128::from(n.network());
                Some(V6Key {
                    hi: (a >> 64) as u64,
                    lo: a as u64,
                    len: n.prefix_len(),
                })
            }
            IpNet::V4(_) => None,
        }
    }
    fn to_net(self) -> IpNet {
        let a = (u128::from(self.hi) << 64) | u128::from(self.lo);
        Ipv6Net::new(Ipv6Addr::from(a), self.len)
            .map(IpNet::V6)
            .unwrap_or_default()
    }
}

/// A hasher built on a folded 64×64→128-bit multiply (the foldhash / wyhash construction), seeded
/// per process from [`RandomState`] so a peer cannot precompute colliding prefixes. Several times
/// faster than SipHash on the 8-octet keys that dominate the RIB.
#[derive(Clone, Copy)]
pub struct FoldHasher {
    h: u64,
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;
const MUL2: u64 = 0xD6E8_FEB8_6659_FD93;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.h = fold_mul(self.h ^ i, MUL);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.h, MUL2)
    }
}

/// Builds [`FoldHasher`]s with one random per-process seed.
#[derive(Clone, Copy)]
pub struct FoldState {
    seed: u64,
}

impl Default for FoldState {
    fn default() -> Self {
        FoldState {
            seed: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { h: self.seed }
    }
}

/// A hasher for keys whose `Hash` writes one finished hash word: passes it through.
#[derive(Clone, Copy, Default)]
pub struct IdHasher {
    h: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by the prefix keys; stay correct for anything else.
        let mut f = FoldHasher { h: self.h };
        f.write(bytes);
        self.h = f.finish();
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.h = if self.h == 0 {
            i
        } else {
            fold_mul(self.h ^ i, MUL)
        };
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.h
    }
}

/// Builds [`IdHasher`]s.
#[derive(Clone, Copy, Default)]
pub struct IdState;

impl BuildHasher for IdState {
    type Hasher = IdHasher;
    #[inline]
    fn build_hasher(&self) -> IdHasher {
        IdHasher::default()
    }
}

/// A `HashMap` keyed by prefix keys, using their locality-preserving hash.
pub type KeyMap<K, V> = HashMap<K, V, IdState>;

/// A `HashMap` with [`FoldState`].
pub type FastMap<K, V> = HashMap<K, V, FoldState>;
/// A `HashSet` with [`FoldState`].
pub type FastSet<K> = HashSet<K, FoldState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_clear_host_bits() {
        let cases = [
            ("10.1.2.3/24", "10.1.2.0/24"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("192.168.1.1/32", "192.168.1.1/32"),
        ];
        for (i, o) in cases {
            let k = V4Key::from_net(&i.parse().unwrap()).unwrap();
            assert_eq!(k.to_net(), o.parse::<IpNet>().unwrap());
            assert!(V6Key::from_net(&i.parse().unwrap()).is_none());
        }
        let k = V6Key::from_net(&"fd00::1/64".parse().unwrap()).unwrap();
        assert_eq!(k.to_net(), "fd00::/64".parse::<IpNet>().unwrap());
        assert!(V4Key::from_net(&"fd00::/64".parse().unwrap()).is_none());
        assert_eq!(std::mem::size_of::<V4Key>(), 5);
        assert_eq!(std::mem::size_of::<V6Key>(), 17);
        let k6 = |s: &str| V6Key::from_net(&s.parse().unwrap()).unwrap();
        assert!(k6("fd00::/64") < k6("fd00::/65"));
        assert!(k6("fd00::/65") < k6("fd00:0:0:1::/64"));
        assert!(k6("fc00:ffff::/32") < k6("fd00::/8"));
        // Ordered as the addresses are, whatever the byte order.
        let k = |s: &str| V4Key::from_net(&s.parse().unwrap()).unwrap();
        assert!(k("9.255.0.0/16") < k("10.0.0.0/8"));
        assert!(k("10.0.0.0/8") < k("10.0.0.0/9"));
        assert!(k("10.0.1.0/24") < k("10.1.0.0/24"));
    }

    #[test]
    fn neighbouring_prefixes_hash_to_neighbouring_buckets() {
        let h = |s: &str| IdState.hash_one(V4Key::from_net(&s.parse().unwrap()).unwrap());
        let (a, b) = (h("10.0.0.0/24"), h("10.0.1.0/24"));
        assert_eq!((b & 0xffff) - (a & 0xffff), 1);
        assert_ne!(a >> 57, b >> 57, "tags differ");
        // Another length or another group is elsewhere.
        assert!(h("10.0.0.0/25").abs_diff(a) & 0xffff_ffff > 64);
        assert!(h("10.0.64.0/24").abs_diff(a) & 0xffff_ffff > 64);
    }
}

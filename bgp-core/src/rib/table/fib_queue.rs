//! The FIB side of a table: the queue of prefixes changed for the FIB (with the rescan that
//! takes over when it overflows) and each prefix's FIB tag.

use super::*;

/// The pass of a rescan (`0..K::FIB_PHASES`) that hands `k` out: its [`Key::fib_phase`], taken
/// modulo the passes, so a key whose phase is out of range is still handed out (a key no pass
/// matched stayed dirty and unqueued for good: `FIB_PHASES = 1` for IPv4 keys, whose phases
/// went up to 7, lost 7/8 of every prefix that overflowed the queue).
#[inline]
fn fib_pass<K: Key>(k: K) -> u8 {
    k.fib_phase() % K::FIB_PHASES.max(1)
}

/// `key` changed for the FIB (`fib`: its change flags): flagged in its slot, and queued
/// unless it waits already or the queue is full (then a rescan finds it).
#[inline]
pub(super) fn mark<K: Key>(
    slot: &mut Slot,
    key: K,
    fib: u8,
    fib_queue: &mut Vec<K>,
    fib_rescan: &mut Option<Rescan>,
) {
    slot.eflags |= fib;
    if slot.eflags & FIB_DIRTY == 0 {
        slot.eflags |= FIB_DIRTY;
        if fib_queue.len() < FIB_QUEUE_CAP {
            slot.eflags |= FIB_QUEUED;
            fib_queue.push(key);
        } else {
            *fib_rescan = Rescan::overflowed(*fib_rescan);
        }
    }
}

impl<K: Key> Table<K> {
    /// Takes the next prefix queued for the FIB with its accumulated change flags, clearing
    /// them, and its FIB tag, which `f` may change (a tag above [`crate::rib::FIB_TAG_MAX`] is
    /// stored as 0); drops the prefix's slot if it has no path left and its tag is 0.
    pub fn pop_fib<R>(&mut self, f: impl FnOnce(K, u8, &[Path], &mut u32) -> R) -> Option<R> {
        loop {
            let key = match self.fib_queue.pop() {
                Some(k) => k,
                None => {
                    self.refill_fib_queue();
                    let Some(k) = self.fib_queue.pop() else {
                        // The last refill found nothing: the queue is drained for good.
                        self.maybe_shrink();
                        return None;
                    };
                    k
                }
            };
            let Some(slot) = self.map.get_mut(&key) else {
                continue;
            };
            slot.eflags &= !FIB_QUEUED;
            if slot.eflags & FIB_DIRTY == 0 {
                continue;
            }
            let flags = slot.eflags & CHANGE_MASK;
            slot.eflags = 0;
            let old = slot.tag();
            let mut tag = old;
            let r = match slot.src {
                EMPTY => f(key, flags, &[], &mut tag),
                MULTI => f(
                    key,
                    flags,
                    self.multi
                        .get(slot.attr as usize)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                    &mut tag,
                ),
                src => f(
                    key,
                    flags,
                    &[Path {
                        attr: slot.attr,
                        pid: 0,
                        src,
                        flags: slot.pflags,
                    }],
                    &mut tag,
                ),
            };
            if tag != old {
                if tag > crate::rib::FIB_TAG_MAX {
                    tag = 0;
                }
                slot.set_tag(tag);
                match (old, tag) {
                    (0, _) => self.tagged += 1,
                    (_, 0) => self.tagged = self.tagged.saturating_sub(1),
                    _ => {}
                }
            }
            if !slot.kept() {
                self.map.remove(&key);
                self.keyset_version += 1;
            }
            if self.fib_queue.is_empty() && self.fib_rescan.is_none() {
                self.maybe_shrink();
            }
            return Some(r);
        }
    }

    /// The FIB tag of `key` (0 when it has none or is not in the table).
    pub fn fib_tag(&self, key: &K) -> u32 {
        self.map.get(key).map_or(0, Slot::tag)
    }

    /// Calls `f` with each prefix of shard `i` whose FIB tag is not 0, and its tag.
    pub fn fib_tagged_in_shard(&self, i: usize, mut f: impl FnMut(K, u32)) {
        for (k, s) in self.map.shard_iter(i) {
            if s.tag != [0; 3] {
                f(*k, s.tag());
            }
        }
    }

    /// Refills the empty FIB queue with dirty prefixes it had no room for, scanning shards
    /// from where the last refill stopped, until the queue is full or a whole round of passes
    /// over the shards saw no overflow. Each pass takes the keys of one phase
    /// ([`Key::fib_phase`]), so neighbouring prefixes reach the kernel far apart (the order
    /// the kernel's trie changes fastest in) while the queue stays bounded.
    fn refill_fib_queue(&mut self) {
        while let Some(r) = self.fib_rescan {
            for i in r.shard..self.map.shard_count() {
                let q = &mut self.fib_queue;
                for (k, slot) in self.map.shard_iter_mut(i) {
                    if slot.eflags & (FIB_DIRTY | FIB_QUEUED) == FIB_DIRTY
                        && fib_pass(*k) == r.phase
                    {
                        if q.len() >= FIB_QUEUE_CAP {
                            // Full: this shard is scanned again next time.
                            self.fib_rescan = self.fib_rescan.map(|r| Rescan { shard: i, ..r });
                            return;
                        }
                        slot.eflags |= FIB_QUEUED;
                        q.push(*k);
                    }
                }
            }
            // A pass is complete: the next phase's, or (prefixes that overflowed meanwhile may
            // sit in shards or phases already passed) one more round, or done.
            self.fib_rescan = match self.fib_rescan {
                Some(r) if r.phase + 1 < K::FIB_PHASES => Some(Rescan {
                    shard: 0,
                    phase: r.phase + 1,
                    more: r.more,
                }),
                Some(Rescan { more: true, .. }) => Some(Rescan::default()),
                _ => None,
            };
            if !self.fib_queue.is_empty() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{IpNet, Ipv4Net, Ipv6Net};

    use super::*;
    use crate::rib::prefix::{V4Key, V6Key};
    use crate::wire::Family;

    /// An IPv4 key whose phases (`V4Key`'s, 0 to 7) do not match its one pass: the experiment
    /// of `V4Key::FIB_PHASES = 1` with the phase function left as it was (session 13: converge
    /// full stalled at 440,391 of 1M kernel routes, 7/8 of the overflowed prefixes never handed
    /// out).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    struct OnePass(V4Key);

    impl Key for OnePass {
        const FAMILY: Family = Family::IPV4_UNICAST;
        fn from_net(net: &IpNet) -> Option<Self> {
            V4Key::from_net(net).map(OnePass)
        }
        fn to_net(self) -> IpNet {
            self.0.to_net()
        }
        const FIB_PHASES: u8 = 1;
        fn fib_phase(self) -> u8 {
            self.0.fib_phase()
        }
    }

    /// `k` changed (as `Table::modify` records it).
    fn change<K: Key>(t: &mut Table<K>, k: K) {
        let Table {
            map,
            fib_queue,
            fib_rescan,
            ..
        } = t;
        let slot = map.get_or_insert(k, EMPTY_SLOT).unwrap();
        mark(slot, k, cf::ATTRS, fib_queue, fib_rescan);
    }

    /// The model: the FIB takes changes at its own pace (a random number at a time, as a FIB
    /// thread refusing hand-offs would) while prefixes keep changing, in batches below and
    /// far above the queue's capacity. Each prefix taken was changed since it was last taken;
    /// the queue reports empty only when no change waits; every change gets out in the end.
    fn every_change_reaches_the_fib<K: Key>(keys: &[K], mut rng: u64) {
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let mut t = Table::<K>::default();
        let mut pending = HashSet::new();
        let take = |t: &mut Table<K>| t.pop_fib(|k, _, _, _| k);
        for round in 0..12 {
            let batch = match round % 3 {
                0 => 2 * FIB_QUEUE_CAP,
                1 => 1000,
                _ => FIB_QUEUE_CAP / 2,
            };
            for _ in 0..batch {
                let k = keys[next(keys.len())];
                change(&mut t, k);
                pending.insert(k);
            }
            for _ in 0..next(2 * FIB_QUEUE_CAP) {
                match take(&mut t) {
                    Some(k) => assert!(pending.remove(&k), "{k:?} taken unchanged"),
                    None => break,
                }
            }
        }
        while let Some(k) = take(&mut t) {
            assert!(pending.remove(&k), "{k:?} taken unchanged");
        }
        assert!(
            pending.is_empty(),
            "{} changed prefixes never reached the FIB",
            pending.len()
        );
        assert_eq!(t.map.len(), 0, "every slot went with its change");
    }

    fn v4(i: u32) -> V4Key {
        let net = Ipv4Net::new(Ipv4Addr::from((10 << 24) + (i << 8)), 24).unwrap();
        V4Key::from_net(&IpNet::V4(net)).unwrap()
    }

    const N: u32 = 3 * FIB_QUEUE_CAP as u32;

    #[test]
    fn every_change_reaches_the_fib_whatever_the_keys_phases() {
        let keys: Vec<OnePass> = (0..N).map(|i| OnePass(v4(i))).collect();
        every_change_reaches_the_fib(&keys, 0x9e37_79b9_7f4a_7c15);
    }

    #[test]
    fn every_change_reaches_the_fib_ipv4_and_ipv6() {
        let keys: Vec<V4Key> = (0..N).map(v4).collect();
        every_change_reaches_the_fib(&keys, 0x2545_f491_4f6c_dd1d);
        let keys: Vec<V6Key> = (0..N)
            .map(|i| {
                let a = (0xfd00_u128 << 112) | (u128::from(i) << 64);
                let net = Ipv6Net::new(Ipv6Addr::from(a), 64).unwrap();
                V6Key::from_net(&IpNet::V6(net)).unwrap()
            })
            .collect();
        every_change_reaches_the_fib(&keys, 0x94d0_49bb_1331_11eb);
    }

    #[test]
    fn a_keys_pass_is_in_range() {
        assert_eq!(V4Key::FIB_PHASES, 8);
        let passes: HashSet<u8> = (0..64).map(|i| fib_pass(v4(i))).collect();
        assert_eq!(passes, (0..8).collect());
        assert!((0..64).all(|i| fib_pass(OnePass(v4(i))) == 0));
    }
}

//! The FIB side of a table: the queue of prefixes changed for the FIB (with the rescan that
//! takes over when it overflows) and each prefix's FIB tag.

use super::*;

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
                        && k.fib_phase() == r.phase
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

//! DOC: withdrawing a next hop's routes by deleting its nexthop object. A route removed while
//! it is installed through an object is not queued for its own delete: its entry in the
//! desired table becomes *doomed* (naming the object; no other map holds it) and its key
//! joins the object's "doomed" list (8 octets an IPv4 route, not counted in `pending()`).
//! While nothing else waits, doomed routes are deleted one by one (skipping any desired
//! again). Once the object is retired (no desired route uses it) and its list still holds a
//! large share of our routes, one object delete makes the kernel remove them all in one walk
//! of its table (1M routes: ~1.4 s against 6-9 s route by route), and one pass over the table
//! drops their entries (no lookup per route); otherwise the rest go one by one and the object
//! after them. A doomed key re-announced is replaced (`NLM_F_REPLACE`), since its route may
//! still be in the kernel.

use super::*;
use crate::store::scatter_pick;

/// `pending_deletes` values: the route was not installed ...
pub(super) const NOT_INSTALLED: u32 = 0;
/// ... or it was (its delete is in the main queue).
pub(super) const INSTALLED_ROUTE: u32 = 1;

/// A retired object's doomed routes go with it when they are at least this many ...
const FLUSH_MIN: usize = 1024;
/// ... and at least this share (1/n) of our routes in the kernel: the object delete walks the
/// whole table (one `fib_flush` per object), so a small share is cheaper route by route.
/// Measured on this kernel (6.18), 1M /24s through ten objects of 100k: the ten object deletes
/// take 3.2-3.8 s when the routes were added in address order and 5.2 s when added in
/// scattered order, as bgp-fib adds them (the trie's nodes then lie scattered in memory): up
/// to 1.3 s for one object, ~0.5 µs per route of the table. A route deleted on its own costs
/// ~4.5 µs. The daemon's 10x100k withdrawal: 4.2-4.4 s route by route against 6.1-7.1 s by
/// objects (session 12, converge, one run), so the walk wins only from a large share; a
/// peer's whole table going alone (1x1M) goes with its object. (1/32 in sessions 10-12: ten
/// peers' tables of a tenth each went with their objects.)
const FLUSH_SHARE: usize = 4;

/// Doomed routes are not deleted one by one while withdrawals keep coming: the withdrawal of
/// a peer's whole table retires its object only with its last route, and every route deleted
/// alone before that is one the object's delete would have taken for free (ten peers of 100k
/// routes each withdrawn at once: most of them went one by one, 7-9 s instead of ~2). They
/// wait until no route was doomed for this long ...
const DOOM_QUIET: std::time::Duration = std::time::Duration::from_millis(100);
/// ... or this long since the first of the burst (a slow withdrawal is not held back longer).
const DOOM_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// The doomed routes of one object (one address family each), handed out from scattered
/// positions: a withdrawn peer's routes arrive in address order, and the kernel's LC-trie
/// deletes them several times faster scattered (see [`crate::store::KeyQueue`]).
#[derive(Default)]
pub(super) struct Doomed {
    v4: Vec<u64>,
    v6: Vec<[u32; 5]>,
    rng: u64,
}

impl Doomed {
    pub(super) fn push(&mut self, pk: Packed) {
        match pk {
            Packed::V4(k) => self.v4.push(k),
            Packed::V6(k) => self.v6.push(k),
        }
    }
    fn pop(&mut self) -> Option<Packed> {
        if !self.v4.is_empty() {
            let i = scatter_pick(&mut self.rng, self.v4.len());
            return Some(Packed::V4(self.v4.swap_remove(i)));
        }
        if !self.v6.is_empty() {
            let i = scatter_pick(&mut self.rng, self.v6.len());
            return Some(Packed::V6(self.v6.swap_remove(i)));
        }
        None
    }
    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
    pub(super) fn heap_bytes(&self) -> usize {
        self.v4.capacity() * 8 + self.v6.capacity() * 20
    }
}

impl Fib {
    /// Called by `remove` for a desired entry `e` being withdrawn: when its route is
    /// installed through an object the kernel has (its form known: not queued), the entry
    /// becomes doomed and true is returned; the caller then sends nothing for it.
    pub(super) fn doom(&mut self, pk: Packed, e: &Entry) -> bool {
        let Some(top) = self.dooming_object(pk, e) else {
            return false;
        };
        let Some(slot) = self.desired.get_mut(pk) else {
            return false;
        };
        *slot = Entry::doomed_by(top);
        self.doomed_entries += 1;
        self.add_doomed(top, pk);
        true
    }

    /// The object whose delete may take the route of `e` (installed through an object the
    /// kernel has, its form known: not queued), if any.
    pub(super) fn dooming_object(&self, pk: Packed, e: &Entry) -> Option<u32> {
        if !e.installed()
            || e.queued()
            || !self.uses_object(matches!(pk, Packed::V4(_)), e.target())
        {
            return None;
        }
        Some(self.nh.installed_id(e.target())).filter(|top| *top != 0)
    }

    /// `pk` joins object `top`'s doomed list.
    pub(super) fn add_doomed(&mut self, top: u32, pk: Packed) {
        self.nh.doomed.entry(top).or_default().push(pk);
        self.nh.doomed_total += 1;
        self.doomed_now();
    }

    /// A route joined a doomed list (at the time of the last turn).
    pub(super) fn doomed_now(&mut self) {
        if let Some(now) = self.clock {
            self.doom_burst.get_or_insert((now, now)).1 = now;
        }
    }

    /// When doomed routes may go one by one: `None` now.
    pub(super) fn doomed_wait_until(&self) -> Option<Instant> {
        let (first, last) = self.doom_burst?;
        let at = (last + DOOM_QUIET).min(first + DOOM_WAIT_MAX);
        self.clock.filter(|now| *now < at).map(|_| at)
    }

    /// Whether `pk` is a route doomed by object `top` (not desired again since).
    fn doomed_by(&self, pk: Packed, top: u32) -> bool {
        if self.tags.on {
            return self.tagged_still_doomed(pk);
        }
        self.desired
            .get(pk)
            .is_some_and(|e| e.doomed() && e.target() == top)
    }

    /// Called by `poll_transmit` when the main queue is empty (no upsert waits that may move
    /// a route off a retired object): retired objects whose doomed lists are large are
    /// deleted (the kernel removes their routes), small ones finished; then doomed routes
    /// are deleted one by one while the batch has room.
    pub(super) fn transmit_doomed(
        &mut self,
        max: usize,
        buf: &mut Vec<u8>,
        ops: &mut Vec<(Sent, i32)>,
        last_at: &mut usize,
    ) {
        self.settle_retired();
        if self.doomed_wait_until().is_some() {
            return; // withdrawals still coming: their objects may yet take them all
        }
        self.doom_burst = None;
        // The objects take turns (each list scattered in itself): a withdrawn peer's block
        // of addresses is spread over the drain, not deleted before the next one's.
        let mut tops: Vec<u32> = self.nh.doomed.keys().copied().collect();
        let mut turn = 0;
        let mut alone = 0usize;
        while buf.len() + 512 <= max && !tops.is_empty() {
            turn %= tops.len();
            let Some(&top) = tops.get(turn) else {
                break;
            };
            let Some(pk) = self.nh.doomed.get_mut(&top).and_then(Doomed::pop) else {
                self.nh.doomed.remove(&top);
                tops.swap_remove(turn);
                continue;
            };
            turn += 1;
            self.nh.doomed_total = self.nh.doomed_total.saturating_sub(1);
            if !self.doomed_by(pk, top) {
                continue; // desired again (and maybe doomed again: a later copy in a list)
            }
            if !self.tags.on {
                self.desired.remove(pk);
                self.doomed_entries = self.doomed_entries.saturating_sub(1);
            }
            let key = self.tm.unpack(pk);
            self.encode_delete(key, buf, ops, last_at);
            alone += 1;
        }
        if alone > 0 {
            tracing::debug!(
                routes = alone,
                waiting = self.nh.doomed_total,
                "doomed routes deleted one by one"
            );
        }
        self.settle_retired();
    }

    /// Retired objects whose doomed lists are large are deleted now with them (the kernel
    /// removes those routes), those whose lists are empty are deleted; the others wait.
    fn settle_retired(&mut self) {
        let in_kernel = self.len() + self.nh.doomed_total;
        let mut i = 0;
        while let Some((top, _)) = self.nh.dooming.get(i) {
            let top = *top;
            let n = self.nh.doomed.get(&top).map_or(0, Doomed::len);
            let flush = n >= FLUSH_MIN && n * FLUSH_SHARE >= in_kernel;
            if n > 0 && !flush {
                i += 1;
                continue;
            }
            if flush {
                let listed = self.nh.doomed.remove(&top).map_or(0, |d| d.len());
                self.nh.doomed_total = self.nh.doomed_total.saturating_sub(listed);
                // The list is dropped whole; the entries go in one pass over the table
                // (at least 1/FLUSH_SHARE of it is theirs), not one lookup each. In tagged
                // mode they have none.
                let flushed = if self.tags.on {
                    listed
                } else {
                    self.desired
                        .retain(|_, e| !(e.doomed() && e.target() == top))
                };
                self.doomed_entries = self.doomed_entries.saturating_sub(flushed);
                self.stats.object_flushes += 1;
                self.stats.flushed_routes += flushed as u64;
                tracing::debug!(
                    object = top,
                    routes = flushed,
                    "retired object deleted with its routes"
                );
            } else {
                self.nh.doomed.remove(&top);
            }
            // Deleted now: the top first (popped last-in first), then the group's members.
            let (top, members) = self.nh.dooming.swap_remove(i);
            self.nh.retired.extend(members.iter().rev().copied());
            self.nh.retired.push(top);
        }
        if self.nh.doomed_total == 0 && !self.tags.revived.is_empty() {
            self.tags.revived = KeyMap::default();
        }
    }
}

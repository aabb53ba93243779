//! DOC: one address family's table: per prefix, every path the RIB knows (the union of the
//! post-policy Adj-RIBs-In and the local routes) kept in decision order, plus the bookkeeping
//! that makes changes cheap to find: the FIB queue, per-source key logs and the update groups'
//! dirty sets and Adj-RIB-Out (`out_state`).
//!
//! Layout, chosen for memory (a million prefixes from one peer):
//! * `map: prefix → Slot` (16 octets with the 5-octet IPv4 key, both 1-aligned; 28 with the
//!   17-octet IPv6 key), split into 64 shards that grow
//!   one at a time ([`ShardMap`]), so building the table never holds two copies of it. A prefix
//!   with one path of path id 0 keeps it inline in its slot; with several (or an ADD-PATH path
//!   id), the slot points into the `multi` arena. Paths are kept selected-first: best, its
//!   multipath partners, then the others by (source, path id).
//! * The slot also holds the prefix's FIB tag (3 octets): the FIB driver's per-prefix state
//!   (the id of what it last handed the kernel), so the FIB keeps no table of its own (as
//!   BIRD keeps KRF_INSTALLED in its routing table). Only the driver's polls write it.
//! * The FIB queue holds each changed prefix once (a flag in the slot deduplicates); a prefix
//!   whose last path went stays as an empty tombstone until the FIB has seen the withdrawal
//!   and while its FIB tag is not 0. Tombstones count nowhere: not as networks, routes or
//!   keys, and no peer is sent them.
//! * A source with a small share of the table has an append-only log of the prefixes it has
//!   paths for, compacted when stale entries dominate, so peer down and graceful-restart sweeps
//!   visit only that peer's prefixes instead of scanning the table. A source that holds more
//!   than half of the table (a full-table peer) has no log: its sweeps scan the table shard by
//!   shard, the same order of work, and the table saves 8 octets per prefix (18 % of the
//!   1-peer × 1M heap). The log comes back, rebuilt by one scan, when the source's share
//!   falls under a quarter (see [`LOG_OFF_MIN`]).

use std::sync::Arc;

use super::attrs::{AttrId, Interner};
use super::decision::{head_key, select_into, Cand, DecisionOptions};
pub(crate) use super::out_state::{OutState, Outbound};
use super::prefix::{FastMap, Key};
use super::shards::ShardMap;
use super::Source;

mod fib_queue;
mod srclog;

/// Path flag: kept across a graceful restart, not yet refreshed.
pub(crate) const STALE: u8 = 1;
/// Path flag: in the selected (best + multipath) set.
pub(crate) const SELECTED: u8 = 2;

/// Slot flag: changed since the FIB last took the prefix.
pub(super) const FIB_DIRTY: u8 = 0x80;
/// Slot flag: the prefix is in `fib_queue` (a dirty prefix without it waits for a rescan).
const FIB_QUEUED: u8 = 0x40;
/// Most prefixes the FIB queue holds: past it, changed prefixes are only flagged in their
/// slots and found again by scanning the map shard by shard when the queue runs dry, so a
/// FIB that lags a full-table load costs no memory that grows with the table.
pub(crate) const FIB_QUEUE_CAP: usize = 32_768;
/// Slot flags accumulated for the FIB (the low five bits are [`super::ChangeFlags`]).
const CHANGE_MASK: u8 = 0x1f;

const MULTI: u16 = u16::MAX;
const EMPTY: u16 = u16::MAX - 1;

/// Change flag bits, see [`super::ChangeFlags`].
pub(crate) mod cf {
    pub const BEST: u8 = 1;
    pub const ATTRS: u8 = 2;
    pub const MULTIPATH: u8 = 4;
    pub const WITHDRAWN: u8 = 8;
    pub const PATHS: u8 = 16;
}

/// Largest source index (two values are reserved as slot markers).
pub(crate) const MAX_SOURCES: usize = (u16::MAX - 2) as usize;

/// One path of a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Path {
    pub attr: AttrId,
    pub pid: u32,
    pub src: u16,
    pub flags: u8,
}

impl Path {
    pub fn selected(&self) -> bool {
        self.flags & SELECTED != 0
    }
}

/// The value stored per prefix (11 octets, 1-aligned so that an IPv4 entry is 5 + 11 = 16
/// octets): one inline path with path id 0, or a pointer into the `multi` arena
/// (`src == MULTI`, `attr` = arena index), or nothing (`src == EMPTY`); and the prefix's FIB
/// tag (24 bits, little-endian): what the FIB driver last stored for it through
/// [`super::Rib::poll_fib_change_tagged`], 0 for nothing in the FIB.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed)]
pub(crate) struct Slot {
    attr: u32,
    src: u16,
    pflags: u8,
    pub(super) eflags: u8,
    tag: [u8; 3],
}

// The layout the memory figures rest on (benches/README.md, RIB): 5 + 11 octets per IPv4
// bucket, 17 + 11 per IPv6 bucket.
const _: () = assert!(std::mem::size_of::<Slot>() == 11);
const _: () = assert!(std::mem::size_of::<(super::prefix::V4Key, Slot)>() == 16);
const _: () = assert!(std::mem::size_of::<(super::prefix::V6Key, Slot)>() == 28);
const _: () = assert!(super::FIB_TAG_MAX == (1 << 24) - 1);

const EMPTY_SLOT: Slot = Slot {
    attr: 0,
    src: EMPTY,
    pflags: 0,
    eflags: 0,
    tag: [0; 3],
};

impl Slot {
    /// The FIB tag (0: nothing in the FIB).
    #[inline]
    pub(super) fn tag(&self) -> u32 {
        let [a, b, c] = self.tag;
        u32::from_le_bytes([a, b, c, 0])
    }

    /// Stores the low 24 bits of `tag`.
    #[inline]
    fn set_tag(&mut self, tag: u32) {
        let [a, b, c, _] = tag.to_le_bytes();
        self.tag = [a, b, c];
    }

    /// Whether the slot must stay in the map: it has paths, or the FIB has yet to see its
    /// last change, or the FIB driver's tag says the kernel may hold something for it.
    #[inline]
    fn kept(&self) -> bool {
        self.src != EMPTY || self.eflags & FIB_DIRTY != 0 || self.tag != [0; 3]
    }
}

/// A source with at most this many prefixes always keeps its log (a scan of a small table
/// is cheap, and so is the log). Above it, the log is dropped while the source has paths for
/// more than half of the table's prefixes and rebuilt when it has fewer than a quarter: the
/// hysteresis makes a rebuild (one table scan) follow at least a quarter table of changes.
pub(crate) const LOG_OFF_MIN: usize = 4096;

/// What a source has in this table.
#[derive(Default)]
pub(crate) struct SrcState<K> {
    /// Prefixes it has (or had) paths for; may hold duplicates and stale entries. `None`
    /// while the source holds most of the table: its prefixes are found by a table scan.
    pub log: Option<Vec<K>>,
    /// Prefixes it has paths for now.
    pub live: usize,
    /// Pre-policy copy (soft reconfiguration inbound): (prefix, path id) → attribute set.
    pub pre: Option<FastMap<(K, u32), AttrId>>,
}

/// What the decision process reads besides the paths.
pub(crate) struct Ctx<'a> {
    pub interner: &'a Interner,
    pub sources: &'a [Source],
    pub opts: &'a DecisionOptions,
    pub local_as: u32,
    pub default_local_pref: u32,
}

impl Ctx<'_> {
    fn cand(&self, idx: usize, p: &Path) -> Cand {
        let (d, nh) = self.interner.decision(p.attr);
        let s = self.sources.get(usize::from(p.src));
        let is_bgp = s.is_some_and(|s| s.kind == super::SourceKind::Bgp);
        Cand {
            idx: idx as u32,
            reachable: !is_bgp || !d.has_next_hop || nh.reachable,
            preference: d
                .preference
                .unwrap_or_else(|| s.map_or(0, |s| s.preference)),
            local_pref: d.local_pref.unwrap_or(self.default_local_pref),
            as_len: d.as_len,
            origin: d.origin,
            med: d.med,
            neighbor_as: d.first_as.unwrap_or(self.local_as),
            ibgp: s.is_some_and(|s| s.ibgp),
            igp_cost: nh.igp_cost,
            cluster_len: d.cluster_len,
            // RFC 4456 §9: the ORIGINATOR_ID stands in for the peer's BGP identifier.
            router_id: u32::from(
                d.originator
                    .unwrap_or_else(|| s.map_or(0.into(), |s| s.router_id)),
            ),
            peer_addr: s.and_then(|s| s.addr),
            src: p.src,
            pid: p.pid,
        }
    }

    fn reachable(&self, p: &Path) -> bool {
        let is_bgp = self
            .sources
            .get(usize::from(p.src))
            .is_some_and(|s| s.kind == super::SourceKind::Bgp);
        !is_bgp
            || self.interner.nh(p.attr).reachable
            || self.interner.get(p.attr).next_hop.is_none()
    }
}

/// A table's running totals.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Prefixes with at least one path.
    pub networks: usize,
    /// Paths of every prefix.
    pub paths: usize,
    /// Paths per source index.
    pub src_paths: Vec<usize>,
    /// Prefixes whose best path is the source's, per source index.
    pub src_best: Vec<usize>,
}

fn bump(v: &mut Vec<usize>, src: u16, up: bool) {
    let i = usize::from(src);
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    if let Some(c) = v.get_mut(i) {
        *c = if up {
            c.saturating_add(1)
        } else {
            c.saturating_sub(1)
        };
    }
}

/// A FIB rescan in progress: the next shard to scan in pass `phase` (of `K::FIB_PHASES`), and
/// whether more prefixes overflowed since this round of passes began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rescan {
    pub shard: usize,
    pub phase: u8,
    pub more: bool,
}

impl Rescan {
    /// A prefix overflowed the queue: start a round, or have the running one go round again.
    pub fn overflowed(r: Option<Rescan>) -> Option<Rescan> {
        Some(r.map_or(Rescan::default(), |r| Rescan { more: true, ..r }))
    }
}

/// One family's table.
pub(crate) struct Table<K> {
    pub map: ShardMap<K, Slot>,
    multi: Vec<Vec<Path>>,
    multi_free: Vec<u32>,
    pub fib_queue: Vec<K>,
    /// Some dirty prefixes are not in `fib_queue` (it was full): where the rescan stands.
    pub(super) fib_rescan: Option<Rescan>,
    /// Bumped whenever a prefix enters or leaves the map.
    keyset_version: u64,
    /// The last feed snapshot and the key-set version it was taken at.
    snapshot: Option<(u64, Arc<[K]>)>,
    pub src: Vec<SrcState<K>>,
    /// Update groups and peers' membership.
    pub out: Outbound<K>,
    /// Counters kept as paths change (read in O(1) by `show route count` and metrics).
    pub counts: Counts,
    /// Prefixes whose FIB tag is not 0.
    pub tagged: usize,
    scratch: Vec<Path>,
    /// The sources of a prefix's paths before a modification.
    before: Vec<u16>,
    old: Vec<Path>,
    ordered: Vec<Path>,
    sel: Vec<u32>,
    cands: Vec<Cand>,
}

impl<K: Key> Default for Table<K> {
    fn default() -> Self {
        Table {
            map: ShardMap::default(),
            multi: Vec::new(),
            multi_free: Vec::new(),
            fib_queue: Vec::new(),
            fib_rescan: None,
            keyset_version: 0,
            snapshot: None,
            src: Vec::new(),
            out: Outbound::default(),
            counts: Counts::default(),
            tagged: 0,
            scratch: Vec::new(),
            before: Vec::new(),
            old: Vec::new(),
            ordered: Vec::new(),
            sel: Vec::new(),
            cands: Vec::new(),
        }
    }
}

/// Sets or clears `flag` on the paths of source `src` in `slot` (inline, or in the `multi`
/// arena). The slot is packed: its flags are copied out and back, never borrowed.
fn set_src_flag(slot: &mut Slot, multi: &mut [Vec<Path>], src: u16, flag: u8, on: bool) {
    let upd = |f: &mut u8| {
        if on {
            *f |= flag
        } else {
            *f &= !flag
        }
    };
    let slot_src = slot.src;
    match slot_src {
        EMPTY => {}
        MULTI => {
            if let Some(m) = multi.get_mut(slot.attr as usize) {
                for p in m.iter_mut().filter(|p| p.src == src) {
                    upd(&mut p.flags);
                }
            }
        }
        s if s == src => {
            let mut f = slot.pflags;
            upd(&mut f);
            slot.pflags = f;
        }
        _ => {}
    }
}

fn load(slot: &Slot, multi: &[Vec<Path>], into: &mut Vec<Path>) {
    into.clear();
    match slot.src {
        EMPTY => {}
        MULTI => {
            if let Some(m) = multi.get(slot.attr as usize) {
                into.extend_from_slice(m);
            }
        }
        src => into.push(Path {
            attr: slot.attr,
            pid: 0,
            src,
            flags: slot.pflags,
        }),
    }
}

impl<K: Key> Table<K> {
    /// Makes sure per-source and per-peer state exists for source `i`.
    pub fn ensure_source(&mut self, i: usize) {
        while self.src.len() <= i {
            self.src.push(SrcState {
                log: Some(Vec::new()),
                live: 0,
                pre: None,
            });
        }
        while self.out.members.len() <= i {
            self.out.members.push(OutState::default());
        }
    }

    /// Forgets everything about source slot `i` (its log and export state), for reuse.
    pub fn reset_source(&mut self, i: usize) {
        if let Some(s) = self.src.get_mut(i) {
            *s = SrcState {
                log: Some(Vec::new()),
                live: 0,
                pre: None,
            };
        }
        if let Some(o) = self.out.members.get_mut(i) {
            *o = OutState::default();
        }
    }

    /// Visits the paths of `key` without allocating.
    pub fn with_paths<R>(&self, key: &K, f: impl FnOnce(&[Path]) -> R) -> R {
        match self.map.get(key) {
            None => f(&[]),
            Some(s) => match s.src {
                EMPTY => f(&[]),
                MULTI => f(self
                    .multi
                    .get(s.attr as usize)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])),
                src => f(&[Path {
                    attr: s.attr,
                    pid: 0,
                    src,
                    flags: s.pflags,
                }]),
            },
        }
    }

    /// Number of prefixes with at least one path.
    pub fn len(&self) -> usize {
        self.counts.networks
    }

    /// Applies `f` to the path list of `key`, reruns the decision process and records what
    /// changed: returns the change flags (0 when `f` reports no modification). Attribute ids
    /// whose reference `f` gives up are pushed to `released`.
    ///
    /// `touched` names the one path `f` may add, change or remove, when that is known: if that
    /// path was not selected and both its old and new versions lose to the best already at the
    /// first decision steps (preference, LOCAL_PREF, AS_PATH length, ORIGIN) or are unusable,
    /// the elimination procedure cannot come out differently (those steps run first and their
    /// survivors are unchanged), so the full decision is skipped.
    pub fn modify(
        &mut self,
        key: K,
        ctx: &Ctx<'_>,
        released: &mut Vec<AttrId>,
        touched: Option<(u16, u32)>,
        f: impl FnOnce(&mut Vec<Path>, &mut Vec<AttrId>) -> bool,
    ) -> u8 {
        let Table {
            map,
            multi,
            multi_free,
            fib_queue,
            fib_rescan,
            out,
            scratch,
            old,
            cands,
            ordered,
            sel,
            keyset_version,
            counts,
            before,
            ..
        } = self;
        let len_before = map.len();
        let Some(slot) = map.get_or_insert(key, EMPTY_SLOT) else {
            return 0;
        };
        load(slot, multi, scratch);
        before.clear();
        before.extend(scratch.iter().map(|p| p.src));
        old.clear();
        old.extend(scratch.iter().take_while(|p| p.selected()).copied());
        let is_touched = |p: &&Path| touched.is_some_and(|(s, i)| p.src == s && p.pid == i);
        let touched_before = scratch.iter().find(is_touched).copied();
        if !f(scratch, released) {
            if !slot.kept() {
                map.remove(&key);
            }
            if map.len() != len_before {
                *keyset_version += 1;
            }
            return 0;
        }
        // Decision process.
        let unchanged = match (touched, old.first()) {
            (Some(_), Some(best))
                if ctx.opts.deterministic_med
                    && scratch.len() > 1
                    && !old.iter().any(|p| is_touched(&p)) =>
            {
                let bar = head_key(&ctx.cand(0, best));
                let loses = |p: &Path| {
                    let c = ctx.cand(0, p);
                    !c.reachable || head_key(&c) < bar
                };
                touched_before.as_ref().is_none_or(loses)
                    && scratch.iter().find(is_touched).is_none_or(loses)
                    && scratch.iter().take(old.len()).eq(old.iter())
            }
            _ => false,
        };
        if unchanged {
            if let Some(rest) = scratch.get_mut(old.len()..) {
                for p in rest.iter_mut() {
                    p.flags &= !SELECTED;
                }
                rest.sort_by_key(|p| (p.src, p.pid));
            }
        }
        match scratch.len() {
            _ if unchanged => {}
            0 => {}
            1 => {
                if let Some(p) = scratch.first_mut() {
                    if ctx.reachable(p) {
                        p.flags |= SELECTED;
                    } else {
                        p.flags &= !SELECTED;
                    }
                }
            }
            _ => {
                cands.clear();
                cands.extend(scratch.iter().enumerate().map(|(i, p)| ctx.cand(i, p)));
                select_into(cands, ctx.opts, sel);
                let sel = &*sel;
                let ordered = &mut *ordered;
                ordered.clear();
                for &i in sel {
                    if let Some(p) = scratch.get(i as usize) {
                        ordered.push(Path {
                            flags: p.flags | SELECTED,
                            ..*p
                        });
                    }
                }
                let n_sel = ordered.len();
                ordered.extend(
                    scratch
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !sel.contains(&(*i as u32)))
                        .map(|(_, p)| Path {
                            flags: p.flags & !SELECTED,
                            ..*p
                        }),
                );
                if let Some(rest) = ordered.get_mut(n_sel..) {
                    rest.sort_by_key(|p| (p.src, p.pid));
                }
                std::mem::swap(scratch, ordered);
            }
        }
        // What changed.
        let new_sel = scratch.iter().take_while(|p| p.selected());
        let new_n = new_sel.clone().count();
        let mut flags = cf::PATHS;
        match (old.first(), scratch.first().filter(|p| p.selected())) {
            (Some(_), None) => flags |= cf::WITHDRAWN,
            (None, Some(_)) => flags |= cf::BEST,
            (Some(o), Some(n)) => {
                if (o.src, o.pid) != (n.src, n.pid) {
                    flags |= cf::BEST;
                } else if o.attr != n.attr {
                    flags |= cf::ATTRS;
                }
            }
            (None, None) => {}
        }
        if old.len() > 1 || new_n > 1 {
            let same = old.len() == new_n
                && old
                    .iter()
                    .zip(new_sel)
                    .all(|(a, b)| (a.src, a.pid, a.attr) == (b.src, b.pid, b.attr));
            if !same {
                flags |= cf::MULTIPATH;
            }
        }
        // Store back.
        let had_multi = (slot.src == MULTI).then_some(slot.attr);
        match scratch.len() {
            0 | 1 if scratch.first().is_none_or(|p| p.pid == 0) => {
                if let Some(i) = had_multi {
                    if let Some(m) = multi.get_mut(i as usize) {
                        *m = Vec::new();
                    }
                    multi_free.push(i);
                }
                match scratch.first() {
                    None => {
                        slot.src = EMPTY;
                        slot.attr = 0;
                        slot.pflags = 0;
                    }
                    Some(p) => {
                        slot.src = p.src;
                        slot.attr = p.attr;
                        slot.pflags = p.flags;
                    }
                }
            }
            _ => {
                let idx = match had_multi {
                    Some(i) => i,
                    None => match multi_free.pop() {
                        Some(i) => i,
                        None => {
                            multi.push(Vec::new());
                            (multi.len() - 1) as u32
                        }
                    },
                };
                if let Some(m) = multi.get_mut(idx as usize) {
                    // Exactly as long as needed: doubling left 10 paths in room for 16.
                    m.clear();
                    if m.capacity() > scratch.len() + 1 {
                        m.shrink_to(scratch.len());
                    }
                    m.reserve_exact(scratch.len());
                    m.extend_from_slice(scratch);
                }
                slot.src = MULTI;
                slot.attr = idx;
                slot.pflags = 0;
            }
        }
        // Running totals.
        match (before.is_empty(), scratch.is_empty()) {
            (true, false) => counts.networks += 1,
            (false, true) => counts.networks = counts.networks.saturating_sub(1),
            _ => {}
        }
        counts.paths = (counts.paths + scratch.len()).saturating_sub(before.len());
        for &s in before.iter() {
            bump(&mut counts.src_paths, s, false);
        }
        for p in scratch.iter() {
            bump(&mut counts.src_paths, p.src, true);
        }
        let (best_was, best_is) = (
            old.first().map(|p| p.src),
            scratch.first().filter(|p| p.selected()).map(|p| p.src),
        );
        if best_was != best_is {
            if let Some(s) = best_was {
                bump(&mut counts.src_best, s, false);
            }
            if let Some(s) = best_is {
                bump(&mut counts.src_best, s, true);
            }
        }
        let fib = flags & (cf::BEST | cf::ATTRS | cf::MULTIPATH | cf::WITHDRAWN);
        if fib != 0 {
            fib_queue::mark(slot, key, fib, fib_queue, fib_rescan);
        }
        if !slot.kept() {
            map.remove(&key);
        }
        // A tombstone (kept for the FIB) that gets paths again, or a prefix that loses its
        // last one, changes the feed snapshot's key set without changing the map's size.
        if map.len() != len_before || before.is_empty() != scratch.is_empty() {
            *keyset_version += 1;
        }
        let old_best = old.first().map(|p| p.src);
        let new_best = scratch.first().filter(|p| p.selected()).map(|p| p.src);
        out.mark(key, flags, old_best, new_best, ctx.sources);
        flags
    }

    /// Sets or clears `flag` on every path of source `src` at `key` (no decision change).
    pub fn set_path_flag(&mut self, key: &K, src: u16, flag: u8, on: bool) {
        if let Some(slot) = self.map.get_mut(key) {
            set_src_flag(slot, &mut self.multi, src, flag, on);
        }
    }

    /// Gives memory back after mass removals (peer down, withdrawing a table).
    pub fn maybe_shrink(&mut self) {
        if self.map.capacity() > 4096 && self.map.len() * 4 < self.map.capacity() {
            self.map.shrink();
        }
        if self.fib_queue.is_empty() && self.fib_queue.capacity() > 4096 {
            self.fib_queue = Vec::new();
        }
    }

    /// Every prefix key, sorted ascending, for a peer's initial feed. Peers brought up while
    /// the key set does not change share one snapshot (100 clients coming up at once cost one
    /// copy of the key set, not 100).
    pub fn shared_keys(&mut self) -> Arc<[K]> {
        if let Some((v, keys)) = &self.snapshot {
            if *v == self.keyset_version {
                return keys.clone();
            }
        }
        let mut v: Vec<K> = self
            .map
            .iter()
            .filter(|(_, s)| s.src != EMPTY)
            .map(|(k, _)| *k)
            .collect();
        v.sort_unstable();
        let keys: Arc<[K]> = v.into();
        self.snapshot = Some((self.keyset_version, keys.clone()));
        keys
    }

    /// Drops the cached feed snapshot once no peer uses it.
    pub fn release_snapshot(&mut self) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|(_, k)| Arc::strong_count(k) == 1)
        {
            self.snapshot = None;
        }
    }

    /// Every prefix key with at least one path, in the map's (hash) order.
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.map
            .iter()
            .filter(|(_, s)| s.src != EMPTY)
            .map(|(k, _)| *k)
    }

    /// Every prefix key, sorted ascending.
    pub fn sorted_keys(&self) -> Vec<K> {
        let mut v: Vec<K> = self.keys().collect();
        v.sort_unstable();
        v
    }
}

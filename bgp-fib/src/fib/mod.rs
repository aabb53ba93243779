//! DOC: the sans-IO FIB state machine. It owns the desired state (one compact entry per
//! (table, prefix, metric)), the queue of coalesced changes not yet sent, the batches in
//! flight with their sequence numbers, the dump/reconcile state, and what the monitor has
//! told us (interfaces, local addresses, learned routes). It never touches a socket: the
//! driver feeds it bytes and time and asks it for bytes to send and events to deliver.
//!
//! Parts: `reply` (answers matched to batches), `kernel_view` (links, addresses, learned
//! routes), `reconcile` (dumps against the desired state), `transmit` (batched requests),
//! `nhobj` (kernel nexthop objects), `flush` (a next hop's withdrawn routes deleted with its
//! object).
//!
//! Driver contract (like bgp-core's sessions): after any `handle_*`/`apply` call, drain
//! `poll_transmit` (send each buffer on the request socket, then read the replies into
//! `handle_reply`) and `poll_event`, then sleep until `poll_timeout` or socket readiness.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use crate::store::{FoldHasher, Interned, KeyMap, KeyQueue, Packed, TableMetrics};
use crate::types::*;
use crate::wire::{self, DumpKind, KernelRoute, WireNextHop, WireTarget};

mod entry;
mod flush;
mod kernel_view;
mod nhobj;
mod reconcile;
mod reply;
mod resolve;
mod tagged;
mod transmit;

use entry::{Dev, Entry, Nh, Target, MAX_INTENT};
pub use nhobj::{nhid_part, NHID_BASE, NHID_PART, NHID_SPAN};
use nhobj::{NhObjs, Sent, Support};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_delete;
#[cfg(test)]
mod tests_nhobj;
#[cfg(test)]
mod tests_resolve;
#[cfg(test)]
mod tests_scan;

// Hash maps keyed by our own state and the kernel's: the packed-key hasher of `store` (a peer
// could choose prefixes, so this trades HashDoS resistance for speed at 1M routes; the maps
// still work, only slower, under adversarial collisions).
type FxBuild = BuildHasherDefault<FoldHasher>;
type FxMap<K, V> = HashMap<K, V, FxBuild>;
type FxSet<K> = HashSet<K, FxBuild>;

/// Epochs of the link and address dumps (a 30-bit counter, never 0).
const EPOCH_MASK: u32 = (1 << 30) - 1;

struct Batch {
    first_seq: u32,
    /// The last message carries `NLM_F_ACK`; its ACK completes the batch.
    ack_seq: u32,
    /// One per message: what it was about, errno reported (0 = none yet).
    ops: Vec<(Sent, i32)>,
}

struct Dump {
    kind: DumpKind,
    seq: u32,
    interrupted: bool,
    /// When its first reply arrived (the cost of a route scan is measured from there).
    first_reply: Option<Instant>,
}

/// A periodic route scan is scheduled at least this many of its own durations after the
/// last one ended, so reconciling a large table costs at most a tenth of a core.
const SCAN_COST_FACTOR: u32 = 10;
/// ... but never further apart than this because of that rule.
const SCAN_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);
/// A periodic scan waits until our writes have been quiet this long: during a burst it would
/// stall the writes while it reads a table about to change (a million-route load would be
/// dumped again and again), and the monitor repairs what others change meanwhile. It waits at
/// most [`SCAN_BACKOFF_MAX`]; a scan asked for (start-up, overrun, release, `Scan`) never waits.
/// 5 s rather than 1: a burst's next wave (the withdrawal after a load, a flap's re-announce)
/// often follows within seconds, and a scan of a table just written and acknowledged route by
/// route finds nothing (1x1M load then withdrawal: 1.2 CPU-seconds less, 3 of 3 runs).
const SCAN_QUIET: std::time::Duration = std::time::Duration::from_secs(5);

/// When the next periodic scan is due after one that took `took`.
fn next_scan_delay(
    interval: std::time::Duration,
    took: std::time::Duration,
) -> std::time::Duration {
    interval.max((took * SCAN_COST_FACTOR).min(SCAN_BACKOFF_MAX))
}

#[derive(Clone, Debug)]
struct LinkRec {
    name: Box<str>,
    up: bool,
    admin_up: bool,
    gen: u32,
}

#[derive(Default)]
struct ScanCounts {
    added: usize,
    replaced: usize,
    deleted: usize,
    /// Tagged mode: routes the FIB keeps no entry for that the dump showed right ...
    tagged_seen: usize,
    /// ... unless the driver's answers could not be trusted during the dump (it was ahead of
    /// us, or tagged changes arrived meanwhile): then missing routes are not looked for.
    unsure: bool,
}

/// Counters for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FibStats {
    pub messages_sent: u64,
    pub batches_sent: u64,
    pub errors: u64,
    pub overruns: u64,
    pub scans: u64,
    /// Notifications of our own writes that reached us (the monitor's socket filter should
    /// keep this at 0).
    pub own_route_notifications: u64,
    /// Routes of our protocol changed or deleted by someone else, seen by the monitor and
    /// repaired at once (the periodic scan is the safety net).
    pub third_party_route_changes: u64,
    /// Nexthop object messages sent (creates, replaces, deletes; also in `messages_sent`).
    pub nexthop_messages: u64,
    /// Objects deleted to withdraw the routes using them in one kernel walk ...
    pub object_flushes: u64,
    /// ... and the routes those deletes withdrew (no route delete was sent for them).
    pub flushed_routes: u64,
    /// Routes the FIB holds an entry for now (a gauge): every desired route, or in tagged
    /// mode only those queued, in flight, failed or being deleted one by one.
    pub entries: u64,
    /// Tagged mode: times the driver was asked to hand every prefix over again.
    pub resyncs: u64,
    /// Most batches in flight (taken from `poll_transmit`, not yet acknowledged) at once: 1
    /// when each send completes before the next batch is encoded; up to
    /// `max_batches_in_flight` behind the FIB thread's writer.
    pub most_in_flight: u64,
}

/// The sans-IO kernel FIB state machine. See the module docs for the driver contract.
pub struct Fib {
    cfg: FibConfig,
    /// Packs route keys for the tables below.
    tm: TableMetrics,
    /// The desired routes, and the doomed ones (see [`Entry`]) ...
    desired: KeyMap<Entry>,
    /// ... of which this many are doomed.
    doomed_entries: usize,
    /// The distinct intents of the desired routes (`Entry::target` names one)...
    intents: Interned<resolve::Intent>,
    /// ... and the kernel target each resolves to under `view`, by intent id.
    resolved: Vec<Target>,
    /// Links and on-link subnets (what intents resolve against; published for the daemon).
    view: crate::intent::KernelView,
    view_changed: bool,
    /// The interned name of the tunnel device, once used.
    tunnel_id: Option<u32>,
    /// Keys removed from the desired state whose delete is not sent yet, with whether our
    /// route was installed (so a quick re-add replaces instead of failing with EEXIST):
    /// `NOT_INSTALLED`, `INSTALLED_ROUTE`, or the id of the object whose doomed list holds it.
    pending_deletes: KeyMap<u32>,
    /// Routes of ours found in the kernel at start-up and kept while adopting: a desired
    /// route under the same key replaces them (an exclusive add would fail with EEXIST).
    adopted: KeyMap<()>,
    queue: KeyQueue,
    names: Vec<Box<str>>,
    /// Interface index of each interned name (0: no such interface now), kept in step with
    /// `link_by_name` so resolving a device costs an array read.
    name_ifindex: Vec<u32>,
    name_ids: HashMap<Box<str>, u32, FxBuild>,
    links: FxMap<u32, LinkRec>,
    link_by_name: HashMap<Box<str>, u32, FxBuild>,
    /// Local addresses by interface index: (address, prefix length, generation).
    addrs: FxMap<u32, Vec<(IpAddr, u8, u32)>>,
    learned: FxMap<RouteKey, (LearnedRoute, u32)>,
    tables: FxSet<u32>,
    failed: FxMap<RouteKey, i32>,
    seq: u32,
    in_flight: VecDeque<Batch>,
    dump: Option<Dump>,
    dump_queue: VecDeque<DumpKind>,
    epoch: u32,
    scan: ScanCounts,
    synced: bool,
    adopting: bool,
    /// The netlink port id of the request socket (0: unknown): notifications carrying it
    /// are echoes of our own writes.
    own_portid: u32,
    shutting_down: bool,
    next_scan: Option<Instant>,
    /// The pending scan was asked for: it does not wait for quiet.
    scan_requested: bool,
    /// When the pending periodic scan first fell due (it waits at most [`SCAN_BACKOFF_MAX`]).
    scan_due_since: Option<Instant>,
    /// When the kernel last acknowledged a batch of our writes.
    last_write: Option<Instant>,
    events: VecDeque<FibEvent>,
    stats: FibStats,
    /// Reused parse buffer for route messages.
    scratch: KernelRoute,
    /// Kernel nexthop objects, per intent.
    nh: NhObjs,
    /// Tagged mode (see [`crate::tags`]): on once the driver defines a tag.
    tags: tagged::Tags,
    /// The time of the last `handle_timeout` (the driver calls it every turn).
    clock: Option<Instant>,
    /// The first and the last time a route joined a doomed list in the current burst.
    doom_burst: Option<(Instant, Instant)>,
}

/// The interface index of a stored device (0 = let the kernel choose); `None` when a
/// named device is not known (yet).
fn resolve(name_ifindex: &[u32], dev: Dev) -> Option<u32> {
    match dev {
        Dev::Any => Some(0),
        Dev::Index(i) => Some(i),
        Dev::Name(id) => name_ifindex.get(id as usize).copied().filter(|i| *i != 0),
    }
}

fn nh_matches(name_ifindex: &[u32], want: &Nh, got: &wire::KernelNextHop) -> bool {
    got.gateway == Some(want.gateway)
        && got.onlink == want.onlink
        && got.weight == want.weight
        && match want.dev {
            Dev::Any => true,
            d => resolve(name_ifindex, d) == Some(got.ifindex),
        }
}

fn target_matches(name_ifindex: &[u32], t: &Target, r: &KernelRoute) -> bool {
    let m = |w: &Nh, g: &wire::KernelNextHop| nh_matches(name_ifindex, w, g);
    match t {
        Target::Blackhole => r.rtype == wire::RTN_BLACKHOLE,
        Target::Unreachable => r.rtype == wire::RTN_UNREACHABLE,
        Target::Prohibit => r.rtype == wire::RTN_PROHIBIT,
        Target::One(nh) => {
            r.rtype == wire::RTN_UNICAST && matches!(r.nexthops.as_slice(), [got] if m(nh, got))
        }
        Target::Many(nhs) => {
            r.rtype == wire::RTN_UNICAST
                && r.nexthops.len() == nhs.len()
                && nhs.iter().all(|w| r.nexthops.iter().any(|g| m(w, g)))
                && r.nexthops.iter().all(|g| nhs.iter().any(|w| m(w, g)))
        }
    }
}

fn errno_ok_for_delete(e: i32) -> bool {
    e == libc::ESRCH || e == libc::ENOENT
}

impl Fib {
    /// A FIB that starts by dumping interfaces, addresses and routes (the start-up
    /// reconcile). Until `release_stale` is called, routes of ours that are not desired
    /// are adopted (kept in the kernel) rather than removed, so a restart does not
    /// withdraw forwarding while BGP re-converges; set `adopt_stale` false to remove them
    /// at the first scan instead.
    pub fn new(cfg: FibConfig, adopt_stale: bool) -> Self {
        let mut tables = FxSet::default();
        tables.extend(cfg.tables.iter().copied());
        let off = cfg.nexthop_objects == NexthopObjects::Off;
        let families = cfg.families;
        Fib {
            cfg,
            tm: TableMetrics::default(),
            desired: KeyMap::default(),
            doomed_entries: 0,
            intents: Interned::default(),
            resolved: Vec::new(),
            view: Default::default(),
            view_changed: false,
            tunnel_id: None,
            pending_deletes: KeyMap::default(),
            adopted: KeyMap::default(),
            queue: KeyQueue::default(),
            names: Vec::new(),
            name_ifindex: Vec::new(),
            name_ids: HashMap::default(),
            links: FxMap::default(),
            link_by_name: HashMap::default(),
            addrs: FxMap::default(),
            learned: FxMap::default(),
            tables,
            failed: FxMap::default(),
            seq: 1,
            in_flight: VecDeque::new(),
            dump: None,
            dump_queue: if off {
                VecDeque::from([DumpKind::Links, DumpKind::Addresses, DumpKind::Routes])
            } else {
                VecDeque::from([
                    DumpKind::Links,
                    DumpKind::Addresses,
                    DumpKind::Nexthops,
                    DumpKind::Routes,
                ])
            },
            nh: NhObjs::new(nhobj::nhid_part(families)),
            epoch: 1,
            scan: ScanCounts::default(),
            synced: false,
            adopting: adopt_stale,
            own_portid: 0,
            shutting_down: false,
            next_scan: None,
            scan_requested: false,
            scan_due_since: None,
            last_write: None,
            events: VecDeque::new(),
            stats: FibStats::default(),
            scratch: KernelRoute::default(),
            tags: tagged::Tags::default(),
            clock: None,
            doom_burst: None,
        }
    }

    pub fn config(&self) -> &FibConfig {
        &self.cfg
    }

    pub fn stats(&self) -> FibStats {
        FibStats {
            entries: self.desired.len() as u64,
            ..self.stats
        }
    }

    /// Number of desired routes.
    pub fn len(&self) -> usize {
        if self.tags.on {
            return self.tags.routes;
        }
        self.desired.len().saturating_sub(self.doomed_entries)
    }

    /// Routes the FIB holds an entry for (every desired route; in tagged mode only those
    /// queued, in flight, failed or being withdrawn).
    pub fn entries(&self) -> usize {
        self.desired.len()
    }

    /// Routes whose add, replace or delete is waiting to be sent to the kernel.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Messages sent (taken from `poll_transmit`) and not yet acknowledged: a driver whose
    /// sends complete later (the FIB thread's writer) counts them as not yet in the kernel.
    pub fn in_flight(&self) -> usize {
        self.in_flight.iter().map(|b| b.ops.len()).sum()
    }

    /// Routes whose last kernel operation failed (until one succeeds or they are removed).
    pub fn failed(&self) -> usize {
        self.failed.len()
    }

    /// The routes whose last kernel operation failed, with the error and the route as we want
    /// it (what `show fib` lists), in prefix order; at most `limit`. A failed route stays
    /// desired: the next reconcile scan (or an interface or address change) retries it.
    pub fn failures(&self, limit: usize) -> Vec<FailedRoute> {
        let mut keys: Vec<(&RouteKey, i32)> = self.failed.iter().map(|(k, e)| (k, *e)).collect();
        keys.sort_unstable_by(|a, b| {
            (a.0.table, a.0.prefix, a.0.metric).cmp(&(b.0.table, b.0.prefix, b.0.metric))
        });
        keys.into_iter()
            .take(limit)
            .map(|(key, errno)| FailedRoute {
                key: *key,
                errno,
                kind: self
                    .tm
                    .find(key)
                    .and_then(|k| self.desired.get(k))
                    .filter(|e| !e.doomed())
                    .and_then(|e| self.target_of(e))
                    .map(|t| self.public_kind(t)),
            })
            .collect()
    }

    /// A stored target as the public [`RouteKind`].
    fn public_kind(&self, t: &Target) -> RouteKind {
        let nh = |n: &Nh| NextHop {
            gateway: n.gateway,
            device: match n.dev {
                Dev::Any => None,
                Dev::Index(i) => Some(Device::Index(i)),
                Dev::Name(id) => Some(Device::Name(
                    self.names
                        .get(id as usize)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                )),
            },
            onlink: n.onlink,
            weight: n.weight,
        };
        match t {
            Target::Blackhole => RouteKind::Blackhole,
            Target::Unreachable => RouteKind::Unreachable,
            Target::Prohibit => RouteKind::Prohibit,
            Target::One(n) => RouteKind::Unicast(vec![nh(n)]),
            Target::Many(v) => RouteKind::Unicast(v.iter().map(nh).collect()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of interfaces currently known (deleted ones are forgotten).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Capacity of the interface tables (for churn tests: must not grow with churn).
    pub fn link_capacity(&self) -> usize {
        self.links.capacity() + self.link_by_name.capacity() + self.names.capacity()
    }

    /// Name of a known interface.
    pub fn link_name(&self, index: u32) -> Option<&str> {
        self.links.get(&index).map(|l| &*l.name)
    }

    /// Index of a known interface.
    pub fn link_index(&self, name: &str) -> Option<u32> {
        self.link_by_name.get(name).copied()
    }

    /// Number of local addresses currently known.
    pub fn address_count(&self) -> usize {
        self.addrs.values().map(Vec::len).sum()
    }

    /// Number of learned (foreign) routes currently known.
    pub fn learned_count(&self) -> usize {
        self.learned.len()
    }

    /// True once the start-up route dump has been reconciled.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// True when nothing is queued, in flight or being dumped.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.in_flight.is_empty()
            && self.dump.is_none()
            && self.dump_queue.is_empty()
            && !self.nh.busy()
    }

    /// Bytes of heap held by the desired-state table (approximation: hash buckets,
    /// control bytes and boxed multipath next hops).
    pub fn desired_heap_bytes(&self) -> usize {
        let targets: usize = self
            .intents
            .values()
            .map(|i| {
                std::mem::size_of::<resolve::Intent>() * 2
                    + std::mem::size_of::<Target>()
                    + match i {
                        resolve::Intent::Many(v, _) => v.len() * 2 * std::mem::size_of::<Nh>(),
                        _ => 0,
                    }
            })
            .sum();
        self.desired.heap_bytes() + targets + self.nh.heap_bytes()
    }

    // -----------------------------------------------------------------------------------
    // Inputs

    /// Reserves room for `additional` more desired routes (avoids rehashing while a full
    /// table is loaded).
    pub fn reserve(&mut self, additional: usize) {
        self.desired.reserve_v4(additional);
    }

    /// Applies a desired-state change. Repeated changes to the same key before it is sent
    /// are coalesced into one message.
    pub fn apply(&mut self, change: FibChange) {
        match change {
            FibChange::Upsert(route) => self.upsert(route),
            FibChange::Remove(key) => self.remove(key),
            FibChange::Set(route) => {
                self.remove_other_metrics(route.table, route.prefix, Some(route.metric));
                self.upsert(route);
            }
            FibChange::Clear { table, prefix } => self.remove_other_metrics(table, prefix, None),
            FibChange::Intent(intent) => self.apply_intent(intent),
            FibChange::Withdraw(prefix) => {
                self.remove_other_metrics(self.cfg.routes.table, prefix, None)
            }
            FibChange::Define { tag, intent } => self.define_tag(tag, intent),
            FibChange::Forget(tag) => self.forget_tag(tag),
            FibChange::Tagged { prefix, old, new } => self.tagged(prefix, old, new),
        }
    }

    /// Removes the keys of `prefix` in `table` we hold (desired, or adopted at start-up) at any
    /// metric but `keep`. Costs one lookup per (table, metric) pair in use: a handful.
    fn remove_other_metrics(&mut self, table: u32, prefix: IpNet, keep: Option<u32>) {
        for tm in 0..self.tm.len() {
            let Some((t, metric)) = self.tm.pair(tm) else {
                continue;
            };
            if t != table || keep == Some(metric) {
                continue;
            }
            let pk = TableMetrics::pack_with(tm as u32, &prefix);
            let held = self.desired.get(pk).is_some_and(|e| !e.doomed())
                || (!self.adopted.is_empty() && self.adopted.get(pk).is_some());
            if held {
                self.remove(RouteKey::new(table, prefix, metric));
            }
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.name_ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.name_ifindex
            .push(self.link_by_name.get(name).copied().unwrap_or(0));
        self.name_ids.insert(name.into(), id);
        id
    }

    fn compact_nh(&mut self, nh: &NextHop) -> Nh {
        let dev = match &nh.device {
            None => Dev::Any,
            Some(Device::Index(i)) => Dev::Index(*i),
            Some(Device::Name(n)) => Dev::Name(self.intern(n)),
        };
        Nh {
            gateway: nh.gateway,
            dev,
            onlink: nh.onlink,
            weight: nh.weight.clamp(1, 256),
        }
    }

    fn upsert(&mut self, route: FibRoute) {
        let key = route.key();
        let intent = self.fixed_intent(&route.kind);
        self.upsert_intent(key, intent);
    }

    fn upsert_intent(&mut self, key: RouteKey, intent: resolve::Intent) {
        if !self.tables.contains(&key.table) {
            self.tables.insert(key.table);
        }
        let Some(pk) = self.tm.pack(&key) else {
            // More distinct (table, metric) pairs than a packed key can name.
            self.report_failure(key, RouteOp::Add, libc::ENOSPC);
            return;
        };
        let was_deleting = if self.pending_deletes.is_empty() {
            false
        } else {
            self.pending_deletes
                .remove(pk)
                .is_some_and(|v| v != flush::NOT_INSTALLED)
        };
        let was_adopted = !self.adopted.is_empty() && self.adopted.remove(pk).is_some();
        let was_installed = was_deleting || was_adopted;
        let id = self.acquire_intent(intent);
        if id > MAX_INTENT {
            // More distinct intents than an entry can name.
            self.release_intent(id);
            self.report_failure(key, RouteOp::Add, libc::ENOSPC);
            return;
        }
        match self.desired.get_mut(pk) {
            Some(e) if e.doomed() => {
                // Withdrawn but still in the kernel (through its object, or its delete not
                // sent yet): replaced.
                let queued = e.queued();
                *e = Entry::new(id, true, true);
                self.undoomed(pk, queued);
            }
            Some(e) => {
                let old = e.target();
                e.set_target(id);
                let unchanged = old == id && e.installed() && !e.queued();
                let enqueue = !unchanged && !e.queued();
                if enqueue {
                    e.set_queued(true);
                }
                self.release_intent(old);
                if enqueue {
                    self.queue.push_back(pk);
                }
            }
            None => {
                self.desired.insert(pk, Entry::new(id, was_installed, true));
                self.queue.push_back(pk);
            }
        }
    }

    /// A doomed entry of `pk` became desired again (queued, as an installed route): counted,
    /// and queued unless it was.
    fn undoomed(&mut self, pk: Packed, was_queued: bool) {
        self.doomed_entries = self.doomed_entries.saturating_sub(1);
        if !was_queued {
            self.queue.push_back(pk);
        }
    }

    fn remove(&mut self, key: RouteKey) {
        let key = RouteKey::new(key.table, key.prefix, key.metric);
        let refused = self.failed.remove(&key).is_some();
        let Some(pk) = self.tm.pack(&key) else {
            self.report_failure(key, RouteOp::Delete, libc::ENOSPC);
            return;
        };
        // A delete goes out only for a route that may be in the kernel: one installed or in
        // flight, one adopted, or any key while the start-up adoption still runs. Never for a
        // key we do not hold: the kernel takes a delete with metric 0 as "any metric" and
        // would remove our route of the same prefix at another metric (the queue's order is
        // free, so that route may well be added before this delete is sent).
        let held = self.desired.get(pk).copied();
        if held.is_some_and(|e| e.doomed()) {
            return; // withdrawn already
        }
        if let Some(e) = held.filter(|_| !refused) {
            if self.doom(pk, &e) {
                self.release_intent(e.target()); // after: its object may now retire
                return;
            }
            if e.installed() {
                // Its delete is queued in its entry (no map of pending deletes grows with a
                // withdrawn table).
                if let Some(slot) = self.desired.get_mut(pk) {
                    *slot = Entry::deleting();
                    self.doomed_entries += 1;
                    if !e.queued() {
                        self.queue.push_back(pk);
                    }
                }
                self.release_intent(e.target());
                return;
            }
        }
        let (send, installed) = match self.desired.remove(pk) {
            Some(e) => {
                self.release_intent(e.target());
                // Queued and not installed: not sent since it was last absent; refused by
                // the kernel: not there either.
                (e.installed() || !(e.queued() || refused), e.installed())
            }
            None => {
                let adopted = !self.adopted.is_empty() && self.adopted.remove(pk).is_some();
                (adopted || self.adopting, true)
            }
        };
        if !send {
            return;
        }
        let value = if installed {
            flush::INSTALLED_ROUTE
        } else {
            flush::NOT_INSTALLED
        };
        if self.pending_deletes.insert(pk, value).is_none() {
            self.queue.push_back(pk); // not queued yet
        }
    }

    /// Ends the adoption of stale routes found at start-up: the next reconcile removes our
    /// routes that are not desired. Call it once the RIB has converged.
    pub fn release_stale(&mut self, now: Instant) {
        self.adopting = false;
        self.adopted = KeyMap::default();
        self.release_stale_objects();
        self.request_scan(now);
    }

    /// The netlink port id of the socket the FIB's requests go out on: a route notification
    /// carrying it is an echo of our own write, any other one about our protocol's routes is a
    /// change behind our back, repaired at once. [`crate::FibSocket`] sets it.
    pub fn set_own_portid(&mut self, portid: u32) {
        self.own_portid = portid;
    }

    /// Schedules a reconcile as soon as possible.
    pub fn request_scan(&mut self, now: Instant) {
        self.next_scan = Some(now);
        self.scan_requested = true;
    }

    /// Whether a periodic scan due now should wait for our writes to be quiet; if so, pushes
    /// it back to when they will have been quiet for [`SCAN_QUIET`].
    fn scan_waits_for_quiet(&mut self, now: Instant) -> bool {
        if self.scan_requested || !self.synced {
            return false;
        }
        let since = *self.scan_due_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= SCAN_BACKOFF_MAX {
            return false;
        }
        let busy = !self.queue.is_empty() || !self.in_flight.is_empty();
        let quiet_at = match self.last_write {
            Some(t) if busy => now.max(t) + SCAN_QUIET,
            Some(t) => t + SCAN_QUIET,
            None if busy => now + SCAN_QUIET,
            None => return false,
        };
        if quiet_at <= now {
            return false;
        }
        self.next_scan = Some(quiet_at.min(since + SCAN_BACKOFF_MAX));
        true
    }

    /// Stops the FIB: with `flush_on_shutdown`, queues the deletion of every route of ours;
    /// otherwise (BIRD's `persist`) leaves them. Drain `poll_transmit` until `is_idle`.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        if self.synced {
            // Otherwise the start-up dumps must still run: nothing is sent before them.
            self.dump_queue.clear();
        }
        self.next_scan = None;
        if self.cfg.flush_on_shutdown && self.tags.on {
            self.shutdown_tagged();
            self.release_stale_objects();
        } else if self.cfg.flush_on_shutdown {
            let keys: Vec<RouteKey> = self
                .desired
                .iter()
                .filter(|(_, e)| !e.doomed())
                .map(|(k, _)| self.tm.unpack(k))
                .collect();
            for k in keys {
                self.remove(k);
            }
            // The objects go with their last routes; those of a previous run too.
            self.release_stale_objects();
        }
    }

    /// Time passes: start a periodic reconcile when it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(now);
        if self.shutting_down {
            return;
        }
        if let Some(t) = self.next_scan {
            if now >= t
                && self.dump.is_none()
                && !self.dump_queue.contains(&DumpKind::Routes)
                && !self.scan_waits_for_quiet(now)
            {
                self.scan_requested = false;
                self.scan_due_since = None;
                if self.nh.support == Support::Yes {
                    self.dump_queue.push_back(DumpKind::Nexthops);
                }
                self.dump_queue.push_back(DumpKind::Routes);
                self.next_scan = None;
            }
        }
    }

    /// When `handle_timeout` wants to be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let doomed = self
            .doomed_wait_until()
            .filter(|_| self.nh.doomed_total > 0);
        if self.shutting_down {
            return doomed;
        }
        match (self.next_scan, doomed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

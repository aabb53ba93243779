//! DOC: the sans-IO FIB state machine. It owns the desired state (one compact entry per
//! (table, prefix, metric)), the queue of coalesced changes not yet sent, the batches in
//! flight with their sequence numbers, the dump/reconcile state, and what the monitor has
//! told us (interfaces, local addresses, learned routes). It never touches a socket: the
//! driver feeds it bytes and time and asks it for bytes to send and events to deliver.
//!
//! Driver contract (like bgp-core's sessions): after any `handle_*`/`apply` call, drain
//! `poll_transmit` (send each buffer on the request socket, then read the replies into
//! `handle_reply`) and `poll_event`, then sleep until `poll_timeout` or socket readiness.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use crate::store::{FoldHasher, Interned, KeyMap, KeyQueue, TableMetrics};
use crate::types::*;
use crate::wire::{self, DumpKind, KernelRoute, WireNextHop, WireTarget};

// Hash maps keyed by our own state and the kernel's: the packed-key hasher of `store` (a peer
// could choose prefixes, so this trades HashDoS resistance for speed at 1M routes; the maps
// still work, only slower, under adversarial collisions).
type FxBuild = BuildHasherDefault<FoldHasher>;
type FxMap<K, V> = HashMap<K, V, FxBuild>;
type FxSet<K> = HashSet<K, FxBuild>;

// ---------------------------------------------------------------------------------------
// Compact desired-state entries.

/// Device of a stored next hop: interface names are interned (`Name(id)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dev {
    Any,
    Index(u32),
    Name(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Nh {
    gateway: IpAddr,
    dev: Dev,
    onlink: bool,
    weight: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Blackhole,
    Unreachable,
    Prohibit,
    One(Nh),
    Many(Box<[Nh]>),
}

/// One desired route in 8 octets: its interned target and, packed into `bits`, whether our
/// route under this key is (believed to be) in the kernel (update with REPLACE), whether the
/// key is in the send queue, and the reconcile epoch in which the kernel last showed it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    target: u32,
    bits: u32,
}

const INSTALLED: u32 = 1;
const QUEUED: u32 = 2;
/// Epochs live in the 30 bits above the two flags.
const EPOCH_MASK: u32 = (1 << 30) - 1;

impl Entry {
    fn new(target: u32, installed: bool, queued: bool) -> Entry {
        let mut e = Entry { target, bits: 0 };
        e.set_installed(installed);
        e.set_queued(queued);
        e
    }
    fn installed(&self) -> bool {
        self.bits & INSTALLED != 0
    }
    fn queued(&self) -> bool {
        self.bits & QUEUED != 0
    }
    fn seen(&self) -> u32 {
        self.bits >> 2
    }
    fn set_installed(&mut self, v: bool) {
        self.bits = (self.bits & !INSTALLED) | if v { INSTALLED } else { 0 };
    }
    fn set_queued(&mut self, v: bool) {
        self.bits = (self.bits & !QUEUED) | if v { QUEUED } else { 0 };
    }
    fn set_seen(&mut self, epoch: u32) {
        self.bits = (self.bits & 3) | ((epoch & EPOCH_MASK) << 2);
    }
}

struct Batch {
    first_seq: u32,
    /// The last message carries `NLM_F_ACK`; its ACK completes the batch.
    ack_seq: u32,
    /// One per message: key, op, errno reported (0 = none yet).
    ops: Vec<(RouteKey, RouteOp, i32)>,
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
}

/// Counters for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FibStats {
    pub messages_sent: u64,
    pub batches_sent: u64,
    pub errors: u64,
    pub overruns: u64,
    pub scans: u64,
    /// Notifications about routes of our own protocol that reached us (the monitor's
    /// socket filter should keep this at 0).
    pub own_route_notifications: u64,
}

/// The sans-IO kernel FIB state machine. See the module docs for the driver contract.
pub struct Fib {
    cfg: FibConfig,
    /// Packs route keys for the tables below.
    tm: TableMetrics,
    desired: KeyMap<Entry>,
    /// The distinct targets of the desired routes.
    targets: Interned<Target>,
    /// Keys removed from the desired state whose delete is not sent yet, with whether our
    /// route was installed (so a quick re-add replaces instead of failing with EEXIST).
    pending_deletes: KeyMap<bool>,
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
    shutting_down: bool,
    next_scan: Option<Instant>,
    events: VecDeque<FibEvent>,
    stats: FibStats,
    /// Reused parse buffer for route messages.
    scratch: KernelRoute,
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
        Fib {
            cfg,
            tm: TableMetrics::default(),
            desired: KeyMap::default(),
            targets: Interned::default(),
            pending_deletes: KeyMap::default(),
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
            dump_queue: VecDeque::from([DumpKind::Links, DumpKind::Addresses, DumpKind::Routes]),
            epoch: 1,
            scan: ScanCounts::default(),
            synced: false,
            adopting: adopt_stale,
            shutting_down: false,
            next_scan: None,
            events: VecDeque::new(),
            stats: FibStats::default(),
            scratch: KernelRoute::default(),
        }
    }

    pub fn config(&self) -> &FibConfig {
        &self.cfg
    }

    pub fn stats(&self) -> FibStats {
        self.stats
    }

    /// Number of desired routes.
    pub fn len(&self) -> usize {
        self.desired.len()
    }

    /// Routes whose add, replace or delete is waiting to be sent to the kernel.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Routes whose last kernel operation failed (until one succeeds or they are removed).
    pub fn failed(&self) -> usize {
        self.failed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.desired.is_empty()
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
    }

    /// Bytes of heap held by the desired-state table (approximation: hash buckets,
    /// control bytes and boxed multipath next hops).
    pub fn desired_heap_bytes(&self) -> usize {
        let targets: usize = self
            .targets
            .values()
            .map(|t| {
                std::mem::size_of::<Target>() * 2
                    + match t {
                        Target::Many(v) => v.len() * std::mem::size_of::<Nh>(),
                        _ => 0,
                    }
            })
            .sum();
        self.desired.heap_bytes() + targets
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
        let target = match &route.kind {
            RouteKind::Blackhole => Target::Blackhole,
            RouteKind::Unreachable => Target::Unreachable,
            RouteKind::Prohibit => Target::Prohibit,
            RouteKind::Unicast(nhs) => match nhs.as_slice() {
                [] => Target::Unreachable,
                [one] => Target::One(self.compact_nh(one)),
                many => {
                    let v: Vec<Nh> = many.iter().map(|n| self.compact_nh(n)).collect();
                    Target::Many(v.into_boxed_slice())
                }
            },
        };
        if !self.tables.contains(&key.table) {
            self.tables.insert(key.table);
        }
        let Some(pk) = self.tm.pack(&key) else {
            // More distinct (table, metric) pairs than a packed key can name.
            self.report_failure(key, RouteOp::Add, libc::ENOSPC);
            return;
        };
        let was_installed = if self.pending_deletes.is_empty() {
            false
        } else {
            self.pending_deletes.remove(pk).unwrap_or(false)
        };
        let id = self.targets.acquire(target);
        match self.desired.get_mut(pk) {
            Some(e) => {
                let old = e.target;
                e.target = id;
                let unchanged = old == id && e.installed() && !e.queued();
                let enqueue = !unchanged && !e.queued();
                if enqueue {
                    e.set_queued(true);
                }
                self.targets.release(old);
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

    fn remove(&mut self, key: RouteKey) {
        let key = RouteKey::new(key.table, key.prefix, key.metric);
        self.failed.remove(&key);
        let Some(pk) = self.tm.pack(&key) else {
            self.report_failure(key, RouteOp::Delete, libc::ENOSPC);
            return;
        };
        // An entry never sent and never installed needs no delete; but a route of ours may
        // be in the kernel unknown to us (adopted), so always send the delete.
        let installed = match self.desired.remove(pk) {
            Some(e) => {
                self.targets.release(e.target);
                e.installed()
            }
            None => true,
        };
        if self.pending_deletes.insert(pk, installed).is_none() {
            self.queue.push_back(pk);
        }
    }

    /// Ends the adoption of stale routes found at start-up: the next reconcile removes our
    /// routes that are not desired. Call it once the RIB has converged.
    pub fn release_stale(&mut self, now: Instant) {
        self.adopting = false;
        self.request_scan(now);
    }

    /// Schedules a reconcile as soon as possible.
    pub fn request_scan(&mut self, now: Instant) {
        self.next_scan = Some(now);
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
        if self.cfg.flush_on_shutdown {
            let keys: Vec<RouteKey> = self.desired.keys().map(|k| self.tm.unpack(k)).collect();
            for k in keys {
                self.remove(k);
            }
        }
    }

    /// Time passes: start a periodic reconcile when it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if let Some(t) = self.next_scan {
            if now >= t && self.dump.is_none() && !self.dump_queue.contains(&DumpKind::Routes) {
                self.dump_queue.push_back(DumpKind::Routes);
                self.next_scan = None;
            }
        }
    }

    /// When `handle_timeout` wants to be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shutting_down {
            return None;
        }
        self.next_scan
    }

    /// The request socket reported `ENOBUFS` (or the driver lost replies): everything in
    /// flight is uncertain. A full resync (route dump) follows.
    pub fn handle_reply_overrun(&mut self, now: Instant) {
        self.stats.overruns += 1;
        self.events.push_back(FibEvent::Overrun);
        self.in_flight.clear();
        if let Some(d) = self.dump.take() {
            self.dump_queue.push_front(d.kind);
        }
        self.request_scan(now);
        self.handle_timeout(now);
    }

    /// The monitor socket reported `ENOBUFS`: notifications were lost; re-dump interfaces,
    /// addresses and routes.
    pub fn handle_monitor_overrun(&mut self, now: Instant) {
        self.stats.overruns += 1;
        self.events.push_back(FibEvent::Overrun);
        for k in [DumpKind::Links, DumpKind::Addresses] {
            if !self.dump_queue.contains(&k) && self.dump.as_ref().map(|d| d.kind) != Some(k) {
                self.dump_queue.push_back(k);
            }
        }
        self.request_scan(now);
        self.handle_timeout(now);
    }

    /// Bytes received on the request socket: ACKs, errors and dump parts.
    pub fn handle_reply(&mut self, now: Instant, datagram: &[u8]) -> Result<(), wire::WireError> {
        for m in wire::Messages::new(datagram) {
            let (hdr, payload) = m?;
            if let Some(d) = &mut self.dump {
                if hdr.seq == d.seq {
                    d.first_reply.get_or_insert(now);
                    if hdr.flags & wire::NLM_F_DUMP_INTR != 0 {
                        d.interrupted = true;
                    }
                    match hdr.kind {
                        wire::NLMSG_DONE => self.finish_dump(now),
                        wire::NLMSG_ERROR => {
                            // A dump refused (EBUSY...): retry at the next scan.
                            let e = wire::parse_error(payload)?;
                            tracing::warn!(errno = e, "netlink dump failed");
                            self.dump = None;
                            self.request_scan(now);
                        }
                        _ => self.handle_object(now, hdr.kind, payload, true),
                    }
                    continue;
                }
            }
            match hdr.kind {
                wire::NLMSG_ERROR => {
                    let e = wire::parse_error(payload)?;
                    self.handle_ack(now, hdr.seq, e);
                }
                wire::NLMSG_NOOP | wire::NLMSG_DONE | wire::NLMSG_OVERRUN => {}
                k => self.handle_object(now, k, payload, false),
            }
        }
        Ok(())
    }

    /// Bytes received on the monitor socket: link, address and route notifications.
    pub fn handle_notification(
        &mut self,
        now: Instant,
        datagram: &[u8],
    ) -> Result<(), wire::WireError> {
        for m in wire::Messages::new(datagram) {
            let (hdr, payload) = m?;
            self.handle_object(now, hdr.kind, payload, false);
        }
        Ok(())
    }

    fn handle_ack(&mut self, now: Instant, seq: u32, errno: i32) {
        // Find the batch; batches are acknowledged in order on one socket, so anything
        // for a later batch while an earlier one is open means a lost message.
        let Some(front) = self.in_flight.front_mut() else {
            return; // stale reply from before an overrun
        };
        // Sequence numbers wrap: compare as distances from the batch's first message.
        let d = seq.wrapping_sub(front.first_seq) as i32;
        let span = front.ack_seq.wrapping_sub(front.first_seq) as i32;
        if d < 0 {
            return; // older than anything open: a reply from before an overrun
        }
        if d > span {
            tracing::warn!(seq, "netlink ACK lost: resync");
            self.handle_reply_overrun(now);
            return;
        }
        let idx = d as usize;
        if errno != 0 {
            if let Some(op) = front.ops.get_mut(idx) {
                op.2 = errno;
            }
        }
        if seq == front.ack_seq {
            if let Some(b) = self.in_flight.pop_front() {
                self.complete(b);
            }
        }
    }

    fn complete(&mut self, batch: Batch) {
        for (key, op, errno) in batch.ops {
            let ok = errno == 0 || (op == RouteOp::Delete && errno_ok_for_delete(errno));
            if ok {
                if op != RouteOp::Delete {
                    if let Some(e) = self.tm.find(&key).and_then(|k| self.desired.get_mut(k)) {
                        e.set_installed(true);
                    }
                }
                let was_failed = self.failed.remove(&key).is_some();
                if self.cfg.report_success || was_failed {
                    self.events
                        .push_back(FibEvent::Outcome { key, op, errno: 0 });
                }
            } else {
                self.stats.errors += 1;
                self.report_failure(key, op, errno);
            }
        }
    }

    fn report_failure(&mut self, key: RouteKey, op: RouteOp, errno: i32) {
        if self.failed.insert(key, errno) != Some(errno) {
            self.events.push_back(FibEvent::Outcome { key, op, errno });
        }
    }

    fn handle_object(&mut self, now: Instant, kind: u16, payload: &[u8], from_dump: bool) {
        match kind {
            wire::RTM_NEWROUTE | wire::RTM_DELROUTE => {
                let mut r = std::mem::take(&mut self.scratch);
                match wire::parse_route_into(payload, &mut r) {
                    Ok(()) => {
                        if from_dump {
                            self.dumped_route(&r);
                        } else {
                            if r.protocol == self.cfg.protocol {
                                self.stats.own_route_notifications += 1;
                            }
                            self.notified_route(kind == wire::RTM_NEWROUTE, &r);
                        }
                    }
                    Err(e) => tracing::debug!(%e, "unparsable route message"),
                }
                self.scratch = r;
            }
            wire::RTM_NEWLINK | wire::RTM_DELLINK => match wire::parse_link(payload) {
                Ok(l) => self.link(now, kind == wire::RTM_NEWLINK, l),
                Err(e) => tracing::debug!(%e, "unparsable link message"),
            },
            wire::RTM_NEWADDR | wire::RTM_DELADDR => match wire::parse_address(payload) {
                Ok(a) => self.address(kind == wire::RTM_NEWADDR, a),
                Err(e) => tracing::debug!(%e, "unparsable address message"),
            },
            _ => {}
        }
    }

    /// Generation of the current (or last) dump: objects seen carry it, and objects with
    /// an older one when a dump completes have left the kernel.
    fn dump_gen(&self) -> u32 {
        self.epoch
    }

    fn link(&mut self, now: Instant, present: bool, l: wire::KernelLink) {
        let gen = self.dump_gen();
        if present {
            let name: Box<str> = l.name.as_str().into();
            let mut came_up = false;
            let mut renamed_from: Option<Box<str>> = None;
            let changed = match self.links.get_mut(&l.index) {
                Some(rec) => {
                    rec.gen = gen;
                    if !rec.admin_up && l.admin_up {
                        came_up = true;
                    }
                    rec.admin_up = l.admin_up;
                    if rec.name != name {
                        self.link_by_name.remove(&rec.name);
                        renamed_from = Some(std::mem::replace(&mut rec.name, name.clone()));
                        rec.up = l.up;
                        true
                    } else if rec.up != l.up {
                        rec.up = l.up;
                        true
                    } else {
                        false
                    }
                }
                None => {
                    self.links.insert(
                        l.index,
                        LinkRec {
                            name: name.clone(),
                            up: l.up,
                            admin_up: l.admin_up,
                            gen,
                        },
                    );
                    true
                }
            };
            if let Some(old) = renamed_from {
                self.refresh_name(&old);
            }
            if came_up
                && self.cfg.ignore_addresses_of_down_links
                && !self.dump_queue.contains(&DumpKind::Addresses)
            {
                // Its addresses were ignored while it was down.
                self.dump_queue.push_back(DumpKind::Addresses);
            }
            if changed {
                self.link_by_name.insert(name.clone(), l.index);
                self.refresh_name(&name);
                // Routes waiting for this device name can be installed now.
                if self.name_ids.contains_key(&name) && self.synced {
                    self.request_scan(now);
                }
                self.events.push_back(FibEvent::Link {
                    index: l.index,
                    name: l.name,
                    up: l.up,
                });
            }
        } else {
            self.forget_link(l.index);
        }
    }

    /// Keeps `name_ifindex` in step after `link_by_name` changed for `name`.
    fn refresh_name(&mut self, name: &str) {
        if let Some(id) = self.name_ids.get(name) {
            let idx = self.link_by_name.get(name).copied().unwrap_or(0);
            if let Some(slot) = self.name_ifindex.get_mut(*id as usize) {
                *slot = idx;
            }
        }
    }

    fn forget_link(&mut self, index: u32) {
        if let Some(rec) = self.links.remove(&index) {
            if self.link_by_name.get(&rec.name) == Some(&index) {
                self.link_by_name.remove(&rec.name);
                self.refresh_name(&rec.name);
            }
            for (ip, len, _) in self.addrs.remove(&index).unwrap_or_default() {
                self.address_event(false, (index, ip, len));
            }
            self.events.push_back(FibEvent::LinkRemoved {
                index,
                name: rec.name.into(),
            });
        }
    }

    fn address_event(&mut self, add: bool, k: (u32, IpAddr, u8)) {
        let Ok(subnet) = IpNet::new(k.1, k.2).map(|n| n.trunc()) else {
            return;
        };
        self.events.push_back(if add {
            FibEvent::AddressAdd {
                ifindex: k.0,
                address: k.1,
                subnet,
            }
        } else {
            FibEvent::AddressRemove {
                ifindex: k.0,
                address: k.1,
                subnet,
            }
        });
    }

    fn address(&mut self, present: bool, a: wire::KernelAddress) {
        let k = (a.ifindex, a.address, a.prefix_len);
        let gen = self.dump_gen();
        if present {
            // Like Calico's BIRD: addresses of interfaces that are not administratively up
            // (kube-ipvs0 carries every service IP) are not reported; they are dumped
            // again when the interface comes up.
            if self.cfg.ignore_addresses_of_down_links
                && self.links.get(&a.ifindex).is_some_and(|l| !l.admin_up)
            {
                return;
            }
            let v = self.addrs.entry(a.ifindex).or_default();
            match v
                .iter_mut()
                .find(|e| e.0 == a.address && e.1 == a.prefix_len)
            {
                Some(e) => e.2 = gen,
                None => {
                    v.push((a.address, a.prefix_len, gen));
                    self.address_event(true, k);
                }
            }
        } else if let Some(v) = self.addrs.get_mut(&a.ifindex) {
            let before = v.len();
            v.retain(|e| !(e.0 == a.address && e.1 == a.prefix_len));
            let removed = v.len() != before;
            if v.is_empty() {
                self.addrs.remove(&a.ifindex);
            }
            if removed {
                self.address_event(false, k);
            }
        }
    }

    fn learnable(&self, r: &KernelRoute) -> bool {
        self.cfg.learn
            && r.protocol != self.cfg.protocol
            && (self.cfg.learn_kernel_routes || r.protocol > 2)
            && self.cfg.learn_tables.contains(&r.table)
            && matches!(
                r.rtype,
                wire::RTN_UNICAST
                    | wire::RTN_BLACKHOLE
                    | wire::RTN_UNREACHABLE
                    | wire::RTN_PROHIBIT
            )
    }

    fn learned_of(r: &KernelRoute) -> LearnedRoute {
        LearnedRoute {
            key: RouteKey::new(r.table, r.prefix, r.metric),
            protocol: r.protocol,
            route_type: r.rtype,
            scope: r.scope,
            nexthops: r.nexthops.iter().map(|n| (n.gateway, n.ifindex)).collect(),
            ifindex: match r.nexthops.as_slice() {
                [one] if !r.multipath => one.ifindex,
                _ => 0,
            },
        }
    }

    fn learn(&mut self, r: &KernelRoute) {
        let lr = Self::learned_of(r);
        let gen = self.dump_gen();
        match self.learned.get_mut(&lr.key) {
            Some((old, g)) => {
                *g = gen;
                if *old != lr {
                    *old = lr.clone();
                    self.events.push_back(FibEvent::LearnedAdd(lr));
                }
            }
            None => {
                self.learned.insert(lr.key, (lr.clone(), gen));
                self.events.push_back(FibEvent::LearnedAdd(lr));
            }
        }
    }

    fn notified_route(&mut self, present: bool, r: &KernelRoute) {
        // Our own routes are checked by the periodic reconcile, not by notifications.
        if !self.learnable(r) {
            return;
        }
        if present {
            self.learn(r);
        } else {
            let key = RouteKey::new(r.table, r.prefix, r.metric);
            if self.learned.remove(&key).is_some() {
                self.events.push_back(FibEvent::LearnedRemove(key));
            }
        }
    }

    fn dumped_route(&mut self, r: &KernelRoute) {
        if r.table == wire::RT_TABLE_LOCAL {
            return;
        }
        if r.protocol != self.cfg.protocol {
            if self.learnable(r) {
                self.learn(r);
            }
            return;
        }
        if !self.tables.contains(&r.table) {
            return;
        }
        let key = RouteKey::new(r.table, r.prefix, r.metric);
        let epoch = self.epoch;
        let pk = self.tm.find(&key);
        match pk.and_then(|k| self.desired.get_mut(k).map(|e| (k, e))) {
            Some((_, e)) if e.seen() == epoch => {} // a duplicate under our key: leave it
            Some((pk, e)) => {
                e.set_seen(epoch);
                e.set_installed(true);
                let matches = self
                    .targets
                    .get(e.target)
                    .is_some_and(|t| target_matches(&self.name_ifindex, t, r));
                if matches {
                    // Already right in the kernel (adopted at start-up): nothing to send.
                    e.set_queued(false);
                } else {
                    self.scan.replaced += 1;
                    if !e.queued() {
                        e.set_queued(true);
                        self.queue.push_back(pk);
                    }
                }
            }
            None => {
                if pk.is_some_and(|k| self.pending_deletes.contains(k)) {
                    return; // a delete is already queued
                }
                if !self.adopting {
                    let Some(pk) = self.tm.pack(&key) else {
                        return;
                    };
                    self.pending_deletes.insert(pk, true);
                    self.queue.push_back(pk);
                    self.scan.deleted += 1;
                }
            }
        }
    }

    fn finish_dump(&mut self, now: Instant) {
        let Some(d) = self.dump.take() else { return };
        let gen = self.epoch;
        match d.kind {
            DumpKind::Links => {
                let gone: Vec<u32> = self
                    .links
                    .iter()
                    .filter(|(_, l)| l.gen != gen)
                    .map(|(i, _)| *i)
                    .collect();
                for i in gone {
                    self.forget_link(i);
                }
            }
            DumpKind::Addresses => {
                let mut gone = Vec::new();
                for (i, v) in self.addrs.iter_mut() {
                    v.retain(|e| {
                        if e.2 != gen {
                            gone.push((*i, e.0, e.1));
                        }
                        e.2 == gen
                    });
                }
                self.addrs.retain(|_, v| !v.is_empty());
                for k in gone {
                    self.address_event(false, k);
                }
            }
            DumpKind::Routes => {
                self.stats.scans += 1;
                if d.interrupted {
                    // The table changed during the dump: what we saw is inconsistent.
                    self.scan = ScanCounts::default();
                    self.request_scan(now);
                    return;
                }
                let mut missing = Vec::new();
                for (k, e) in self.desired.iter_mut() {
                    if e.seen() != gen {
                        e.set_installed(false);
                        self.scan.added += 1;
                        if !e.queued() {
                            e.set_queued(true);
                            missing.push(k);
                        }
                    }
                }
                self.queue.extend(missing);
                let gone: Vec<RouteKey> = self
                    .learned
                    .iter()
                    .filter(|(_, (_, g))| *g != gen)
                    .map(|(k, _)| *k)
                    .collect();
                for k in gone {
                    self.learned.remove(&k);
                    self.events.push_back(FibEvent::LearnedRemove(k));
                }
                let s = std::mem::take(&mut self.scan);
                if s.added + s.replaced + s.deleted > 0 {
                    tracing::info!(s.added, s.replaced, s.deleted, "kernel FIB reconciled");
                }
                // Reported after the start-up reconcile and whenever a scan had to act.
                if !self.synced || s.added + s.replaced + s.deleted > 0 {
                    self.events.push_back(FibEvent::Reconciled {
                        added: s.added,
                        replaced: s.replaced,
                        deleted: s.deleted,
                    });
                }
                self.synced = true;
                let took = now.saturating_duration_since(d.first_reply.unwrap_or(now));
                self.next_scan = Some(now + next_scan_delay(self.cfg.scan_interval, took));
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Outputs

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Fills `buf` (cleared first) with the next thing to send on the request socket: a
    /// dump request, or a batch of route messages (up to `max_batch_bytes`, the last one
    /// asking for an ACK). Returns false when there is nothing to send now.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        if self.dump.is_some() {
            return false;
        }
        if let Some(kind) = self.dump_queue.front().copied() {
            if !self.in_flight.is_empty() {
                return false; // dump once our writes are acknowledged
            }
            // Sending the route dump waits until queued route changes are flushed, except
            // at start-up (nothing may be sent before the first reconcile).
            if kind != DumpKind::Routes || !self.synced || self.queue.is_empty() {
                self.dump_queue.pop_front();
                let seq = self.next_seq();
                if kind == DumpKind::Routes {
                    self.scan = ScanCounts::default();
                }
                self.epoch = (self.epoch.wrapping_add(1) & EPOCH_MASK).max(1);
                wire::encode_dump(buf, seq, kind);
                self.dump = Some(Dump {
                    kind,
                    seq,
                    interrupted: false,
                    first_reply: None,
                });
                return true;
            }
        }
        if !self.synced || self.in_flight.len() >= self.cfg.max_batches_in_flight.max(1) {
            return false;
        }
        let max = self.cfg.max_batch_bytes.max(1024);
        let mut ops = Vec::new();
        let first_seq = self.seq;
        let mut last_at = 0usize;
        let mut nhbuf: Vec<WireNextHop> = Vec::new();
        while buf.len() + 512 <= max {
            let Some(pk) = self.queue.pop() else {
                break;
            };
            let key = self.tm.unpack(pk);
            let protocol = self.cfg.protocol;
            if let Some(e) = self.desired.get_mut(pk) {
                if !e.queued() {
                    continue;
                }
                e.set_queued(false);
                let replace = e.installed();
                nhbuf.clear();
                let mut unresolved = false;
                let mut nh = |n: &Nh| WireNextHop {
                    gateway: n.gateway,
                    ifindex: match resolve(&self.name_ifindex, n.dev) {
                        Some(i) => i,
                        None => {
                            unresolved = true;
                            0
                        }
                    },
                    onlink: n.onlink,
                    weight: n.weight,
                };
                let kind = match self.targets.get(e.target).unwrap_or(&Target::Unreachable) {
                    Target::Blackhole => wire::RTN_BLACKHOLE,
                    Target::Unreachable => wire::RTN_UNREACHABLE,
                    Target::Prohibit => wire::RTN_PROHIBIT,
                    Target::One(n) => {
                        nhbuf.push(nh(n));
                        wire::RTN_UNICAST
                    }
                    Target::Many(nhs) => {
                        nhbuf.extend(nhs.iter().map(&mut nh));
                        wire::RTN_UNICAST
                    }
                };
                let target = match kind {
                    wire::RTN_BLACKHOLE => WireTarget::Blackhole,
                    wire::RTN_UNREACHABLE => WireTarget::Unreachable,
                    wire::RTN_PROHIBIT => WireTarget::Prohibit,
                    _ => WireTarget::Unicast(&nhbuf),
                };
                let op = if replace {
                    RouteOp::Replace
                } else {
                    RouteOp::Add
                };
                if unresolved {
                    self.report_failure(key, op, libc::ENODEV);
                    continue;
                }
                let seq = self.next_seq();
                last_at = buf.len();
                wire::encode_newroute(
                    buf,
                    seq,
                    false,
                    replace,
                    protocol,
                    key.table,
                    &key.prefix,
                    key.metric,
                    target,
                );
                ops.push((key, op, 0));
            } else if self.pending_deletes.remove(pk).is_some() {
                let seq = self.next_seq();
                last_at = buf.len();
                wire::encode_delroute(
                    buf,
                    seq,
                    false,
                    protocol,
                    key.table,
                    &key.prefix,
                    key.metric,
                    wire::RTN_UNSPEC,
                );
                ops.push((key, RouteOp::Delete, 0));
            }
        }
        self.queue.release_if_empty(); // a full load's queue is not kept around
        if ops.is_empty() {
            buf.clear();
            return false;
        }
        // Ask for an ACK on the last message: the kernel handles a batch in order, so its
        // ACK means every earlier message without an error report succeeded.
        if let Some(f) = buf.get_mut(last_at + 6..last_at + 8) {
            if let Ok(b) = <[u8; 2]>::try_from(&*f) {
                let flags = u16::from_ne_bytes(b) | wire::NLM_F_ACK;
                f.copy_from_slice(&flags.to_ne_bytes());
            }
        }
        let ack_seq = first_seq.wrapping_add(ops.len() as u32 - 1);
        self.stats.messages_sent += ops.len() as u64;
        self.stats.batches_sent += 1;
        self.in_flight.push_back(Batch {
            first_seq,
            ack_seq,
            ops,
        });
        true
    }

    /// The next event for the daemon.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FibEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::*;
    use std::time::Duration;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn hdr(v: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
        v.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
    }

    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut body = (-errno).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        let mut v = Vec::new();
        hdr(&mut v, NLMSG_ERROR, 0x100, seq, &body);
        v
    }

    /// What a batch we sent contains: (type, flags, seq, route).
    fn decode(buf: &[u8]) -> Vec<(u16, u16, u32, KernelRoute)> {
        Messages::new(buf)
            .map(|m| {
                let (h, p) = m.unwrap();
                (h.kind, h.flags, h.seq, parse_route(p).unwrap())
            })
            .collect()
    }

    /// A kernel route dump answering `seq`, as one datagram.
    fn dump(seq: u32, routes: &[(u8, u32, &str, u32, WireTarget<'_>)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (proto, table, prefix, metric, t) in routes {
            let mut m = Vec::new();
            encode_newroute(
                &mut m,
                seq,
                false,
                false,
                *proto,
                *table,
                &net(prefix),
                *metric,
                *t,
            );
            // turn the request into a dump part: type NEWROUTE, flags MULTI
            m[6..8].copy_from_slice(&NLM_F_MULTI.to_ne_bytes());
            v.extend_from_slice(&m);
        }
        hdr(&mut v, NLMSG_DONE, NLM_F_MULTI, seq, &0u32.to_ne_bytes());
        v
    }

    fn cfg() -> FibConfig {
        FibConfig {
            tables: vec![254],
            ..FibConfig::default()
        }
    }

    fn via(gw: &str, ifindex: u32, onlink: bool) -> NextHop {
        NextHop {
            gateway: gw.parse().unwrap(),
            device: Some(Device::Index(ifindex)),
            onlink,
            weight: 1,
        }
    }

    fn route(prefix: &str, kind: RouteKind) -> FibRoute {
        FibRoute {
            prefix: net(prefix),
            kind,
            metric: 0,
            table: 254,
        }
    }

    /// Drives the start-up dumps (links, addresses: empty; routes: `routes`).
    fn start(fib: &mut Fib, now: Instant, routes: &[(u8, u32, &str, u32, WireTarget<'_>)]) {
        let mut b = Vec::new();
        for _ in 0..2 {
            assert!(fib.poll_transmit(&mut b));
            let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
            fib.handle_reply(now, &dump(seq, &[])).unwrap();
        }
        assert!(fib.poll_transmit(&mut b));
        assert_eq!(
            u16::from_ne_bytes(b[4..6].try_into().unwrap()),
            RTM_GETROUTE
        );
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        fib.handle_reply(now, &dump(seq, routes)).unwrap();
        assert!(fib.is_synced());
    }

    fn events(fib: &mut Fib) -> Vec<FibEvent> {
        std::iter::from_fn(|| fib.poll_event()).collect()
    }

    const GW1: [WireNextHop; 1] = [WireNextHop {
        gateway: IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 1)),
        ifindex: 3,
        onlink: true,
        weight: 1,
    }];
    const GW2: [WireNextHop; 1] = [WireNextHop {
        gateway: IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 2)),
        ifindex: 2,
        onlink: false,
        weight: 1,
    }];

    #[test]
    fn nothing_is_sent_before_the_startup_reconcile() {
        let mut fib = Fib::new(cfg(), false);
        fib.apply(FibChange::Upsert(route(
            "10.0.0.0/24",
            RouteKind::Blackhole,
        )));
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b)); // link dump
        assert_eq!(u16::from_ne_bytes(b[4..6].try_into().unwrap()), RTM_GETLINK);
        assert!(!fib.poll_transmit(&mut b)); // waits for the dump
    }

    #[test]
    fn startup_reconcile_decisions() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        // desired: A (already right in the kernel), B (kernel has another next hop),
        // C (missing), and nothing for D (a stale route of ours).
        fib.apply(FibChange::Upsert(route(
            "10.0.1.0/24",
            RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]),
        )));
        fib.apply(FibChange::Upsert(route(
            "10.0.2.0/24",
            RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]),
        )));
        fib.apply(FibChange::Upsert(route(
            "10.0.3.0/24",
            RouteKind::Blackhole,
        )));
        start(
            &mut fib,
            now,
            &[
                (12, 254, "10.0.1.0/24", 0, WireTarget::Unicast(&GW1)),
                (12, 254, "10.0.2.0/24", 0, WireTarget::Unicast(&GW2)), // moved to direct
                (12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole),     // stale, ours
                (4, 254, "10.0.5.0/24", 0, WireTarget::Unicast(&GW2)),  // foreign: static
                (12, 100, "10.0.6.0/24", 0, WireTarget::Blackhole),     // ours, unmanaged table
            ],
        );
        let ev = events(&mut fib);
        assert!(
            ev.contains(&FibEvent::Reconciled {
                added: 1,
                replaced: 1,
                deleted: 1
            }),
            "{ev:?}"
        );
        let learned: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                FibEvent::LearnedAdd(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(learned.len(), 1);
        assert_eq!(learned[0].key.prefix, net("10.0.5.0/24"));
        assert_eq!((learned[0].protocol, learned[0].ifindex), (4, 2));

        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        let summary: Vec<(u16, u16, IpNet)> = sent
            .iter()
            .map(|(t, f, _, r)| (*t, *f & 0x700, r.prefix))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    RTM_NEWROUTE,
                    NLM_F_CREATE | NLM_F_REPLACE,
                    net("10.0.2.0/24")
                ), // in place
                (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, net("10.0.3.0/24")),
                (RTM_DELROUTE, 0, net("10.0.4.0/24")),
            ]
        );
        // every message carries our protocol; the delete never names another protocol
        assert!(sent
            .iter()
            .all(|(_, _, _, r)| r.protocol == 12 && r.table == 254));
        // only the last one asks for an ACK
        assert_eq!(
            sent.iter()
                .filter(|(_, f, _, _)| f & NLM_F_ACK != 0)
                .count(),
            1
        );
        assert!(sent[2].1 & NLM_F_ACK != 0);
        assert_eq!(sent[2].3.protocol, 12);
        assert!(!fib.poll_transmit(&mut b));
    }

    #[test]
    fn stale_routes_are_adopted_until_released() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), true);
        start(
            &mut fib,
            now,
            &[(12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole)],
        );
        let mut b = Vec::new();
        assert!(!fib.poll_transmit(&mut b));
        fib.release_stale(now);
        fib.handle_timeout(now);
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        fib.handle_reply(
            now,
            &dump(seq, &[(12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole)]),
        )
        .unwrap();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].0, sent[0].3.prefix),
            (RTM_DELROUTE, net("10.0.4.0/24"))
        );
    }

    #[test]
    fn changes_are_coalesced() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        let r = |gw: &str| route("10.0.1.0/24", RouteKind::Unicast(vec![via(gw, 3, false)]));
        fib.apply(FibChange::Upsert(r("192.168.0.1")));
        fib.apply(FibChange::Upsert(r("192.168.0.2")));
        fib.apply(FibChange::Upsert(r("192.168.0.3")));
        fib.apply(FibChange::Upsert(route(
            "10.0.2.0/24",
            RouteKind::Blackhole,
        )));
        fib.apply(FibChange::Remove(RouteKey::new(254, net("10.0.2.0/24"), 0)));
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(
            sent[0].3.nexthops[0].gateway,
            Some("192.168.0.3".parse().unwrap())
        );
        assert_eq!(sent[1].0, RTM_DELROUTE);
    }

    #[test]
    fn acks_are_matched_by_sequence_number() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        for p in ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"] {
            fib.apply(FibChange::Upsert(route(
                p,
                RouteKind::Unicast(vec![via("192.168.9.1", 3, false)]),
            )));
        }
        let _ = events(&mut fib);
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        // the kernel refuses the second (ENETUNREACH), then ACKs the last
        fib.handle_reply(now, &ack(sent[1].2, libc::ENETUNREACH))
            .unwrap();
        fib.handle_reply(now, &ack(sent[2].2, 0)).unwrap();
        let ev = events(&mut fib);
        assert_eq!(
            ev,
            vec![FibEvent::Outcome {
                key: RouteKey::new(254, net("10.0.2.0/24"), 0),
                op: RouteOp::Add,
                errno: libc::ENETUNREACH
            }]
        );
        assert!(fib.is_idle());
        // the successful ones are now known installed: a change replaces in place
        fib.apply(FibChange::Upsert(route(
            "10.0.1.0/24",
            RouteKind::Blackhole,
        )));
        fib.apply(FibChange::Upsert(route(
            "10.0.2.0/24",
            RouteKind::Blackhole,
        )));
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
        assert_eq!(sent[1].1 & NLM_F_EXCL, NLM_F_EXCL);
        // a success after a failure is reported
        fib.handle_reply(now, &ack(sent[1].2, 0)).unwrap();
        let ev = events(&mut fib);
        assert_eq!(
            ev,
            vec![FibEvent::Outcome {
                key: RouteKey::new(254, net("10.0.2.0/24"), 0),
                op: RouteOp::Add,
                errno: 0
            }]
        );
    }

    #[test]
    fn acks_match_across_sequence_wrap() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        let _ = events(&mut fib);
        fib.seq = u32::MAX - 1;
        for p in ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24", "10.0.4.0/24"] {
            fib.apply(FibChange::Upsert(route(p, RouteKind::Blackhole)));
        }
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        let seqs: Vec<u32> = sent.iter().map(|m| m.2).collect();
        assert_eq!(seqs, vec![u32::MAX - 1, u32::MAX, 0, 1]);
        fib.handle_reply(now, &ack(0, libc::EEXIST)).unwrap();
        fib.handle_reply(now, &ack(1, 0)).unwrap();
        assert_eq!(
            events(&mut fib),
            vec![FibEvent::Outcome {
                key: RouteKey::new(254, net("10.0.3.0/24"), 0),
                op: RouteOp::Add,
                errno: libc::EEXIST
            }]
        );
        assert!(fib.is_idle());
    }

    #[test]
    fn deleting_an_absent_route_is_fine() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        fib.apply(FibChange::Remove(RouteKey::new(254, net("10.9.0.0/16"), 0)));
        let _ = events(&mut fib);
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let seq = decode(&b)[0].2;
        fib.handle_reply(now, &ack(seq, libc::ESRCH)).unwrap();
        assert_eq!(events(&mut fib), vec![]);
        assert!(fib.is_idle());
    }

    #[test]
    fn lost_ack_triggers_resync() {
        let now = Instant::now();
        let mut fib = Fib::new(
            FibConfig {
                max_batch_bytes: 1024,
                ..cfg()
            },
            false,
        );
        start(&mut fib, now, &[]);
        let _ = events(&mut fib);
        for i in 0..40u8 {
            fib.apply(FibChange::Upsert(route(
                &format!("10.{i}.0.0/16"),
                RouteKind::Blackhole,
            )));
        }
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        let first = decode(&b);
        assert!(fib.poll_transmit(&mut b));
        let second = decode(&b);
        // the first batch's ACK never arrives; the second's does
        fib.handle_reply(now, &ack(second.last().unwrap().2, 0))
            .unwrap();
        assert!(first.len() > 1);
        assert!(events(&mut fib).contains(&FibEvent::Overrun));
        // next comes a route dump (full resync), once the queue is flushed
        while fib.poll_transmit(&mut b) {
            let t = u16::from_ne_bytes(b[4..6].try_into().unwrap());
            if t == RTM_GETROUTE {
                return;
            }
            let last = decode(&b).last().unwrap().2;
            fib.handle_reply(now, &ack(last, 0)).unwrap();
        }
        panic!("no resync dump");
    }

    /// A synced FIB wanting the blackhole 10.0.1.0/24, which the start-up dump showed right.
    fn synced_with_blackhole() -> (Fib, Instant) {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        fib.apply(FibChange::Upsert(route(
            "10.0.1.0/24",
            RouteKind::Blackhole,
        )));
        start(
            &mut fib,
            now,
            &[(12, 254, "10.0.1.0/24", 0, WireTarget::Blackhole)],
        );
        (fib, now)
    }

    #[test]
    fn enobufs_triggers_resync_and_repairs() {
        let (mut fib, now) = synced_with_blackhole();
        let mut b = Vec::new();
        assert!(!fib.poll_transmit(&mut b));
        fib.handle_reply_overrun(now);
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        // the route went missing meanwhile: it is re-added, with EXCL (it is not there)
        fib.handle_reply(now, &dump(seq, &[])).unwrap();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1 & NLM_F_EXCL, NLM_F_EXCL);
    }

    #[test]
    fn periodic_scan_repairs_and_respects_interval() {
        let (mut fib, now) = synced_with_blackhole();
        assert_eq!(fib.poll_timeout(), Some(now + Duration::from_secs(2)));
        let mut b = Vec::new();
        fib.handle_timeout(now + Duration::from_secs(1));
        assert!(!fib.poll_transmit(&mut b));
        let later = now + Duration::from_secs(2);
        fib.handle_timeout(later);
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        // a third party changed our blackhole into unreachable
        fib.handle_reply(
            later,
            &dump(seq, &[(12, 254, "10.0.1.0/24", 0, WireTarget::Unreachable)]),
        )
        .unwrap();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent[0].3.rtype, RTN_BLACKHOLE);
        assert_eq!(sent[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
    }

    #[test]
    fn a_slow_scan_pushes_the_next_one_out() {
        let (mut fib, now) = synced_with_blackhole();
        // The start-up scan took no time: the configured interval.
        assert_eq!(fib.poll_timeout(), Some(now + Duration::from_secs(2)));
        let mut b = Vec::new();
        assert!(!fib.poll_transmit(&mut b)); // nothing to send: the route was right
        let t = now + Duration::from_secs(2);
        fib.handle_timeout(t);
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        // The routes arrive at t, NLMSG_DONE 1.5 s later (a large table): ten times that.
        let d = dump(seq, &[(12, 254, "10.0.1.0/24", 0, WireTarget::Blackhole)]);
        let (routes, done) = d.split_at(d.len() - 20);
        assert_eq!(
            u16::from_ne_bytes(done[4..6].try_into().unwrap()),
            NLMSG_DONE
        );
        fib.handle_reply(t, routes).unwrap();
        let end = t + Duration::from_millis(1500);
        fib.handle_reply(end, done).unwrap();
        assert_eq!(fib.poll_timeout(), Some(end + Duration::from_secs(15)));
        // Capped at a minute; never below the configured interval.
        assert_eq!(
            next_scan_delay(Duration::from_secs(2), Duration::from_secs(30)),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_scan_delay(Duration::from_secs(300), Duration::from_secs(30)),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn ipv6_metric_zero_is_the_kernels_1024() {
        let k = RouteKey::new(254, net("2001:db8::1/64"), 0);
        assert_eq!(k.metric, 1024);
        assert_eq!(k.prefix, net("2001:db8::/64"));
        assert_eq!(RouteKey::new(254, net("10.1.2.3/8"), 0).metric, 0);
    }

    fn link_msg(kind: u16, index: u32, name: &str, up: bool) -> Vec<u8> {
        let mut body = vec![0u8; 16];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        let flags: u32 = if up { 0x1 | 0x40 } else { 0 };
        body[8..12].copy_from_slice(&flags.to_ne_bytes());
        let n = name.len() + 1;
        body.extend_from_slice(&((4 + n) as u16).to_ne_bytes());
        body.extend_from_slice(&3u16.to_ne_bytes()); // IFLA_IFNAME
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let mut v = Vec::new();
        hdr(&mut v, kind, 0, 0, &body);
        v
    }

    #[test]
    fn device_names_resolve_through_the_link_table() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        let _ = events(&mut fib);
        let r = route(
            "10.0.1.0/24",
            RouteKind::Unicast(vec![NextHop::onlink(
                "192.168.0.1".parse().unwrap(),
                Device::Name("tunl0".into()),
            )]),
        );
        fib.apply(FibChange::Upsert(r));
        let mut b = Vec::new();
        assert!(!fib.poll_transmit(&mut b));
        assert_eq!(
            events(&mut fib),
            vec![FibEvent::Outcome {
                key: RouteKey::new(254, net("10.0.1.0/24"), 0),
                op: RouteOp::Add,
                errno: libc::ENODEV
            }]
        );
        fib.handle_notification(now, &link_msg(RTM_NEWLINK, 7, "tunl0", true))
            .unwrap();
        assert!(events(&mut fib).contains(&FibEvent::Link {
            index: 7,
            name: "tunl0".into(),
            up: true
        }));
        // the new link triggers a scan, which finds the route missing and installs it
        fib.handle_timeout(now);
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        fib.handle_reply(now, &dump(seq, &[])).unwrap();
        assert!(fib.poll_transmit(&mut b));
        let sent = decode(&b);
        assert_eq!(sent[0].3.nexthops[0].ifindex, 7);
        assert!(sent[0].3.nexthops[0].onlink);
        // a rename or a delete unresolves the name; a new tunl0 resolves it again
        fib.handle_notification(now, &link_msg(RTM_NEWLINK, 7, "tunlX", true))
            .unwrap();
        assert_eq!(fib.name_ifindex, vec![0]);
        fib.handle_notification(now, &link_msg(RTM_NEWLINK, 9, "tunl0", true))
            .unwrap();
        assert_eq!(fib.name_ifindex, vec![9]);
        fib.handle_notification(now, &link_msg(RTM_DELLINK, 9, "tunl0", true))
            .unwrap();
        assert_eq!(fib.name_ifindex, vec![0]);
    }

    #[test]
    fn interface_churn_is_forgotten() {
        let now = Instant::now();
        let mut fib = Fib::new(cfg(), false);
        start(&mut fib, now, &[]);
        for i in 0..10_000u32 {
            let name = format!("cali{i:011}");
            fib.handle_notification(now, &link_msg(RTM_NEWLINK, 100 + i, &name, true))
                .unwrap();
            fib.handle_notification(now, &link_msg(RTM_DELLINK, 100 + i, &name, false))
                .unwrap();
            let _ = events(&mut fib);
        }
        assert_eq!(fib.link_count(), 0);
        assert!(fib.link_by_name.is_empty());
        assert!(fib.names.is_empty());
    }
}

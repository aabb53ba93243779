//! RIB benchmarks (issue 4): insert and withdraw 1M IPv4 prefixes from one peer (1,000
//! attribute sets), the same with 10 peers announcing overlapping tables, and export as route
//! reflector to 100 iBGP clients. Throughput is reported by criterion in elements (routes)/s.
//! Before criterion runs, a heap report measured with a counting global allocator is printed:
//! bytes of heap per route for the 1-peer table (also at 700k and 900k routes, and 250k IPv6
//! /48s; then the time of that peer going down) and per path for 10 peers x 100k (steady state
//! after the FIB queue is drained, with the queue, and at the peak while building), for the
//! 10-peer 1M table and for the reflector's Adj-RIBs-Out. The FIB queue is drained with tagged
//! polls, as the daemon's FIB driver does (every installed prefix carries a FIB tag). Then the
//! update-group report (issue 16; alone with `-- --groups-only`): the Adj-RIB-Out heap at
//! 1,000 reflector clients and the cost of a change per (route, group) and per (route,
//! member), each client a group of its own (the per-peer export) and all clients in one group.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bgp_core::rib::{PeerConfig, Rib, RibConfig, SourceId};
use bgp_core::wire::{AsPath, Family, Negotiated, NextHop, Nlri, Origin, PathAttributes};
use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = CURRENT.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PREFIXES: usize = 1_000_000;
const SETS: usize = 1_000;
/// Prefixes per UPDATE: about what fits in a 4 KiB message of /24s.
const PER_UPDATE: usize = 500;
const AS: u32 = 65000;

/// One UPDATE's worth: attributes and prefixes.
struct Batch {
    attrs: PathAttributes,
    nlri: Vec<Nlri>,
}

fn prefix(i: usize) -> Nlri {
    let a = Ipv4Addr::from((1u32 << 24) + (i as u32) * 256);
    Nlri::new(IpNet::V4(Ipv4Net::new(a, 24).unwrap()))
}

/// IPv6 prefixes of the IPv6 heap line.
const V6_PREFIXES: usize = 250_000;

/// The IPv6 /48 standing for IPv4 /24 `n` (2001:XXXX:XX00::/48 from its network number).
fn v6_of(n: &Nlri) -> Nlri {
    let IpNet::V4(v4) = n.prefix else {
        return *n;
    };
    let a = (0x2001u128 << 112) | (u128::from(u32::from(v4.network()) >> 8) << 80);
    Nlri::new(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), 48).unwrap()))
}

/// `n` prefixes in UPDATE-sized batches over `SETS` attribute sets; `variant` makes the sets
/// of different peers differ.
fn table(n: usize, variant: u32) -> Vec<Batch> {
    table_of(&(0..n).collect::<Vec<_>>(), variant)
}

/// The same prefixes in a random order (xorshift shuffle, fixed seed): no locality at all.
fn shuffled_table(n: usize) -> Vec<Batch> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..idx.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        idx.swap(i, (x % (i as u64 + 1)) as usize);
    }
    table_of(&idx, 0)
}

fn table_of(order: &[usize], variant: u32) -> Vec<Batch> {
    table_with(order, variant, 0)
}

/// Like [`table_of`], with `extra` more ASes in every path (prepending).
fn table_with(order: &[usize], variant: u32, extra: usize) -> Vec<Batch> {
    order
        .chunks(PER_UPDATE)
        .enumerate()
        .map(|(b, chunk)| {
            let set = (b % SETS) as u32;
            Batch {
                attrs: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::from_sequence(
                        &[
                            vec![65100 + variant; 1 + extra],
                            vec![4_200_000_000 + set, set % 50],
                        ]
                        .concat(),
                    )),
                    med: Some(set),
                    local_pref: Some(100),
                    ..PathAttributes::default()
                },
                nlri: chunk.iter().map(|&i| prefix(i)).collect(),
            }
        })
        .collect()
}

fn neg(peer_as: u32, peer_id: Ipv4Addr) -> Negotiated {
    Negotiated {
        local_as: AS,
        peer_as,
        local_id: Ipv4Addr::new(10, 0, 0, 1),
        peer_id,
        families: vec![Family::IPV4_UNICAST],
        ..Negotiated::default()
    }
}

fn peer_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 2)
}

/// A RIB with `n` iBGP peers up.
fn rib_with_peers(n: usize) -> (Rib, Vec<SourceId>) {
    let mut rib = Rib::new(RibConfig::new(AS, Ipv4Addr::new(10, 0, 0, 1)));
    let ids = (0..n)
        .map(|i| {
            let a = peer_addr(i);
            let id = rib
                .add_peer(PeerConfig::new(format!("p{i}"), IpAddr::V4(a)))
                .unwrap();
            rib.peer_up(id, neg(AS, a));
            id
        })
        .collect();
    (rib, ids)
}

fn insert(rib: &mut Rib, peer: SourceId, batches: &[Batch], nh: Ipv4Addr) {
    for b in batches {
        rib.announce(
            peer,
            Family::IPV4_UNICAST,
            &b.attrs,
            Some(NextHop::V4(nh)),
            &b.nlri,
        );
    }
}

fn withdraw(rib: &mut Rib, peer: SourceId, batches: &[Batch]) {
    for b in batches {
        for n in &b.nlri {
            rib.withdraw(peer, Family::IPV4_UNICAST, n);
        }
    }
}

/// Drains the FIB queue as the daemon's FIB driver does: tagged polls, a prefix handed a
/// route tagged (1 here, for the driver's interned kernel intent), one handed none cleared.
fn drain_fib(rib: &mut Rib) -> usize {
    std::iter::from_fn(|| rib.poll_fib_change_tagged(|c, _| u32::from(c.route.is_some()))).count()
}

/// The reflector scenario: `n` prefixes from one non-client, `clients` RR clients added (not
/// yet up).
fn rr_setup(n: usize, clients: usize) -> (Rib, Vec<SourceId>) {
    let mut rib = Rib::new(RibConfig::new(AS, Ipv4Addr::new(10, 0, 0, 1)));
    let src_addr = Ipv4Addr::new(10, 1, 0, 2);
    let src = rib
        .add_peer(PeerConfig::new("nc", IpAddr::V4(src_addr)))
        .unwrap();
    rib.peer_up(src, neg(AS, src_addr));
    insert(&mut rib, src, &table(n, 0), src_addr);
    drain_fib(&mut rib);
    let ids = (0..clients)
        .map(|i| {
            let mut c = PeerConfig::new(format!("c{i}"), IpAddr::V4(peer_addr(i)));
            c.rr_client = true;
            rib.add_peer(c).unwrap()
        })
        .collect();
    (rib, ids)
}

/// Brings every client up and pulls all its UPDATEs; returns (messages, bytes).
fn rr_export(rib: &mut Rib, clients: &[SourceId]) -> (usize, usize) {
    let (mut msgs, mut bytes) = (0, 0);
    let mut buf = BytesMut::with_capacity(8192);
    for (i, &c) in clients.iter().enumerate() {
        rib.peer_up(c, neg(AS, peer_addr(i)));
        while rib.poll_update(c, &mut buf).unwrap() {
            msgs += 1;
            bytes += buf.len();
            buf.clear();
        }
    }
    (msgs, bytes)
}

const RR_PREFIXES: usize = 20_000;
const RR_CLIENTS: usize = 100;

/// CPU time of this thread in nanoseconds (from /proc/thread-self/schedstat), so the one-shot
/// rates below are not skewed by other processes on a shared machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Runs `f`, returning (wall seconds, CPU seconds).
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_ns());
    f();
    (t.elapsed().as_secs_f64(), (cpu_ns() - c) as f64 / 1e9)
}

fn rate(n: usize, (wall, cpu): (f64, f64)) -> String {
    format!(
        "{:.2} M/s wall, {:.2} M/s per CPU-second",
        n as f64 / wall / 1e6,
        n as f64 / cpu / 1e6
    )
}

/// Bytes in megabytes.
fn mb(b: usize) -> f64 {
    b as f64 / 1e6
}

fn heap_report() {
    // 1 peer.
    let batches = table(PREFIXES, 0);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (mut rib, ids) = rib_with_peers(1);
    let ins = timed(|| insert(&mut rib, ids[0], &batches, Ipv4Addr::new(10, 0, 0, 2)));
    let with_queue = CURRENT.load(Ordering::Relaxed) - base;
    let mut n = 0;
    let fib = timed(|| n = drain_fib(&mut rib));
    let steady = CURRENT.load(Ordering::Relaxed) - base;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "heap 1 peer, {PREFIXES} routes, {} attr sets: steady {:.1} B/route ({:.1} MB), with FIB queue {:.1} B/route, peak {:.1} B/route",
        rib.attr_sets(),
        steady as f64 / PREFIXES as f64,
        mb(steady),
        with_queue as f64 / PREFIXES as f64,
        peak as f64 / PREFIXES as f64,
    );
    println!("one-shot 1 peer insert: {}", rate(PREFIXES, ins));
    println!("one-shot FIB drain of {n} changes: {}", rate(n, fib));
    let wd = timed(|| withdraw(&mut rib, ids[0], &batches));
    let fib = timed(|| n = drain_fib(&mut rib));
    println!("one-shot 1 peer withdraw: {}", rate(PREFIXES, wd));
    println!("one-shot FIB drain of {n} removals: {}", rate(n, fib));
    println!(
        "heap left after withdrawing all: {} B; prefixes still tagged for the FIB: {}",
        CURRENT.load(Ordering::Relaxed) as isize - base as isize,
        rib.fib_tagged_len()
    );
    drop(rib);
    drop(batches);
    // The same below the full size: a hash table's bytes per entry depend on where the size
    // falls between its doubling points, so one size alone can flatter or wrong it.
    for n in [700_000, 900_000] {
        let batches = table(n, 0);
        let base = CURRENT.load(Ordering::Relaxed);
        let (mut rib, ids) = rib_with_peers(1);
        insert(&mut rib, ids[0], &batches, Ipv4Addr::new(10, 0, 0, 2));
        drain_fib(&mut rib);
        let steady = CURRENT.load(Ordering::Relaxed) - base;
        println!(
            "heap 1 peer, {n} routes: steady {:.1} B/route ({:.1} MB)",
            steady as f64 / n as f64,
            mb(steady),
        );
    }
    // IPv6: 250k /48s (about a full IPv6 table) from one peer.
    let v6: Vec<Batch> = table(V6_PREFIXES, 0)
        .into_iter()
        .map(|b| Batch {
            nlri: b.nlri.iter().map(v6_of).collect(),
            ..b
        })
        .collect();
    let base = CURRENT.load(Ordering::Relaxed);
    let (mut rib, ids) = rib_with_peers(1);
    let mut n6 = neg(AS, peer_addr(0));
    n6.families.push(Family::IPV6_UNICAST);
    rib.peer_up(ids[0], n6);
    let hop = NextHop::V6 {
        global: "2001:db8::2".parse().unwrap(),
        link_local: None,
    };
    for b in &v6 {
        rib.announce(
            ids[0],
            Family::IPV6_UNICAST,
            &b.attrs,
            Some(hop.clone()),
            &b.nlri,
        );
    }
    drain_fib(&mut rib);
    let steady = CURRENT.load(Ordering::Relaxed) - base;
    println!(
        "heap 1 peer, {V6_PREFIXES} IPv6 /48s: steady {:.1} B/route ({:.1} MB)",
        steady as f64 / V6_PREFIXES as f64,
        mb(steady),
    );
    drop(rib);
    drop(v6);
    let shuffled = shuffled_table(PREFIXES);
    let (mut rib, ids) = rib_with_peers(1);
    let ins = timed(|| insert(&mut rib, ids[0], &shuffled, Ipv4Addr::new(10, 0, 0, 2)));
    let fib = timed(|| n = drain_fib(&mut rib));
    println!(
        "one-shot 1 peer insert, prefixes in random order: {}",
        rate(PREFIXES, ins)
    );
    println!("one-shot FIB drain after it: {}", rate(n, fib));
    // Peer down of a full-table peer: its sweep (a table scan, as it holds all the table).
    let down = timed(|| rib.peer_down(ids[0], false));
    let fib = timed(|| n = drain_fib(&mut rib));
    println!(
        "one-shot 1 peer down ({PREFIXES} routes): {}; FIB drain of {n} removals after it: {}",
        rate(PREFIXES, down),
        rate(n, fib)
    );
    drop(rib);
    drop(shuffled);
    // 10 peers x 100k: the same 100k prefixes from each (1M paths).
    let tables: Vec<Vec<Batch>> = (0..10).map(|p| table(PREFIXES / 10, p)).collect();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (mut rib, ids) = rib_with_peers(10);
    for (p, tb) in tables.iter().enumerate() {
        insert(&mut rib, ids[p], tb, peer_addr(p));
    }
    let with_queue = CURRENT.load(Ordering::Relaxed) - base;
    drain_fib(&mut rib);
    let steady = CURRENT.load(Ordering::Relaxed) - base;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "heap 10 peers x {} (overlapping), {} attr sets: steady {:.1} B/path ({:.1} MB, {:.1} B/prefix), with FIB queue {:.1} B/path, peak {:.1} B/path",
        PREFIXES / 10,
        rib.attr_sets(),
        steady as f64 / PREFIXES as f64,
        mb(steady),
        steady as f64 / (PREFIXES / 10) as f64,
        with_queue as f64 / PREFIXES as f64,
        peak as f64 / PREFIXES as f64,
    );
    drop(rib);
    drop(tables);
    // 10 peers.
    let tables: Vec<Vec<Batch>> = (0..10).map(|p| table(PREFIXES, p)).collect();
    let base = CURRENT.load(Ordering::Relaxed);
    let (mut rib, ids) = rib_with_peers(10);
    let ins = timed(|| {
        for (p, tb) in tables.iter().enumerate() {
            insert(&mut rib, ids[p], tb, peer_addr(p));
        }
    });
    drain_fib(&mut rib);
    let steady = CURRENT.load(Ordering::Relaxed) - base;
    println!(
        "heap 10 peers x {PREFIXES} (overlapping), {} attr sets: {:.1} B/path ({:.1} MB)",
        rib.attr_sets(),
        steady as f64 / (10 * PREFIXES) as f64,
        mb(steady),
    );
    println!("one-shot 10 peers insert: {}", rate(10 * PREFIXES, ins));
    let wd = timed(|| {
        for (p, tb) in tables.iter().enumerate() {
            withdraw(&mut rib, ids[p], tb);
        }
    });
    println!("one-shot 10 peers withdraw: {}", rate(10 * PREFIXES, wd));
    drop(rib);
    drop(tables);
    // 10 peers whose paths differ in length (peer p prepends p % 3 times): most paths lose at
    // the AS_PATH step, the common case with several upstreams.
    let order: Vec<usize> = (0..PREFIXES).collect();
    let tables: Vec<Vec<Batch>> = (0..10)
        .map(|p| table_with(&order, p, p as usize % 3))
        .collect();
    let (mut rib, ids) = rib_with_peers(10);
    let ins = timed(|| {
        for (p, tb) in tables.iter().enumerate() {
            insert(&mut rib, ids[p], tb, peer_addr(p));
        }
    });
    println!(
        "one-shot 10 peers insert, path lengths differing by peer: {}",
        rate(10 * PREFIXES, ins)
    );
    drop(rib);
    drop(tables);
    // Route reflector.
    let (mut rib, clients) = rr_setup(RR_PREFIXES, RR_CLIENTS);
    let base = CURRENT.load(Ordering::Relaxed);
    let mut out = (0, 0);
    let el = timed(|| out = rr_export(&mut rib, &clients));
    let (msgs, bytes) = out;
    let adj = CURRENT.load(Ordering::Relaxed) - base;
    println!(
        "RR export {RR_PREFIXES} prefixes to {RR_CLIENTS} clients: {msgs} UPDATEs, {:.1} MB encoded, {}, Adj-RIB-Out heap {:.1} B per (client, prefix)",
        mb(bytes),
        rate(RR_PREFIXES * RR_CLIENTS, el),
        adj as f64 / (RR_PREFIXES * RR_CLIENTS) as f64
    );
}

const GROUP_CLIENTS: usize = 1_000;
const GROUP_PREFIXES: usize = 2_000;
const GROUP_CHANGE: usize = 1_000;

/// A reflector with `GROUP_PREFIXES` prefixes from one non-client and `clients` RR clients, all
/// up before any of them reads (so a group's members share its stream from the start). With
/// `per_peer`, each client names its own export filter (accept all; else all name one): every
/// client is an update group of its own, i.e. the per-peer Adj-RIB-Out and evaluation of before
/// groups.
fn rr_members(clients: usize, per_peer: bool) -> (Rib, SourceId, Vec<SourceId>) {
    let mut rib = Rib::new(RibConfig::new(AS, Ipv4Addr::new(10, 0, 0, 1)));
    let src_addr = Ipv4Addr::new(10, 1, 0, 2);
    let src = rib
        .add_peer(PeerConfig::new("nc", IpAddr::V4(src_addr)))
        .unwrap();
    rib.peer_up(src, neg(AS, src_addr));
    insert(&mut rib, src, &table(GROUP_PREFIXES, 0), src_addr);
    drain_fib(&mut rib);
    let ids = (0..clients)
        .map(|i| {
            let mut c = PeerConfig::new(format!("c{i}"), IpAddr::V4(peer_addr(i)));
            c.rr_client = true;
            // The same filter (accept all) either way, so both evaluate alike.
            let name = if per_peer {
                format!("all{i}")
            } else {
                "all".to_string()
            };
            rib.set_policy(name.clone(), bgp_core::filter::Filter::accept_all());
            c.export = Some(name);
            rib.add_peer(c).unwrap()
        })
        .collect();
    (rib, src, ids)
}

/// Pulls everything `c` has pending; returns (messages, bytes).
fn pull(rib: &mut Rib, c: SourceId, buf: &mut BytesMut) -> (usize, usize) {
    let (mut msgs, mut bytes) = (0, 0);
    while rib.poll_update(c, buf).unwrap() {
        msgs += 1;
        bytes += buf.len();
        buf.clear();
    }
    (msgs, bytes)
}

/// Update groups (issue 16): Adj-RIB-Out heap at `GROUP_CLIENTS` reflector clients, and the
/// cost of one change of `GROUP_CHANGE` prefixes per (route, group) and per (route, member),
/// each client a group of its own (per peer, as before groups) and all in one group.
fn groups_report() {
    for per_peer in [true, false] {
        let label = if per_peer { "per-peer" } else { "grouped" };
        let (mut rib, src, clients) = rr_members(GROUP_CLIENTS, per_peer);
        let mut buf = BytesMut::with_capacity(8192);
        let base = CURRENT.load(Ordering::Relaxed);
        let (mut msgs, mut bytes) = (0, 0);
        let init = timed(|| {
            for (i, &c) in clients.iter().enumerate() {
                rib.peer_up(c, neg(AS, peer_addr(i)));
            }
            for &c in &clients {
                let (m, b) = pull(&mut rib, c, &mut buf);
                msgs += m;
                bytes += b;
            }
        });
        let adj = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
        println!(
            "RR {label}: {GROUP_CLIENTS} clients x {GROUP_PREFIXES} prefixes, {} update groups (the source's included): Adj-RIB-Out and group state {:.2} MB ({:.2} B per (client, prefix)); initial export {msgs} UPDATEs, {:.1} MB, {}",
            rib.update_groups(Family::IPV4_UNICAST).len(),
            mb(adj),
            adj as f64 / (GROUP_CLIENTS * GROUP_PREFIXES) as f64,
            mb(bytes),
            rate(GROUP_CLIENTS * GROUP_PREFIXES, init)
        );
        // Changes: the source announces GROUP_CHANGE prefixes again with other attributes,
        // CHANGES times (alternating sets). The first member's pull evaluates and encodes for
        // its group; the others' copy (grouped) or evaluate and encode for themselves.
        const CHANGES: usize = 20;
        let (mut first, mut rest) = ((0.0, 0.0), (0.0, 0.0));
        let (mut msgs, mut bytes) = (0, 0);
        for k in 0..CHANGES {
            let change = table_of(&(0..GROUP_CHANGE).collect::<Vec<_>>(), 1 + (k % 2) as u32);
            insert(&mut rib, src, &change, Ipv4Addr::new(10, 1, 0, 2));
            drain_fib(&mut rib);
            let f = timed(|| {
                let (m, b) = pull(&mut rib, clients[0], &mut buf);
                msgs += m;
                bytes += b;
            });
            let r = timed(|| {
                for &c in &clients[1..] {
                    pull(&mut rib, c, &mut buf);
                }
            });
            first = (first.0 + f.0, first.1 + f.1);
            rest = (rest.0 + r.0, rest.1 + r.1);
        }
        let per = |(wall, cpu): (f64, f64), n: usize| {
            format!(
                "{:.2} ns wall, {:.2} ns CPU",
                wall * 1e9 / n as f64,
                cpu * 1e9 / n as f64
            )
        };
        let routes = GROUP_CHANGE * CHANGES;
        println!(
            "RR {label}: {CHANGES} changes of {GROUP_CHANGE} prefixes ({} UPDATEs, {:.1} kB per client and change): first member (evaluates and encodes for its group) {} per route; each other member {} per (route, member); all {} per (route, member)",
            msgs / CHANGES,
            bytes as f64 / 1e3 / CHANGES as f64,
            per(first, routes),
            per(rest, routes * (GROUP_CLIENTS - 1)),
            per((first.0 + rest.0, first.1 + rest.1), routes * GROUP_CLIENTS),
        );
    }
}

fn benches(c: &mut Criterion) {
    let batches = table(PREFIXES, 0);
    let mut g = c.benchmark_group("rib_1peer");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(PREFIXES as u64));
    g.bench_function("insert_1M", |b| {
        b.iter_batched(
            || rib_with_peers(1),
            |(mut rib, ids)| {
                insert(&mut rib, ids[0], &batches, Ipv4Addr::new(10, 0, 0, 2));
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("insert_1M_and_drain_fib", |b| {
        b.iter_batched(
            || rib_with_peers(1),
            |(mut rib, ids)| {
                insert(&mut rib, ids[0], &batches, Ipv4Addr::new(10, 0, 0, 2));
                black_box(drain_fib(&mut rib));
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("withdraw_1M", |b| {
        b.iter_batched(
            || {
                let (mut rib, ids) = rib_with_peers(1);
                insert(&mut rib, ids[0], &batches, Ipv4Addr::new(10, 0, 0, 2));
                drain_fib(&mut rib);
                (rib, ids)
            },
            |(mut rib, ids)| {
                withdraw(&mut rib, ids[0], &batches);
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    drop(batches);

    let tables: Vec<Vec<Batch>> = (0..10).map(|p| table(PREFIXES, p)).collect();
    let mut g = c.benchmark_group("rib_10peers");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.throughput(Throughput::Elements((10 * PREFIXES) as u64));
    g.bench_function("insert_10x1M", |b| {
        b.iter_batched(
            || rib_with_peers(10),
            |(mut rib, ids)| {
                for (p, tb) in tables.iter().enumerate() {
                    insert(&mut rib, ids[p], tb, peer_addr(p));
                }
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("withdraw_10x1M", |b| {
        b.iter_batched(
            || {
                let (mut rib, ids) = rib_with_peers(10);
                for (p, tb) in tables.iter().enumerate() {
                    insert(&mut rib, ids[p], tb, peer_addr(p));
                }
                drain_fib(&mut rib);
                (rib, ids)
            },
            |(mut rib, ids)| {
                for (p, tb) in tables.iter().enumerate() {
                    withdraw(&mut rib, ids[p], tb);
                }
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    drop(tables);

    let mut g = c.benchmark_group("rib_rr");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements((RR_PREFIXES * RR_CLIENTS) as u64));
    g.bench_function("export_20k_to_100_clients", |b| {
        b.iter_batched(
            || rr_setup(RR_PREFIXES, RR_CLIENTS),
            |(mut rib, clients)| {
                black_box(rr_export(&mut rib, &clients));
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--groups-only") {
        groups_report();
        return;
    }
    let only_report = std::env::args().any(|a| a == "--heap-report-only");
    heap_report();
    groups_report();
    if only_report {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}

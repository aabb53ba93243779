//! Session benchmarks (see benches/README.md, "Session"): two sessions back to back in memory
//! establish and move 100k IPv4 prefixes (time, and allocations per route counted by a global
//! allocator), and one session receiving a pre-encoded 100k-prefix stream in 64 KiB reads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bgp_core::session::testing::{Batch, Pair, VecSource};
use bgp_core::session::{Command, Event, NoUpdates, Session, SessionConfig, StateKind};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const ROUTES: usize = 100_000;

/// Counts allocations (and reallocations) and their bytes.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size(), Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new, Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pair() -> Pair {
    let mut p = Pair::calico();
    p.keep_events = false;
    p.a.source = VecSource::ipv4(ROUTES, Ipv4Addr::new(10, 0, 0, 1));
    p
}

/// The same routes, one prefix per UPDATE (as when every route has its own attributes).
fn pair_one_per_update() -> Pair {
    let mut p = pair();
    let batch = p.a.source.batches.remove(0);
    p.a.source.batches = batch
        .nlri
        .iter()
        .map(|n| Batch {
            nlri: vec![*n],
            ..batch.clone()
        })
        .collect();
    p
}

fn establish_and_transfer(mut p: Pair) -> Pair {
    p.start();
    let done = p.run_until(Duration::from_secs(60), |p| p.b.announced == ROUTES);
    assert!(done && p.established());
    p
}

/// The A→B byte stream of a whole session: OPEN, KEEPALIVE, UPDATEs for `ROUTES` prefixes,
/// End-of-RIB; and B's configuration.
fn recorded_stream(p: Pair) -> (Vec<u8>, SessionConfig) {
    let mut p = p;
    p.record = true;
    let b_cfg = p.b.session.config().clone();
    let p = establish_and_transfer(p);
    let mut bytes = Vec::new();
    for (_, m) in &p.a.sent {
        bytes.extend_from_slice(m);
    }
    (bytes, b_cfg)
}

/// B alone, reading the stream in 64 KiB pieces and draining its events; returns prefixes.
fn receive(stream: &[u8], cfg: &SessionConfig) -> usize {
    let now = Instant::now();
    let mut s = Session::new(cfg.clone()).unwrap();
    s.handle_command(now, Command::Start);
    assert!(s.handle_connected(now));
    let mut out = BytesMut::with_capacity(4096);
    let mut routes = 0;
    for piece in stream.chunks(64 * 1024) {
        s.handle_bytes(now, piece);
        while let Some(e) = s.poll_event() {
            if let Event::Update(u) = &e {
                routes += u.announced().map(|a| a.nlri.len()).sum::<usize>();
            }
            black_box(e);
        }
        while s.poll_transmit(now, &mut out, &mut NoUpdates) {
            out.clear();
        }
    }
    assert_eq!(s.state(), StateKind::Established);
    routes
}

/// One measured run of each workload, printed once: allocations and bytes per route.
fn report_allocations(stream: &[u8], small: &[u8], cfg: &SessionConfig) {
    let p = pair();
    let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let p = establish_and_transfer(p);
    let (a1, b1) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    drop(p);
    let routes = receive(stream, cfg);
    let (a2, b2) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    assert_eq!(routes, ROUTES);
    assert_eq!(receive(small, cfg), ROUTES);
    let (a3, b3) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let per = |a: usize| a as f64 / ROUTES as f64;
    println!(
        "session/pair_establish_100k: {:.3} allocations/route, {:.1} bytes allocated/route \
         (both sides: encode + frame + decode)",
        per(a1 - a0),
        per(b1 - b0)
    );
    println!(
        "session/receive_100k: {:.3} allocations/route, {:.1} bytes allocated/route \
         ({} UPDATE bytes in 64 KiB reads)",
        per(a2 - a1),
        per(b2 - b1),
        stream.len()
    );
    println!(
        "session/receive_100k_1_per_update: {:.3} allocations/route, {:.1} bytes allocated/route \
         ({} UPDATE bytes)",
        per(a3 - a2),
        per(b3 - b2),
        small.len()
    );
}

fn benches(c: &mut Criterion) {
    let (stream, cfg) = recorded_stream(pair());
    let (small, _) = recorded_stream(pair_one_per_update());
    report_allocations(&stream, &small, &cfg);
    let mut g = c.benchmark_group("session");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(ROUTES as u64));
    g.bench_function("pair_establish_100k", |b| {
        b.iter_batched(pair, establish_and_transfer, BatchSize::PerIteration)
    });
    g.bench_function("receive_100k", |b| {
        b.iter(|| receive(black_box(&stream), &cfg))
    });
    g.bench_function("receive_100k_1_per_update", |b| {
        b.iter(|| receive(black_box(&small), &cfg))
    });
    g.finish();
}

criterion_group!(session, benches);
criterion_main!(session);

//! BFD engine benchmarks (benches/README.md, "BFD"), 200 sessions at 100 ms × 3, all Up:
//!
//! * `bfd/per_packet`: one side alone, the peer's packets pre-encoded; one iteration is one
//!   received packet (`handle_packet`) and the engine's share of transmissions
//!   (`handle_timeout` + `poll_transmit` until `None`, ≈ 1.1 packets) over 500 µs of virtual
//!   time, the rate of 200 sessions at 100 ms. Before criterion runs, 100,000 iterations are
//!   run under a counting global allocator: the bench fails if any of them allocates.
//! * `bfd/200_sessions_100ms_one_virtual_second`: both sides of 200 sessions in memory; one
//!   iteration is one second of virtual time (≈ 4,600 packets sent and received in total).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bgp_core::bfd::{Bfd, Key, Packet, Received, SessionParams, State, PACKET_LEN};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, counting allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: u8 = 200;

fn addr(i: u8, side: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, side, 0, i))
}

struct Pair {
    a: Bfd,
    b: Bfd,
    now: Instant,
    buf: [u8; PACKET_LEN],
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let mut a = Bfd::new(1);
        let mut b = Bfd::new(2);
        let p = SessionParams {
            min_tx: Duration::from_millis(100),
            min_rx: Duration::from_millis(100),
            idle_tx: Duration::from_secs(1),
            detect_mult: 3,
        };
        for i in 1..=N {
            let ka = Key {
                remote: addr(i, 2),
                local: Some(addr(i, 1)),
                multihop: false,
            };
            let kb = Key {
                remote: addr(i, 1),
                local: Some(addr(i, 2)),
                multihop: false,
            };
            a.add(now, ka, p);
            b.add(now, kb, p);
        }
        let mut pair = Pair {
            a,
            b,
            now,
            buf: [0; PACKET_LEN],
        };
        pair.run(Duration::from_secs(3));
        pair
    }

    /// Runs `d` of virtual time; returns packets exchanged.
    fn run(&mut self, d: Duration) -> u64 {
        let end = self.now + d;
        let mut n = 0;
        loop {
            for _ in 0..2 {
                while let Some(t) = self.a.poll_transmit(self.now, &mut self.buf) {
                    let rx = Received {
                        src: t.key.local.unwrap_or(addr(0, 1)),
                        dst: None,
                        multihop: false,
                        ttl: Some(255),
                    };
                    let _ =
                        self.b
                            .handle_packet(self.now, rx, self.buf.get(..t.len).unwrap_or(&[]));
                    n += 1;
                }
                while let Some(t) = self.b.poll_transmit(self.now, &mut self.buf) {
                    let rx = Received {
                        src: t.key.local.unwrap_or(addr(0, 2)),
                        dst: None,
                        multihop: false,
                        ttl: Some(255),
                    };
                    let _ =
                        self.a
                            .handle_packet(self.now, rx, self.buf.get(..t.len).unwrap_or(&[]));
                    n += 1;
                }
            }
            while self.a.poll_event().is_some() {}
            while self.b.poll_event().is_some() {}
            let next = [self.a.poll_timeout(self.now), self.b.poll_timeout(self.now)]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    return n;
                }
            }
        }
    }
}

/// One side of 200 Up sessions, fed the peer's packets (pre-encoded, one per session).
struct Side {
    bfd: Bfd,
    now: Instant,
    /// (source, packet) per session.
    peer: Vec<(IpAddr, [u8; PACKET_LEN])>,
    next: usize,
    buf: [u8; PACKET_LEN],
}

impl Side {
    fn new() -> Side {
        let mut pair = Pair::new();
        assert_eq!(
            pair.a
                .sessions()
                .filter(|s| s.session.state() == State::Up)
                .count(),
            usize::from(N)
        );
        let peer = pair
            .a
            .sessions()
            .map(|v| {
                let s = v.session;
                let p = Packet {
                    diag: Default::default(),
                    state: State::Up,
                    poll: false,
                    final_: false,
                    cpi: false,
                    demand: false,
                    detect_mult: 3,
                    my_discr: s.remote_discr(),
                    your_discr: s.local_discr(),
                    desired_min_tx: 100_000,
                    required_min_rx: 100_000,
                    required_min_echo_rx: 0,
                };
                let mut b = [0; PACKET_LEN];
                p.encode(&mut b);
                (v.key.remote, b)
            })
            .collect();
        // Drain what is owed at once, so every iteration starts from the periodic regime.
        while pair.a.poll_transmit(pair.now, &mut pair.buf).is_some() {}
        while pair.a.poll_event().is_some() {}
        Side {
            bfd: pair.a,
            now: pair.now,
            peer,
            next: 0,
            buf: [0; PACKET_LEN],
        }
    }

    /// One received packet and the transmissions of 500 µs; returns packets sent.
    fn step(&mut self) -> u32 {
        self.now += Duration::from_micros(500);
        let (src, bytes) = self
            .peer
            .get(self.next)
            .copied()
            .unwrap_or((addr(0, 2), [0; PACKET_LEN]));
        self.next = (self.next + 1) % self.peer.len().max(1);
        let rx = Received {
            src,
            dst: None,
            multihop: false,
            ttl: Some(255),
        };
        let _ = self.bfd.handle_packet(self.now, rx, &bytes);
        self.bfd.handle_timeout(self.now);
        let mut sent = 0;
        while self.bfd.poll_transmit(self.now, &mut self.buf).is_some() {
            sent += 1;
        }
        while self.bfd.poll_event().is_some() {}
        sent
    }
}

fn bench(c: &mut Criterion) {
    let mut side = Side::new();
    // Warm up (the timer heap reaches its working size), then count.
    let mut sent = 0u64;
    for _ in 0..10_000 {
        side.step();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let steps = 100_000u64;
    for _ in 0..steps {
        sent += u64::from(side.step());
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let up = side
        .bfd
        .sessions()
        .filter(|s| s.session.state() == State::Up)
        .count();
    eprintln!(
        "bfd/per_packet: {steps} packets received, {sent} sent, {allocs} allocations, {up} sessions Up"
    );
    assert_eq!(allocs, 0, "the BFD engine allocated in its steady state");
    assert_eq!(up, usize::from(N), "sessions went Down during the run");
    let mut g = c.benchmark_group("bfd");
    g.throughput(Throughput::Elements(1));
    g.bench_function("per_packet", |b| b.iter(|| black_box(side.step())));
    let mut pair = Pair::new();
    let per_sec = pair.run(Duration::from_secs(1));
    g.throughput(Throughput::Elements(per_sec));
    g.bench_function("200_sessions_100ms_one_virtual_second", |b| {
        b.iter(|| black_box(pair.run(Duration::from_secs(1))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

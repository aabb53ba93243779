//! BFD engine benchmark (benches/README.md, "BFD"): 200 sessions at 100 ms × 3 against a peer
//! set in memory, both Up; one iteration is one second of virtual time (≈ 3,900 packets sent
//! and ≈ 3,900 received by the measured side, since both sides are driven the cost is split
//! evenly). The per-second figure is the engine's CPU cost for 200 sessions.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_core::bfd::{Bfd, Key, Received, SessionParams, PACKET_LEN};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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

fn bench(c: &mut Criterion) {
    let mut pair = Pair::new();
    let per_sec = pair.run(Duration::from_secs(1));
    let mut g = c.benchmark_group("bfd");
    g.throughput(Throughput::Elements(per_sec));
    g.bench_function("200_sessions_100ms_one_virtual_second", |b| {
        b.iter(|| black_box(pair.run(Duration::from_secs(1))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

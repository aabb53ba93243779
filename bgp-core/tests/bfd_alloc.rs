//! "No allocation per packet": 200 BFD sessions at 100 ms against a peer set, run on virtual
//! time for 5 s (≈ 20,000 packets received and sent) under a counting global allocator; once
//! the sessions are Up and the event queue has grown to its working size, the steady state
//! allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bgp_core::bfd::{Bfd, Key, Received, SessionParams, State, PACKET_LEN};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, counting calls.
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

/// Runs both sets until `end`; returns packets exchanged.
fn run(a: &mut Bfd, b: &mut Bfd, now: &mut Instant, end: Instant) -> u64 {
    let mut buf = [0u8; PACKET_LEN];
    let mut n = 0;
    loop {
        let mut any = true;
        while any {
            any = false;
            while let Some(t) = a.poll_transmit(*now, &mut buf) {
                let src = t.key.local.unwrap_or(addr(0, 1));
                let rx = Received {
                    src,
                    dst: Some(t.key.remote),
                    multihop: false,
                    ttl: Some(255),
                };
                let _ = b.handle_packet(*now, rx, buf.get(..t.len).unwrap_or(&[]));
                n += 1;
                any = true;
            }
            while let Some(t) = b.poll_transmit(*now, &mut buf) {
                let src = t.key.local.unwrap_or(addr(0, 2));
                let rx = Received {
                    src,
                    dst: Some(t.key.remote),
                    multihop: false,
                    ttl: Some(255),
                };
                let _ = a.handle_packet(*now, rx, buf.get(..t.len).unwrap_or(&[]));
                n += 1;
                any = true;
            }
            while a.poll_event().is_some() {}
            while b.poll_event().is_some() {}
        }
        let next = [a.poll_timeout(*now), b.poll_timeout(*now)]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= end => {
                *now = t.max(*now);
                a.handle_timeout(*now);
                b.handle_timeout(*now);
            }
            _ => return n,
        }
    }
}

#[test]
fn steady_state_allocates_nothing_per_packet() {
    let mut now = Instant::now();
    let mut a = Bfd::new(1);
    let mut b = Bfd::new(2);
    let p = SessionParams {
        min_tx: Duration::from_millis(100),
        min_rx: Duration::from_millis(100),
        idle_tx: Duration::from_secs(1),
        detect_mult: 3,
    };
    for i in 1..=N {
        // a at 10.1.0.i talks to b at 10.2.0.i.
        a.add(
            now,
            Key {
                remote: addr(i, 2),
                local: Some(addr(i, 1)),
                multihop: false,
            },
            p,
        );
        b.add(
            now,
            Key {
                remote: addr(i, 1),
                local: Some(addr(i, 2)),
                multihop: false,
            },
            p,
        );
    }
    let warm = now + Duration::from_secs(3);
    run(&mut a, &mut b, &mut now, warm);
    assert_eq!(
        a.sessions()
            .filter(|s| s.session.state() == State::Up)
            .count(),
        N as usize
    );
    let before = ALLOCS.load(Ordering::Relaxed);
    let end = now + Duration::from_secs(5);
    let packets = run(&mut a, &mut b, &mut now, end);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(packets > 15_000, "{packets}");
    assert_eq!(allocs, 0, "{allocs} allocations for {packets} packets");
    assert_eq!(
        b.sessions()
            .filter(|s| s.session.state() == State::Up)
            .count(),
        N as usize
    );
}

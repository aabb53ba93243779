//! "No allocation per packet": 200 BFD sessions at 100 ms against a peer set, run on virtual
//! time for 5 s (≈ 20,000 packets received and sent) under a counting global allocator; once
//! the sessions are Up and the event queue has grown to its working size, the steady state
//! allocates nothing. Also the transmit slack's wake-up count and jitter bounds on the same
//! 200 sessions.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_core::bfd::{Bfd, Key, Received, SessionParams, State, PACKET_LEN};

struct Counting;

thread_local! {
    /// Allocations by this thread (tests run in parallel threads).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn count() {
    // `try_with`: nothing to count while the thread's locals are torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: u8 = 200;

fn addr(i: u8, side: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, side, 0, i))
}

/// Runs both sets until `end`, each woken at its own deadlines; returns packets exchanged and
/// how many times `a` was woken by its timer. `sent(from_a, discr, now)` sees every packet.
fn run(
    a: &mut Bfd,
    b: &mut Bfd,
    now: &mut Instant,
    end: Instant,
    mut sent: impl FnMut(bool, u32, Instant),
) -> (u64, u64) {
    let mut buf = [0u8; PACKET_LEN];
    let mut n = 0;
    let mut wakeups = 0;
    loop {
        let mut any = true;
        while any {
            any = false;
            while let Some(t) = a.poll_transmit(*now, &mut buf) {
                sent(true, t.discr, *now);
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
                sent(false, t.discr, *now);
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
                if a.poll_timeout(*now).is_some_and(|t| t <= *now) {
                    wakeups += 1;
                    a.handle_timeout(*now);
                }
                if b.poll_timeout(*now).is_some_and(|t| t <= *now) {
                    b.handle_timeout(*now);
                }
            }
            _ => return (n, wakeups),
        }
    }
}

fn assert_all_up(a: &Bfd, b: &Bfd) {
    for s in [a, b] {
        let up = s
            .sessions()
            .filter(|s| s.session.state() == State::Up)
            .count();
        assert_eq!(up, N as usize);
    }
}

/// Two sets of 200 sessions (a at 10.1.0.i, b at 10.2.0.i), 100 ms × 3, with `slack`, run
/// for 3 virtual seconds: all Up.
fn pair(slack: Duration) -> (Bfd, Bfd, Instant) {
    let mut now = Instant::now();
    let mut a = Bfd::new(1);
    let mut b = Bfd::new(2);
    a.set_tx_slack(slack);
    b.set_tx_slack(slack);
    let p = SessionParams {
        min_tx: Duration::from_millis(100),
        min_rx: Duration::from_millis(100),
        idle_tx: Duration::from_secs(1),
        detect_mult: 3,
    };
    for i in 1..=N {
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
    let _ = run(&mut a, &mut b, &mut now, warm, |_, _, _| {});
    assert_all_up(&a, &b);
    (a, b, now)
}

#[test]
fn steady_state_allocates_nothing_per_packet() {
    // As the daemon runs it: with 10 ms of transmit slack.
    let (mut a, mut b, mut now) = pair(Duration::from_millis(10));
    let before = allocs();
    let end = now + Duration::from_secs(5);
    let (packets, _) = run(&mut a, &mut b, &mut now, end, |_, _, _| {});
    let allocs = allocs() - before;
    assert!(packets > 15_000, "{packets}");
    assert_eq!(allocs, 0, "{allocs} allocations for {packets} packets");
    assert_all_up(&a, &b);
}

/// The transmit slack: one wake-up serves every packet due within the slack (side a is woken by
/// its timer at most 1 s / slack times a second instead of once per packet), and every session
/// still sends at 75–100 % of its 100 ms interval (RFC 5880 §6.8.7).
#[test]
fn transmit_slack_coalesces_wakeups_within_the_jitter_bounds() {
    for (slack, max_instants) in [
        (Duration::ZERO, None),
        (Duration::from_millis(5), Some(201)),
        (Duration::from_millis(10), Some(101)),
    ] {
        let (mut a, mut b, mut now) = pair(slack);
        let mut last: HashMap<u32, Instant> = HashMap::new();
        let mut gaps: Vec<Duration> = Vec::new();
        let end = now + Duration::from_secs(2);
        let (packets, wakeups) = run(&mut a, &mut b, &mut now, end, |from_a, d, t| {
            if !from_a {
                return;
            }
            if let Some(l) = last.insert(d, t) {
                gaps.push(t - l);
            }
        });
        assert!(packets > 8_000, "{packets}");
        assert!(gaps.len() > 3_000);
        let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(
            *lo >= Duration::from_millis(75) && *hi <= Duration::from_millis(100),
            "slack {slack:?}: gaps {lo:?}..{hi:?}"
        );
        let per_second = wakeups / 2;
        eprintln!("slack {slack:?}: {per_second} timer wake-ups/s, intervals {lo:?}..{hi:?}");
        match max_instants {
            Some(m) => assert!(per_second <= m, "slack {slack:?}: {per_second} wake-ups/s"),
            // Without slack nearly every packet has its own wake-up.
            None => assert!(per_second > 1_500, "{per_second}"),
        }
        assert_all_up(&a, &b);
    }
}

//! When periodic scans run: not while our writes flow (a burst would be stalled by a dump of
//! a table about to change), at most a minute late, and at once when asked for.

use super::tests::{ack, cfg, route, start};
use super::*;
use crate::wire::*;
use std::time::Duration;

fn kind_of(b: &[u8]) -> u16 {
    u16::from_ne_bytes(b[4..6].try_into().unwrap())
}

fn seq_of(b: &[u8]) -> u32 {
    u32::from_ne_bytes(b[8..12].try_into().unwrap())
}

/// A synced FIB (empty kernel) and its start time; the periodic scan is due 2 s later.
fn synced() -> (Fib, Instant) {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    assert_eq!(fib.poll_timeout(), Some(now + Duration::from_secs(2)));
    (fib, now)
}

/// One route change at `t`, sent and acknowledged at `t`; returns what was sent first.
fn write(fib: &mut Fib, t: Instant, n: usize) -> u16 {
    let p = format!("10.{}.{}.0/24", n / 256, n % 256);
    fib.apply(FibChange::Upsert(route(&p, RouteKind::Blackhole)));
    fib.handle_timeout(t);
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let kind = kind_of(&b);
    if kind == RTM_NEWROUTE {
        fib.handle_reply(t, &ack(seq_of(&b), 0)).unwrap();
    }
    kind
}

/// Whether a route dump goes out at `t`. It is answered with the routes `write` installed
/// (numbers below `written`), so the scan finds nothing to repair.
fn scans_at(fib: &mut Fib, t: Instant, written: usize) -> bool {
    fib.handle_timeout(t);
    let mut b = Vec::new();
    if !fib.poll_transmit(&mut b) {
        return false;
    }
    assert_eq!(kind_of(&b), RTM_GETROUTE, "only a dump can be pending here");
    let prefixes: Vec<String> = (1..written)
        .map(|n| format!("10.{}.{}.0/24", n / 256, n % 256))
        .collect();
    let routes: Vec<_> = prefixes
        .iter()
        .map(|p| (12, 254, p.as_str(), 0, WireTarget::Blackhole))
        .collect();
    fib.handle_reply(t, &super::tests::dump(seq_of(&b), &routes))
        .unwrap();
    let mut after = Vec::new();
    assert!(!fib.poll_transmit(&mut after), "the scan repaired nothing");
    true
}

#[test]
fn a_periodic_scan_waits_until_writes_have_been_quiet() {
    let (mut fib, t0) = synced();
    // Writes every half second from 0.5 s to 3 s: the scan due at 2 s does not interrupt them.
    for i in 1..=6u32 {
        let t = t0 + Duration::from_millis(500) * i;
        assert_eq!(write(&mut fib, t, i as usize), RTM_NEWROUTE, "at {i}");
    }
    let last = t0 + Duration::from_secs(3);
    // It wakes no later than the quiet point (earlier: it checks and waits again).
    assert!(fib.poll_timeout().is_some_and(|t| t <= last + SCAN_QUIET));
    assert!(!scans_at(
        &mut fib,
        last + SCAN_QUIET - Duration::from_millis(100),
        7
    ));
    assert!(scans_at(&mut fib, last + SCAN_QUIET, 7));
    // The next one is a full interval later again, and an idle FIB scans on time.
    let end = last + SCAN_QUIET;
    assert_eq!(fib.poll_timeout(), Some(end + Duration::from_secs(2)));
    assert!(scans_at(&mut fib, end + Duration::from_secs(2), 7));
}

#[test]
fn a_periodic_scan_waits_at_most_a_minute() {
    let (mut fib, t0) = synced();
    let due = t0 + Duration::from_secs(2);
    let mut scanned_at = None;
    for i in 1..=200u32 {
        let t = t0 + Duration::from_millis(500) * i;
        // A dump that went out is answered; then the writes go on.
        if scans_at(&mut fib, t, i as usize) {
            scanned_at = Some(t);
            break;
        }
        assert_eq!(write(&mut fib, t, i as usize), RTM_NEWROUTE);
    }
    assert_eq!(scanned_at, Some(due + SCAN_BACKOFF_MAX));
}

#[test]
fn a_requested_scan_does_not_wait_for_quiet() {
    let (mut fib, t0) = synced();
    let t = t0 + Duration::from_millis(500);
    assert_eq!(write(&mut fib, t, 1), RTM_NEWROUTE);
    fib.request_scan(t);
    assert!(scans_at(&mut fib, t, 2));
}

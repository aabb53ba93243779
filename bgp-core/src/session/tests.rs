//! The session's own unit tests (its behaviour against a peer is in `bgp-core/tests/`).

use super::testing::{Pair, VecSource};
use super::MessageCounts;
use std::net::Ipv4Addr;
use std::time::Duration;

#[test]
fn receive_buffer_is_released_when_idle() {
    let mut p = Pair::calico();
    // Pieces that split messages, so partial ones are buffered.
    p.chunk = 1000;
    p.a.source = VecSource::ipv4(5000, Ipv4Addr::new(10, 0, 0, 1));
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.b.announced == 5000));
    assert_eq!(p.b.session.rx.capacity(), 0);
    assert_eq!(p.a.session.rx.capacity(), 0);
    // The event queues drained too (5,000 UPDATE events went through b's).
    assert_eq!(p.b.session.events.capacity(), 0);
    assert_eq!(p.a.session.events.capacity(), 0);
}

#[test]
fn stats_count_each_message_written_and_received() {
    let mut p = Pair::calico();
    p.record = true;
    p.a.source = VecSource::ipv4(5000, Ipv4Addr::new(10, 0, 0, 1));
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.b.announced == 5000));
    // Past a few keepalive periods, with nothing in flight at the end.
    p.run_for(Duration::from_secs(200));
    let (a, b) = (*p.a.session.stats(), *p.b.session.stats());
    let mut written = MessageCounts::default();
    for (_, m) in &p.a.sent {
        written.count_framed(m);
    }
    assert_eq!(a.sent, written, "A's counts are what it wrote");
    assert_eq!(b.received, a.sent, "B received all of it");
    assert_eq!(a.received, b.sent);
    assert_eq!((a.sent.open, b.sent.open), (1, 1));
    assert!(a.sent.update > 1 && a.sent.keepalive > 1, "{a:?}");
    let families = p.b.session.negotiated().map_or(0, |n| n.families.len()) as u64;
    assert_eq!(b.sent.update, families, "B sends End-of-RIB only: {b:?}");
}

#[test]
fn an_idle_session_is_small() {
    // 100 idle peers must fit in a few MB of RSS together with everything else: the
    // session itself stays well under a kilobyte (plus its OPEN's capabilities).
    let size = std::mem::size_of::<super::Session>();
    assert!(size <= 512, "Session is {size} bytes");
}

#[test]
fn down_reasons_in_birds_words() {
    use super::DownReason;
    use crate::wire::notification::cease;
    use crate::wire::Notification;
    let n = Notification::cease(cease::ADMIN_SHUTDOWN);
    let sent = DownReason::NotificationSent(n.clone()).bird_text();
    let received = DownReason::NotificationReceived(n.clone()).bird_text();
    assert_eq!(sent, format!("Error: {n}"));
    assert_eq!(received, format!("Received: {n}"));
    assert_eq!(
        DownReason::ConnectionClosed.bird_text(),
        "Connection closed"
    );
}

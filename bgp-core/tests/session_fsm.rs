//! Session state machine on virtual time: establishment, timers, OPEN errors, back-off.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::session::testing::{Pair, Side, VecSource};
use bgp_core::session::{
    Action, Command, ConfigError, DownReason, Event, NoUpdates, Session, SessionConfig, StateKind,
};
use bgp_core::wire::{Capability, Message, Negotiated, Notification, Open};
use bytes::{Bytes, BytesMut};

fn cfg(id: u8) -> SessionConfig {
    SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, id), Some(64512))
}

fn states(events: &[Event]) -> Vec<StateKind> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

fn downs(events: &[Event]) -> Vec<DownReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Down(d) => Some(d.reason.clone()),
            _ => None,
        })
        .collect()
}

/// Decodes what a side wrote (KEEPALIVE/OPEN/NOTIFICATION need no context).
fn sent(p: &Pair, side: Side) -> Vec<(Duration, Message)> {
    let end = match side {
        Side::A => &p.a,
        Side::B => &p.b,
    };
    end.sent
        .iter()
        .map(|(t, b)| {
            (
                t.duration_since(p.t0),
                Message::decode(b.clone(), &Negotiated::default()).unwrap(),
            )
        })
        .collect()
}

fn keepalive_times(p: &Pair, side: Side) -> Vec<Duration> {
    sent(p, side)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Keepalive))
        .map(|(t, _)| t)
        .collect()
}

#[test]
fn establishes_after_connect_delay() {
    let mut p = Pair::calico();
    p.start();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    // Calico's `connect delay time 2`: the active side waits 2 s before its first attempt.
    assert_eq!(p.elapsed(), Duration::from_secs(2));
    assert_eq!(
        states(&p.a.events),
        [
            StateKind::Active,
            StateKind::Connect,
            StateKind::OpenSent,
            StateKind::OpenConfirm,
            StateKind::Established
        ]
    );
    // The passive side waits in Active and never connects.
    assert_eq!(
        states(&p.b.events),
        [
            StateKind::Active,
            StateKind::OpenSent,
            StateKind::OpenConfirm,
            StateKind::Established
        ]
    );
    let neg = p.a.events.iter().find_map(|e| match e {
        Event::Established(n) => Some(n.clone()),
        _ => None,
    });
    let neg = neg.unwrap();
    assert_eq!(neg.peer_id, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(neg.hold_time, 240);
    assert!(neg.four_octet_as && neg.route_refresh && neg.enhanced_route_refresh);
    assert!(neg.peer_graceful_restart.is_some());
    assert_eq!(p.a.session.negotiated(), Some(&*neg));
}

#[test]
fn establishes_when_bytes_arrive_one_octet_at_a_time() {
    let mut p = Pair::calico();
    p.chunk = 1;
    p.a.source = VecSource::ipv4(1000, Ipv4Addr::new(10, 0, 0, 1));
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.b.announced == 1000));
    assert!(p.established());
}

#[test]
fn hold_time_is_the_smaller_and_keepalive_a_third() {
    let mut a = cfg(1);
    a.hold_time = 90;
    let mut b = cfg(2);
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.record = true;
    p.start();
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    assert_eq!(p.b.session.negotiated().unwrap().hold_time, 90);
    let t0 = p.elapsed();
    p.run_for(Duration::from_secs(100));
    // One KEEPALIVE answering the OPEN, then one every 30 s from OpenConfirm on.
    let ka: Vec<Duration> = keepalive_times(&p, Side::B);
    assert_eq!(
        ka,
        [
            t0,
            t0 + Duration::from_secs(30),
            t0 + Duration::from_secs(60),
            t0 + Duration::from_secs(90)
        ]
    );
    assert!(p.established());
}

#[test]
fn configured_keepalive_time_is_used() {
    let mut a = cfg(1);
    a.keepalive_time = Some(10);
    let mut b = cfg(2);
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.record = true;
    p.start();
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    p.a.sent.clear();
    p.run_for(Duration::from_secs(35));
    let ka = keepalive_times(&p, Side::A);
    let gaps: Vec<Duration> = ka.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(ka.len(), 3);
    assert!(
        gaps.iter().all(|g| *g == Duration::from_secs(10)),
        "{gaps:?}"
    );
}

#[test]
fn hold_time_zero_sends_no_keepalives_and_never_expires() {
    let mut a = cfg(1);
    a.hold_time = 0;
    let mut b = cfg(2);
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.record = true;
    p.start();
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    let before = keepalive_times(&p, Side::A).len();
    p.run_for(Duration::from_secs(3600));
    assert!(p.established());
    assert_eq!(keepalive_times(&p, Side::A).len(), before);
    assert_eq!(p.a.session.poll_timeout(), None);
}

#[test]
fn hold_timer_expiry_sends_4_0() {
    let mut p = Pair::calico();
    p.start();
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    let up = p.elapsed();
    // B goes silent: A's hold timer (240 s) expires.
    p.b.mute = true;
    assert!(
        p.run_until(Duration::from_secs(600), |p| p.a.session.state()
            != StateKind::Established)
    );
    assert_eq!(p.elapsed() - up, Duration::from_secs(240));
    let sent = Notification::hold_timer_expired();
    assert_eq!(
        downs(&p.a.events),
        [DownReason::NotificationSent(sent.clone())]
    );
    assert_eq!(downs(&p.b.events), [DownReason::NotificationReceived(sent)]);
}

#[test]
fn hold_time_of_one_or_two_is_rejected_in_config() {
    for h in [1, 2] {
        let mut c = cfg(1);
        c.hold_time = h;
        assert_eq!(Session::new(c).unwrap_err(), ConfigError::HoldTime);
    }
    let mut c = cfg(1);
    c.hold_time = 3;
    assert!(Session::new(c).is_ok());
}

#[test]
fn passive_pair_never_connects() {
    let mut a = cfg(1);
    a.passive = true;
    let mut b = cfg(2);
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.start();
    p.run_for(Duration::from_secs(600));
    assert!(!p.link_up);
    assert_eq!(p.a.session.state(), StateKind::Active);
    assert_eq!(p.b.session.state(), StateKind::Active);
    assert_eq!(
        p.a.session.poll_timeout(),
        None,
        "a passive session has no ConnectRetry"
    );
}

#[test]
fn connect_retry_every_5s_while_refused() {
    let mut p = Pair::calico();
    p.b.refuse = true;
    p.start();
    p.run_for(Duration::from_secs(23));
    // Attempts at 2 s (connect delay), then every 5 s (connect retry): 2, 7, 12, 17, 22.
    let n =
        p.a.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::StateChanged {
                        to: StateKind::Connect,
                        ..
                    }
                )
            })
            .count();
    assert_eq!(n, 5);
    assert_eq!(p.a.session.state(), StateKind::Active);
    p.b.refuse = false;
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    assert_eq!(p.elapsed(), Duration::from_secs(27));
}

/// Times (seconds since start) at which A entered `state`.
fn entered(p: &Pair, times: &[(Duration, StateKind)], state: StateKind) -> Vec<u64> {
    let _ = p;
    times
        .iter()
        .filter(|(_, s)| *s == state)
        .map(|(t, _)| t.as_secs())
        .collect()
}

#[test]
fn error_wait_backs_off_exponentially_from_5_to_30() {
    // B expects another AS: every OPEN from A is refused with 2/2, an error for both sides.
    let a = cfg(1);
    let mut b = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 2), Some(65000));
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.start();
    let mut log = Vec::new();
    let end = p.now + Duration::from_secs(140);
    while p.now < end {
        let before = p.a.events.len();
        match p.next_deadline() {
            Some(t) if t <= end => p.advance_to(t),
            _ => break,
        }
        for e in &p.a.events[before..] {
            if let Event::StateChanged { to, .. } = e {
                log.push((p.elapsed(), *to));
            }
        }
    }
    // Connect at 2; error; IdleHold 5, 10, 20, 30, 30 (+ 2 s connect delay each time).
    assert_eq!(
        entered(&p, &log, StateKind::Connect),
        [2, 9, 21, 43, 75, 107, 139]
    );
    assert!(downs(&p.a.events).iter().all(
        |d| matches!(d, DownReason::NotificationReceived(n) if (n.code, n.subcode) == (2, 2))
    ));
}

// ---- a lone session driven by hand, for malformed input -------------------------------------

fn drain(s: &mut Session) -> (Vec<Message>, Vec<Event>, Vec<Action>) {
    let now = Instant::now();
    let mut msgs = Vec::new();
    let mut out = BytesMut::new();
    while s.poll_transmit(now, &mut out, &mut NoUpdates) {
        msgs.push(Message::decode(out.split().freeze(), &Negotiated::default()).unwrap());
    }
    let events = std::iter::from_fn(|| s.poll_event()).collect();
    let actions = std::iter::from_fn(|| s.poll_action()).collect();
    (msgs, events, actions)
}

/// A session that has sent its OPEN on an accepted connection.
fn open_sent(c: SessionConfig) -> (Session, Instant) {
    let mut c = c;
    c.passive = true;
    let mut s = Session::new(c).unwrap();
    let now = Instant::now();
    s.handle_command(now, Command::Start);
    assert!(s.handle_connected(now));
    assert_eq!(s.state(), StateKind::OpenSent);
    let (msgs, _, _) = drain(&mut s);
    assert!(matches!(msgs.as_slice(), [Message::Open(_)]));
    (s, now)
}

fn encode_open(o: &Open) -> Vec<u8> {
    let mut b = BytesMut::new();
    o.encode(&mut b).unwrap();
    b.to_vec()
}

fn peer_open() -> Open {
    Open::new(
        64512,
        90,
        Ipv4Addr::new(10, 0, 0, 9),
        vec![Capability::FourOctetAs(64512), Capability::RouteRefresh],
    )
}

/// Feeds `bytes` to a session in OpenSent; returns the NOTIFICATION it answered with.
fn rejected_with(c: SessionConfig, bytes: &[u8]) -> Notification {
    let (mut s, now) = open_sent(c);
    s.handle_bytes(now, bytes);
    let (msgs, events, actions) = drain(&mut s);
    assert_eq!(s.state(), StateKind::Idle);
    assert_eq!(actions, [Action::Close]);
    let [Message::Notification(n)] = msgs.as_slice() else {
        panic!("expected one NOTIFICATION, got {msgs:?}");
    };
    assert!(events.iter().any(
        |e| matches!(e, Event::Down(d) if d.reason == DownReason::NotificationSent(n.clone()))
    ));
    n.clone()
}

fn code(n: &Notification) -> (u8, u8) {
    (n.code, n.subcode)
}

#[test]
fn open_accepted_moves_to_open_confirm_with_keepalive() {
    let (mut s, now) = open_sent(cfg(1));
    s.handle_bytes(now, &encode_open(&peer_open()));
    assert_eq!(s.state(), StateKind::OpenConfirm);
    let (msgs, _, _) = drain(&mut s);
    assert!(matches!(msgs.as_slice(), [Message::Keepalive]));
    assert_eq!(s.negotiated().unwrap().hold_time, 90);
}

#[test]
fn open_errors_have_their_subcodes() {
    // 2/1 Unsupported Version Number, data = the largest version we support (2 octets).
    let mut v3 = encode_open(&peer_open());
    v3[19] = 3;
    let n = rejected_with(cfg(1), &v3);
    assert_eq!((code(&n), &n.data[..]), ((2, 1), &[0u8, 4][..]));
    // 2/2 Bad Peer AS.
    let mut o = peer_open();
    o.my_as = 65000;
    o.capabilities = vec![Capability::FourOctetAs(65000)];
    assert_eq!(code(&rejected_with(cfg(1), &encode_open(&o))), (2, 2));
    // 2/2: 4-octet AS via AS_TRANS, not the configured one.
    let o = Open::new(
        4_200_000_000,
        90,
        Ipv4Addr::new(10, 0, 0, 9),
        vec![Capability::FourOctetAs(4_200_000_000)],
    );
    assert_eq!(o.my_as, 23456);
    assert_eq!(code(&rejected_with(cfg(1), &encode_open(&o))), (2, 2));
    // 2/3 Bad BGP Identifier: our own, within our AS.
    let mut o = peer_open();
    o.bgp_id = Ipv4Addr::new(10, 0, 0, 1);
    assert_eq!(code(&rejected_with(cfg(1), &encode_open(&o))), (2, 3));
    // 2/3: zero.
    let mut z = encode_open(&peer_open());
    z[24..28].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(code(&rejected_with(cfg(1), &z)), (2, 3));
    // 2/6 Unacceptable Hold Time: 1 and 2 always, below our minimum otherwise.
    for h in [1u16, 2] {
        let mut o = peer_open();
        o.hold_time = h;
        assert_eq!(code(&rejected_with(cfg(1), &encode_open(&o))), (2, 6));
    }
    let mut c = cfg(1);
    c.min_hold_time = 30;
    let mut o = peer_open();
    o.hold_time = 10;
    assert_eq!(code(&rejected_with(c, &encode_open(&o))), (2, 6));
    // 2/7 Unsupported Capability: a required one is missing; data lists it.
    let mut c = cfg(1);
    c.required_capabilities = vec![Capability::EnhancedRouteRefresh];
    let n = rejected_with(c, &encode_open(&peer_open()));
    assert_eq!((code(&n), &n.data[..]), ((2, 7), &[70u8, 0][..]));
    // 2/4 Unsupported Optional Parameter (type 1, authentication, is obsolete).
    let mut raw = encode_open(&peer_open());
    raw.truncate(28);
    raw.extend_from_slice(&[3, 1, 1, 0]);
    let len = raw.len() as u16;
    raw[16..18].copy_from_slice(&len.to_be_bytes());
    assert_eq!(code(&rejected_with(cfg(1), &raw)), (2, 4));
}

#[test]
fn unexpected_messages_are_fsm_errors_with_the_state_subcode() {
    // RFC 6608: 5/1 in OpenSent.
    let mut ka = vec![0xff; 16];
    ka.extend_from_slice(&[0, 19, 4]);
    assert_eq!(code(&rejected_with(cfg(1), &ka)), (5, 1));
    let mut upd = vec![0xff; 16];
    upd.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]);
    assert_eq!(code(&rejected_with(cfg(1), &upd)), (5, 1));
    // 5/2 in OpenConfirm (an UPDATE before the KEEPALIVE).
    let (mut s, now) = open_sent(cfg(1));
    s.handle_bytes(now, &encode_open(&peer_open()));
    let _ = drain(&mut s);
    s.handle_bytes(now, &upd);
    let (msgs, _, _) = drain(&mut s);
    assert!(matches!(&msgs[..], [Message::Notification(n)] if code(n) == (5, 2)));
    // 5/3 in Established (a second OPEN).
    let (mut s, now) = open_sent(cfg(1));
    s.handle_bytes(now, &encode_open(&peer_open()));
    s.handle_bytes(now, &ka);
    assert_eq!(s.state(), StateKind::Established);
    let _ = drain(&mut s);
    s.handle_bytes(now, &encode_open(&peer_open()));
    let (msgs, _, _) = drain(&mut s);
    assert!(matches!(&msgs[..], [Message::Notification(n)] if code(n) == (5, 3)));
}

#[test]
fn header_errors_answer_1_x() {
    let mut bad = vec![0xff; 15];
    bad.extend_from_slice(&[0xfe, 0, 19, 4]);
    assert_eq!(code(&rejected_with(cfg(1), &bad)), (1, 1));
    let mut long = vec![0xff; 16];
    long.extend_from_slice(&[0x10, 0x01, 2]);
    assert_eq!(code(&rejected_with(cfg(1), &long)), (1, 2));
    let mut ty = vec![0xff; 16];
    ty.extend_from_slice(&[0, 19, 9]);
    assert_eq!(code(&rejected_with(cfg(1), &ty)), (1, 3));
}

#[test]
fn notification_in_open_sent_closes_without_answer() {
    let (mut s, now) = open_sent(cfg(1));
    let mut b = BytesMut::new();
    Notification::cease(5).encode(&mut b).unwrap();
    s.handle_bytes(now, &b);
    let (msgs, events, actions) = drain(&mut s);
    assert!(msgs.is_empty());
    assert_eq!(actions, [Action::Close]);
    assert!(events.iter().any(|e| matches!(e, Event::Down(d)
        if d.reason == DownReason::NotificationReceived(Notification::cease(5)))));
}

#[test]
fn delay_open_answers_the_peers_open_at_once() {
    let a = cfg(1);
    let mut b = cfg(2);
    b.passive = true;
    b.delay_open = Some(Duration::from_secs(5));
    let mut p = Pair::new(a, b).unwrap();
    p.start();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    assert_eq!(p.elapsed(), Duration::from_secs(2));
}

#[test]
fn delay_open_on_both_sides_waits_for_the_timer() {
    let mut a = cfg(1);
    a.delay_open = Some(Duration::from_secs(5));
    let mut b = cfg(2);
    b.passive = true;
    b.delay_open = Some(Duration::from_secs(7));
    let mut p = Pair::new(a, b).unwrap();
    p.start();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    // A's DelayOpen (5 s after the 2 s connect delay) fires first; B answers at once.
    assert_eq!(p.elapsed(), Duration::from_secs(7));
}

#[test]
fn spurious_timeouts_change_nothing() {
    let mut p = Pair::calico();
    p.start();
    assert!(p.run_until(Duration::from_secs(10), Pair::established));
    let deadline = p.next_deadline().unwrap();
    let now = p.now;
    for _ in 0..3 {
        p.a.session.handle_timeout(now);
        p.b.session.handle_timeout(now);
    }
    p.pump();
    assert_eq!(p.next_deadline(), Some(deadline));
    assert!(p.established());
    let _ = Bytes::new();
}

#[test]
fn four_octet_peer_as_via_as_trans_is_accepted() {
    let c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 1), Some(4_200_000_000));
    let o = Open::new(
        4_200_000_000,
        90,
        Ipv4Addr::new(10, 0, 0, 9),
        vec![Capability::FourOctetAs(4_200_000_000)],
    );
    let (mut s, now) = open_sent(c);
    s.handle_bytes(now, &encode_open(&o));
    assert_eq!(s.state(), StateKind::OpenConfirm);
    let n = s.negotiated().unwrap();
    assert_eq!(n.peer_as, 4_200_000_000);
    assert!(n.is_ebgp() && n.four_octet_as);
}

#[test]
fn ebgp_pair_with_four_octet_ases_establishes() {
    let a = SessionConfig::new(
        4_200_000_001,
        Ipv4Addr::new(10, 0, 0, 1),
        Some(4_200_000_002),
    );
    let mut b = SessionConfig::new(
        4_200_000_002,
        Ipv4Addr::new(10, 0, 0, 2),
        Some(4_200_000_001),
    );
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.start();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    assert_eq!(p.a.session.negotiated().unwrap().peer_as, 4_200_000_002);
}

/// The delays of a session's first `n` connection attempts (start, then each attempt fails).
fn attempt_delays(c: SessionConfig, n: usize) -> Vec<Duration> {
    let mut s = Session::new(c).unwrap();
    let mut now = Instant::now();
    s.handle_command(now, Command::Start);
    let mut out = Vec::new();
    for _ in 0..n {
        let t = s.poll_timeout().unwrap();
        out.push(t - now);
        now = t;
        s.handle_timeout(now);
        // The attempt fails: back to Active with ConnectRetry.
        s.handle_disconnected(now);
        while s.poll_action().is_some() {}
        let _ = drain(&mut s);
    }
    out
}

#[test]
fn connect_timers_are_jittered_when_asked_and_differ_between_speakers() {
    // Off (the library default): exact timers.
    // (The first deadline is the start itself.)
    let exact = attempt_delays(cfg(1), 6);
    assert!(
        exact[1..].iter().all(|d| *d == cfg(1).connect_retry),
        "{exact:?}"
    );
    // On: every delay within [0.75, 1] of the configured one (RFC 4271 §10), not all equal, and
    // two speakers started together draw different delays.
    let jit = |id| {
        let mut c = cfg(id);
        c.jitter = true;
        attempt_delays(c, 6)
    };
    let (a, b) = (jit(1), jit(2));
    for d in a[1..].iter().chain(&b[1..]) {
        let r = d.as_secs_f64() / cfg(1).connect_retry.as_secs_f64();
        assert!((0.75..=1.0).contains(&r), "{r} from {a:?} {b:?}");
    }
    assert_ne!(a[1..], b[1..]);
    assert!(a[1..].windows(2).any(|w| w[0] != w[1]));
}

//! Session behaviour past establishment, on virtual time: graceful restart (helper and
//! restarting speaker), End-of-RIB, route refresh, max-prefix, shutdown communication, RFC 7606.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_core::session::testing::{Pair, Side, VecSource};
use bgp_core::session::{
    Command, Down, DownReason, Event, MaxPrefix, SessionConfig, StateKind, Timer,
};
use bgp_core::wire::{Family, Notification, RefreshSubtype, RouteRefresh};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;

fn cfg(id: u8) -> SessionConfig {
    SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, id), Some(64512))
}

/// A (active) sends `routes` IPv4 prefixes to B (passive).
fn pair_with(a: SessionConfig, mut b: SessionConfig, routes: usize) -> Pair {
    b.passive = true;
    let mut p = Pair::new(a, b).unwrap();
    p.a.source = VecSource::ipv4(routes, Ipv4Addr::new(10, 0, 0, 1));
    p
}

fn up(p: &mut Pair, routes: usize) {
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.established()
        && p.b.announced >= routes
        && p.b
            .events
            .iter()
            .filter(|e| matches!(e, Event::EndOfRib(_)))
            .count()
            == 2));
}

fn downs(events: &[Event]) -> Vec<Down> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Down(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn expired(events: &[Event]) -> Vec<Family> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StaleRoutesExpired(f) => Some(*f),
            _ => None,
        })
        .collect()
}

#[test]
fn end_of_rib_follows_the_initial_table() {
    let mut p = pair_with(cfg(1), cfg(2), 2000);
    up(&mut p, 2000);
    let pos = |pred: &dyn Fn(&Event) -> bool| p.b.events.iter().rposition(pred).unwrap();
    let last_update = pos(&|e| matches!(e, Event::Update(_)));
    let eor4 = pos(&|e| *e == Event::EndOfRib(V4));
    let eor6 = pos(&|e| *e == Event::EndOfRib(V6));
    assert!(last_update < eor4 && eor4 < eor6);
    // A receive-only side sends End-of-RIB at once: A got both too.
    assert!(p.a.events.contains(&Event::EndOfRib(V4)));
    assert!(p.a.events.contains(&Event::EndOfRib(V6)));
}

#[test]
fn a_source_that_writes_end_of_rib_itself_is_not_doubled() {
    let mut p = pair_with(cfg(1), cfg(2), 100);
    p.a.source.writes_end_of_rib = true;
    up(&mut p, 100);
    p.run_for(Duration::from_secs(5));
    for f in [V4, V6] {
        let n =
            p.b.events
                .iter()
                .filter(|e| **e == Event::EndOfRib(f))
                .count();
        assert_eq!(n, 1, "{f}");
    }
}

#[test]
fn no_end_of_rib_before_the_initial_table_is_complete() {
    let mut p = pair_with(cfg(1), cfg(2), 100);
    p.a.source.never_synced = true;
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.b.announced == 100));
    p.run_for(Duration::from_secs(10));
    assert!(!p.b.events.iter().any(|e| matches!(e, Event::EndOfRib(_))));
}

#[test]
fn graceful_restart_helper_keeps_stale_routes_until_end_of_rib() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.b.events.clear();
    // The TCP connection breaks without a NOTIFICATION: B keeps A's routes stale.
    p.cut();
    let d = downs(&p.b.events);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].reason, DownReason::ConnectionClosed);
    assert!(d[0].was_established());
    assert_eq!(d[0].keep_stale, [V4, V6]);
    assert_eq!(p.b.session.stale_families(), [V4, V6]);
    assert_eq!(
        p.b.session.timer(Timer::GracefulRestart),
        Some(p.now + Duration::from_secs(120))
    );
    // A comes back (error wait 5 s + connect delay 2 s), re-sends its table and End-of-RIB.
    p.b.announced = 0;
    assert!(p.run_until(Duration::from_secs(60), |p| p
        .b
        .session
        .stale_families()
        .is_empty()));
    assert_eq!(p.b.announced, 10);
    assert!(p.b.events.contains(&Event::EndOfRib(V4)));
    assert_eq!(expired(&p.b.events), []);
    assert_eq!(p.b.session.timer(Timer::GracefulRestart), None);
    assert_eq!(p.b.session.timer(Timer::StaleRoutes), None);
}

#[test]
fn graceful_restart_helper_sweeps_stale_routes_when_restart_time_ends() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.b.events.clear();
    p.cut();
    let cut_at = p.now;
    p.b.refuse = true; // A cannot come back.
    assert!(
        p.run_until(Duration::from_secs(600), |p| !expired(&p.b.events)
            .is_empty())
    );
    assert_eq!(p.now - cut_at, Duration::from_secs(120));
    assert_eq!(expired(&p.b.events), [V4, V6]);
    assert!(p.b.session.stale_families().is_empty());
}

#[test]
fn graceful_restart_helper_sweeps_when_end_of_rib_never_comes() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.cut();
    p.a.source.never_synced = true;
    p.b.events.clear();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    let back = p.now;
    assert!(
        p.run_until(Duration::from_secs(600), |p| !expired(&p.b.events)
            .is_empty())
    );
    // The stale bound (360 s) after re-establishment.
    assert_eq!(p.now - back, Duration::from_secs(360));
    assert_eq!(expired(&p.b.events), [V4, V6]);
}

#[test]
fn graceful_restart_without_forwarding_state_drops_stale_routes_on_reconnect() {
    let mut a = cfg(1);
    if let Some(gr) = a.graceful_restart.as_mut() {
        gr.forwarding_preserved = false;
    }
    let mut p = pair_with(a, cfg(2), 10);
    up(&mut p, 10);
    p.cut();
    assert_eq!(p.b.session.stale_families(), [V4, V6]);
    p.b.events.clear();
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
    // F bit clear in the new capability: removed at once, before any new route.
    assert_eq!(expired(&p.b.events), [V4, V6]);
}

#[test]
fn no_graceful_restart_on_notification_without_n_bit() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.command(Side::A, Command::shutdown("bye"));
    let d = downs(&p.b.events);
    assert!(d[0].keep_stale.is_empty());
    assert!(p.b.session.stale_families().is_empty());
}

#[test]
fn no_graceful_restart_when_the_peer_did_not_announce_it() {
    let mut a = cfg(1);
    a.graceful_restart = None;
    let mut p = pair_with(a, cfg(2), 10);
    up(&mut p, 10);
    p.cut();
    assert!(downs(&p.b.events)[0].keep_stale.is_empty());
}

fn n_bit(id: u8) -> SessionConfig {
    let mut c = cfg(id);
    if let Some(gr) = c.graceful_restart.as_mut() {
        gr.notification = true;
    }
    c
}

#[test]
fn n_bit_keeps_routes_over_a_hold_timer_expiry_but_not_a_hard_reset() {
    // RFC 8538: with N exchanged, a NOTIFICATION other than Hard Reset is graceful.
    let mut p = pair_with(n_bit(1), n_bit(2), 10);
    up(&mut p, 10);
    p.a.mute = true;
    assert!(p.run_until(Duration::from_secs(300), |p| !downs(&p.b.events).is_empty()));
    let d = downs(&p.b.events);
    assert_eq!(
        d[0].reason,
        DownReason::NotificationSent(Notification::hold_timer_expired())
    );
    assert_eq!(d[0].keep_stale, [V4, V6]);

    // An administrative shutdown goes out as Hard Reset (6/9) wrapping 6/2: routes go.
    let mut p = pair_with(n_bit(1), n_bit(2), 10);
    up(&mut p, 10);
    p.command(Side::A, Command::shutdown("maintenance"));
    let d = downs(&p.b.events);
    let DownReason::NotificationReceived(n) = &d[0].reason else {
        panic!("{d:?}");
    };
    assert_eq!((n.code, n.subcode), (6, 9));
    assert!(d[0].keep_stale.is_empty());
    let inner = n.unwrap_hard_reset();
    assert_eq!((inner.code, inner.subcode), (6, 2));
    assert_eq!(inner.shutdown_communication(), Some("maintenance"));
}

#[test]
fn graceful_stop_lets_the_peer_keep_our_routes() {
    // With the N bit: Cease/Administrative Shutdown, not wrapped in a Hard Reset, so the
    // helper keeps our routes (RFC 8538 §4) and the operator still reads the message.
    let mut p = pair_with(n_bit(1), n_bit(2), 10);
    up(&mut p, 10);
    p.command(
        Side::A,
        Command::GracefulStop {
            message: "bgpd restarting".into(),
        },
    );
    let d = downs(&p.b.events);
    let DownReason::NotificationReceived(n) = &d[0].reason else {
        panic!("{d:?}");
    };
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_communication(), Some("bgpd restarting"));
    assert_eq!(d[0].keep_stale, [V4, V6]);
    assert_eq!(p.a.session.state(), StateKind::Idle);

    // Without the N bit a NOTIFICATION would end graceful restart: the connection just closes,
    // which the peer takes for a restart.
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.command(
        Side::A,
        Command::GracefulStop {
            message: "bgpd restarting".into(),
        },
    );
    let d = downs(&p.b.events);
    assert_eq!(d[0].reason, DownReason::ConnectionClosed);
    assert_eq!(d[0].keep_stale, [V4, V6]);
}

#[test]
fn shutdown_communication_is_delivered_and_the_session_stays_down() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.command(
        Side::A,
        Command::shutdown("maintenance window, back at 02:00 UTC"),
    );
    let got = downs(&p.b.events);
    let DownReason::NotificationReceived(n) = &got[0].reason else {
        panic!("{got:?}");
    };
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(
        n.shutdown_communication(),
        Some("maintenance window, back at 02:00 UTC")
    );
    let sent = downs(&p.a.events);
    assert!(matches!(&sent[0].reason, DownReason::NotificationSent(m) if m == n));
    // A stopped administratively: no automatic restart.
    p.run_for(Duration::from_secs(600));
    assert_eq!(p.a.session.state(), StateKind::Idle);
    assert_eq!(p.b.session.state(), StateKind::Active);
    // Until started again.
    p.command(Side::A, Command::Start);
    assert!(p.run_until(Duration::from_secs(60), Pair::established));
}

fn refresh_events(events: &[Event]) -> Vec<RefreshSubtype> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::RouteRefresh(RouteRefresh { subtype, .. }) => Some(*subtype),
            _ => None,
        })
        .collect()
}

#[test]
fn enhanced_route_refresh_request_and_answer() {
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.b.events.clear();
    p.b.announced = 0;
    p.command(Side::B, Command::RouteRefresh(V4));
    // A was asked, and re-sent the family between BoRR and EoRR.
    assert_eq!(p.a.source.refreshed, [V4]);
    assert!(p
        .a
        .events
        .contains(&Event::RouteRefresh(RouteRefresh::request(V4))));
    assert_eq!(
        refresh_events(&p.b.events),
        [
            RefreshSubtype::BeginningOfRefresh,
            RefreshSubtype::EndOfRefresh
        ]
    );
    let borr =
        p.b.events
            .iter()
            .position(|e| matches!(e, Event::RouteRefresh(_)))
            .unwrap();
    let eorr =
        p.b.events
            .iter()
            .rposition(|e| matches!(e, Event::RouteRefresh(_)))
            .unwrap();
    let updates: Vec<usize> = (0..p.b.events.len())
        .filter(|i| matches!(p.b.events[*i], Event::Update(_)))
        .collect();
    assert!(!updates.is_empty() && updates.iter().all(|i| borr < *i && *i < eorr));
    assert_eq!(p.b.announced, 10);
}

#[test]
fn plain_route_refresh_without_the_enhanced_capability() {
    let mut a = cfg(1);
    a.enhanced_route_refresh = false;
    let mut p = pair_with(a, cfg(2), 10);
    up(&mut p, 10);
    p.b.events.clear();
    p.b.announced = 0;
    p.command(Side::B, Command::RouteRefresh(V4));
    assert_eq!(p.a.source.refreshed, [V4]);
    assert_eq!(refresh_events(&p.b.events), []);
    assert_eq!(p.b.announced, 10);
}

#[test]
fn route_refresh_is_not_sent_for_a_family_not_negotiated() {
    let mut a = cfg(1);
    a.families = vec![V4];
    let mut p = pair_with(a, cfg(2), 10);
    up_v4_only(&mut p);
    p.command(Side::B, Command::RouteRefresh(V6));
    assert!(p.a.source.refreshed.is_empty());
}

fn up_v4_only(p: &mut Pair) {
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| p.established()
        && p.b.events.contains(&Event::EndOfRib(V4))));
}

fn limit(limit: u32, restart_after: Option<Duration>) -> MaxPrefix {
    MaxPrefix {
        family: V4,
        limit,
        restart_after,
    }
}

#[test]
fn max_prefix_sends_cease_6_1_and_restarts_after_the_delay() {
    let mut b = cfg(2);
    b.max_prefixes = vec![limit(5, Some(Duration::from_secs(60)))];
    let mut p = pair_with(cfg(1), b, 10);
    p.start();
    assert!(p.run_until(Duration::from_secs(60), |p| !downs(&p.b.events).is_empty()));
    let tripped = p.now;
    assert!(p.b.events.contains(&Event::MaxPrefixExceeded {
        family: V4,
        limit: 5
    }));
    let n = Notification::max_prefixes(V4, 5);
    assert_eq!(&n.data[..], &[0, 1, 1, 0, 0, 0, 5]);
    assert_eq!(
        downs(&p.b.events)[0].reason,
        DownReason::NotificationSent(n.clone())
    );
    assert_eq!(
        downs(&p.a.events)[0].reason,
        DownReason::NotificationReceived(n)
    );
    // Fewer than the limit ever reached the owner.
    assert!(p.b.announced <= 5);
    // B listens again only after 60 s.
    assert!(
        p.run_until(Duration::from_secs(600), |p| p.b.session.state()
            != StateKind::Idle)
    );
    assert_eq!(p.now - tripped, Duration::from_secs(60));
}

#[test]
fn max_prefix_without_restart_stays_down() {
    let mut b = cfg(2);
    b.max_prefixes = vec![limit(5, None)];
    let mut p = pair_with(cfg(1), b, 10);
    p.start();
    p.run_for(Duration::from_secs(1000));
    assert_eq!(p.b.session.state(), StateKind::Idle);
    assert_eq!(downs(&p.b.events).len(), 1);
}

#[test]
fn max_prefix_counts_distinct_prefixes() {
    // Exactly at the limit, and a refresh re-announcing the same prefixes changes nothing.
    let mut b = cfg(2);
    b.max_prefixes = vec![limit(10, None)];
    let mut p = pair_with(cfg(1), b, 10);
    up(&mut p, 10);
    p.command(Side::B, Command::RouteRefresh(V4));
    p.run_for(Duration::from_secs(5));
    assert!(p.established());
    assert_eq!(p.b.announced, 20);
}

/// An IPv4 UPDATE body builder: (attributes, NLRI) into a whole message.
fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = 19 + 2 + 2 + attrs.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

const GOOD_ATTRS: [u8; 18] = [
    0x40, 1, 1, 0, // ORIGIN IGP
    0x40, 2, 0, // AS_PATH empty
    0x40, 3, 4, 10, 0, 0, 9, // NEXT_HOP
    0x40, 5, 1, 100, // LOCAL_PREF, malformed length 1 (treat-as-withdraw, RFC 7606 §7.6)
];

#[test]
fn treat_as_withdraw_surfaces_as_withdrawal() {
    let mut p = pair_with(cfg(1), cfg(2), 0);
    up(&mut p, 0);
    p.b.events.clear();
    p.inject(Side::B, &update(&GOOD_ATTRS, &[24, 10, 9, 9]));
    let u =
        p.b.events
            .iter()
            .find_map(|e| match e {
                Event::Update(u) => Some(u.clone()),
                _ => None,
            })
            .unwrap();
    assert!(u.treat_as_withdraw(), "{:?}", u.errors);
    assert_eq!(u.announced().count(), 0);
    let w: Vec<String> = u
        .withdrawn_routes()
        .map(|(_, n)| n.prefix.to_string())
        .collect();
    assert_eq!(w, ["10.9.9.0/24"]);
    assert!(p.established());
}

#[test]
fn session_reset_update_errors_send_their_notification() {
    let mut p = pair_with(cfg(1), cfg(2), 0);
    up(&mut p, 0);
    // Withdrawn Routes Length overruns the message: 3/1 Malformed Attribute List.
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 23, 2, 0, 50, 0, 0]);
    p.inject(Side::B, &m);
    let d = downs(&p.b.events);
    let DownReason::NotificationSent(n) = &d[0].reason else {
        panic!("{d:?}")
    };
    assert_eq!((n.code, n.subcode), (3, 1));
    assert!(matches!(&downs(&p.a.events)[0].reason, DownReason::NotificationReceived(r) if r == n));
}

#[test]
fn routes_of_families_not_negotiated_are_dropped() {
    let mut a = cfg(1);
    a.families = vec![V4];
    let mut p = pair_with(a, cfg(2), 0);
    up_v4_only(&mut p);
    p.b.events.clear();
    // MP_REACH for IPv6: not negotiated on this session.
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0];
    let mp = [
        0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32, 0x20, 0x01,
        0x0d, 0xb8,
    ];
    attrs.extend_from_slice(&[0x80, 14, mp.len() as u8]);
    attrs.extend_from_slice(&mp);
    p.inject(Side::B, &update(&attrs, &[]));
    assert!(p.established());
    assert!(!p.b.events.iter().any(|e| matches!(e, Event::Update(_))));
}

#[test]
fn a_restarting_peer_may_reconnect_at_once() {
    // A's TCP connection breaks without NOTIFICATION (A restarting): B keeps A's routes and
    // listens again at once instead of refusing connections during the error IdleHold.
    let mut p = pair_with(cfg(1), cfg(2), 10);
    up(&mut p, 10);
    p.cut();
    assert_eq!(p.b.session.stale_families(), [V4, V6]);
    assert_eq!(p.b.session.state(), StateKind::Active);
    assert_eq!(p.b.session.timer(Timer::IdleHold), None);
    // The active side starts over at once too (Active, connect delay), not from Idle.
    assert_ne!(p.a.session.state(), StateKind::Idle);
    assert_eq!(p.a.session.timer(Timer::IdleHold), None);
}

#[test]
fn a_peer_without_graceful_restart_waits_the_error_idle_hold() {
    let mut a = cfg(1);
    a.graceful_restart = None;
    let mut p = pair_with(a, cfg(2), 10);
    up(&mut p, 10);
    p.cut();
    assert_eq!(p.b.session.state(), StateKind::Idle);
    assert_eq!(
        p.b.session.timer(Timer::IdleHold),
        Some(p.now + Duration::from_secs(5))
    );
}

#[test]
fn a_graceful_stop_under_the_n_bit_lets_the_peer_reconnect_at_once_a_hard_reset_not() {
    let mut p = pair_with(n_bit(1), n_bit(2), 10);
    up(&mut p, 10);
    p.command(
        Side::A,
        Command::GracefulStop {
            message: "bgpd restarting".into(),
        },
    );
    assert_eq!(p.b.session.stale_families(), [V4, V6]);
    assert_eq!(p.b.session.state(), StateKind::Active);
    assert_eq!(p.b.session.timer(Timer::IdleHold), None);

    let mut p = pair_with(n_bit(1), n_bit(2), 10);
    up(&mut p, 10);
    p.command(Side::A, Command::shutdown("maintenance"));
    assert_eq!(p.b.session.state(), StateKind::Idle);
    assert!(p.b.session.timer(Timer::IdleHold).is_some());
}

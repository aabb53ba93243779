//! Graceful restart, restarting side (RFC 4724 §4.1), against a raw test speaker over loopback
//! (no kernel, no root): an embedded daemon started in recovery (`-R`) announces the Restart
//! State bit, and defers its advertisements until the GR-capable peer sent End-of-RIB; then it
//! sends its routes followed by its own End-of-RIB. With a short wait timer and no End-of-RIB
//! from the peer, the timer ends the deferral. A peer without the capability is not waited for.
//!
//! Helper side: a GR-capable peer whose TCP connection closes without NOTIFICATION (it is
//! restarting) may reconnect at once; the error IdleHold does not refuse it.

mod loopback;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgp_core::wire::{Capability, Family, GracefulRestartCap, Open};
use bgpd::config::Config;
use bgpd::status::RouteQuery;
use bgpd::{Daemon, Handle, StartOptions};
use bytes::{Bytes, BytesMut};
use loopback::{socket_from, update};

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_EMPTY: [u8; 3] = [0x40, 2, 0];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 127, 0, 0, 9];
const LOCAL_PREF: [u8; 7] = [0x40, 5, 4, 0, 0, 0, 100];
/// The IPv4 unicast End-of-RIB: an UPDATE with nothing in it.
const EOR: [u8; 23] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 23, 2, 0, 0, 0, 0,
];

/// The daemon, listening on 127.0.0.1 port 0 (the kernel picks; `Handle::listen_addrs`), with
/// the raw speaker as GR-capable peer (hold time `hold`).
fn config(wait: u32, hold: u16) -> Config {
    Config::parse(
        &format!(
            r#"
router_id = "10.0.0.1"
asn = 64512
[listen]
addresses = ["127.0.0.1"]
port = 0
[kernel]
enabled = false
[graceful_restart]
wait_time = {wait}
[[static]]
prefix = "10.1.0.0/24"
blackhole = true
[[peers]]
name = "raw"
address = "127.0.0.9"
asn = 64512
passive = true
families = ["ipv4"]
hold_time = {hold}
"#
        ),
        "t",
    )
    .unwrap()
}

/// One whole message: (type, whole message bytes).
fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 19];
    s.read_exact(&mut h).unwrap();
    let len = u16::from_be_bytes([h[16], h[17]]) as usize;
    let mut m = h.to_vec();
    m.resize(len, 0);
    s.read_exact(&mut m[19..]).unwrap();
    (h[18], m)
}

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, 4,
];

/// Opens the session from 127.0.0.9 (with or without the GR capability); returns the socket
/// and the daemon's OPEN.
fn establish(port: u16, gr: bool) -> (TcpStream, Open) {
    let mut s = socket_from(Ipv4Addr::new(127, 0, 0, 9), port);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::FourOctetAs(64512),
    ];
    if gr {
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time: 120,
            families: vec![(Family::IPV4_UNICAST, true)],
        }));
    }
    let mut open = BytesMut::new();
    Open::new(64512, 90, Ipv4Addr::new(10, 0, 0, 9), caps)
        .encode(&mut open)
        .unwrap();
    s.write_all(&open).unwrap();
    let (ty, m) = read_msg(&mut s);
    assert_eq!(ty, 1, "OPEN from the daemon");
    let theirs = Open::decode(&Bytes::copy_from_slice(&m[19..])).unwrap();
    let mut ka = vec![0xff; 16];
    ka.extend([0, 19, 4]);
    s.write_all(&ka).unwrap();
    (s, theirs)
}

fn restart_state(o: &Open) -> Option<bool> {
    o.find_capability(|c| match c {
        Capability::GracefulRestart(g) => Some(g.restart_state),
        _ => None,
    })
}

fn has(h: &Handle, p: &str) -> bool {
    !h.control()
        .routes(&RouteQuery {
            prefix: Some(p.parse().unwrap()),
            ..Default::default()
        })
        .is_empty()
}

async fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until an UPDATE arrives (KEEPALIVEs skipped); returns the UPDATEs up to and
/// including the End-of-RIB.
fn updates_until_eor(s: &mut TcpStream) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let (ty, m) = read_msg(s);
        match ty {
            4 => continue,
            2 => {
                let eor = m == EOR;
                out.push(m);
                if eor {
                    return out;
                }
            }
            t => panic!("unexpected message type {t}"),
        }
    }
}

/// Whether an UPDATE announces 10.1.0.0/24 (its NLRI ends the message).
fn announces_10_1(m: &[u8]) -> bool {
    m.ends_with(&[24, 10, 1, 0])
}

async fn start(wait: u32, hold: u16) -> Handle {
    Daemon::start(
        config(wait, hold),
        StartOptions {
            no_kernel: true,
            recovery: true,
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_speaker_defers_until_the_peers_end_of_rib() {
    // Hold time 3 s: the daemon sends a KEEPALIVE every second, which we answer.
    let d = start(600, 3).await;
    let port = d.listen_addrs()[0].port();
    let (mut s, theirs) = tokio::task::spawn_blocking(move || establish(port, true))
        .await
        .unwrap();
    assert_eq!(restart_state(&theirs), Some(true), "R bit in recovery");

    // The window: from the session's start until we send our End-of-RIB. Every message the
    // daemon sends in it is read as it comes: KEEPALIVEs only. It closes once our route is in
    // the daemon's RIB (without deferral, the daemon's own UPDATE was due when the session
    // came up, before that) and two more of the daemon's KEEPALIVEs came after that.
    let good = [&ORIGIN_IGP[..], &AS_PATH_EMPTY, &NEXT_HOP, &LOCAL_PREF].concat();
    s.write_all(&update(&good, &[24, 10, 2, 0])).unwrap();
    let ctl = d.control();
    let mut s = tokio::task::spawn_blocking(move || {
        let learned = || {
            !ctl.routes(&RouteQuery {
                prefix: Some("10.2.0.0/24".parse().unwrap()),
                ..Default::default()
            })
            .is_empty()
        };
        let (mut seen, mut after) = (Vec::new(), 0);
        while after < 2 {
            let (ty, _) = read_msg(&mut s);
            seen.push(ty);
            assert_eq!(
                ty, 4,
                "only KEEPALIVEs before our End-of-RIB, got types {seen:?}"
            );
            s.write_all(&KEEPALIVE).unwrap();
            if learned() {
                after += 1;
            }
        }
        s
    })
    .await
    .unwrap();
    assert!(has(&d, "10.2.0.0/24"));
    assert!(d.control().status().graceful_restart.is_some());

    // Our End-of-RIB ends the recovery: the daemon's routes, then its End-of-RIB.
    s.write_all(&EOR).unwrap();
    let (ups, s) = tokio::task::spawn_blocking(move || (updates_until_eor(&mut s), s))
        .await
        .unwrap();
    let (last, routes) = ups.split_last().unwrap();
    assert_eq!(*last, EOR.to_vec());
    assert!(
        routes.iter().any(|m| announces_10_1(m)),
        "10.1.0.0/24 announced before the End-of-RIB: {routes:?}"
    );
    assert!(d.control().status().graceful_restart.is_none());
    drop(s);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_timer_ends_the_deferral() {
    let d = start(2, 90).await;
    let port = d.listen_addrs()[0].port();
    let (mut s, theirs) = tokio::task::spawn_blocking(move || establish(port, true))
        .await
        .unwrap();
    assert_eq!(restart_state(&theirs), Some(true));
    // No End-of-RIB from us: the routes and End-of-RIB come once the wait timer ended.
    let ups = tokio::task::spawn_blocking(move || updates_until_eor(&mut s))
        .await
        .unwrap();
    assert!(ups.iter().any(|m| announces_10_1(m)), "{ups:?}");
    assert!(d.control().status().graceful_restart.is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_graceful_restart_is_not_waited_for() {
    let d = start(600, 90).await;
    let port = d.listen_addrs()[0].port();
    let (mut s, _) = tokio::task::spawn_blocking(move || establish(port, false))
        .await
        .unwrap();
    // The only peer is not GR-capable: nothing to wait for, the routes come without our
    // End-of-RIB and long before the 600 s timer.
    let ups = tokio::task::spawn_blocking(move || updates_until_eor(&mut s))
        .await
        .unwrap();
    assert!(ups.iter().any(|m| announces_10_1(m)), "{ups:?}");
    wait("recovery over", || {
        d.control().status().graceful_restart.is_none()
    })
    .await;
    d.stop().await;
}

fn state(h: &Handle) -> String {
    h.control()
        .protocols()
        .into_iter()
        .find(|p| p.name == "raw")
        .and_then(|p| p.bgp)
        .map(|b| b.state)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_peer_reconnects_at_once() {
    let d = Daemon::start(
        config(600, 90),
        StartOptions {
            no_kernel: true,
            recovery: false,
        },
    )
    .await
    .unwrap();
    let port = d.listen_addrs()[0].port();
    let (mut s, _) = tokio::task::spawn_blocking(move || establish(port, true))
        .await
        .unwrap();
    let good = [&ORIGIN_IGP[..], &AS_PATH_EMPTY, &NEXT_HOP, &LOCAL_PREF].concat();
    s.write_all(&update(&good, &[24, 10, 2, 0])).unwrap();
    s.write_all(&EOR).unwrap();
    wait("10.2.0.0/24 learned", || has(&d, "10.2.0.0/24")).await;
    // The speaker "restarts": TCP closed without NOTIFICATION.
    drop(s);
    wait("session down", || state(&d) != "Established").await;
    assert!(has(&d, "10.2.0.0/24"), "helper keeps the routes (stale)");
    // It comes back at once: the daemon answers with its OPEN (an error IdleHold would
    // refuse the connection, closing it unanswered).
    let (mut s, _) = tokio::task::spawn_blocking(move || establish(port, true))
        .await
        .unwrap();
    wait("Established again", || state(&d) == "Established").await;
    s.write_all(&update(&good, &[24, 10, 2, 0])).unwrap();
    s.write_all(&EOR).unwrap();
    wait("route refreshed, not stale", || {
        d.control()
            .routes(&RouteQuery {
                prefix: Some("10.2.0.0/24".parse().unwrap()),
                ..Default::default()
            })
            .first()
            .is_some_and(|r| !r.stale)
    })
    .await;
    drop(s);
    d.stop().await;
}

//! Replays the byte streams captured from real BIRD 2, BIRD 1.6 and FRR sessions
//! (`tests/captures/`, see its README) into a [`Session`] configured as the receiving daemon
//! was: the session reaches Established, yields exactly the captured routes and End-of-RIB
//! markers, and ends the way the capture ends (the sender's Cease 6/2 "maintenance", or still
//! Established when the capture stops first).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use bgp_core::session::{
    Command, DownReason, Event, GracefulRestartConfig, NoUpdates, Session, SessionConfig, StateKind,
};
use bgp_core::wire::{frame, AddPathMode, Capability, Message, Negotiated, Open};
use bytes::BytesMut;
use serde_json::Value;

/// (stream, the stream in the other direction): the receiver's OPEN opens the reverse stream.
const STREAMS: &[(&str, &str)] = &[
    ("bird2-to-frr-ibgp", "frr-to-bird2-ibgp"),
    ("frr-to-bird2-ibgp", "bird2-to-frr-ibgp"),
    ("bird2-to-frr-ebgp", "frr-to-bird2-ebgp"),
    ("frr-to-bird2-ebgp", "bird2-to-frr-ebgp"),
    ("bird16-to-frr-ibgp", "frr-to-bird16-ibgp"),
    ("frr-to-bird16-ibgp", "bird16-to-frr-ibgp"),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn stream(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.bin"))).unwrap()
}

fn first_open(name: &str) -> Open {
    let data = stream(name);
    let len = frame(&data, 4096).unwrap().unwrap();
    match Message::decode(data[..len].to_vec().into(), &Negotiated::default()).unwrap() {
        Message::Open(o) => o,
        m => panic!("{name} starts with {m:?}"),
    }
}

/// The configuration the receiving daemon had, as far as its OPEN shows it.
fn receiver_config(receiver: &Open, sender: &Open) -> SessionConfig {
    let mut c = SessionConfig::new(receiver.asn(), receiver.bgp_id, Some(sender.asn()));
    c.passive = true;
    c.hold_time = receiver.hold_time;
    c.families = receiver
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
        .collect();
    let has = |code: u8| receiver.capabilities.iter().any(|c| c.code() == code);
    c.route_refresh = has(2);
    c.enhanced_route_refresh = has(70);
    c.extended_message = has(6);
    c.add_path = receiver
        .find_capability(|c| match c {
            Capability::AddPath(v) => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default();
    c.graceful_restart = receiver.find_capability(|c| match c {
        Capability::GracefulRestart(g) => Some(GracefulRestartConfig {
            restart_time: g.restart_time,
            notification: g.notification,
            ..GracefulRestartConfig::default()
        }),
        _ => None,
    });
    c
}

fn listing(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir().join(format!("{name}.routes.json"))).unwrap(),
    )
    .unwrap()
}

fn replay(name: &str, reverse: &str, chunk: usize) {
    let sender = first_open(name);
    let receiver = first_open(reverse);
    let mut s = Session::new(receiver_config(&receiver, &sender)).unwrap();
    let now = Instant::now();
    s.handle_command(now, Command::Start);
    assert!(s.handle_connected(now));
    let mut out = BytesMut::new();
    let mut sent = Vec::new();
    let mut events = Vec::new();
    while s.poll_transmit(now, &mut out, &mut NoUpdates) {
        sent.push(Message::decode(out.split().freeze(), &Negotiated::default()).unwrap());
    }
    for piece in stream(name).chunks(chunk) {
        s.handle_bytes(now, piece);
        while s.poll_transmit(now, &mut out, &mut NoUpdates) {
            sent.push(Message::decode(out.split().freeze(), &Negotiated::default()).unwrap());
        }
        events.extend(std::iter::from_fn(|| s.poll_event()));
    }
    let want = listing(name);

    // Established, with the capture's ADD-PATH negotiation.
    let neg = events
        .iter()
        .find_map(|e| match e {
            Event::Established(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name}: never Established: {events:?}"));
    let ap: Vec<String> = neg.add_path_rx.iter().map(|f| f.to_string()).collect();
    let want_ap: Vec<String> = want["negotiated"]["add_path_in_this_direction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ap, want_ap, "{name}");
    // We sent our OPEN (and, when given the chance between pieces, the KEEPALIVE that
    // accepts theirs), and no NOTIFICATION.
    assert!(matches!(sent.first(), Some(Message::Open(_))), "{name}");
    if chunk < 100 {
        assert!(
            matches!(sent.get(1), Some(Message::Keepalive)),
            "{name}: {sent:?}"
        );
    }
    assert!(
        !sent.iter().any(|m| matches!(m, Message::Notification(_))),
        "{name}: {sent:?}"
    );

    // Exactly the captured routes.
    let mut got = BTreeSet::new();
    let mut withdrawn = 0;
    for e in &events {
        if let Event::Update(u) = e {
            assert!(u.errors.is_empty(), "{name}: {:?}", u.errors);
            for a in u.announced() {
                for n in a.nlri {
                    got.insert(format!("{} {} {:?}", a.family, n.prefix, n.path_id));
                }
            }
            withdrawn += u.withdrawn_routes().count();
        }
    }
    let listed: BTreeSet<String> = want["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?}",
                r["family"].as_str().unwrap(),
                r["prefix"].as_str().unwrap(),
                r["path_id"].as_u64().map(|v| v as u32)
            )
        })
        .collect();
    assert_eq!(got, listed, "{name}");
    assert_eq!(
        withdrawn,
        want["withdrawn"].as_array().unwrap().len(),
        "{name}"
    );

    // End-of-RIB per family, as captured.
    let eors = events
        .iter()
        .filter(|e| matches!(e, Event::EndOfRib(_)))
        .count();
    assert_eq!(
        eors as u64,
        want["message_counts"]["End-of-RIB"].as_u64().unwrap(),
        "{name}"
    );

    // How the capture ends.
    let last = want["messages"].as_array().unwrap().last().unwrap();
    if last["type"] == "NOTIFICATION" {
        let down = events
            .iter()
            .find_map(|e| match e {
                Event::Down(d) => Some(d.clone()),
                _ => None,
            })
            .unwrap();
        let DownReason::NotificationReceived(n) = &down.reason else {
            panic!("{name}: {down:?}");
        };
        assert_eq!((n.code, n.subcode), (6, 2), "{name}");
        assert_eq!(
            n.shutdown_communication(),
            last["shutdown_communication"].as_str()
        );
        assert!(
            down.was_established() && down.keep_stale.is_empty(),
            "{name}"
        );
        assert_eq!(s.state(), StateKind::Idle);
    } else {
        assert_eq!(s.state(), StateKind::Established, "{name}");
    }
}

#[test]
fn captured_streams_establish_and_yield_the_captured_routes() {
    for (name, reverse) in STREAMS {
        replay(name, reverse, usize::MAX);
    }
}

#[test]
fn captured_streams_in_small_pieces() {
    for (name, reverse) in STREAMS {
        for chunk in [1, 7, 100] {
            replay(name, reverse, chunk);
        }
    }
}

#[test]
fn receiver_config_reproduces_add_path_modes() {
    // The helper above must not invent capabilities: BIRD 2's iBGP receiver offers ADD-PATH
    // send+receive for IPv4 only.
    let c = receiver_config(
        &first_open("bird2-to-frr-ibgp"),
        &first_open("frr-to-bird2-ibgp"),
    );
    assert_eq!(
        c.add_path,
        [(bgp_core::wire::Family::IPV4_UNICAST, AddPathMode::Both)]
    );
}

//! Replays byte streams captured from real BIRD 2, BIRD 1.6 and FRR sessions
//! (`tests/captures/`, made by `scripts/capture-bgp-streams.sh`) through the codec: every message
//! frames and decodes, the routes are exactly those the capture's listing names, and every
//! message re-encodes to the same value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use bgp_core::wire::{frame, Family, Message, Negotiated, NextHop, NextHopRef, Open, Origin};
use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// (stream, the stream in the other direction) — the receiver's OPEN opens the reverse stream.
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

fn messages(name: &str) -> Vec<Bytes> {
    let data = Bytes::from(std::fs::read(dir().join(format!("{name}.bin"))).unwrap());
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len = frame(&data[pos..], 65535)
            .unwrap()
            .expect("stream ends inside a message");
        out.push(data.slice(pos..pos + len));
        pos += len;
    }
    out
}

fn open_of(name: &str) -> Open {
    match Message::decode(messages(name)[0].clone(), &Negotiated::default()).unwrap() {
        Message::Open(o) => o,
        m => panic!("{name} starts with {m:?}"),
    }
}

/// A route as the listing and the decoder both describe it, in one comparable string.
fn listed(r: &Value) -> String {
    let strs = |k: &str| -> Vec<String> {
        r[k].as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let path: Vec<String> = r["as_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let asns: Vec<String> = s["asns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect();
            format!("{}:{}", s["type"].as_str().unwrap(), asns.join(" "))
        })
        .collect();
    format!(
        "{} {} id={} nh={} origin={} path=[{}] med={} lp={} comm={} large={}",
        r["family"].as_str().unwrap(),
        r["prefix"].as_str().unwrap(),
        r["path_id"],
        strs("next_hop").join(","),
        r["origin"].as_str().unwrap(),
        path.join(";"),
        r["med"],
        r["local_pref"],
        strs("communities").join(","),
        strs("large_communities").join(","),
    )
}

fn decoded(
    family: Family,
    prefix: &bgp_core::wire::Nlri,
    nh: Option<NextHopRef<'_>>,
    u: &bgp_core::wire::Update,
) -> String {
    let a = &u.attrs;
    let nh = match nh {
        Some(NextHopRef::V4(v)) => v.to_string(),
        Some(NextHopRef::Mp(NextHop::V4(v))) => v.to_string(),
        Some(NextHopRef::Mp(NextHop::V6 { global, link_local })) => {
            let mut s = global.to_string();
            if let Some(ll) = link_local {
                s += &format!(",{ll}");
            }
            s
        }
        other => panic!("unexpected next hop {other:?}"),
    };
    let path: Vec<String> = a
        .as_path
        .as_ref()
        .unwrap()
        .segments()
        .map(|s| {
            let kind = match s.kind {
                bgp_core::wire::SegmentKind::Sequence => "AS_SEQUENCE",
                bgp_core::wire::SegmentKind::Set => "AS_SET",
                _ => "CONFED",
            };
            let asns: Vec<String> = s.asns.iter().map(|a| a.to_string()).collect();
            format!("{kind}:{}", asns.join(" "))
        })
        .collect();
    let origin = match a.origin.unwrap() {
        Origin::Igp => "IGP",
        Origin::Egp => "EGP",
        Origin::Incomplete => "INCOMPLETE",
    };
    let opt = |v: Option<u32>| v.map_or("null".to_string(), |v| v.to_string());
    format!(
        "{family} {} id={} nh={nh} origin={origin} path=[{}] med={} lp={} comm={} large={}",
        prefix.prefix,
        prefix.path_id.map_or("null".to_string(), |v| v.to_string()),
        path.join(";"),
        opt(a.med),
        opt(a.local_pref),
        a.communities
            .iter()
            .map(|c| format!("{}:{}", c.asn(), c.value()))
            .collect::<Vec<_>>()
            .join(","),
        a.large_communities
            .iter()
            .map(|c| format!("{}:{}:{}", c.global, c.local1, c.local2))
            .collect::<Vec<_>>()
            .join(","),
    )
}

#[test]
fn captured_streams_decode_to_the_listed_routes() {
    let mut byte_exact = 0;
    let mut total = 0;
    for (name, reverse) in STREAMS {
        let listing: Value = serde_json::from_str(
            &std::fs::read_to_string(dir().join(format!("{name}.routes.json"))).unwrap(),
        )
        .unwrap();
        // Decode as the receiver does: its OPEN is local, the sender's is remote.
        let ctx = Negotiated::new(&open_of(reverse), &open_of(name));
        let want_ap: Vec<String> = listing["negotiated"]["add_path_in_this_direction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let got_ap: Vec<String> = ctx.add_path_rx.iter().map(|f| f.to_string()).collect();
        assert_eq!(got_ap, want_ap, "{name}: ADD-PATH negotiation");
        let peer_ctx = ctx.mirror();

        let mut routes = Vec::new();
        let mut sequence = Vec::new();
        for msg in messages(name) {
            let m = Message::decode(msg.clone(), &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            match &m {
                Message::Update(u) => {
                    assert!(u.errors.is_empty(), "{name}: {:?}", u.errors);
                    if let Some(f) = u.end_of_rib_family() {
                        sequence.push(format!("End-of-RIB({f})"));
                    } else {
                        sequence.push("UPDATE".into());
                    }
                    for ann in u.announced() {
                        for n in ann.nlri {
                            routes.push(decoded(ann.family, n, ann.next_hop, u));
                        }
                    }
                }
                Message::Notification(n) => sequence.push(format!(
                    "NOTIFICATION({}/{} {:?})",
                    n.code,
                    n.subcode,
                    n.shutdown_communication().unwrap_or_default()
                )),
                other => sequence.push(format!("{:?}", other.message_type()).to_uppercase()),
            }
            // Re-encode from the sender's side and decode again: the same value. Count the
            // messages that also come out byte for byte.
            let mut out = BytesMut::new();
            m.encode(&peer_ctx, &mut out).unwrap();
            let again = Message::decode(out.clone().freeze(), &ctx).unwrap();
            assert_eq!(again, m, "{name}: re-encoded message differs");
            total += 1;
            if out[..] == msg[..] {
                byte_exact += 1;
            } else if let Message::Update(_) = m {
                // Senders may use the 2-octet length form for short attributes (BIRD does for
                // MP_REACH_NLRI, FRR for AS_PATH): equal once lengths are written minimally.
                assert_eq!(
                    minimal_lengths(&out),
                    minimal_lengths(&msg),
                    "{name}: UPDATE bytes"
                );
            }
        }
        let mut want: Vec<String> = listing["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(listed)
            .collect();
        want.sort();
        routes.sort();
        assert_eq!(routes, want, "{name}: routes");
        // The listing's sequence, with runs of UPDATEs written "UPDATE xN".
        let mut compact: Vec<String> = Vec::new();
        let mut run = 0;
        for s in sequence.iter().chain(std::iter::once(&"END".to_string())) {
            if s == "UPDATE" {
                run += 1;
                continue;
            }
            if run > 0 {
                compact.push(format!("UPDATE x{run}"));
                run = 0;
            }
            if s != "END" {
                compact.push(s.clone());
            }
        }
        let want_seq = listing["message_sequence"].as_str().unwrap();
        assert_eq!(compact.join(" "), want_seq, "{name}: message sequence");
    }
    // The rest differ only in length-field form (checked above) or, for FRR's OPENs, in putting
    // each capability in an optional parameter of its own (checked by value).
    eprintln!("{byte_exact} of {total} captured messages re-encode byte for byte");
    assert!(byte_exact > 0);
}

/// An UPDATE with every attribute length in its shortest form.
fn minimal_lengths(msg: &[u8]) -> Vec<u8> {
    let body = &msg[19..];
    let wlen = u16::from_be_bytes([body[0], body[1]]) as usize;
    let alen = u16::from_be_bytes([body[2 + wlen], body[3 + wlen]]) as usize;
    let attrs = &body[4 + wlen..4 + wlen + alen];
    let mut out_attrs = Vec::new();
    let mut i = 0;
    while i < attrs.len() {
        let (flags, code) = (attrs[i], attrs[i + 1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            (u16::from_be_bytes([attrs[i + 2], attrs[i + 3]]) as usize, 4)
        } else {
            (attrs[i + 2] as usize, 3)
        };
        let value = &attrs[i + hdr..i + hdr + len];
        if len > 255 {
            out_attrs.extend_from_slice(&[flags | 0x10, code]);
            out_attrs.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out_attrs.extend_from_slice(&[flags & !0x10, code, len as u8]);
        }
        out_attrs.extend_from_slice(value);
        i += hdr + len;
    }
    let mut v = body[..2 + wlen].to_vec();
    v.extend_from_slice(&(out_attrs.len() as u16).to_be_bytes());
    v.extend_from_slice(&out_attrs);
    v.extend_from_slice(&body[4 + wlen + alen..]);
    v
}

#[test]
fn captured_notification_carries_the_shutdown_communication() {
    let last = messages("bird2-to-frr-ibgp").pop().unwrap();
    match Message::decode(last, &Negotiated::default()).unwrap() {
        Message::Notification(n) => {
            assert_eq!((n.code, n.subcode), (6, 2));
            assert_eq!(n.shutdown_communication(), Some("maintenance"));
        }
        m => panic!("{m:?}"),
    }
}

#[test]
fn captured_opens_negotiate_as_the_daemons_did() {
    let bird = open_of("bird2-to-frr-ibgp");
    let frr = open_of("frr-to-bird2-ibgp");
    let ctx = Negotiated::new(&bird, &frr);
    assert!(ctx.four_octet_as);
    assert!(ctx.route_refresh && ctx.enhanced_route_refresh);
    assert!(
        !ctx.extended_message,
        "BIRD 2.0.12 does not announce extended messages"
    );
    assert_eq!(
        ctx.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(ctx.peer_hostname.as_deref(), Some("frr-b"));
    let gr = ctx.peer_graceful_restart.unwrap();
    assert_eq!(
        (gr.restart_time, gr.restart_state, gr.notification),
        (120, true, true)
    );
    assert_eq!(ctx.hold_time, 9);
}

//! RFC 7606 at the daemon level (root): a raw eBGP speaker (hand-made messages, in a namespace
//! of its own) against a `bgpd` process that programs its kernel, observed through the control
//! socket (`--json`) and the kernel table:
//! * attribute discard keeps the route and drops the attribute: LOCAL_PREF (§7.5) and
//!   ORIGINATOR_ID (§7.9) from an eBGP peer, an ATOMIC_AGGREGATE of the wrong length (§7.6);
//!   the session stays up, no NOTIFICATION is sent;
//! * treat-as-withdraw (§7.1, an undefined ORIGIN) removes that prefix only, from the RIB and
//!   the kernel;
//! * session reset: an NLRI prefix longer than 32 bits (RFC 4271 §6.3, RFC 7606 §5.3) makes the
//!   daemon send an UPDATE Message Error NOTIFICATION and drop the session, and every route of
//!   that peer leaves the kernel.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgp_core::wire::{Capability, Family, Open};
use bgpd_lab::bgpd::BgpdRoute;
use bgpd_lab::{Lab, NodeNet};
use bytes::BytesMut;
use common::{ours, protocols, routes, start, wait_all_established, wait_kernel};

const SPEAKER_AS: u16 = 65009;

fn config(d: &NodeNet, speaker: Ipv4Addr) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 65001
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[[peers]]
name = "raw"
address = "{speaker}"
asn = {SPEAKER_AS}
passive = true
families = ["ipv4"]
hold_time = 90
"#,
        ip = d.ip4(),
    )
}

/// Connects from `ns` (a thread that enters it) to `to`:179.
fn connect_from(ns: &str, to: Ipv4Addr) -> TcpStream {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        TcpStream::connect_timeout(&(to, 179).into(), Duration::from_secs(10)).unwrap()
    })
    .join()
    .unwrap()
}

/// One whole message: (type, body).
fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 19];
    s.read_exact(&mut h).unwrap();
    let len = u16::from_be_bytes([h[16], h[17]]) as usize;
    let mut body = vec![0; len - 19];
    s.read_exact(&mut body).unwrap();
    (h[18], body)
}

/// An UPDATE with these path attributes and IPv4 NLRI.
fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = 19 + 2 + 2 + attrs.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend((len as u16).to_be_bytes());
    m.push(2);
    m.extend([0, 0]);
    m.extend((attrs.len() as u16).to_be_bytes());
    m.extend(attrs);
    m.extend(nlri);
    m
}

fn route(n: &NodeNet, prefix: &str) -> Option<BgpdRoute> {
    routes(n)
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.prefix == prefix && r.protocol == "raw")
}

/// (NOTIFICATIONs sent, established_since) of the session with the speaker.
fn session(n: &NodeNet) -> (u64, String) {
    let v: serde_json::Value = serde_json::from_str(
        &common::cli(n, &["show", "protocols", "all", "raw", "--json"]).unwrap(),
    )
    .unwrap();
    let b = &v["protocols"][0]["bgp"];
    (
        b["messages_out"]["notification"].as_u64().unwrap(),
        b["established_since"].to_string(),
    )
}

#[test]
fn attribute_discard_treat_as_withdraw_and_session_reset() {
    let mut lab = Lab::new("bgpd_rfc7606").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let sp = lab.node("speaker", &[(&lan, 12)], None).unwrap();
    let _p = start(&d, &config(&d, sp.ip4()), 0);
    let nh = sp.ip4().octets();
    let s4 = sp.ip4().to_string();

    let mut s = connect_from(&sp.ns, d.ip4());
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut open = BytesMut::new();
    Open::new(
        u32::from(SPEAKER_AS),
        90,
        sp.ip4(),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::FourOctetAs(u32::from(SPEAKER_AS)),
        ],
    )
    .encode(&mut open)
    .unwrap();
    s.write_all(&open).unwrap();
    assert_eq!(read_msg(&mut s).0, 1, "OPEN from the daemon");
    s.write_all(&[[0xff; 16].as_slice(), &[0, 19, 4]].concat())
        .unwrap();
    wait_all_established(&d, 1, 30);
    let up = session(&d);

    let origin = [0x40u8, 1, 1, 0];
    // AS_SEQUENCE of one 4-octet AS (both sides announced 4-octet AS support).
    let asn = u32::from(SPEAKER_AS).to_be_bytes();
    let as_path = [0x40u8, 2, 6, 2, 1, asn[0], asn[1], asn[2], asn[3]];
    let next_hop = [0x40u8, 3, 4, nh[0], nh[1], nh[2], nh[3]];
    let base = [&origin[..], &as_path, &next_hop].concat();
    // Two plain routes.
    s.write_all(&update(&base, &[24, 10, 5, 0, 24, 10, 6, 0]))
        .unwrap();
    // LOCAL_PREF 777 from an eBGP peer (§7.5: discarded).
    let lp = [&base[..], &[0x40, 5, 4, 0, 0, 3, 9]].concat();
    s.write_all(&update(&lp, &[24, 10, 7, 0])).unwrap();
    // ORIGINATOR_ID from an eBGP peer (§7.9: discarded).
    let oid = [&base[..], &[0x80, 9, 4, 10, 99, 99, 99]].concat();
    s.write_all(&update(&oid, &[24, 10, 8, 0])).unwrap();
    // ATOMIC_AGGREGATE with one octet of value (§7.6: discarded).
    let aa = [&base[..], &[0x40, 6, 1, 0]].concat();
    s.write_all(&update(&aa, &[24, 10, 9, 0])).unwrap();
    let all = [
        "10.5.0.0/24",
        "10.6.0.0/24",
        "10.7.0.0/24",
        "10.8.0.0/24",
        "10.9.0.0/24",
    ];
    wait_kernel(
        &d,
        bgpd_lab::Family::V4,
        30,
        "the five routes installed via the speaker",
        |r| all.iter().all(|p| common::via(r, p, &s4)),
    );
    let r7 = route(&d, "10.7.0.0/24").unwrap();
    assert_ne!(
        r7.bgp.as_ref().and_then(|b| b.local_pref),
        Some(777),
        "LOCAL_PREF of an eBGP peer kept: {r7:?}"
    );
    let r8 = route(&d, "10.8.0.0/24").unwrap();
    assert_eq!(
        r8.bgp.as_ref().and_then(|b| b.originator_id.clone()),
        None,
        "ORIGINATOR_ID of an eBGP peer kept: {r8:?}"
    );
    assert!(route(&d, "10.9.0.0/24").is_some());

    // Treat-as-withdraw: an undefined ORIGIN for 10.5.0.0/24 withdraws it, nothing else.
    let bad_origin = [&[0x40u8, 1, 1, 7][..], &as_path, &next_hop].concat();
    s.write_all(&update(&bad_origin, &[24, 10, 5, 0])).unwrap();
    wait_kernel(
        &d,
        bgpd_lab::Family::V4,
        30,
        "10.5.0.0/24 withdrawn from the kernel",
        |r| !r.iter().any(|k| k.dst == "10.5.0.0/24"),
    );
    assert!(all[1..]
        .iter()
        .all(|p| common::via(&ours(&d, bgpd_lab::Family::V4), p, &s4)));
    // Over the whole run so far: no NOTIFICATION, the same session.
    assert_eq!(session(&d), (0, up.1.clone()), "session reset meanwhile");

    // Session reset: a /33 in the NLRI field.
    s.write_all(&update(&base, &[33, 10, 10, 0, 0, 0])).unwrap();
    let (ty, body) = loop {
        // KEEPALIVEs and the daemon's End-of-RIB may come first.
        let m = read_msg(&mut s);
        if m.0 != 4 && m.0 != 2 {
            break m;
        }
    };
    assert_eq!(ty, 3, "NOTIFICATION, got type {ty}: {body:?}");
    assert_eq!(body[0], 3, "UPDATE Message Error, got {body:?}");
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap(),
        0,
        "the daemon closed the session"
    );
    wait_kernel(
        &d,
        bgpd_lab::Family::V4,
        30,
        "every route of the speaker left the kernel",
        |r| !r.iter().any(|k| k.gateway.as_deref() == Some(&*s4)),
    );
    assert!(all.iter().all(|p| route(&d, p).is_none()));
    let (sent, _) = session(&d);
    assert_eq!(sent, 1, "one NOTIFICATION sent");
    let p = protocols(&d).unwrap();
    assert!(
        p.iter()
            .any(|p| p.name == "raw" && p.bgp.as_ref().is_some_and(|b| b.state != "Established")),
        "{p:?}"
    );
}

/// A speaker without the 4-octet AS capability (RFC 6793 OLD speaker) sends a path with an
/// AS_SET whose 4-octet ASes it only knows as AS_TRANS, plus the AS4_PATH a NEW speaker
/// before it attached: bgpd merges them (the leading AS of AS_PATH, then AS4_PATH, the
/// AS_SET intact) and no AS_TRANS is left.
#[test]
fn two_octet_speaker_path_with_an_as_set_is_merged_with_as4_path() {
    let mut lab = Lab::new("bgpd_as4_merge").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let sp = lab.node("speaker", &[(&lan, 12)], None).unwrap();
    let _p = start(&d, &config(&d, sp.ip4()), 0);
    let nh = sp.ip4().octets();

    let mut s = connect_from(&sp.ns, d.ip4());
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut open = BytesMut::new();
    Open::new(
        u32::from(SPEAKER_AS),
        90,
        sp.ip4(),
        vec![Capability::Multiprotocol(Family::IPV4_UNICAST)],
    )
    .encode(&mut open)
    .unwrap();
    s.write_all(&open).unwrap();
    assert_eq!(read_msg(&mut s).0, 1, "OPEN from the daemon");
    s.write_all(&[[0xff; 16].as_slice(), &[0, 19, 4]].concat())
        .unwrap();
    wait_all_established(&d, 1, 30);

    let [s1, s2] = SPEAKER_AS.to_be_bytes();
    let trans = 23456u16.to_be_bytes();
    let as10 = 65010u16.to_be_bytes();
    // AS_PATH (2-octet): SEQ (65009 23456), SET {23456 65010}.
    let as_path = [
        0x40, 2, 12, 2, 2, s1, s2, trans[0], trans[1], 1, 2, trans[0], trans[1], as10[0], as10[1],
    ];
    // AS4_PATH: SEQ (4200000005), SET {4200000006 65010}.
    let a5 = 4_200_000_005u32.to_be_bytes();
    let a6 = 4_200_000_006u32.to_be_bytes();
    let a10 = 65010u32.to_be_bytes();
    let as4_path = [&[0xc0u8, 17, 16, 2, 1][..], &a5, &[1, 2], &a6, &a10].concat();
    let attrs = [
        &[0x40u8, 1, 1, 0][..],
        &as_path,
        &[0x40, 3, 4, nh[0], nh[1], nh[2], nh[3]],
        &as4_path,
    ]
    .concat();
    s.write_all(&update(&attrs, &[24, 10, 64, 0])).unwrap();
    wait_kernel(
        &d,
        bgpd_lab::Family::V4,
        30,
        "10.64.0.0/24 installed",
        |r| r.iter().any(|k| k.dst == "10.64.0.0/24"),
    );
    let r = route(&d, "10.64.0.0/24").unwrap();
    let path = r
        .bgp
        .as_ref()
        .map(|b| b.as_path.clone())
        .unwrap_or_default();
    assert!(path.starts_with("65009 4200000005 "), "{path}");
    let set = path.trim_start_matches("65009 4200000005 ");
    for asn in ["4200000006", "65010"] {
        assert!(set.contains(asn), "{asn} in the AS_SET: {path}");
    }
    assert!(
        set.starts_with('{') && set.ends_with('}'),
        "an AS_SET: {path}"
    );
    assert!(!path.contains("23456"), "AS_TRANS left: {path}");
}

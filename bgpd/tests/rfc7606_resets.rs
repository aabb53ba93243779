//! The UPDATE and OPEN errors that reset the session, rule by rule, against a `bgpd` process
//! (root, network namespaces): RFC 4271 §6.1–6.3, RFC 7606 §3 c, §3 g, §4, §5.3, §7.11, §7.12
//! and RFC 7607. A raw speaker brings the session up, has a clean route installed, sends one
//! crafted message; the daemon must answer with the rule's NOTIFICATION (code, subcode), close
//! the connection, and take the speaker's route out of its RIB and the kernel. The table of rules
//! and tests is in docs/testing.md.

mod common;

use bgpd_lab::{Family, Lab, NodeNet};
use common::raw::{asn4, attr, config, peer, route, update, with_header, RawPeer, D_AS};
use common::{start, wait_kernel};

/// What a reset case sends after the clean route is installed.
enum Bad {
    /// An UPDATE body (after the header).
    UpdateBody(Vec<u8>),
    /// A whole message, header included.
    Raw(Vec<u8>),
    /// An OPEN instead of the speaker's clean one (no session comes up).
    Open(Vec<u8>),
}

fn body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    update(withdrawn, attrs, nlri)[19..].to_vec()
}

fn established(d: &NodeNet, name: &str) -> bool {
    common::protocols(d)
        .unwrap_or_default()
        .iter()
        .any(|p| p.name == name && p.bgp.as_ref().is_some_and(|b| b.state == "Established"))
}

#[test]
fn session_reset_errors_rule_by_rule_send_the_notification() {
    let mut lab = Lab::new("bgpd_rfc7606_resets").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let x = lab.node("x", &[(&lan, 12)], None).unwrap();
    const X_AS: u32 = 65030;
    // No error back-off: each case reconnects at once.
    let _p = start(
        &d,
        &config(&d, &[peer("x", x.ip4(), X_AS, "error_wait_time = [0, 0]")]),
        0,
    );
    let origin = attr(0x40, 1, &[0]);
    let path = attr(0x40, 2, &[&[2u8, 1][..], &asn4(X_AS)].concat());
    let nh = attr(0x40, 3, &x.ip4().octets());
    let base = [&origin[..], &path, &nh].concat();
    let mp = |value: &[u8]| attr(0x80, 14, value);
    let mp_v4 = |nh: &[u8], nlri: &[u8]| {
        let v = [&[0u8, 1, 1, nh.len() as u8][..], nh, &[0], nlri].concat();
        mp(&v)
    };
    let good_mp = mp_v4(&x.ip4().octets(), &[24, 10, 151, 0]);
    let mut open0 = common::raw::open_msg(0, x.ip4(), true);
    // RFC 7607: My AS 0 (and the 4-octet capability says 0 too).
    assert_eq!(open0.len(), 19 + 10 + open0[28] as usize);
    let caps_at = open0.len() - 4;
    open0[caps_at..].copy_from_slice(&[0, 0, 0, 0]);
    #[rustfmt::skip]
    let cases: Vec<(&str, Bad, (u8, u8))> = vec![
        ("5.3 NLRI prefix length 33", Bad::UpdateBody(body(&[], &base, &[33, 10, 1, 1, 1, 0])), (3, 10)),
        ("5.3 NLRI prefix truncated", Bad::UpdateBody(body(&[], &base, &[24, 10, 1])), (3, 10)),
        ("5.3 withdrawn prefix length 33", Bad::UpdateBody(body(&[33, 10, 0, 0, 0, 0], &[], &[])), (3, 10)),
        ("6.3 Withdrawn Routes Length overruns the message", Bad::UpdateBody([&[0u8, 200][..], &[24, 10, 1, 1], &[0, 0]].concat()), (3, 1)),
        ("6.3 Total Attribute Length overruns the message", Bad::UpdateBody([&[0u8, 0, 1, 0][..], &base].concat()), (3, 1)),
        ("7.11 MP_REACH_NLRI next hop length 5 for IPv4", Bad::UpdateBody(body(&[], &[&mp_v4(&[10, 0, 0, 1, 1], &[24, 10, 1, 1])[..], &origin, &path].concat(), &[])), (3, 9)),
        ("5.3 MP_REACH_NLRI prefix length 33", Bad::UpdateBody(body(&[], &[&mp_v4(&x.ip4().octets(), &[33, 10, 1, 1, 1, 0])[..], &origin, &path].concat(), &[])), (3, 9)),
        ("7.12 MP_UNREACH_NLRI prefix overrun", Bad::UpdateBody(body(&[], &attr(0x80, 15, &[0, 1, 1, 24, 10]), &[])), (3, 9)),
        ("3g MP_REACH_NLRI twice", Bad::UpdateBody(body(&[], &[&good_mp[..], &good_mp, &origin, &path].concat(), &[])), (3, 1)),
        ("3c MP_REACH_NLRI flagged transitive", Bad::UpdateBody(body(&[], &[&attr(0xc0, 14, &good_mp[3..])[..], &origin, &path].concat(), &[])), (3, 4)),
        ("6.3 unrecognized well-known attribute", Bad::UpdateBody(body(&[], &[&base[..], &attr(0x40, 99, &[1])].concat(), &[24, 10, 1, 1])), (3, 2)),
        ("4 attribute list unparsable and no NLRI to withdraw", Bad::UpdateBody(body(&[], &[&base[..], &[0xc0, 8, 40, 0, 1]].concat(), &[])), (3, 1)),
        ("5.2 a malformed ORIGIN in an UPDATE without NLRI", Bad::UpdateBody(body(&[], &[&attr(0x40, 1, &[7])[..], &path, &nh].concat(), &[])), (3, 1)),
        ("5.2 malformed COMMUNITIES beside MP_UNREACH_NLRI only", Bad::UpdateBody(body(&[], &[&attr(0x80, 15, &[0, 1, 1, 24, 10, 150, 0])[..], &attr(0xc0, 8, &[0, 1, 0])].concat(), &[])), (3, 1)),
        ("6.1 UPDATE shorter than 23 octets", Bad::Raw(with_header(2, &[0, 0])), (1, 2)),
        ("7607 OPEN with My AS 0", Bad::Open(open0), (2, 2)),
    ];
    let mut failures = Vec::new();
    for (rule, bad, want) in cases {
        let got = match bad {
            Bad::Open(open) => {
                // The daemon's OPEN, then its NOTIFICATION, then the close.
                let mut got = None;
                bgpd_lab::wait_until(
                    std::time::Duration::from_secs(20),
                    std::time::Duration::from_millis(100),
                    "NOTIFICATION for an OPEN with My AS 0",
                    || {
                        let Ok(mut s) = common::raw::connect_from(&x.ns, d.ip4()) else {
                            return Ok(false);
                        };
                        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
                        use std::io::Write;
                        if s.write_all(&open).is_err() {
                            return Ok(false);
                        }
                        while let Ok((ty, b)) = common::raw::read_msg(&mut s) {
                            if ty == 3 {
                                got = Some((b[0], b[1]));
                                let mut rest = Vec::new();
                                use std::io::Read;
                                let closed = s.read_to_end(&mut rest).is_ok_and(|n| n == 0);
                                return Ok(closed);
                            }
                        }
                        Ok(false)
                    },
                )
                .unwrap();
                got.unwrap()
            }
            Bad::UpdateBody(_) | Bad::Raw(_) => {
                let mut s = RawPeer::connect(&x, d.ip4(), D_AS, X_AS, true, 20);
                bgpd_lab::wait_until(
                    std::time::Duration::from_secs(20),
                    std::time::Duration::from_millis(50),
                    "x Established",
                    || Ok(established(&d, "x")),
                )
                .unwrap();
                s.send(&update(&[], &base, &[24, 10, 150, 0]));
                wait_kernel(&d, Family::V4, 20, "10.150.0.0/24 via x", |k| {
                    common::via(k, "10.150.0.0/24", &x.ip4().to_string())
                });
                match bad {
                    Bad::UpdateBody(b) => s.send(&with_header(2, &b)),
                    Bad::Raw(m) => s.send(&m),
                    Bad::Open(_) => unreachable!(),
                }
                let (code, sub, _) = s.wait_notification_and_close(20);
                // The speaker's clean route leaves the RIB and the kernel.
                wait_kernel(
                    &d,
                    Family::V4,
                    20,
                    &format!("{rule}: 10.150.0.0/24 removed"),
                    |k| !k.iter().any(|r| r.dst == "10.150.0.0/24"),
                );
                if route(&d, "10.150.0.0/24").is_some() {
                    failures.push(format!("{rule}: 10.150.0.0/24 still in the RIB"));
                }
                (code, sub)
            }
        };
        if got != want {
            failures.push(format!("{rule}: NOTIFICATION {got:?}, expected {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "rules not applied:\n{}",
        failures.join("\n")
    );
}

//! The UPDATE error-handling rules, rule by rule, against a `bgpd` process (root, network
//! namespaces): RFC 4271 §6.3, RFC 7606 §3, §4, §5 and §7.1–7.15, RFC 7607 (AS 0) and RFC 6793
//! (AS4_PATH / AS4_AGGREGATOR). Raw speakers (hand-made UPDATEs) send one crafted UPDATE per
//! rule; the outcome is read from the daemon's control socket (`show route --json`, `show
//! protocols all --json`), its kernel table, and what a fourth speaker receives from it:
//! * attribute discard: the route is installed and the attribute is gone (not shown, not passed
//!   on);
//! * treat-as-withdraw: the prefix, announced cleanly before, leaves the RIB and the kernel;
//! * session reset: the NOTIFICATION with the rule's code and subcode, the connection closed,
//!   and the speaker's other route gone from the kernel.
//!
//! This file: the attribute rules (discard, treat-as-withdraw); `rfc7606_resets.rs`: the rules
//! that reset the session; `as4_two_octet.rs`: RFC 6793 both ways. The table of rules and the
//! tests that cover them is in docs/testing.md.

mod common;

use std::net::Ipv4Addr;

use bgp_core::wire::{Origin, PathAttributes};
use bgpd_lab::bgpd::BgpdRoute;
use bgpd_lab::{Family, Lab, NodeNet};
use common::raw::{asn2, asn4, attr, config, p24, peer, route, update, RawPeer, D_AS};
use common::{start, wait_kernel, wait_routes};

const E_AS: u32 = 65009;
const O_AS: u32 = 65010;
const RX_AS: u32 = 65020;

/// Which raw speaker sends a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// eBGP, 4-octet AS.
    E,
    /// iBGP.
    I,
    /// eBGP, 2-octet AS only (RFC 6793 OLD speaker).
    O,
}

/// What the daemon must make of a case's UPDATE.
enum Expect {
    /// Treat-as-withdraw: the prefix (announced cleanly before) is gone.
    Withdraw,
    /// The route stays (attribute discard, or nothing wrong); the check sees `show route`'s
    /// entry and the attributes the receiving speaker got.
    Keep(fn(&BgpdRoute, &PathAttributes) -> bool),
}

struct Case {
    rule: &'static str,
    from: Src,
    /// The path attribute field.
    attrs: Vec<u8>,
    /// Whether the prefix goes in the NLRI field (else the attributes carry it).
    nlri_field: bool,
    expect: Expect,
}

/// The clean attributes of each speaker: ORIGIN, AS_PATH, NEXT_HOP (and LOCAL_PREF for iBGP).
struct Base {
    origin: Vec<u8>,
    path: Vec<u8>,
    nh: Vec<u8>,
    rest: Vec<u8>,
}

impl Base {
    fn all(&self) -> Vec<u8> {
        [&self.origin[..], &self.path, &self.nh, &self.rest].concat()
    }
}

fn bases(e: Ipv4Addr, i: Ipv4Addr, o: Ipv4Addr) -> [Base; 3] {
    let origin = attr(0x40, 1, &[0]);
    [
        Base {
            origin: origin.clone(),
            path: attr(0x40, 2, &[&[2u8, 1][..], &asn4(E_AS)].concat()),
            nh: attr(0x40, 3, &e.octets()),
            rest: Vec::new(),
        },
        Base {
            origin: origin.clone(),
            path: attr(0x40, 2, &[]),
            nh: attr(0x40, 3, &i.octets()),
            rest: attr(0x40, 5, &[0, 0, 0, 100]),
        },
        Base {
            origin,
            path: attr(0x40, 2, &[&[2u8, 1][..], &asn2(O_AS)].concat()),
            nh: attr(0x40, 3, &o.octets()),
            rest: Vec::new(),
        },
    ]
}

/// The rule table: one case per rule, each with its own prefix (10.100.<index>.0/24).
#[rustfmt::skip]
fn cases(b: &[Base; 3], d_ip: Ipv4Addr, e_ip: Ipv4Addr, o_ip: Ipv4Addr) -> Vec<Case> {
    use Expect::{Keep, Withdraw};
    use Src::{E, I, O};
    let [be, bi, bo] = b;
    let with = |b: &Base, extra: &[u8]| [&b.all()[..], extra].concat();
    let agg8 = |asn: u32| [&asn4(asn)[..], &[10, 0, 0, 7]].concat();
    let trans_path = attr(0x40, 2, &[&[2u8, 2][..], &asn2(O_AS), &asn2(23456)].concat());
    let o_trans = |extra: &[u8]| [&bo.origin[..], &trans_path, &bo.nh, extra].concat();
    let c = |rule, from, attrs, expect| Case { rule, from, attrs, nlri_field: true, expect };
    let seg4 = |kind: u8, asns: &[u32]| {
        let mut v = vec![kind, asns.len() as u8];
        asns.iter().for_each(|a| v.extend(asn4(*a)));
        v
    };
    let e_path = |value: &[u8]| [&be.origin[..], &attr(0x40, 2, value), &be.nh].concat();
    let e_nh = |value: &[u8]| [&be.origin[..], &be.path, &attr(0x40, 3, value)].concat();
    let e_origin = |flags: u8, value: &[u8]| [&attr(flags, 1, value)[..], &be.path, &be.nh].concat();
    let i_with = |a: &[u8]| [&bi.origin[..], &bi.path, &bi.nh, a].concat();
    let agg_trans = attr(0xc0, 7, &[0x5b, 0xa0, 10, 0, 0, 7]);
    let mut mp_v4 = vec![0u8, 1, 1, 4];
    mp_v4.extend(e_ip.octets());
    mp_v4.push(0);
    vec![
        // ORIGIN (RFC 7606 §7.1).
        c("7.1 ORIGIN undefined value", E, e_origin(0x40, &[3]), Withdraw),
        c("7.1 ORIGIN length 2", E, e_origin(0x40, &[0, 0]), Withdraw),
        c("3c ORIGIN flagged optional", E, e_origin(0xc0, &[0]), Withdraw),
        // AS_PATH (§7.2, RFC 4271 §6.3, RFC 7607).
        c("7.2 AS_PATH unknown segment type", E, e_path(&seg4(7, &[E_AS])), Withdraw),
        c("7.2 AS_PATH segment overrun", E, e_path(&[&[2u8, 2][..], &asn4(E_AS)].concat()), Withdraw),
        c("7.2 AS_PATH zero-length segment", E, e_path(&[&seg4(2, &[E_AS])[..], &[2, 0]].concat()), Withdraw),
        c("7.2 AS_PATH one trailing octet", E, e_path(&[&seg4(2, &[E_AS])[..], &[2]].concat()), Withdraw),
        c("6.3 AS_PATH not starting with the eBGP peer's AS", E, e_path(&seg4(2, &[65555])), Withdraw),
        c("7.2 AS_CONFED_SEQUENCE from an eBGP peer", E, e_path(&[seg4(3, &[65444]), seg4(2, &[E_AS])].concat()), Withdraw),
        c("7607 AS 0 in AS_PATH", E, e_path(&seg4(2, &[E_AS, 0])), Withdraw),
        c("7607 AS 0 in a 2-octet AS_PATH", O, [&bo.origin[..], &attr(0x40, 2, &[&[2u8, 2][..], &asn2(O_AS), &[0, 0]].concat()), &bo.nh].concat(), Withdraw),
        c("3c AS_PATH flagged optional", E, [&be.origin[..], &attr(0xc0, 2, &seg4(2, &[E_AS])), &be.nh].concat(), Withdraw),
        // NEXT_HOP (§7.3, RFC 4271 §6.3, RFC 4760 §3).
        c("7.3 NEXT_HOP length 3", E, e_nh(&[10, 0, 0]), Withdraw),
        c("6.3 NEXT_HOP 0.0.0.0", E, e_nh(&[0, 0, 0, 0]), Withdraw),
        c("6.3 NEXT_HOP multicast", E, e_nh(&[224, 0, 0, 5]), Withdraw),
        c("6.3 NEXT_HOP is the receiving speaker's own address", E, e_nh(&d_ip.octets()), Withdraw),
        c("3c NEXT_HOP flagged optional", E, [&be.origin[..], &be.path, &attr(0xc0, 3, &e_ip.octets())].concat(), Withdraw),
        Case {
            rule: "4760 §3 malformed NEXT_HOP beside MP_REACH_NLRI only: ignored",
            from: E,
            // MP_REACH_NLRI first (the prefix is appended to it when sent).
            attrs: [&attr(0x80, 14, &mp_v4)[..], &be.origin, &be.path, &attr(0x40, 3, &[1, 2, 3])].concat(),
            nlri_field: false,
            expect: Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.next_hop.is_some())),
        },
        Case {
            rule: "6.3 MP_REACH_NLRI next hop 0.0.0.0",
            from: E,
            attrs: [&attr(0x80, 14, &[0, 1, 1, 4, 0, 0, 0, 0, 0])[..], &be.origin, &be.path].concat(),
            nlri_field: false,
            expect: Withdraw,
        },
        // Loops (RFC 4271 §9.1.2, RFC 4456 §8): the route is not used.
        c("9.1.2 own AS in the AS_PATH", E, e_path(&seg4(2, &[E_AS, D_AS])), Withdraw),
        c("4456 ORIGINATOR_ID is our router ID (iBGP)", I, with(bi, &attr(0x80, 9, &d_ip.octets())), Withdraw),
        c("4456 CLUSTER_LIST holds our cluster ID (iBGP)", I, with(bi, &attr(0x80, 10, &[&[10u8, 98, 98, 98][..], &d_ip.octets()].concat())), Withdraw),
        // MULTI_EXIT_DISC (§7.4).
        c("7.4 MED length 3", E, with(be, &attr(0x80, 4, &[0, 0, 5])), Withdraw),
        c("3c MED flagged well-known", E, with(be, &attr(0x40, 4, &[0, 0, 0, 5])), Withdraw),
        // LOCAL_PREF (§7.5).
        c("7.5 LOCAL_PREF from an eBGP peer: discarded", E, with(be, &attr(0x40, 5, &[0, 0, 3, 9])), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.local_pref != Some(777)))),
        c("7.5 LOCAL_PREF of length 3 from an eBGP peer: discarded", E, with(be, &attr(0x40, 5, &[0, 3, 9])), Keep(|_, _| true)),
        c("7.5 LOCAL_PREF length 3 from iBGP", I, i_with(&attr(0x40, 5, &[0, 0, 100])), Withdraw),
        c("3c LOCAL_PREF flagged optional from iBGP", I, i_with(&attr(0xc0, 5, &[0, 0, 0, 100])), Withdraw),
        // ATOMIC_AGGREGATE (§7.6).
        c("7.6 ATOMIC_AGGREGATE (control: passed on)", E, with(be, &attr(0x40, 6, &[])), Keep(|_, rx| rx.atomic_aggregate)),
        c("7.6 ATOMIC_AGGREGATE length 1: discarded", E, with(be, &attr(0x40, 6, &[1])), Keep(|_, rx| !rx.atomic_aggregate)),
        c("3c ATOMIC_AGGREGATE flagged optional", E, with(be, &attr(0xc0, 6, &[])), Withdraw),
        // AGGREGATOR (§7.7, RFC 7607).
        c("7.7 AGGREGATOR (control: passed on)", E, with(be, &attr(0xc0, 7, &agg8(E_AS))), Keep(|_, rx| rx.aggregator.is_some_and(|a| a.asn == E_AS))),
        c("7.7 AGGREGATOR length 7: discarded", E, with(be, &attr(0xc0, 7, &agg8(E_AS)[1..])), Keep(|_, rx| rx.aggregator.is_none())),
        c("7607 AS 0 in AGGREGATOR: discarded", E, with(be, &attr(0xc0, 7, &agg8(0))), Keep(|_, rx| rx.aggregator.is_none())),
        c("7.7 AGGREGATOR of 8 octets on a 2-octet session: discarded", O, with(bo, &attr(0xc0, 7, &agg8(O_AS))), Keep(|_, rx| rx.aggregator.is_none())),
        c("3c AGGREGATOR flagged non-transitive", E, with(be, &attr(0x80, 7, &agg8(E_AS))), Withdraw),
        // COMMUNITIES (§7.8).
        c("7.8 COMMUNITIES length 3", E, with(be, &attr(0xc0, 8, &[0, 1, 0])), Withdraw),
        c("7.8 COMMUNITIES length 0", E, with(be, &attr(0xc0, 8, &[])), Withdraw),
        c("3c COMMUNITIES flagged non-transitive", E, with(be, &attr(0x80, 8, &[0, 1, 0, 1])), Withdraw),
        // ORIGINATOR_ID (§7.9) and CLUSTER_LIST (§7.10).
        c("7.9 ORIGINATOR_ID from an eBGP peer: discarded", E, with(be, &attr(0x80, 9, &[10, 99, 99, 99])), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.originator_id.is_none()))),
        c("7.9 ORIGINATOR_ID length 3 from iBGP", I, with(bi, &attr(0x80, 9, &[10, 99, 99])), Withdraw),
        c("7.10 CLUSTER_LIST from an eBGP peer: discarded", E, with(be, &attr(0x80, 10, &[10, 98, 98, 98])), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.cluster_list.is_empty()))),
        c("7.10 CLUSTER_LIST length 5 from iBGP", I, with(bi, &attr(0x80, 10, &[10, 98, 98, 98, 1])), Withdraw),
        // Optional attributes this daemon does not interpret (§7.13 Traffic Engineering,
        // RFC 4271 §5 / §9), §7.15.
        c("7.13 Traffic Engineering (24), optional transitive: passed on with Partial", E, with(be, &attr(0xc0, 24, &[0; 36])), Keep(|_, rx| rx.unknown.iter().any(|u| u.code == 24 && u.flags & 0x20 != 0))),
        c("9 unknown optional non-transitive: not passed on", E, with(be, &attr(0x80, 99, &[1, 2, 3])), Keep(|_, rx| !rx.unknown.iter().any(|u| u.code == 99))),
        c("7.15 IPv6 Address Specific EC length 19", E, with(be, &attr(0xc0, 25, &[0; 19])), Withdraw),
        // EXTENDED_COMMUNITIES (§7.14) and LARGE_COMMUNITY (RFC 8092 §6).
        c("7.14 EXTENDED_COMMUNITIES length 7", E, with(be, &attr(0xc0, 16, &[0; 7])), Withdraw),
        c("8092 LARGE_COMMUNITY length 11", E, with(be, &attr(0xc0, 32, &[0; 11])), Withdraw),
        c("8092 LARGE_COMMUNITY length 0", E, with(be, &attr(0xc0, 32, &[])), Withdraw),
        // The attribute list (§3 d, §3 g, §4).
        c("3g repeated ORIGIN: the first counts", E, with(be, &attr(0x40, 1, &[2])), Keep(|_, rx| rx.origin == Some(Origin::Igp))),
        // (The kernel check: installed via the first NEXT_HOP.)
        c("3g repeated NEXT_HOP: the first counts", E, with(be, &attr(0x40, 3, &o_ip.octets())), Keep(|_, _| true)),
        c("3g a malformed first ORIGIN counts", E, [&attr(0x40, 1, &[9])[..], &be.all()].concat(), Withdraw),
        c("3d ORIGIN missing", E, [&be.path[..], &be.nh].concat(), Withdraw),
        c("3d AS_PATH missing", E, [&be.origin[..], &be.nh].concat(), Withdraw),
        c("3d NEXT_HOP missing", E, [&be.origin[..], &be.path].concat(), Withdraw),
        c("4 last attribute overruns the attribute field", E, with(be, &[0xc0, 8, 40, 0, 1, 0, 1]), Withdraw),
        c("4 fewer octets left than an attribute header", E, with(be, &[0xc0, 8]), Withdraw),
        // AS4_PATH / AS4_AGGREGATOR (RFC 6793 §4.2.3, §6; RFC 7607).
        c("6793 AS4_PATH merged (control)", O, o_trans(&attr(0xc0, 17, &seg4(2, &[4_200_000_011]))), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.as_path == "65010 4200000011"))),
        c("6793 AS4_PATH malformed: discarded", O, o_trans(&attr(0xc0, 17, &[2, 5, 0, 0])), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.as_path == "65010 23456"))),
        c("7607 AS 0 in AS4_PATH: discarded", O, o_trans(&attr(0xc0, 17, &seg4(2, &[0]))), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.as_path == "65010 23456"))),
        c("3c AS4_PATH flagged non-transitive", O, o_trans(&attr(0x80, 17, &seg4(2, &[4_200_000_011]))), Withdraw),
        c("6793 AS4_AGGREGATOR length 7: discarded", O, o_trans(&[&agg_trans[..], &attr(0xc0, 18, &agg8(4_200_000_012)[1..])].concat()), Keep(|_, rx| rx.aggregator.is_some_and(|a| a.asn == 23456))),
        c("7607 AS 0 in AS4_AGGREGATOR: discarded", O, o_trans(&[&agg_trans[..], &attr(0xc0, 18, &agg8(0))].concat()), Keep(|_, rx| rx.aggregator.is_some_and(|a| a.asn == 23456))),
        c("6793 §4.1 AS4_PATH between 4-octet speakers: ignored", E, with(be, &attr(0xc0, 17, &seg4(2, &[4_200_000_011]))), Keep(|r, _| r.bgp.as_ref().is_some_and(|b| b.as_path == "65009"))),
    ]
}

fn prefix(i: usize) -> String {
    format!("10.100.{}.0/24", i + 1)
}

/// (NOTIFICATIONs sent, established_since) of every BGP protocol.
fn sessions(n: &NodeNet) -> Vec<(String, u64, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&common::cli(n, &["show", "protocols", "all", "--json"]).unwrap())
            .unwrap();
    v["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["bgp"].is_null())
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["bgp"]["messages_out"]["notification"]
                    .as_u64()
                    .unwrap_or(0),
                p["bgp"]["established_since"].to_string(),
            )
        })
        .collect()
}

#[test]
fn attribute_errors_rule_by_rule_discard_or_treat_as_withdraw() {
    let mut lab = Lab::new("bgpd_rfc7606_rules").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let e = lab.node("e", &[(&lan, 12)], None).unwrap();
    let i = lab.node("i", &[(&lan, 13)], None).unwrap();
    let o = lab.node("o", &[(&lan, 14)], None).unwrap();
    let r = lab.node("rx", &[(&lan, 15)], None).unwrap();
    let _p = start(
        &d,
        &config(
            &d,
            &[
                peer("e", e.ip4(), E_AS, ""),
                peer("i", i.ip4(), D_AS, ""),
                peer("o", o.ip4(), O_AS, ""),
                peer("rx", r.ip4(), RX_AS, ""),
            ],
        ),
        0,
    );
    let rx = RawPeer::connect(&r, d.ip4(), D_AS, RX_AS, true, 30);
    let mut pe = RawPeer::connect(&e, d.ip4(), D_AS, E_AS, true, 30);
    let mut pi = RawPeer::connect(&i, d.ip4(), D_AS, D_AS, true, 30);
    let mut po = RawPeer::connect(&o, d.ip4(), D_AS, O_AS, false, 30);
    common::wait_all_established(&d, 4, 30);
    let up = sessions(&d);

    let b = bases(e.ip4(), i.ip4(), o.ip4());
    let table = cases(&b, d.ip4(), e.ip4(), o.ip4());
    let gw = |f: Src| match f {
        Src::E => e.ip4().to_string(),
        Src::I => i.ip4().to_string(),
        Src::O => o.ip4().to_string(),
    };
    let mut send = |f: Src, m: &[u8]| match f {
        Src::E => pe.send(m),
        Src::I => pi.send(m),
        Src::O => po.send(m),
    };
    // Every treat-as-withdraw prefix is first announced cleanly by its speaker.
    let base_of = |f: Src| match f {
        Src::E => b[0].all(),
        Src::I => b[1].all(),
        Src::O => b[2].all(),
    };
    for (n, c) in table.iter().enumerate() {
        if matches!(c.expect, Expect::Withdraw) {
            let [_, _, a, b3] = p24(100, (n + 1) as u8)[..] else {
                unreachable!()
            };
            send(c.from, &update(&[], &base_of(c.from), &[24, 10, a, b3]));
        }
    }
    let first: Vec<String> = table
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.expect, Expect::Withdraw))
        .map(|(n, _)| prefix(n))
        .collect();
    wait_routes(&d, 30, "the clean announcements learned", |r| {
        first.iter().all(|p| r.iter().any(|x| &x.prefix == p))
    });
    // Then the crafted UPDATEs.
    for (n, c) in table.iter().enumerate() {
        let nlri = p24(100, (n + 1) as u8);
        if c.nlri_field {
            send(c.from, &update(&[], &c.attrs, &nlri));
        } else {
            let mut attrs = c.attrs.clone();
            // MP_REACH_NLRI leads: append the prefix to its value and fix its length.
            attrs[2] += nlri.len() as u8;
            let mp_end = 3 + usize::from(attrs[2]) - nlri.len();
            attrs.splice(mp_end..mp_end, nlri.iter().copied());
            send(c.from, &update(&[], &attrs, &[]));
        }
    }
    // Each outcome, waited for; a wrong one is reported with the rule it breaks.
    let mut failures = Vec::new();
    for (n, c) in table.iter().enumerate() {
        let p = prefix(n);
        match c.expect {
            Expect::Withdraw => {
                let ok = bgpd_lab::wait_until(
                    std::time::Duration::from_secs(10),
                    std::time::Duration::from_millis(100),
                    &p,
                    || Ok(route(&d, &p).is_none()),
                );
                if ok.is_err() {
                    failures.push(format!(
                        "{}: {p} not withdrawn: {:?}",
                        c.rule,
                        route(&d, &p)
                    ));
                }
            }
            Expect::Keep(check) => {
                let at_rx = match rx.try_wait_route(&p, 10) {
                    Ok(a) => a,
                    Err(e) => {
                        failures.push(format!("{}: {p} not passed on: {e}", c.rule));
                        continue;
                    }
                };
                match route(&d, &p) {
                    Some(shown) if check(&shown, &at_rx) => {}
                    shown => failures.push(format!(
                        "{}: {p} shown {shown:?}, received by the next speaker {at_rx:?}",
                        c.rule
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rules not applied:\n{}",
        failures.join("\n")
    );
    // The kernel agrees: kept routes installed via their speaker, withdrawn ones absent.
    wait_kernel(
        &d,
        Family::V4,
        30,
        "kernel: kept routes in, withdrawn out",
        |k| {
            table.iter().enumerate().all(|(n, c)| {
                let p = prefix(n);
                match c.expect {
                    Expect::Withdraw => !k.iter().any(|r| r.dst == p),
                    Expect::Keep(_) => common::via(k, &p, &gw(c.from)),
                }
            })
        },
    );
    // RFC 7606 §6: each malformed UPDATE is logged with its errors, NLRI and octets (case 1:
    // the undefined ORIGIN 3 of 10.100.1.0/24).
    let log = d.path("bgpd.0.log");
    bgpd_lab::wait_until(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        "the malformed UPDATE of case 1 logged",
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(text.lines().any(|l| {
                l.contains("malformed UPDATE: ORIGIN: undefined ORIGIN value (treat-as-withdraw)")
                    && l.contains("NLRI: 10.100.1.0/24;")
                    && l.contains("40010103")
            }))
        },
    )
    .unwrap();
    // Over the whole run: no NOTIFICATION sent to anyone, no session went down.
    assert_eq!(sessions(&d), up, "a session was reset");
    for (name, p) in [("e", &pe), ("i", &pi), ("o", &po), ("rx", &rx)] {
        let got = p.rx.lock().unwrap();
        assert!(
            got.notification.is_none() && !got.closed && got.undecodable.is_empty(),
            "{name}: {:?} closed {} undecodable {:?}",
            got.notification,
            got.closed,
            got.undecodable
        );
    }
}

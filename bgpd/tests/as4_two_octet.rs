//! RFC 6793 against a `bgpd` process (root, network namespaces): a raw speaker that only knows
//! 2-octet AS numbers and a 4-octet one, routes both ways through the daemon.

mod common;

use bgpd_lab::Lab;
use common::raw::{asn2, asn4, attr, config, peer, route, update, RawPeer, D_AS};
use common::start;

const O_AS: u32 = 65010;

/// RFC 6793 with a speaker that only knows 2-octet AS numbers (OLD), both ways, with an AS_SET
/// and 4-octet ASes in the path:
/// * OLD -> bgpd -> NEW: AS_PATH with AS_TRANS plus AS4_PATH, AGGREGATOR AS_TRANS plus
///   AS4_AGGREGATOR, arrive at the 4-octet speaker merged (4-octet path with its AS_SET, the
///   4-octet aggregator, no AS_TRANS);
/// * NEW -> bgpd -> OLD: the 2-octet speaker gets AS_TRANS in AS_PATH and AGGREGATOR, with
///   AS4_PATH and AS4_AGGREGATOR carrying the real numbers.
#[test]
fn as4_aggregator_merges_both_ways_with_a_two_octet_peer() {
    const N_AS: u32 = 4_200_000_020;
    let mut lab = Lab::new("bgpd_as4_both_ways").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let o = lab.node("o", &[(&lan, 12)], None).unwrap();
    let n = lab.node("n", &[(&lan, 13)], None).unwrap();
    let _p = start(
        &d,
        &config(
            &d,
            &[peer("o", o.ip4(), O_AS, ""), peer("n", n.ip4(), N_AS, "")],
        ),
        0,
    );
    let mut po = RawPeer::connect(&o, d.ip4(), D_AS, O_AS, false, 30);
    let mut pn = RawPeer::connect(&n, d.ip4(), D_AS, N_AS, true, 30);
    common::wait_all_established(&d, 2, 30);
    let trans = asn2(23456);
    let origin = attr(0x40, 1, &[0]);

    // OLD -> bgpd -> NEW.
    let path = [
        &[2u8, 2][..],
        &asn2(O_AS),
        &trans, // SEQ (65010 AS_TRANS)
        &[1, 2],
        &trans,
        &asn2(65011), // SET {AS_TRANS 65011}
    ]
    .concat();
    let as4_path = [
        &[2u8, 1][..],
        &asn4(4_200_000_005),
        &[1, 2],
        &asn4(4_200_000_006),
        &asn4(65011),
    ]
    .concat();
    let old = [
        &origin[..],
        &attr(0x40, 2, &path),
        &attr(0x40, 3, &o.ip4().octets()),
        &attr(0xc0, 7, &[&trans[..], &[10, 0, 0, 7]].concat()),
        &attr(0xc0, 17, &as4_path),
        &attr(
            0xc0,
            18,
            &[&asn4(4_200_000_007)[..], &[10, 0, 0, 7]].concat(),
        ),
    ]
    .concat();
    po.send(&update(&[], &old, &[24, 10, 70, 0]));
    let at_n = pn.wait_route("10.70.0.0/24", 30);
    let got = at_n
        .as_path
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(
        got.starts_with("65001 65010 4200000005 {")
            && got.contains("4200000006")
            && got.contains("65011"),
        "path at the 4-octet speaker: {got}"
    );
    assert!(!got.contains("23456"), "AS_TRANS left: {got}");
    assert_eq!(
        at_n.aggregator.map(|a| a.asn),
        Some(4_200_000_007),
        "{at_n:?}"
    );
    let shown = route(&d, "10.70.0.0/24").unwrap();
    assert!(shown.bgp.unwrap().as_path.starts_with("65010 4200000005 {"));

    // NEW -> bgpd -> OLD.
    let new_path = [
        &[2u8, 2][..],
        &asn4(N_AS),
        &asn4(4_200_000_021),
        &[1, 2],
        &asn4(4_200_000_022),
        &asn4(65012),
    ]
    .concat();
    let new = [
        &origin[..],
        &attr(0x40, 2, &new_path),
        &attr(0x40, 3, &n.ip4().octets()),
        &attr(
            0xc0,
            7,
            &[&asn4(4_200_000_023)[..], &[10, 0, 0, 8]].concat(),
        ),
    ]
    .concat();
    pn.send(&update(&[], &new, &[24, 10, 71, 0]));
    let at_o = po.wait_route("10.71.0.0/24", 30);
    // Decoded the OLD way (AS4 attributes merged by the codec), it is the real path...
    let merged = at_o
        .as_path
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(
        merged.starts_with("65001 4200000020 4200000021 {") && merged.contains("4200000022"),
        "merged path at the 2-octet speaker: {merged}"
    );
    assert_eq!(at_o.aggregator.map(|a| a.asn), Some(4_200_000_023));
    // ... and on the wire it is AS_TRANS with the AS4 attributes beside.
    let raw = po
        .rx
        .lock()
        .unwrap()
        .raw_updates
        .iter()
        .find(|b| b.ends_with(&[24, 10, 71, 0]))
        .cloned()
        .unwrap();
    let attrs = common::raw::attributes_of(&raw);
    let value = |code: u8| attrs.iter().find(|a| a.1 == code).map(|a| a.2.clone());
    let as_path = value(2).unwrap();
    assert_eq!(
        as_path,
        [
            &[2u8, 3][..],
            &asn2(D_AS),
            &trans,
            &trans,
            &[1, 2],
            &trans,
            &asn2(65012)
        ]
        .concat(),
        "2-octet AS_PATH: {attrs:?}"
    );
    assert_eq!(
        value(7).unwrap(),
        [&trans[..], &[10, 0, 0, 8]].concat(),
        "AGGREGATOR"
    );
    assert_eq!(
        value(18).unwrap(),
        [&asn4(4_200_000_023)[..], &[10, 0, 0, 8]].concat(),
        "AS4_AGGREGATOR"
    );
    let as4 = value(17).unwrap();
    assert!(
        as4.windows(4).any(|w| w == asn4(4_200_000_021)),
        "AS4_PATH carries the 4-octet ASes: {as4:?}"
    );
}

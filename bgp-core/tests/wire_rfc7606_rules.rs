//! Rules of RFC 7606 §3 and RFC 7607 the first malformed-input suite (`wire_rfc7606.rs`) did not
//! reach: flag conflicts are treat-as-withdraw whatever the attribute's own disposition (§3 c),
//! the first occurrence of a repeated attribute counts even when it is malformed (§3 g),
//! attributes discarded unread from an external peer, AS 0 (RFC 7607), and a NEXT_HOP ignored
//! when only MP_REACH_NLRI carries routes (RFC 4760 §3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bgp_core::wire::{
    AsPath, DecodeError, Disposition, Family, Message, Negotiated, Origin, Update,
};
use bytes::{BufMut, BytesMut};

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const EMPTY_PATH: &[u8] = &[0x40, 2, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI: &[u8] = &[24, 10, 1, 1];

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code, value.len() as u8];
    v.extend_from_slice(value);
    v
}

fn decode(ctx: &Negotiated, attrs: &[&[u8]], nlri: &[u8]) -> Result<Update, DecodeError> {
    let a: Vec<u8> = attrs.concat();
    let mut m = BytesMut::new();
    m.put_slice(&[0xff; 16]);
    m.put_u16((19 + 4 + a.len() + nlri.len()) as u16);
    m.put_u8(2);
    m.put_u16(0);
    m.put_u16(a.len() as u16);
    m.put_slice(&a);
    m.put_slice(nlri);
    match Message::decode(m.freeze(), ctx)? {
        Message::Update(u) => Ok(u),
        m => panic!("{m:?}"),
    }
}

fn ibgp() -> Negotiated {
    Negotiated {
        local_as: 64512,
        peer_as: 64512,
        ..Negotiated::default()
    }
}

fn ebgp() -> Negotiated {
    Negotiated {
        local_as: 64512,
        peer_as: 65001,
        ..Negotiated::default()
    }
}

fn two_octet() -> Negotiated {
    Negotiated {
        four_octet_as: false,
        ..ibgp()
    }
}

/// The path 65001 as a 4-octet AS_SEQUENCE (what an external peer 65001 must send).
fn path_65001() -> Vec<u8> {
    attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xe9])
}

fn withdrawn(u: &Update, code: u8) -> bool {
    u.treat_as_withdraw()
        && u.announced().count() == 0
        && u.errors
            .iter()
            .any(|e| e.type_code == code && e.disposition == Disposition::TreatAsWithdraw)
}

fn discarded(u: &Update, code: u8) -> bool {
    u.disposition() == Some(Disposition::AttributeDiscard)
        && u.announced().map(|a| a.nlri.len()).sum::<usize>() == 1
        && u.errors.iter().any(|e| e.type_code == code)
}

#[test]
fn flag_conflicts_are_treat_as_withdraw_even_where_a_bad_value_is_discarded() {
    // ATOMIC_AGGREGATE (well-known) marked optional, AGGREGATOR (optional transitive) marked
    // well-known or non-transitive: §3 c, not the §7.6 / §7.7 attribute discard.
    for bad in [
        attr(0xc0, 6, &[]),
        attr(0x40, 7, &[0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        attr(0x80, 7, &[0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        attr(0x40, 4, &[0, 0, 0, 5]), // MED marked well-known
        attr(0x80, 8, &[0, 1, 0, 1]), // COMMUNITIES non-transitive
        attr(0x40, 32, &[0; 12]),     // LARGE_COMMUNITY well-known
        attr(0xc0, 16, &[0; 8]),      // EXTENDED_COMMUNITIES as it should be: fine
    ] {
        let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &bad], NLRI).unwrap();
        if bad[1] == 16 {
            assert!(u.errors.is_empty(), "{:?}", u.errors);
        } else {
            assert!(withdrawn(&u, bad[1]), "{bad:?}: {:?}", u.errors);
        }
    }
    // AS4_AGGREGATOR / AS4_PATH on a 2-octet session.
    let u = decode(
        &two_octet(),
        &[
            ORIGIN_IGP,
            EMPTY_PATH,
            NEXT_HOP,
            &attr(0x80, 18, &[0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        ],
        NLRI,
    )
    .unwrap();
    assert!(withdrawn(&u, 18), "{:?}", u.errors);
}

#[test]
fn mp_reach_flag_conflict_resets_with_attribute_flags_error() {
    // MP_REACH_NLRI (optional non-transitive) sent transitive.
    let mp = attr(0xc0, 14, &[0, 1, 1, 4, 192, 0, 2, 1, 0, 24, 10, 1, 1]);
    let e = decode(&ibgp(), &[&mp, ORIGIN_IGP, EMPTY_PATH], &[]).unwrap_err();
    assert_eq!((e.code, e.subcode), (3, 4), "{e}");
    assert_eq!(&e.data[..], &mp[..]);
}

#[test]
fn from_an_external_peer_route_reflection_and_local_pref_go_whatever_their_form() {
    // Wrong flags and wrong lengths: still only discarded (§7.5, §7.9, §7.10).
    for bad in [
        attr(0xc0, 5, &[0, 0, 0, 100]),
        attr(0x40, 5, &[0, 0, 100]),
        attr(0x40, 9, &[10, 0, 0, 1]),
        attr(0x80, 9, &[10, 0, 0]),
        attr(0xc0, 10, &[10, 0, 0, 1]),
        attr(0x80, 10, &[10, 0, 0]),
    ] {
        let u = decode(&ebgp(), &[ORIGIN_IGP, &path_65001(), NEXT_HOP, &bad], NLRI).unwrap();
        assert!(discarded(&u, bad[1]), "{bad:?}: {:?}", u.errors);
        assert_eq!(u.attrs.local_pref, None);
        assert_eq!(u.attrs.originator_id, None);
        assert!(u.attrs.cluster_list.is_empty());
    }
}

#[test]
fn the_first_of_a_repeated_attribute_counts_even_when_malformed() {
    // A bad ORIGIN then a good one: the second is a repeat, the UPDATE is treat-as-withdraw.
    let u = decode(
        &ibgp(),
        &[&attr(0x40, 1, &[9]), ORIGIN_IGP, EMPTY_PATH, NEXT_HOP],
        NLRI,
    )
    .unwrap();
    assert!(withdrawn(&u, 1), "{:?}", u.errors);
    // A bad ATOMIC_AGGREGATE then a good one: both go, the route stays.
    let u = decode(
        &ibgp(),
        &[
            ORIGIN_IGP,
            EMPTY_PATH,
            NEXT_HOP,
            &attr(0x40, 6, &[1]),
            &attr(0x40, 6, &[]),
        ],
        NLRI,
    )
    .unwrap();
    assert!(discarded(&u, 6), "{:?}", u.errors);
    assert!(!u.attrs.atomic_aggregate);
    // A bad AGGREGATOR then a good one: no aggregator.
    let u = decode(
        &ibgp(),
        &[
            ORIGIN_IGP,
            EMPTY_PATH,
            NEXT_HOP,
            &attr(0xc0, 7, &[0; 3]),
            &attr(0xc0, 7, &[0, 0, 0xfd, 0xe9, 10, 0, 0, 1]),
        ],
        NLRI,
    )
    .unwrap();
    assert!(discarded(&u, 7), "{:?}", u.errors);
    assert_eq!(u.attrs.aggregator, None);
}

#[test]
fn as_zero_rfc7607() {
    // AS_PATH with AS 0: malformed AS_PATH, treat-as-withdraw (RFC 7606 §7.2).
    let p0 = attr(0x40, 2, &[2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, &p0, NEXT_HOP], NLRI).unwrap();
    assert!(withdrawn(&u, 2), "{:?}", u.errors);
    let set0 = attr(0x40, 2, &[1, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0]);
    assert!(withdrawn(
        &decode(&ibgp(), &[ORIGIN_IGP, &set0, NEXT_HOP], NLRI).unwrap(),
        2
    ));
    let two0 = attr(0x40, 2, &[2, 1, 0, 0]);
    assert!(withdrawn(
        &decode(&two_octet(), &[ORIGIN_IGP, &two0, NEXT_HOP], NLRI).unwrap(),
        2
    ));
    // AGGREGATOR with AS 0: attribute discard (§7.7), both widths.
    let ag0 = attr(0xc0, 7, &[0, 0, 0, 0, 10, 0, 0, 1]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag0], NLRI).unwrap();
    assert!(discarded(&u, 7), "{:?}", u.errors);
    assert_eq!(u.attrs.aggregator, None);
    let ag0 = attr(0xc0, 7, &[0, 0, 10, 0, 0, 1]);
    let u = decode(
        &two_octet(),
        &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag0],
        NLRI,
    )
    .unwrap();
    assert!(discarded(&u, 7), "{:?}", u.errors);
    // AS4_AGGREGATOR with AS 0 (2-octet session): discarded (RFC 6793 §6), the AGGREGATOR's
    // AS_TRANS stays; AS4_PATH with AS 0: discarded, the AS_PATH stays as received.
    let ag = attr(0xc0, 7, &[0x5b, 0xa0, 10, 0, 0, 1]);
    let as4ag0 = attr(0xc0, 18, &[0, 0, 0, 0, 10, 0, 0, 1]);
    let u = decode(
        &two_octet(),
        &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag, &as4ag0],
        NLRI,
    )
    .unwrap();
    assert!(discarded(&u, 18), "{:?}", u.errors);
    assert_eq!(u.attrs.aggregator.map(|a| a.asn), Some(23456));
    let path = attr(0x40, 2, &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
    let as4_0 = attr(0xc0, 17, &[2, 1, 0, 0, 0, 0]);
    let u = decode(&two_octet(), &[ORIGIN_IGP, &path, NEXT_HOP, &as4_0], NLRI).unwrap();
    assert!(discarded(&u, 17), "{:?}", u.errors);
    assert_eq!(
        u.attrs.as_path,
        Some(AsPath::from_sequence(&[65001, 23456]))
    );
}

#[test]
fn a_malformed_next_hop_beside_mp_reach_only_is_ignored() {
    // IPv4 routes in MP_REACH_NLRI, no NLRI field, and a 3-octet NEXT_HOP: the NEXT_HOP is
    // ignored (RFC 4760 §3), the routes stay.
    let mp = attr(0x80, 14, &[0, 1, 1, 4, 192, 0, 2, 7, 0, 24, 10, 1, 1]);
    let u = decode(
        &ibgp(),
        &[&mp, ORIGIN_IGP, EMPTY_PATH, &attr(0x40, 3, &[1, 2, 3])],
        &[],
    )
    .unwrap();
    assert!(!u.treat_as_withdraw(), "{:?}", u.errors);
    let a: Vec<_> = u.announced().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].family, Family::IPV4_UNICAST);
    // With an NLRI field it still withdraws.
    let u = decode(
        &ibgp(),
        &[ORIGIN_IGP, EMPTY_PATH, &attr(0x40, 3, &[1, 2, 3])],
        NLRI,
    )
    .unwrap();
    assert!(withdrawn(&u, 3));
}

#[test]
fn clean_attributes_decode() {
    let u = decode(&ebgp(), &[ORIGIN_IGP, &path_65001(), NEXT_HOP], NLRI).unwrap();
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    assert_eq!(u.attrs.origin, Some(Origin::Igp));
}

#[test]
fn ipv6_address_specific_extended_communities_length() {
    // RFC 7606 §7.15: a non-zero multiple of 20 octets, else treat-as-withdraw; carried as an
    // opaque optional transitive attribute otherwise.
    let bad = attr(0xc0, 25, &[0; 19]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &bad], NLRI).unwrap();
    assert!(withdrawn(&u, 25), "{:?}", u.errors);
    let good = attr(0xc0, 25, &[0; 20]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &good], NLRI).unwrap();
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    assert_eq!(u.attrs.unknown.len(), 1);
}

#[test]
fn mp_reach_next_hop_that_is_no_host_address_withdraws_its_routes() {
    for nh in [[0u8, 0, 0, 0], [224, 0, 0, 5], [255, 255, 255, 255]] {
        let mut v = vec![0u8, 1, 1, 4];
        v.extend(nh);
        v.extend([0, 24, 10, 1, 1]);
        let u = decode(&ibgp(), &[&attr(0x80, 14, &v), ORIGIN_IGP, EMPTY_PATH], &[]).unwrap();
        assert!(withdrawn(&u, 14), "{nh:?}: {:?}", u.errors);
    }
    // IPv6: a multicast global address; `::` with a link-local one is fine.
    let v6 = |global: [u8; 16], ll: Option<[u8; 16]>| {
        let mut v = vec![0u8, 2, 1, if ll.is_some() { 32 } else { 16 }];
        v.extend(global);
        v.extend(ll.into_iter().flatten());
        v.extend([0, 32, 0x20, 1, 0xd, 0xb8]);
        attr(0x80, 14, &v)
    };
    let mut mc = [0u8; 16];
    mc[0] = 0xff;
    mc[15] = 1;
    let u = decode(&ibgp(), &[&v6(mc, None), ORIGIN_IGP, EMPTY_PATH], &[]).unwrap();
    assert!(u.treat_as_withdraw(), "{:?}", u.errors);
    let mut ll = [0u8; 16];
    ll[0] = 0xfe;
    ll[1] = 0x80;
    ll[15] = 1;
    let u = decode(
        &ibgp(),
        &[&v6([0; 16], Some(ll)), ORIGIN_IGP, EMPTY_PATH],
        &[],
    )
    .unwrap();
    assert!(u.errors.is_empty(), "{:?}", u.errors);
}

#[test]
fn a_withdrawing_error_without_reachable_nlri_resets_rfc7606_5_2() {
    // Attributes, no NLRI field, no MP_REACH_NLRI: a bad ORIGIN cannot be treat-as-withdraw.
    let e = decode(&ibgp(), &[&attr(0x40, 1, &[7]), EMPTY_PATH, NEXT_HOP], &[]).unwrap_err();
    assert_eq!((e.code, e.subcode), (3, 1), "{e}");
    // Beside MP_UNREACH_NLRI too.
    let unreach = attr(0x80, 15, &[0, 1, 1, 24, 10, 1, 1]);
    let bad_comm = attr(0xc0, 8, &[0, 1, 0]);
    let e = decode(&ibgp(), &[&unreach, &bad_comm], &[]).unwrap_err();
    assert_eq!((e.code, e.subcode), (3, 1), "{e}");
    // An attribute discard is no reason to reset.
    let u = decode(&ibgp(), &[&unreach, &attr(0x40, 6, &[1])], &[]).unwrap();
    assert_eq!(u.disposition(), Some(Disposition::AttributeDiscard));
    // With NLRI it stays treat-as-withdraw.
    let u = decode(&ibgp(), &[&attr(0x40, 1, &[7]), EMPTY_PATH, NEXT_HOP], NLRI).unwrap();
    assert!(withdrawn(&u, 1));
}

#[test]
fn an_empty_as4_path_is_malformed() {
    // RFC 7606 §4: only AS_PATH and ATOMIC_AGGREGATE may have length 0; AS4_PATH goes
    // (RFC 6793 §6: attribute discard).
    let path = attr(0x40, 2, &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
    let u = decode(
        &two_octet(),
        &[ORIGIN_IGP, &path, NEXT_HOP, &attr(0xc0, 17, &[])],
        NLRI,
    )
    .unwrap();
    assert!(discarded(&u, 17), "{:?}", u.errors);
}

#[test]
fn a_malformed_update_reports_its_errors_nlri_and_octets_rfc7606_6() {
    let u = decode(&ibgp(), &[&attr(0x40, 1, &[7]), EMPTY_PATH, NEXT_HOP], NLRI).unwrap();
    let r = u.malformed_report().unwrap();
    assert!(
        r.starts_with(
            "ORIGIN: undefined ORIGIN value (treat-as-withdraw); NLRI: 10.1.1.0/24; UPDATE ("
        ),
        "{r}"
    );
    // The body: withdrawn length 0, attribute length 14, the bad ORIGIN first.
    assert!(r.contains("octets): 0000000e40010107"), "{r}");
    let clean = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], NLRI).unwrap();
    assert_eq!(clean.malformed_report(), None);
    assert_eq!(clean.malformed, None);
}

#[test]
fn a_next_hop_that_is_our_own_address_is_ignored_rfc4271_6_3() {
    let own: std::net::IpAddr = "192.0.2.1".parse().unwrap(); // NEXT_HOP's address
    let mut u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], NLRI).unwrap();
    assert!(!u.ignore_own_next_hop("192.0.2.9".parse().unwrap()));
    assert!(u.errors.is_empty());
    assert!(u.ignore_own_next_hop(own));
    assert!(withdrawn(&u, 3), "{:?}", u.errors);
    // In MP_REACH_NLRI too.
    let mp = attr(0x80, 14, &[0, 1, 1, 4, 192, 0, 2, 1, 0, 24, 10, 1, 1]);
    let mut u = decode(&ibgp(), &[&mp, ORIGIN_IGP, EMPTY_PATH], &[]).unwrap();
    assert!(u.ignore_own_next_hop(own));
    assert!(u.treat_as_withdraw() && u.announced().count() == 0);
}

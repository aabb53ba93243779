//! The malformed-input suite: one test per error case of RFC 4271 §6 and RFC 7606, asserting
//! the disposition (attribute-discard, treat-as-withdraw) or the exact NOTIFICATION.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bgp_core::wire::{
    AsPath, Capability, DecodeError, Disposition, Family, Message, Negotiated, Open, OpenCheck,
    Origin, Update,
};
use bytes::{BufMut, Bytes, BytesMut};

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const EMPTY_PATH: &[u8] = &[0x40, 2, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI: &[u8] = &[24, 10, 1, 1];

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code];
    if flags & 0x10 != 0 {
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend_from_slice(value);
    v
}

fn message(ty: u8, body: &[u8]) -> Bytes {
    let mut m = BytesMut::new();
    m.put_slice(&[0xff; 16]);
    m.put_u16(19 + body.len() as u16);
    m.put_u8(ty);
    m.put_slice(body);
    m.freeze()
}

fn update_bytes(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Bytes {
    let a: Vec<u8> = attrs.concat();
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(a.len() as u16).to_be_bytes());
    body.extend_from_slice(&a);
    body.extend_from_slice(nlri);
    message(2, &body)
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

fn decode(ctx: &Negotiated, attrs: &[&[u8]], nlri: &[u8]) -> Result<Update, DecodeError> {
    match Message::decode(update_bytes(&[], attrs, nlri), ctx)? {
        Message::Update(u) => Ok(u),
        m => panic!("{m:?}"),
    }
}

/// The UPDATE survives with its announcements turned into withdrawals, and the error names
/// the attribute.
fn assert_withdraw(u: &Update, code: u8) {
    assert_eq!(
        u.disposition(),
        Some(Disposition::TreatAsWithdraw),
        "{:?}",
        u.errors
    );
    assert!(
        u.errors
            .iter()
            .any(|e| e.type_code == code && e.disposition == Disposition::TreatAsWithdraw),
        "{:?}",
        u.errors
    );
    assert_eq!(u.announced().count(), 0);
    let w: Vec<_> = u
        .withdrawn_routes()
        .map(|(f, n)| (f, n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec![(Family::IPV4_UNICAST, "10.1.1.0/24".to_string())]);
}

/// The attribute is dropped; the route is still announced.
fn assert_discard(u: &Update, code: u8) {
    assert_eq!(
        u.disposition(),
        Some(Disposition::AttributeDiscard),
        "{:?}",
        u.errors
    );
    assert!(u.errors.iter().any(|e| e.type_code == code));
    assert_eq!(u.announced().map(|a| a.nlri.len()).sum::<usize>(), 1);
}

fn assert_notification(
    r: Result<impl std::fmt::Debug, DecodeError>,
    code: u8,
    subcode: u8,
) -> DecodeError {
    let e = r.expect_err("expected a session reset");
    assert_eq!((e.code, e.subcode), (code, subcode), "{e}");
    e
}

#[test]
fn clean_update_has_no_errors() {
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], NLRI).unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(u.announced().count(), 1);
    assert_eq!(u.attrs.origin, Some(Origin::Igp));
}

// --- ORIGIN (RFC 7606 §7.1: treat-as-withdraw) ---

#[test]
fn origin_bad_length() {
    assert_withdraw(
        &decode(
            &ibgp(),
            &[&attr(0x40, 1, &[0, 0]), EMPTY_PATH, NEXT_HOP],
            NLRI,
        )
        .unwrap(),
        1,
    );
}

#[test]
fn origin_undefined_value() {
    assert_withdraw(
        &decode(&ibgp(), &[&attr(0x40, 1, &[3]), EMPTY_PATH, NEXT_HOP], NLRI).unwrap(),
        1,
    );
}

#[test]
fn origin_flags_conflict() {
    // RFC 7606 §3 c: Optional bit set on a well-known attribute.
    assert_withdraw(
        &decode(&ibgp(), &[&attr(0xc0, 1, &[0]), EMPTY_PATH, NEXT_HOP], NLRI).unwrap(),
        1,
    );
}

// --- AS_PATH (§7.2: treat-as-withdraw) ---

#[test]
fn as_path_segment_overrun() {
    let bad = attr(0x40, 2, &[2, 2, 0, 0, 0xfd, 0xe9]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, &bad, NEXT_HOP], NLRI).unwrap(),
        2,
    );
}

#[test]
fn as_path_bad_segment_type() {
    let bad = attr(0x40, 2, &[9, 1, 0, 0, 0xfd, 0xe9]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, &bad, NEXT_HOP], NLRI).unwrap(),
        2,
    );
}

#[test]
fn as_path_ebgp_must_start_with_peer_as() {
    let other = attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xea]); // 65002, peer is 65001
    assert_withdraw(
        &decode(&ebgp(), &[ORIGIN_IGP, &other, NEXT_HOP], NLRI).unwrap(),
        2,
    );
    // A route server that does not prepend its AS (RFC 7947): check disabled.
    let rs = Negotiated {
        enforce_first_as: false,
        ..ebgp()
    };
    assert!(decode(&rs, &[ORIGIN_IGP, &other, NEXT_HOP], NLRI)
        .unwrap()
        .errors
        .is_empty());
    let good = attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xe9]);
    assert!(decode(&ebgp(), &[ORIGIN_IGP, &good, NEXT_HOP], NLRI)
        .unwrap()
        .errors
        .is_empty());
}

#[test]
fn as_path_confed_segment_from_ebgp() {
    let p = attr(0x40, 2, &[3, 1, 0, 0, 0xfd, 0xe9, 2, 1, 0, 0, 0xfd, 0xe9]);
    assert_withdraw(
        &decode(&ebgp(), &[ORIGIN_IGP, &p, NEXT_HOP], NLRI).unwrap(),
        2,
    );
}

#[test]
fn as_path_extended_length_form_is_fine() {
    let p = attr(0x50, 2, &[]);
    assert!(decode(&ibgp(), &[ORIGIN_IGP, &p, NEXT_HOP], NLRI)
        .unwrap()
        .errors
        .is_empty());
}

// --- NEXT_HOP (§7.3) ---

#[test]
fn next_hop_bad_length() {
    let nh = attr(0x40, 3, &[192, 0, 2, 1, 0]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, &nh], NLRI).unwrap(),
        3,
    );
}

#[test]
fn next_hop_not_unicast() {
    for addr in [[0, 0, 0, 0], [224, 0, 0, 5], [255, 255, 255, 255]] {
        let nh = attr(0x40, 3, &addr);
        assert_withdraw(
            &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, &nh], NLRI).unwrap(),
            3,
        );
    }
}

// --- MULTI_EXIT_DISC (§7.4) and LOCAL_PREF (§7.5) ---

#[test]
fn med_bad_length() {
    let med = attr(0x80, 4, &[0, 0, 1]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &med], NLRI).unwrap(),
        4,
    );
}

#[test]
fn local_pref_bad_length_from_ibgp() {
    let lp = attr(0x40, 5, &[0, 0, 1]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &lp], NLRI).unwrap(),
        5,
    );
}

#[test]
fn local_pref_from_ebgp_is_discarded() {
    let path = attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xe9]);
    let lp = attr(0x40, 5, &[0, 0, 0, 200]);
    let u = decode(&ebgp(), &[ORIGIN_IGP, &path, NEXT_HOP, &lp], NLRI).unwrap();
    assert_discard(&u, 5);
    assert_eq!(u.attrs.local_pref, None);
}

// --- ATOMIC_AGGREGATE (§7.6) and AGGREGATOR (§7.7): attribute discard ---

#[test]
fn atomic_aggregate_with_a_value_is_discarded() {
    let aa = attr(0x40, 6, &[1]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &aa], NLRI).unwrap();
    assert_discard(&u, 6);
    assert!(!u.attrs.atomic_aggregate);
}

#[test]
fn aggregator_bad_length_is_discarded() {
    let ag = attr(0xc0, 7, &[0, 0, 0xfd, 0xe9, 10, 0, 0]); // 7 octets on a 4-octet session
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag], NLRI).unwrap();
    assert_discard(&u, 7);
    assert_eq!(u.attrs.aggregator, None);
    // 6 octets are right for a 2-octet session only.
    let two = Negotiated {
        four_octet_as: false,
        ..ibgp()
    };
    let ag6 = attr(0xc0, 7, &[0xfd, 0xe9, 10, 0, 0, 1]);
    assert!(
        decode(&two, &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag6], NLRI)
            .unwrap()
            .errors
            .is_empty()
    );
    assert_discard(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag6], NLRI).unwrap(),
        7,
    );
}

// --- Communities of every kind (§7.8, RFC 4360/8092): treat-as-withdraw ---

#[test]
fn communities_bad_length() {
    for v in [&[0u8, 1, 0, 2, 9][..], &[]] {
        let c = attr(0xc0, 8, v);
        assert_withdraw(
            &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &c], NLRI).unwrap(),
            8,
        );
    }
}

#[test]
fn extended_communities_bad_length() {
    let c = attr(0xc0, 16, &[0; 7]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &c], NLRI).unwrap(),
        16,
    );
}

#[test]
fn large_communities_bad_length() {
    let c = attr(0xc0, 32, &[0; 13]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &c], NLRI).unwrap(),
        32,
    );
}

// --- ORIGINATOR_ID (§7.9) and CLUSTER_LIST (§7.10) ---

#[test]
fn originator_id_bad_length() {
    let o = attr(0x80, 9, &[1, 2, 3, 4, 5]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &o], NLRI).unwrap(),
        9,
    );
}

#[test]
fn cluster_list_bad_length() {
    let c = attr(0x80, 10, &[1, 2, 3, 4, 5, 6]);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &c], NLRI).unwrap(),
        10,
    );
}

#[test]
fn route_reflection_attributes_from_ebgp_are_discarded() {
    let path = attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xe9]);
    let o = attr(0x80, 9, &[1, 2, 3, 4]);
    let u = decode(&ebgp(), &[ORIGIN_IGP, &path, NEXT_HOP, &o], NLRI).unwrap();
    assert_discard(&u, 9);
    assert_eq!(u.attrs.originator_id, None);
}

// --- AS4_PATH / AS4_AGGREGATOR (RFC 6793 §6 as amended by RFC 7606 §7.x): discard ---

#[test]
fn as4_path_malformed_is_discarded_and_as_path_kept() {
    let two = Negotiated {
        four_octet_as: false,
        ..ibgp()
    };
    let path = attr(0x40, 2, &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]); // 65001 AS_TRANS
    let as4 = attr(0xc0, 17, &[2, 5, 0, 0]); // overrun
    let u = decode(&two, &[ORIGIN_IGP, &path, NEXT_HOP, &as4], NLRI).unwrap();
    assert_discard(&u, 17);
    assert_eq!(
        u.attrs.as_path,
        Some(AsPath::from_sequence(&[65001, 23456]))
    );
}

#[test]
fn as4_path_merges_on_two_octet_session() {
    let two = Negotiated {
        four_octet_as: false,
        ..ibgp()
    };
    let path = attr(0x40, 2, &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]); // 65001 AS_TRANS
    let as4 = attr(0xc0, 17, &[2, 1, 0xfa, 0x56, 0xea, 0x00]); // 4200000000
    let u = decode(&two, &[ORIGIN_IGP, &path, NEXT_HOP, &as4], NLRI).unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(
        u.attrs.as_path,
        Some(AsPath::from_sequence(&[65001, 4_200_000_000]))
    );
}

#[test]
fn as4_aggregator_bad_length_is_discarded() {
    let two = Negotiated {
        four_octet_as: false,
        ..ibgp()
    };
    let ag = attr(0xc0, 18, &[0; 7]);
    assert_discard(
        &decode(&two, &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &ag], NLRI).unwrap(),
        18,
    );
}

// --- MP_REACH_NLRI / MP_UNREACH_NLRI (§7.11, §3 g): session reset ---

fn mp_reach_v6(nh_len: u8, nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, nh_len];
    v.extend(std::iter::repeat_n(0x20, usize::from(nh_len)));
    v.push(0);
    v.extend_from_slice(nlri);
    attr(0x90, 14, &v)
}

#[test]
fn mp_reach_bad_next_hop_length_resets() {
    let mp = mp_reach_v6(15, &[32, 0x20, 1, 0xd, 0xb8]);
    let e = assert_notification(decode(&ibgp(), &[&mp, ORIGIN_IGP, EMPTY_PATH], &[]), 3, 9);
    assert_eq!(&e.data[..], &mp[..], "data is the erroneous attribute");
}

#[test]
fn mp_reach_nlri_overrun_resets() {
    let mp = mp_reach_v6(16, &[48, 0x20, 1]);
    assert_notification(decode(&ibgp(), &[&mp, ORIGIN_IGP, EMPTY_PATH], &[]), 3, 9);
}

#[test]
fn mp_reach_twice_resets() {
    let mp = mp_reach_v6(16, &[32, 0x20, 1, 0xd, 0xb8]);
    assert_notification(
        decode(&ibgp(), &[&mp, &mp, ORIGIN_IGP, EMPTY_PATH], &[]),
        3,
        1,
    );
}

#[test]
fn mp_unreach_overrun_resets() {
    let mp = attr(0x90, 15, &[0, 2, 1, 64, 0x20]);
    assert_notification(decode(&ibgp(), &[&mp], &[]), 3, 9);
}

#[test]
fn mp_reach_need_not_be_first() {
    let mp = mp_reach_v6(16, &[32, 0x20, 1, 0xd, 0xb8]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, &mp], &[]).unwrap();
    assert!(u.errors.is_empty());
    let a: Vec<_> = u.announced().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].family, Family::IPV6_UNICAST);
}

#[test]
fn mp_reach_only_needs_no_next_hop_attribute() {
    let mp = mp_reach_v6(16, &[32, 0x20, 1, 0xd, 0xb8]);
    assert!(decode(&ibgp(), &[&mp, ORIGIN_IGP, EMPTY_PATH], &[])
        .unwrap()
        .errors
        .is_empty());
}

#[test]
fn treat_as_withdraw_covers_mp_reach_prefixes() {
    let mp = mp_reach_v6(16, &[32, 0x20, 1, 0xd, 0xb8]);
    let bad_origin = attr(0x40, 1, &[7]);
    let u = decode(&ibgp(), &[&mp, &bad_origin, EMPTY_PATH], &[]).unwrap();
    assert!(u.treat_as_withdraw());
    let w: Vec<_> = u
        .withdrawn_routes()
        .map(|(f, n)| (f, n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec![(Family::IPV6_UNICAST, "2001:db8::/32".to_string())]);
}

// --- The attribute list itself (§3 g, §4, §5) ---

#[test]
fn repeated_attribute_keeps_the_first() {
    let u = decode(
        &ibgp(),
        &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &attr(0x40, 1, &[2])],
        NLRI,
    )
    .unwrap();
    assert_discard(&u, 1);
    assert_eq!(u.attrs.origin, Some(Origin::Igp));
}

#[test]
fn unrecognized_well_known_attribute_resets_with_data() {
    let unknown = attr(0x40, 99, &[1, 2]);
    let e = assert_notification(
        decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &unknown], NLRI),
        3,
        2,
    );
    assert_eq!(&e.data[..], &unknown[..]);
}

#[test]
fn unknown_optional_transitive_is_kept_with_partial_bit() {
    let unknown = attr(0xc0, 99, &[1, 2]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &unknown], NLRI).unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(u.attrs.unknown.len(), 1);
    assert_eq!(u.attrs.unknown[0].flags, 0xe0);
    let mut out = BytesMut::new();
    u.encode(&ibgp(), &mut out).unwrap();
    assert!(
        out.windows(5).any(|w| w == [0xe0, 99, 2, 1, 2]),
        "passed on with Partial set"
    );
}

#[test]
fn unknown_optional_non_transitive_is_dropped() {
    let unknown = attr(0x80, 99, &[1, 2]);
    let u = decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, &unknown], NLRI).unwrap();
    assert!(u.errors.is_empty());
    assert!(u.attrs.unknown.is_empty());
}

#[test]
fn attribute_overrunning_the_field_is_treat_as_withdraw() {
    // The last attribute claims 9 octets but 2 remain; the NLRI is still found through the
    // Total Path Attribute Length.
    let trunc: &[u8] = &[0xc0, 8, 9, 0, 1];
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, trunc], NLRI).unwrap(),
        8,
    );
    // Fewer than three octets left for a header.
    let stub: &[u8] = &[0x40];
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP, stub], NLRI).unwrap(),
        0,
    );
}

#[test]
fn attribute_overrun_without_locatable_nlri_resets() {
    let trunc: &[u8] = &[0xc0, 8, 9, 0, 1];
    assert_notification(decode(&ibgp(), &[ORIGIN_IGP, trunc], &[]), 3, 1);
}

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw() {
    assert_withdraw(&decode(&ibgp(), &[EMPTY_PATH, NEXT_HOP], NLRI).unwrap(), 1);
    assert_withdraw(&decode(&ibgp(), &[ORIGIN_IGP, NEXT_HOP], NLRI).unwrap(), 2);
    assert_withdraw(
        &decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH], NLRI).unwrap(),
        3,
    );
}

#[test]
fn withdraw_only_update_needs_no_attributes() {
    let m = Message::decode(update_bytes(NLRI, &[], &[]), &ibgp()).unwrap();
    let Message::Update(u) = m else { panic!() };
    assert!(u.errors.is_empty());
    assert_eq!(u.withdrawn_routes().count(), 1);
}

#[test]
fn withdrawn_length_overrun_resets() {
    let body = [0u8, 9, 24, 10, 1, 1, 0, 0];
    assert_notification(Message::decode(message(2, &body), &ibgp()), 3, 1);
}

#[test]
fn total_attribute_length_overrun_resets() {
    let body = [0u8, 0, 0, 20, 0x40, 1, 1, 0];
    assert_notification(Message::decode(message(2, &body), &ibgp()), 3, 1);
}

#[test]
fn nlri_errors_are_invalid_network_field() {
    for nlri in [&[33u8, 1, 2, 3, 4, 5][..], &[24, 10, 1]] {
        assert_notification(
            decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], nlri),
            3,
            10,
        );
    }
    let w = update_bytes(&[25, 10, 1, 1], &[], &[]);
    assert_notification(Message::decode(w, &ibgp()), 3, 10);
}

#[test]
fn add_path_nlri_without_the_capability_is_invalid() {
    // A path identifier sent where ADD-PATH was not negotiated reads as three /0s and then a
    // length of 33 bits: invalid.
    let ap = [0u8, 0, 0, 33, 24, 10, 1, 1];
    assert!(decode(&ibgp(), &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], &ap).is_err());
    let with = Negotiated {
        add_path_rx: vec![Family::IPV4_UNICAST],
        ..ibgp()
    };
    let u = decode(&with, &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], &ap).unwrap();
    assert_eq!(u.nlri[0].path_id, Some(33));
}

// --- Header, OPEN and the other messages (RFC 4271 §6.1, §6.2; RFC 7313) ---

#[test]
fn header_errors() {
    let mut bad_marker = message(4, &[]).to_vec();
    bad_marker[3] = 0;
    assert_notification(Message::decode(Bytes::from(bad_marker), &ibgp()), 1, 1);
    let e = assert_notification(Message::decode(message(4, &[0]), &ibgp()), 1, 2);
    assert_eq!(&e.data[..], &[0, 20], "data is the erroneous length field");
    assert_notification(Message::decode(message(9, &[]), &ibgp()), 1, 3);
    assert_notification(Message::decode(message(3, &[6]), &ibgp()), 1, 2);
}

fn open_body(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Bytes {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    message(1, &b)
}

#[test]
fn open_unsupported_version() {
    let e = assert_notification(
        Message::decode(open_body(3, 65001, 90, [1, 1, 1, 1], &[]), &ibgp()),
        2,
        1,
    );
    assert_eq!(
        &e.data[..],
        &[0, 4],
        "data is the largest supported version"
    );
}

#[test]
fn open_hold_time_one_or_two() {
    for hold in [1, 2] {
        assert_notification(
            Message::decode(open_body(4, 65001, hold, [1, 1, 1, 1], &[]), &ibgp()),
            2,
            6,
        );
    }
}

#[test]
fn open_zero_identifier() {
    assert_notification(
        Message::decode(open_body(4, 65001, 90, [0, 0, 0, 0], &[]), &ibgp()),
        2,
        3,
    );
}

#[test]
fn open_unsupported_optional_parameter() {
    assert_notification(
        Message::decode(open_body(4, 65001, 90, [1, 1, 1, 1], &[1, 1, 0]), &ibgp()),
        2,
        4,
    );
}

#[test]
fn open_malformed_capability_is_unspecific() {
    // Multiprotocol capability with 3 octets.
    assert_notification(
        Message::decode(
            open_body(4, 65001, 90, [1, 1, 1, 1], &[2, 5, 1, 3, 0, 1, 0]),
            &ibgp(),
        ),
        2,
        0,
    );
}

fn check() -> OpenCheck {
    OpenCheck {
        peer_as: Some(65001),
        local_as: 64512,
        local_id: "10.0.0.1".parse().unwrap(),
        min_hold_time: 3,
        required_capabilities: vec![],
    }
}

#[test]
fn open_checks() {
    let ok = Open::new(
        65001,
        90,
        "10.0.0.2".parse().unwrap(),
        vec![Capability::FourOctetAs(65001)],
    );
    ok.check(&check()).unwrap();
    // Bad peer AS.
    let wrong = Open::new(
        65002,
        90,
        "10.0.0.2".parse().unwrap(),
        vec![Capability::FourOctetAs(65002)],
    );
    assert_notification(wrong.check(&check()), 2, 2);
    // 4-octet AS through AS_TRANS is accepted; a mismatched My AS is not.
    let four = Open::new(
        4_200_000_000,
        90,
        "10.0.0.2".parse().unwrap(),
        vec![Capability::FourOctetAs(4_200_000_000)],
    );
    assert_eq!(four.my_as, 23456);
    four.check(&OpenCheck {
        peer_as: Some(4_200_000_000),
        ..check()
    })
    .unwrap();
    let mut liar = four.clone();
    liar.my_as = 65001;
    assert_notification(
        liar.check(&OpenCheck {
            peer_as: Some(4_200_000_000),
            ..check()
        }),
        2,
        2,
    );
    // Same BGP identifier inside one AS (RFC 6286 §2.2); allowed across ASes.
    let same_id = Open::new(64512, 90, "10.0.0.1".parse().unwrap(), vec![]);
    assert_notification(
        same_id.check(&OpenCheck {
            peer_as: Some(64512),
            ..check()
        }),
        2,
        3,
    );
    let ebgp_same_id = Open::new(65001, 90, "10.0.0.1".parse().unwrap(), vec![]);
    ebgp_same_id.check(&check()).unwrap();
    // Hold time below the local minimum.
    assert_notification(
        ok.check(&OpenCheck {
            min_hold_time: 120,
            ..check()
        }),
        2,
        6,
    );
    // A required capability missing: 2/7 listing it.
    let req = OpenCheck {
        required_capabilities: vec![Capability::RouteRefresh],
        ..check()
    };
    let e = assert_notification(ok.check(&req), 2, 7);
    assert_eq!(&e.data[..], &[2, 0]);
}

#[test]
fn route_refresh_bad_length() {
    let e = assert_notification(Message::decode(message(5, &[0, 1, 0, 1, 0]), &ibgp()), 7, 1);
    assert_eq!(e.data.len(), 24, "data is the whole message");
}

#[test]
fn extended_message_length_only_when_negotiated() {
    let big_nlri: Vec<u8> = (0..1100)
        .flat_map(|i: u32| [24, 10, (i >> 8) as u8, i as u8])
        .collect();
    let msg = update_bytes(&[], &[ORIGIN_IGP, EMPTY_PATH, NEXT_HOP], &big_nlri);
    assert!(msg.len() > 4096);
    assert_notification(Message::decode(msg.clone(), &ibgp()), 1, 2);
    let ext = Negotiated {
        extended_message: true,
        ..ibgp()
    };
    let Message::Update(u) = Message::decode(msg, &ext).unwrap() else {
        panic!()
    };
    assert_eq!(u.nlri.len(), 1100);
}

//! (bytes, value) vectors, checked both ways: every path attribute, and every message type.
//! Bytes are written out by hand from the RFC layouts; values are built with the public types.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;

use bgp_core::wire::*;
use bytes::{Bytes, BytesMut};

fn hdr(len: u16, ty: u8) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&len.to_be_bytes());
    v.push(ty);
    v
}

/// Wraps attribute bytes in an UPDATE with no withdrawn routes and no NLRI.
fn update_with(attrs: &[u8]) -> Vec<u8> {
    let mut v = hdr((23 + attrs.len()) as u16, 2);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    v.extend_from_slice(attrs);
    v
}

fn both_ways(bytes: &[u8], msg: &Message, ctx: &Negotiated) {
    let decoded = Message::decode(Bytes::copy_from_slice(bytes), ctx).unwrap();
    assert_eq!(&decoded, msg, "decode");
    let mut out = BytesMut::new();
    msg.encode(&ctx.mirror(), &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encode of {msg:?}");
}

fn attrs_only(a: PathAttributes) -> Message {
    Message::Update(Update {
        attrs: a,
        ..Update::default()
    })
}

fn ibgp() -> Negotiated {
    Negotiated {
        local_as: 64512,
        peer_as: 64512,
        ..Negotiated::default()
    }
}

#[test]
fn every_path_attribute() {
    let ctx = ibgp();
    let cases: Vec<(Vec<u8>, PathAttributes)> = vec![
        (
            vec![0x40, 1, 1, 2],
            PathAttributes {
                origin: Some(Origin::Incomplete),
                ..Default::default()
            },
        ),
        (
            vec![0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9],
            PathAttributes {
                as_path: Some(AsPath::from_sequence(&[65001])),
                ..Default::default()
            },
        ),
        (
            vec![0x40, 3, 4, 10, 0, 0, 1],
            PathAttributes {
                next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
                ..Default::default()
            },
        ),
        (
            vec![0x80, 4, 4, 0, 0, 1, 0],
            PathAttributes {
                med: Some(256),
                ..Default::default()
            },
        ),
        (
            vec![0x40, 5, 4, 0, 0, 0, 100],
            PathAttributes {
                local_pref: Some(100),
                ..Default::default()
            },
        ),
        (
            vec![0x40, 6, 0],
            PathAttributes {
                atomic_aggregate: true,
                ..Default::default()
            },
        ),
        (
            vec![0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 9],
            PathAttributes {
                aggregator: Some(Aggregator {
                    asn: 65001,
                    address: Ipv4Addr::new(10, 0, 0, 9),
                }),
                ..Default::default()
            },
        ),
        (
            vec![0xc0, 8, 8, 0xfc, 0, 0, 100, 0xff, 0xff, 0xff, 0x01],
            PathAttributes {
                communities: vec![Community::new(64512, 100), Community::NO_EXPORT],
                ..Default::default()
            },
        ),
        (
            vec![0x80, 9, 4, 10, 0, 0, 2],
            PathAttributes {
                originator_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ..Default::default()
            },
        ),
        (
            vec![0x80, 10, 8, 1, 1, 1, 1, 2, 2, 2, 2],
            PathAttributes {
                cluster_list: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)],
                ..Default::default()
            },
        ),
        (
            vec![0xc0, 16, 8, 0x00, 0x02, 0xfd, 0xe9, 0, 0, 0, 7],
            PathAttributes {
                ext_communities: vec![ExtCommunity([0, 2, 0xfd, 0xe9, 0, 0, 0, 7])],
                ..Default::default()
            },
        ),
        (
            vec![0xc0, 32, 12, 0, 0, 0xfc, 0, 0, 0, 0, 1, 0, 0, 0, 2],
            PathAttributes {
                large_communities: vec![LargeCommunity::new(64512, 1, 2)],
                ..Default::default()
            },
        ),
        (
            vec![0xe0, 99, 3, 1, 2, 3],
            PathAttributes {
                unknown: vec![RawAttribute {
                    flags: 0xe0,
                    code: 99,
                    value: Bytes::from_static(&[1, 2, 3]),
                }],
                ..Default::default()
            },
        ),
    ];
    for (bytes, value) in cases {
        both_ways(&update_with(&bytes), &attrs_only(value), &ctx);
    }
}

#[test]
fn long_attribute_uses_extended_length() {
    let communities: Vec<Community> = (0..100).map(|i| Community::new(64512, i)).collect();
    let mut bytes = vec![0xd0, 8, 1, 144];
    for c in &communities {
        bytes.extend_from_slice(&c.0.to_be_bytes());
    }
    both_ways(
        &update_with(&bytes),
        &attrs_only(PathAttributes {
            communities,
            ..Default::default()
        }),
        &ibgp(),
    );
}

#[test]
fn two_octet_session_as4_path_and_as4_aggregator() {
    let ctx = Negotiated {
        four_octet_as: false,
        ..ibgp()
    };
    let value = PathAttributes {
        as_path: Some(AsPath::from_sequence(&[65001, 4_200_000_000])),
        aggregator: Some(Aggregator {
            asn: 4_200_000_000,
            address: Ipv4Addr::new(10, 0, 0, 9),
        }),
        ..Default::default()
    };
    let bytes = [
        0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0, // AS_PATH 65001 AS_TRANS
        0xc0, 7, 6, 0x5b, 0xa0, 10, 0, 0, 9, // AGGREGATOR AS_TRANS 10.0.0.9
        0xc0, 17, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x00, // AS4_PATH
        0xc0, 18, 8, 0xfa, 0x56, 0xea, 0x00, 10, 0, 0, 9, // AS4_AGGREGATOR
    ];
    both_ways(&update_with(&bytes), &attrs_only(value), &ctx);
}

#[test]
fn update_with_everything_and_add_path() {
    let ctx = Negotiated {
        add_path_rx: vec![Family::IPV4_UNICAST],
        add_path_tx: vec![Family::IPV4_UNICAST],
        ..ibgp()
    };
    let u = Update {
        withdrawn: vec![Nlri::with_path_id("10.9.0.0/16".parse().unwrap(), 3)],
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::new()),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 1)),
            local_pref: Some(100),
            ..Default::default()
        },
        nlri: vec![Nlri::with_path_id("10.244.1.0/26".parse().unwrap(), 1)],
        ..Update::default()
    };
    let mut bytes = hdr(0, 2);
    bytes.extend_from_slice(&[0, 7, 0, 0, 0, 3, 16, 10, 9]);
    bytes.extend_from_slice(&[
        0, 21, 0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1, 0x40, 5, 4, 0, 0, 0, 100,
    ]);
    bytes.extend_from_slice(&[0, 0, 0, 1, 26, 10, 244, 1, 0]);
    let len = bytes.len() as u16;
    bytes[16..18].copy_from_slice(&len.to_be_bytes());
    both_ways(&bytes, &Message::Update(u), &ctx);
}

#[test]
fn mp_reach_and_unreach_ipv6() {
    let ctx = ibgp();
    let u = Update {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::new()),
            ..Default::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            },
            nlri: vec![Nlri::new("2001:db8:1::/48".parse().unwrap())],
            opaque_nlri: Bytes::new(),
        }),
        mp_unreach: Some(MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: vec![Nlri::new("2001:db8:2::/48".parse().unwrap())],
            opaque_nlri: Bytes::new(),
        }),
        ..Update::default()
    };
    let mut attrs = vec![0x80, 14, 44, 0, 2, 1, 32];
    attrs.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    attrs.extend_from_slice(&"fe80::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    attrs.extend_from_slice(&[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
    attrs.extend_from_slice(&[0x80, 15, 10, 0, 2, 1, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 2]);
    attrs.extend_from_slice(&[0x40, 1, 1, 0, 0x40, 2, 0]);
    both_ways(&update_with(&attrs), &Message::Update(u), &ctx);
}

#[test]
fn ipv4_with_ipv6_next_hop_rfc8950() {
    let ctx = Negotiated {
        extended_next_hop: vec![(Family::IPV4_UNICAST, Afi::IPV6)],
        ..ibgp()
    };
    let mut out = BytesMut::new();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::new()),
        ..Default::default()
    };
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let nlri = [Nlri::new("10.1.0.0/16".parse().unwrap())];
    assert_eq!(
        encode_announcements(&ctx, &attrs, Family::IPV4_UNICAST, &nh, &nlri, &mut out).unwrap(),
        1
    );
    let Message::Update(u) = Message::decode(out.freeze(), &ctx).unwrap() else {
        panic!()
    };
    let mp = u.mp_reach.as_ref().unwrap();
    assert_eq!(
        (mp.family, &mp.next_hop, &mp.nlri[..]),
        (Family::IPV4_UNICAST, &nh, &nlri[..])
    );
    assert!(u.nlri.is_empty() && u.attrs.next_hop.is_none());
}

#[test]
fn open_keepalive_notification_route_refresh() {
    let ctx = Negotiated::default();
    let open = Open::new(
        64512,
        90,
        Ipv4Addr::new(10, 0, 0, 1),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::FourOctetAs(64512),
        ],
    );
    let mut bytes = hdr(43, 1);
    bytes.extend_from_slice(&[
        4, 0xfc, 0, 0, 90, 10, 0, 0, 1, 14, 2, 12, 1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xfc, 0,
    ]);
    both_ways(&bytes, &Message::Open(open), &ctx);

    both_ways(&hdr(19, 4), &Message::Keepalive, &ctx);

    let mut n = hdr(22, 3);
    n.extend_from_slice(&[4, 0, 0xaa]);
    both_ways(
        &n,
        &Message::Notification(Notification {
            code: 4,
            subcode: 0,
            data: Bytes::from_static(&[0xaa]),
        }),
        &ctx,
    );

    let mut rr = hdr(23, 5);
    rr.extend_from_slice(&[0, 2, 2, 1]);
    both_ways(
        &rr,
        &Message::RouteRefresh(RouteRefresh {
            family: Family::IPV6_UNICAST,
            subtype: RefreshSubtype::EndOfRefresh,
        }),
        &ctx,
    );
}

#[test]
fn open_with_extended_optional_parameters_rfc9072() {
    // Enough capabilities to pass 255 octets: encoded in the RFC 9072 form, decoded back.
    let caps: Vec<Capability> = (0..70)
        .map(|i| Capability::Multiprotocol(Family::new(1000 + i, 1)))
        .collect();
    let open = Open::new(64512, 90, Ipv4Addr::new(10, 0, 0, 1), caps);
    let mut out = BytesMut::new();
    open.encode(&mut out).unwrap();
    assert_eq!(&out[28..31], &[255, 255, 1]);
    let back = Message::decode(out.freeze(), &Negotiated::default()).unwrap();
    assert_eq!(back, Message::Open(open));
}

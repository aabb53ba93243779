//! Property tests: every message type, under every kind of negotiated context, decodes back to
//! exactly what was encoded (encode → decode → equal), and packing splits any prefix set into
//! messages that fit and together carry every prefix once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::wire::*;
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn ctx_strategy() -> impl Strategy<Value = Negotiated> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(four, ext, ap4, ap6)| {
            let mut fams = Vec::new();
            if ap4 {
                fams.push(Family::IPV4_UNICAST);
            }
            if ap6 {
                fams.push(Family::IPV6_UNICAST);
            }
            Negotiated {
                four_octet_as: four,
                extended_message: ext,
                add_path_rx: fams.clone(),
                add_path_tx: fams,
                local_as: 64512,
                peer_as: 64512,
                ..Negotiated::default()
            }
        },
    )
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

fn nlri(
    prefix: impl Strategy<Value = IpNet>,
    add_path: bool,
    max: usize,
) -> impl Strategy<Value = Vec<Nlri>> {
    vec((prefix, any::<u32>()), 0..max).prop_map(move |v| {
        v.into_iter()
            .map(|(p, id)| Nlri {
                prefix: p,
                path_id: add_path.then_some(id),
            })
            .collect()
    })
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("unicast", |a| {
            !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast()
        })
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    // AS 0 is malformed (RFC 7607).
    let asn = if four {
        (1u32..=u32::MAX).boxed()
    } else {
        (1u32..=65535).boxed()
    };
    let kinds = if four {
        prop_oneof![
            Just(SegmentKind::Sequence),
            Just(SegmentKind::Set),
            Just(SegmentKind::ConfedSequence),
            Just(SegmentKind::ConfedSet)
        ]
        .boxed()
    } else {
        prop_oneof![Just(SegmentKind::Sequence), Just(SegmentKind::Set)].boxed()
    };
    vec((kinds, vec(asn, 1..8)), 0..4)
        .prop_map(|segs| AsPath::from_segments(segs.iter().map(|(k, a)| (*k, a.as_slice()))))
}

/// Valid attributes; unknown ones are optional transitive with the Partial bit, as decoding
/// leaves them.
fn attrs(four: bool, announce_v4: bool) -> impl Strategy<Value = PathAttributes> {
    // 25 (IPv6 Address Specific Extended Community) has its length checked: not arbitrary.
    let unknown_codes = prop_oneof![11u8..14, 19u8..25, 26u8..32, 33u8..=255];
    (
        (
            option::of(prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ]),
            option::of(as_path(four)),
        ),
        (
            option::of(unicast_v4()),
            option::of(any::<u32>()),
            option::of(any::<u32>()),
            any::<bool>(),
        ),
        option::of((any::<u32>(), any::<u32>())),
        vec(any::<u32>(), 0..10),
        (option::of(any::<u32>()), vec(any::<u32>(), 0..5)),
        vec(any::<[u8; 8]>(), 0..5),
        vec((any::<u32>(), any::<u32>(), any::<u32>()), 0..5),
        proptest::collection::btree_map(unknown_codes, vec(any::<u8>(), 0..300), 0..3),
    )
        .prop_map(
            move |(
                (origin, path),
                (nh, med, lp, atomic),
                agg,
                comms,
                (orig, clusters),
                ext,
                large,
                unknown,
            )| {
                let (origin, path, nh) = if announce_v4 {
                    (
                        Some(origin.unwrap_or(Origin::Igp)),
                        Some(path.unwrap_or_default()),
                        Some(nh.unwrap_or(Ipv4Addr::new(192, 0, 2, 1))),
                    )
                } else {
                    (origin, path, nh)
                };
                PathAttributes {
                    origin,
                    as_path: path,
                    next_hop: nh,
                    med,
                    local_pref: lp,
                    atomic_aggregate: atomic,
                    aggregator: agg.map(|(a, ip)| Aggregator {
                        asn: if four { a.max(1) } else { (a % 65536).max(1) },
                        address: Ipv4Addr::from(ip),
                    }),
                    communities: comms.into_iter().map(Community).collect(),
                    originator_id: orig.map(Ipv4Addr::from),
                    cluster_list: clusters.into_iter().map(Ipv4Addr::from).collect(),
                    ext_communities: ext.into_iter().map(ExtCommunity).collect(),
                    large_communities: large
                        .into_iter()
                        .map(|(g, a, b)| LargeCommunity::new(g, a, b))
                        .collect(),
                    unknown: unknown
                        .into_iter()
                        .map(|(code, v)| RawAttribute {
                            flags: 0xe0,
                            code,
                            value: Bytes::from(v),
                        })
                        .collect(),
                }
            },
        )
}

fn update(ctx: &Negotiated) -> impl Strategy<Value = Update> {
    let ap4 = ctx.add_path_tx(Family::IPV4_UNICAST);
    let ap6 = ctx.add_path_tx(Family::IPV6_UNICAST);
    let four = ctx.four_octet_as;
    (
        nlri(v4_prefix(), ap4, 40),
        nlri(v4_prefix(), ap4, 40),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_flat_map(move |(withdrawn, announced, ipv6, mp_kind)| {
            let announce = !announced.is_empty() || (ipv6 && mp_kind % 3 == 0);
            (
                Just(withdrawn),
                Just(announced.clone()),
                attrs(four, announce),
                nlri(v6_prefix(), ap6, 30),
                (
                    // A host's address: not multicast, not `::` (RFC 4271 §6.3).
                    any::<u128>().prop_filter("unicast", |g| *g != 0 && g >> 120 != 0xff),
                    option::of(any::<u128>()),
                ),
                Just(ipv6),
                Just(mp_kind),
            )
        })
        .prop_map(
            |(withdrawn, announced, attrs, v6, (g, ll), ipv6, mp_kind)| {
                let mut u = Update {
                    withdrawn,
                    attrs,
                    nlri: announced,
                    ..Update::default()
                };
                if ipv6 {
                    match mp_kind % 3 {
                        0 => {
                            u.mp_reach = Some(MpReach {
                                family: Family::IPV6_UNICAST,
                                next_hop: NextHop::V6 {
                                    global: Ipv6Addr::from(g),
                                    link_local: ll.map(Ipv6Addr::from),
                                },
                                nlri: v6,
                                opaque_nlri: Bytes::new(),
                            });
                            if u.mp_reach.as_ref().unwrap().nlri.is_empty() && u.nlri.is_empty() {
                                // An announcement without prefixes still needs nothing mandatory.
                            }
                        }
                        1 => {
                            u.mp_unreach = Some(MpUnreach {
                                family: Family::IPV6_UNICAST,
                                withdrawn: v6,
                                opaque_nlri: Bytes::new(),
                            })
                        }
                        _ => {
                            u.mp_unreach = Some(MpUnreach {
                                family: Family::new(25, 70),
                                withdrawn: vec![],
                                opaque_nlri: Bytes::from(g.to_be_bytes().to_vec()),
                            })
                        }
                    }
                }
                u
            },
        )
}

fn capability() -> impl Strategy<Value = Capability> {
    let family = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(a, s));
    let mode = prop_oneof![
        Just(AddPathMode::Receive),
        Just(AddPathMode::Send),
        Just(AddPathMode::Both)
    ];
    prop_oneof![
        family.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            vec((family.clone(), any::<bool>()), 0..4)
        )
            .prop_map(
                |(r, n, t, f)| Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: r,
                    notification: n,
                    restart_time: t,
                    families: f
                })
            ),
        vec((family.clone(), mode), 1..4).prop_map(Capability::AddPath),
        vec((family, any::<u16>()), 1..4).prop_map(|v| Capability::ExtendedNextHop(
            v.into_iter().map(|(f, a)| (f, Afi(a))).collect()
        )),
        ("[a-z0-9-]{0,40}", "[a-z.]{0,40}").prop_map(|(h, d)| Capability::Fqdn {
            hostname: h,
            domain: d
        }),
        (
            prop_oneof![3u8..5, 7u8..64, 66u8..69, 74u8..=255],
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, v)| Capability::Unknown {
                code,
                value: Bytes::from(v)
            }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        vec(capability(), 0..30),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn roundtrip(msg: &Message, ctx: &Negotiated) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    match msg.encode(ctx, &mut out) {
        Ok(()) => {}
        Err(EncodeError::TooLong(_)) => return Ok(()), // generated beyond the size limit
        Err(e) => return Err(TestCaseError::fail(format!("encode: {e}"))),
    }
    prop_assert_eq!(frame(&out, ctx.max_message_len()), Ok(Some(out.len())));
    let back = Message::decode(out.freeze(), &ctx.mirror())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn update_roundtrip((ctx, u) in ctx_strategy().prop_flat_map(|c| (Just(c.clone()), update(&c)))) {
        roundtrip(&Message::Update(u), &ctx)?;
    }

    #[test]
    fn open_roundtrip(o in open()) {
        roundtrip(&Message::Open(o), &Negotiated::default())?;
    }

    #[test]
    fn notification_roundtrip(code in any::<u8>(), subcode in any::<u8>(), data in vec(any::<u8>(), 0..200)) {
        let n = Notification { code, subcode, data: Bytes::from(data) };
        roundtrip(&Message::Notification(n), &Negotiated::default())?;
    }

    #[test]
    fn shutdown_text_roundtrip(text in "\\PC{0,300}") {
        let n = Notification::shutdown(2, &text);
        let got = n.shutdown_communication().unwrap_or_default();
        prop_assert!(text.starts_with(got) && got.len() <= 255);
        roundtrip(&Message::Notification(n), &Negotiated::default())?;
    }

    #[test]
    fn route_refresh_roundtrip(afi in any::<u16>(), safi in any::<u8>(), sub in any::<u8>()) {
        let subtype = match sub { 0 => RefreshSubtype::Normal, 1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh, v => RefreshSubtype::Other(v) };
        roundtrip(&Message::RouteRefresh(RouteRefresh { family: Family::new(afi, safi), subtype }), &Negotiated::default())?;
    }

    #[test]
    fn packing_carries_every_prefix_once(
        ctx in ctx_strategy(),
        v4 in nlri(v4_prefix(), false, 3000),
        v6 in nlri(v6_prefix(), false, 1000),
        a in attrs(true, true),
    ) {
        for (family, mut prefixes, nh) in [
            (Family::IPV4_UNICAST, v4, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))),
            (Family::IPV6_UNICAST, v6, NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None }),
        ] {
            let ap = ctx.add_path_tx(family);
            for (i, p) in prefixes.iter_mut().enumerate() {
                p.path_id = ap.then_some(i as u32);
            }
            for withdraw in [false, true] {
                let mut got = Vec::new();
                let mut rest = &prefixes[..];
                let mut messages = 0;
                while !rest.is_empty() {
                    let mut out = BytesMut::new();
                    let n = if withdraw {
                        encode_withdrawals(&ctx, family, rest, &mut out).unwrap()
                    } else {
                        match encode_announcements(&ctx, &a, family, &nh, rest, &mut out) {
                            Ok(n) => n,
                            Err(EncodeError::TooLong(_)) => break, // attributes alone too big
                            Err(e) => panic!("{e}"),
                        }
                    };
                    prop_assert!(n > 0);
                    prop_assert!(out.len() <= ctx.max_message_len());
                    let Message::Update(u) = Message::decode(out.freeze(), &ctx.mirror()).unwrap() else { panic!() };
                    prop_assert!(u.errors.is_empty(), "{:?}", u.errors);
                    if withdraw {
                        got.extend(u.withdrawn_routes().map(|(_, n)| *n));
                    } else {
                        for ann in u.announced() {
                            got.extend_from_slice(ann.nlri);
                        }
                    }
                    rest = &rest[n..];
                    messages += 1;
                }
                if rest.is_empty() {
                    prop_assert_eq!(&got, &prefixes);
                    // As few messages as fit: each one but the last is at least 3/4 full.
                    let bytes: usize = prefixes.iter().map(|p| p.encoded_len(ap)).sum();
                    prop_assert!(messages <= bytes / (ctx.max_message_len() * 3 / 4) + 1);
                }
            }
        }
    }
}

#[test]
fn end_of_rib_markers() {
    let ctx = Negotiated::default();
    for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let mut out = BytesMut::new();
        Update::end_of_rib(f).encode(&ctx, &mut out).unwrap();
        if f == Family::IPV4_UNICAST {
            assert_eq!(out.len(), 23, "IPv4 End-of-RIB is the empty UPDATE");
        } else {
            assert_eq!(&out[19..], &[0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]);
        }
        let Message::Update(u) = Message::decode(out.freeze(), &ctx).unwrap() else {
            panic!()
        };
        assert_eq!(u.end_of_rib_family(), Some(f));
    }
}

//! Workload generators shared by the benchmarks: deterministic messages and route sets.

pub mod bfd_report;
pub mod calico_text;
pub mod clock;
pub mod procstat;
pub mod report_section;
pub mod route_count;
pub mod speaker;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_core::wire::{
    encode_announcements, AsPath, Capability, Community, Family, GracefulRestartCap,
    LargeCommunity, Negotiated, NextHop, Nlri, Open, Origin, PathAttributes,
};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// `n` distinct IPv4 /24s starting at 10.0.0.0/24 (then 11.0.0.0, ...).
pub fn ipv4_prefixes(n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let base = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + ((i as u32) << 8);
            Nlri::new(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base), 24).unwrap()))
        })
        .collect()
}

/// `n` distinct IPv6 /48s under 2001:db8::/32 and beyond.
pub fn ipv6_prefixes(n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let base =
                u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)) + ((i as u128) << 80);
            Nlri::new(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base), 48).unwrap()))
        })
        .collect()
}

/// Typical eBGP-learned attributes: ORIGIN, a 3-AS path, NEXT_HOP, MED.
pub fn typical_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&[65001, 65002, 65003])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(10),
        ..PathAttributes::default()
    }
}

/// An eBGP context from AS 64512 to AS 65001 (4-octet AS, no ADD-PATH).
pub fn ebgp_ctx() -> Negotiated {
    Negotiated {
        local_as: 64512,
        peer_as: 65001,
        ..Negotiated::default()
    }
}

/// One UPDATE announcing the first `n` of `ipv4_prefixes` (as many as fit in 4096 octets).
pub fn ipv4_update(n: usize) -> Bytes {
    let ctx = ebgp_ctx();
    let mut out = BytesMut::new();
    let nlri = ipv4_prefixes(n);
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let took = encode_announcements(
        &ctx,
        &typical_attrs(),
        Family::IPV4_UNICAST,
        &nh,
        &nlri,
        &mut out,
    )
    .unwrap();
    assert_eq!(took, n, "{n} prefixes do not fit one UPDATE");
    out.freeze()
}

/// One IPv6 MP_REACH UPDATE with communities and large communities for `n` /48s.
pub fn ipv6_update(n: usize) -> Bytes {
    let ctx = ebgp_ctx();
    let mut attrs = typical_attrs();
    attrs.next_hop = None;
    attrs.communities = vec![Community::new(65001, 100), Community::new(65001, 200)];
    attrs.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let mut out = BytesMut::new();
    let took = encode_announcements(
        &ctx,
        &attrs,
        Family::IPV6_UNICAST,
        &nh,
        &ipv6_prefixes(n),
        &mut out,
    )
    .unwrap();
    assert_eq!(took, n);
    out.freeze()
}

/// A BIRD-like OPEN: MP IPv4+IPv6, route refresh, enhanced refresh, GR, 4-octet AS, ADD-PATH.
pub fn typical_open() -> Open {
    Open::new(
        64512,
        240,
        Ipv4Addr::new(172, 30, 0, 11),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: false,
                notification: true,
                restart_time: 120,
                families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, true)],
            }),
            Capability::FourOctetAs(64512),
            Capability::AddPath(vec![(
                Family::IPV4_UNICAST,
                bgp_core::wire::AddPathMode::Both,
            )]),
        ],
    )
}

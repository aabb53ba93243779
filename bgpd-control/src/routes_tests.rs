//! `show route`'s entries from a real RIB and kernel view: how each kind of next hop is shown,
//! and paging (limit, resume) over the walk.

use std::sync::Arc;

use bgp_core::rib::{LocalRoute, PeerConfig, RibConfig};
use bgp_core::wire::{AsPath, Negotiated, NextHop, Nlri, Origin, PathAttributes};

use super::*;

const AS: u32 = 65000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// eth0 holds 192.168.1.0/24.
fn cx(fib_enabled: bool) -> RouteContext {
    RouteContext {
        kernel: Arc::new(KernelView {
            links: [(2, "eth0".to_string())].into(),
            subnets: vec![(net("192.168.1.0/24"), 2, ip("192.168.1.5"))],
        }),
        fib_enabled,
        since: SystemTime::UNIX_EPOCH,
        ..RouteContext::default()
    }
}

fn rib() -> Rib {
    Rib::new(RibConfig::new(AS, "10.0.0.1".parse().unwrap()))
}

/// An eBGP peer `name` at `addr` announcing `prefixes` with next hop `hop`.
fn peer(rib: &mut Rib, name: &str, addr: &str, hop: &str, prefixes: &[&str]) -> SourceId {
    let mut c = PeerConfig::new(name, ip(addr));
    c.local_v4 = Some("10.0.0.1".parse().unwrap());
    let p = rib.add_peer(c).unwrap();
    rib.peer_up(
        p,
        Negotiated {
            local_as: AS,
            peer_as: 65100,
            local_id: "10.0.0.1".parse().unwrap(),
            peer_id: addr.parse().unwrap(),
            ..Negotiated::default()
        },
    );
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&[65100, 65200])),
        ..PathAttributes::default()
    };
    let n: Vec<Nlri> = prefixes.iter().map(|s| Nlri::new(net(s))).collect();
    let hop = Some(NextHop::V4(hop.parse().unwrap()));
    rib.announce(p, Family::IPV4_UNICAST, &attrs, hop, &n);
    p
}

fn static_via(rib: &mut Rib, prefix: &str, gw: &str) {
    let r = LocalRoute {
        next_hop: Some(ip(gw)),
        ..LocalRoute::default()
    };
    rib.add_local(SourceKind::Static, net(prefix), r);
}

fn all() -> RouteQuery {
    RouteQuery::default()
}

fn one(rib: &Rib, cx: &RouteContext, prefix: &str) -> RouteEntry {
    let q = RouteQuery {
        prefix: Some(net(prefix)),
        ..all()
    };
    let mut v = walk(&q, cx, || rib);
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

#[test]
fn a_static_route_names_its_gateway_on_the_onlink_interface() {
    let mut r = rib();
    static_via(&mut r, "10.5.0.0/16", "192.168.1.1");
    let e = one(&r, &cx(true), "10.5.0.0/16");
    assert_eq!(
        e.dest,
        RouteDest::Via {
            nexthops: vec![(ip("192.168.1.1"), Some("eth0".into()))]
        }
    );
    assert_eq!(
        (e.protocol.as_str(), e.preference, e.primary),
        ("static1", 200, true)
    );
    assert_eq!((e.igp_metric, e.from, e.bgp.is_none()), (None, None, true));
}

#[test]
fn a_bgp_next_hop_resolves_on_link_through_a_local_route_or_not_at_all() {
    let mut r = rib();
    peer(
        &mut r,
        "onlink",
        "192.168.1.2",
        "192.168.1.2",
        &["10.1.0.0/16"],
    );
    peer(&mut r, "far", "10.9.0.2", "10.9.0.2", &["10.2.0.0/16"]);
    peer(&mut r, "lost", "10.8.0.2", "10.8.0.2", &["10.3.0.0/16"]);
    // 10.9.0.0/16 is reached through a static route with a gateway.
    static_via(&mut r, "10.9.0.0/16", "192.168.1.1");
    let cx = cx(true);
    let e = one(&r, &cx, "10.1.0.0/16");
    assert_eq!(
        e.dest,
        RouteDest::Via {
            nexthops: vec![(ip("192.168.1.2"), Some("eth0".into()))]
        }
    );
    // The neighbour is the gateway: no ` from`.
    assert_eq!((e.igp_metric, e.from), (Some(0), None));
    let b = e.bgp.unwrap();
    assert_eq!(
        (b.origin.as_str(), b.as_path.as_str()),
        ("IGP", "65100 65200")
    );
    let e = one(&r, &cx, "10.2.0.0/16");
    assert_eq!(
        e.dest,
        RouteDest::Via {
            nexthops: vec![(ip("192.168.1.1"), Some("eth0".into()))]
        }
    );
    assert_eq!(
        (e.igp_metric, e.from),
        (Some(IGP_METRIC_UNKNOWN), Some(ip("10.9.0.2")))
    );
    let e = one(&r, &cx, "10.3.0.0/16");
    assert_eq!(
        (e.dest, e.igp_metric),
        (RouteDest::Unreachable, Some(IGP_METRIC_UNRESOLVED))
    );
    // Without the kernel the next hop is shown as it is.
    let e = one(&r, &super::tests::cx(false), "10.3.0.0/16");
    assert_eq!(
        e.dest,
        RouteDest::Via {
            nexthops: vec![(ip("10.8.0.2"), None)]
        }
    );
}

#[test]
fn gateway_direct_replaces_an_offlink_next_hop_by_the_neighbour() {
    let mut r = rib();
    let p = peer(&mut r, "rr", "192.168.1.2", "10.7.7.7", &["10.1.0.0/16"]);
    let cx = cx(true);
    let via_neighbour = RouteDest::Via {
        nexthops: vec![(ip("192.168.1.2"), Some("eth0".into()))],
    };
    assert_ne!(one(&r, &cx, "10.1.0.0/16").dest, via_neighbour, "recursive");
    let mut c = r.peer_config(p).unwrap().clone();
    c.gateway_direct = true;
    r.set_peer_config(p, c);
    let e = one(&r, &cx, "10.1.0.0/16");
    assert_eq!(e.dest, via_neighbour);
    assert_eq!(e.bgp.unwrap().next_hop, Some(ip("10.7.7.7")));
}

#[test]
fn a_refused_network_marks_its_primary_route() {
    let mut r = rib();
    static_via(&mut r, "10.5.0.0/16", "192.168.1.1");
    let mut cx = cx(true);
    cx.refused.insert(net("10.5.0.0/16"));
    assert!(one(&r, &cx, "10.5.0.0/16").sync_error);
}

#[test]
fn pages_by_limit_and_resume_cover_the_table_once_in_order() {
    let mut r = rib();
    let prefixes: Vec<String> = (0..10).map(|i| format!("10.{i}.0.0/16")).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    peer(&mut r, "a", "192.168.1.2", "192.168.1.2", &refs);
    peer(&mut r, "b", "192.168.1.3", "192.168.1.3", &refs);
    static_via(&mut r, "fd00::/64", "192.168.1.1");
    let cx = cx(true);
    let whole = walk(&all(), &cx, || &r);
    assert_eq!(whole.len(), 21);
    assert!(whole.iter().filter(|e| e.primary).count() == 11);
    // Pages of 3, each resumed from the last network shown and how many of its routes were.
    let mut paged = Vec::new();
    let mut resume = None;
    loop {
        let q = RouteQuery {
            limit: 3,
            resume,
            ..all()
        };
        let page = walk(&q, &cx, || &r);
        let Some(last) = page.last() else { break };
        let shown = page
            .iter()
            .rev()
            .take_while(|e| e.prefix == last.prefix)
            .count();
        let before = paged
            .iter()
            .rev()
            .take_while(|e: &&RouteEntry| e.prefix == last.prefix)
            .count();
        let more = if page.iter().all(|e| e.prefix == last.prefix) {
            before
        } else {
            0
        };
        resume = Some((last.prefix, shown + more));
        paged.extend(page);
    }
    assert_eq!(paged, whole);
    // Offsets give the same, and filters apply before the limit.
    let q = RouteQuery {
        offset: 19,
        ..all()
    };
    assert_eq!(walk(&q, &cx, || &r), whole[19..]);
    let q = RouteQuery {
        protocol: Some("b".into()),
        primary_only: true,
        family: Some(IpFamily::Ipv4),
        ..all()
    };
    assert!(walk(&q, &cx, || &r)
        .iter()
        .all(|e| e.protocol == "b" && e.primary));
    let q = RouteQuery {
        family: Some(IpFamily::Ipv6),
        ..all()
    };
    assert_eq!(walk(&q, &cx, || &r).len(), 1);
}

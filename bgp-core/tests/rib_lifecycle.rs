//! DOC: RIB life cycle: graceful restart (stale, sweep on End-of-RIB and timer), peer down,
//! FIB change sets, outbound coalescing and UPDATE packing, ADD-PATH both ways, soft
//! reconfiguration, next-hop reachability, interning, IPv6.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::rib::{
    ChangeFlags, Filter, LocalRoute, NhState, PeerConfig, Rib, RibConfig, RouteType, SourceId,
    SourceKind,
};
use bgp_core::wire::{frame, Family, Message, Negotiated, NextHop, Nlri, Update, MAX_MESSAGE_LEN};
use bytes::BytesMut;
use rib_common::*;

const AS: u32 = 65000;

fn rib() -> Rib {
    Rib::new(RibConfig::new(AS, v4("10.0.0.1")))
}

fn up(rib: &mut Rib, name: &str, addr: &str, asn: u32) -> SourceId {
    let mut c = PeerConfig::new(name, ip(addr));
    c.local_v4 = Some(v4("10.0.0.1"));
    let p = rib.add_peer(c).unwrap();
    rib.peer_up(p, neg(AS, "10.0.0.1", asn, addr));
    p
}

fn ann(rib: &mut Rib, p: SourceId, hop: &str, prefixes: &[&str]) {
    let n: Vec<Nlri> = prefixes.iter().map(|s| nlri(s)).collect();
    rib.announce(p, Family::IPV4_UNICAST, &attrs(&[65100]), nh(hop), &n);
}

/// Pulls every UPDATE pending for `p`, decoded with `ctx` mirrored.
fn pull(rib: &mut Rib, p: SourceId, ctx: &Negotiated) -> Vec<Update> {
    let mut buf = BytesMut::new();
    while rib.poll_update(p, &mut buf).unwrap() {}
    let mut b = buf.freeze();
    let rx = ctx.mirror();
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = frame(&b, MAX_MESSAGE_LEN).unwrap().unwrap();
        match Message::decode(b.split_to(len), &rx).unwrap() {
            Message::Update(u) => out.push(u),
            m => panic!("{m:?}"),
        }
    }
    out
}

#[test]
fn graceful_restart_keeps_stale_routes_and_sweeps_on_end_of_rib() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    ann(
        &mut r,
        p,
        "10.0.0.2",
        &["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"],
    );
    drain_fib(&mut r);
    r.peer_down(p, true);
    // Kept and still used, marked stale; the FIB sees nothing.
    assert_eq!(r.len(Family::IPV4_UNICAST), 3);
    assert!(r.best(&net("10.1.0.0/16")).unwrap().stale);
    assert!(drain_fib(&mut r).is_empty());
    // The peer comes back and refreshes two of them, one with new attributes.
    r.peer_up(p, neg(AS, "10.0.0.1", AS, "10.0.0.2"));
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16"]);
    ann(&mut r, p, "10.0.0.9", &["10.2.0.0/16"]);
    assert!(!r.best(&net("10.1.0.0/16")).unwrap().stale);
    assert!(r.best(&net("10.3.0.0/16")).unwrap().stale);
    // End-of-RIB sweeps what was not refreshed.
    let s = r.apply_update(p, &Update::end_of_rib(Family::IPV4_UNICAST));
    assert_eq!(s.end_of_rib, Some(Family::IPV4_UNICAST));
    assert_eq!(
        r.prefixes(Family::IPV4_UNICAST),
        vec![net("10.1.0.0/16"), net("10.2.0.0/16")]
    );
    let fib = drain_fib(&mut r);
    let mut got: Vec<_> = fib.iter().map(|c| (c.prefix, c.route.is_some())).collect();
    got.sort();
    assert_eq!(
        got,
        vec![(net("10.2.0.0/16"), true), (net("10.3.0.0/16"), false)]
    );
}

#[test]
fn stale_timer_sweeps_everything_stale() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    let q = up(&mut r, "q", "10.0.0.3", AS);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    ann(&mut r, q, "10.0.0.3", &["10.2.0.0/16"]);
    r.peer_down(p, true);
    r.stale_timer_expired(p);
    assert_eq!(r.prefixes(Family::IPV4_UNICAST), vec![net("10.2.0.0/16")]);
    assert_eq!(r.best(&net("10.2.0.0/16")).unwrap().source, q);
}

#[test]
fn peer_down_emits_only_the_changes_it_causes() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    let q = up(&mut r, "q", "10.0.0.3", AS);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    ann(&mut r, q, "10.0.0.3", &["10.2.0.0/16", "10.3.0.0/16"]);
    drain_fib(&mut r);
    r.peer_down(p, false);
    let mut fib: Vec<_> = drain_fib(&mut r)
        .into_iter()
        .map(|c| (c.prefix, c.changed, c.route.map(|r| r.next_hops[0].addr)))
        .collect();
    fib.sort_by_key(|c| c.0);
    assert_eq!(
        fib,
        vec![
            (net("10.1.0.0/16"), ChangeFlags::WITHDRAWN, None),
            (
                net("10.2.0.0/16"),
                ChangeFlags::BEST,
                Some(Some(ip("10.0.0.3")))
            ),
        ]
    );
    assert_eq!(r.attr_sets(), 1);
}

#[test]
fn fib_changes_are_coalesced_and_flagged() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16"]);
    ann(&mut r, p, "10.0.0.4", &["10.1.0.0/16"]);
    ann(&mut r, p, "10.0.0.5", &["10.1.0.0/16"]);
    let fib = drain_fib(&mut r);
    assert_eq!(fib.len(), 1);
    assert!(fib[0].changed.contains(ChangeFlags::BEST));
    assert_eq!(
        fib[0].route.as_ref().unwrap().next_hops[0].addr,
        Some(ip("10.0.0.5"))
    );
    ann(&mut r, p, "10.0.0.6", &["10.1.0.0/16"]);
    let fib = drain_fib(&mut r);
    assert_eq!(fib[0].changed, ChangeFlags::ATTRS);
    // Announce and withdraw before the FIB looks: one removal (harmless when never installed).
    r.add_local(
        SourceKind::Static,
        net("10.244.1.0/26"),
        LocalRoute {
            route_type: RouteType::Blackhole,
            ..LocalRoute::default()
        },
    );
    let fib = drain_fib(&mut r);
    let route = fib[0].route.as_ref().unwrap();
    assert_eq!(
        (route.source, route.route_type),
        (SourceKind::Static, RouteType::Blackhole)
    );
    r.remove_local(SourceKind::Static, net("10.244.1.0/26"));
    let fib = drain_fib(&mut r);
    assert_eq!((fib.len(), fib[0].route.is_none()), (1, true));
    assert!(drain_fib(&mut r).is_empty());
}

#[test]
fn outbound_changes_are_coalesced_and_packed() {
    let mut r = rib();
    let e = up(&mut r, "e", "192.0.2.1", 65100);
    let mut c = PeerConfig::new("i", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let i = r.add_peer(c).unwrap();
    let ctx = neg(AS, "10.0.0.1", AS, "10.0.0.2");
    r.peer_up(i, ctx.clone());
    // Initial feed of an empty table: just End-of-RIB, for each negotiated family.
    let msgs = pull(&mut r, i, &ctx);
    let eor: Vec<_> = msgs.iter().map(Update::end_of_rib_family).collect();
    assert_eq!(
        eor,
        vec![Some(Family::IPV4_UNICAST), Some(Family::IPV6_UNICAST)]
    );
    assert!(!r.has_pending(i));
    // One prefix changing five times before the peer drains: sent once, latest state.
    for med in 1..=5 {
        let mut a = attrs(&[65100]);
        a.med = Some(med);
        r.announce(
            e,
            Family::IPV4_UNICAST,
            &a,
            nh("192.0.2.1"),
            &[nlri("10.1.0.0/16")],
        );
    }
    // Announced then withdrawn before the drain: nothing at all.
    ann(&mut r, e, "192.0.2.1", &["10.9.0.0/16"]);
    r.withdraw(e, Family::IPV4_UNICAST, &nlri("10.9.0.0/16"));
    let msgs = pull(&mut r, i, &ctx);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].nlri, vec![nlri("10.1.0.0/16")]);
    assert_eq!(msgs[0].attrs.med, Some(5));
    // Unchanged outgoing attributes are not re-sent (the eBGP next hop changes nothing
    // else; re-announcing identical attributes is not a change).
    let mut a = attrs(&[65100]);
    a.med = Some(5);
    r.announce(
        e,
        Family::IPV4_UNICAST,
        &a,
        nh("192.0.2.1"),
        &[nlri("10.1.0.0/16")],
    );
    assert!(pull(&mut r, i, &ctx).is_empty());
    // 600 prefixes over two attribute sets: two groups, packed into few messages.
    let a_set: Vec<Nlri> = (0..300)
        .map(|k| nlri(&format!("20.{}.{}.0/24", k / 256, k % 256)))
        .collect();
    let b_set: Vec<Nlri> = (0..300)
        .map(|k| nlri(&format!("30.{}.{}.0/24", k / 256, k % 256)))
        .collect();
    r.announce(
        e,
        Family::IPV4_UNICAST,
        &attrs(&[65100]),
        nh("192.0.2.1"),
        &a_set,
    );
    r.announce(
        e,
        Family::IPV4_UNICAST,
        &attrs(&[65100, 65200]),
        nh("192.0.2.1"),
        &b_set,
    );
    let msgs = pull(&mut r, i, &ctx);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs.iter().map(|m| m.nlri.len()).sum::<usize>(), 600);
    // Withdrawals are packed too.
    for n in &a_set {
        r.withdraw(e, Family::IPV4_UNICAST, n);
    }
    let msgs = pull(&mut r, i, &ctx);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].withdrawn.len(), 300);
}

#[test]
fn add_path_receive_and_send() {
    let mut r = rib();
    let mut ctx = neg(AS, "10.0.0.1", AS, "10.0.0.2");
    ctx.add_path_rx = vec![Family::IPV4_UNICAST];
    let mut c = PeerConfig::new("rr", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let p = r.add_peer(c).unwrap();
    r.peer_up(p, ctx);
    let n1 = Nlri::with_path_id(net("10.1.0.0/16"), 1);
    let n2 = Nlri::with_path_id(net("10.1.0.0/16"), 2);
    r.announce(p, Family::IPV4_UNICAST, &attrs(&[]), nh("10.0.0.7"), &[n1]);
    r.announce(p, Family::IPV4_UNICAST, &attrs(&[]), nh("10.0.0.8"), &[n2]);
    assert_eq!(r.routes(&net("10.1.0.0/16")).len(), 2);
    r.withdraw(p, Family::IPV4_UNICAST, &n1);
    let routes = r.routes(&net("10.1.0.0/16"));
    assert_eq!((routes.len(), routes[0].path_id), (1, 2));
    r.announce(p, Family::IPV4_UNICAST, &attrs(&[]), nh("10.0.0.7"), &[n1]);

    // Send side: an eBGP peer with ADD-PATH send gets both paths with distinct identifiers.
    let mut c = PeerConfig::new("e", ip("192.0.2.1"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let e = r.add_peer(c).unwrap();
    let mut ectx = neg(AS, "10.0.0.1", 65100, "192.0.2.1");
    ectx.add_path_tx = vec![Family::IPV4_UNICAST];
    r.peer_up(e, ectx.clone());
    let msgs = pull(&mut r, e, &ectx);
    let mut ids: Vec<u32> = msgs
        .iter()
        .flat_map(|m| m.nlri.iter().filter_map(|n| n.path_id))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2);
    assert_eq!(r.adj_rib_out(e, &net("10.1.0.0/16")).len(), 2);
    // Without ADD-PATH send only the best goes out.
    let mut c = PeerConfig::new("e2", ip("192.0.2.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let e2 = r.add_peer(c).unwrap();
    let e2ctx = neg(AS, "10.0.0.1", 65200, "192.0.2.2");
    r.peer_up(e2, e2ctx.clone());
    let msgs = pull(&mut r, e2, &e2ctx);
    assert_eq!(msgs.iter().map(|m| m.nlri.len()).sum::<usize>(), 1);
    // Losing one path withdraws exactly that path id from the ADD-PATH peer.
    r.withdraw(p, Family::IPV4_UNICAST, &n2);
    let msgs = pull(&mut r, e, &ectx);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].withdrawn.len(), 1);
    assert!(msgs[0].withdrawn[0].path_id.is_some());
}

#[test]
fn soft_reconfiguration_inbound_reruns_the_import_filter() {
    let mut r = rib();
    r.set_policy("imp", Filter::accept_all());
    let mut c = PeerConfig::new("p", ip("10.0.0.2"));
    c.import = Some("imp".into());
    c.soft_reconfig_inbound = true;
    let p = r.add_peer(c).unwrap();
    r.peer_up(p, neg(AS, "10.0.0.1", AS, "10.0.0.2"));
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    assert_eq!(r.len(Family::IPV4_UNICAST), 2);
    r.set_policy("imp", reject_exactly("10.1.0.0/16"));
    assert!(r.reimport(p));
    assert_eq!(r.prefixes(Family::IPV4_UNICAST), vec![net("10.2.0.0/16")]);
    r.set_policy("imp", Filter::accept_all());
    assert!(r.reimport(p));
    assert_eq!(r.len(Family::IPV4_UNICAST), 2);
    // Without soft reconfiguration there is nothing to rerun on.
    let q = up(&mut r, "q", "10.0.0.3", AS);
    assert!(!r.reimport(q));
}

#[test]
fn next_hop_reachability_changes_are_re_decided() {
    struct Down;
    impl bgp_core::rib::NextHopResolver for Down {
        fn resolve(&mut self, addr: std::net::IpAddr) -> NhState {
            NhState {
                reachable: addr != ip("10.0.0.2"),
                igp_cost: 0,
            }
        }
    }
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    let q = up(&mut r, "q", "10.0.0.3", AS);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16"]);
    ann(&mut r, q, "10.0.0.3", &["10.1.0.0/16"]);
    assert_eq!(r.best(&net("10.1.0.0/16")).unwrap().source, p);
    drain_fib(&mut r);
    r.resolve_next_hops(&mut Down);
    assert_eq!(r.best(&net("10.1.0.0/16")).unwrap().source, q);
    assert_eq!(drain_fib(&mut r).len(), 1);
    r.set_next_hop_state(
        ip("10.0.0.3"),
        NhState {
            reachable: false,
            igp_cost: 0,
        },
    );
    assert!(r.best(&net("10.1.0.0/16")).is_none());
    assert!(drain_fib(&mut r)[0].route.is_none());
    // New routes via a known-unreachable next hop are not selected either.
    ann(&mut r, p, "10.0.0.2", &["10.4.0.0/16"]);
    assert!(r.best(&net("10.4.0.0/16")).is_none());
}

#[test]
fn identical_attributes_are_interned_once() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    let n: Vec<Nlri> = (0..1000)
        .map(|k| nlri(&format!("10.{}.{}.0/24", k / 256, k % 256)))
        .collect();
    r.announce(
        p,
        Family::IPV4_UNICAST,
        &attrs(&[65100]),
        nh("10.0.0.2"),
        &n[..500],
    );
    r.announce(
        p,
        Family::IPV4_UNICAST,
        &attrs(&[65100]),
        nh("10.0.0.2"),
        &n[500..],
    );
    assert_eq!((r.len(Family::IPV4_UNICAST), r.attr_sets()), (1000, 1));
    r.announce(
        p,
        Family::IPV4_UNICAST,
        &attrs(&[65101]),
        nh("10.0.0.2"),
        &n[..10],
    );
    assert_eq!(r.attr_sets(), 2);
    r.peer_down(p, false);
    assert_eq!((r.len(Family::IPV4_UNICAST), r.attr_sets()), (0, 0));
}

#[test]
fn ipv6_routes_flow_through_mp_reach() {
    let mut n = Network::default();
    let a = n.node(AS, "10.0.0.1");
    let b = n.node(AS, "10.0.0.2");
    let mut ca = PeerConfig::new("b", ip("fd00::2"));
    ca.local_v6 = Some("fd00::1".parse().unwrap());
    let cb = PeerConfig::new("a", ip("fd00::1"));
    n.link(a, b, ca, cb);
    n.nodes[a].rib.add_local(
        SourceKind::Static,
        net("fd00:244::/64"),
        LocalRoute::default(),
    );
    n.settle();
    let got = n.nodes[b].rib.best(&net("fd00:244::/64")).unwrap();
    assert_eq!(
        got.attrs.next_hop,
        Some(NextHop::V6 {
            global: "fd00::1".parse().unwrap(),
            link_local: None
        })
    );
    n.nodes[a]
        .rib
        .remove_local(SourceKind::Static, net("fd00:244::/64"));
    n.settle();
    assert!(n.nodes[b].rib.best(&net("fd00:244::/64")).is_none());
}

#[test]
fn end_of_rib_follows_the_initial_feed_even_under_churn() {
    let mut r = rib();
    let e = up(&mut r, "e", "192.0.2.1", 65100);
    let prefixes: Vec<String> = (0..3000)
        .map(|k| format!("20.{}.{}.0/24", k / 256, k % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    ann(&mut r, e, "192.0.2.1", &refs);
    let mut c = PeerConfig::new("i", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let i = r.add_peer(c).unwrap();
    let mut ctx = neg(AS, "10.0.0.1", AS, "10.0.0.2");
    ctx.families = vec![Family::IPV4_UNICAST];
    r.peer_up(i, ctx.clone());
    // Pull one message, then keep changing a prefix between pulls: End-of-RIB must still come
    // right after the 3000 initial prefixes, before the later changes.
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    let mut eor_after = None;
    let rx = ctx.mirror();
    for round in 0..100 {
        let mut a = attrs(&[65100]);
        a.med = Some(round);
        r.announce(
            e,
            Family::IPV4_UNICAST,
            &a,
            nh("192.0.2.1"),
            &[nlri("30.0.0.0/24")],
        );
        buf.clear();
        if !r.poll_update(i, &mut buf).unwrap() {
            break;
        }
        let len = frame(&buf, MAX_MESSAGE_LEN).unwrap().unwrap();
        let Message::Update(u) = Message::decode(buf.clone().freeze().split_to(len), &rx).unwrap()
        else {
            panic!()
        };
        if u.end_of_rib_family().is_some() {
            eor_after = Some(seen);
            break;
        }
        seen += u.nlri.len();
    }
    assert_eq!(eor_after, Some(3000));
    assert!(r.has_pending(i), "the later changes are still to be sent");
}

#[test]
fn peers_coming_up_together_share_one_feed_snapshot_and_get_everything() {
    let mut r = rib();
    let e = up(&mut r, "e", "192.0.2.1", 65100);
    ann(&mut r, e, "192.0.2.1", &["10.1.0.0/16", "10.2.0.0/16"]);
    let mut clients = Vec::new();
    for k in 0..3 {
        let addr = format!("10.0.1.{}", k + 1);
        let mut c = PeerConfig::new(format!("c{k}"), ip(&addr));
        c.local_v4 = Some(v4("10.0.0.1"));
        let id = r.add_peer(c).unwrap();
        r.peer_up(id, neg(AS, "10.0.0.1", AS, &addr));
        clients.push((id, neg(AS, "10.0.0.1", AS, &addr)));
    }
    // A prefix added after the first peers came up reaches everyone too.
    ann(&mut r, e, "192.0.2.1", &["10.3.0.0/16"]);
    for (id, ctx) in &clients {
        let msgs = pull(&mut r, *id, ctx);
        let n: usize = msgs.iter().map(|m| m.nlri.len()).sum();
        assert_eq!(n, 3);
    }
}

#[test]
fn well_known_communities_limit_export() {
    use bgp_core::wire::Community;
    // (community, reaches iBGP peer, reaches eBGP peer)
    let cases = [
        (None, true, true),
        (Some(Community::NO_EXPORT), true, false),
        (Some(Community::NO_EXPORT_SUBCONFED), true, false),
        (Some(Community::NO_ADVERTISE), false, false),
    ];
    for (c, to_ibgp, to_ebgp) in cases {
        let mut r = rib();
        let src = up(&mut r, "src", "192.0.2.1", 65100);
        let i = up(&mut r, "i", "10.0.0.2", AS);
        let e = up(&mut r, "e", "192.0.2.9", 65200);
        let mut a = attrs(&[65100]);
        a.communities = c.into_iter().collect();
        r.announce(
            src,
            Family::IPV4_UNICAST,
            &a,
            nh("192.0.2.1"),
            &[nlri("10.1.0.0/16")],
        );
        for (p, want) in [(i, to_ibgp), (e, to_ebgp)] {
            let mut buf = BytesMut::new();
            while r.poll_update(p, &mut buf).unwrap() {}
            assert_eq!(
                !r.adj_rib_out(p, &net("10.1.0.0/16")).is_empty(),
                want,
                "{c:?}"
            );
        }
    }
}

#[test]
fn removed_peer_frees_its_routes_and_slot() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", AS);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    let mine = r.source_routes(p, Family::IPV4_UNICAST);
    assert_eq!(
        mine.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![net("10.1.0.0/16"), net("10.2.0.0/16")]
    );
    r.remove_peer(p);
    assert!(r.is_empty());
    assert!(r.source_routes(p, Family::IPV4_UNICAST).is_empty());
    let q = r.add_peer(PeerConfig::new("q", ip("10.0.0.3"))).unwrap();
    assert_eq!(q, p, "slot reused");
}

#[test]
fn a_reused_slot_starts_without_its_previous_owners_export_state() {
    // A peer with exports under way is removed mid-feed; the next peer in its slot must see
    // only its own feed, and every poll that reports progress must write something.
    let mut r = rib();
    let src = up(&mut r, "src", "192.0.2.1", 65100);
    let prefixes: Vec<String> = (0..300)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    ann(&mut r, src, "192.0.2.1", &refs);
    let old = up(&mut r, "old", "10.0.0.2", AS);
    let mut buf = BytesMut::new();
    assert!(
        r.poll_update(old, &mut buf).unwrap(),
        "the old peer's feed starts"
    );
    r.remove_peer(old);
    let new = r.add_peer(PeerConfig::new("new", ip("10.0.0.3"))).unwrap();
    assert_eq!(new, old, "slot reused");
    assert!(
        !r.has_pending(new),
        "nothing pending before the new session is up"
    );
    let mut buf = BytesMut::new();
    assert!(!r.poll_update(new, &mut buf).unwrap() && buf.is_empty());
    let ctx = neg(AS, "10.0.0.1", AS, "10.0.0.3");
    r.peer_up(new, ctx.clone());
    let mut buf = BytesMut::new();
    let mut polls = 0;
    loop {
        let before = buf.len();
        if !r.poll_update(new, &mut buf).unwrap() {
            break;
        }
        assert!(buf.len() > before, "progress reported without a message");
        polls += 1;
        assert!(polls < 10_000, "the feed never ends");
    }
    let got: usize = pull_from(buf, &ctx).iter().map(|u| u.nlri.len()).sum();
    assert_eq!(got, 300, "the new peer gets the whole table once");
}

/// Decodes the UPDATEs in `buf` with `ctx` mirrored.
fn pull_from(buf: BytesMut, ctx: &Negotiated) -> Vec<Update> {
    let mut b = buf.freeze();
    let rx = ctx.mirror();
    let mut out = Vec::new();
    while !b.is_empty() {
        let Ok(Some(len)) = bgp_core::wire::frame(&b, 65535) else {
            break;
        };
        let m = b.split_to(len);
        if let Ok(bgp_core::wire::Message::Update(u)) = bgp_core::wire::Message::decode(m, &rx) {
            if !u.nlri.is_empty() {
                out.push(u);
            }
        }
    }
    out
}

#[test]
fn refresh_export_resends_all_or_only_differences() {
    let mut r = rib();
    let e = up(&mut r, "e", "192.0.2.1", 65100);
    ann(&mut r, e, "192.0.2.1", &["10.1.0.0/16", "10.2.0.0/16"]);
    r.set_policy("out", Filter::accept_all());
    let mut c = PeerConfig::new("i", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    c.export = Some("out".into());
    let i = r.add_peer(c).unwrap();
    let mut ctx = neg(AS, "10.0.0.1", AS, "10.0.0.2");
    ctx.families = vec![Family::IPV4_UNICAST];
    r.peer_up(i, ctx.clone());
    let n = |msgs: &[Update]| {
        msgs.iter()
            .map(|m| m.nlri.len() + m.withdrawn.len())
            .sum::<usize>()
    };
    assert_eq!(n(&pull(&mut r, i, &ctx)), 2);
    // ROUTE-REFRESH: everything again.
    r.refresh_export_family(i, Family::IPV4_UNICAST, true);
    assert_eq!(n(&pull(&mut r, i, &ctx)), 2);
    // Export filter changed to drop 10.2/16: only that withdrawal goes out.
    r.set_policy("out", reject_exactly("10.2.0.0/16"));
    r.refresh_export(i, false);
    let msgs = pull(&mut r, i, &ctx);
    assert_eq!(n(&msgs), 1);
    assert_eq!(msgs[0].withdrawn, vec![nlri("10.2.0.0/16")]);
}

#[test]
fn a_peer_exporting_nothing_gets_end_of_rib_only_until_its_filter_opens() {
    let mut r = rib();
    r.set_policy("none", Filter::reject_all());
    let src = up(&mut r, "src", "10.0.0.2", 65100);
    ann(&mut r, src, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    let mut c = PeerConfig::new("quiet", ip("10.0.0.3"));
    c.local_v4 = Some(v4("10.0.0.1"));
    c.export = Some("none".into());
    let quiet = r.add_peer(c).unwrap();
    let ctx = neg(AS, "10.0.0.1", 65200, "10.0.0.3");
    r.peer_up(quiet, ctx.clone());
    // The initial feed is just End-of-RIB.
    let got = pull(&mut r, quiet, &ctx);
    let eors: Vec<_> = got.iter().filter_map(|u| u.end_of_rib_family()).collect();
    assert_eq!(eors.len(), got.len(), "{got:?}");
    assert!(eors.contains(&Family::IPV4_UNICAST), "{got:?}");
    // New routes do not even mark the peer.
    ann(&mut r, src, "10.0.0.2", &["10.3.0.0/16"]);
    assert!(!r.has_pending(quiet));
    assert!(pull(&mut r, quiet, &ctx).is_empty());
    // The filter opens (a reload): the refresh sends the whole table.
    r.set_policy("none", Filter::accept_all());
    r.refresh_export(quiet, false);
    let got = pull(&mut r, quiet, &ctx);
    let n: usize = got.iter().map(|u| u.nlri.len()).sum();
    assert_eq!(n, 3, "{got:?}");
    ann(&mut r, src, "10.0.0.2", &["10.4.0.0/16"]);
    assert!(r.has_pending(quiet));
    let n: usize = pull(&mut r, quiet, &ctx).iter().map(|u| u.nlri.len()).sum();
    assert_eq!(n, 1);
    // And closes again: everything is withdrawn.
    r.set_policy("none", Filter::reject_all());
    r.refresh_export(quiet, false);
    let got = pull(&mut r, quiet, &ctx);
    let w: usize = got.iter().map(|u| u.withdrawn.len()).sum();
    assert_eq!(w, 4, "{got:?}");
    assert!(r.adj_rib_out(quiet, &net("10.1.0.0/16")).is_empty());
}

#[test]
fn a_new_identity_is_used_for_loop_detection() {
    let mut r = rib();
    let p = up(&mut r, "rr", "10.0.0.2", AS); // iBGP
    let mut a = attrs(&[]);
    a.originator_id = Some(v4("10.0.0.9"));
    a.cluster_list = vec![v4("10.9.9.9")];
    let n = [nlri("10.1.0.0/16")];
    let s = r.announce(p, Family::IPV4_UNICAST, &a, nh("10.0.0.2"), &n);
    assert_eq!((s.accepted, s.looped), (1, 0));
    // We become 10.0.0.9: our own ORIGINATOR_ID now means a loop.
    r.set_identity(AS, v4("10.0.0.9"), None);
    let n2 = [nlri("10.2.0.0/16")];
    let s = r.announce(p, Family::IPV4_UNICAST, &a, nh("10.0.0.2"), &n2);
    assert_eq!((s.accepted, s.looped), (0, 1));
    // And so does our new cluster ID in the CLUSTER_LIST.
    r.set_identity(AS, v4("10.0.0.1"), Some(v4("10.9.9.9")));
    let s = r.announce(p, Family::IPV4_UNICAST, &a, nh("10.0.0.2"), &n2);
    assert_eq!((s.accepted, s.looped), (0, 1));
    r.set_identity(AS, v4("10.0.0.1"), None);
    let s = r.announce(p, Family::IPV4_UNICAST, &a, nh("10.0.0.2"), &n2);
    assert_eq!((s.accepted, s.looped), (1, 0));
}

#[test]
fn fib_route_is_what_the_fib_queue_hands_over() {
    let mut r = rib();
    let p = up(&mut r, "p", "10.0.0.2", 65100);
    ann(&mut r, p, "10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]);
    let changes = drain_fib(&mut r);
    assert_eq!(changes.len(), 2);
    for c in &changes {
        assert!(c.route.is_some());
        assert_eq!(r.fib_route(&c.prefix), c.route, "{}", c.prefix);
    }
    // Without a route, nothing; and asking does not queue anything.
    assert_eq!(r.fib_route(&net("10.9.0.0/16")), None);
    assert!(drain_fib(&mut r).is_empty());
}

/// `if net = P then reject; accept;`
fn reject_exactly(p: &str) -> Filter {
    use bgp_core::filter::{Attr, Expr, Stmt, Value};
    Filter::simple(
        "reject_exactly",
        vec![
            Stmt::if_then(
                Expr::eq(
                    Expr::attr(Attr::Net),
                    Expr::val(Value::Prefix(p.parse().unwrap())),
                ),
                vec![Stmt::Reject],
            ),
            Stmt::Accept,
        ],
    )
    .unwrap()
}

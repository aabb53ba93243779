//! DOC: route reflection (RFC 4456), full-mesh iBGP and eBGP export rules, tested on small
//! networks of RIBs that exchange real encoded UPDATEs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::rib::{LocalRoute, NextHopMode, PeerConfig, RibConfig, SourceKind};
use bgp_core::wire::{Family, NextHop};
use rib_common::*;

const AS: u32 = 65000;

fn originate(n: &mut Network, node: usize, prefix: &str) {
    n.nodes[node]
        .rib
        .add_local(SourceKind::Static, net(prefix), LocalRoute::default());
}

fn has(n: &Network, node: usize, prefix: &str) -> bool {
    n.nodes[node].rib.best(&net(prefix)).is_some()
}

struct RrNet {
    n: Network,
    rr: usize,
    c1: usize,
    c2: usize,
    n1: usize,
    n2: usize,
}

/// RR 10.0.0.1 with clients c1, c2 and non-clients n1, n2 (not meshed with each other, so
/// anything n2 learns from n1 came through the RR).
fn rr_net() -> RrNet {
    let mut n = Network::default();
    let rr = n.node(AS, "10.0.0.1");
    let c1 = n.node(AS, "10.0.0.11");
    let c2 = n.node(AS, "10.0.0.12");
    let n1 = n.node(AS, "10.0.0.21");
    let n2 = n.node(AS, "10.0.0.22");
    for (c, client) in [(c1, true), (c2, true), (n1, false), (n2, false)] {
        let id = n.nodes[c].id;
        let mut a = PeerConfig::new("rr_side", ip(id));
        a.rr_client = client;
        a.local_v4 = Some(v4("10.0.0.1"));
        let mut b = PeerConfig::new("client_side", ip("10.0.0.1"));
        b.local_v4 = Some(v4(id));
        n.link(rr, c, a, b);
    }
    for (node, p) in [
        (c1, "10.1.1.0/24"),
        (c2, "10.1.2.0/24"),
        (n1, "10.2.1.0/24"),
        (n2, "10.2.2.0/24"),
    ] {
        originate(&mut n, node, p);
    }
    n.settle();
    RrNet {
        n,
        rr,
        c1,
        c2,
        n1,
        n2,
    }
}

#[test]
fn reflection_matrix() {
    let r = rr_net();
    // (receiver, prefix, expected, case)
    let cases = [
        (r.c2, "10.1.1.0/24", true, "client -> client"),
        (r.c1, "10.1.2.0/24", true, "client -> client"),
        (r.n1, "10.1.1.0/24", true, "client -> non-client"),
        (r.n2, "10.1.2.0/24", true, "client -> non-client"),
        (r.c1, "10.2.1.0/24", true, "non-client -> client"),
        (r.c2, "10.2.2.0/24", true, "non-client -> client"),
        (
            r.n2,
            "10.2.1.0/24",
            false,
            "non-client -> non-client is not reflected",
        ),
        (
            r.n1,
            "10.2.2.0/24",
            false,
            "non-client -> non-client is not reflected",
        ),
    ];
    for (node, p, want, case) in cases {
        assert_eq!(has(&r.n, node, p), want, "{case}: node {node} {p}");
    }
    // The RR itself has everything.
    assert_eq!(r.n.nodes[r.rr].rib.len(Family::IPV4_UNICAST), 4);
}

#[test]
fn reflected_route_carries_originator_and_cluster_list_and_keeps_next_hop() {
    let r = rr_net();
    let got = r.n.nodes[r.c2].rib.best(&net("10.1.1.0/24")).unwrap();
    let a = &got.attrs;
    // RFC 4456 §8: ORIGINATOR_ID is the originator's BGP identifier; the RR's cluster ID (its
    // router ID by default) is prepended to the CLUSTER_LIST.
    assert_eq!(a.attrs.originator_id, Some(v4("10.0.0.11")));
    assert_eq!(a.attrs.cluster_list, vec![v4("10.0.0.1")]);
    // Reflection does not change the next hop.
    assert_eq!(a.next_hop, nh("10.0.0.11"));
    assert_eq!(a.attrs.local_pref, Some(100));
    // A route the RR originates itself is not "reflected": no ORIGINATOR_ID.
    let mut r = rr_net();
    originate(&mut r.n, r.rr, "10.9.0.0/16");
    r.n.settle();
    let got = r.n.nodes[r.n1].rib.best(&net("10.9.0.0/16")).unwrap();
    assert_eq!(got.attrs.attrs.originator_id, None);
    assert!(got.attrs.attrs.cluster_list.is_empty());
    assert_eq!(got.attrs.next_hop, nh("10.0.0.1"));
}

#[test]
fn cluster_list_loop_is_dropped() {
    let mut rib = bgp_core::rib::Rib::new(RibConfig {
        cluster_id: Some(v4("1.1.1.1")),
        ..RibConfig::new(AS, v4("10.0.0.1"))
    });
    let p = rib.add_peer(PeerConfig::new("n", ip("10.0.0.2"))).unwrap();
    rib.peer_up(p, neg(AS, "10.0.0.1", AS, "10.0.0.2"));
    // (cluster list, kept)
    let cases = [
        (vec![], true),
        (vec![v4("2.2.2.2")], true),
        (vec![v4("2.2.2.2"), v4("1.1.1.1")], false),
        (vec![v4("1.1.1.1")], false),
    ];
    for (i, (cl, kept)) in cases.into_iter().enumerate() {
        let prefix = format!("10.{i}.0.0/16");
        let mut a = attrs(&[]);
        a.cluster_list = cl.clone();
        let s = rib.announce(
            p,
            Family::IPV4_UNICAST,
            &a,
            nh("10.0.0.2"),
            &[nlri(&prefix)],
        );
        assert_eq!(rib.best(&net(&prefix)).is_some(), kept, "{cl:?}");
        assert_eq!(s.looped, usize::from(!kept));
    }
}

#[test]
fn originator_id_loop_is_dropped_and_replaces_an_earlier_copy() {
    let mut rib = bgp_core::rib::Rib::new(RibConfig::new(AS, v4("10.0.0.11")));
    let p = rib.add_peer(PeerConfig::new("rr", ip("10.0.0.1"))).unwrap();
    rib.peer_up(p, neg(AS, "10.0.0.11", AS, "10.0.0.1"));
    let mut a = attrs(&[]);
    a.originator_id = Some(v4("10.0.0.99"));
    rib.announce(
        p,
        Family::IPV4_UNICAST,
        &a,
        nh("10.0.0.99"),
        &[nlri("10.5.0.0/16")],
    );
    assert!(rib.best(&net("10.5.0.0/16")).is_some());
    // The same prefix again, now with our own identifier as ORIGINATOR_ID: ignored, and the
    // earlier path from that peer is gone (it was implicitly replaced).
    a.originator_id = Some(v4("10.0.0.11"));
    let s = rib.announce(
        p,
        Family::IPV4_UNICAST,
        &a,
        nh("10.0.0.99"),
        &[nlri("10.5.0.0/16")],
    );
    assert_eq!(s.looped, 1);
    assert!(rib.best(&net("10.5.0.0/16")).is_none());
}

#[test]
fn two_reflectors_in_one_cluster() {
    // RR1 and RR2 share cluster ID 1.1.1.1 and peer as plain iBGP non-clients (what Calico
    // generates for RRs with the same cluster ID); clients c1..c3 peer with both.
    let mut n = Network::default();
    let cfg = |id: &str| RibConfig {
        cluster_id: Some(v4("1.1.1.1")),
        ..RibConfig::new(AS, v4(id))
    };
    let rr1 = n.node_with(cfg("10.0.0.1"));
    let rr2 = n.node_with(cfg("10.0.0.2"));
    n.connect(rr1, rr2);
    let clients: Vec<usize> = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
        .iter()
        .map(|id| n.node(AS, id))
        .collect();
    for &c in &clients {
        for rr in [rr1, rr2] {
            let (cid, rid) = (n.nodes[c].id, n.nodes[rr].id);
            let mut a = PeerConfig::new("c", ip(cid));
            a.rr_client = true;
            a.local_v4 = Some(v4(rid));
            let mut b = PeerConfig::new("rr", ip(rid));
            b.local_v4 = Some(v4(cid));
            n.link(rr, c, a, b);
        }
    }
    for (i, &c) in clients.iter().enumerate() {
        originate(&mut n, c, &format!("10.{}.0.0/16", 10 + i));
    }
    let msgs = n.settle();
    assert!(
        msgs > 0 && msgs < 200,
        "settled in {msgs} messages (no loop)"
    );
    for (i, &c) in clients.iter().enumerate() {
        for j in 0..clients.len() {
            let p = net(&format!("10.{}.0.0/16", 10 + j));
            let routes = n.nodes[c].rib.routes(&p);
            if i == j {
                // Its own static route only; the reflectors do not send it back.
                assert_eq!(routes.len(), 1);
                assert_eq!(routes[0].source_kind, SourceKind::Static);
            } else {
                // One copy through each reflector.
                assert_eq!(routes.len(), 2, "client {i} prefix {j}");
            }
        }
    }
    // Each RR holds the client routes only as learned directly: the copy reflected by the other
    // RR carries the shared cluster ID and was dropped.
    for rr in [rr1, rr2] {
        for j in 0..clients.len() {
            let routes = n.nodes[rr]
                .rib
                .routes(&net(&format!("10.{}.0.0/16", 10 + j)));
            assert_eq!(routes.len(), 1);
            assert!(routes[0].attrs.attrs.cluster_list.is_empty());
        }
    }
}

#[test]
fn full_mesh_does_not_readvertise_ibgp_routes() {
    let mut n = Network::default();
    let a = n.node(AS, "10.0.0.1");
    let b = n.node(AS, "10.0.0.2");
    let c = n.node(AS, "10.0.0.3");
    let e = n.node(65100, "192.0.2.1");
    n.connect(a, b);
    n.connect(b, c);
    n.connect(a, c);
    let ae = n.connect(a, e);
    originate(&mut n, a, "10.1.0.0/16");
    originate(&mut n, e, "198.51.100.0/24");
    n.settle();
    // b and c each learn a's route once, from a: neither re-advertises it to the other.
    for x in [b, c] {
        let routes = n.nodes[x].rib.routes(&net("10.1.0.0/16"));
        assert_eq!(routes.len(), 1, "node {x}");
        assert_eq!(
            n.nodes[x]
                .rib
                .peer_config(routes[0].source)
                .unwrap()
                .address,
            ip("10.0.0.1")
        );
    }
    // The eBGP route goes to every iBGP peer, next hop unchanged, LOCAL_PREF added.
    for x in [b, c] {
        let routes = n.nodes[x].rib.routes(&net("198.51.100.0/24"));
        assert_eq!(routes.len(), 1, "node {x}");
        assert_eq!(routes[0].attrs.next_hop, nh("192.0.2.1"));
        assert_eq!(routes[0].attrs.attrs.local_pref, Some(100));
        assert_eq!(
            routes[0].attrs.attrs.as_path.as_ref().unwrap().first_as(),
            Some(65100)
        );
    }
    // e gets a's route with our AS prepended and next hop self, and not b's or c's copies.
    let got = n.nodes[e].rib.routes(&net("10.1.0.0/16"));
    assert_eq!(got.len(), 1);
    let ga = &got[0].attrs.attrs;
    assert_eq!(
        ga.as_path.as_ref().unwrap().asns().collect::<Vec<_>>(),
        vec![AS]
    );
    assert_eq!(got[0].attrs.next_hop, nh("10.0.0.1"));
    // e must not see its own route back (a would prepend 65000 → e's loop check would drop it
    // anyway; a does not send it: the best path came from e itself).
    let a_for_e = n.links[ae].a_peer;
    assert!(n.nodes[a]
        .rib
        .adj_rib_out(a_for_e, &net("198.51.100.0/24"))
        .is_empty());
    assert_eq!(
        n.nodes[a]
            .rib
            .adj_rib_out(a_for_e, &net("10.1.0.0/16"))
            .len(),
        1
    );
}

#[test]
fn ebgp_export_rewrites_attributes() {
    let mut n = Network::default();
    let a = n.node(AS, "10.0.0.1");
    let b = n.node(AS, "10.0.0.2");
    let e = n.node(65100, "192.0.2.1");
    n.connect(a, b);
    n.connect(a, e);
    // b announces to a with LOCAL_PREF 300 and MED 7, next hop 10.0.0.2.
    let mut at = attrs(&[]);
    at.local_pref = Some(300);
    at.med = Some(7);
    let p = n.links[0].a_peer; // a's id for b
    n.nodes[a].rib.announce(
        p,
        Family::IPV4_UNICAST,
        &at,
        nh("10.0.0.2"),
        &[nlri("10.3.0.0/16")],
    );
    n.settle();
    let got = n.nodes[e].rib.best(&net("10.3.0.0/16")).unwrap();
    let ga = &got.attrs.attrs;
    // RFC 4271 §5.1.2 prepend, §5.1.3 next hop self, §5.1.5 no LOCAL_PREF to eBGP (and e
    // ignores one anyway, attaching its default as BIRD 1.6 does), §5.1.4 MED not propagated.
    assert_eq!(
        ga.as_path.as_ref().unwrap().asns().collect::<Vec<_>>(),
        vec![AS]
    );
    assert_eq!(got.attrs.next_hop, nh("10.0.0.1"));
    assert_eq!(ga.local_pref, Some(100));
    assert_eq!(ga.med, None);
}

#[test]
fn next_hop_self_and_keep_overrides() {
    // (mode towards the peer, peer is eBGP, expected next hop at the peer)
    let cases = [
        (NextHopMode::Default, false, "192.0.2.9"),
        (NextHopMode::SelfAlways, false, "10.0.0.1"),
        (NextHopMode::Default, true, "10.0.0.1"),
        (NextHopMode::Keep, true, "192.0.2.9"),
    ];
    for (mode, ebgp, want) in cases {
        let mut n = Network::default();
        let a = n.node(AS, "10.0.0.1");
        let peer_as = if ebgp { 65200 } else { AS };
        let b = n.node(peer_as, "10.0.0.2");
        let mut ca = PeerConfig::new("b", ip("10.0.0.2"));
        ca.next_hop = mode;
        ca.local_v4 = Some(v4("10.0.0.1"));
        let cb = PeerConfig::new("a", ip("10.0.0.1"));
        n.link(a, b, ca, cb);
        // The route reaches a from an eBGP neighbour e.
        let e = n.node(65300, "192.0.2.9");
        n.connect(a, e);
        n.nodes[e].rib.add_local(
            SourceKind::Static,
            net("10.7.0.0/16"),
            LocalRoute::default(),
        );
        n.settle();
        let got = n.nodes[b].rib.best(&net("10.7.0.0/16")).unwrap();
        assert_eq!(
            got.attrs.next_hop,
            Some(NextHop::V4(v4(want))),
            "{mode:?} ebgp={ebgp}"
        );
    }
}

#[test]
fn allow_local_as() {
    // (times our AS is in the path, allow local as, accepted)
    let cases = [
        (0, 0, true),
        (1, 0, false),
        (1, 1, true),
        (2, 1, false),
        (2, 3, true),
    ];
    for (times, allow, ok) in cases {
        let mut rib = bgp_core::rib::Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
        let mut c = PeerConfig::new("e", ip("192.0.2.1"));
        c.allow_local_as = allow;
        let p = rib.add_peer(c).unwrap();
        rib.peer_up(p, neg(AS, "10.0.0.1", 65100, "192.0.2.1"));
        let mut path = vec![65100];
        path.extend(std::iter::repeat_n(AS, times));
        let s = rib.announce(
            p,
            Family::IPV4_UNICAST,
            &attrs(&path),
            nh("192.0.2.1"),
            &[nlri("10.0.0.0/8")],
        );
        assert_eq!(s.accepted == 1, ok, "times={times} allow={allow}");
    }
}

//! DOC: the decision process, one table per step: every case makes all earlier steps tie and
//! the loser better on every later step, so only the step under test can decide. Each case runs
//! in both arrival orders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::rib::{
    DecisionOptions, LocalRoute, NhState, PeerConfig, Rib, RibConfig, SourceId, SourceKind,
};
use bgp_core::wire::{AsPath, Family, Origin, PathAttributes, SegmentKind};
use rib_common::*;

const AS: u32 = 65000;
const P: &str = "10.99.0.0/16";

/// Peers: i1 (iBGP 10.0.0.2), i2 (iBGP 10.0.0.3), e1 (AS 65001, 192.0.2.1), e2 (AS 65002,
/// 192.0.2.2), e1b (AS 65001, 192.0.2.3).
fn fixture(opts: DecisionOptions) -> (Rib, Vec<(&'static str, SourceId)>) {
    let mut rib = Rib::new(RibConfig {
        decision: opts,
        ..RibConfig::new(AS, v4("10.0.0.1"))
    });
    let specs = [
        ("i1", AS, "10.0.0.2"),
        ("i2", AS, "10.0.0.3"),
        ("e1", 65001, "192.0.2.1"),
        ("e2", 65002, "192.0.2.2"),
        ("e1b", 65001, "192.0.2.3"),
    ];
    let mut peers = Vec::new();
    for (name, asn, addr) in specs {
        let id = rib.add_peer(PeerConfig::new(name, ip(addr))).unwrap();
        rib.peer_up(id, neg(AS, "10.0.0.1", asn, addr));
        peers.push((name, id));
    }
    (rib, peers)
}

fn peer(peers: &[(&str, SourceId)], name: &str) -> SourceId {
    peers.iter().find(|(n, _)| *n == name).unwrap().1
}

/// One route of a case: peer name, attributes, next hop.
type R = (&'static str, PathAttributes, &'static str);

fn a(path: &[u32]) -> PathAttributes {
    attrs(path)
}

fn with(mut p: PathAttributes, f: impl FnOnce(&mut PathAttributes)) -> PathAttributes {
    f(&mut p);
    p
}

fn run(opts: DecisionOptions, routes: &[R], setup: &dyn Fn(&mut Rib)) -> Vec<String> {
    // Returns the winner's peer name for each arrival order (forward, reverse).
    let mut winners = Vec::new();
    for rev in [false, true] {
        let (mut rib, peers) = fixture(opts);
        setup(&mut rib);
        let mut order: Vec<&R> = routes.iter().collect();
        if rev {
            order.reverse();
        }
        for (name, attrs, hop) in order {
            rib.announce(
                peer(&peers, name),
                Family::IPV4_UNICAST,
                attrs,
                nh(hop),
                &[nlri(P)],
            );
        }
        let best = rib.best(&net(P)).map(|b| b.source);
        let name = peers
            .iter()
            .find(|(_, id)| Some(*id) == best)
            .map_or("local".to_string(), |(n, _)| n.to_string());
        winners.push(name);
    }
    winners
}

fn check(step: &str, routes: Vec<R>, want: &str) {
    check_with(step, DecisionOptions::default(), routes, want, &|_| {});
}

fn check_with(
    step: &str,
    opts: DecisionOptions,
    routes: Vec<R>,
    want: &str,
    setup: &dyn Fn(&mut Rib),
) {
    for w in run(opts, &routes, setup) {
        assert_eq!(w, want, "step {step}");
    }
}

#[test]
fn step_next_hop_reachability() {
    // i2's route is better on everything but its next hop is unresolvable.
    check_with(
        "next hop",
        DecisionOptions::default(),
        vec![
            (
                "i1",
                with(a(&[1, 2, 3]), |p| p.local_pref = Some(50)),
                "10.0.0.2",
            ),
            ("i2", with(a(&[]), |p| p.local_pref = Some(500)), "10.0.0.3"),
        ],
        "i1",
        &|rib| {
            rib.set_next_hop_state(
                ip("10.0.0.3"),
                NhState {
                    reachable: false,
                    igp_cost: 0,
                },
            )
        },
    );
}

#[test]
fn step_preference() {
    // A static route (preference 200) beats a BGP route (100) that is better on every BGP step.
    let (mut rib, peers) = fixture(DecisionOptions::default());
    let pa = with(a(&[]), |p| p.local_pref = Some(1000));
    rib.announce(
        peer(&peers, "i1"),
        Family::IPV4_UNICAST,
        &pa,
        nh("10.0.0.2"),
        &[nlri(P)],
    );
    rib.add_local(SourceKind::Static, net(P), LocalRoute::default());
    assert_eq!(rib.best(&net(P)).unwrap().source_kind, SourceKind::Static);
    // A kernel route (10) loses to BGP.
    let (mut rib, peers) = fixture(DecisionOptions::default());
    rib.add_local(SourceKind::Kernel, net(P), LocalRoute::default());
    rib.announce(
        peer(&peers, "i1"),
        Family::IPV4_UNICAST,
        &a(&[1, 2]),
        nh("10.0.0.2"),
        &[nlri(P)],
    );
    assert_eq!(rib.best(&net(P)).unwrap().source_kind, SourceKind::Bgp);
}

#[test]
fn step_local_pref() {
    // i2 wins on LOCAL_PREF; i1 is better on path length, origin, router id.
    check(
        "local_pref",
        vec![
            ("i1", a(&[1]), "10.0.0.2"),
            (
                "i2",
                with(a(&[1, 2, 3]), |p| {
                    p.local_pref = Some(200);
                    p.origin = Some(Origin::Incomplete);
                }),
                "10.0.0.3",
            ),
        ],
        "i2",
    );
    // Absent LOCAL_PREF counts as 100.
    check(
        "local_pref default",
        vec![
            ("i1", with(a(&[1]), |p| p.local_pref = Some(99)), "10.0.0.2"),
            ("i2", a(&[1, 2, 3]), "10.0.0.3"),
        ],
        "i2",
    );
}

#[test]
fn step_as_path_length() {
    let set_path = AsPath::from_segments([
        (SegmentKind::Sequence, &[1u32][..]),
        (SegmentKind::Set, &[2u32, 3, 4, 5][..]),
    ]);
    let confed_path = AsPath::from_segments([
        (SegmentKind::ConfedSequence, &[9u32, 9, 9, 9][..]),
        (SegmentKind::Sequence, &[1u32][..]),
    ]);
    // (case, i2's path, i1's path): i2 is shorter, i1 better on origin and router id.
    let cases = [
        (
            "plain",
            AsPath::from_sequence(&[1, 2]),
            AsPath::from_sequence(&[1, 2, 3]),
        ),
        (
            "AS_SET counts 1",
            set_path,
            AsPath::from_sequence(&[1, 2, 3]),
        ),
        (
            "confed counts 0",
            confed_path,
            AsPath::from_sequence(&[1, 2]),
        ),
    ];
    for (case, short, long) in cases {
        check(
            case,
            vec![
                ("i1", with(a(&[]), |p| p.as_path = Some(long)), "10.0.0.2"),
                (
                    "i2",
                    with(a(&[]), |p| {
                        p.as_path = Some(short);
                        p.origin = Some(Origin::Incomplete);
                    }),
                    "10.0.0.3",
                ),
            ],
            "i2",
        );
    }
}

#[test]
fn step_origin() {
    // (i2 origin, i1 origin): i2 wins with the lower origin; i1 has a lower MED (same AS) and
    // a lower router id.
    let cases = [
        (Origin::Igp, Origin::Egp),
        (Origin::Egp, Origin::Incomplete),
    ];
    for (o2, o1) in cases {
        check(
            "origin",
            vec![
                (
                    "i1",
                    with(a(&[1]), |p| {
                        p.origin = Some(o1);
                        p.med = Some(0);
                    }),
                    "10.0.0.2",
                ),
                (
                    "i2",
                    with(a(&[1]), |p| {
                        p.origin = Some(o2);
                        p.med = Some(100);
                    }),
                    "10.0.0.3",
                ),
            ],
            "i2",
        );
    }
}

#[test]
fn step_med_same_neighbour_as() {
    // Both from neighbouring AS 65001: i1 (iBGP) has the lower MED and beats e1 (eBGP).
    check(
        "med",
        vec![
            ("i1", with(a(&[65001, 7]), |p| p.med = Some(10)), "10.0.0.2"),
            (
                "e1",
                with(a(&[65001, 7]), |p| p.med = Some(20)),
                "192.0.2.1",
            ),
        ],
        "i1",
    );
    // Missing MED is 0, the best.
    check(
        "missing med",
        vec![
            ("i1", a(&[65001, 7]), "10.0.0.2"),
            ("e1", with(a(&[65001, 7]), |p| p.med = Some(1)), "192.0.2.1"),
        ],
        "i1",
    );
}

#[test]
fn step_med_other_as_only_with_always_compare() {
    // e1 (AS 65001, MED 10) vs e2 (AS 65002, MED 20): not comparable by default, so the router
    // id decides (e1 192.0.2.1 < e2 192.0.2.2)... make e2 win there by giving e1 an originator.
    let routes = vec![
        (
            "e1",
            with(a(&[65001]), |p| {
                p.med = Some(10);
                p.originator_id = Some(v4("203.0.113.1"));
            }),
            "192.0.2.1",
        ),
        ("e2", with(a(&[65002]), |p| p.med = Some(20)), "192.0.2.2"),
    ];
    check("med not comparable", routes.clone(), "e2");
    check_with(
        "always-compare-med",
        DecisionOptions {
            always_compare_med: true,
            ..DecisionOptions::default()
        },
        routes,
        "e1",
        &|_| {},
    );
}

#[test]
fn step_ebgp_over_ibgp() {
    check(
        "ebgp over ibgp",
        vec![
            ("i1", a(&[65001]), "10.0.0.2"),
            ("e2", a(&[65002]), "192.0.2.2"),
        ],
        "e2",
    );
}

#[test]
fn step_igp_cost() {
    check_with(
        "igp cost",
        DecisionOptions::default(),
        vec![("i1", a(&[1]), "10.0.0.2"), ("i2", a(&[1]), "10.0.0.3")],
        "i2",
        &|rib| {
            rib.set_next_hop_state(
                ip("10.0.0.2"),
                NhState {
                    reachable: true,
                    igp_cost: 20,
                },
            );
            rib.set_next_hop_state(
                ip("10.0.0.3"),
                NhState {
                    reachable: true,
                    igp_cost: 10,
                },
            );
        },
    );
}

#[test]
fn step_cluster_list_length() {
    check(
        "cluster list",
        vec![
            (
                "i1",
                with(a(&[1]), |p| {
                    p.cluster_list = vec![v4("1.1.1.1"), v4("2.2.2.2")]
                }),
                "10.0.0.2",
            ),
            (
                "i2",
                with(a(&[1]), |p| p.cluster_list = vec![v4("3.3.3.3")]),
                "10.0.0.3",
            ),
        ],
        "i2",
    );
}

#[test]
fn step_router_id_and_originator_id() {
    check(
        "router id",
        vec![("i1", a(&[1]), "10.0.0.2"), ("i2", a(&[1]), "10.0.0.3")],
        "i1",
    );
    // RFC 4456 §9: ORIGINATOR_ID replaces the peer's identifier.
    check(
        "originator id",
        vec![
            (
                "i1",
                with(a(&[1]), |p| p.originator_id = Some(v4("10.9.9.9"))),
                "10.0.0.2",
            ),
            ("i2", a(&[1]), "10.0.0.3"),
        ],
        "i2",
    );
}

#[test]
fn step_peer_address() {
    // Same ORIGINATOR_ID, so identifiers tie: the lower peer address (i1 10.0.0.2) wins.
    let o = |p: &mut PathAttributes| p.originator_id = Some(v4("10.5.5.5"));
    check(
        "peer address",
        vec![
            ("i2", with(a(&[1]), o), "10.0.0.3"),
            ("i1", with(a(&[1]), o), "10.0.0.2"),
        ],
        "i1",
    );
}

#[test]
fn multipath_set_is_what_ties_through_igp_cost() {
    let opts = DecisionOptions {
        max_paths: 4,
        ..DecisionOptions::default()
    };
    let (mut rib, peers) = fixture(opts);
    rib.set_next_hop_state(
        ip("192.0.2.3"),
        NhState {
            reachable: true,
            igp_cost: 5,
        },
    );
    for (name, hop) in [("i1", "10.0.0.2"), ("i2", "10.0.0.3")] {
        rib.announce(
            peer(&peers, name),
            Family::IPV4_UNICAST,
            &a(&[65001, 7]),
            nh(hop),
            &[nlri(P)],
        );
    }
    let sel = rib.selected(&net(P));
    assert_eq!(sel.len(), 2);
    assert_eq!(sel[0].source, peer(&peers, "i1"));
    let fib = drain_fib(&mut rib);
    let last = fib.last().unwrap().route.clone().unwrap();
    assert_eq!(last.next_hops.len(), 2);
    // An eBGP path is better: the set collapses to it alone.
    rib.announce(
        peer(&peers, "e1"),
        Family::IPV4_UNICAST,
        &a(&[65001, 7]),
        nh("192.0.2.1"),
        &[nlri(P)],
    );
    assert_eq!(rib.selected(&net(P)).len(), 1);
    // Two eBGP paths of equal cost form the set; a third at a higher IGP cost does not join.
    rib.announce(
        peer(&peers, "e2"),
        Family::IPV4_UNICAST,
        &a(&[65002, 7]),
        nh("192.0.2.2"),
        &[nlri(P)],
    );
    rib.announce(
        peer(&peers, "e1b"),
        Family::IPV4_UNICAST,
        &a(&[65001, 7]),
        nh("192.0.2.3"),
        &[nlri(P)],
    );
    let sel: Vec<SourceId> = rib.selected(&net(P)).iter().map(|r| r.source).collect();
    assert_eq!(sel, vec![peer(&peers, "e1"), peer(&peers, "e2")]);
}

#[test]
fn result_is_independent_of_arrival_order() {
    // A MED cycle: pairwise comparison is not transitive here (classic example), so naive
    // "compare with the current best as routes arrive" depends on order.
    let routes: Vec<R> = vec![
        ("e1", with(a(&[65001]), |p| p.med = Some(100)), "192.0.2.1"),
        ("e2", with(a(&[65002]), |p| p.med = Some(50)), "192.0.2.2"),
        ("e1b", with(a(&[65001]), |p| p.med = Some(0)), "192.0.2.3"),
        ("i1", with(a(&[65002]), |p| p.med = Some(10)), "10.0.0.2"),
    ];
    for det in [true, false] {
        let opts = DecisionOptions {
            deterministic_med: det,
            ..DecisionOptions::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        let idx = [0usize, 1, 2, 3];
        for perm in permutations(&idx) {
            let (mut rib, peers) = fixture(opts);
            for &i in &perm {
                let (name, attrs, hop) = &routes[i];
                rib.announce(
                    peer(&peers, name),
                    Family::IPV4_UNICAST,
                    attrs,
                    nh(hop),
                    &[nlri(P)],
                );
            }
            // And withdraw/re-announce the first one, which must not change the answer.
            let (name, attrs, hop) = &routes[perm[0]];
            rib.withdraw(peer(&peers, name), Family::IPV4_UNICAST, &nlri(P));
            rib.announce(
                peer(&peers, name),
                Family::IPV4_UNICAST,
                attrs,
                nh(hop),
                &[nlri(P)],
            );
            seen.insert(rib.best(&net(P)).unwrap().source);
        }
        assert_eq!(seen.len(), 1, "deterministic_med={det}: {seen:?}");
    }
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

//! DOC: the policy language: every match and action on a table of routes, term semantics, a
//! translation of Calico's BGP export filter proven on a table of routes, and Calico's kernel
//! programming filter (IP-in-IP `Always` / `CrossSubnet`, VXLAN rejected) through the FIB.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::sync::Arc;

use bgp_core::rib::policy::RouteView;
use bgp_core::rib::{
    Action, KernelTunnel, LocalRoute, Match, PeerConfig, Policy, PrefixRange, Rib, RibConfig,
    RouteAttrs, RouteMeta, RouteType, SourceKind, Term, Verdict,
};
use bgp_core::wire::{AsPath, Community, Family, LargeCommunity, NextHop};
use rib_common::*;

fn route(path: &[u32]) -> RouteAttrs {
    RouteAttrs {
        attrs: attrs(path),
        next_hop: nh("10.192.0.5"),
        meta: RouteMeta::default(),
    }
}

fn pr(s: &str) -> PrefixRange {
    s.parse().unwrap()
}

#[test]
fn every_match() {
    let mut r = route(&[65001, 65002, 65003]);
    r.attrs.communities = vec![Community::new(65000, 100)];
    r.attrs.large_communities = vec![LargeCommunity::new(65000, 1, 2)];
    r.attrs.local_pref = Some(200);
    r.meta.ifname = Some(Arc::from("cali1234"));
    r.meta.krt_metric = Some(512);
    let p = net("10.244.3.0/26");
    // (match, expected)
    let cases: Vec<(Match, bool)> = vec![
        (Match::Prefix(vec![pr("10.244.0.0/16{26,32}")]), true),
        (Match::Prefix(vec![pr("10.244.0.0/16{27,32}")]), false),
        (
            Match::Prefix(vec![pr("10.0.0.0/8"), pr("10.244.3.0/26")]),
            true,
        ),
        (Match::NextHopIn(vec![net("10.192.0.0/16")]), true),
        (Match::NextHopIn(vec![net("10.193.0.0/16")]), false),
        (Match::Community(Community::new(65000, 100)), true),
        (Match::Community(Community::new(65000, 101)), false),
        (
            Match::LargeCommunity(LargeCommunity::new(65000, 1, 2)),
            true,
        ),
        (
            Match::LargeCommunity(LargeCommunity::new(65000, 1, 3)),
            false,
        ),
        (Match::AsPathFirst(65001), true),
        (Match::AsPathFirst(65002), false),
        (Match::AsPathContains(65002), true),
        (Match::AsPathContains(65009), false),
        (Match::AsPathLen { min: 3, max: 3 }, true),
        (Match::AsPathLen { min: 0, max: 2 }, false),
        (
            Match::Source(vec![SourceKind::Kernel, SourceKind::Bgp]),
            true,
        ),
        (Match::Source(vec![SourceKind::Static]), false),
        (Match::Interface(vec!["cali*".into()]), true),
        (
            Match::Interface(vec!["*.cali".into(), "tunl0".into()]),
            false,
        ),
        (
            Match::LocalPref {
                min: 150,
                max: u32::MAX,
            },
            true,
        ),
        (Match::LocalPref { min: 0, max: 150 }, false),
        (Match::KernelMetricBelow(1024), true),
        (Match::KernelMetricBelow(512), false),
        (Match::Not(Box::new(Match::AsPathFirst(65002))), true),
        (Match::Not(Box::new(Match::AsPathFirst(65001))), false),
        (
            Match::Any(vec![Match::AsPathFirst(1), Match::AsPathFirst(65001)]),
            true,
        ),
        (
            Match::Any(vec![Match::AsPathFirst(1), Match::AsPathFirst(2)]),
            false,
        ),
    ];
    let view = RouteView {
        prefix: &p,
        attrs: &r,
        source: SourceKind::Bgp,
    };
    for (m, want) in cases {
        assert_eq!(m.eval(&view), want, "{m:?}");
    }
    // Matches on absent values are false.
    let bare = RouteAttrs::default();
    let view = RouteView {
        prefix: &p,
        attrs: &bare,
        source: SourceKind::Static,
    };
    for m in [
        Match::NextHopIn(vec![net("0.0.0.0/0")]),
        Match::Interface(vec!["*".into()]),
        Match::KernelMetricBelow(u32::MAX),
        Match::AsPathFirst(0),
    ] {
        assert!(!m.eval(&view), "{m:?}");
    }
}

#[test]
fn every_action() {
    let base = {
        let mut r = route(&[65001]);
        r.attrs.communities = vec![Community::new(1, 1)];
        r.attrs.large_communities = vec![LargeCommunity::new(1, 1, 1)];
        r
    };
    // (action, check on the result)
    type Check = Box<dyn Fn(&RouteAttrs) -> bool>;
    let cases: Vec<(Action, Check)> = vec![
        (
            Action::SetLocalPref(300),
            Box::new(|r| r.attrs.local_pref == Some(300)),
        ),
        (Action::SetMed(7), Box::new(|r| r.attrs.med == Some(7))),
        (
            Action::AddCommunity(Community::new(65000, 100)),
            Box::new(|r| {
                r.attrs.communities == vec![Community::new(1, 1), Community::new(65000, 100)]
            }),
        ),
        (
            Action::AddCommunity(Community::new(1, 1)),
            Box::new(|r| r.attrs.communities == vec![Community::new(1, 1)]),
        ),
        (
            Action::RemoveCommunity(Community::new(1, 1)),
            Box::new(|r| r.attrs.communities.is_empty()),
        ),
        (
            Action::AddLargeCommunity(LargeCommunity::new(65000, 2, 3)),
            Box::new(|r| r.attrs.large_communities.len() == 2),
        ),
        (
            Action::RemoveLargeCommunity(LargeCommunity::new(1, 1, 1)),
            Box::new(|r| r.attrs.large_communities.is_empty()),
        ),
        (
            Action::PrependAs {
                asn: 65000,
                times: 2,
            },
            Box::new(|r| r.attrs.as_path == Some(AsPath::from_sequence(&[65000, 65000, 65001]))),
        ),
        (
            Action::SetNextHop(ip("10.0.0.9")),
            Box::new(|r| r.next_hop == Some(NextHop::V4(v4("10.0.0.9")))),
        ),
        (
            Action::SetKernelTunnel(KernelTunnel::Dev(Arc::from("tunl0"))),
            Box::new(|r| r.meta.tunnel == Some(KernelTunnel::Dev(Arc::from("tunl0")))),
        ),
        (
            Action::SetKernelMetric(512),
            Box::new(|r| r.meta.krt_metric == Some(512)),
        ),
        (
            Action::SetPreference(200),
            Box::new(|r| r.meta.preference == Some(200)),
        ),
    ];
    for (act, ok) in cases {
        let pol = Policy {
            terms: vec![Term {
                matches: vec![],
                actions: vec![act.clone()],
                verdict: Some(Verdict::Accept),
            }],
            default: Verdict::Reject,
        };
        let o = pol.evaluate(&net("10.0.0.0/8"), &base, SourceKind::Bgp);
        assert_eq!(o.verdict, Verdict::Accept);
        assert!(ok(o.modified.as_ref().unwrap()), "{act:?}");
    }
}

#[test]
fn terms_fall_through_see_modifications_and_default() {
    let pol = Policy {
        terms: vec![
            // Modify and fall through.
            Term {
                matches: vec![Match::Prefix(vec![pr("10.0.0.0/8+")])],
                actions: vec![Action::SetLocalPref(300)],
                verdict: None,
            },
            // Sees the modification.
            Term {
                matches: vec![Match::LocalPref { min: 300, max: 300 }],
                actions: vec![Action::SetMed(1)],
                verdict: Some(Verdict::Accept),
            },
        ],
        default: Verdict::Reject,
    };
    let r = route(&[1]);
    let o = pol.evaluate(&net("10.1.0.0/16"), &r, SourceKind::Bgp);
    assert_eq!(o.verdict, Verdict::Accept);
    let m = o.modified.unwrap();
    assert_eq!((m.attrs.local_pref, m.attrs.med), (Some(300), Some(1)));
    assert_eq!(o.applied, Some(0b11));
    let o = pol.evaluate(&net("192.168.0.0/16"), &r, SourceKind::Bgp);
    assert_eq!((o.verdict, o.modified), (Verdict::Reject, None));
}

/// Calico's `calico_export_to_bgp_peers(true); reject;` for a node with IPAM block
/// 10.244.1.0/26 of enabled pool 10.244.0.0/16 (community 65000:100 on pool routes), disabled
/// pool 10.250.0.0/16, Felix owning IP-in-IP routes.
fn calico_export(internal_peer: bool) -> Policy {
    let ifs = |v: &[&str]| Match::Interface(v.iter().map(|s| s.to_string()).collect());
    let reject = |m: Vec<Match>| Term {
        matches: m,
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let accept = |m: Vec<Match>| Term {
        matches: m,
        actions: vec![],
        verdict: Some(Verdict::Accept),
    };
    let mut terms = vec![
        // reject_disabled_pools()
        reject(vec![Match::Prefix(vec![pr("10.250.0.0/16+")])]),
    ];
    if internal_peer {
        // reject_tunnel_routes(): ifname ~ "*.cali" | "*.calico" | "tunl0"
        terms.push(reject(vec![ifs(&["*.cali", "*.calico", "tunl0"])]));
    }
    terms.extend([
        // reject_local_routes()
        reject(vec![ifs(&["bpf*.cali"])]),
        // apply_communities()
        Term {
            matches: vec![Match::Prefix(vec![pr("10.244.0.0/16+")])],
            actions: vec![Action::AddCommunity(Community::new(65000, 100))],
            verdict: None,
        },
        // calico_aggr(): net = B accept; net ~ B && krt_metric < 1024 accept; net ~ B reject
        accept(vec![Match::Prefix(vec![pr("10.244.1.0/26")])]),
        accept(vec![
            Match::Prefix(vec![pr("10.244.1.0/26+")]),
            Match::KernelMetricBelow(1024),
        ]),
        reject(vec![Match::Prefix(vec![pr("10.244.1.0/26+")])]),
        // static routes (advertised service IPs)
        accept(vec![Match::Source(vec![SourceKind::Static])]),
        // enabled pools
        accept(vec![Match::Prefix(vec![pr("10.244.0.0/16+")])]),
    ]);
    Policy {
        terms,
        default: Verdict::Reject,
    }
}

#[test]
fn calico_export_filter_on_a_table_of_routes() {
    // (prefix, source, interface, kernel metric, exported, case)
    type Row = (
        &'static str,
        SourceKind,
        Option<&'static str>,
        Option<u32>,
        bool,
        &'static str,
    );
    let table: Vec<Row> = vec![
        (
            "10.244.1.0/26",
            SourceKind::Static,
            None,
            None,
            true,
            "own block (blackhole)",
        ),
        (
            "10.244.1.5/32",
            SourceKind::Kernel,
            Some("cali12ab"),
            Some(1024),
            false,
            "workload in own block",
        ),
        (
            "10.244.1.6/32",
            SourceKind::Kernel,
            Some("eth0"),
            Some(100),
            true,
            "block /32 with metric < 1024",
        ),
        (
            "10.244.9.9/32",
            SourceKind::Kernel,
            Some("cali99"),
            None,
            true,
            "borrowed IP in pool",
        ),
        (
            "10.244.1.1/32",
            SourceKind::Kernel,
            Some("tunl0"),
            None,
            false,
            "tunnel address",
        ),
        (
            "10.244.7.0/26",
            SourceKind::Kernel,
            Some("vxlan.calico"),
            None,
            false,
            "vxlan tunnel route",
        ),
        (
            "10.244.8.0/26",
            SourceKind::Kernel,
            Some("bpfout.cali"),
            None,
            false,
            "bpf local route",
        ),
        (
            "10.250.3.0/26",
            SourceKind::Static,
            None,
            None,
            false,
            "disabled pool",
        ),
        (
            "10.96.0.10/32",
            SourceKind::Static,
            None,
            None,
            true,
            "static service IP",
        ),
        (
            "192.168.0.0/24",
            SourceKind::Direct,
            Some("eth0"),
            None,
            false,
            "host subnet",
        ),
        (
            "0.0.0.0/0",
            SourceKind::Kernel,
            Some("eth0"),
            None,
            false,
            "default route",
        ),
    ];
    let pol = calico_export(true);
    for (p, src, ifname, metric, want, case) in &table {
        let mut r = RouteAttrs::default();
        r.meta.ifname = ifname.map(Arc::from);
        r.meta.krt_metric = *metric;
        let o = pol.evaluate(&net(p), &r, *src);
        assert_eq!(o.verdict == Verdict::Accept, *want, "{case}");
        if *want && p.starts_with("10.244.") {
            let m = o.modified.unwrap();
            assert!(
                m.attrs.communities.contains(&Community::new(65000, 100)),
                "{case}"
            );
        }
    }
    // For an eBGP peer the tunnel rule does not apply.
    let ebgp = calico_export(false);
    let mut r = RouteAttrs::default();
    r.meta.ifname = Some(Arc::from("tunl0"));
    let o = ebgp.evaluate(&net("10.244.9.1/32"), &r, SourceKind::Kernel);
    assert_eq!(o.verdict, Verdict::Accept);

    // End to end: the same filter as a peer's export filter; only the accepted routes reach it.
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.0.0.1")));
    rib.set_policy("calico_export", calico_export(true));
    let mut cfg = PeerConfig::new("Mesh_10_0_0_2", ip("10.0.0.2"));
    cfg.export = Some("calico_export".into());
    let peer = rib.add_peer(cfg).unwrap();
    for (p, src, ifname, metric, _, _) in &table {
        rib.add_local(
            *src,
            net(p),
            LocalRoute {
                next_hop: None,
                route_type: RouteType::Unicast,
                ifname: ifname.map(Arc::from),
                krt_metric: *metric,
            },
        );
    }
    rib.peer_up(peer, neg(65000, "10.0.0.1", 65000, "10.0.0.2"));
    let mut buf = bytes::BytesMut::new();
    while rib.poll_update(peer, &mut buf).unwrap() {}
    for (p, _, _, _, want, case) in &table {
        assert_eq!(
            !rib.adj_rib_out(peer, &net(p)).is_empty(),
            *want,
            "end to end: {case}"
        );
    }
}

#[test]
fn calico_kernel_programming_filter_sets_tunnels() {
    // Pool 172.16.0.0/16 CrossSubnet (node subnet 10.192.0.0/16), 192.168.0.0/16 Always,
    // 10.10.0.0/16 VXLAN (rejected: "VXLAN routes are handled by Felix").
    let tunl0 = || Action::SetKernelTunnel(KernelTunnel::Dev(Arc::from("tunl0")));
    let kernel = Policy {
        terms: vec![
            Term {
                matches: vec![Match::Prefix(vec![pr("10.10.0.0/16+")])],
                actions: vec![],
                verdict: Some(Verdict::Reject),
            },
            Term {
                matches: vec![
                    Match::Prefix(vec![pr("172.16.0.0/16+")]),
                    Match::NextHopIn(vec![net("10.192.0.0/16")]),
                ],
                actions: vec![Action::SetKernelTunnel(KernelTunnel::Direct)],
                verdict: Some(Verdict::Accept),
            },
            Term {
                matches: vec![Match::Prefix(vec![pr("172.16.0.0/16+")])],
                actions: vec![tunl0()],
                verdict: Some(Verdict::Accept),
            },
            Term {
                matches: vec![Match::Prefix(vec![pr("192.168.0.0/16+")])],
                actions: vec![tunl0()],
                verdict: Some(Verdict::Accept),
            },
        ],
        default: Verdict::Accept,
    };
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.192.0.1")));
    rib.set_policy("calico_kernel_programming", kernel);
    rib.set_kernel_policy(Some("calico_kernel_programming".into()));
    let peer = rib
        .add_peer(PeerConfig::new("m", ip("10.192.0.2")))
        .unwrap();
    rib.peer_up(peer, neg(65000, "10.192.0.1", 65000, "10.192.0.2"));
    // (prefix, next hop, expected: None = not installed, Some(tunnel))
    let cases: Vec<(&str, &str, Option<Option<KernelTunnel>>)> = vec![
        (
            "172.16.1.0/26",
            "10.192.0.2",
            Some(Some(KernelTunnel::Direct)),
        ),
        (
            "172.16.2.0/26",
            "10.193.0.2",
            Some(Some(KernelTunnel::Dev(Arc::from("tunl0")))),
        ),
        (
            "192.168.5.0/26",
            "10.192.0.2",
            Some(Some(KernelTunnel::Dev(Arc::from("tunl0")))),
        ),
        ("10.10.1.0/26", "10.192.0.2", None),
        ("203.0.113.0/24", "10.192.0.2", Some(None)),
    ];
    for (p, hop, _) in &cases {
        rib.announce(peer, Family::IPV4_UNICAST, &attrs(&[]), nh(hop), &[nlri(p)]);
    }
    let fib = drain_fib(&mut rib);
    for (p, _, want) in cases {
        let ch = fib.iter().find(|c| c.prefix == net(p)).unwrap();
        let got = ch.route.as_ref().map(|r| r.next_hops[0].tunnel.clone());
        assert_eq!(got, want, "{p}");
    }
}

#[test]
fn import_filter_and_undefined_filter_fails_closed() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.0.0.1")));
    rib.set_policy(
        "imp",
        Policy {
            terms: vec![Term {
                matches: vec![Match::Prefix(vec![pr("10.0.0.0/8{8,24}")])],
                actions: vec![Action::SetLocalPref(250)],
                verdict: Some(Verdict::Accept),
            }],
            default: Verdict::Reject,
        },
    );
    let mut c = PeerConfig::new("a", ip("10.0.0.2"));
    c.import = Some("imp".into());
    let a = rib.add_peer(c).unwrap();
    let mut c = PeerConfig::new("b", ip("10.0.0.3"));
    c.import = Some("no_such_filter".into());
    let b = rib.add_peer(c).unwrap();
    for p in [a, b] {
        rib.peer_up(p, neg(65000, "10.0.0.1", 65000, "10.0.0.9"));
    }
    let s = rib.announce(
        a,
        Family::IPV4_UNICAST,
        &attrs(&[]),
        nh("10.0.0.2"),
        &[
            nlri("10.1.0.0/16"),
            nlri("10.1.1.1/32"),
            nlri("11.0.0.0/8"),
            nlri("10.2.0.0/16"),
        ],
    );
    assert_eq!((s.accepted, s.filtered), (2, 2));
    assert_eq!(
        rib.best(&net("10.1.0.0/16"))
            .unwrap()
            .attrs
            .attrs
            .local_pref,
        Some(250)
    );
    // Both accepted prefixes share one interned set (the modification was cached).
    assert_eq!(rib.attr_sets(), 1);
    let s = rib.announce(
        b,
        Family::IPV4_UNICAST,
        &attrs(&[]),
        nh("10.0.0.3"),
        &[nlri("10.3.0.0/16")],
    );
    assert_eq!((s.accepted, s.filtered), (0, 1));
}

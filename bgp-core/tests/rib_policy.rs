//! DOC: filters in the RIB: Calico's BGP export filter (as confd writes it, in the filter IR)
//! proven on a table of routes and end to end through a peer's Adj-RIB-Out, Calico's kernel
//! programming filter (IP-in-IP `Always` / `CrossSubnet`, VXLAN rejected) through the FIB, and
//! import filters (result caching, fail-closed on an undefined name, run-time errors counted).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::sync::Arc;

use bgp_core::filter::{
    Attr, CmpOp, Expr, Filter, Frame, PrefixRange, PrefixSet, ProgramBuilder, RouteCtx, Set, Stmt,
    Type, Value,
};
use bgp_core::rib::{
    KernelTunnel, LocalRoute, PeerConfig, Rib, RibConfig, RouteAttrs, RouteType, SourceKind,
    Verdict,
};
use bgp_core::wire::{Community, Family};
use rib_common::*;

fn a(x: Attr) -> Expr {
    Expr::attr(x)
}
/// `net ~ [ P ]` (a prefix-set pattern: `a/b`, `a/b+`, `a/b{m,n}`).
fn net_in(p: &str) -> Expr {
    let set = Set::Prefix(PrefixSet::new([p.parse::<PrefixRange>().unwrap()]));
    Expr::matches(a(Attr::Net), Expr::val(Value::set(set)))
}
fn net_is(p: &str) -> Expr {
    Expr::eq(a(Attr::Net), Expr::val(Value::Prefix(p.parse().unwrap())))
}
fn ifname_like(p: &str) -> Expr {
    Expr::matches(a(Attr::Ifname), Expr::string(p))
}
fn set_str(x: Attr, v: &str) -> Stmt {
    Stmt::SetAttr(x, Expr::string(v))
}

/// Calico's `calico_export_to_bgp_peers(bool internal_peer)` for a node with IPAM block
/// 10.244.1.0/26 of enabled pool 10.244.0.0/16 (community 65000:100 on pool routes), disabled
/// pool 10.250.0.0/16, Felix owning IP-in-IP routes; the peer filter is
/// `calico_export_to_bgp_peers(<internal>); reject;`.
fn calico_export(internal_peer: bool) -> Filter {
    let mut b = ProgramBuilder::new();
    let mut fr = Frame::new();
    let internal = fr.param("internal_peer", Type::Bool).unwrap();
    let body = vec![
        // reject_disabled_pools()
        Stmt::if_then(net_in("10.250.0.0/16+"), vec![Stmt::Reject]),
        // reject_tunnel_routes() for iBGP
        Stmt::if_then(
            Expr::and(
                Expr::var(internal),
                Expr::or(
                    ifname_like("*.cali"),
                    Expr::or(ifname_like("*.calico"), ifname_like("tunl0")),
                ),
            ),
            vec![Stmt::Reject],
        ),
        // reject_local_routes()
        Stmt::if_then(ifname_like("bpf*.cali"), vec![Stmt::Reject]),
        // apply_communities()
        Stmt::if_then(
            net_in("10.244.0.0/16+"),
            vec![Stmt::modify_attr(
                bgp_core::filter::ModOp::Add,
                Attr::BgpCommunity,
                Expr::val(Value::pair(65000, 100)),
            )],
        ),
        // calico_aggr()
        Stmt::if_then(net_is("10.244.1.0/26"), vec![Stmt::Accept]),
        Stmt::if_then(
            Expr::and(
                net_in("10.244.1.0/26+"),
                Expr::cmp(CmpOp::Lt, a(Attr::KrtMetric), Expr::int(1024)),
            ),
            vec![Stmt::Accept],
        ),
        Stmt::if_then(net_in("10.244.1.0/26+"), vec![Stmt::Reject]),
        // static routes (advertised service IPs)
        Stmt::if_then(
            Expr::eq(
                a(Attr::Source),
                Expr::val(Value::Enum(bgp_core::filter::EnumValue::RTS_STATIC)),
            ),
            vec![Stmt::Accept],
        ),
        // enabled pools
        Stmt::if_then(net_in("10.244.0.0/16+"), vec![Stmt::Accept]),
    ];
    let f = b.function("calico_export_to_bgp_peers", fr, body).unwrap();
    b.filter(
        "calico_export",
        vec![],
        vec![Stmt::call(f, vec![Expr::bool(internal_peer)]), Stmt::Reject],
    )
    .unwrap();
    let mut p = b.finish().unwrap();
    Arc::unwrap_or_clone(p.filters.remove("calico_export").unwrap())
}

fn run(f: &Filter, prefix: &str, r: &RouteAttrs, source: SourceKind) -> bgp_core::filter::Outcome {
    let p = net(prefix);
    f.run(
        &RouteCtx {
            prefix: &p,
            source,
            from: None,
            proto: "t",
            bgp_export: false,
        },
        r,
    )
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
        let o = run(&pol, p, &r, *src);
        assert_eq!(o.verdict == Verdict::Accept, *want, "{case}");
        if *want && p.starts_with("10.244.") {
            let m = o.modified(&r).unwrap();
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
    let o = run(&ebgp, "10.244.9.1/32", &r, SourceKind::Kernel);
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
                krt_source: None,
                multipath: Vec::new(),
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
    let next_hop_in = |p: &str| {
        Expr::and(
            Expr::defined(a(Attr::BgpNextHop)),
            Expr::matches(
                a(Attr::BgpNextHop),
                Expr::val(Value::Prefix(p.parse().unwrap())),
            ),
        )
    };
    let kernel = Filter::simple(
        "calico_kernel_programming",
        vec![
            Stmt::if_then(net_in("10.10.0.0/16+"), vec![Stmt::Reject]),
            Stmt::if_then(
                net_in("172.16.0.0/16+"),
                vec![
                    Stmt::if_else(
                        next_hop_in("10.192.0.0/16"),
                        vec![set_str(Attr::KrtTunnel, "")],
                        vec![set_str(Attr::KrtTunnel, "tunl0")],
                    ),
                    Stmt::Accept,
                ],
            ),
            Stmt::if_then(
                net_in("192.168.0.0/16+"),
                vec![set_str(Attr::KrtTunnel, "tunl0"), Stmt::Accept],
            ),
            Stmt::Accept,
        ],
    )
    .unwrap();
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

/// A new text of the kernel filter (a reload) re-hands every prefix to the FIB with its new
/// kernel form; another filter's new text does not.
#[test]
fn a_changed_kernel_filter_sends_every_prefix_to_the_fib_again() {
    let metric = |m: u32| {
        Filter::simple(
            "kern",
            vec![Stmt::SetAttr(Attr::KrtMetric, Expr::int(m)), Stmt::Accept],
        )
        .unwrap()
    };
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.192.0.1")));
    rib.set_policy("kern", metric(1024));
    rib.set_kernel_policy(Some("kern".into()));
    let peer = rib
        .add_peer(PeerConfig::new("m", ip("10.192.0.2")))
        .unwrap();
    rib.peer_up(peer, neg(65000, "10.192.0.1", 65000, "10.192.0.2"));
    let prefixes: Vec<String> = (0..300)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    for p in &prefixes {
        rib.announce(
            peer,
            Family::IPV4_UNICAST,
            &attrs(&[]),
            nh("10.192.0.2"),
            &[nlri(p)],
        );
    }
    let fib = drain_fib(&mut rib);
    assert_eq!(fib.len(), 300);
    assert!(fib
        .iter()
        .all(|c| c.route.as_ref().unwrap().krt_metric == Some(1024)));
    // The same text again, or another filter changing: nothing for the FIB.
    rib.set_policy("kern", metric(1024));
    rib.set_policy("other", metric(5));
    assert!(drain_fib(&mut rib).is_empty());
    rib.set_policy("kern", metric(0));
    let fib = drain_fib(&mut rib);
    assert_eq!(fib.len(), 300, "every prefix once");
    for p in &prefixes {
        let ch = fib.iter().find(|c| c.prefix == net(p)).unwrap();
        assert_eq!(ch.route.as_ref().unwrap().krt_metric, Some(0), "{p}");
    }
}

#[test]
fn import_filter_and_undefined_filter_fails_closed() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.0.0.1")));
    // if net ~ [ 10.0.0.0/8{8,24} ] then { bgp_local_pref = 250; accept; } reject;
    let imp = Filter::simple(
        "imp",
        vec![
            Stmt::if_then(
                net_in("10.0.0.0/8{8,24}"),
                vec![
                    Stmt::SetAttr(Attr::BgpLocalPref, Expr::int(250)),
                    Stmt::Accept,
                ],
            ),
            Stmt::Reject,
        ],
    )
    .unwrap();
    assert!(imp.analysis.reads_prefix);
    rib.set_policy("imp", imp);
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

#[test]
fn prefix_independent_import_filters_run_once_per_update_and_errors_are_counted() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.0.0.1")));
    // if bgp_local_pref > 2147482623 then preference = 200; accept;  (Calico v3.32 import)
    rib.set_policy(
        "imp",
        Filter::simple(
            "imp",
            vec![
                Stmt::if_then(
                    Expr::cmp(CmpOp::Gt, a(Attr::BgpLocalPref), Expr::int(2147482623)),
                    vec![Stmt::SetAttr(Attr::Preference, Expr::int(200))],
                ),
                Stmt::Accept,
            ],
        )
        .unwrap(),
    );
    // bgp_med + 1 on a route without MED: a run-time error, which rejects.
    rib.set_policy(
        "broken",
        Filter::simple(
            "broken",
            vec![
                Stmt::SetAttr(
                    Attr::BgpMed,
                    Expr::arith(
                        bgp_core::filter::ArithOp::Add,
                        a(Attr::BgpMed),
                        Expr::int(1),
                    ),
                ),
                Stmt::Accept,
            ],
        )
        .unwrap(),
    );
    let mut c = PeerConfig::new("a", ip("10.0.0.2"));
    c.import = Some("imp".into());
    let pa = rib.add_peer(c).unwrap();
    let mut c = PeerConfig::new("b", ip("10.0.0.3"));
    c.import = Some("broken".into());
    let pb = rib.add_peer(c).unwrap();
    for p in [pa, pb] {
        rib.peer_up(p, neg(65000, "10.0.0.1", 65000, "10.0.0.9"));
    }
    let mut high = attrs(&[]);
    high.local_pref = Some(2147483000);
    let s = rib.announce(
        pa,
        Family::IPV4_UNICAST,
        &high,
        nh("10.0.0.2"),
        &[nlri("10.1.0.0/16"), nlri("10.2.0.0/16")],
    );
    assert_eq!((s.accepted, s.filtered), (2, 0));
    let best = rib.best(&net("10.2.0.0/16")).unwrap();
    assert_eq!(best.attrs.meta.preference, Some(200));
    assert_eq!(rib.attr_sets(), 1);
    assert_eq!(rib.filter_errors().0, 0);
    let s = rib.announce(
        pb,
        Family::IPV4_UNICAST,
        &attrs(&[]),
        nh("10.0.0.3"),
        &[nlri("10.3.0.0/16"), nlri("10.4.0.0/16")],
    );
    assert_eq!((s.accepted, s.filtered), (0, 2));
    let (n, last) = rib.filter_errors();
    // One run for the whole UPDATE: the filter does not read `net`.
    assert_eq!(n, 1);
    let (name, e) = last.unwrap();
    assert_eq!(name, "broken");
    assert_eq!(e.0, "Can't operate with values of type void");
}

/// BIRD's kernel `import` filter: kernel-learned routes pass it before they enter the RIB;
/// naming another filter (or none) re-filters the routes already learned.
#[test]
fn kernel_import_filter_applies_to_learned_routes() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("10.0.0.1")));
    // if net ~ [ 10.66.1.0/24+ ] then accept; reject;
    let kimp = Filter::simple(
        "kimp",
        vec![
            Stmt::if_then(net_in("10.66.1.0/24+"), vec![Stmt::Accept]),
            Stmt::Reject,
        ],
    )
    .unwrap();
    rib.set_policy("kimp", kimp);
    rib.set_kernel_import(Some("kimp".into()));
    let learned = || LocalRoute {
        next_hop: Some(ip("172.31.0.11")),
        route_type: RouteType::Unicast,
        ifname: Some(Arc::from("eth0")),
        krt_metric: Some(0),
        krt_source: None,
        multipath: Vec::new(),
    };
    for p in ["10.66.1.0/24", "10.66.2.0/24"] {
        rib.add_local(SourceKind::Kernel, net(p), learned());
    }
    // Static routes do not pass the kernel's import filter.
    rib.add_local(
        SourceKind::Static,
        net("10.66.3.0/24"),
        LocalRoute {
            next_hop: None,
            route_type: RouteType::Blackhole,
            ifname: None,
            krt_metric: None,
            krt_source: None,
            multipath: Vec::new(),
        },
    );
    let present = |rib: &Rib, p: &str| !rib.routes(&net(p)).is_empty();
    assert!(present(&rib, "10.66.1.0/24"));
    assert!(!present(&rib, "10.66.2.0/24"));
    assert!(present(&rib, "10.66.3.0/24"));
    // `import all`: the route the filter held back enters the RIB.
    rib.set_kernel_import(None);
    assert!(present(&rib, "10.66.2.0/24"));
    // A kernel withdrawal removes it whatever the filter.
    rib.remove_local(SourceKind::Kernel, net("10.66.2.0/24"));
    rib.set_kernel_import(Some("kimp".into()));
    rib.set_kernel_import(None);
    assert!(!present(&rib, "10.66.2.0/24"));
    assert!(present(&rib, "10.66.1.0/24"));
}

//! Installing, replacing and deleting every route kind (IPv4, IPv6, ECMP), per-route errors,
//! and the tunnel/direct mode flip.

use crate::harness::*;

#[test]
fn ipv4_install_replace_delete_every_kind() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let routes = [
        route(
            "10.1.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
        ),
        route(
            "10.2.0.0/26",
            uni(vec![NextHop::onlink(ip("172.20.0.7"), dev("tunl0"))]),
        ),
        route("10.3.0.0/26", RouteKind::Blackhole),
        route("10.4.0.0/24", RouteKind::Unreachable),
        route("10.5.0.0/24", RouteKind::Prohibit),
        route(
            "10.6.0.0/24",
            uni(vec![
                NextHop::onlink(ip("172.20.0.8"), dev("tunl0")),
                NextHop {
                    weight: 3,
                    ..NextHop::via(ip("192.168.1.3"), Device::Index(eth0))
                },
            ]),
        ),
        FibRoute {
            table: 1000,
            metric: 20,
            ..route(
                "10.7.0.0/24",
                uni(vec![NextHop::onlink(ip("172.20.0.9"), dev("tunl0"))]),
            )
        },
    ];
    for r in &routes {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);

    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 6, "{k:#?}");
    assert_eq!(
        hops(&k[&net("10.1.0.0/24")]),
        vec![(ip("192.168.1.2"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("10.2.0.0/26")]),
        vec![(ip("172.20.0.7"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("10.3.0.0/26")].rtype, RTN_BLACKHOLE);
    assert_eq!(k[&net("10.4.0.0/24")].rtype, RTN_UNREACHABLE);
    assert_eq!(k[&net("10.5.0.0/24")].rtype, RTN_PROHIBIT);
    let ecmp = &k[&net("10.6.0.0/24")];
    assert!(ecmp.multipath);
    assert_eq!(
        hops(ecmp),
        vec![
            (ip("172.20.0.8"), tunl0, true, 1),
            (ip("192.168.1.3"), eth0, false, 3)
        ]
    );
    for r in k.values() {
        assert_eq!((r.protocol, r.scope), (BIRD, 0));
    }
    let t = ours(&mut rd, 1000);
    assert_eq!(t.len(), 1);
    assert_eq!(t[&net("10.7.0.0/24")].metric, 20);
    assert_eq!(
        hops(&t[&net("10.7.0.0/24")]),
        vec![(ip("172.20.0.9"), tunl0, true, 1)]
    );

    // Replace: new next hops, kinds swapped, ECMP to single path and back.
    let replaced = [
        route(
            "10.1.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.4"), dev("eth0"))]),
        ),
        route("10.2.0.0/26", RouteKind::Blackhole),
        route(
            "10.3.0.0/26",
            uni(vec![NextHop::onlink(ip("172.20.0.10"), dev("tunl0"))]),
        ),
        route("10.4.0.0/24", RouteKind::Prohibit),
        route("10.5.0.0/24", RouteKind::Unreachable),
        route(
            "10.6.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.5"), dev("eth0"))]),
        ),
    ];
    for r in &replaced {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 6);
    assert_eq!(
        hops(&k[&net("10.1.0.0/24")]),
        vec![(ip("192.168.1.4"), eth0, false, 1)]
    );
    assert_eq!(k[&net("10.2.0.0/26")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("10.3.0.0/26")]),
        vec![(ip("172.20.0.10"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("10.4.0.0/24")].rtype, RTN_PROHIBIT);
    assert_eq!(k[&net("10.5.0.0/24")].rtype, RTN_UNREACHABLE);
    assert!(!k[&net("10.6.0.0/24")].multipath);
    assert_eq!(
        hops(&k[&net("10.6.0.0/24")]),
        vec![(ip("192.168.1.5"), eth0, false, 1)]
    );
    // exactly one route per key: replaced in place, not added beside
    assert_eq!(
        all_in(&mut rd, TABLE_MAIN)
            .iter()
            .filter(|r| r.protocol == BIRD)
            .count(),
        6
    );

    // Delete everything (and something that was never there).
    for r in routes.iter() {
        fib.apply(FibChange::Remove(r.key()));
    }
    fib.apply(FibChange::Remove(RouteKey::new(
        TABLE_MAIN,
        net("10.99.0.0/16"),
        0,
    )));
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    assert!(ours(&mut rd, 1000).is_empty());
}

#[test]
fn ipv6_install_replace_ecmp_delete() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let single = route(
        "2001:db8:10::/64",
        uni(vec![NextHop::via(ip("2001:db8:1::2"), dev("eth0"))]),
    );
    let onlink = route(
        "2001:db8:11::/64",
        uni(vec![NextHop::onlink(ip("2001:db8:99::1"), dev("tunl0"))]),
    );
    let hole = route("2001:db8:12::/122", RouteKind::Blackhole);
    let ecmp = route(
        "2001:db8:13::/64",
        uni(vec![
            NextHop::via(ip("2001:db8:1::2"), dev("eth0")),
            NextHop::via(ip("2001:db8:1::3"), dev("eth0")),
            NextHop::onlink(ip("2001:db8:99::2"), dev("tunl0")),
        ]),
    );
    for r in [&single, &onlink, &hole, &ecmp] {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 4, "{k:#?}");
    assert_eq!(k[&net("2001:db8:10::/64")].metric, 1024);
    assert_eq!(
        hops(&k[&net("2001:db8:10::/64")]),
        vec![(ip("2001:db8:1::2"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("2001:db8:11::/64")]),
        vec![(ip("2001:db8:99::1"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("2001:db8:12::/122")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("2001:db8:13::/64")]),
        vec![
            (ip("2001:db8:1::2"), eth0, false, 1),
            (ip("2001:db8:1::3"), eth0, false, 1),
            (ip("2001:db8:99::2"), tunl0, true, 1),
        ]
    );

    // ECMP -> single path must leave no sibling behind; single -> ECMP must not append to
    // an old route; unicast -> blackhole and back.
    fib.apply(FibChange::Upsert(route(
        "2001:db8:13::/64",
        uni(vec![NextHop::via(ip("2001:db8:1::4"), dev("eth0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:10::/64",
        uni(vec![
            NextHop::via(ip("2001:db8:1::5"), dev("eth0")),
            NextHop::via(ip("2001:db8:1::6"), dev("eth0")),
        ]),
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:11::/64",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:12::/122",
        uni(vec![NextHop::onlink(ip("2001:db8:99::3"), dev("tunl0"))]),
    )));
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let all: Vec<_> = all_in(&mut rd, TABLE_MAIN)
        .into_iter()
        .filter(|r| r.protocol == BIRD)
        .collect();
    assert_eq!(all.len(), 4, "{all:#?}");
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        hops(&k[&net("2001:db8:13::/64")]),
        vec![(ip("2001:db8:1::4"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("2001:db8:10::/64")]),
        vec![
            (ip("2001:db8:1::5"), eth0, false, 1),
            (ip("2001:db8:1::6"), eth0, false, 1)
        ]
    );
    assert_eq!(k[&net("2001:db8:11::/64")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("2001:db8:12::/122")]),
        vec![(ip("2001:db8:99::3"), tunl0, true, 1)]
    );

    for p in [
        "2001:db8:10::/64",
        "2001:db8:11::/64",
        "2001:db8:12::/122",
        "2001:db8:13::/64",
    ] {
        fib.apply(FibChange::Remove(RouteKey::new(TABLE_MAIN, net(p), 0)));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
}

#[test]
fn per_route_errors_do_not_fail_the_batch() {
    let lab = Lab::new();
    // A foreign route under a key we will want: we must fail with EEXIST and leave it.
    lab.ip("route add 10.50.0.0/24 via 192.168.1.2 dev eth0 proto static");
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    fib.apply(FibChange::Upsert(route(
        "10.49.0.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.50.0.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.51.0.0/24",
        uni(vec![NextHop::via(ip("172.16.0.1"), dev("eth0"))]), // gateway not on-link
    )));
    fib.apply(FibChange::Upsert(route(
        "10.55.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), Device::Index(9999))]), // no such device
    )));
    fib.apply(FibChange::Upsert(route(
        "10.52.0.0/24",
        uni(vec![NextHop::onlink(
            ip("192.168.1.2"),
            Device::Index(9999),
        )]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.53.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), dev("nosuchdev"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.54.0.0/24",
        RouteKind::Unreachable,
    )));
    settle(&mut sock, &mut fib);
    let mut errs = errors(&drain(&mut fib));
    errs.sort();
    assert_eq!(
        errs,
        vec![
            (net("10.50.0.0/24"), libc::EEXIST),
            (net("10.51.0.0/24"), libc::ENETUNREACH),
            (net("10.52.0.0/24"), libc::ENODEV),
            (net("10.53.0.0/24"), libc::ENODEV), // unknown name: refused before sending
            (net("10.55.0.0/24"), libc::ENETUNREACH), // the kernel's answer without onlink
        ]
    );
    // The FIB lists them (what `show fib` shows): key, errno and the route as wanted.
    let failed = fib.failures(usize::MAX);
    let listed: Vec<_> = failed.iter().map(|f| (f.key.prefix, f.errno)).collect();
    assert_eq!(
        listed, errs,
        "failures() in prefix order, the errors reported"
    );
    assert_eq!(fib.failed(), 5);
    let f51 = failed
        .iter()
        .find(|f| f.key.prefix == net("10.51.0.0/24"))
        .unwrap();
    assert_eq!(
        f51.kind,
        Some(uni(vec![NextHop::via(ip("172.16.0.1"), dev("eth0"))]))
    );
    assert_eq!(fib.failures(2).len(), 2, "the limit holds");
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k.keys().copied().collect::<Vec<_>>(),
        vec![net("10.49.0.0/24"), net("10.54.0.0/24")]
    );
    let foreign: Vec<_> = all_in(&mut rd, TABLE_MAIN)
        .into_iter()
        .filter(|r| r.prefix == net("10.50.0.0/24"))
        .collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!((foreign[0].protocol, foreign[0].rtype), (4, RTN_UNICAST));
}

#[test]
fn mode_flip_between_tunnel_and_direct() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let tunnel = route(
        "10.90.0.0/26",
        uni(vec![NextHop::onlink(ip("192.168.1.20"), dev("tunl0"))]),
    );
    let direct = route(
        "10.90.0.0/26",
        uni(vec![NextHop::via(ip("192.168.1.20"), dev("eth0"))]),
    );
    for (r, want) in [
        (&tunnel, (ip("192.168.1.20"), tunl0, true, 1)),
        (&direct, (ip("192.168.1.20"), eth0, false, 1)),
        (&tunnel, (ip("192.168.1.20"), tunl0, true, 1)),
    ] {
        fib.apply(FibChange::Upsert(r.clone()));
        settle(&mut sock, &mut fib);
        assert_eq!(errors(&drain(&mut fib)), vec![]);
        let k = ours(&mut rd, TABLE_MAIN);
        assert_eq!(k.len(), 1);
        assert_eq!(hops(&k[&net("10.90.0.0/26")]), vec![want]);
    }
    // A third party flips it to direct (what a reboot did to BIRD): the scan flips it back.
    lab.ip("route replace 10.90.0.0/26 via 192.168.1.20 dev eth0 proto bird");
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.get(&net("10.90.0.0/26"))
            .is_some_and(|r| hops(r) == vec![(ip("192.168.1.20"), tunl0, true, 1)])
    });
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        hops(&k[&net("10.90.0.0/26")]),
        vec![(ip("192.168.1.20"), tunl0, true, 1)]
    );
}

#[test]
fn a_dump_read_as_a_stream_can_stop_early_and_the_socket_dumps_again() {
    let lab = Lab::new();
    let mut text = String::new();
    for i in 0..2000u32 {
        text.push_str(&format!(
            "route add blackhole 10.{}.{}.0/24 proto bird\n",
            i >> 8,
            i & 0xff
        ));
    }
    lab.ip_batch(&text);
    let mut rd = lab.socket(false);
    // Every route, as the whole dump has them.
    let mut streamed = Vec::new();
    rd.dump_routes_with(|r| {
        if r.protocol == BIRD {
            streamed.push(r.prefix);
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(streamed.len(), 2000);
    assert_eq!(
        streamed,
        ours(&mut rd, TABLE_MAIN).into_keys().collect::<Vec<_>>()
    );
    // Stopped after 10 routes: the rest of the dump is not handed over, and the next dump on
    // the same socket is whole (not the rest of the first).
    let mut seen = 0;
    rd.dump_routes_with(|_| {
        seen += 1;
        if seen == 10 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, 10);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 2000);
    // A restart's question: one of ours is there (the last one too), another protocol's not.
    let last = net("10.7.207.0/24");
    assert!(rd
        .holds_route(|r| r.protocol == BIRD && r.prefix == last)
        .unwrap());
    assert!(!rd.holds_route(|r| r.protocol == BIRD + 1).unwrap());
    assert_eq!(
        ours(&mut rd, TABLE_MAIN).len(),
        2000,
        "the socket dumps again"
    );
}

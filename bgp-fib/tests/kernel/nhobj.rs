//! Kernel nexthop objects (`RTA_NH_ID`): sharing, ECMP groups, a tunnel/direct flip as one
//! object replace, `off` as today's plain routes, reconcile and repair of objects, and the
//! deletion of an object with its last route. Everything is read back from the kernel.

use crate::harness::*;
use bgp_fib::wire::KernelNexthop;
use std::collections::BTreeSet;

fn objects_cfg() -> FibConfig {
    FibConfig {
        nexthop_objects: NexthopObjects::Auto,
        routes: RoutePolicy {
            pools: vec![Pool {
                cidr: net("10.244.0.0/16"),
                mode: PoolMode::IpipCrossSubnet,
            }],
            ..RoutePolicy::default()
        },
        ..cfg()
    }
}

/// Our nexthop objects (protocol bird), by id.
fn our_objects(rd: &mut FibSocket) -> BTreeMap<u32, KernelNexthop> {
    rd.dump_nexthops()
        .unwrap()
        .into_iter()
        .filter(|n| n.protocol == BIRD)
        .map(|n| (n.id, n))
        .collect()
}

fn pool_route(prefix: &str, gw: &str) -> FibChange {
    FibChange::Intent(RouteIntent {
        prefix: net(prefix),
        kind: IntentKind::Unicast(IntentHop::pool(ip(gw)).into()),
        metric: None,
    })
}

fn ip_route(lab: &Lab) -> String {
    let out = Command::new("ip")
        .args(["-n", &lab.name, "route", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The routes of the tests below: three through one tunnel next hop, one direct, one ECMP,
/// one blackhole.
fn install_shared(fib: &mut Fib) {
    for p in ["10.244.1.0/26", "10.244.2.0/26", "10.244.3.0/26"] {
        fib.apply(pool_route(p, "172.20.0.7"));
    }
    fib.apply(FibChange::Upsert(route(
        "10.1.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.6.0.0/24",
        uni(vec![
            NextHop::onlink(ip("172.20.0.8"), dev("tunl0")),
            NextHop {
                weight: 3,
                ..NextHop::via(ip("192.168.1.3"), dev("eth0"))
            },
        ]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.3.0.0/26",
        RouteKind::Blackhole,
    )));
}

#[test]
fn routes_sharing_a_next_hop_share_one_object_and_ecmp_a_group() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(objects_cfg(), false);
    install_shared(&mut fib);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(fib.uses_nexthop_objects());

    let k = ours(&mut rd, TABLE_MAIN);
    let objs = our_objects(&mut rd);
    assert_eq!(k.len(), 6, "{k:#?}");
    // Three pool routes, one object; the kernel still reports its next hop in the route.
    let shared = k[&net("10.244.1.0/26")].nh_id;
    assert!(
        (NHID_BASE..NHID_BASE + NHID_SPAN).contains(&shared),
        "{shared:#x}"
    );
    for p in ["10.244.2.0/26", "10.244.3.0/26"] {
        assert_eq!(k[&net(p)].nh_id, shared);
    }
    let o = &objs[&shared];
    assert_eq!(
        (o.gateway, o.ifindex, o.onlink),
        (Some(ip("172.20.0.7")), tunl0, true)
    );
    assert_eq!(
        hops(&k[&net("10.244.1.0/26")]),
        vec![(ip("172.20.0.7"), tunl0, true, 1)]
    );
    // The direct route has its own object.
    let d = &objs[&k[&net("10.1.0.0/24")].nh_id];
    assert_eq!(
        (d.gateway, d.ifindex, d.onlink),
        (Some(ip("192.168.1.2")), eth0, false)
    );
    // ECMP: one group of two member objects, weights kept.
    let g = &objs[&k[&net("10.6.0.0/24")].nh_id];
    assert_eq!(g.group.len(), 2, "{g:#?}");
    let mut members: Vec<_> = g
        .group
        .iter()
        .map(|(id, w)| {
            let m = &objs[id];
            (m.gateway.unwrap(), m.ifindex, m.onlink, *w)
        })
        .collect();
    members.sort();
    assert_eq!(
        members,
        vec![
            (ip("172.20.0.8"), tunl0, true, 1),
            (ip("192.168.1.3"), eth0, false, 3)
        ]
    );
    // Blackholes stay plain; five objects in all (shared, direct, group + 2 members).
    assert_eq!(k[&net("10.3.0.0/26")].nh_id, 0);
    assert_eq!(objs.len(), 5, "{objs:#?}");
    assert_eq!(fib.nexthop_objects(), 5);
    // What operators and Calico read: `via NH dev tunl0 ... onlink` is still there.
    let text = ip_route(&lab);
    assert!(
        text.lines().any(|l| l.starts_with("10.244.1.0/26 nhid ")
            && l.contains("via 172.20.0.7 dev tunl0 proto bird onlink")),
        "{text}"
    );
}

#[test]
fn off_gives_todays_plain_routes() {
    let lab = Lab::new();
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let plain = FibConfig {
        nexthop_objects: NexthopObjects::Off,
        ..objects_cfg()
    };
    let mut fib = Fib::new(plain, false);
    install_shared(&mut fib);
    settle(&mut sock, &mut fib);
    assert!(!fib.uses_nexthop_objects());
    let off = ours(&mut rd, TABLE_MAIN);
    assert!(our_objects(&mut rd).is_empty());
    assert!(off.values().all(|r| r.nh_id == 0));
    let off_hops: Vec<_> = off.values().map(|r| (r.prefix, r.rtype, hops(r))).collect();

    // The same routes through objects: the kernel forwards the same way.
    let lab2 = Lab::new();
    let mut sock2 = lab2.socket(false);
    let mut rd2 = lab2.socket(false);
    let mut fib2 = Fib::new(objects_cfg(), false);
    install_shared(&mut fib2);
    settle(&mut sock2, &mut fib2);
    let on = ours(&mut rd2, TABLE_MAIN);
    let on_hops: Vec<_> = on.values().map(|r| (r.prefix, r.rtype, hops(r))).collect();
    assert_eq!(off_hops, on_hops);
    assert!(on.values().filter(|r| r.nh_id != 0).count() == 5);

    // A FIB switched to `off` over a table of object routes turns them plain.
    let mut fib3 = Fib::new(
        FibConfig {
            nexthop_objects: NexthopObjects::Off,
            ..objects_cfg()
        },
        false,
    );
    install_shared(&mut fib3);
    settle(&mut sock2, &mut fib3);
    let k = ours(&mut rd2, TABLE_MAIN);
    assert!(k.values().all(|r| r.nh_id == 0), "{k:#?}");
    let again: Vec<_> = k.values().map(|r| (r.prefix, r.rtype, hops(r))).collect();
    assert_eq!(again, off_hops);
}

#[test]
fn subnet_flip_is_one_object_replace() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut rd = lab.socket(false);
    let c = FibConfig {
        scan_interval: Duration::from_secs(3600),
        ..objects_cfg()
    };
    let mut fib = Fib::new(c, false);
    let n = 200;
    for i in 0..n {
        fib.apply(pool_route(
            &format!("10.244.{}.{}/26", i / 4, (i % 4) * 64),
            "10.30.0.5",
        ));
    }
    settle(&mut sock, &mut fib);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), n);
    let id = k.values().next().unwrap().nh_id;
    assert!(k
        .values()
        .all(|r| r.nh_id == id && hops(r) == vec![(ip("10.30.0.5"), tunl0, true, 1)]));

    // The gateway's subnet appears on eth0: cross-subnet now goes direct.
    let before = fib.stats();
    lab.ip("addr add 10.30.0.1/24 dev eth0");
    let direct = vec![(ip("10.30.0.5"), eth0, false, 1)];
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.len() == n && k.values().all(|r| hops(r) == direct)
    });
    settle(&mut sock, &mut fib);
    let after = fib.stats();
    assert_eq!(after.messages_sent - before.messages_sent, 1, "{after:?}");
    assert_eq!(after.nexthop_messages - before.nexthop_messages, 1);
    let k = ours(&mut rd, TABLE_MAIN);
    assert!(k.values().all(|r| r.nh_id == id), "routes left the object");
    let o = &our_objects(&mut rd)[&id];
    assert_eq!((o.ifindex, o.onlink), (eth0, false));

    // And back through the tunnel when it goes: one message again.
    let before = fib.stats();
    lab.ip("addr del 10.30.0.1/24 dev eth0");
    let tunnel = vec![(ip("10.30.0.5"), tunl0, true, 1)];
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.len() == n && k.values().all(|r| hops(r) == tunnel && r.nh_id == id)
    });
    settle(&mut sock, &mut fib);
    assert_eq!(fib.stats().messages_sent - before.messages_sent, 1);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
}

#[test]
fn last_route_gone_deletes_its_object() {
    let lab = Lab::new();
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(objects_cfg(), false);
    install_shared(&mut fib);
    settle(&mut sock, &mut fib);
    assert_eq!(our_objects(&mut rd).len(), 5);
    let shared = ours(&mut rd, TABLE_MAIN)[&net("10.244.1.0/26")].nh_id;
    // Two of the three sharing routes go: the object stays for the third.
    for p in ["10.244.1.0/26", "10.244.2.0/26"] {
        fib.apply(FibChange::Withdraw(net(p)));
    }
    settle(&mut sock, &mut fib);
    assert!(our_objects(&mut rd).contains_key(&shared));
    assert_eq!(
        ours(&mut rd, TABLE_MAIN)[&net("10.244.3.0/26")].nh_id,
        shared
    );
    // The last one goes: so does the object; the ECMP route's group and members too.
    fib.apply(FibChange::Withdraw(net("10.244.3.0/26")));
    fib.apply(FibChange::Remove(RouteKey::new(
        TABLE_MAIN,
        net("10.6.0.0/24"),
        0,
    )));
    settle(&mut sock, &mut fib);
    let objs = our_objects(&mut rd);
    assert_eq!(objs.len(), 1, "{objs:#?}"); // the direct route's
    assert_eq!(fib.nexthop_objects(), 1);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 2);
    // A next hop that changes for one route moves it to another object; the old one goes
    // once unused.
    fib.apply(FibChange::Upsert(route(
        "10.1.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.9"), dev("eth0"))]),
    )));
    settle(&mut sock, &mut fib);
    let objs = our_objects(&mut rd);
    assert_eq!(objs.len(), 1);
    let r = &ours(&mut rd, TABLE_MAIN)[&net("10.1.0.0/24")];
    assert_eq!(objs[&r.nh_id].gateway, Some(ip("192.168.1.9")));
    assert_eq!(errors(&drain(&mut fib)), vec![]);
}

#[test]
fn reconcile_repairs_objects_and_routes() {
    let lab = Lab::new();
    let tunl0 = lab.ifindex("tunl0");
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(objects_cfg(), false);
    install_shared(&mut fib);
    settle(&mut sock, &mut fib);
    let k = ours(&mut rd, TABLE_MAIN);
    let shared = k[&net("10.244.1.0/26")].nh_id;
    let want = vec![(ip("172.20.0.7"), tunl0, true, 1)];
    let pools = ["10.244.1.0/26", "10.244.2.0/26", "10.244.3.0/26"];

    // Someone deletes our object: the kernel removes its three routes; both come back.
    lab.ip(&format!("nexthop del id {shared}"));
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        pools.iter().all(|p| {
            k.get(&net(p))
                .is_some_and(|r| r.nh_id == shared && hops(r) == want)
        })
    });
    assert!(our_objects(&mut rd).contains_key(&shared));

    // Someone turns a route into plain form: it goes back to the object.
    lab.ip("route replace 10.244.2.0/26 via 172.20.0.7 dev tunl0 onlink proto bird");
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.get(&net("10.244.2.0/26"))
            .is_some_and(|r| r.nh_id == shared)
    });

    // Someone changes our object: it is put back (the scan's nexthop dump, or the monitor).
    lab.ip(&format!(
        "nexthop replace id {shared} via 172.20.0.99 dev tunl0 onlink proto bird"
    ));
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        pools
            .iter()
            .all(|p| k.get(&net(p)).is_some_and(|r| hops(r) == want))
    });
    assert_eq!(errors(&drain(&mut fib)), vec![]);
}

#[test]
fn stale_objects_of_a_previous_run_are_adopted_then_removed() {
    let lab = Lab::new();
    // In the part of the range of a FIB managing both families.
    let stale = NHID_BASE + NHID_PART - 16;
    let foreign = NHID_BASE + NHID_PART - 15;
    lab.ip_batch(&format!(
        "nexthop add id {stale} via 172.20.0.50 dev tunl0 onlink proto bird\n\
         nexthop add id {foreign} via 172.20.0.51 dev tunl0 onlink proto static\n\
         route add 10.99.0.0/24 nhid {stale} proto bird\n\
         route add 10.244.9.0/26 nhid {stale} proto bird\n"
    ));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    // Graceful restart: stale routes (and so their object) are kept until released.
    let mut fib = Fib::new(objects_cfg(), true);
    fib.apply(pool_route("10.244.9.0/26", "172.20.0.7"));
    settle(&mut sock, &mut fib);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k[&net("10.99.0.0/24")].nh_id,
        stale,
        "stale route lost its object"
    );
    let mine = k[&net("10.244.9.0/26")].nh_id;
    assert_ne!(mine, stale);
    assert!(our_objects(&mut rd).contains_key(&stale));
    fib.release_stale(Instant::now());
    settle(&mut sock, &mut fib);
    let objs = our_objects(&mut rd);
    assert!(!objs.contains_key(&stale), "{objs:#?}");
    assert_eq!(objs.keys().copied().collect::<Vec<_>>(), vec![mine]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k.keys().copied().collect::<Vec<_>>(),
        vec![net("10.244.9.0/26")]
    );
    // Someone else's object in our id range is never touched.
    let all = rd.dump_nexthops().unwrap();
    assert!(all.iter().any(|n| n.id == foreign && n.protocol != BIRD));

    // Without adoption they go at the start-up reconcile.
    lab.ip_batch(&format!(
        "nexthop add id {stale} via 172.20.0.50 dev tunl0 onlink proto bird\n\
         route add 10.99.0.0/24 nhid {stale} proto bird\n"
    ));
    let mut fib = Fib::new(objects_cfg(), false);
    fib.apply(pool_route("10.244.9.0/26", "172.20.0.7"));
    settle(&mut sock, &mut fib);
    let objs = our_objects(&mut rd);
    assert_eq!(objs.len(), 1, "{objs:#?}");
    assert!(!objs.contains_key(&stale));
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 1);
}

#[test]
fn ipv6_routes_share_objects_and_groups_too() {
    let lab = Lab::new();
    let eth0 = lab.ifindex("eth0");
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(objects_cfg(), false);
    let one = || uni(vec![NextHop::via(ip("2001:db8:1::2"), dev("eth0"))]);
    fib.apply(FibChange::Upsert(route("2001:db8:10::/64", one())));
    fib.apply(FibChange::Upsert(route("2001:db8:11::/64", one())));
    let two = uni(vec![
        NextHop::via(ip("2001:db8:1::2"), dev("eth0")),
        NextHop::via(ip("2001:db8:1::3"), dev("eth0")),
    ]);
    fib.apply(FibChange::Upsert(route("2001:db8:12::/64", two)));
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    let (a, b) = (&k[&net("2001:db8:10::/64")], &k[&net("2001:db8:11::/64")]);
    assert!(a.nh_id != 0 && a.nh_id == b.nh_id, "{k:#?}");
    assert_eq!(hops(a), vec![(ip("2001:db8:1::2"), eth0, false, 1)]);
    let objs = our_objects(&mut rd);
    let g = &objs[&k[&net("2001:db8:12::/64")].nh_id];
    assert_eq!(g.group.len(), 2, "{objs:#?}");
    assert_eq!(objs.len(), 4); // the shared one, the group and its two members
    for p in ["2001:db8:10::/64", "2001:db8:11::/64", "2001:db8:12::/64"] {
        fib.apply(FibChange::Remove(RouteKey::new(TABLE_MAIN, net(p), 1024)));
    }
    settle(&mut sock, &mut fib);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    assert!(our_objects(&mut rd).is_empty());
}

#[test]
fn the_fib_thread_flushes_objects_with_routes_or_keeps_both() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    for flush in [false, true] {
        let c = FibConfig {
            flush_on_shutdown: flush,
            ..objects_cfg()
        };
        let h = spawn(c, false, lab.socket(true), |_| {}).unwrap();
        h.send(FibCommand::Changes(vec![
            pool_route("10.244.5.0/26", "172.20.0.1"),
            pool_route("10.244.6.0/26", "172.20.0.1"),
        ]))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ours(&mut rd, TABLE_MAIN)
            .values()
            .filter(|r| r.nh_id != 0)
            .count()
            < 2
        {
            assert!(
                Instant::now() < deadline,
                "routes not installed by the FIB thread"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h.shutdown().unwrap();
        let (routes, objects) = (ours(&mut rd, TABLE_MAIN).len(), our_objects(&mut rd).len());
        if flush {
            assert_eq!((routes, objects), (0, 0), "flush_on_shutdown left some");
        } else {
            // Persist: both stay, and the next run (not flushing) takes them over.
            assert_eq!((routes, objects), (2, 1));
        }
    }
}

#[test]
fn one_daemon_per_family_keeps_the_others_objects() {
    // BIRD 1.6's way: `bird` and `bird6` side by side, both protocol bird.
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    let fam = |ipv4, ipv6| FibConfig {
        families: FibFamilies { ipv4, ipv6 },
        ..objects_cfg()
    };
    let (mut s4, mut s6) = (lab.socket(false), lab.socket(false));
    let mut f4 = Fib::new(fam(true, false), false);
    let mut f6 = Fib::new(fam(false, true), false);
    f4.apply(FibChange::Upsert(route(
        "10.1.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
    )));
    settle(&mut s4, &mut f4);
    f6.apply(FibChange::Upsert(route(
        "2001:db8:10::/64",
        uni(vec![NextHop::via(ip("2001:db8:1::2"), dev("eth0"))]),
    )));
    settle(&mut s6, &mut f6);
    // Each scans (nexthops and routes) with the other's objects in the kernel.
    for _ in 0..2 {
        f4.request_scan(Instant::now());
        settle(&mut s4, &mut f4);
        f6.request_scan(Instant::now());
        settle(&mut s6, &mut f6);
    }
    let k = ours(&mut rd, TABLE_MAIN);
    let (r4, r6) = (&k[&net("10.1.0.0/24")], &k[&net("2001:db8:10::/64")]);
    assert!(
        r4.nh_id != 0 && r6.nh_id != 0 && r4.nh_id != r6.nh_id,
        "{k:#?}"
    );
    assert_eq!(our_objects(&mut rd).len(), 2);
    assert_eq!(
        r4.nh_id & !(NHID_PART - 1),
        nhid_part(FibFamilies {
            ipv4: true,
            ipv6: false
        })
    );
    assert_eq!(
        f4.stats().messages_sent + f6.stats().messages_sent,
        4,
        "a scan rewrote something"
    );
}

#[test]
fn ecmp_flip_replaces_the_group_in_place() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut rd = lab.socket(false);
    let c = FibConfig {
        scan_interval: Duration::from_secs(3600),
        ..objects_cfg()
    };
    let mut fib = Fib::new(c, false);
    let n = 50;
    for i in 0..n {
        fib.apply(FibChange::Intent(RouteIntent {
            prefix: net(&format!("10.244.{i}.0/26")),
            kind: IntentKind::Unicast(
                vec![
                    IntentHop::pool(ip("10.30.0.5")),
                    IntentHop::pool(ip("10.31.0.5")),
                ]
                .into(),
            ),
            metric: None,
        }));
    }
    settle(&mut sock, &mut fib);
    let k = ours(&mut rd, TABLE_MAIN);
    let id = k.values().next().unwrap().nh_id;
    assert!(k.len() == n && k.values().all(|r| r.nh_id == id));
    assert_eq!(our_objects(&mut rd)[&id].group.len(), 2);

    // One gateway's subnet appears: that member goes direct; the group (and so every
    // route) follows without a route message.
    let before = fib.stats();
    lab.ip("addr add 10.30.0.1/24 dev eth0");
    let want = vec![
        (ip("10.30.0.5"), eth0, false, 1),
        (ip("10.31.0.5"), tunl0, true, 1),
    ];
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.len() == n && k.values().all(|r| r.nh_id == id && hops(r) == want)
    });
    settle(&mut sock, &mut fib);
    let after = fib.stats();
    assert_eq!(
        after.messages_sent - before.messages_sent,
        after.nexthop_messages - before.nexthop_messages,
        "a route was sent"
    );
    assert!(after.messages_sent - before.messages_sent <= 3); // two members and the group
    assert_eq!(errors(&drain(&mut fib)), vec![]);
}

/// `n` /24s in 10.128.0.0/9 through `gw` on eth0.
fn many(n: usize, gw: &str) -> Vec<FibRoute> {
    (0..n)
        .map(|i| {
            let p = format!("10.{}.{}.0/24", 128 + i / 256, i % 256);
            route(&p, uni(vec![NextHop::via(ip(gw), dev("eth0"))]))
        })
        .collect()
}

fn upsert_all(fib: &mut Fib, rs: &[FibRoute]) {
    for r in rs {
        fib.apply(FibChange::Upsert(r.clone()));
    }
}

fn remove_all(fib: &mut Fib, rs: &[FibRoute]) {
    for r in rs {
        fib.apply(FibChange::Remove(r.key()));
    }
}

/// A namespace, a request socket, a read-back socket and a FIB with `rs` installed.
fn loaded(cfg: FibConfig, rs: &[FibRoute]) -> (Lab, FibSocket, FibSocket, Fib) {
    let lab = Lab::new();
    let mut sock = lab.socket(false);
    let rd = lab.socket(false);
    let mut fib = Fib::new(cfg, false);
    upsert_all(&mut fib, rs);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    (lab, sock, rd, fib)
}

fn prefixes<'a>(rs: impl Iterator<Item = &'a FibRoute>) -> BTreeSet<IpNet> {
    rs.map(|r| r.prefix).collect()
}

#[test]
fn withdrawing_a_next_hops_routes_deletes_its_object_instead() {
    let rs = many(5000, "192.168.1.2");
    let (_lab, mut sock, mut rd, mut fib) = loaded(objects_cfg(), &rs);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 5000);
    let object = ours(&mut rd, TABLE_MAIN)[&rs[0].prefix].nh_id;
    let before = fib.stats();
    // Half the withdrawal, some of it sent route by route while the rest comes in.
    remove_all(&mut fib, &rs[..2500]);
    assert_eq!(fib.pending(), 0, "doomed routes are not queued");
    sock.run_for(&mut fib, Duration::from_millis(1)).unwrap();
    remove_all(&mut fib, &rs[2500..]);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    assert!(!our_objects(&mut rd).contains_key(&object));
    assert_eq!(fib.nexthop_objects(), 0);
    let after = fib.stats();
    assert_eq!(after.object_flushes - before.object_flushes, 1);
    let flushed = after.flushed_routes - before.flushed_routes;
    assert!(flushed >= 2500, "flushed {flushed}");
    // Every route went either with the object or by its own delete, none twice.
    let route_deletes = after.messages_sent
        - before.messages_sent
        - (after.nexthop_messages - before.nexthop_messages);
    assert_eq!(route_deletes + flushed, 5000);
    assert_eq!(after.nexthop_messages - before.nexthop_messages, 1);
}

#[test]
fn a_partial_withdrawal_deletes_exactly_the_withdrawn_routes() {
    let rs = many(3000, "192.168.1.2");
    let (_lab, mut sock, mut rd, mut fib) = loaded(objects_cfg(), &rs);
    let object = ours(&mut rd, TABLE_MAIN)[&rs[0].prefix].nh_id;
    let before = fib.stats();
    remove_all(&mut fib, &rs[..2000]);
    // Ten come back (same next hop) while doomed.
    upsert_all(&mut fib, &rs[..10]);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    let want = prefixes(rs[..10].iter().chain(&rs[2000..]));
    assert_eq!(k.keys().copied().collect::<BTreeSet<_>>(), want);
    assert!(k.values().all(|r| r.nh_id == object));
    assert!(our_objects(&mut rd).contains_key(&object));
    assert_eq!(fib.stats().object_flushes, before.object_flushes);
}

#[test]
fn routes_moved_or_reannounced_during_a_flush_stay() {
    let rs = many(3000, "192.168.1.2");
    let (_lab, mut sock, mut rd, mut fib) = loaded(objects_cfg(), &rs);
    let old = ours(&mut rd, TABLE_MAIN)[&rs[0].prefix].nh_id;
    let before = fib.stats();
    let moved = many(3000, "192.168.1.3");
    remove_all(&mut fib, &rs[..2000]);
    // 500 move to another next hop, 100 doomed ones come back through it too, the rest go:
    // the old object is retired with 2,400 doomed routes.
    upsert_all(&mut fib, &moved[2000..2500]);
    upsert_all(&mut fib, &moved[..100]);
    remove_all(&mut fib, &rs[2500..]);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    let objs = our_objects(&mut rd);
    assert!(!objs.contains_key(&old));
    let want = prefixes(moved[..100].iter().chain(&moved[2000..2500]));
    assert_eq!(k.keys().copied().collect::<BTreeSet<_>>(), want);
    for r in k.values() {
        assert_eq!(objs[&r.nh_id].gateway, Some(ip("192.168.1.3")), "{r:?}");
    }
    let after = fib.stats();
    assert_eq!(after.object_flushes - before.object_flushes, 1);
    assert_eq!(after.flushed_routes - before.flushed_routes, 2400);
}

#[test]
fn ipv6_withdrawal_deletes_the_object_too() {
    let rs: Vec<FibRoute> = (0..2000)
        .map(|i| {
            let p = format!("2001:db8:{:x}::/64", 0x100 + i);
            route(
                &p,
                uni(vec![NextHop::via(ip("2001:db8:1::2"), dev("eth0"))]),
            )
        })
        .collect();
    let (_lab, mut sock, mut rd, mut fib) = loaded(objects_cfg(), &rs);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 2000);
    let before = fib.stats();
    remove_all(&mut fib, &rs);
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    assert!(our_objects(&mut rd).is_empty());
    let after = fib.stats();
    assert_eq!(after.object_flushes - before.object_flushes, 1);
    assert_eq!(after.flushed_routes - before.flushed_routes, 2000);
}

#[test]
fn off_withdraws_route_by_route() {
    let rs = many(2000, "192.168.1.2");
    let off = FibConfig {
        nexthop_objects: NexthopObjects::Off,
        ..objects_cfg()
    };
    let (_lab, mut sock, mut rd, mut fib) = loaded(off, &rs);
    let before = fib.stats();
    remove_all(&mut fib, &rs);
    assert_eq!(fib.pending(), 2000);
    settle(&mut sock, &mut fib);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    let after = fib.stats();
    assert_eq!(after.object_flushes, 0);
    assert_eq!(after.messages_sent - before.messages_sent, 2000);
}

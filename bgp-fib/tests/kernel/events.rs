//! Events: routes of other protocols learned, interfaces and addresses, our own route
//! notifications filtered in the kernel.

use crate::harness::*;

#[test]
fn learns_routes_of_other_protocols() {
    let lab = Lab::new();
    let eth0 = lab.ifindex("eth0");
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let _ = drain(&mut fib);
    lab.ip("route add 10.77.0.0/16 via 192.168.1.2 proto static");
    lab.ip("route add blackhole 10.78.0.0/16 proto static");
    lab.ip("route add 10.79.0.0/16 dev eth0 scope link");
    lab.ip("route add blackhole 10.76.0.0/16 proto bird"); // ours: not learned
                                                           // A marker added last: once it is learned, every route before it was seen (the
                                                           // kernel's notifications arrive in order).
    lab.ip("route add blackhole 10.75.0.0/16 proto static");
    let marker =
        |e: &FibEvent| matches!(e, FibEvent::LearnedAdd(l) if l.key.prefix == net("10.75.0.0/16"));
    let learned: Vec<LearnedRoute> = events_until(&mut sock, &mut fib, |ev| ev.iter().any(marker))
        .into_iter()
        .filter_map(|e| match e {
            FibEvent::LearnedAdd(l) => Some(l),
            _ => None,
        })
        .collect();
    let find = |p: &str| learned.iter().find(|l| l.key.prefix == net(p)).cloned();
    let s = find("10.77.0.0/16").expect("static route learned");
    assert_eq!(
        (s.protocol, s.route_type, s.ifindex),
        (4, RTN_UNICAST, eth0)
    );
    assert_eq!(s.nexthops, vec![(Some(ip("192.168.1.2")), eth0)]);
    let b = find("10.78.0.0/16").expect("blackhole learned");
    assert_eq!((b.protocol, b.route_type), (4, RTN_BLACKHOLE));
    let d = find("10.79.0.0/16").expect("device route learned");
    assert_eq!((d.protocol, d.scope, d.ifindex), (3, 253, eth0));
    assert!(find("10.76.0.0/16").is_none());
    lab.ip("route del 10.77.0.0/16");
    let gone = FibEvent::LearnedRemove(RouteKey::new(TABLE_MAIN, net("10.77.0.0/16"), 0));
    events_until(&mut sock, &mut fib, |ev| ev.contains(&gone));
    assert_eq!(fib.learned_count(), 3);
}

#[test]
fn interface_and_address_events() {
    let lab = Lab::new();
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let ev = drain(&mut fib);
    // start-up: the existing interfaces and addresses are reported
    assert!(ev
        .iter()
        .any(|e| matches!(e, FibEvent::Link { name, .. } if name == "tunl0")));
    assert!(ev.contains(&FibEvent::AddressAdd {
        ifindex: lab.ifindex("eth0"),
        address: ip("192.168.1.1"),
        subnet: net("192.168.1.0/24"),
    }));
    let base = fib.link_count();

    lab.ip("link add cali1 type veth peer name calip1");
    let idx = lab.ifindex("cali1");
    lab.ip("addr add 10.200.0.1/30 dev cali1");
    // A marker link added last: once it is reported, everything before it was seen.
    lab.ip("link add mark1 type veth peer name markp1");
    let ev = events_until(&mut sock, &mut fib, |ev| {
        ev.iter()
            .any(|e| matches!(e, FibEvent::Link { name, .. } if name == "mark1"))
    });
    assert!(
        ev.contains(&FibEvent::Link {
            index: idx,
            name: "cali1".into(),
            up: false
        }),
        "{ev:#?}"
    );
    // cali1 is administratively down: its address is not reported yet (Calico's BIRD
    // ignores addresses of down interfaces such as kube-ipvs0)
    assert!(
        !ev.iter().any(|e| matches!(e, FibEvent::AddressAdd { .. })),
        "{ev:#?}"
    );
    assert_eq!(fib.link_index("cali1"), Some(idx));
    lab.ip("link set cali1 up");
    lab.ip("link set calip1 up");
    // carrier comes through the kernel's link watch, asynchronously
    let up = FibEvent::Link {
        index: idx,
        name: "cali1".into(),
        up: true,
    };
    let ev = events_until(&mut sock, &mut fib, |ev| ev.contains(&up));
    assert!(
        ev.contains(&FibEvent::AddressAdd {
            ifindex: idx,
            address: ip("10.200.0.1"),
            subnet: net("10.200.0.0/30"),
        }),
        "{ev:#?}"
    );
    lab.ip("addr add 10.201.0.1/24 dev cali1");
    let added = FibEvent::AddressAdd {
        ifindex: idx,
        address: ip("10.201.0.1"),
        subnet: net("10.201.0.0/24"),
    };
    events_until(&mut sock, &mut fib, |ev| ev.contains(&added));
    lab.ip("link del cali1");
    let removed = FibEvent::LinkRemoved {
        index: idx,
        name: "cali1".into(),
    };
    let ev = events_until(&mut sock, &mut fib, |ev| ev.contains(&removed));
    assert!(ev.contains(&FibEvent::AddressRemove {
        ifindex: idx,
        address: ip("10.200.0.1"),
        subnet: net("10.200.0.0/30"),
    }));
    // mark1 (and its peer) stay.
    assert_eq!(fib.link_count(), base + 2);
    assert_eq!(fib.link_index("cali1"), None);
}

#[test]
fn own_route_notifications_are_filtered_in_the_kernel() {
    let lab = Lab::new();
    // Two FIBs side by side, both adopting (neither removes the other's routes of our
    // protocol): one monitor with the filter, one without.
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut fib = Fib::new(cfg(), true);
    settle(&mut sock, &mut fib);
    let mut plain = lab.socket(true);
    let mut control = Fib::new(cfg(), true);
    settle(&mut plain, &mut control);
    for i in 0..100u32 {
        let r = |second: u32| {
            FibChange::Upsert(route(
                &format!("10.{second}.{i}.0/24"),
                RouteKind::Blackhole,
            ))
        };
        fib.apply(r(100));
        control.apply(r(101));
    }
    settle(&mut sock, &mut fib);
    settle(&mut plain, &mut control);
    lab.ip_batch(
        "route add blackhole 10.120.0.0/24 proto static\n\
         route add blackhole 2001:db8:77::/64 proto static\n",
    );
    // The two static routes come last: once both monitors learned them, every notification
    // of ours before them has arrived (or was filtered out by the kernel).
    let t0 = Instant::now();
    while fib.learned_count() < 2 || control.learned_count() < 2 {
        sock.run_for(&mut fib, Duration::from_millis(20)).unwrap();
        plain
            .run_for(&mut control, Duration::from_millis(20))
            .unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "static routes not learned"
        );
    }
    // Our own writes: dropped in the kernel with the filter, recognised by port id without.
    assert_eq!(fib.stats().own_route_notifications, 0);
    assert_eq!(control.stats().own_route_notifications, 100);
    // The other's writes of our protocol arrive either way (changes behind our back).
    assert_eq!(fib.stats().third_party_route_changes, 100);
    assert_eq!(control.stats().third_party_route_changes, 100);
    // other protocols still get through
    assert_eq!(fib.learned_count(), 2);
}

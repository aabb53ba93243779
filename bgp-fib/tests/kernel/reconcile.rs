//! Start-up reconcile with stale and foreign routes, adoption until released, repair after
//! third-party changes, persist or flush on shutdown.

use crate::harness::*;

#[test]
fn startup_reconcile_with_stale_and_foreign_routes() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    // Left behind by a previous run (ours) and by others.
    lab.ip_batch(
        "route add 10.60.0.0/24 via 192.168.1.50 dev eth0 proto bird\n\
         route add 10.61.0.0/24 via 172.20.0.1 dev tunl0 onlink proto bird\n\
         route add blackhole 10.62.0.0/26 proto bird\n\
         route add 10.63.0.0/24 via 172.20.0.2 dev tunl0 onlink proto bird\n\
         route add 10.64.0.0/24 via 192.168.1.2 proto static\n\
         route add 10.65.0.0/24 via 192.168.1.2 proto boot\n\
         route add blackhole 10.66.0.0/24 proto bird table 77\n",
    );
    let mut sock = lab.socket(true);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    // Desired: 10.60 through the tunnel now (after a reboot it came back direct: the BIRD
    // bug), 10.61 unchanged, 10.62 still a blackhole, 10.67 new. 10.63 is stale.
    fib.apply(FibChange::Upsert(route(
        "10.60.0.0/24",
        uni(vec![NextHop::onlink(ip("192.168.1.50"), dev("tunl0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.61.0.0/24",
        uni(vec![NextHop::onlink(ip("172.20.0.1"), dev("tunl0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.62.0.0/26",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.67.0.0/24",
        RouteKind::Blackhole,
    )));
    settle(&mut sock, &mut fib);
    let ev = drain(&mut fib);
    assert!(
        ev.contains(&FibEvent::Reconciled {
            added: 1,
            replaced: 1,
            deleted: 1
        }),
        "{ev:#?}"
    );
    assert_eq!(errors(&ev), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k.keys().copied().collect::<Vec<_>>(),
        vec![
            net("10.60.0.0/24"),
            net("10.61.0.0/24"),
            net("10.62.0.0/26"),
            net("10.67.0.0/24")
        ]
    );
    assert_eq!(
        hops(&k[&net("10.60.0.0/24")]),
        vec![(ip("192.168.1.50"), tunl0, true, 1)]
    );
    // foreign routes untouched, our route in an unmanaged table untouched
    let all = all_in(&mut rd, TABLE_MAIN);
    assert!(all
        .iter()
        .any(|r| r.prefix == net("10.64.0.0/24") && r.protocol == 4));
    assert!(all
        .iter()
        .any(|r| r.prefix == net("10.65.0.0/24") && r.protocol == 3));
    assert_eq!(ours(&mut rd, 77).len(), 1);
    // and learned
    let learned: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            FibEvent::LearnedAdd(l) => Some((l.key.prefix, l.protocol, l.ifindex)),
            _ => None,
        })
        .collect();
    assert!(
        learned.contains(&(net("10.64.0.0/24"), 4, eth0)),
        "{learned:?}"
    );
    assert!(
        learned.contains(&(net("10.65.0.0/24"), 3, eth0)),
        "{learned:?}"
    );
    // proto kernel (the connected subnet) is not learned
    assert!(!learned.iter().any(|l| l.0 == net("192.168.1.0/24")));
}

#[test]
fn startup_adopts_stale_routes_until_released() {
    let lab = Lab::new();
    lab.ip("route add blackhole 10.70.0.0/24 proto bird");
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), true);
    settle(&mut sock, &mut fib);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 1);
    fib.release_stale(Instant::now());
    settle(&mut sock, &mut fib);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
}

#[test]
fn repair_after_third_party_changes() {
    let lab = Lab::new();
    let eth0 = lab.ifindex("eth0");
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut rd = lab.socket(false);
    // No scan during the test: the monitor's notifications alone must repair.
    let c = FibConfig {
        scan_interval: Duration::from_secs(3600),
        ..cfg()
    };
    let mut fib = Fib::new(c, false);
    for p in ["10.80.0.0/24", "10.81.0.0/24", "10.82.0.0/24"] {
        fib.apply(FibChange::Upsert(route(
            p,
            uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
        )));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 3);
    let scans = fib.stats().scans;
    // Behind our back: one deleted, one changed, one stale of ours added.
    lab.ip_batch(
        "route del 10.80.0.0/24 proto bird\n\
         route replace 10.81.0.0/24 via 192.168.1.9 dev eth0 proto bird\n\
         route add blackhole 10.83.0.0/24 proto bird\n",
    );
    let want = vec![
        net("10.80.0.0/24"),
        net("10.81.0.0/24"),
        net("10.82.0.0/24"),
    ];
    let took = repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.keys().copied().collect::<Vec<_>>() == want
            && k.values()
                .all(|r| hops(r) == vec![(ip("192.168.1.2"), eth0, false, 1)])
    });
    eprintln!("repaired after {took:?} without a scan");
    assert_eq!(fib.stats().scans, scans, "a scan ran");
    assert!(fib.stats().third_party_route_changes >= 3);
    assert_eq!(fib.stats().own_route_notifications, 0);
    let k = ours(&mut rd, TABLE_MAIN);
    for r in k.values() {
        assert_eq!(hops(r), vec![(ip("192.168.1.2"), eth0, false, 1)]);
    }
}

#[test]
fn persist_on_shutdown_and_flush_when_configured() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    for flush in [false, true] {
        let (tx, rx) = mpsc::channel();
        let c = FibConfig {
            flush_on_shutdown: flush,
            ..cfg()
        };
        let h = spawn(c, false, lab.socket(true), move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        h.send(FibCommand::Changes(vec![
            FibChange::Upsert(route("10.95.0.0/24", RouteKind::Blackhole)),
            FibChange::Upsert(route(
                "10.96.0.0/24",
                uni(vec![NextHop::onlink(ip("172.20.0.1"), dev("tunl0"))]),
            )),
        ]))
        .unwrap();
        // wait until the start-up reconcile has run and our routes are in
        let deadline = Instant::now() + Duration::from_secs(10);
        while ours(&mut rd, TABLE_MAIN).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "routes not installed by the FIB thread"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h.shutdown().unwrap();
        let ev: Vec<FibEvent> = rx.try_iter().collect();
        assert!(ev.iter().any(|e| matches!(e, FibEvent::Reconciled { .. })));
        let left = ours(&mut rd, TABLE_MAIN).len();
        if flush {
            assert_eq!(left, 0, "flush_on_shutdown left routes");
        } else {
            assert_eq!(left, 2, "persist removed routes");
        }
    }
}

/// The next periodic scan is scheduled from when the last one's replies were read, not from
/// the time of the turn the driver passes in: the kernel makes each part of a dump as the
/// last one is read, so one `read_replies` takes a whole dump, and stamped with the turn's
/// time the dump looked as if it took nothing (a 400k-route table was then dumped every
/// `scan_interval`, 2 s, at ~0.35 CPU-s each, instead of ten times the scan's duration apart).
#[test]
fn the_next_scan_is_timed_from_when_the_dump_was_read() {
    let lab = Lab::new();
    lab.ip_batch(
        "route add 10.70.0.0/24 via 192.168.1.50 dev eth0 proto bird\n\
         route add blackhole 10.71.0.0/24 proto bird\n",
    );
    let mut sock = lab.socket(false);
    let mut fib = Fib::new(
        FibConfig {
            scan_interval: Duration::from_millis(1),
            ..cfg()
        },
        false,
    );
    // A turn whose time is long past (the machine has been up longer than this).
    let turn = Instant::now()
        .checked_sub(Duration::from_secs(600))
        .expect("uptime above 10 minutes");
    sock.pump(&mut fib, turn).unwrap();
    assert!(fib.is_synced(), "the start-up dumps ran in one pump");
    let next = fib.poll_timeout().expect("a periodic scan is scheduled");
    assert!(
        next > turn + Duration::from_secs(300),
        "next scan {:?} after the turn: timed from the turn, not from the dump",
        next.saturating_duration_since(turn)
    );
}

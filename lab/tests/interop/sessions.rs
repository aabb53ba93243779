//! Sessions: TCP-MD5 between FRR, BIRD 2 and GoBGP; eBGP IPv4/IPv6 with restarts.

use super::*;

/// (c) TCP-MD5 between FRR and BIRD 2: the matching password establishes, a wrong one never
/// does (and GoBGP with the matching password establishes too).
#[test]
fn tcp_md5_frr_bird2() {
    let start = Instant::now();
    let mut lab = Lab::new("tcp_md5_frr_bird2").unwrap();
    let lan = lab.lan().unwrap();
    let nf = lab.node("frr", &[(&lan, 10)], None).unwrap();
    let ngood = lab.node("bird-good", &[(&lan, 21)], None).unwrap();
    let nbad = lab.node("bird-bad", &[(&lan, 22)], None).unwrap();
    let ngo = lab.node("gobgp", &[(&lan, 23)], None).unwrap();

    let mut cf = FrrConfig::new(&nf, AS);
    cf.networks.push("10.1.10.0/26".into());
    for ip in [ngood.ip4(), nbad.ip4(), ngo.ip4()] {
        let mut n = FrrNeighbor::new(ip, AS);
        n.password = Some("s3cret-md5".into());
        cf.neighbors.push(n);
    }
    let frr = cf.start(&nf).unwrap();
    let start_bird = |node, pw: &str| -> Bird {
        let mut c = Bird2Config::new(node, AS);
        let mut p = Bird2Peer::new("frr", nf.ip4(), AS);
        p.password = Some(pw.into());
        c.peers.push(p);
        c.start(node).unwrap()
    };
    let good = start_bird(&ngood, "s3cret-md5");
    let bad = start_bird(&nbad, "not-the-secret");

    wait_until(
        CONVERGE,
        POLL,
        "BIRD (right password) Established with FRR",
        || Ok(good.established()?.len() == 1),
    )
    .unwrap();
    wait_learns(&good, Family::V4, &["10.1.10.0/26".into()], CONVERGE).unwrap();
    // GoBGP with the right password too (its `auth-password`).
    let mut cg = GobgpConfig::new(&ngo, AS);
    let mut n = GobgpNeighbor::new(nf.ip4(), AS);
    n.password = Some("s3cret-md5".into());
    cg.neighbors.push(n);
    let gobgp = cg.start(&ngo).unwrap();
    wait_learns(&gobgp, Family::V4, &["10.1.10.0/26".into()], CONVERGE).unwrap();
    // The wrong password: for a whole window of several connect retries (BIRD retries every
    // 2 s, FRR every 2 s), neither side ever reaches Established.
    let window = Instant::now();
    let mut polls = 0;
    while window.elapsed() < Duration::from_secs(10) {
        let b = bad.ctl.bgp_states().unwrap();
        assert_ne!(
            b.get("frr").map(String::as_str),
            Some("Established"),
            "wrong password established: {b:?}"
        );
        check_frr_md5(&frr, &nbad, &ngood).unwrap();
        polls += 1;
        std::thread::sleep(POLL);
    }
    assert!(polls > 10);
    // The kernel saw the bad segments: BIRD's own TCP counters or its log say why it fails.
    let b = bad.ctl.bgp_states().unwrap();
    eprintln!("bgpd-lab: wrong-password session state after the window: {b:?}");
    report("tcp_md5_frr_bird2", start);
}

/// eBGP BIRD 2 ↔ FRR over one IPv4 session carrying IPv4 and IPv6 (MP-BGP): communities and
/// large communities preserved, AS paths as expected, IPv6 routes in BIRD's kernel; then the
/// restart drivers: FRR SIGKILLed (BIRD keeps its routes through graceful restart) and started
/// again, BIRD restarted with SIGTERM.
#[test]
fn ebgp_v4_v6_and_restarts() {
    let start = Instant::now();
    let mut lab = Lab::new("ebgp_v4_v6_and_restarts").unwrap();
    let lan = lab.lan().unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let (as_b, as_f) = (64512, 65001);

    let mut cf = FrrConfig::new(&nf, as_f);
    let mut n = FrrNeighbor::new(nb.ip4(), as_b);
    n.ipv6 = true;
    n.passive = true;
    cf.neighbors.push(n);
    cf.networks.push("10.1.13.0/26 route-map TAG".into());
    cf.networks.push("2001:db8:13::/48 route-map TAG".into());
    cf.extra =
        "route-map TAG permit 10\n set community 65001:100\n set large-community 65001:1:2\n!"
            .into();
    let mut frr = cf.start(&nf).unwrap();
    // FRR originates its networks a few seconds after start: wait, or it sends End-of-RIB first.
    wait_learns(&frr, Family::V4, &["10.1.13.0/26".into()], CONVERGE).unwrap();
    wait_learns(&frr, Family::V6, &["2001:db8:13::/48".into()], CONVERGE).unwrap();

    let mut cb = Bird2Config::new(&nb, as_b);
    cb.statics.push("10.1.12.0/26 blackhole".into());
    cb.statics.push("2001:db8:12::/48 blackhole".into());
    cb.kernel = KernelExport::Plain;
    let mut p = Bird2Peer::new("frr", nf.ip4(), as_f);
    p.ipv6 = true;
    p.export = "filter { if source != RTS_STATIC then reject; bgp_community.add((64512,100)); bgp_large_community.add((64512,1,2)); accept; }".into();
    cb.peers.push(p);
    let mut bird = cb.start(&nb).unwrap();

    wait_learns(&frr, Family::V4, &["10.1.12.0/26".into()], CONVERGE).unwrap();
    wait_learns(&frr, Family::V6, &["2001:db8:12::/48".into()], CONVERGE).unwrap();
    wait_learns(&bird, Family::V4, &["10.1.13.0/26".into()], CONVERGE).unwrap();
    wait_learns(&bird, Family::V6, &["2001:db8:13::/48".into()], CONVERGE).unwrap();

    // FRR's view of BIRD's routes (vtysh JSON).
    for (fam, prefix) in [
        (Family::V4, "10.1.12.0/26"),
        (Family::V6, "2001:db8:12::/48"),
    ] {
        let v = frr.route(fam, prefix).unwrap();
        let path = &v["paths"][0];
        assert_eq!(path["aspath"]["string"], "64512", "{v}");
        assert_eq!(path["community"]["string"], "64512:100", "{v}");
        assert_eq!(path["largeCommunity"]["string"], "64512:1:2", "{v}");
    }
    // BIRD's view of FRR's routes (birdc).
    for (table, prefix) in [("master4", "10.1.13.0/26"), ("master6", "2001:db8:13::/48")] {
        let rs = bird
            .ctl
            .routes(&format!("table {table} for {prefix}"))
            .unwrap();
        let r = rs.iter().find(|r| r.primary).unwrap();
        assert_eq!(r.attr("as_path"), Some("65001"), "{r:?}");
        assert_eq!(r.attr("community"), Some("(65001,100)"), "{r:?}");
        assert_eq!(r.attr("large_community"), Some("(65001, 1, 2)"), "{r:?}");
    }
    wait_observing(CONVERGE, POLL, "BIRD's kernel has FRR's IPv6 route", || {
        let k = kernel::routes(&nb.ns, Family::V6, "main", Some("bird"))?;
        let ok = k
            .iter()
            .any(|r| r.dst == "2001:db8:13::/48" && r.dev.as_deref() == Some("eth0"));
        Ok(Observed::when(ok, render(&k)))
    })
    .unwrap();

    // FRR crashes: BIRD keeps FRR's routes (graceful restart) until FRR is back, and its
    // kernel route is never removed (the monitor sees every change, a poll could miss one).
    let frr_routes = vec!["10.1.13.0/26".to_string(), "2001:db8:13::/48".to_string()];
    let monitor = RouteMonitor::start(&nb.ns, &nb.path("ip-monitor.log")).unwrap();
    frr.stop(libc::SIGKILL).unwrap();
    wait_observing(
        Duration::from_secs(10),
        POLL,
        "BIRD notices the session is gone",
        || {
            let s = bird.ctl.bgp_states()?;
            let down = s.get("frr").is_some_and(|s| s != "Established");
            Ok(Observed::when(down, format!("{s:?}")))
        },
    )
    .unwrap();
    assert!(
        bird.ctl.graceful_restart_active("frr").unwrap(),
        "BIRD is not in graceful restart for FRR"
    );
    let crash = Instant::now();
    while crash.elapsed() < Duration::from_secs(3) {
        let have = bird.prefixes(Family::V4).unwrap();
        assert!(
            have.contains(&"10.1.13.0/26".to_string()),
            "BIRD dropped FRR's route during its restart: {have:?}"
        );
        std::thread::sleep(POLL);
    }
    let gone = monitor.deletions_of(&frr_routes).unwrap();
    assert!(
        gone.is_empty(),
        "BIRD's kernel lost FRR's routes while FRR was down: {gone:?}"
    );
    monitor.clear().unwrap();

    // FRR comes back. Real-peer behaviour, recorded rather than asserted: FRR sends End-of-RIB
    // before it re-originates its `network` routes (~5 s after start), so BIRD flushes the
    // stale routes at that End-of-RIB and re-installs them moments later (a kernel flap that
    // a poll usually misses and the monitor does not). bgpd scenarios restarting FRR must
    // expect the same.
    frr.start_again().unwrap();
    wait_sessions(&bird, 1, CONVERGE).unwrap();
    wait_learns(&bird, Family::V4, &["10.1.13.0/26".into()], CONVERGE).unwrap();
    wait_learns(&bird, Family::V6, &["2001:db8:13::/48".into()], CONVERGE).unwrap();
    let flap = monitor.deletions_of(&frr_routes).unwrap();
    eprintln!(
        "bgpd-lab: kernel deletions of FRR's routes after FRR's restart (premature End-of-RIB): {}",
        flap.len()
    );
    monitor.clear().unwrap();

    // BIRD restarts (SIGTERM): the session comes back and FRR re-learns BIRD's routes. BIRD 2's
    // kernel protocol has no `persist` here, so its shutdown does flush the routes: the
    // monitor must see that (proof that it would have seen a loss above).
    bird.start_again().unwrap();
    wait_sessions(&bird, 1, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &["10.1.12.0/26".into()], CONVERGE).unwrap();
    let gone = monitor.deletions_of(&frr_routes).unwrap();
    assert_eq!(
        gone.len(),
        2,
        "deletions seen during BIRD's restart: {gone:?}"
    );
    monitor.stop();
    report("ebgp_v4_v6_and_restarts", start);
}

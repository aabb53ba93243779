//! eBGP over IPv4 and IPv6 sessions with import/export policies, and TCP-MD5 against FRR.

use super::*;

/// Scenario 5: eBGP bgpd (AS 64512) ↔ FRR (AS 65001) and bgpd ↔ BIRD 2 (AS 65002), IPv4 and
/// IPv6 (MP-BGP over the IPv4 sessions): communities and large communities preserved end to
/// end, AS paths as expected, bgpd's import policy (rejects 10.1.113.0/26 from FRR) and export
/// policies (tags its own routes; prepends twice towards BIRD) applied.
#[test]
fn bgpd_ebgp_v4_v6_policies() {
    let test = "bgpd_ebgp_v4_v6_policies";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nd = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let (as_d, as_b, as_f) = (64512, 65002, 65001);

    let mut cf = FrrConfig::new(&nf, as_f);
    let mut n = FrrNeighbor::new(nd.ip4(), as_d);
    n.ipv6 = true;
    n.passive = true;
    cf.neighbors.push(n);
    for net in ["10.1.13.0/26", "10.1.113.0/26", "2001:db8:13::/48"] {
        cf.networks.push(format!("{net} route-map TAG"));
    }
    cf.extra =
        "route-map TAG permit 10\n set community 65001:100\n set large-community 65001:1:2\n!"
            .into();
    let frr = cf.start(&nf).unwrap();
    wait_learns(&frr, Family::V4, &["10.1.13.0/26".into()], CONVERGE).unwrap();
    wait_learns(&frr, Family::V6, &["2001:db8:13::/48".into()], CONVERGE).unwrap();

    let mut cb = Bird2Config::new(&nb, as_b);
    cb.statics.push("10.1.12.0/26 blackhole".into());
    cb.statics.push("2001:db8:12::/48 blackhole".into());
    cb.kernel = KernelExport::Plain;
    let mut p = Bird2Peer::new("bgpd", nd.ip4(), as_d);
    p.ipv6 = true;
    p.passive = true;
    p.export = "filter { if source != RTS_STATIC then reject; bgp_community.add((65002,100)); bgp_large_community.add((65002,1,2)); accept; }".into();
    cb.peers.push(p);
    let bird = cb.start(&nb).unwrap();

    let mut cd = bgpd_config(&nd, as_d);
    cd.blackhole_blocks.push("10.1.11.0/26".into());
    cd.blackhole_blocks.push("2001:db8:11::/48".into());
    for (name, n, asn, export) in [
        ("frr", &nf, as_f, "to_frr"),
        ("bird2", &nb, as_b, "to_bird"),
    ] {
        let mut p = BgpdPeer::new(name, n.ip4(), asn);
        p.ipv6 = true;
        p.next_hop_v6 = Some(nd.ip6().to_string());
        p.export = Some(export.into());
        if name == "frr" {
            p.import = Some("from_frr".into());
        }
        cd.peers.push(p);
    }
    cd.extra = r#"[[policies]]
name = "from_frr"
default = "accept"
  [[policies.terms]]
  match = { prefix = ["10.1.113.0/26"] }
  verdict = "reject"

[[policies]]
name = "to_frr"
default = "reject"
  [[policies.terms]]
  match = { source = ["static"] }
  actions = { add_communities = ["64512:100"], add_large_communities = ["64512:1:2"] }
  verdict = "accept"
  [[policies.terms]]
  match = { source = ["bgp"] }
  verdict = "accept"

[[policies]]
name = "to_bird"
default = "reject"
  [[policies.terms]]
  match = { source = ["static"] }
  actions = { add_communities = ["64512:100"], add_large_communities = ["64512:1:2"], prepend = 2 }
  verdict = "accept"
  [[policies.terms]]
  match = { source = ["bgp"] }
  verdict = "accept""#
        .into();
    let bgpd = cd.start(&nd).unwrap();

    wait_sessions(&bgpd, 2, CONVERGE).unwrap();
    let v4 = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    wait_learns(
        &bgpd,
        Family::V4,
        &v4(&["10.1.12.0/26", "10.1.13.0/26"]),
        CONVERGE,
    )
    .unwrap();
    wait_learns(
        &bgpd,
        Family::V6,
        &v4(&["2001:db8:12::/48", "2001:db8:13::/48"]),
        CONVERGE,
    )
    .unwrap();
    wait_learns(
        &frr,
        Family::V4,
        &v4(&["10.1.11.0/26", "10.1.12.0/26"]),
        CONVERGE,
    )
    .unwrap();
    wait_learns(
        &frr,
        Family::V6,
        &v4(&["2001:db8:11::/48", "2001:db8:12::/48"]),
        CONVERGE,
    )
    .unwrap();
    wait_learns(
        &bird,
        Family::V4,
        &v4(&["10.1.11.0/26", "10.1.13.0/26"]),
        CONVERGE,
    )
    .unwrap();
    wait_learns(
        &bird,
        Family::V6,
        &v4(&["2001:db8:11::/48", "2001:db8:13::/48"]),
        CONVERGE,
    )
    .unwrap();

    // bgpd's JSON: FRR's routes with FRR's AS path and communities; BIRD's likewise.
    for (prefix, asp, c, l) in [
        ("10.1.13.0/26", "65001", (65001, 100), (65001, 1, 2)),
        ("2001:db8:13::/48", "65001", (65001, 100), (65001, 1, 2)),
        ("10.1.12.0/26", "65002", (65002, 100), (65002, 1, 2)),
        ("2001:db8:12::/48", "65002", (65002, 100), (65002, 1, 2)),
    ] {
        let r = best(&bgpd, prefix);
        let a = r.bgp.as_ref().unwrap();
        assert_eq!(a.as_path, asp, "{r:?}");
        assert_eq!(a.communities, vec![c], "{r:?}");
        assert_eq!(a.large_communities, vec![l], "{r:?}");
    }
    // Import policy: FRR's 10.1.113.0/26 is not used by bgpd, nor passed on to BIRD.
    assert!(
        bgpd.route("10.1.113.0/26")
            .unwrap()
            .iter()
            .all(|r| !r.primary),
        "import policy ignored"
    );
    assert!(!bird
        .prefixes(Family::V4)
        .unwrap()
        .contains(&"10.1.113.0/26".to_string()));

    // FRR's view (vtysh JSON): bgpd's own routes tagged by the export policy, BIRD's routes
    // through bgpd with their communities intact.
    for (fam, prefix, asp, comm, large) in [
        (
            Family::V4,
            "10.1.11.0/26",
            "64512",
            "64512:100",
            "64512:1:2",
        ),
        (
            Family::V6,
            "2001:db8:11::/48",
            "64512",
            "64512:100",
            "64512:1:2",
        ),
        (
            Family::V4,
            "10.1.12.0/26",
            "64512 65002",
            "65002:100",
            "65002:1:2",
        ),
        (
            Family::V6,
            "2001:db8:12::/48",
            "64512 65002",
            "65002:100",
            "65002:1:2",
        ),
    ] {
        let v = frr.route(fam, prefix).unwrap();
        let path = &v["paths"][0];
        assert_eq!(path["aspath"]["string"], asp, "{v}");
        assert_eq!(path["community"]["string"], comm, "{v}");
        assert_eq!(path["largeCommunity"]["string"], large, "{v}");
    }
    // BIRD's view (birdc): bgpd's routes prepended twice, FRR's routes through bgpd.
    for (table, prefix, asp, comm, large) in [
        (
            "master4",
            "10.1.11.0/26",
            "64512 64512 64512",
            "(64512,100)",
            "(64512, 1, 2)",
        ),
        (
            "master6",
            "2001:db8:11::/48",
            "64512 64512 64512",
            "(64512,100)",
            "(64512, 1, 2)",
        ),
        (
            "master4",
            "10.1.13.0/26",
            "64512 65001",
            "(65001,100)",
            "(65001, 1, 2)",
        ),
        (
            "master6",
            "2001:db8:13::/48",
            "64512 65001",
            "(65001,100)",
            "(65001, 1, 2)",
        ),
    ] {
        let rs = bird
            .ctl
            .routes(&format!("table {table} for {prefix}"))
            .unwrap();
        let r = rs.iter().find(|r| r.primary).unwrap();
        assert_eq!(r.attr("as_path"), Some(asp), "{r:?}");
        assert_eq!(r.attr("community"), Some(comm), "{r:?}");
        assert_eq!(r.attr("large_community"), Some(large), "{r:?}");
    }
    // bgpd's kernel: both families.
    wait_observing(
        CONVERGE,
        POLL,
        "bgpd's kernel has the peers' v4 and v6 routes",
        || {
            let k4 = kernel::routes(&nd.ns, Family::V4, "main", Some("bird"))?;
            let k6 = kernel::routes(&nd.ns, Family::V6, "main", Some("bird"))?;
            let ok =
                k4.iter().any(|r| {
                    r.dst == "10.1.13.0/26" && r.is_via(&nf.ip4().to_string(), "eth0", false)
                }) && k4.iter().any(|r| {
                    r.dst == "10.1.12.0/26" && r.is_via(&nb.ip4().to_string(), "eth0", false)
                }) && k4.iter().all(|r| r.dst != "10.1.113.0/26")
                    && ["2001:db8:12::/48", "2001:db8:13::/48"].iter().all(|p| {
                        k6.iter()
                            .any(|r| r.dst == *p && r.dev.as_deref() == Some("eth0"))
                    });
            Ok(Observed::when(
                ok,
                format!("{}{}", render(&k4), render(&k6)),
            ))
        },
    )
    .unwrap();
    report(test, start);
}

/// Scenario 9: TCP-MD5 between bgpd and FRR: the matching password establishes and exchanges
/// routes; a bgpd with the wrong password is never Established on either side in a 10 s window.
#[test]
fn bgpd_tcp_md5_frr() {
    let test = "bgpd_tcp_md5_frr";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nf = lab.node("frr", &[(&lan, 10)], None).unwrap();
    let ngood = lab.node("bgpd-good", &[(&lan, 21)], None).unwrap();
    let nbad = lab.node("bgpd-bad", &[(&lan, 22)], None).unwrap();

    let mut cf = FrrConfig::new(&nf, AS);
    cf.networks.push("10.1.10.0/26".into());
    for ip in [ngood.ip4(), nbad.ip4()] {
        let mut n = FrrNeighbor::new(ip, AS);
        n.password = Some("s3cret-md5".into());
        cf.neighbors.push(n);
    }
    let frr = cf.start(&nf).unwrap();
    let start_bgpd = |node, pw: &str, block: &str| -> Bgpd {
        let mut c = bgpd_config(node, AS);
        let mut p = BgpdPeer::new("frr", nf.ip4(), AS);
        p.password = Some(pw.into());
        c.peers.push(p);
        c.blackhole_blocks.push(block.into());
        c.start(node).unwrap()
    };
    let good = start_bgpd(&ngood, "s3cret-md5", "10.1.21.0/26");
    let bad = start_bgpd(&nbad, "not-the-secret", "10.1.22.0/26");

    wait_sessions(&good, 1, CONVERGE).unwrap();
    wait_learns(&good, Family::V4, &["10.1.10.0/26".into()], CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &["10.1.21.0/26".into()], CONVERGE).unwrap();
    let window = Instant::now();
    let mut polls = 0;
    while window.elapsed() < Duration::from_secs(10) {
        let b = bad.established().unwrap();
        assert!(b.is_empty(), "wrong password established on bgpd: {b:?}");
        check_frr_md5(&frr, &nbad, &ngood).unwrap();
        polls += 1;
        std::thread::sleep(POLL);
    }
    assert!(polls > 10);
    assert!(!frr
        .prefixes(Family::V4)
        .unwrap()
        .contains(&"10.1.22.0/26".to_string()));
    report(test, start);
}

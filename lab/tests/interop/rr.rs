//! Route reflection with real peers: FRR as RR, BIRD 2 RR with ADD-PATH and ECMP, a redundant
//! FRR RR cluster.

use super::*;

/// (b) FRR as route reflector (cluster ID set) with BIRD 2 and GoBGP clients.
#[test]
fn frr_route_reflector() {
    let start = Instant::now();
    let mut lab = Lab::new("frr_route_reflector").unwrap();
    let lan = lab.lan().unwrap();
    let nrr = lab.node("frr", &[(&lan, 10)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let ng = lab.node("gobgp", &[(&lan, 14)], None).unwrap();
    let cluster = Ipv4Addr::new(10, 255, 0, 1);

    let mut cf = FrrConfig::new(&nrr, AS);
    cf.cluster_id = Some(cluster);
    for ip in [nb.ip4(), ng.ip4()] {
        let mut n = FrrNeighbor::new(ip, AS);
        n.rr_client = true;
        n.passive = true;
        cf.neighbors.push(n);
    }
    let frr = cf.start(&nrr).unwrap();

    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push("10.1.12.0/26 blackhole".into());
    cb.peers.push(Bird2Peer::new("reflector", nrr.ip4(), AS));
    cb.kernel = KernelExport::Plain;
    let bird = cb.start(&nb).unwrap();

    let mut cg = GobgpConfig::new(&ng, AS);
    cg.neighbors.push(GobgpNeighbor::new(nrr.ip4(), AS));
    cg.announce.push("10.1.14.0/26 community 64512:14".into());
    let gobgp = cg.start(&ng).unwrap();

    wait_sessions(&frr, 2, CONVERGE).unwrap();
    let want = vec!["10.1.12.0/26".to_string(), "10.1.14.0/26".to_string()];
    wait_learns(&frr, Family::V4, &want, CONVERGE).unwrap();
    wait_learns(&bird, Family::V4, &want, CONVERGE).unwrap();
    wait_learns(&gobgp, Family::V4, &want, CONVERGE).unwrap();

    // BIRD 2 sees GoBGP's route reflected: ORIGINATOR_ID = GoBGP, CLUSTER_LIST = [cluster],
    // next hop unchanged (GoBGP's address), community preserved.
    let r = bird.ctl.routes("for 10.1.14.0/26").unwrap();
    let r = r.iter().find(|r| r.primary).unwrap();
    assert_eq!(
        r.attr("originator_id"),
        Some(ng.ip4().to_string().as_str()),
        "{r:?}"
    );
    assert_eq!(
        r.attr("cluster_list"),
        Some(cluster.to_string().as_str()),
        "{r:?}"
    );
    assert_eq!(
        r.attr("next_hop"),
        Some(ng.ip4().to_string().as_str()),
        "{r:?}"
    );
    assert_eq!(r.attr("community"), Some("(64512,14)"), "{r:?}");
    // ... and installs it in its kernel via GoBGP's address.
    wait_observing(
        CONVERGE,
        POLL,
        "BIRD 2's kernel has 10.1.14.0/26 via GoBGP",
        || {
            let k = kernel::routes(&nb.ns, Family::V4, "main", Some("bird"))?;
            let ok = k
                .iter()
                .any(|r| r.dst == "10.1.14.0/26" && r.is_via(&ng.ip4().to_string(), "eth0", false));
            Ok(Observed::when(ok, render(&k)))
        },
    )
    .unwrap();

    // GoBGP sees BIRD's route reflected: ORIGINATOR_ID (type 9) and CLUSTER_LIST (type 10).
    let orig = gobgp
        .best_attr(Family::V4, "10.1.12.0/26", 9)
        .unwrap()
        .unwrap();
    assert!(
        orig.to_string().contains(&nb.ip4().to_string()),
        "ORIGINATOR_ID {orig}"
    );
    let cl = gobgp
        .best_attr(Family::V4, "10.1.12.0/26", 10)
        .unwrap()
        .unwrap();
    assert!(
        cl.to_string().contains(&cluster.to_string()),
        "CLUSTER_LIST {cl}"
    );

    // FRR's own view: the route from each client is received from that client.
    let v = frr.route(Family::V4, "10.1.14.0/26").unwrap();
    let paths = v["paths"].as_array().unwrap();
    assert!(
        paths
            .iter()
            .any(|p| p["peer"]["peerId"] == ng.ip4().to_string()),
        "{v}"
    );
    report("frr_route_reflector", start);
}

/// ADD-PATH and ECMP with real peers (scenario 8 with FRR in bgpd's place): BIRD 2 as route
/// reflector with `add paths tx` sends both paths of a prefix announced by two GoBGP clients to
/// an FRR client, which installs the ECMP set in its kernel.
#[test]
fn bird2_rr_add_paths_ecmp() {
    let start = Instant::now();
    let mut lab = Lab::new("bird2_rr_add_paths_ecmp").unwrap();
    let rr = AddPathRr::start(&mut lab, "frr").unwrap();
    let (nrr, nf) = (&rr.rr_node, &rr.client);
    let prefix = AddPathRr::PREFIX.to_string();
    let mut cf = FrrConfig::new(nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nrr.ip4(), AS));
    cf.maximum_paths = Some(4);
    let frr = cf.start(nf).unwrap();

    wait_sessions(&rr.rr, 3, CONVERGE).unwrap();
    // FRR receives two paths for the prefix (ADD-PATH ids), one per GoBGP next hop.
    let want_hops = rr.want_hops();
    wait_observing(CONVERGE, POLL, "FRR has both paths of 10.8.0.0/24", || {
        let v = frr.route(Family::V4, &prefix)?;
        let hops: BTreeSet<String> = v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["nexthops"][0]["ip"].as_str().map(String::from))
            .collect();
        Ok(Observed::when(hops == want_hops, format!("{hops:?}")))
    })
    .unwrap();
    let v = frr.route(Family::V4, &prefix).unwrap();
    for p in v["paths"].as_array().unwrap() {
        assert!(
            p["addpathRxId"].as_u64().is_some(),
            "path without ADD-PATH id: {p}"
        );
    }
    // ... and installs both next hops as one ECMP route.
    wait_observing(CONVERGE, POLL, "FRR's kernel has the ECMP route", || {
        let k = kernel::routes(&nf.ns, Family::V4, "main", Some("bgp"))?;
        let ok = k.iter().any(|r| {
            r.dst == prefix
                && r.hops()
                    .iter()
                    .map(|(g, _)| g.unwrap_or("").to_string())
                    .collect::<BTreeSet<_>>()
                    == want_hops
        });
        Ok(Observed::when(ok, render(&k)))
    })
    .unwrap();
    report("bird2_rr_add_paths_ecmp", start);
}

/// A redundant route-reflector cluster with real peers only (scenario 4 with FRR in bgpd's
/// place): two FRR reflectors sharing a cluster ID, BIRD 2 and GoBGP clients of both; one
/// reflector is stopped and no client loses a route.
#[test]
fn frr_redundant_rr_cluster() {
    let start = Instant::now();
    let mut lab = Lab::new("frr_redundant_rr_cluster").unwrap();
    let lan = lab.lan().unwrap();
    let n1 = lab.node("rr1", &[(&lan, 10)], None).unwrap();
    let n2 = lab.node("rr2", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let ng = lab.node("gobgp", &[(&lan, 14)], None).unwrap();
    let cluster = Ipv4Addr::new(10, 255, 0, 4);
    let clients = [nb.ip4(), ng.ip4()];
    let mut rrs = Vec::new();
    for (me, other) in [(&n1, &n2), (&n2, &n1)] {
        let mut c = FrrConfig::new(me, AS);
        c.cluster_id = Some(cluster);
        for ip in clients {
            let mut n = FrrNeighbor::new(ip, AS);
            n.rr_client = true;
            n.passive = true;
            c.neighbors.push(n);
        }
        // The other reflector of the cluster: a plain iBGP peer.
        let mut n = FrrNeighbor::new(other.ip4(), AS);
        n.passive = calico_passive(&me.ip4().to_string(), &other.ip4().to_string());
        c.neighbors.push(n);
        rrs.push(c.start(me).unwrap());
    }
    let bird = bird2_cluster_client(&nb, &n1, &n2).unwrap();
    let mut cg = GobgpConfig::new(&ng, AS);
    cg.neighbors.push(GobgpNeighbor::new(n1.ip4(), AS));
    cg.neighbors.push(GobgpNeighbor::new(n2.ip4(), AS));
    cg.announce.push("10.4.14.0/26".into());
    let gobgp = cg.start(&ng).unwrap();

    for rr in &rrs {
        wait_sessions(rr, 3, CONVERGE).unwrap();
    }
    wait_sessions(&bird, 2, CONVERGE).unwrap();
    wait_sessions(&gobgp, 2, CONVERGE).unwrap();
    let both = vec!["10.4.12.0/26".to_string(), "10.4.14.0/26".to_string()];
    wait_learns(&bird, Family::V4, &both, CONVERGE).unwrap();
    wait_learns(&gobgp, Family::V4, &both, CONVERGE).unwrap();
    // BIRD holds GoBGP's route from both reflectors.
    wait_bird_from_both(&bird, "10.4.14.0/26", "GoBGP").unwrap();
    wait_observing(CONVERGE, POLL, "BIRD's kernel has GoBGP's route", || {
        let k = kernel::routes(&nb.ns, Family::V4, "main", Some("bird"))?;
        Ok(Observed::when(
            k.iter().any(|r| r.dst == "10.4.14.0/26"),
            render(&k),
        ))
    })
    .unwrap();
    let monitor = RouteMonitor::start(&nb.ns, &nb.path("ip-monitor.log")).unwrap();
    // GoBGP holds both prefixes from both reflectors (FRR sends to a new session a moment
    // after it is Established: wait for it, or the test would stop the only source).
    for rr in [&n1, &n2] {
        wait_observing(
            CONVERGE,
            POLL,
            &format!("GoBGP's Adj-RIB-In from {} has both", rr.name),
            || {
                let have = gobgp.adj_in(&rr.ip4().to_string(), Family::V4)?;
                Ok(Observed::when(
                    both.iter().all(|p| have.contains(p)),
                    format!("{have:?}"),
                ))
            },
        )
        .unwrap();
    }

    // Stop rr1 (SIGTERM: it closes its sessions with a Cease): nothing may go missing.
    let mut rr1 = rrs.remove(0);
    rr1.stop(libc::SIGTERM).unwrap();
    wait_sessions(&rrs[0], 2, CONVERGE).unwrap();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        let b = bird.prefixes(Family::V4).unwrap();
        let g = gobgp.prefixes(Family::V4).unwrap();
        for p in &both {
            assert!(
                b.contains(p) && g.contains(p),
                "a client lost {p}: BIRD {b:?}, GoBGP {g:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let states = bird.ctl.bgp_states().unwrap();
    assert_ne!(
        states.get("rr1").map(String::as_str),
        Some("Established"),
        "{states:?}"
    );
    let gone = monitor.deletions_of(&both).unwrap();
    assert!(gone.is_empty(), "BIRD's kernel lost a route: {gone:?}");
    monitor.stop();
    report("frr_redundant_rr_cluster", start);
}

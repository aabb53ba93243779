//! Route reflection: bgpd as RR, bgpd as client of BIRD 2 / FRR RRs, a redundant RR cluster,
//! and ADD-PATH receive with ECMP from a BIRD 2 RR.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::*;

/// Scenario 2: bgpd as route reflector (cluster ID set, kernel off) with BIRD 2, FRR, GoBGP and
/// bgpd clients: every client learns every other client's route, with ORIGINATOR_ID and
/// CLUSTER_LIST (FRR's JSON, birdc, bgpd's JSON) and the next hop unchanged.
#[test]
fn bgpd_route_reflector() {
    let test = "bgpd_route_reflector";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nrr = lab.node("rr", &[(&lan, 10)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let ng = lab.node("gobgp", &[(&lan, 14)], None).unwrap();
    let nc = lab.node("bgpdc", &[(&lan, 15)], None).unwrap();
    let cluster = Ipv4Addr::new(10, 255, 0, 1);
    let prefix = |h: u8| format!("10.1.{h}.0/26");
    let all: Vec<String> = [12, 13, 14, 15].iter().map(|h| prefix(*h)).collect();

    let mut cr = bgpd_config(&nrr, AS);
    cr.kernel_enabled = false;
    cr.rr_cluster_id = Some(cluster);
    for (name, n) in [("bird2", &nb), ("frr", &nf), ("gobgp", &ng), ("bgpdc", &nc)] {
        let mut p = BgpdPeer::new(name, n.ip4(), AS);
        p.rr_client = true;
        p.passive = true;
        cr.peers.push(p);
    }
    let rr = cr.start(&nrr).unwrap();

    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push(format!("{} blackhole", prefix(12)));
    cb.peers.push(Bird2Peer::new("reflector", nrr.ip4(), AS));
    cb.kernel = KernelExport::Plain;
    let bird = cb.start(&nb).unwrap();
    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nrr.ip4(), AS));
    cf.networks.push(prefix(13));
    let frr = cf.start(&nf).unwrap();
    let mut cg = GobgpConfig::new(&ng, AS);
    cg.neighbors.push(GobgpNeighbor::new(nrr.ip4(), AS));
    cg.announce
        .push(format!("{} community 64512:14", prefix(14)));
    let gobgp = cg.start(&ng).unwrap();
    let mut cc = bgpd_config(&nc, AS);
    cc.blackhole_blocks.push(prefix(15));
    cc.peers.push(BgpdPeer::new("reflector", nrr.ip4(), AS));
    let client = cc.start(&nc).unwrap();

    wait_sessions(&rr, 4, CONVERGE).unwrap();
    wait_learns(&rr, Family::V4, &all, CONVERGE).unwrap();
    wait_learns(&bird, Family::V4, &all, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &all, CONVERGE).unwrap();
    wait_learns(&gobgp, Family::V4, &all, CONVERGE).unwrap();
    wait_learns(&client, Family::V4, &all, CONVERGE).unwrap();

    // FRR's JSON: ORIGINATOR_ID = the originating client, CLUSTER_LIST = [cluster], next hop
    // the originator's address (reflection leaves it alone).
    for (h, n) in [(12u8, &nb), (14, &ng), (15, &nc)] {
        let v = frr.route(Family::V4, &prefix(h)).unwrap();
        let p = &v["paths"][0];
        assert_eq!(p["originatorId"], n.ip4().to_string(), "{v}");
        assert!(
            p["clusterList"].to_string().contains(&cluster.to_string()),
            "CLUSTER_LIST {v}"
        );
        assert_eq!(p["nexthops"][0]["ip"], n.ip4().to_string(), "{v}");
    }
    // birdc: FRR's route reflected.
    let r = bird.ctl.routes(&format!("for {}", prefix(13))).unwrap();
    let r = r.iter().find(|r| r.primary).unwrap();
    assert_eq!(r.attr("originator_id"), Some(nf.ip4().to_string().as_str()));
    assert_eq!(r.attr("cluster_list"), Some(cluster.to_string().as_str()));
    // GoBGP: bgpd client's route, ORIGINATOR_ID (type 9) and CLUSTER_LIST (type 10).
    let orig = gobgp
        .best_attr(Family::V4, &prefix(15), 9)
        .unwrap()
        .unwrap();
    assert!(orig.to_string().contains(&nc.ip4().to_string()), "{orig}");
    let cl = gobgp
        .best_attr(Family::V4, &prefix(15), 10)
        .unwrap()
        .unwrap();
    assert!(cl.to_string().contains(&cluster.to_string()), "{cl}");
    // bgpd client's JSON: GoBGP's route with its community, originator and cluster list.
    let r = best(&client, &prefix(14));
    let a = r.bgp.as_ref().unwrap();
    assert_eq!(
        a.originator_id.as_deref(),
        Some(ng.ip4().to_string().as_str()),
        "{r:?}"
    );
    assert_eq!(a.cluster_list, vec![cluster.to_string()], "{r:?}");
    assert_eq!(a.communities, vec![(64512, 14)], "{r:?}");
    assert_eq!(
        a.next_hop.as_deref(),
        Some(ng.ip4().to_string().as_str()),
        "{r:?}"
    );
    // The bgpd client installs the reflected routes via their originators.
    wait_observing(
        CONVERGE,
        POLL,
        "bgpd client's kernel has the reflected routes",
        || {
            let k = kernel::routes(&nc.ns, Family::V4, "main", Some("bird"))?;
            let ok = [(12u8, &nb), (13, &nf), (14, &ng)].iter().all(|(h, n)| {
                k.iter()
                    .any(|r| r.dst == prefix(*h) && r.is_via(&n.ip4().to_string(), "eth0", false))
            });
            Ok(Observed::when(ok, render(&k)))
        },
    )
    .unwrap();
    // The reflector itself programs nothing (kernel disabled).
    let k = kernel::routes(&nrr.ns, Family::V4, "main", Some("bird")).unwrap();
    assert!(k.is_empty(), "RR kernel: {}", render(&k));
    report(test, start);
}

/// Scenario 3: a route reflector of another implementation (`"bird2"` or `"frr"`, cluster ID
/// set) with two bgpd clients: each learns the other's block with ORIGINATOR_ID and
/// CLUSTER_LIST (bgpd's JSON) and installs it via the originating client.
fn rr_with_bgpd_clients(test: &str, rr_kind: &str) {
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nrr = lab.node("rr", &[(&lan, 10)], None).unwrap();
    let n1 = lab.node("bgpd1", &[(&lan, 21)], None).unwrap();
    let n2 = lab.node("bgpd2", &[(&lan, 22)], None).unwrap();
    let cluster = Ipv4Addr::new(10, 255, 0, 3);
    let prefix = |h: u8| format!("10.3.{h}.0/26");
    let clients = [(&n1, 21u8), (&n2, 22u8)];
    let all: Vec<String> = clients.iter().map(|(_, h)| prefix(*h)).collect();

    // Keep the reflector alive for the whole test (either kind).
    let (_bird, _frr) = if rr_kind == "bird2" {
        let mut c = Bird2Config::new(&nrr, AS);
        c.rr_cluster_id = Some(cluster);
        for (n, h) in clients {
            let mut p = Bird2Peer::new(&format!("client{h}"), n.ip4(), AS);
            p.rr_client = true;
            p.passive = true;
            c.peers.push(p);
        }
        (Some(c.start(&nrr).unwrap()), None)
    } else {
        let mut c = FrrConfig::new(&nrr, AS);
        c.cluster_id = Some(cluster);
        for (n, _) in clients {
            let mut nb = FrrNeighbor::new(n.ip4(), AS);
            nb.rr_client = true;
            nb.passive = true;
            c.neighbors.push(nb);
        }
        (None, Some(c.start(&nrr).unwrap()))
    };
    let bgpds: Vec<Bgpd> = clients
        .iter()
        .map(|(n, h)| {
            let mut c = bgpd_config(n, AS);
            c.blackhole_blocks.push(prefix(*h));
            c.peers.push(BgpdPeer::new("reflector", nrr.ip4(), AS));
            c.start(n).unwrap()
        })
        .collect();
    for b in &bgpds {
        wait_sessions(b, 1, CONVERGE).unwrap();
        wait_learns(b, Family::V4, &all, CONVERGE).unwrap();
    }
    match (&_bird, &_frr) {
        (Some(b), _) => wait_learns(b, Family::V4, &all, CONVERGE).unwrap(),
        (_, Some(f)) => wait_learns(f, Family::V4, &all, CONVERGE).unwrap(),
        _ => unreachable!(),
    }
    for (i, b) in bgpds.iter().enumerate() {
        let (other, h) = clients[1 - i];
        let r = best(b, &prefix(h));
        assert_eq!(r.protocol, "reflector", "{r:?}");
        let a = r.bgp.as_ref().unwrap();
        assert_eq!(
            a.originator_id.as_deref(),
            Some(other.ip4().to_string().as_str()),
            "{r:?}"
        );
        assert_eq!(a.cluster_list, vec![cluster.to_string()], "{r:?}");
        assert_eq!(
            a.next_hop.as_deref(),
            Some(other.ip4().to_string().as_str()),
            "{r:?}"
        );
        let me = clients[i].0;
        wait_observing(
            CONVERGE,
            POLL,
            "bgpd client's kernel has the other client's block",
            || {
                let k = kernel::routes(&me.ns, Family::V4, "main", Some("bird"))?;
                let ok = k.iter().any(|r| {
                    r.dst == prefix(h) && r.is_via(&other.ip4().to_string(), "eth0", false)
                });
                Ok(Observed::when(ok, render(&k)))
            },
        )
        .unwrap();
    }
    report(test, start);
}

#[test]
fn bgpd_clients_of_bird2_rr() {
    rr_with_bgpd_clients("bgpd_clients_of_bird2_rr", "bird2");
}

#[test]
fn bgpd_clients_of_frr_rr() {
    rr_with_bgpd_clients("bgpd_clients_of_frr_rr", "frr");
}

/// Scenario 4: two bgpd reflectors sharing a cluster ID (kernel off), BIRD 2 and FRR clients
/// of both; rr1 stopped (SIGTERM): for 4 s no client loses a route, and BIRD's kernel sees no
/// deletion (`RouteMonitor`).
#[test]
fn bgpd_redundant_rr_cluster() {
    let test = "bgpd_redundant_rr_cluster";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let n1 = lab.node("rr1", &[(&lan, 10)], None).unwrap();
    let n2 = lab.node("rr2", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let cluster = Ipv4Addr::new(10, 255, 0, 4);
    let mut rrs = Vec::new();
    for (me, other, other_name) in [(&n1, &n2, "rr2"), (&n2, &n1, "rr1")] {
        let mut c = bgpd_config(me, AS);
        c.kernel_enabled = false;
        c.rr_cluster_id = Some(cluster);
        for (name, n) in [("bird2", &nb), ("frr", &nf)] {
            let mut p = BgpdPeer::new(name, n.ip4(), AS);
            p.rr_client = true;
            p.passive = true;
            c.peers.push(p);
        }
        let mut p = BgpdPeer::new(other_name, other.ip4(), AS);
        p.passive = calico_passive(&me.ip4().to_string(), &other.ip4().to_string());
        c.peers.push(p);
        rrs.push(c.start(me).unwrap());
    }
    let bird = bird2_cluster_client(&nb, &n1, &n2).unwrap();
    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(n1.ip4(), AS));
    cf.neighbors.push(FrrNeighbor::new(n2.ip4(), AS));
    cf.networks.push("10.4.13.0/26".into());
    let frr = cf.start(&nf).unwrap();

    for rr in &rrs {
        wait_sessions(rr, 3, CONVERGE).unwrap();
    }
    let both = vec!["10.4.12.0/26".to_string(), "10.4.13.0/26".to_string()];
    wait_learns(&bird, Family::V4, &both, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &both, CONVERGE).unwrap();
    // Each client holds the other's route from both reflectors.
    wait_bird_from_both(&bird, "10.4.13.0/26", "FRR").unwrap();
    wait_observing(
        CONVERGE,
        POLL,
        "FRR has BIRD's route from rr1 and rr2",
        || {
            let v = frr.route(Family::V4, "10.4.12.0/26")?;
            let n = v["paths"].as_array().map_or(0, Vec::len);
            Ok(Observed::when(n == 2, v.to_string()))
        },
    )
    .unwrap();
    let v = frr.route(Family::V4, "10.4.12.0/26").unwrap();
    for p in v["paths"].as_array().unwrap() {
        assert_eq!(p["originatorId"], nb.ip4().to_string(), "{v}");
        assert!(
            p["clusterList"].to_string().contains(&cluster.to_string()),
            "{v}"
        );
    }
    wait_observing(CONVERGE, POLL, "BIRD's kernel has FRR's route", || {
        let k = kernel::routes(&nb.ns, Family::V4, "main", Some("bird"))?;
        Ok(Observed::when(
            k.iter().any(|r| r.dst == "10.4.13.0/26"),
            render(&k),
        ))
    })
    .unwrap();
    let monitor = RouteMonitor::start(&nb.ns, &nb.path("ip-monitor.log")).unwrap();

    let mut rr1 = rrs.remove(0);
    rr1.stop(libc::SIGTERM).unwrap();
    wait_observing(
        Duration::from_secs(20),
        POLL,
        "BIRD notices rr1 is gone",
        || {
            let s = bird.ctl.bgp_states()?;
            Ok(Observed::when(
                s.get("rr1").is_some_and(|s| s != "Established"),
                format!("{s:?}"),
            ))
        },
    )
    .unwrap();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        let b = bird.prefixes(Family::V4).unwrap();
        let f = frr.prefixes(Family::V4).unwrap();
        for p in &both {
            assert!(
                b.contains(p) && f.contains(p),
                "a client lost {p}: BIRD {b:?}, FRR {f:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone = monitor.deletions_of(&both).unwrap();
    assert!(gone.is_empty(), "BIRD's kernel lost a route: {gone:?}");
    monitor.stop();
    report(test, start);
}

/// Scenario 8: BIRD 2 as route reflector with `add paths tx` sends both paths of 10.8.0.0/24
/// (announced by two GoBGP clients) to a bgpd client with `add_path = "receive"`; bgpd holds
/// both paths and installs one ECMP kernel route with both next hops.
#[test]
fn bgpd_add_paths_ecmp_from_bird2_rr() {
    let test = "bgpd_add_paths_ecmp_from_bird2_rr";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let rr = AddPathRr::start(&mut lab, "bgpd").unwrap();
    let (nrr, nd) = (&rr.rr_node, &rr.client);
    let prefix = AddPathRr::PREFIX.to_string();
    let mut cd = bgpd_config(nd, AS);
    let mut p = BgpdPeer::new("reflector", nrr.ip4(), AS);
    p.add_paths = Some("receive".into());
    cd.peers.push(p);
    let bgpd = cd.start(nd).unwrap();

    wait_sessions(&rr.rr, 3, CONVERGE).unwrap();
    let want_hops = rr.want_hops();
    wait_observing(CONVERGE, POLL, "bgpd has both paths of 10.8.0.0/24", || {
        let rs = bgpd.route(&prefix)?;
        let hops: BTreeSet<String> = rs
            .iter()
            .filter_map(|r| r.bgp.as_ref().and_then(|a| a.next_hop.clone()))
            .collect();
        Ok(Observed::when(hops == want_hops, format!("{rs:?}")))
    })
    .unwrap();
    wait_observing(CONVERGE, POLL, "bgpd's kernel has the ECMP route", || {
        let k = kernel::routes(&nd.ns, Family::V4, "main", Some("bird"))?;
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
    report(test, start);
}

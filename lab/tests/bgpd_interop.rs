//! Issue 6 with bgpd in the lab: each test is one scenario of the issue with bgpd as one (or
//! more) of the nodes, asserted through every daemon's own interface, bgpd's `--json` CLI and
//! the kernel tables. Run as root: `cargo build -p bgpd && cargo test -p bgpd-lab --test
//! bgpd_interop -- --test-threads=1`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgpd_lab::bgpd::BgpdPool;
use bgpd_lab::bird16::{calico_passive, mesh_name};
use bgpd_lab::kernel::{self, render, RouteMonitor};
use bgpd_lab::{
    cmd, wait_exactly, wait_learns, wait_observing, wait_sessions, wait_until, Bgpd, BgpdConfig,
    BgpdPeer, Bird2Config, Bird2Peer, CalicoBird16Config, Family, FrrConfig, FrrNeighbor,
    GobgpConfig, GobgpNeighbor, KernelExport, Lab, Observed, Process, TunnelSupport,
};

const AS: u32 = 64512;
const CONVERGE: Duration = Duration::from_secs(40);
const POLL: Duration = Duration::from_millis(250);

fn block(host: u8) -> String {
    format!("10.244.{host}.0/26")
}

fn report(test: &str, start: Instant) {
    eprintln!(
        "bgpd-lab: {test} passed in {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

/// The best route of `prefix` in bgpd's RIB (`show route PREFIX --json`).
fn best(bgpd: &Bgpd, prefix: &str) -> bgpd_lab::bgpd::BgpdRoute {
    let rs = bgpd.route(prefix).unwrap();
    rs.iter()
        .find(|r| r.primary)
        .cloned()
        .unwrap_or_else(|| panic!("bgpd has no best route for {prefix}: {rs:?}"))
}

/// Scenario 1: Calico-style iBGP full mesh of bgpd, BIRD 1.6 (calico-node config), BIRD 2 and
/// FRR, one AS, one shared subnet, each announcing its /26 block; bgpd's pool 10.244.0.0/16 is
/// IP-in-IP `ipip` (`always`: `via NODE dev tunl0 onlink`; `cross-subnet`: the shared subnet is
/// on-link, so `via NODE dev eth0`).
fn calico_mesh(test: &str, ipip: &str) {
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let hosts: [(&str, u8); 4] = [("bgpd", 11), ("bird16", 12), ("bird2", 13), ("frr", 14)];
    let nodes: Vec<_> = hosts
        .iter()
        .map(|(name, h)| {
            lab.node(name, &[(&lan, *h)], Some(Ipv4Addr::new(10, 244, *h, 1)))
                .unwrap()
        })
        .collect();
    let ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip4()).collect();
    let blocks: Vec<String> = hosts.iter().map(|(_, h)| block(*h)).collect();
    let (nb, n16, n2, nfrr) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // bgpd: Calico's shape (pool, blackhole block, tunl0, Mesh_<ip> peers, passive rule).
    let mut cb = BgpdConfig::new(nb, AS);
    cb.tunnel = Some("tunl0".into());
    cb.pools.push(BgpdPool {
        cidr: "10.244.0.0/16".into(),
        ipip: ipip.into(),
    });
    cb.blackhole_blocks.push(blocks[0].clone());
    let tunnel = TunnelSupport::detect(lab.artefacts());
    let b16 = CalicoBird16Config::new(n16, AS, &blocks[1], "10.244.0.0/16", &ips, tunnel)
        .start(n16)
        .unwrap();
    let mut c2 = Bird2Config::new(n2, AS);
    c2.statics.push(format!("{} blackhole", blocks[2]));
    c2.kernel = KernelExport::Tunnel {
        dev: "tunl0".into(),
        direct_subnet: None,
    };
    let mut cf = FrrConfig::new(nfrr, AS);
    cf.networks.push(blocks[3].clone());
    for (i, peer) in ips.iter().enumerate() {
        for (j, me) in [(0, nb), (2, n2), (3, nfrr)] {
            if i == j {
                continue;
            }
            let passive = calico_passive(&me.ip4().to_string(), &peer.to_string());
            let name = mesh_name(&peer.to_string());
            match j {
                0 => {
                    let mut p = BgpdPeer::new(&name, *peer, AS);
                    p.passive = passive;
                    cb.peers.push(p);
                }
                2 => {
                    let mut p = Bird2Peer::new(&name, *peer, AS);
                    p.passive = passive;
                    p.export = "where source = RTS_STATIC".into();
                    c2.peers.push(p);
                }
                _ => {
                    let mut n = FrrNeighbor::new(*peer, AS);
                    n.passive = passive;
                    cf.neighbors.push(n);
                }
            }
        }
    }
    let bgpd = cb.start(nb).unwrap();
    let b2 = c2.start(n2).unwrap();
    let frr = cf.start(nfrr).unwrap();

    wait_sessions(&bgpd, 3, CONVERGE).unwrap();
    wait_sessions(&b16, 3, CONVERGE).unwrap();
    wait_sessions(&b2, 3, CONVERGE).unwrap();
    wait_sessions(&frr, 3, CONVERGE).unwrap();
    wait_learns(&bgpd, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&b16, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&b2, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &blocks, CONVERGE).unwrap();

    // bgpd's RIB: each block from its owner's Mesh_ protocol, next hop = the owner.
    for k in 1..4 {
        let r = best(&bgpd, &blocks[k]);
        assert_eq!(r.protocol, mesh_name(&ips[k].to_string()), "{r:?}");
        let attrs = r.bgp.as_ref().expect("BGP attributes");
        assert_eq!(
            attrs.next_hop.as_deref(),
            Some(ips[k].to_string().as_str()),
            "{r:?}"
        );
    }
    // The peers learned bgpd's block from bgpd (next hop bgpd's address).
    let r = b16.ctl.routes(&format!("for {}", blocks[0])).unwrap();
    let r = r.iter().find(|r| r.primary).unwrap();
    assert_eq!(r.protocol, mesh_name(&ips[0].to_string()), "{r:?}");
    assert_eq!(r.attr("next_hop"), Some(ips[0].to_string().as_str()));
    let v = frr.route(Family::V4, &blocks[0]).unwrap();
    assert_eq!(
        v["paths"][0]["nexthops"][0]["ip"],
        ips[0].to_string(),
        "{v}"
    );

    // bgpd's kernel: own block blackholed, the others `via NODE dev tunl0 onlink proto bird`
    // (always) or `via NODE dev eth0 proto bird` (cross-subnet, all on one subnet).
    let (dev, onlink) = if ipip == "always" {
        ("tunl0", true)
    } else {
        ("eth0", false)
    };
    let desc = format!("bgpd's kernel: blackhole own block, others via NODE dev {dev} (onlink {onlink}) proto bird");
    wait_observing(CONVERGE, POLL, &desc, || {
        let k = kernel::routes(&nb.ns, Family::V4, "main", Some("bird"))?;
        let mut ok = k.iter().any(|r| r.dst == blocks[0] && r.is_blackhole());
        for i in 1..4 {
            ok &= k.iter().any(|r| {
                r.dst == blocks[i]
                    && r.is_via(&ips[i].to_string(), dev, onlink)
                    && r.protocol.as_deref() == Some("bird")
            });
        }
        Ok(Observed::when(ok, render(&k)))
    })
    .unwrap();
    // BIRD 2 installs bgpd's block through its tunnel like any other node's.
    wait_observing(CONVERGE, POLL, "BIRD 2's kernel has bgpd's block", || {
        let k = kernel::routes(&n2.ns, Family::V4, "main", Some("bird"))?;
        let ok = k
            .iter()
            .any(|r| r.dst == blocks[0] && r.is_via(&ips[0].to_string(), "tunl0", true));
        Ok(Observed::when(ok, render(&k)))
    })
    .unwrap();
    report(test, start);
}

#[test]
fn bgpd_calico_mesh_ipip_always() {
    calico_mesh("bgpd_calico_mesh_ipip_always", "always");
}

#[test]
fn bgpd_calico_mesh_cross_subnet() {
    calico_mesh("bgpd_calico_mesh_cross_subnet", "cross-subnet");
}

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

    let mut cr = BgpdConfig::new(&nrr, AS);
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
    let mut cc = BgpdConfig::new(&nc, AS);
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

    let mut cd = BgpdConfig::new(&nd, as_d);
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
        let mut c = BgpdConfig::new(node, AS);
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
        let f = frr.neighbor_states().unwrap();
        assert_ne!(
            f.get(&nbad.ip4().to_string()).map(String::as_str),
            Some("Established"),
            "{f:?}"
        );
        assert_eq!(
            f.get(&ngood.ip4().to_string()).map(String::as_str),
            Some("Established"),
            "{f:?}"
        );
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

/// The n-th /26 of 10.0.0.0/8.
fn nth26(i: u32) -> String {
    format!("10.{}.{}.{}/26", i >> 10, (i >> 2) & 255, (i & 3) * 64)
}

/// Waits until bgpd's kernel (`proto bird`, main) holds exactly `want`, each via `gw` on eth0.
fn wait_kernel_exactly(ns: &str, want: &[String], gw: &str, deadline: Duration) {
    let want_set: BTreeSet<&String> = want.iter().collect();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "bgpd's kernel matches the peer's table",
        || {
            let k = kernel::routes(ns, Family::V4, "main", Some("bird"))?;
            let have: BTreeSet<&String> = k.iter().map(|r| &r.dst).collect();
            let missing = want_set.difference(&have).count();
            let extra = have.difference(&want_set).count();
            let wrong = k.iter().filter(|r| !r.is_via(gw, "eth0", false)).count();
            Ok(Observed::when(
                missing == 0 && extra == 0 && wrong == 0,
                format!(
                    "{} routes, {missing} missing, {extra} extra, {wrong} not via {gw}",
                    have.len()
                ),
            ))
        },
    )
    .unwrap();
}

/// Scenario 7: BIRD 2 announces 10k routes to bgpd, then three back-to-back waves of
/// withdrawals and announcements (`birdc configure`); at the end bgpd's RIB (`show route
/// --json`, nothing missing, nothing extra) and kernel match BIRD's table exactly.
#[test]
fn bgpd_churn_10k_from_bird2() {
    let test = "bgpd_churn_10k_from_bird2";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nb = lab.node("bird2", &[(&lan, 1)], None).unwrap();
    let nd = lab.node("bgpd", &[(&lan, 2)], None).unwrap();
    let mut cd = BgpdConfig::new(&nd, AS);
    let mut p = BgpdPeer::new("bird2", nb.ip4(), AS);
    p.passive = true;
    cd.peers.push(p);
    let bgpd = cd.start(&nd).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.peers.push(Bird2Peer::new("bgpd", nd.ip4(), AS));
    let set = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&i| format!("{} blackhole", nth26(i)))
            .collect()
    };
    let mut ids: Vec<u32> = (0..10_000).collect();
    cb.statics = set(&ids);
    let mut bird = cb.start(&nb).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    let wave1: Vec<String> = ids.iter().map(|&i| nth26(i)).collect();
    wait_exactly(&bgpd, Family::V4, &wave1, Duration::from_secs(60)).unwrap();
    ids.retain(|&i| i >= 5_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();
    ids.retain(|&i| i % 2 == 1);
    ids.extend(10_000..12_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();
    ids.retain(|&i| !(10_000..11_000).contains(&i));
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();

    let want: Vec<String> = ids.iter().map(|&i| nth26(i)).collect();
    let deadline = Duration::from_secs(90);
    wait_exactly(&bgpd, Family::V4, &want, deadline).unwrap();
    wait_kernel_exactly(&nd.ns, &want, &nb.ip4().to_string(), deadline);
    assert_eq!(
        bird.ctl.route_count("table master4").unwrap(),
        want.len() as u64
    );
    let (routes, networks) = bgpd.route_count().unwrap();
    assert_eq!((routes, networks), (want.len() as u64, want.len() as u64));
    report(test, start);
}

/// Scenario 10: 100k routes from BIRD 2 reach bgpd's RIB (`show route count --json`) and its
/// kernel (`kernel::count`), spot-checked through the full parsers.
#[test]
fn bgpd_scale_100k_from_bird2() {
    let test = "bgpd_scale_100k_from_bird2";
    let start = Instant::now();
    let n: u32 = std::env::var("BGPLAB_SCALE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let ns = lab.node("sender", &[(&lan, 1)], None).unwrap();
    let nd = lab.node("bgpd", &[(&lan, 2)], None).unwrap();
    let mut cs = Bird2Config::new(&ns, AS);
    cs.statics = (0..n).map(|i| format!("{} blackhole", nth26(i))).collect();
    let mut p = Bird2Peer::new("bgpd", nd.ip4(), AS);
    p.passive = true;
    cs.peers.push(p);
    let sender = cs.start(&ns).unwrap();
    let mut cd = BgpdConfig::new(&nd, AS);
    cd.peers.push(BgpdPeer::new("sender", ns.ip4(), AS));
    let bgpd = cd.start(&nd).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    let deadline = Duration::from_secs(120);
    let want = u64::from(n);
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "bgpd's RIB has every route",
        || {
            let (routes, networks) = bgpd.route_count()?;
            Ok(Observed::when(
                routes == want && networks == want,
                format!("{routes} routes, {networks} networks of {want}"),
            ))
        },
    )
    .unwrap();
    let rib_at = start.elapsed();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "bgpd's kernel has every route",
        || {
            let c = kernel::count(&nd.ns, Family::V4, "main", Some("bird"))?;
            Ok(Observed::when(c as u64 == want, format!("{c} of {want}")))
        },
    )
    .unwrap();
    let last = nth26(n - 1);
    let r = best(&bgpd, &last);
    assert_eq!(r.protocol, "sender", "{r:?}");
    let k = kernel::routes(&nd.ns, Family::V4, "main", Some("bird")).unwrap();
    assert_eq!(k.len(), n as usize);
    assert!(k
        .iter()
        .any(|r| r.dst == last && r.is_via(&ns.ip4().to_string(), "eth0", false)));
    let _ = sender;
    eprintln!(
        "bgpd-lab: {n} routes: in bgpd's RIB after {:.1}s, kernel after {:.1}s",
        rib_at.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
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
            let mut c = BgpdConfig::new(n, AS);
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
        let mut c = BgpdConfig::new(me, AS);
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
    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push("10.4.12.0/26 blackhole".into());
    cb.kernel = KernelExport::Plain;
    cb.peers.push(Bird2Peer::new("rr1", n1.ip4(), AS));
    cb.peers.push(Bird2Peer::new("rr2", n2.ip4(), AS));
    let bird = cb.start(&nb).unwrap();
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
    wait_observing(
        CONVERGE,
        POLL,
        "BIRD has FRR's route from rr1 and rr2",
        || {
            let rs = bird.ctl.routes("for 10.4.13.0/26")?;
            let from: BTreeSet<String> = rs.iter().map(|r| r.protocol.clone()).collect();
            Ok(Observed::when(from.len() == 2, format!("{from:?}")))
        },
    )
    .unwrap();
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
    let lan = lab.lan().unwrap();
    let nrr = lab.node("rr", &[(&lan, 10)], None).unwrap();
    let na = lab.node("gobgp-a", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("gobgp-b", &[(&lan, 12)], None).unwrap();
    let nd = lab.node("bgpd", &[(&lan, 13)], None).unwrap();
    let prefix = "10.8.0.0/24".to_string();

    let mut crr = Bird2Config::new(&nrr, AS);
    crr.rr_cluster_id = Some(Ipv4Addr::new(10, 255, 0, 2));
    for (name, node) in [("gobgp_a", &na), ("gobgp_b", &nb), ("bgpd", &nd)] {
        let mut p = Bird2Peer::new(name, node.ip4(), AS);
        p.rr_client = true;
        p.passive = true;
        p.add_paths = Some("tx".into());
        crr.peers.push(p);
    }
    let rr = crr.start(&nrr).unwrap();
    let mut gobgps = Vec::new();
    for node in [&na, &nb] {
        let mut c = GobgpConfig::new(node, AS);
        c.neighbors.push(GobgpNeighbor::new(nrr.ip4(), AS));
        c.announce.push(prefix.clone());
        gobgps.push(c.start(node).unwrap());
    }
    let mut cd = BgpdConfig::new(&nd, AS);
    let mut p = BgpdPeer::new("reflector", nrr.ip4(), AS);
    p.add_paths = Some("receive".into());
    cd.peers.push(p);
    let bgpd = cd.start(&nd).unwrap();

    wait_sessions(&rr, 3, CONVERGE).unwrap();
    let want_hops: BTreeSet<String> = [na.ip4().to_string(), nb.ip4().to_string()].into();
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

/// Whether every FRR path of `prefix` carries `stale` (graceful restart helper).
fn frr_stale(frr: &bgpd_lab::Frr, prefix: &str) -> bgpd_lab::Result<Observed> {
    let v = frr.route(Family::V4, prefix)?;
    let stale = v["paths"]
        .as_array()
        .is_some_and(|ps| !ps.is_empty() && ps.iter().all(|p| p["stale"] == true));
    Ok(Observed::when(stale, v.to_string()))
}

/// Scenario 6: graceful restart with BIRD 2 and FRR (iBGP). bgpd restarted with SIGTERM and
/// with SIGKILL: both peers keep its route as stale (birdc "Neighbor graceful restart active",
/// FRR's `stale`) and refresh it; bgpd's kernel never loses a peer's route meanwhile
/// (`RouteMonitor`). Then BIRD 2 and FRR are killed and restarted: bgpd keeps their routes
/// (stale in its JSON) and its kernel loses none while they are down.
#[test]
fn bgpd_graceful_restart() {
    let test = "bgpd_graceful_restart";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nd = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let (own, rb, rf) = ("10.6.11.0/26", "10.6.12.0/26", "10.6.13.0/26");
    let peer_routes = vec![rb.to_string(), rf.to_string()];

    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nd.ip4(), AS));
    cf.networks.push(rf.into());
    // Keep the Forwarding State bit set after a restart (RFC 4724), as `bird -R` does.
    cf.router_extra
        .push(" bgp graceful-restart preserve-fw-state".into());
    let mut frr = cf.start(&nf).unwrap();
    wait_learns(&frr, Family::V4, &[rf.into()], CONVERGE).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push(format!("{rb} blackhole"));
    cb.kernel = KernelExport::Plain;
    cb.peers.push(Bird2Peer::new("bgpd", nd.ip4(), AS));
    let mut bird = cb.start(&nb).unwrap();
    let mut cd = BgpdConfig::new(&nd, AS);
    cd.blackhole_blocks.push(own.into());
    for (name, n) in [("bird2", &nb), ("frr", &nf)] {
        let mut p = BgpdPeer::new(name, n.ip4(), AS);
        p.passive = true;
        cd.peers.push(p);
    }
    let mut bgpd = cd.start(&nd).unwrap();

    let converged = |bgpd: &Bgpd, bird: &bgpd_lab::Bird, frr: &bgpd_lab::Frr| {
        wait_sessions(bgpd, 2, CONVERGE).unwrap();
        wait_learns(bgpd, Family::V4, &peer_routes, CONVERGE).unwrap();
        // iBGP without reflection: each peer learns bgpd's own route only.
        wait_learns(bird, Family::V4, &[own.into()], CONVERGE).unwrap();
        wait_learns(frr, Family::V4, &[own.into()], CONVERGE).unwrap();
        wait_observing(
            CONVERGE,
            POLL,
            "bgpd's kernel has both peers' routes",
            || {
                let k = kernel::routes(&nd.ns, Family::V4, "main", Some("bird"))?;
                let ok = k
                    .iter()
                    .any(|r| r.dst == rb && r.is_via(&nb.ip4().to_string(), "eth0", false))
                    && k.iter()
                        .any(|r| r.dst == rf && r.is_via(&nf.ip4().to_string(), "eth0", false));
                Ok(Observed::when(ok, render(&k)))
            },
        )
        .unwrap();
    };
    converged(&bgpd, &bird, &frr);

    // bgpd restarts: graceful (SIGTERM) and crash (SIGKILL).
    for (signal, how) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
        let monitor =
            RouteMonitor::start(&nd.ns, &nd.path(&format!("ip-monitor-{how}.log"))).unwrap();
        bgpd.stop(signal).unwrap();
        wait_observing(
            Duration::from_secs(20),
            POLL,
            &format!("BIRD in GR for bgpd ({how})"),
            || {
                let s = bird.ctl.bgp_states()?;
                let down = s.get("bgpd").is_some_and(|s| s != "Established");
                Ok(Observed::when(
                    down && bird.ctl.graceful_restart_active("bgpd")?,
                    format!("{s:?}"),
                ))
            },
        )
        .unwrap();
        wait_observing(
            Duration::from_secs(20),
            POLL,
            &format!("FRR keeps bgpd's route stale ({how})"),
            || frr_stale(&frr, own),
        )
        .unwrap();
        assert!(
            bird.prefixes(Family::V4)
                .unwrap()
                .contains(&own.to_string()),
            "BIRD dropped bgpd's route during its restart ({how})"
        );
        bgpd.start_again().unwrap();
        converged(&bgpd, &bird, &frr);
        // The peers refreshed bgpd's route: GR over, nothing stale.
        wait_observing(CONVERGE, POLL, &format!("peers out of GR ({how})"), || {
            let b = bird.ctl.graceful_restart_active("bgpd")?;
            let f = frr_stale(&frr, own)?;
            Ok(Observed::when(
                !b && !f.done,
                format!("BIRD GR {b}; FRR {}", f.state),
            ))
        })
        .unwrap();
        // bgpd's own recovery ends (every peer sent End-of-RIB): nothing was swept or lost.
        wait_observing(
            CONVERGE,
            POLL,
            &format!("bgpd's GR recovery over ({how})"),
            || {
                let s = bgpd.status()?;
                Ok(Observed::when(
                    s["graceful_restart"].is_null(),
                    s.to_string(),
                ))
            },
        )
        .unwrap();
        let gone = monitor.deletions_of(&peer_routes).unwrap();
        assert!(
            gone.is_empty(),
            "bgpd's kernel lost a route during its own restart ({how}): {gone:?}"
        );
        monitor.stop();
    }

    // The reverse: BIRD 2 crashes and comes back; then FRR.
    let monitor = RouteMonitor::start(&nd.ns, &nd.path("ip-monitor-peers.log")).unwrap();
    bird.stop(libc::SIGKILL).unwrap();
    wait_observing(
        Duration::from_secs(20),
        POLL,
        "bgpd keeps BIRD's route stale",
        || {
            let ps = bgpd.protocols()?;
            let gr = ps.iter().any(|p| {
                p.name == "bird2"
                    && p.bgp
                        .as_ref()
                        .is_some_and(|b| b.graceful_restart_stale && b.state != "Established")
            });
            let rs = bgpd.route(rb)?;
            let stale = rs.iter().any(|r| r.primary && r.stale);
            Ok(Observed::when(gr && stale, format!("{ps:?} {rs:?}")))
        },
    )
    .unwrap();
    // BIRD comes back as calico-node starts it, `bird -R` (graceful-restart recovery): without
    // -R, BIRD's OPEN has the Forwarding State bit clear and RFC 4724 4.2 makes the helper
    // drop the stale routes at once (bgpd does; seen in the pcap of a run without -R).
    let (daemon, _) = bird.version.binaries();
    let _ = std::fs::remove_file(&bird.ctl.socket);
    let argv = cmd::in_netns(
        Some(&nb.ns),
        &daemon.to_string_lossy(),
        &[
            "-f",
            "-R",
            "-c",
            &bird.config.to_string_lossy(),
            "-s",
            &bird.ctl.socket.to_string_lossy(),
            "-P",
            &nb.path("bird.pid").to_string_lossy(),
        ],
    );
    let mut bird_r = Process::spawn("bird-R@bird2", &argv, &nb.path("bird-stdout.R.log")).unwrap();
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        "BIRD -R answers",
        || {
            bird_r.ensure_running()?;
            Ok(bird.ctl.cmd("show status").is_ok())
        },
    )
    .unwrap();
    converged(&bgpd, &bird, &frr);
    wait_observing(CONVERGE, POLL, "BIRD's route refreshed in bgpd", || {
        let rs = bgpd.route(rb)?;
        Ok(Observed::when(
            rs.iter().any(|r| r.primary && !r.stale),
            format!("{rs:?}"),
        ))
    })
    .unwrap();
    let gone = monitor.deletions_of(&[rb.to_string()]).unwrap();
    assert!(
        gone.is_empty(),
        "bgpd's kernel lost BIRD's route over BIRD's restart: {gone:?}"
    );

    frr.stop(libc::SIGKILL).unwrap();
    wait_observing(
        Duration::from_secs(20),
        POLL,
        "bgpd keeps FRR's route stale",
        || {
            let rs = bgpd.route(rf)?;
            let ps = bgpd.protocols()?;
            let down = ps.iter().any(|p| {
                p.name == "frr" && p.bgp.as_ref().is_some_and(|b| b.state != "Established")
            });
            Ok(Observed::when(
                down && rs.iter().any(|r| r.primary && r.stale),
                format!("{rs:?}"),
            ))
        },
    )
    .unwrap();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        assert!(
            bgpd.prefixes(Family::V4).unwrap().contains(&rf.to_string()),
            "bgpd dropped FRR's route while FRR was down"
        );
        std::thread::sleep(POLL);
    }
    let gone = monitor.deletions_of(&[rf.to_string()]).unwrap();
    assert!(
        gone.is_empty(),
        "bgpd's kernel lost FRR's route while FRR was down: {gone:?}"
    );
    monitor.clear().unwrap();
    frr.start_again().unwrap();
    converged(&bgpd, &bird, &frr);
    // With `preserve-fw-state` FRR's new OPEN keeps the Forwarding State bit, and no premature
    // End-of-RIB flap (lab README, pitfalls) was seen in any run: bgpd must not drop FRR's
    // route from its kernel across the whole restart either.
    wait_observing(CONVERGE, POLL, "FRR's route refreshed in bgpd", || {
        let rs = bgpd.route(rf)?;
        Ok(Observed::when(
            rs.iter().any(|r| r.primary && !r.stale),
            format!("{rs:?}"),
        ))
    })
    .unwrap();
    let flap = monitor.deletions_of(&[rf.to_string()]).unwrap();
    assert!(
        flap.is_empty(),
        "bgpd's kernel lost FRR's route over FRR's restart: {flap:?}"
    );
    monitor.stop();
    report(test, start);
}

/// Scenario 1, cross-subnet across a router: bgpd (pool `cross-subnet`) on subnet 0 with BIRD 2
/// on subnet 0 and FRR on subnet 1 behind a router (iBGP, multihop): BIRD 2's block directly
/// `via NODE dev eth0`, FRR's block `via NODE dev tunl0 onlink`.
#[test]
fn bgpd_cross_subnet_routed() {
    let test = "bgpd_cross_subnet_routed";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan0 = lab.lan().unwrap();
    let lan1 = lab
        .bridge(
            "lan1",
            Ipv4Addr::new(172, 31, 1, 0),
            "fd00:31:1::".parse().unwrap(),
        )
        .unwrap();
    let r = lab.node("router", &[(&lan0, 1), (&lan1, 1)], None).unwrap();
    r.enable_forwarding().unwrap();
    let nd = lab
        .node("bgpd", &[(&lan0, 11)], Some(Ipv4Addr::new(10, 244, 11, 1)))
        .unwrap();
    let nb = lab
        .node("bird2", &[(&lan0, 12)], Some(Ipv4Addr::new(10, 244, 12, 1)))
        .unwrap();
    let nf = lab
        .node("frr", &[(&lan1, 14)], Some(Ipv4Addr::new(10, 244, 14, 1)))
        .unwrap();
    for n in [&nd, &nb] {
        n.add_route(&lan1.prefix4(), lan0.v4(1).into()).unwrap();
    }
    nf.add_route(&lan0.prefix4(), lan1.v4(1).into()).unwrap();

    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nd.ip4(), AS));
    cf.networks.push(block(14));
    let frr = cf.start(&nf).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push(format!("{} blackhole", block(12)));
    cb.peers.push(Bird2Peer::new("bgpd", nd.ip4(), AS));
    let bird = cb.start(&nb).unwrap();
    let mut cd = BgpdConfig::new(&nd, AS);
    cd.tunnel = Some("tunl0".into());
    cd.pools.push(BgpdPool {
        cidr: "10.244.0.0/16".into(),
        ipip: "cross-subnet".into(),
    });
    cd.blackhole_blocks.push(block(11));
    for (name, n) in [("bird2", &nb), ("frr", &nf)] {
        let mut p = BgpdPeer::new(name, n.ip4(), AS);
        p.passive = true;
        cd.peers.push(p);
    }
    let bgpd = cd.start(&nd).unwrap();

    wait_sessions(&bgpd, 2, CONVERGE).unwrap();
    let all = vec![block(11), block(12), block(14)];
    wait_learns(&bgpd, Family::V4, &all, CONVERGE).unwrap();
    wait_learns(&bird, Family::V4, &[block(11)], CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &[block(11)], CONVERGE).unwrap();
    wait_observing(
        CONVERGE,
        POLL,
        "bgpd's kernel: same subnet direct on eth0, other subnet via tunl0 onlink",
        || {
            let k = kernel::routes(&nd.ns, Family::V4, "main", Some("bird"))?;
            let ok = k.iter().any(|r| r.dst == block(11) && r.is_blackhole())
                && k.iter()
                    .any(|r| r.dst == block(12) && r.is_via(&nb.ip4().to_string(), "eth0", false))
                && k.iter()
                    .any(|r| r.dst == block(14) && r.is_via(&nf.ip4().to_string(), "tunl0", true));
            Ok(Observed::when(ok, render(&k)))
        },
    )
    .unwrap();
    report(test, start);
}

//! Calico-style meshes: bgpd with BIRD 1.6, BIRD 2 and FRR on one subnet (IP-in-IP always
//! and cross-subnet), and cross-subnet across a router.

use std::net::Ipv4Addr;

use super::*;

/// Scenario 1: Calico-style iBGP full mesh of bgpd, BIRD 1.6 (calico-node config), BIRD 2 and
/// FRR, one AS, one shared subnet, each announcing its /26 block; bgpd's pool 10.244.0.0/16 is
/// IP-in-IP `ipip` (`always`: `via NODE dev tunl0 onlink`; `cross-subnet`: the shared subnet is
/// on-link, so `via NODE dev eth0`).
fn calico_mesh(test: &str, ipip: &str) {
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let hosts: [(&str, u8); 4] = [("bgpd", 11), ("bird16", 12), ("bird2", 13), ("frr", 14)];
    let MeshNodes { nodes, ips, blocks } = mesh_nodes(&mut lab, &hosts).unwrap();
    let (nb, n16, n2, nfrr) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // bgpd: Calico's shape (pool, blackhole block, tunl0, Mesh_<ip> peers, passive rule).
    let mut cb = bgpd_config(nb, AS);
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
    let mut c2 = calico_bird2(n2, &blocks[2]);
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

    wait_converged(&[&bgpd, &b16, &b2, &frr], 3, Family::V4, &blocks).unwrap();

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
    let mut cd = bgpd_config(&nd, AS);
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

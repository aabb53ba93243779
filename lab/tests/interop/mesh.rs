//! Calico-style meshes with real peers: four daemons on one subnet, and two subnets joined
//! by a router.

use super::*;

/// (a) Calico-style iBGP full mesh: BIRD 1.6 (calico-node config), BIRD 2, FRR, GoBGP, one
/// AS, one shared subnet, each node announcing its /26 block.
#[test]
fn calico_mesh_four_daemons() {
    let start = Instant::now();
    let mut lab = Lab::new("calico_mesh_four_daemons").unwrap();
    let hosts: [(&str, u8); 4] = [("bird16", 11), ("bird2", 12), ("frr", 13), ("gobgp", 14)];
    let MeshNodes { nodes, ips, blocks } = mesh_nodes(&mut lab, &hosts).unwrap();
    let (n16, n2, nfrr, ngo) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // BIRD 1.6 with a calico-node config.
    let tunnel = TunnelSupport::detect(lab.artefacts());
    let b16 = CalicoBird16Config::new(n16, AS, &blocks[0], "10.244.0.0/16", &ips, tunnel)
        .start(n16)
        .unwrap();

    // BIRD 2: same roles, Calico's krt_tunnel emulated with ifname/onlink/gw.
    let mut c2 = calico_bird2(n2, &blocks[1]);
    // FRR and GoBGP.
    let mut cf = FrrConfig::new(nfrr, AS);
    cf.networks.push(blocks[2].clone());
    let mut cg = GobgpConfig::new(ngo, AS);
    cg.announce.push(blocks[3].clone());
    for (i, peer) in ips.iter().enumerate() {
        for (j, me) in [(1, n2), (2, nfrr), (3, ngo)] {
            if i == j {
                continue;
            }
            let passive = calico_passive(&me.ip4().to_string(), &peer.to_string());
            match j {
                1 => {
                    let mut p = Bird2Peer::new(&mesh_name(&peer.to_string()), *peer, AS);
                    p.passive = passive;
                    p.export = "where source = RTS_STATIC".into();
                    c2.peers.push(p);
                }
                2 => {
                    let mut n = FrrNeighbor::new(*peer, AS);
                    n.passive = passive;
                    cf.neighbors.push(n);
                }
                _ => {
                    let mut n = GobgpNeighbor::new(*peer, AS);
                    n.passive = passive;
                    cg.neighbors.push(n);
                }
            }
        }
    }
    let b2 = c2.start(n2).unwrap();
    let frr = cf.start(nfrr).unwrap();
    let gobgp = cg.start(ngo).unwrap();

    wait_converged(&[&b16, &b2, &frr, &gobgp], 3, Family::V4, &blocks).unwrap();

    // BIRD 1.6 learned each block from its owner, next hop = the owner's address.
    let routes = b16.ctl.routes("").unwrap();
    for (k, b) in blocks.iter().enumerate().skip(1) {
        let r = routes.iter().find(|r| &r.prefix == b && r.primary).unwrap();
        assert_eq!(r.protocol, mesh_name(&ips[k].to_string()), "{r:?}");
        assert_eq!(
            r.attr("next_hop"),
            Some(ips[k].to_string().as_str()),
            "{r:?}"
        );
    }

    // Kernel of BIRD 1.6: own block blackholed, the others' blocks via their node (through
    // tunl0 onlink with Calico's fork; on the shared interface with upstream 1.6.8).
    let (dev, onlink) = match tunnel {
        TunnelSupport::CalicoFork => ("tunl0", true),
        TunnelSupport::Upstream => ("eth0", false),
    };
    wait_kernel(&n16.ns, &blocks, &ips, 0, dev, onlink);
    // Kernel of BIRD 2: the Calico IP-in-IP shape `via NODE dev tunl0 onlink proto bird`.
    wait_kernel(&n2.ns, &blocks, &ips, 1, "tunl0", true);
    // FRR (zebra) installs the blocks too, `proto bgp`, on the shared interface.
    wait_observing(
        CONVERGE,
        POLL,
        "FRR's kernel has the others' blocks (proto bgp)",
        || {
            let k = kernel::routes(&nfrr.ns, Family::V4, "main", Some("bgp"))?;
            let ok = [0usize, 1, 3].iter().all(|&i| {
                k.iter()
                    .any(|r| r.dst == blocks[i] && r.is_via(&ips[i].to_string(), "eth0", false))
            });
            Ok(Observed::when(ok, render(&k)))
        },
    )
    .unwrap();
    report("calico_mesh_four_daemons", start);
}

/// Waits until namespace `ns` has, `proto bird`: a blackhole for block `own`, and every other
/// block `via NODE dev DEV [onlink]`.
fn wait_kernel(ns: &str, blocks: &[String], ips: &[Ipv4Addr], own: usize, dev: &str, onlink: bool) {
    let desc = format!(
        "kernel of {ns}: blackhole {} and the others' blocks via NODE dev {dev}{} proto bird",
        blocks[own],
        if onlink { " onlink" } else { "" }
    );
    wait_observing(CONVERGE, POLL, &desc, || {
        let k = kernel::routes(ns, Family::V4, "main", Some("bird"))?;
        let mut ok = k.iter().any(|r| r.dst == blocks[own] && r.is_blackhole());
        for (i, b) in blocks.iter().enumerate() {
            if i != own {
                ok &= k.iter().any(|r| {
                    &r.dst == b
                        && r.is_via(&ips[i].to_string(), dev, onlink)
                        && r.protocol.as_deref() == Some("bird")
                });
            }
        }
        Ok(Observed::when(ok, render(&k)))
    })
    .unwrap();
}

/// Two subnets joined by a router node: the cross-subnet building block. GoBGP (subnet 0),
/// FRR (subnet 1) and BIRD 2 (subnet 0, Calico cross-subnet kernel export) in an iBGP mesh
/// across the router: FRR resolves next hops through the kernel route to the other subnet, and
/// BIRD 2 installs GoBGP's block directly on eth0 (same subnet) and FRR's through
/// `tunl0 onlink` (other subnet) — the shape bgpd must produce with `cross_subnet`.
#[test]
fn routed_subnets() {
    let start = Instant::now();
    let mut lab = Lab::new("routed_subnets").unwrap();
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
    let a = lab.node("gobgp", &[(&lan0, 12)], None).unwrap();
    let c = lab
        .node("bird2", &[(&lan0, 13)], Some(Ipv4Addr::new(10, 1, 13, 1)))
        .unwrap();
    let b = lab.node("frr", &[(&lan1, 14)], None).unwrap();
    for n in [&a, &c] {
        n.add_route(&lan1.prefix4(), lan0.v4(1).into()).unwrap();
        n.add_route(&lan1.prefix6(), lan0.v6(1).into()).unwrap();
    }
    b.add_route(&lan0.prefix4(), lan1.v4(1).into()).unwrap();
    b.add_route(&lan0.prefix6(), lan1.v6(1).into()).unwrap();

    let mut cf = FrrConfig::new(&b, AS);
    cf.neighbors.push(FrrNeighbor::new(a.ip4(), AS));
    cf.neighbors.push(FrrNeighbor::new(c.ip4(), AS));
    cf.networks.push("10.1.14.0/26".into());
    let frr = cf.start(&b).unwrap();
    let mut cg = GobgpConfig::new(&a, AS);
    cg.neighbors.push(GobgpNeighbor::new(b.ip4(), AS));
    cg.neighbors.push(GobgpNeighbor::new(c.ip4(), AS));
    cg.announce.push("10.1.12.0/26".into());
    let gobgp = cg.start(&a).unwrap();
    let mut cb = Bird2Config::new(&c, AS);
    cb.kernel = KernelExport::Tunnel {
        dev: "tunl0".into(),
        direct_subnet: Some(lan0.prefix4()),
    };
    cb.kernel_learn = true;
    cb.peers.push(Bird2Peer::new("gobgp", a.ip4(), AS));
    let mut p = Bird2Peer::new("frr", b.ip4(), AS);
    p.multihop = true;
    cb.peers.push(p);
    let bird = cb.start(&c).unwrap();

    wait_sessions(&frr, 2, CONVERGE).unwrap();
    wait_sessions(&bird, 2, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &["10.1.12.0/26".into()], CONVERGE).unwrap();
    let both = vec!["10.1.12.0/26".to_string(), "10.1.14.0/26".to_string()];
    wait_learns(&bird, Family::V4, &both, CONVERGE).unwrap();
    wait_learns(&gobgp, Family::V4, &both, CONVERGE).unwrap();
    wait_observing(
        CONVERGE,
        POLL,
        "BIRD 2's kernel: same subnet direct, other subnet via tunl0 onlink",
        || {
            let k = kernel::routes(&c.ns, Family::V4, "main", Some("bird"))?;
            let ok = k
                .iter()
                .any(|r| r.dst == both[0] && r.is_via(&a.ip4().to_string(), "eth0", false))
                && k.iter()
                    .any(|r| r.dst == both[1] && r.is_via(&b.ip4().to_string(), "tunl0", true));
            Ok(Observed::when(ok, render(&k)))
        },
    )
    .unwrap();
    report("routed_subnets", start);
}

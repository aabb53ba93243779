//! The lab proved against real peers only (BIRD 1.6, BIRD 2, FRR, GoBGP): these tests exercise
//! every node kind, the kernel assertions, the capture and the failure path of the harness.
//! Run as root: `cargo test -p bgpd-lab -- --test-threads=1` (labs also serialise themselves).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgpd_lab::bird16::{calico_passive, mesh_name};
use bgpd_lab::kernel::RouteMonitor;
use bgpd_lab::kernel::{self, render};
use bgpd_lab::{
    cmd, wait_exactly, wait_learns, wait_observing, wait_sessions, wait_until, Bgpd, BgpdConfig,
    BgpdPeer, Bird, Bird2Config, Bird2Peer, CalicoBird16Config, Family, FrrConfig, FrrNeighbor,
    GobgpConfig, GobgpNeighbor, KernelExport, Lab, Observed, TunnelSupport,
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

/// (a) Calico-style iBGP full mesh: BIRD 1.6 (calico-node config), BIRD 2, FRR, GoBGP, one
/// AS, one shared subnet, each node announcing its /26 block.
#[test]
fn calico_mesh_four_daemons() {
    let start = Instant::now();
    let mut lab = Lab::new("calico_mesh_four_daemons").unwrap();
    let lan = lab.lan().unwrap();
    let hosts: [(&str, u8); 4] = [("bird16", 11), ("bird2", 12), ("frr", 13), ("gobgp", 14)];
    let nodes: Vec<_> = hosts
        .iter()
        .map(|(name, h)| {
            lab.node(name, &[(&lan, *h)], Some(Ipv4Addr::new(10, 244, *h, 1)))
                .unwrap()
        })
        .collect();
    let ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip4()).collect();
    let blocks: Vec<String> = hosts.iter().map(|(_, h)| block(*h)).collect();
    let (n16, n2, nfrr, ngo) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // BIRD 1.6 with a calico-node config.
    let tunnel = TunnelSupport::detect(lab.artefacts());
    let b16 = CalicoBird16Config::new(n16, AS, &blocks[0], "10.244.0.0/16", &ips, tunnel)
        .start(n16)
        .unwrap();

    // BIRD 2: same roles, Calico's krt_tunnel emulated with ifname/onlink/gw.
    let mut c2 = Bird2Config::new(n2, AS);
    c2.statics.push(format!("{} blackhole", blocks[1]));
    c2.kernel = KernelExport::Tunnel {
        dev: "tunl0".into(),
        direct_subnet: None,
    };
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

    wait_sessions(&b16, 3, CONVERGE).unwrap();
    wait_sessions(&b2, 3, CONVERGE).unwrap();
    wait_sessions(&frr, 3, CONVERGE).unwrap();
    wait_sessions(&gobgp, 3, CONVERGE).unwrap();

    wait_learns(&b16, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&b2, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&frr, Family::V4, &blocks, CONVERGE).unwrap();
    wait_learns(&gobgp, Family::V4, &blocks, CONVERGE).unwrap();

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
        let f = frr.neighbor_states().unwrap();
        assert_ne!(
            b.get("frr").map(String::as_str),
            Some("Established"),
            "wrong password established: {b:?}"
        );
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
    // The kernel saw the bad segments: BIRD's own TCP counters or its log say why it fails.
    let b = bad.ctl.bgp_states().unwrap();
    eprintln!("bgpd-lab: wrong-password session state after the window: {b:?}");
    report("tcp_md5_frr_bird2", start);
}

/// (d) The harness's failure path: a failing check inside `catch_unwind` leaves the artefact
/// directory (configs, logs, pcap with the BGP session, kernel dumps, daemon state dumps) and
/// no namespace or process behind.
#[test]
fn harness_failure_path() {
    let start = Instant::now();
    let mut seen: Option<(PathBuf, String, Vec<u32>)> = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lab = Lab::new("harness_failure_path").unwrap();
        let lan = lab.lan().unwrap();
        let na = lab.node("bird2", &[(&lan, 1)], None).unwrap();
        let nb = lab.node("frr", &[(&lan, 2)], None).unwrap();
        let mut cf = FrrConfig::new(&nb, AS);
        let mut n = FrrNeighbor::new(na.ip4(), AS);
        n.passive = true;
        cf.neighbors.push(n);
        cf.networks.push("10.1.2.0/26".into());
        let mut frr = cf.start(&nb).unwrap();
        let mut cb = Bird2Config::new(&na, AS);
        cb.peers.push(Bird2Peer::new("frr", nb.ip4(), AS));
        let mut bird = cb.start(&na).unwrap();
        wait_until(CONVERGE, POLL, "session up", || {
            Ok(bird.established()?.len() == 1)
        })
        .unwrap();
        let _ = &mut frr;
        let mut pids: Vec<u32> = vec![bird.process().unwrap().pid()];
        pids.extend(lab.capture_pid());
        for ns in lab.namespaces() {
            pids.extend(bgpd_lab::lab::netns_pids(ns).into_iter().map(|p| p as u32));
        }
        seen = Some((
            lab.artefacts().to_path_buf(),
            lab.prefix().to_string(),
            pids,
        ));
        // The deliberate failure: a condition that never holds.
        wait_until(
            Duration::from_millis(600),
            Duration::from_millis(100),
            "a condition that never holds",
            || Ok(false),
        )
        .unwrap();
    }));
    let err = result.expect_err("the closure must fail");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("timed out") && msg.contains("a condition that never holds"),
        "{msg}"
    );
    let (dir, prefix, pids) = seen.expect("the lab came up");

    // Nothing left behind.
    let left: Vec<String> = bgpd_lab::lab::lab_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(pids.len() >= 4, "{pids:?}");
    for pid in &pids {
        assert!(
            !PathBuf::from(format!("/proc/{pid}")).exists(),
            "process {pid} still exists"
        );
    }
    // Artefacts kept: configs, logs, state dumps, kernel dumps, and a pcap holding the OPENs.
    for f in [
        "bgp.pcap",
        "netns-bird2.txt",
        "netns-frr.txt",
        "bird2/bird.conf",
        "bird2/bird.log",
        "bird2/birdc-protocols.txt",
        "bird2/kernel.txt",
        "frr/frr.conf",
        "frr/bgpd.log",
        "frr/zebra.log",
        "frr/vtysh-state.txt",
    ] {
        let p = dir.join(f);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 0),
            "artefact {} missing or empty",
            p.display()
        );
    }
    let opens = cmd::run(
        None,
        "tshark",
        &[
            "-r",
            &dir.join("bgp.pcap").to_string_lossy(),
            "-Y",
            "bgp.type == 1",
            "-T",
            "fields",
            "-e",
            "ip.src",
        ],
    )
    .unwrap();
    let srcs: BTreeSet<&str> = opens.lines().collect();
    assert!(
        srcs.contains("172.31.0.1") && srcs.contains("172.31.0.2"),
        "OPENs in the pcap from: {srcs:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    report("harness_failure_path", start);
}

/// The sweep at the start of a run: a namespace left by a crashed run (its pid is dead), with
/// a process still inside, and that run's FRR pathspace directory are removed; so is one whose
/// pid was reused (lock file free); a live run's namespace (lock held) is kept.
#[test]
fn stale_lab_sweep() {
    let start = Instant::now();
    bgpd_lab::lab::require_root().unwrap();
    // A pid that is surely dead: a child that has exited and been reaped.
    let mut t = std::process::Command::new("true").spawn().unwrap();
    let dead = t.id();
    t.wait().unwrap();
    let ns = format!("bgplab-{dead}-0-stale");
    cmd::ip(&["netns", "add", &ns]).unwrap();
    let mut sleeper = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "300"])
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        "sleeper inside the namespace",
        || Ok(!bgpd_lab::lab::netns_pids(&ns).is_empty()),
    )
    .unwrap();
    let frr_dir = PathBuf::from(bgpd_lab::frr::FRR_RUN_DIR).join(&ns);
    std::fs::create_dir_all(&frr_dir).unwrap();
    // A run whose pid was reused by an unrelated live process (here: the sleeper): its lock
    // file exists but nobody holds it.
    let reused = format!("bgplab-{}-0-reused", sleeper.id());
    cmd::ip(&["netns", "add", &reused]).unwrap();
    let lock_dir = PathBuf::from(bgpd_lab::lab::LOCK_DIR);
    std::fs::create_dir_all(&lock_dir).unwrap();
    let reused_lock = lock_dir.join(format!("{}.lock", sleeper.id()));
    std::fs::write(&reused_lock, "").unwrap();
    // A live run (its lock is held), even though its pid is not a process we can see.
    let mut t2 = std::process::Command::new("true").spawn().unwrap();
    let live_pid = t2.id();
    t2.wait().unwrap();
    let live = format!("bgplab-{live_pid}-0-live");
    cmd::ip(&["netns", "add", &live]).unwrap();
    let live_lock_path = lock_dir.join(format!("{live_pid}.lock"));
    let live_lock = std::fs::File::create(&live_lock_path).unwrap();
    // SAFETY: flock on a descriptor we own (a separate open file description from the sweep's).
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&live_lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(rc, 0);

    bgpd_lab::lab::sweep_stale();

    let left = bgpd_lab::lab::lab_namespaces();
    assert!(!left.contains(&reused), "{reused} survived the sweep");
    assert!(!reused_lock.exists(), "{} survived", reused_lock.display());
    assert!(
        left.contains(&live),
        "the sweep removed a live run's {live}"
    );
    cmd::ip(&["netns", "del", &live]).unwrap();
    drop(live_lock);
    std::fs::remove_file(&live_lock_path).unwrap();

    assert!(
        !bgpd_lab::lab::lab_namespaces().contains(&ns),
        "{ns} survived the sweep"
    );
    assert!(
        !frr_dir.exists(),
        "{} survived the sweep",
        frr_dir.display()
    );
    let mut status = None;
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        "the stale process was killed",
        || {
            status = sleeper.try_wait()?;
            Ok(status.is_some())
        },
    )
    .unwrap();
    assert!(!status.unwrap().success());
    report("stale_lab_sweep", start);
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

/// The `Bgpd` driver's plumbing, against a stand-in script (tests/fixtures/bgpd-stand-in.sh)
/// that answers the CLI with canned JSON in `bgpd/src/status.rs` shapes: config written, argv
/// (`-c`, `-s`) and namespace right, readiness, `Speaker` waits, SIGTERM stop and restart.
/// Replace with real scenarios once the daemon runs.
#[test]
fn bgpd_driver_with_stand_in() {
    let start = Instant::now();
    let mut lab = Lab::new("bgpd_driver_with_stand_in").unwrap();
    let lan = lab.lan().unwrap();
    let n = lab
        .node("bgpd", &[(&lan, 12)], Some(Ipv4Addr::new(10, 244, 12, 1)))
        .unwrap();
    let mut cfg = BgpdConfig::new(&n, AS);
    cfg.tunnel = Some("tunl0".into());
    cfg.blackhole_blocks.push("10.244.12.0/26".into());
    cfg.peers
        .push(BgpdPeer::new("Mesh_172_31_0_13", lan.v4(13), AS));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bgpd-stand-in.sh");
    let mut bgpd = Bgpd::start_with(&n, &cfg.render(), script).unwrap();
    assert!(std::fs::read_to_string(&bgpd.config)
        .unwrap()
        .contains("Mesh_172_31_0_13"));
    // It ran inside the node's namespace.
    let ns_inode = cmd::run(Some(&n.ns), "readlink", &["/proc/self/ns/net"]).unwrap();
    let log = std::fs::read_to_string(n.path("bgpd.1.log")).unwrap();
    assert!(log.contains(ns_inode.trim()), "{log} vs {ns_inode}");

    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    wait_learns(&bgpd, Family::V4, &[block(13), block(12)], CONVERGE).unwrap();
    let routes = bgpd.routes().unwrap();
    assert_eq!(routes[0].dest["nexthops"][0][1], "tunl0");
    let protos = bgpd.protocols().unwrap();
    assert_eq!(protos[1].routes.exported, 2);

    bgpd.stop(libc::SIGTERM).unwrap();
    assert!(
        bgpd.established().is_err(),
        "the CLI must fail while the daemon is down"
    );
    bgpd.start_again().unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    assert!(n.path("bgpd.2.log").exists());
    report("bgpd_driver_with_stand_in", start);
}

/// ADD-PATH and ECMP with real peers (scenario 8 with FRR in bgpd's place): BIRD 2 as route
/// reflector with `add paths tx` sends both paths of a prefix announced by two GoBGP clients to
/// an FRR client, which installs the ECMP set in its kernel.
#[test]
fn bird2_rr_add_paths_ecmp() {
    let start = Instant::now();
    let mut lab = Lab::new("bird2_rr_add_paths_ecmp").unwrap();
    let lan = lab.lan().unwrap();
    let nrr = lab.node("rr", &[(&lan, 10)], None).unwrap();
    let na = lab.node("gobgp-a", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("gobgp-b", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let prefix = "10.8.0.0/24".to_string();

    let mut crr = Bird2Config::new(&nrr, AS);
    crr.rr_cluster_id = Some(Ipv4Addr::new(10, 255, 0, 2));
    for (name, node) in [("gobgp_a", &na), ("gobgp_b", &nb), ("frr", &nf)] {
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
    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nrr.ip4(), AS));
    cf.maximum_paths = Some(4);
    let frr = cf.start(&nf).unwrap();

    wait_sessions(&rr, 3, CONVERGE).unwrap();
    // FRR receives two paths for the prefix (ADD-PATH ids), one per GoBGP next hop.
    let want_hops: BTreeSet<String> = [na.ip4().to_string(), nb.ip4().to_string()].into();
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

/// Scale smoke with real peers only (scenario 10 with BIRD 2 in bgpd's place): 100k routes
/// (`BGPLAB_SCALE_ROUTES` to change) from one BIRD 2 reach another BIRD 2's RIB and kernel;
/// proves the harness's counting helpers and deadlines at that size.
#[test]
fn scale_bird2_100k() {
    let start = Instant::now();
    let n: u32 = std::env::var("BGPLAB_SCALE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut lab = Lab::heavy("scale_bird2_100k").unwrap();
    let lan = lab.lan().unwrap();
    let ns = lab.node("sender", &[(&lan, 1)], None).unwrap();
    let nr = lab.node("receiver", &[(&lan, 2)], None).unwrap();
    let mut cs = Bird2Config::new(&ns, AS);
    // /26 blocks of 10.0.0.0/8, in order.
    cs.statics = (0..n)
        .map(|i| {
            format!(
                "10.{}.{}.{}/26 blackhole",
                i >> 10,
                (i >> 2) & 255,
                (i & 3) * 64
            )
        })
        .collect();
    let mut p = Bird2Peer::new("receiver", nr.ip4(), AS);
    p.passive = true;
    cs.peers.push(p);
    let sender = cs.start(&ns).unwrap();
    let mut cr = Bird2Config::new(&nr, AS);
    cr.kernel = KernelExport::Plain;
    cr.peers.push(Bird2Peer::new("sender", ns.ip4(), AS));
    let receiver = cr.start(&nr).unwrap();
    wait_sessions(&receiver, 1, CONVERGE).unwrap();
    let deadline = Duration::from_secs(120);
    let want = u64::from(n);
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "receiver's RIB has every route",
        || {
            let c = receiver.ctl.route_count("table master4 protocol sender")?;
            Ok(Observed::when(c == want, format!("{c} of {want}")))
        },
    )
    .unwrap();
    let rib_at = start.elapsed();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "receiver's kernel has every route",
        || {
            let c = kernel::count(&nr.ns, Family::V4, "main", Some("bird"))?;
            Ok(Observed::when(c as u64 == want, format!("{c} of {want}")))
        },
    )
    .unwrap();
    // Spot check through the full parsers: the last route, in the RIB and in the kernel.
    let last = format!(
        "10.{}.{}.{}/26",
        (n - 1) >> 10,
        ((n - 1) >> 2) & 255,
        ((n - 1) & 3) * 64
    );
    let r = receiver.ctl.routes(&format!("for {last}")).unwrap();
    assert!(r.iter().any(|r| r.prefix == last && r.primary), "{r:?}");
    let k = kernel::routes(&nr.ns, Family::V4, "main", Some("bird")).unwrap();
    assert_eq!(k.len(), n as usize);
    assert!(k
        .iter()
        .any(|r| r.dst == last && r.is_via(&ns.ip4().to_string(), "eth0", false)));
    let _ = sender;
    eprintln!(
        "bgpd-lab: {n} routes: in the receiver's RIB after {:.1}s, kernel after {:.1}s",
        rib_at.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    report("scale_bird2_100k", start);
}

/// The n-th /26 of 10.0.0.0/8.
fn nth26(i: u32) -> String {
    format!("10.{}.{}.{}/26", i >> 10, (i >> 2) & 255, (i & 3) * 64)
}

/// Churn with real peers only (scenario 7 with FRR in bgpd's place): BIRD 2 announces and
/// withdraws routes in waves (`birdc configure`): 10k, then three back-to-back waves of
/// withdrawals and announcements; at the end FRR's RIB and kernel match BIRD's table exactly.
#[test]
fn churn_bird2_to_frr() {
    let start = Instant::now();
    let mut lab = Lab::new("churn_bird2_to_frr").unwrap();
    let lan = lab.lan().unwrap();
    let nb = lab.node("bird2", &[(&lan, 1)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 2)], None).unwrap();
    let mut cf = FrrConfig::new(&nf, AS);
    let mut n = FrrNeighbor::new(nb.ip4(), AS);
    n.passive = true;
    cf.neighbors.push(n);
    let frr = cf.start(&nf).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.peers.push(Bird2Peer::new("frr", nf.ip4(), AS));
    let set = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&i| format!("{} blackhole", nth26(i)))
            .collect()
    };
    // Wave 1: 10k routes.
    let mut ids: Vec<u32> = (0..10_000).collect();
    cb.statics = set(&ids);
    let mut bird = cb.start(&nb).unwrap();
    wait_sessions(&bird, 1, CONVERGE).unwrap();
    let wave1: Vec<String> = ids.iter().map(|&i| nth26(i)).collect();
    wait_exactly(&frr, Family::V4, &wave1, Duration::from_secs(60)).unwrap();
    // Waves 2-4 back to back, without waiting. Wave 2: withdraw the first half.
    ids.retain(|&i| i >= 5_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();
    // Wave 3: 2k new routes, and every even one of the remaining half withdrawn.
    ids.retain(|&i| i % 2 == 1);
    ids.extend(10_000..12_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();
    // Wave 4: withdraw 1k of the new ones again.
    ids.retain(|&i| !(10_000..11_000).contains(&i));
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird).unwrap();

    let want: Vec<String> = ids.iter().map(|&i| nth26(i)).collect();
    let deadline = Duration::from_secs(90);
    wait_exactly(&frr, Family::V4, &want, deadline).unwrap();
    let want_set: BTreeSet<&String> = want.iter().collect();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "FRR's kernel matches BIRD's table",
        || {
            let k = kernel::routes(&nf.ns, Family::V4, "main", Some("bgp"))?;
            let have: BTreeSet<&String> = k.iter().map(|r| &r.dst).collect();
            let missing = want_set.difference(&have).count();
            let extra = have.difference(&want_set).count();
            Ok(Observed::when(
                missing == 0 && extra == 0,
                format!("{} routes, {missing} missing, {extra} extra", have.len()),
            ))
        },
    )
    .unwrap();
    assert_eq!(
        bird.ctl.route_count("table master4").unwrap(),
        want.len() as u64
    );
    report("churn_bird2_to_frr", start);
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
    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push("10.4.12.0/26 blackhole".into());
    cb.kernel = KernelExport::Plain;
    cb.peers.push(Bird2Peer::new("rr1", n1.ip4(), AS));
    cb.peers.push(Bird2Peer::new("rr2", n2.ip4(), AS));
    let bird = cb.start(&nb).unwrap();
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
    wait_observing(
        CONVERGE,
        POLL,
        "BIRD has GoBGP's route from rr1 and rr2",
        || {
            let rs = bird.ctl.routes("for 10.4.14.0/26")?;
            let from: BTreeSet<String> = rs.iter().map(|r| r.protocol.clone()).collect();
            Ok(Observed::when(from.len() == 2, format!("{from:?}")))
        },
    )
    .unwrap();
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

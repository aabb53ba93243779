//! Issue 17 in the lab: BFD (RFC 5880/5881/5883) bound to BGP, asserted on running daemons
//! through their own interfaces (`bgpd show bfd sessions --json`, `birdc show bfd sessions`,
//! `show protocols`) and the kernel tables. A cut removes a node's port from the bridge: no
//! link goes down anywhere, only packets stop, which is what BFD is for. Hold times are 240 s
//! (Calico's), so every assertion that a session went down within the deadline (30 s) is BFD's
//! doing. Run as root: `cargo build -p bgpd && cargo test -p bgpd-lab --test bfd`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgpd_lab::kernel::{self, Family};
use bgpd_lab::{
    bfd, cmd, wait_observing, wait_sessions, Bgpd, BgpdConfig, BgpdPeer, Bird, Bird2Config,
    Bird2Peer, Frr, FrrConfig, FrrNeighbor, KernelExport, Lab, NodeNet, Observed,
};
use serde_json::Value;

const AS: u32 = 64512;
const CONVERGE: Duration = Duration::from_secs(40);
/// Far below the 240 s hold time: only BFD can take a session down this fast.
const BFD_DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const HOLD: u16 = 240;
const FAST: &str = "{ min_rx = \"100ms\", min_tx = \"100ms\", multiplier = 3 }";

fn block(host: u8) -> String {
    format!("10.244.{host}.0/26")
}

/// Removes (`cut`) or restores a node's port on the bridge (the node's link stays up).
fn cut(lab: &Lab, node_index: usize, cut: bool) {
    let port = format!("n{node_index}e0");
    let args: Vec<&str> = if cut {
        vec!["-n", lab.hub_ns(), "link", "set", &port, "nomaster"]
    } else {
        vec!["-n", lab.hub_ns(), "link", "set", &port, "master", "lan0"]
    };
    cmd::ip(&args).unwrap();
}

fn wait_bgpd_bfd(b: &Bgpd, addr: &str, state: &str, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!("{}: BFD to {addr} {state}", b.node.name),
        || {
            let s = bfd::bgpd_sessions(b)?;
            let ok = s.iter().any(|(a, st, _)| a == addr && st == state);
            Ok(Observed::when(ok, format!("{s:?}")))
        },
    )
    .unwrap();
}

fn has_route(ns: &str, prefix: &str) -> Result<(bool, String), bgpd_lab::Error> {
    let k = kernel::routes(ns, Family::V4, "main", None)?;
    Ok((k.iter().any(|r| r.dst == prefix), kernel::render(&k)))
}

fn wait_route(node: &NodeNet, prefix: &str, present: bool, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!(
            "{}: {prefix} {}",
            node.name,
            if present {
                "in the kernel"
            } else {
                "gone from the kernel"
            }
        ),
        || {
            let (has, shown) = has_route(&node.ns, prefix)?;
            Ok(Observed::when(has == present, shown))
        },
    )
    .unwrap();
}

fn bgpd_established(b: &Bgpd, name: &str) -> bool {
    b.established()
        .unwrap_or_default()
        .iter()
        .any(|n| n == name)
}

fn wait_bgpd_session(b: &Bgpd, name: &str, up: bool, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!(
            "{}: {name} {}",
            b.node.name,
            if up { "Established" } else { "down" }
        ),
        || {
            let e = b.established()?;
            Ok(Observed::when(
                e.iter().any(|n| n == name) == up,
                format!("{e:?}"),
            ))
        },
    )
    .unwrap();
}

/// Three bgpd nodes in a full iBGP mesh with BFD at 100 ms × 3: cutting one node withdraws its
/// block from the other two kernels (and theirs from its kernel) long before the 240 s hold
/// time; restoring the port brings BFD, BGP and the routes back.
#[test]
fn bfd_bgpd_mesh_cut_and_restore() {
    let start = Instant::now();
    let mut lab = Lab::new("bfd_bgpd_mesh_cut_and_restore").unwrap();
    let lan = lab.lan().unwrap();
    let hosts = [11u8, 12, 13];
    let nodes: Vec<NodeNet> = hosts
        .iter()
        .map(|h| lab.node(&format!("bgpd{h}"), &[(&lan, *h)], None).unwrap())
        .collect();
    let daemons: Vec<Bgpd> = nodes
        .iter()
        .zip(hosts)
        .map(|(n, h)| {
            let mut c = BgpdConfig::new(n, AS);
            c.blackhole_blocks.push(block(h));
            for o in hosts.iter().filter(|o| **o != h) {
                let mut p = BgpdPeer::new(&format!("Mesh_{o}"), lan.v4(*o), AS);
                p.hold_time = Some(HOLD);
                p.bfd = Some(FAST.into());
                c.peers.push(p);
            }
            c.start(n).unwrap()
        })
        .collect();
    for d in &daemons {
        wait_sessions(d, 2, CONVERGE).unwrap();
    }
    for (i, d) in daemons.iter().enumerate() {
        for (j, h) in hosts.iter().enumerate() {
            if i != j {
                wait_bgpd_bfd(d, &lan.v4(*h).to_string(), "Up", CONVERGE);
                wait_route(&d.node, &block(*h), true, CONVERGE);
            }
        }
    }
    // The negotiated timers: 100 ms interval, 300 ms detection.
    let s = bfd::bgpd_sessions(&daemons[0]).unwrap();
    for (_, _, v) in &s {
        assert_eq!(v["tx_interval_ms"].as_f64(), Some(100.0), "{v}");
        assert_eq!(v["detection_time_ms"].as_f64(), Some(300.0), "{v}");
        assert_eq!(v["peers"].as_array().map(|a| a.len()), Some(1), "{v}");
    }
    let all = daemons[0]
        .cli(&["show", "protocols", "all", "Mesh_13"])
        .unwrap();
    assert!(
        all.contains("BFD session:      Up (single hop), interval 0.100 s, timeout 0.300 s"),
        "{all}"
    );

    for round in 0..2 {
        cut(&lab, 2, true);
        let t0 = Instant::now();
        for d in &daemons[..2] {
            wait_bgpd_bfd(d, &lan.v4(13).to_string(), "Down", BFD_DEADLINE);
            wait_route(&d.node, &block(13), false, BFD_DEADLINE);
            assert!(!bgpd_established(d, "Mesh_13"));
        }
        for h in [11u8, 12] {
            wait_route(&daemons[2].node, &block(h), false, BFD_DEADLINE);
        }
        // The other session of the mesh is untouched.
        assert!(bgpd_established(&daemons[0], "Mesh_12"));
        eprintln!(
            "round {round}: routes gone on both sides {:?} after the cut",
            t0.elapsed()
        );
        // BGP stays down while BFD is down (wait_for_up), although TCP would still work for a
        // while: check it twice over several BFD intervals.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(200)); // sampling, not synchronisation
            assert!(!bgpd_established(&daemons[0], "Mesh_13"));
        }
        cut(&lab, 2, false);
        for d in &daemons[..2] {
            wait_bgpd_bfd(d, &lan.v4(13).to_string(), "Up", CONVERGE);
            wait_bgpd_session(d, "Mesh_13", true, CONVERGE);
            wait_route(&d.node, &block(13), true, CONVERGE);
        }
        for h in [11u8, 12] {
            wait_route(&daemons[2].node, &block(h), true, CONVERGE);
        }
    }
    // Metrics-free check of the counters through the CLI: packets flowed both ways.
    let s = bfd::bgpd_sessions(&daemons[2]).unwrap();
    assert!(
        s.iter()
            .all(|(_, _, v)| v["packets_in"].as_u64() > Some(10)),
        "{s:?}"
    );
    eprintln!(
        "bfd_bgpd_mesh_cut_and_restore passed in {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

fn wait_bird_bfd(b: &Bird, addr: &str, state: &str, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!("BIRD: BFD to {addr} {state}"),
        || {
            let s = bfd::bird_state(b, addr)?;
            Ok(Observed::when(s == state, s))
        },
    )
    .unwrap();
}

/// bgpd against BIRD 2 (`protocol bfd` + `bfd on`), single hop or multihop, IPv4 or IPv6
/// transport: sessions come Up, a cut takes BFD and then BGP down on both sides (and the routes
/// out of both kernels, IPv4 runs), restoring brings both back.
fn bird2_interop(test: &str, multihop: bool, v6: bool) {
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let b = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let (ip_a, ip_b): (IpAddr, IpAddr) = if v6 {
        (lan.v6(11).into(), lan.v6(12).into())
    } else {
        (lan.v4(11).into(), lan.v4(12).into())
    };
    let mut bc = Bird2Config::new(&b, 65002);
    bc.local = ip_b;
    bc.statics.push(format!("{} blackhole", block(12)));
    bc.kernel = KernelExport::Plain;
    bc.hold_time = HOLD;
    let mut bp = Bird2Peer::new("bgpd", ip_a, AS);
    bp.multihop = multihop;
    bp.ipv6 = v6;
    bp.extra = "  bfd on;\n".into();
    bc.peers.push(bp);
    bc.extra.push_str(
        "protocol bfd {\n  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n  multihop { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n}\n",
    );
    let bird = bc.start(&b).unwrap();
    let mut ac = BgpdConfig::new(&a, AS);
    ac.blackhole_blocks.push(block(11));
    let mut p = BgpdPeer::new("bird2", ip_b, 65002);
    p.hold_time = Some(HOLD);
    p.ipv6 = v6;
    if multihop {
        p.multihop = Some(2);
    }
    p.bfd = Some(FAST.into());
    ac.peers.push(p);
    let bgpd = ac.start(&a).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    wait_sessions(&bird, 1, CONVERGE).unwrap();
    let (ip_a, ip_b) = (ip_a.to_string(), ip_b.to_string());
    wait_bgpd_bfd(&bgpd, &ip_b, "Up", CONVERGE);
    wait_bird_bfd(&bird, &ip_a, "Up", CONVERGE);
    let s = bfd::bgpd_sessions(&bgpd).unwrap();
    assert_eq!(s[0].2["multihop"].as_bool(), Some(multihop));
    if !v6 {
        wait_route(&a, &block(12), true, CONVERGE);
        wait_route(&b, &block(11), true, CONVERGE);
    }

    cut(&lab, 1, true);
    wait_bgpd_bfd(&bgpd, &ip_b, "Down", BFD_DEADLINE);
    wait_bird_bfd(&bird, &ip_a, "Down", BFD_DEADLINE);
    if !v6 {
        wait_route(&a, &block(12), false, BFD_DEADLINE);
        wait_route(&b, &block(11), false, BFD_DEADLINE);
    }
    assert!(!bgpd_established(&bgpd, "bird2"));
    cut(&lab, 1, false);
    wait_bgpd_bfd(&bgpd, &ip_b, "Up", CONVERGE);
    wait_bird_bfd(&bird, &ip_a, "Up", CONVERGE);
    wait_bgpd_session(&bgpd, "bird2", true, CONVERGE);
    if !v6 {
        wait_route(&a, &block(12), true, CONVERGE);
        wait_route(&b, &block(11), true, CONVERGE);
    }
    eprintln!("{test} passed in {:.1}s", start.elapsed().as_secs_f64());
}

/// A dynamic neighbour (`[[peer_ranges]]` with `bfd`) gets its BFD session, and follows its
/// range on reload: slower timers are negotiated on the same session (same discriminator,
/// still Up, BGP not reset), and a range without `bfd` removes the session.
#[test]
fn bfd_dynamic_range_reload() {
    let mut lab = Lab::new("bfd_dynamic_range_reload").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let b = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let mut bc = Bird2Config::new(&b, 65002);
    bc.hold_time = HOLD;
    let mut bp = Bird2Peer::new("bgpd", lan.v4(11), AS);
    bp.extra = "  bfd on;\n".into();
    bc.peers.push(bp);
    bc.extra.push_str(
        "protocol bfd {\n  interface \"*\" { min rx interval 200 ms; min tx interval 200 ms; multiplier 5; };\n}\n",
    );
    let bird = bc.start(&b).unwrap();
    let range = |bfd: Option<&str>| {
        let mut r = format!(
            "[[peer_ranges]]\nname = \"dyn\"\nprefix = \"{}/24\"\nasn = 65002\nhold_time = {HOLD}\n",
            lan.v4(0)
        );
        if let Some(b) = bfd {
            r.push_str(&format!("bfd = {b}\n"));
        }
        r
    };
    let mut ac = BgpdConfig::new(&a, AS);
    // Slow timers (detection ≥ 1 s): this test is about reload, not speed.
    ac.extra = range(Some(
        "{ min_rx = \"200ms\", min_tx = \"200ms\", multiplier = 5 }",
    ));
    let bgpd = ac.start(&a).unwrap();
    let (ip_a, ip_b) = (lan.v4(11).to_string(), lan.v4(12).to_string());
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    wait_bgpd_bfd(&bgpd, &ip_b, "Up", CONVERGE);
    wait_bird_bfd(&bird, &ip_a, "Up", CONVERGE);
    let session = |b: &Bgpd| -> Result<Value, bgpd_lab::Error> {
        bfd::bgpd_sessions(b)?
            .into_iter()
            .next()
            .map(|s| s.2)
            .ok_or_else(|| bgpd_lab::Error("no BFD session".into()))
    };
    let before = session(&bgpd).unwrap();
    let established = bgpd.established().unwrap();
    assert_eq!(established.len(), 1, "{established:?}");

    ac.extra = range(Some(
        "{ min_rx = \"100ms\", min_tx = \"300ms\", multiplier = 3 }",
    ));
    std::fs::write(&bgpd.config, ac.render()).unwrap();
    bgpd.cli(&["reload"]).unwrap();
    wait_observing(
        CONVERGE,
        POLL,
        "300 ms negotiated on the same session",
        || {
            let v = session(&bgpd)?;
            let ok = v["tx_interval_ms"].as_f64() == Some(300.0) && v["state"] == "Up";
            Ok(Observed::when(ok, v.to_string()))
        },
    )
    .unwrap();
    let after = session(&bgpd).unwrap();
    assert_eq!(
        after["local_discriminator"], before["local_discriminator"],
        "same session"
    );
    assert_eq!(bfd::bird_state(&bird, &ip_a).unwrap(), "Up");
    assert_eq!(
        bgpd.established().unwrap(),
        established,
        "BGP kept its session"
    );

    ac.extra = range(None);
    std::fs::write(&bgpd.config, ac.render()).unwrap();
    bgpd.cli(&["reload"]).unwrap();
    wait_observing(CONVERGE, POLL, "BFD session removed", || {
        let s = bfd::bgpd_sessions(&bgpd)?;
        Ok(Observed::when(s.is_empty(), format!("{s:?}")))
    })
    .unwrap();
    // BIRD 2 with `bfd on` closes BGP when our session goes AdminDown (it does not make the
    // RFC 5882 §3.2 exception); the neighbour it reconnects as has no BFD session.
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    assert!(bfd::bgpd_sessions(&bgpd).unwrap().is_empty());
}

#[test]
fn bfd_bird2_single_hop_v4() {
    bird2_interop("bfd_bird2_single_hop_v4", false, false);
}

#[test]
fn bfd_bird2_multihop_v4() {
    bird2_interop("bfd_bird2_multihop_v4", true, false);
}

#[test]
fn bfd_bird2_single_hop_v6() {
    bird2_interop("bfd_bird2_single_hop_v6", false, true);
}

#[test]
fn bfd_bird2_multihop_v6() {
    bird2_interop("bfd_bird2_multihop_v6", true, true);
}

fn wait_frr_bfd(f: &Frr, addr: &str, state: &str, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!("FRR: BFD to {addr} {state}"),
        || {
            let s = bfd::frr_state(f, addr)?;
            Ok(Observed::when(s == state, s))
        },
    )
    .unwrap();
}

fn wait_frr_session(f: &Frr, up: bool, deadline: Duration) {
    wait_observing(
        deadline,
        POLL,
        &format!("FRR: session {}", if up { "Established" } else { "down" }),
        || {
            let e = f.established()?;
            Ok(Observed::when(e.is_empty() != up, format!("{e:?}")))
        },
    )
    .unwrap();
}

/// bgpd against FRR's bfdd (`neighbor X bfd profile fast`), eBGP: single hop or multihop,
/// IPv4 or IPv6 transport. Sessions come Up with the 100 ms timers negotiated, a cut takes BFD
/// and then BGP down on both sides (and the routes out of both kernels, IPv4 runs), restoring
/// brings everything back.
fn frr_interop(test: &str, multihop: bool, v6: bool) {
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let b = lab.node("frr", &[(&lan, 12)], None).unwrap();
    let (ip_a, ip_b): (IpAddr, IpAddr) = if v6 {
        (lan.v6(11).into(), lan.v6(12).into())
    } else {
        (lan.v4(11).into(), lan.v4(12).into())
    };
    let mut fc = FrrConfig::new(&b, 65002);
    fc.timers = (80, 240);
    let mut n = FrrNeighbor::new(ip_a, AS);
    if v6 {
        n.ipv4 = false;
        n.ipv6 = true;
    }
    fc.neighbors.push(n);
    fc.networks.push(block(12));
    // After the neighbour exists: a second `router bgp` block.
    let mut nb = format!("router bgp 65002\n neighbor {ip_a} bfd profile fast\n");
    if multihop {
        nb.push_str(&format!(" neighbor {ip_a} ebgp-multihop 2\n"));
    }
    fc.extra = format!(
        "bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n{nb}!"
    );
    let frr = Frr::start_with_bfdd(&b, &fc.render()).unwrap();
    let mut ac = BgpdConfig::new(&a, AS);
    ac.blackhole_blocks.push(block(11));
    let mut p = BgpdPeer::new("frr", ip_b, 65002);
    p.hold_time = Some(HOLD);
    p.ipv6 = v6;
    if multihop {
        p.multihop = Some(2);
    }
    p.bfd = Some(FAST.into());
    ac.peers.push(p);
    let bgpd = ac.start(&a).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    wait_frr_session(&frr, true, CONVERGE);
    wait_bgpd_bfd(&bgpd, &ip_b.to_string(), "Up", CONVERGE);
    wait_frr_bfd(&frr, &ip_a.to_string(), "up", CONVERGE);
    // FRR's 100 ms timers against ours: 100 ms both ways, detection 3 × 100 ms.
    wait_observing(
        CONVERGE,
        POLL,
        "timers negotiated (poll sequence done)",
        || {
            let s = bfd::bgpd_sessions(&bgpd)?;
            let v = &s
                .first()
                .ok_or_else(|| bgpd_lab::Error("no session".into()))?
                .2;
            let ok = v["tx_interval_ms"].as_f64() == Some(100.0)
                && v["detection_time_ms"].as_f64() == Some(300.0)
                && v["multihop"].as_bool() == Some(multihop);
            Ok(Observed::when(ok, v.to_string()))
        },
    )
    .unwrap();
    if !v6 {
        wait_route(&a, &block(12), true, CONVERGE);
        wait_route(&b, &block(11), true, CONVERGE);
    }
    cut(&lab, 1, true);
    wait_bgpd_bfd(&bgpd, &ip_b.to_string(), "Down", BFD_DEADLINE);
    wait_frr_bfd(&frr, &ip_a.to_string(), "down", BFD_DEADLINE);
    wait_frr_session(&frr, false, BFD_DEADLINE);
    assert!(!bgpd_established(&bgpd, "frr"));
    if !v6 {
        wait_route(&a, &block(12), false, BFD_DEADLINE);
        wait_route(&b, &block(11), false, BFD_DEADLINE);
    }
    cut(&lab, 1, false);
    wait_bgpd_bfd(&bgpd, &ip_b.to_string(), "Up", CONVERGE);
    wait_frr_bfd(&frr, &ip_a.to_string(), "up", CONVERGE);
    wait_bgpd_session(&bgpd, "frr", true, CONVERGE);
    wait_frr_session(&frr, true, CONVERGE);
    if !v6 {
        wait_route(&a, &block(12), true, CONVERGE);
        wait_route(&b, &block(11), true, CONVERGE);
    }
    if !multihop && !v6 {
        // A timer change on a live session (reload): the same session (discriminator) stays Up
        // and negotiates 300 ms with a Poll Sequence; FRR sees our new interval.
        let before = bfd::bgpd_sessions(&bgpd).unwrap()[0].2["local_discriminator"].clone();
        ac.peers[0].bfd = Some("{ min_rx = \"100ms\", min_tx = \"300ms\", multiplier = 3 }".into());
        std::fs::write(&bgpd.config, ac.render()).unwrap();
        bgpd.cli(&["reload"]).unwrap();
        wait_observing(CONVERGE, POLL, "300 ms negotiated on both sides", || {
            let s = bfd::bgpd_sessions(&bgpd)?;
            let v = &s
                .first()
                .ok_or_else(|| bgpd_lab::Error("no session".into()))?
                .2;
            let f = frr.json("show bfd peers json")?;
            let fp = f
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|p| p["peer"].as_str() == Some(&ip_a.to_string()))
                })
                .cloned()
                .unwrap_or_default();
            let ok = v["tx_interval_ms"].as_f64() == Some(300.0)
                && v["state"] == "Up"
                && fp["remote-transmit-interval"].as_u64() == Some(300)
                && fp["status"] == "up";
            Ok(Observed::when(ok, format!("{v}\n{fp}")))
        })
        .unwrap();
        let s = bfd::bgpd_sessions(&bgpd).unwrap();
        assert_eq!(s[0].2["local_discriminator"], before, "same session: {s:?}");
        assert_eq!(s.len(), 1);
    }
    eprintln!("{test} passed in {:.1}s", start.elapsed().as_secs_f64());
}

#[test]
fn bfd_frr_single_hop_v4() {
    frr_interop("bfd_frr_single_hop_v4", false, false);
}

#[test]
fn bfd_frr_multihop_v4() {
    frr_interop("bfd_frr_multihop_v4", true, false);
}

#[test]
fn bfd_frr_single_hop_v6() {
    frr_interop("bfd_frr_single_hop_v6", false, true);
}

#[test]
fn bfd_frr_multihop_v6() {
    frr_interop("bfd_frr_multihop_v6", true, true);
}

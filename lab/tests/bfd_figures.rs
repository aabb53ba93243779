//! The BFD figures of benches/README.md ("BFD"), not tests: ignored by default, run with
//! `cargo build --release -p bgpd && BGPD_BIN=target/release/bgpd cargo test -p bgpd-lab
//! --test bfd_figures -- --ignored --nocapture --test-threads=1`.
//!
//! * `bfd_cut_to_route_gone`: a DUT (bgpd, BIRD 2, FRR with bfdd) and a BIRD 2 peer on a
//!   bridge, eBGP with BFD at 100 ms × 3 and hold time 240 s; the peer's bridge port is removed
//!   and the time until the peer's route has left the DUT's kernel is measured (kernel polled
//!   every ~5 ms: `ip -j route` per poll, so figures include up to ~10 ms of polling), 20 cuts
//!   per DUT, interleaved rounds.
//! * `bfd_cpu_200_sessions`: two bgpd, 200 BFD sessions between them at 100 ms × 3 (BGP
//!   passive on both sides, so only BFD runs); CPU seconds of one bgpd over 30 s from
//!   `/proc/PID/stat`.

use std::time::{Duration, Instant};

use bgpd_lab::kernel::{self, Family};
use bgpd_lab::{
    cmd, wait_observing, wait_sessions, Bgpd, BgpdConfig, BgpdPeer, Bird2Config, Bird2Peer, Frr,
    FrrConfig, FrrNeighbor, KernelExport, Lab, NodeNet, Observed,
};

const CONVERGE: Duration = Duration::from_secs(60);

fn has_route(ns: &str, prefix: &str) -> bool {
    kernel::routes(ns, Family::V4, "main", None)
        .map(|k| k.iter().any(|r| r.dst == prefix))
        .unwrap_or(false)
}

fn wait_route(node: &NodeNet, prefix: &str, present: bool) {
    wait_observing(CONVERGE, Duration::from_millis(50), "route", || {
        Ok(Observed::when(
            has_route(&node.ns, prefix) == present,
            String::new(),
        ))
    })
    .unwrap();
}

fn port(lab: &Lab, idx: usize, attach: bool) {
    let p = format!("n{idx}e0");
    let mut args = vec!["-n", lab.hub_ns(), "link", "set", &p];
    if attach {
        args.extend(["master", "lan0"]);
    } else {
        args.push("nomaster");
    }
    cmd::ip(&args).unwrap();
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let i = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[i]
}

#[test]
#[ignore]
fn bfd_cut_to_route_gone() {
    let mut lab = Lab::with_capture("bfd_cut_to_route_gone", false).unwrap();
    let lan = lab.lan().unwrap();
    // Node 0: the peer (BIRD 2) announcing 10.244.20.0/26; nodes 1..3: the DUTs.
    let peer = lab.node("peer", &[(&lan, 20)], None).unwrap();
    let duts: Vec<NodeNet> = ["bgpd", "bird2", "frr"]
        .iter()
        .zip([21u8, 22, 23])
        .map(|(n, h)| lab.node(n, &[(&lan, h)], None).unwrap())
        .collect();
    let block = "10.244.20.0/26";
    let mut pc = Bird2Config::new(&peer, 65020);
    pc.statics.push(format!("{block} blackhole"));
    pc.hold_time = 240;
    for (i, h) in [21u8, 22, 23].iter().enumerate() {
        let mut p = Bird2Peer::new(&format!("dut{i}"), lan.v4(*h), 65000 + u32::from(*h));
        p.extra = "  bfd on;\n".into();
        pc.peers.push(p);
    }
    pc.extra.push_str("protocol bfd {\n  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n}\n");
    let _peer = pc.start(&peer).unwrap();

    let mut bc = BgpdConfig::new(&duts[0], 65021);
    let mut p = BgpdPeer::new("peer", lan.v4(20), 65020);
    p.hold_time = Some(240);
    p.bfd = Some("{ min_rx = \"100ms\", min_tx = \"100ms\", multiplier = 3 }".into());
    bc.peers.push(p);
    let bgpd = bc.start(&duts[0]).unwrap();

    let mut b2 = Bird2Config::new(&duts[1], 65022);
    b2.kernel = KernelExport::Plain;
    b2.hold_time = 240;
    let mut p = Bird2Peer::new("peer", lan.v4(20), 65020);
    p.extra = "  bfd on;\n".into();
    b2.peers.push(p);
    b2.extra.push_str("protocol bfd {\n  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n}\n");
    let _bird = b2.start(&duts[1]).unwrap();

    let mut fc = FrrConfig::new(&duts[2], 65023);
    fc.timers = (80, 240);
    fc.neighbors.push(FrrNeighbor::new(lan.v4(20), 65020));
    fc.extra = format!("bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\nrouter bgp 65023\n neighbor {} bfd profile fast\n!", lan.v4(20));
    let _frr = Frr::start_with_bfdd(&duts[2], &fc.render()).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();

    let names = ["bgpd", "BIRD 2", "FRR bfdd"];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for round in 0..20 {
        for (i, d) in duts.iter().enumerate() {
            wait_route(d, block, true);
            // A little Up time so the BFD timers are at 100 ms again.
            std::thread::sleep(Duration::from_secs(2));
            port(&lab, 0, false);
            let t0 = Instant::now();
            while has_route(&d.ns, block) {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "{} kept the route",
                    names[i]
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            results[i].push(ms);
            port(&lab, 0, true);
            eprintln!("round {round} {}: {ms:.0} ms", names[i]);
        }
    }
    for (i, r) in results.iter().enumerate() {
        eprintln!(
            "{}: n={} min {:.0} median {:.0} p90 {:.0} max {:.0} ms",
            names[i],
            r.len(),
            pct(r, 0.0),
            pct(r, 0.5),
            pct(r, 0.9),
            pct(r, 1.0)
        );
    }
}

fn cpu_ticks(ns: &str) -> u64 {
    let pids = cmd::run(None, "ip", &["netns", "pids", ns]).unwrap();
    pids.split_whitespace()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter(|s| s.contains("(bgpd)"))
        .map(|s| {
            let rest = s.rsplit(')').next().unwrap_or("").to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        })
        .sum()
}

#[test]
#[ignore]
fn bfd_cpu_200_sessions() {
    let mut lab = Lab::with_capture("bfd_cpu_200_sessions", false).unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let n = 200u32;
    let ip = |side: u8, i: u32| format!("10.{side}.{}.{}", i / 250, i % 250 + 1);
    for (node, side, other) in [(&a, 98u8, 99u8), (&b, 99, 98)] {
        for i in 0..n {
            cmd::ip(&[
                "-n",
                &node.ns,
                "addr",
                "add",
                &format!("{}/32", ip(side, i)),
                "dev",
                "eth0",
            ])
            .unwrap();
        }
        cmd::ip(&[
            "-n",
            &node.ns,
            "route",
            "add",
            &format!("10.{other}.0.0/16"),
            "dev",
            "eth0",
        ])
        .unwrap();
    }
    let render = |me: &NodeNet, side: u8, other: u8| {
        let mut c = format!(
            "router_id = \"{}\"\nasn = 64512\ncontrol_socket = \"{}\"\n[listen]\naddresses = []\n[kernel]\nenabled = false\n",
            me.ip4(),
            me.path("bgpd.ctl").display()
        );
        for i in 0..n {
            c.push_str(&format!(
                "\n[[peers]]\nname = \"p{i}\"\naddress = \"{}\"\nasn = 64512\npassive = true\nsource_address = \"{}\"\nbfd = {{ min_rx = \"100ms\", min_tx = \"100ms\", multiplier = 3 }}\n",
                ip(other, i),
                ip(side, i)
            ));
        }
        c
    };
    let da = Bgpd::start(&a, &render(&a, 98, 99)).unwrap();
    let _db = Bgpd::start(&b, &render(&b, 99, 98)).unwrap();
    wait_observing(
        CONVERGE,
        Duration::from_millis(500),
        "200 sessions Up",
        || {
            let out = da.cli(&["show", "bfd", "sessions"])?;
            let up = out.lines().filter(|l| l.contains(" Up ")).count();
            Ok(Observed::when(up == n as usize, format!("{up} Up")))
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let hz = 100.0; // USER_HZ
    let t0 = Instant::now();
    let c0 = cpu_ticks(&a.ns);
    std::thread::sleep(Duration::from_secs(30));
    let c1 = cpu_ticks(&a.ns);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (c1 - c0) as f64 / hz;
    let out = da.cli(&["show", "bfd", "sessions"]).unwrap();
    let up = out.lines().filter(|l| l.contains(" Up ")).count();
    eprintln!(
        "bgpd, {n} BFD sessions at 100 ms: {cpu:.2} CPU-s over {wall:.1} s = {:.2} % of one core ({up} still Up)",
        cpu / wall * 100.0
    );
}

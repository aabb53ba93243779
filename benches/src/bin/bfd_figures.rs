//! The BFD figures of issue 17 (benches/README.md, "BFD"): run as root,
//! `BGPD_BIN=target/release/bgpd target/debug/bfd_figures [--parts cut,cpu] [--cuts 20]
//! [--window 60] [--peers bgpd,bird2,frr] [--report-only]` (`--peers`: the cpu part's pairs). Writes `benches/report/bfd.json` (every sample) and
//! regenerates the BFD part of `benches/REPORT.md` from it.
//!
//! * `cut`: a peer (BIRD 2, announcing 10.244.20.0/26 with BFD to every DUT) and three daemons
//!   under test (bgpd, BIRD 2, FRR with bfdd) on one bridge, eBGP with BFD at 100 ms × 3 and a
//!   240 s hold time. Before each cut the harness waits until the DUT has the route in its
//!   kernel, the DUT and the peer both report their BFD session Up and the peer's BGP session
//!   to the DUT is Established, then 2 s more (the Poll Sequence that brings the intervals
//!   from 1 s to 100 ms is over) and checks all of it again; then it removes the DUT's port
//!   from the bridge (the other DUTs keep their sessions) and times the route leaving the
//!   DUT's kernel (the deletion's time as `ip -ts monitor route` in the DUT's namespace
//!   received it: no polling). The DUTs take turns, each cut N times. For bgpd, its own log
//!   also gives the time of "BFD session Up -> Down".
//! * `cpu`: 200 BFD sessions at 100 ms × 3 (no BGP session comes up: BGP is passive on both
//!   sides) between bgpd and a peer (bgpd, BIRD 2's `protocol bfd` neighbours, FRR's bfdd
//!   peers); user and system CPU of each process over the window, from `/proc/PID/stat`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bgpd_benches::bfd_report;
use bgpd_benches::procstat::{cpu_split, loadavg};
use bgpd_lab::kernel::{self, Family};
use bgpd_lab::lab::netns_pids;
use bgpd_lab::{
    bfd, cmd, wait_observing, Bgpd, BgpdConfig, BgpdPeer, Bird, Bird2Config, Bird2Peer, Frr,
    FrrConfig, FrrNeighbor, KernelExport, Lab, NodeNet, Observed,
};
use serde_json::{json, Value};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const SETTLE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
const BLOCK: &str = "10.244.20.0/26";
const BFD_BIRD: &str = "protocol bfd {\n  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n}\n";

fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("report")
}

fn utc_now() -> String {
    cmd::run(None, "date", &["-u", "+%Y-%m-%d %H:%M"])
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn has_route(ns: &str) -> bool {
    kernel::routes(ns, Family::V4, "main", None)
        .map(|k| k.iter().any(|r| r.dst == BLOCK))
        .unwrap_or(false)
}

/// Removes node `idx`'s port from the bridge, or puts it back.
fn port(lab: &Lab, idx: usize, attach: bool) -> R<()> {
    let p = format!("n{idx}e0");
    let mut args = vec!["-n", lab.hub_ns(), "link", "set", &p];
    if attach {
        args.extend(["master", "lan0"]);
    } else {
        args.push("nomaster");
    }
    cmd::ip(&args)?;
    Ok(())
}

enum Dut {
    Bgpd(Bgpd),
    Bird(Bird),
    Frr(Frr),
}

impl Dut {
    fn name(&self) -> &'static str {
        match self {
            Dut::Bgpd(_) => "bgpd",
            Dut::Bird(_) => "BIRD 2",
            Dut::Frr(_) => "FRR bfdd",
        }
    }

    fn ns(&self) -> &str {
        match self {
            Dut::Bgpd(b) => &b.node.ns,
            Dut::Bird(b) => &b.node.ns,
            Dut::Frr(f) => &f.node.ns,
        }
    }

    /// The DUT's BFD session to `peer` is Up.
    fn bfd_up(&self, peer: &str) -> bgpd_lab::Result<String> {
        Ok(match self {
            Dut::Bgpd(b) => bfd::bgpd_state(b, peer)?,
            Dut::Bird(b) => bfd::bird_state(b, peer)?,
            Dut::Frr(f) => bfd::frr_state(f, peer)?,
        })
    }
}

/// What must hold before a cut: route in the DUT's kernel, BFD Up on both ends, the peer's BGP
/// session to the DUT Established.
fn ready(
    dut: &Dut,
    peer: &Bird,
    peer_ip: &str,
    dut_ip: &str,
    proto: &str,
) -> bgpd_lab::Result<Observed> {
    let route = has_route(dut.ns());
    let mine = dut.bfd_up(peer_ip)?;
    let theirs = bfd::bird_state(peer, dut_ip)?;
    let bgp = peer
        .ctl
        .bgp_states()?
        .get(proto)
        .cloned()
        .unwrap_or_default();
    let ok = route && mine.eq_ignore_ascii_case("up") && theirs == "Up" && bgp == "Established";
    Ok(Observed::when(
        ok,
        format!("route {route}, DUT BFD {mine}, peer BFD {theirs}, peer BGP {bgp}"),
    ))
}

/// Seconds since midnight UTC of `t`.
fn day_secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() % 86_400.0)
}

/// The times (seconds since midnight UTC) of bgpd's "BFD session Up -> Down" log lines.
fn bgpd_bfd_downs(log: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("BFD session Up -> Down"))
        .filter_map(|l| {
            // `2026-12-02T21:06:41.535085Z` after ANSI colour codes.
            let i = l.find('T')?;
            let hms = l.get(i + 1..)?.split('Z').next()?;
            let mut f = hms.split(':');
            let (h, m, s) = (f.next()?, f.next()?, f.next()?);
            Some(
                h.parse::<f64>().ok()? * 3600.0
                    + m.parse::<f64>().ok()? * 60.0
                    + s.parse::<f64>().ok()?,
            )
        })
        .collect()
}

/// `ip -ts monitor route` in a namespace: every route event with the time `ip` received it
/// (seconds since midnight UTC), so a deletion is timed without polling the table.
struct RouteMonitor {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<(f64, String)>,
}

impl RouteMonitor {
    fn start(ns: &str) -> R<RouteMonitor> {
        use std::io::BufRead;
        let mut child = std::process::Command::new("ip")
            .args(["-n", ns, "-ts", "monitor", "route"])
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                // `[2026-12-02T21:17:16.711282] Deleted 10.9.9.0/24 dev lo ...`
                let t = line
                    .split_once('T')
                    .and_then(|(_, r)| r.split_once(']'))
                    .and_then(|(hms, _)| {
                        let mut f = hms.split(':').map(|x| x.parse::<f64>().ok());
                        Some(f.next()?? * 3600.0 + f.next()?? * 60.0 + f.next()??)
                    });
                if let Some(t) = t {
                    if tx.send((t, line)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(RouteMonitor { child, rx })
    }
}

impl Drop for RouteMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cut_part(cuts: usize) -> R<Value> {
    let date = utc_now();
    let load_start = loadavg();
    let mut lab = Lab::with_capture("bfd_figures_cut", false)?;
    let lan = lab.lan()?;
    let peer_node = lab.node("peer", &[(&lan, 20)], None)?;
    let hosts = [21u8, 22, 23];
    let nodes: Vec<NodeNet> = ["bgpd", "bird2", "frr"]
        .iter()
        .zip(hosts)
        .map(|(n, h)| lab.node(n, &[(&lan, h)], None))
        .collect::<Result<_, _>>()?;
    let mut pc = Bird2Config::new(&peer_node, 65020);
    pc.statics.push(format!("{BLOCK} blackhole"));
    pc.hold_time = 240;
    for (i, h) in hosts.iter().enumerate() {
        let mut p = Bird2Peer::new(&format!("dut{i}"), lan.v4(*h), 65000 + u32::from(*h));
        p.extra = "  bfd on;\n".into();
        pc.peers.push(p);
    }
    pc.extra.push_str(BFD_BIRD);
    let peer = pc.start(&peer_node)?;
    let peer_ip = lan.v4(20).to_string();

    let mut bc = BgpdConfig::new(&nodes[0], 65021);
    let mut p = BgpdPeer::new("peer", lan.v4(20), 65020);
    p.hold_time = Some(240);
    p.bfd = Some("{ min_rx = \"100ms\", min_tx = \"100ms\", multiplier = 3 }".into());
    bc.peers.push(p);
    let mut b2 = Bird2Config::new(&nodes[1], 65022);
    b2.kernel = KernelExport::Plain;
    b2.hold_time = 240;
    let mut p = Bird2Peer::new("peer", lan.v4(20), 65020);
    p.extra = "  bfd on;\n".into();
    b2.peers.push(p);
    b2.extra.push_str(BFD_BIRD);
    let mut fc = FrrConfig::new(&nodes[2], 65023);
    fc.timers = (80, 240);
    fc.neighbors.push(FrrNeighbor::new(lan.v4(20), 65020));
    fc.extra = format!("bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\nrouter bgp 65023\n neighbor {peer_ip} bfd profile fast\n!");
    let duts = [
        Dut::Bgpd(bc.start(&nodes[0])?),
        Dut::Bird(b2.start(&nodes[1])?),
        Dut::Frr(Frr::start_with_bfdd(&nodes[2], &fc.render())?),
    ];

    let monitors = duts
        .iter()
        .map(|d| RouteMonitor::start(d.ns()))
        .collect::<R<Vec<_>>>()?;
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); duts.len()];
    // bgpd only: cut to its "BFD session Up -> Down" log line, ms.
    let mut bgpd_detect: Vec<f64> = Vec::new();
    let bgpd_log = nodes[0].path("bgpd.1.log");
    for round in 0..cuts {
        for (i, d) in duts.iter().enumerate() {
            let dut_ip = lan.v4(hosts[i]).to_string();
            let proto = format!("dut{i}");
            let what = format!("{} ready for cut {round}", d.name());
            wait_observing(SETTLE, POLL, &what, || {
                ready(d, &peer, &peer_ip, &dut_ip, &proto)
            })?;
            // The Poll Sequence to 100 ms is over well within this (a fixed settle, then the
            // same conditions checked again, so a flap during it is not cut).
            std::thread::sleep(Duration::from_secs(2));
            let again = ready(d, &peer, &peer_ip, &dut_ip, &proto)?;
            if !again.done {
                return Err(
                    format!("{what}: no longer ready after settling: {}", again.state).into(),
                );
            }
            // The DUT (node i + 1) is cut off: the other DUTs keep their sessions.
            let downs_before = bgpd_bfd_downs(&bgpd_log).len();
            let mon = monitors.get(i).ok_or("no monitor")?;
            while mon.rx.try_recv().is_ok() {}
            port(&lab, i + 1, false)?;
            // The cut has happened by now (it happened during the `ip` command: the figure
            // may miss a few ms of it).
            let wall0 = day_secs(std::time::SystemTime::now());
            let gone = loop {
                match mon.rx.recv_timeout(Duration::from_secs(30)) {
                    Ok((t, line)) if line.contains("Deleted") && line.contains(BLOCK) => break t,
                    Ok(_) => {}
                    Err(_) => {
                        return Err(format!("{} kept the route 30 s after the cut", d.name()).into())
                    }
                }
            };
            if has_route(d.ns()) {
                return Err(format!("{}: the route is back at once", d.name()).into());
            }
            let ms = (gone - wall0) * 1e3;
            if matches!(d, Dut::Bgpd(_)) {
                if let Some(t) = bgpd_bfd_downs(&bgpd_log).get(downs_before) {
                    bgpd_detect.push((t - wall0) * 1e3);
                }
            }
            port(&lab, i + 1, true)?;
            eprintln!("cut {round} {}: {ms:.0} ms", d.name());
            if let Some(r) = results.get_mut(i) {
                r.push(ms);
            }
        }
    }
    let daemons: Vec<Value> = duts
        .iter()
        .zip(&results)
        .map(|(d, r)| match d {
            Dut::Bgpd(_) => json!({"name": d.name(), "ms": r, "bfd_down_ms": bgpd_detect}),
            _ => json!({"name": d.name(), "ms": r}),
        })
        .collect();
    Ok(json!({
        "date": date,
        "load_start": load_start,
        "load_end": loadavg(),
        "method": format!("{cuts} cuts per daemon under test, taking turns. Before each cut: the route in the DUT's kernel, BFD Up on the DUT and on the peer (BIRD 2), the peer's BGP session to the DUT Established; 2 s more, checked again. Time from removing the DUT's bridge port (once the `ip link set nomaster` command returned) to the route's deletion as `ip -ts monitor route` in the DUT's namespace received it (no polling)."),
        "daemons": daemons,
    }))
}

/// Pid of the process named `comm` in `ns`.
fn pid_of(ns: &str, comm: &str) -> Option<i32> {
    netns_pids(ns).into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
    })
}

/// Session `i`'s address on side 0 or 1: all in 10.98.0.0/16, so every peer is on-link (BIRD
/// takes a single-hop neighbour only on a connected prefix).
fn ip(side: u8, i: u32) -> String {
    format!("10.98.{}.{}", u32::from(side) * 4 + i / 250, i % 250 + 1)
}

/// bgpd's config: `n` passive peers with BFD, each from its own address.
fn bgpd_cpu_config(me: &NodeNet, n: u32, side: u8, other: u8) -> String {
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
}

fn count_up(states: impl Iterator<Item = String>) -> u64 {
    states.filter(|s| s.eq_ignore_ascii_case("up")).count() as u64
}

fn cpu_part(window: Duration, peers: &[&str]) -> R<Value> {
    let n = 200u32;
    let date = utc_now();
    let load_start = loadavg();
    let mut pairs = Vec::new();
    for other in ["bgpd", "BIRD 2", "FRR bfdd"] {
        let tag = match other {
            "bgpd" => "bgpd",
            "BIRD 2" => "bird2",
            _ => "frr",
        };
        if !peers.contains(&tag) {
            continue;
        }
        let mut lab = Lab::with_capture("bfd_figures_cpu", false)?;
        let lan = lab.lan()?;
        let a = lab.node("a", &[(&lan, 11)], None)?;
        let b = lab.node("b", &[(&lan, 12)], None)?;
        for (node, side) in [(&a, 0u8), (&b, 1)] {
            for i in 0..n {
                let addr = format!("{}/16", ip(side, i));
                cmd::ip(&["-n", &node.ns, "addr", "add", &addr, "dev", "eth0"])?;
            }
        }
        let da = Bgpd::start(&a, &bgpd_cpu_config(&a, n, 0, 1))?;
        let peer_comm;
        let mut peer_bgpd = None;
        let mut peer_bird = None;
        let mut peer_frr = None;
        match other {
            "bgpd" => {
                peer_bgpd = Some(Bgpd::start(&b, &bgpd_cpu_config(&b, n, 1, 0))?);
                peer_comm = "bgpd";
            }
            "BIRD 2" => {
                let mut c = Bird2Config::new(&b, 64513);
                c.extra.push_str("protocol bfd {\n  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };\n");
                for i in 0..n {
                    c.extra
                        .push_str(&format!("  neighbor {} local {};\n", ip(0, i), ip(1, i)));
                }
                c.extra.push_str("}\n");
                peer_bird = Some(c.start(&b)?);
                peer_comm = "bird";
            }
            _ => {
                let mut c = String::from("frr defaults traditional\nhostname b\n!\nbfd\n");
                for i in 0..n {
                    c.push_str(&format!(
                        " peer {} local-address {}\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n  no shutdown\n !\n",
                        ip(0, i),
                        ip(1, i)
                    ));
                }
                c.push_str("!\nline vty\n!\n");
                peer_frr = Some(Frr::start_with_bfdd(&b, &c)?);
                peer_comm = "bfdd";
            }
        }
        let peer_up = || -> bgpd_lab::Result<u64> {
            Ok(match (&peer_bgpd, &peer_bird, &peer_frr) {
                (Some(p), _, _) => count_up(bfd::bgpd_sessions(p)?.into_iter().map(|s| s.1)),
                (_, Some(p), _) => count_up(
                    p.ctl
                        .cmd("show bfd sessions")?
                        .lines()
                        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string)),
                ),
                (_, _, Some(p)) => {
                    let v = p.json("show bfd peers json")?;
                    count_up(
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .map(|x| x["status"].as_str().unwrap_or("").to_string()),
                    )
                }
                _ => 0,
            })
        };
        let a_up = || -> bgpd_lab::Result<u64> {
            Ok(count_up(bfd::bgpd_sessions(&da)?.into_iter().map(|s| s.1)))
        };
        wait_observing(
            SETTLE,
            Duration::from_millis(500),
            "200 sessions Up",
            || {
                let (x, y) = (a_up()?, peer_up()?);
                Ok(Observed::when(
                    x == u64::from(n) && y == u64::from(n),
                    format!("bgpd {x} Up, {other} {y} Up"),
                ))
            },
        )?;
        // The Poll Sequences to 100 ms are over.
        std::thread::sleep(Duration::from_secs(3));
        let pa = pid_of(&a.ns, "bgpd").ok_or("no bgpd process in a")?;
        let pb = pid_of(&b.ns, peer_comm).ok_or("no peer process in b")?;
        let (a0, b0) = (cpu_split(pa), cpu_split(pb));
        let t0 = Instant::now();
        std::thread::sleep(window);
        let (a1, b1) = (cpu_split(pa), cpu_split(pb));
        let wall = t0.elapsed().as_secs_f64();
        let (ua, ub) = (a_up()?, peer_up()?);
        let side = |proc_name: &str, c0: (f64, f64), c1: (f64, f64), up: u64| {
            let (u, s) = (c1.0 - c0.0, c1.1 - c0.1);
            eprintln!(
                "{other} pair, {proc_name}: user {u:.2} s + system {s:.2} s over {wall:.1} s = {:.2} % ({up} Up)",
                (u + s) / wall * 100.0
            );
            json!({"process": proc_name, "user_s": u, "system_s": s, "wall_s": wall,
                   "pct": (u + s) / wall * 100.0, "up_after": up})
        };
        pairs.push(json!({
            "name": format!("bgpd ↔ {other}"),
            "processes": [side("bgpd", a0, a1, ua), side(&format!("{other} ({peer_comm})"), b0, b1, ub)],
        }));
    }
    Ok(json!({
        "date": date,
        "load_start": load_start,
        "load_end": loadavg(),
        "method": format!("200 BFD sessions between two namespaces on one bridge (one address per session on each side), 100 ms × 3, all Up; user and system CPU of each process over {} s from /proc/PID/stat. Each sent packet's delivery into the other namespace (veth, bridge, the receiver's IP and UDP input) runs in the sender's system time: the system column is mostly the kernel's work per packet.", window.as_secs()),
        "pairs": pairs,
    }))
}

fn write_report(v: &Value) -> R<()> {
    let path = report_dir().join("..").join("REPORT.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, bfd_report::splice(&old, &bfd_report::render(v)))?;
    Ok(())
}

fn main() -> R<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let json_path = report_dir().join("bfd.json");
    let mut v: Value = std::fs::read_to_string(&json_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    if !args.iter().any(|a| a == "--report-only") {
        let parts = arg("--parts").unwrap_or_else(|| "cut,cpu".into());
        let peers = arg("--peers").unwrap_or_else(|| "bgpd,bird2,frr".into());
        let cuts: usize = arg("--cuts").map_or(Ok(20), |s| s.parse())?;
        let window = Duration::from_secs(arg("--window").map_or(Ok(60), |s| s.parse())?);
        let bin = Bgpd::binary()?;
        let build = json!(format!(
            "{} ({})",
            bin.display(),
            std::env::var("BGPD_BUILD")
                .unwrap_or_else(|_| "build not stated: set BGPD_BUILD".into())
        ));
        let command = json!(format!("bfd_figures {}", args.join(" ")));
        for part in parts.split(',') {
            let mut r = match part {
                "cut" => cut_part(cuts)?,
                "cpu" => cpu_part(window, &peers.split(',').collect::<Vec<_>>())?,
                p => return Err(format!("unknown part {p}").into()),
            };
            r["bgpd_build"] = build.clone();
            r["command"] = command.clone();
            v[part] = r;
            std::fs::write(&json_path, serde_json::to_string_pretty(&v)?)?;
        }
    }
    write_report(&v)?;
    Ok(())
}

//! Churn harness (issue 19): does anything grow with neighbours that come and go, with flaps,
//! with interfaces or with time? The daemon under test runs in one network namespace, a load
//! generator (this process, on a thread inside a second namespace) connects from many source
//! addresses over the lab's bridge. Bounded: every part has a count and a time budget and
//! stops by itself.
//!
//! `churn [--daemons bgpd,bird2] [--parts idle,dynamic,static,iface,soak] [--idle N]
//!  [--dynamic N] [--static N] [--ifaces N] [--soak-secs S] [--report-only] [--append]`
//!
//! Parts (defaults in brackets):
//! * `idle`: N [1000] dynamic neighbours connect and stay Established, idle: RSS per
//!   neighbour; then they close: RSS once they are gone (bgpd forgets them).
//! * `dynamic`: N [2000] short sessions, each from a new address of the range, announce 100
//!   routes and close, 20 at a time: RSS at start, settled (after N/10), end; CPU per session;
//!   protocols still listed at the end.
//! * `static`: N [10000] resets of one configured, graceful-restart-capable peer (connect,
//!   handshake, one route, End-of-RIB, close): RSS settled after 100 and at the end, CPU per
//!   flap.
//! * `iface`: N [10000] `cali*` veth pairs created with an address and deleted in the
//!   daemon's namespace (Calico's pod interfaces): RSS and CPU per 1,000 events, first and
//!   last thousand.
//! * `soak`: S [300] seconds of route churn (one peer announcing and withdrawing 1,000
//!   routes), session flaps (a second peer every 2 s) and interface churn (10/s): RSS after the
//!   first minute and at the end; at the end the kernel's routes must equal the RIB's.
//!
//! Writes `benches/report/churn.json` (every figure, load averages, the commit) and
//! `benches/report/churn.md`; `--report-only` regenerates the latter from the former.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgp_core::wire::{Capability, Family, GracefulRestartCap, Nlri, Open};
use bgpd_benches::procstat::{cpu_s, loadavg, rss_mb};
use bgpd_benches::speaker::{connect, encode_table, handshake};
use bgpd_lab::lab::netns_pids;
use bgpd_lab::{cmd, Bgpd, Bird, BirdVersion, Lab, NodeNet};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(m.into().into())
}

/// The daemon's address (on the lab bridge's interface, beside the node's own).
const DUT_ADDR: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// Source addresses of the load: 100.64.0.10 + i inside 100.64.0.0/20.
const SRC_BASE: u32 = u32::from_be_bytes([100, 64, 0, 10]);
const RANGE: &str = "100.64.0.0/20";
const DUT_AS: u32 = 64512;
const PEER_AS: u32 = 65010;
/// The configured (static) peers of the `static` and `soak` parts.
const STATIC_SRC: usize = 4000;
const ROUTES_SRC: usize = 4001;

fn src(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(SRC_BASE + i as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Bgpd,
    Bird2,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "bird2",
        }
    }
}

struct Args {
    daemons: Vec<Daemon>,
    parts: Vec<String>,
    idle: usize,
    dynamic: usize,
    flaps: usize,
    ifaces: usize,
    soak_secs: u64,
    report_only: bool,
    /// Merge into the existing churn.json (a part and daemon measured again replaces its row).
    append: bool,
}

fn parse_args() -> R<Args> {
    let mut a = Args {
        daemons: vec![Daemon::Bgpd, Daemon::Bird2],
        parts: ["idle", "dynamic", "static", "iface", "soak"]
            .map(String::from)
            .to_vec(),
        idle: 1000,
        dynamic: 2000,
        flaps: 10_000,
        ifaces: 10_000,
        soak_secs: 300,
        report_only: false,
        append: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while let Some(k) = argv.get(i) {
        let mut val = || {
            i += 1;
            argv.get(i).cloned().ok_or(format!("{k} needs a value"))
        };
        match k.as_str() {
            "--daemons" => {
                a.daemons = val()?
                    .split(',')
                    .map(|d| match d {
                        "bgpd" => Ok(Daemon::Bgpd),
                        "bird2" => Ok(Daemon::Bird2),
                        o => Err(format!("unknown daemon {o}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--parts" => a.parts = val()?.split(',').map(String::from).collect(),
            "--idle" => a.idle = val()?.parse()?,
            "--dynamic" => a.dynamic = val()?.parse()?,
            "--static" => a.flaps = val()?.parse()?,
            "--ifaces" => a.ifaces = val()?.parse()?,
            "--soak-secs" => a.soak_secs = val()?.parse()?,
            "--report-only" => a.report_only = true,
            "--append" => a.append = true,
            "--help" | "-h" => {
                println!("{}", USAGE);
                std::process::exit(0);
            }
            o => return err(format!("unknown argument {o}\n{USAGE}")),
        }
        i += 1;
    }
    Ok(a)
}

const USAGE: &str = "churn [--daemons bgpd,bird2] [--parts idle,dynamic,static,iface,soak] [--idle N] [--dynamic N] [--static N] [--ifaces N] [--soak-secs S] [--report-only] [--append]";

// ---------------------------------------------------------------------------------------
// The daemon under test.

struct Dut {
    d: Daemon,
    node: NodeNet,
    bgpd: Option<Bgpd>,
    bird: Option<Bird>,
    pid: i32,
}

fn bgpd_binary() -> R<PathBuf> {
    if let Some(p) = std::env::var_os("BGPD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/bgpd");
    if release.exists() {
        return Ok(release);
    }
    err("no target/release/bgpd: run `cargo build --release -p bgpd` (or set BGPD_BIN)")
}

fn bgpd_config() -> String {
    format!(
        r#"router_id = "{DUT_ADDR}"
asn = {DUT_AS}
[listen]
addresses = ["{DUT_ADDR}"]
[kernel]
protocol = "bird"
scan_interval = 60
[direct]
interfaces = ["-cali*", "*"]
[[peers]]
name = "Flappy"
address = "{flappy}"
asn = {PEER_AS}
passive = true
[[peers]]
name = "Routes"
address = "{routes}"
asn = {PEER_AS}
passive = true
[[peer_ranges]]
name = "Dyn"
prefix = "{RANGE}"
asn = {PEER_AS}
hold_time = 90
"#,
        flappy = src(STATIC_SRC),
        routes = src(ROUTES_SRC),
    )
}

fn bird2_config(node: &NodeNet) -> String {
    format!(
        r#"log "{log}" {{ warning, error, fatal }};
router id {DUT_ADDR};
protocol device {{ scan time 10; }}
protocol direct {{ ipv4; interface -"cali*", "*"; }}
protocol kernel k4 {{ scan time 60; ipv4 {{ import none; export all; }}; }}
template bgp t {{
  local {DUT_ADDR} as {DUT_AS};
  hold time 90; keepalive time 30;
  passive on; direct; graceful restart on;
  ipv4 {{ import all; export none; }};
}}
protocol bgp Flappy from t {{ neighbor {flappy} as {PEER_AS}; }}
protocol bgp Routes from t {{ neighbor {routes} as {PEER_AS}; }}
protocol bgp Dyn from t {{ neighbor range {RANGE} as {PEER_AS}; dynamic name "Dyn"; }}
"#,
        log = node.path("bird.log").display(),
        flappy = src(STATIC_SRC),
        routes = src(ROUTES_SRC),
    )
}

impl Dut {
    fn start(d: Daemon, node: &NodeNet) -> R<Dut> {
        let (bgpd, bird) = match d {
            Daemon::Bgpd => (
                Some(Bgpd::start_with(node, &bgpd_config(), bgpd_binary()?)?),
                None,
            ),
            Daemon::Bird2 => (
                None,
                Some(Bird::start(BirdVersion::V2, node, &bird2_config(node))?),
            ),
        };
        let want = if d == Daemon::Bgpd { "bgpd" } else { "bird" };
        let pid = netns_pids(&node.ns)
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == want)
            })
            .ok_or("daemon pid not found")?;
        Ok(Dut {
            d,
            node: node.clone(),
            bgpd,
            bird,
            pid,
        })
    }

    fn rss(&self) -> f64 {
        rss_mb(self.pid).1
    }

    fn cpu(&self) -> f64 {
        cpu_s(self.pid)
    }

    /// BGP protocols the daemon lists, and how many are Established.
    fn sessions(&self) -> R<(usize, usize)> {
        if let Some(b) = &self.bgpd {
            let p = b.protocols()?;
            let bgp: Vec<_> = p.iter().filter_map(|p| p.bgp.as_ref()).collect();
            let up = bgp.iter().filter(|s| s.state == "Established").count();
            return Ok((bgp.len(), up));
        }
        let Some(b) = &self.bird else {
            return err("no daemon");
        };
        let text = b.ctl.cmd("show protocols")?;
        let rows: Vec<&str> = text.lines().filter(|l| l.contains(" BGP ")).collect();
        let up = rows.iter().filter(|l| l.contains("Established")).count();
        Ok((rows.len(), up))
    }

    /// Routes the daemon selected (its RIB's primary routes from BGP).
    fn rib_routes(&self) -> R<u64> {
        if let Some(b) = &self.bgpd {
            return Ok(b
                .routes()?
                .iter()
                .filter(|r| r.primary && r.bgp.is_some())
                .count() as u64);
        }
        let Some(b) = &self.bird else {
            return err("no daemon");
        };
        Ok(b.ctl.route_count("protocol Routes primary")?)
    }

    fn check(&mut self) -> R<()> {
        if std::fs::metadata(format!("/proc/{}", self.pid)).is_err() {
            return err(format!(
                "{} exited (logs in {})",
                self.d.name(),
                self.node.dir.display()
            ));
        }
        Ok(())
    }
}

/// Polls `f` until it returns true, every 200 ms, at most `secs`.
fn wait(secs: u64, what: &str, mut f: impl FnMut() -> R<bool>) -> R<()> {
    let t = Instant::now();
    loop {
        if f().unwrap_or(false) {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(secs) {
            return err(format!("timed out after {secs} s: {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// RSS once it stopped moving (three readings 1 s apart within 0.2 MB), at most 15 s.
fn settled_rss(dut: &Dut) -> f64 {
    let mut last = dut.rss();
    for _ in 0..15 {
        std::thread::sleep(Duration::from_secs(1));
        let now = dut.rss();
        if (now - last).abs() < 0.2 {
            return now;
        }
        last = now;
    }
    last
}

// ---------------------------------------------------------------------------------------
// The load: a runtime on a thread inside the generator's namespace.

fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static,
) -> R<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || -> Result<T, String> {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns on this thread only, with a valid namespace fd.
        if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) } < 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(f(&rt))
    })
    .join()
    .map_err(|_| "load thread panicked")?
    .map_err(Into::into)
}

fn open_msg(asn: u32, id: Ipv4Addr, gr: bool) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ];
    if gr {
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time: 30,
            families: vec![(Family::IPV4_UNICAST, true)],
        }));
    }
    Open::new(asn, 90, id, caps)
}

fn prefixes(base: Ipv4Addr, n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(u32::from(base) + ((i as u32) << 8));
            Nlri::new(IpNet::V4(Ipv4Net::new(a, 24).unwrap_or_default()))
        })
        .collect()
}

/// One session from `from`: handshake (retried while the daemon refuses, at most `secs`),
/// then `routes` announced with End-of-RIB. Returns the open connection.
async fn session(
    from: Ipv4Addr,
    gr: bool,
    routes: &[Nlri],
    secs: u64,
) -> std::io::Result<TcpStream> {
    let target = SocketAddr::new(DUT_ADDR.into(), 179);
    let open = open_msg(PEER_AS, from, gr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let attempt = async {
            let mut s = connect(from, target).await?;
            let mut buf = BytesMut::new();
            let ctx = handshake(&mut s, &mut buf, &open).await?;
            s.write_all(&encode_table(&ctx, routes, from, false))
                .await?;
            Ok::<_, std::io::Error>(s)
        };
        match attempt.await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parts.

struct Topo {
    _lab: Lab,
    dut: NodeNet,
    gen: NodeNet,
}

fn topology(test: &str, sources: usize) -> R<Topo> {
    let mut lab = Lab::with_capture(test, false)?;
    let lan = lab.lan()?;
    let dut = lab.node("dut", &[(&lan, 1)], None)?;
    let gen = lab.node("gen", &[(&lan, 2)], None)?;
    cmd::ip(&[
        "-n",
        &dut.ns,
        "addr",
        "add",
        &format!("{DUT_ADDR}/20"),
        "dev",
        dut.iface(),
    ])?;
    let mut batch = String::new();
    for i in (0..sources).chain([STATIC_SRC, ROUTES_SRC]) {
        let _ = writeln!(batch, "addr add {}/20 dev {}", src(i), gen.iface());
    }
    let file = gen.path("addrs.batch");
    std::fs::write(&file, batch)?;
    cmd::ip(&["-n", &gen.ns, "-batch", &file.to_string_lossy()])?;
    Ok(Topo {
        _lab: lab,
        dut,
        gen,
    })
}

fn part_idle(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-idle-{}", d.name()), n)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let base = settled_rss(&dut);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let ns = t.gen.ns.clone();
    let holder = std::thread::spawn(move || {
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let mut conns = Vec::new();
                for i in 0..n {
                    conns.push(tokio::spawn(async move {
                        session(src(i), false, &[], 120).await
                    }));
                }
                let mut open = Vec::new();
                for c in conns {
                    if let Ok(Ok(s)) = c.await {
                        open.push(s);
                    }
                }
                // Keepalives while the measurement runs (hold 90 s).
                let ka = [0xffu8; 16]
                    .iter()
                    .copied()
                    .chain([0, 19, 4])
                    .collect::<Vec<u8>>();
                loop {
                    if rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                        break;
                    }
                    for s in &mut open {
                        let _ = s.write_all(&ka).await;
                    }
                }
                open.len()
            })
        })
    });
    wait(300, "every idle neighbour Established", || {
        dut.check()?;
        Ok(dut.sessions()?.1 >= n)
    })?;
    let up = settled_rss(&dut);
    let _ = tx.send(());
    let opened = holder.join().map_err(|_| "holder panicked")??;
    let gone = wait(120, "neighbours gone", || {
        let (listed, est) = dut.sessions()?;
        Ok(est == 0 && (d != Daemon::Bgpd || listed <= 2))
    });
    let after = settled_rss(&dut);
    let listed = dut.sessions()?.0;
    Ok(json!({
        "part": "idle", "daemon": d.name(), "neighbours": n, "opened": opened,
        "rss_base_mb": base, "rss_up_mb": up, "rss_after_mb": after,
        "per_neighbour_kb": (up - base) * 1024.0 / n as f64,
        "listed_after": listed, "forgotten": gone.is_ok(), "load": loadavg(),
    }))
}

fn part_dynamic(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-dyn-{}", d.name()), n)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let cpu0 = dut.cpu();
    let run = |from: usize, to: usize| -> R<usize> {
        let ns = t.gen.ns.clone();
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let mut ok = 0;
                let mut i = from;
                while i < to {
                    let batch: Vec<_> = (i..(i + 20).min(to))
                        .map(|k| {
                            tokio::spawn(async move {
                                let base = Ipv4Addr::from(
                                    u32::from_be_bytes([20, 0, 0, 0]) + ((k as u32) << 16),
                                );
                                let s = session(src(k), false, &prefixes(base, 100), 30).await;
                                if let Ok(mut s) = s {
                                    let _ = s.shutdown().await;
                                    return true;
                                }
                                false
                            })
                        })
                        .collect();
                    for b in batch {
                        ok += usize::from(b.await.unwrap_or(false));
                    }
                    i += 20;
                }
                ok
            })
        })
    };
    let first = run(0, n / 10)?;
    dut.check()?;
    let settled = settled_rss(&dut);
    let t0 = Instant::now();
    let rest = run(n / 10, n)?;
    let wall = t0.elapsed().as_secs_f64();
    dut.check()?;
    let _ = wait(120, "sessions closed", || Ok(dut.sessions()?.1 == 0));
    let end = settled_rss(&dut);
    let cpu = dut.cpu() - cpu0;
    let listed = dut.sessions()?.0;
    Ok(json!({
        "part": "dynamic", "daemon": d.name(), "sessions": n, "completed": first + rest,
        "rss_start_mb": start, "rss_settled_mb": settled, "rss_end_mb": end,
        "growth_after_settled_kb_per_session": (end - settled) * 1024.0 / (n - n / 10) as f64,
        "cpu_ms_per_session": cpu * 1000.0 / n as f64, "wall_s": wall,
        "listed_at_end": listed, "load": loadavg(),
    }))
}

fn part_static(d: Daemon, n: usize, budget: Duration) -> R<Value> {
    let t = topology(&format!("churn-static-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let flaps = |count: usize, budget: Duration| -> R<usize> {
        let ns = t.gen.ns.clone();
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let t0 = Instant::now();
                let one = prefixes(Ipv4Addr::new(30, 0, 0, 0), 1);
                let mut done = 0;
                while done < count && t0.elapsed() < budget {
                    match session(src(STATIC_SRC), true, &one, 60).await {
                        Ok(mut s) => {
                            let _ = s.shutdown().await;
                            done += 1;
                        }
                        Err(_) => break,
                    }
                }
                done
            })
        })
    };
    let first = flaps(100, budget)?;
    dut.check()?;
    let settled = settled_rss(&dut);
    let cpu0 = dut.cpu();
    let t0 = Instant::now();
    let rest = flaps(n.saturating_sub(100), budget)?;
    let wall = t0.elapsed().as_secs_f64();
    dut.check()?;
    let cpu = dut.cpu() - cpu0;
    let end = settled_rss(&dut);
    Ok(json!({
        "part": "static", "daemon": d.name(), "flaps_asked": n, "flaps": first + rest,
        "rss_start_mb": start, "rss_settled_mb": settled, "rss_end_mb": end,
        "growth_pct": (end - settled) * 100.0 / settled,
        "cpu_ms_per_flap": cpu * 1000.0 / rest.max(1) as f64, "wall_s": wall,
        "load": loadavg(),
    }))
}

/// Creates `n` `cali*` veth pairs with an address each, then deletes them (`ip -batch`).
fn iface_cycles(ns: &str, dir: &std::path::Path, from: usize, n: usize) -> R<()> {
    let mut add = String::new();
    let mut del = String::new();
    for i in from..from + n {
        let _ = writeln!(add, "link add cali{i:07} type veth peer name cp{i:07}");
        let _ = writeln!(add, "link set cali{i:07} up");
        let _ = writeln!(
            add,
            "addr add 169.254.{}.{}/32 dev cali{i:07}",
            (i / 250) % 250,
            i % 250 + 1
        );
        let _ = writeln!(del, "link del cali{i:07}");
    }
    for (name, text) in [("add", add), ("del", del)] {
        let f = dir.join(format!("iface-{name}.batch"));
        std::fs::write(&f, text)?;
        cmd::ip(&["-n", ns, "-batch", &f.to_string_lossy()])?;
    }
    Ok(())
}

/// [`iface_cycles`] in steps of 100 (a veth deletion waits for an RCU grace period: 1,000 in
/// one `ip -batch` outlast the command timeout).
fn iface_cycles_stepped(ns: &str, dir: &std::path::Path, from: usize, n: usize) -> R<()> {
    let mut i = from;
    while i < from + n {
        let k = 100.min(from + n - i);
        iface_cycles(ns, dir, i, k)?;
        i += k;
    }
    Ok(())
}

fn part_iface(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-iface-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let mut per_k = Vec::new();
    let mut rss = Vec::new();
    let mut i = 0;
    while i < n {
        let k = 1000.min(n - i);
        let c0 = dut.cpu();
        iface_cycles_stepped(&t.dut.ns, &t.dut.dir, i, k)?;
        // Let the daemon finish with the events before reading its CPU time.
        std::thread::sleep(Duration::from_millis(500));
        dut.check()?;
        per_k.push((dut.cpu() - c0) * 1000.0 / k as f64);
        rss.push(dut.rss());
        i += k;
    }
    let end = settled_rss(&dut);
    Ok(json!({
        "part": "iface", "daemon": d.name(), "cycles": n,
        "rss_start_mb": start, "rss_end_mb": end, "rss_per_1000": rss,
        "cpu_ms_per_event_per_1000": per_k, "load": loadavg(),
    }))
}

fn part_soak(d: Daemon, secs: u64) -> R<Value> {
    let t = topology(&format!("churn-soak-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let ns = t.gen.ns.clone();
    let dur = Duration::from_secs(secs);
    // Route churn and flaps from the generator; interface churn from here.
    let load = std::thread::spawn(move || {
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let flapper = tokio::spawn(async move {
                    let t0 = Instant::now();
                    let one = prefixes(Ipv4Addr::new(30, 0, 0, 0), 1);
                    let mut n = 0u64;
                    while t0.elapsed() < dur {
                        if let Ok(mut s) = session(src(STATIC_SRC), true, &one, 60).await {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            let _ = s.shutdown().await;
                            n += 1;
                        }
                    }
                    n
                });
                // One long session: 1,000 routes in, then alternately withdrawn and back.
                let t0 = Instant::now();
                let set = prefixes(Ipv4Addr::new(40, 0, 0, 0), 1000);
                let mut rounds = 0u64;
                if let Ok(mut s) = session(src(ROUTES_SRC), false, &set, 60).await {
                    while t0.elapsed() < dur {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        // Withdraw half, re-announce it: one UPDATE each way per second.
                        let half = &set[(rounds as usize % 2) * 500..][..500];
                        let mut w = BytesMut::new();
                        encode_withdraw(half, &mut w);
                        let _ = s.write_all(&w).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let mut a = BytesMut::new();
                        encode_announce(half, src(ROUTES_SRC), &mut a);
                        let _ = s.write_all(&a).await;
                        rounds += 1;
                    }
                    // Leave it with every route announced: the end state the check compares.
                    let mut a = BytesMut::new();
                    encode_announce(&set, src(ROUTES_SRC), &mut a);
                    let _ = s.write_all(&a).await;
                    std::mem::forget(s);
                }
                (rounds, flapper.await.unwrap_or(0))
            })
        })
    });
    let t0 = Instant::now();
    let mut i = 0;
    let mut rss_1min = None;
    while t0.elapsed() < dur {
        iface_cycles(&t.dut.ns, &t.dut.dir, i, 10)?;
        i += 10;
        dut.check()?;
        if rss_1min.is_none() && t0.elapsed() > Duration::from_secs(60.min(secs / 2)) {
            rss_1min = Some(dut.rss());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let (rounds, flaps) = load.join().map_err(|_| "load panicked")??;
    // Quiet now: the kernel must hold exactly the RIB's selected BGP routes.
    let kernel = |dut: &Dut| -> R<u64> {
        let out = cmd::run(
            Some(&dut.node.ns),
            "ip",
            &["-4", "route", "show", "proto", "bird"],
        )?;
        Ok(out
            .lines()
            .filter(|l| l.starts_with("40.") || l.starts_with("30."))
            .count() as u64)
    };
    let equal = wait(60, "kernel equals RIB", || {
        let k = kernel(&dut)?;
        Ok(k == dut.rib_routes()? && k >= 1000)
    });
    let end = settled_rss(&dut);
    Ok(json!({
        "part": "soak", "daemon": d.name(), "secs": secs, "route_rounds": rounds,
        "flaps": flaps, "iface_cycles": i,
        "rss_start_mb": start, "rss_1min_mb": rss_1min, "rss_end_mb": end,
        "kernel_equals_rib": equal.is_ok(), "kernel_routes": kernel(&dut).ok(),
        "rib_routes": dut.rib_routes().ok(), "load": loadavg(),
    }))
}

/// Withdrawals of `p` (IPv4 unicast, no attributes), 4 KB UPDATEs at most.
fn encode_withdraw(p: &[Nlri], out: &mut BytesMut) {
    for chunk in p.chunks(800) {
        let body: Vec<u8> = chunk.iter().flat_map(nlri24).collect();
        let len = 19 + 2 + body.len() + 2;
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&[2]);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&[0, 0]);
    }
}

/// Announcements of `p` with next hop `nh` and AS_PATH `PEER_AS`.
fn encode_announce(p: &[Nlri], nh: Ipv4Addr, out: &mut BytesMut) {
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
    attrs.extend(PEER_AS.to_be_bytes());
    attrs.extend([0x40, 3, 4]);
    attrs.extend(nh.octets());
    for chunk in p.chunks(800) {
        let nlri: Vec<u8> = chunk.iter().flat_map(nlri24).collect();
        let len = 19 + 2 + 2 + attrs.len() + nlri.len();
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&[2, 0, 0]);
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&nlri);
    }
}

fn nlri24(n: &Nlri) -> [u8; 4] {
    match n.prefix {
        IpNet::V4(p) => {
            let o = p.addr().octets();
            [24, o[0], o[1], o[2]]
        }
        IpNet::V6(_) => [0; 4],
    }
}

// ---------------------------------------------------------------------------------------
// Report.

fn report_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("report")
}

fn f(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => n.as_f64().map_or("-".into(), |x| {
            if x.abs() >= 100.0 || x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        }),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(a)) => {
            let nums: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
            match (nums.first(), nums.last()) {
                (Some(a), Some(b)) => format!("{a:.2} → {b:.2}"),
                _ => "-".into(),
            }
        }
        Some(Value::Null) | None => "-".into(),
        Some(o) => o.to_string(),
    }
}

fn rows<'a>(runs: &'a [Value], part: &'a str) -> impl Iterator<Item = &'a Value> {
    runs.iter().filter(move |r| r["part"] == part)
}

/// One table: `title`, then one row per run of `part`, a column per (heading, key, unit).
fn table(t: &mut String, runs: &[Value], part: &str, title: &str, cols: &[(&str, &str, &str)]) {
    let head: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let _ = writeln!(
        t,
        "\n## {title}\n\n| daemon | {} |\n|---|{}",
        head.join(" | "),
        "---|".repeat(cols.len())
    );
    for r in rows(runs, part) {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, k, unit)| format!("{}{unit}", f(r, k).trim_matches('"')))
            .collect();
        let daemon = r["daemon"].as_str().unwrap_or("?");
        match r.get("error").and_then(Value::as_str) {
            Some(e) => {
                let _ = writeln!(t, "| {daemon} | failed: {e} |");
            }
            None => {
                let _ = writeln!(t, "| {daemon} | {} |", cells.join(" | "));
            }
        }
    }
}

fn render(runs: &[Value], meta: &Value) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Churn (issue 19)\n\nGenerated by `churn` from `churn.json` ({}; commit {}; {}; load at the end of each part in its row).",
        meta["date"].as_str().unwrap_or("?"),
        meta["commit"].as_str().unwrap_or("?"),
        meta["command"].as_str().unwrap_or("?")
    );
    table(
        &mut t,
        runs,
        "idle",
        "Idle dynamic neighbours",
        &[
            ("neighbours", "neighbours", ""),
            ("RSS base", "rss_base_mb", " MB"),
            ("RSS up", "rss_up_mb", " MB"),
            ("per neighbour", "per_neighbour_kb", " KB"),
            ("RSS after they left", "rss_after_mb", " MB"),
            ("listed after", "listed_after", ""),
            ("load", "load", ""),
        ],
    );
    table(
        &mut t,
        runs,
        "dynamic",
        "Dynamic neighbours that come and go (100 routes each)",
        &[
            ("sessions", "completed", ""),
            ("RSS start", "rss_start_mb", " MB"),
            ("settled (after 10 %)", "rss_settled_mb", " MB"),
            ("end", "rss_end_mb", " MB"),
            (
                "growth per session after settling",
                "growth_after_settled_kb_per_session",
                " KB",
            ),
            ("CPU per session", "cpu_ms_per_session", " ms"),
            ("listed at end", "listed_at_end", ""),
            ("load", "load", ""),
        ],
    );
    table(
        &mut t,
        runs,
        "static",
        "A static peer flapping",
        &[
            ("flaps", "flaps", ""),
            ("RSS start", "rss_start_mb", " MB"),
            ("settled (100 flaps)", "rss_settled_mb", " MB"),
            ("end", "rss_end_mb", " MB"),
            ("growth", "growth_pct", " %"),
            ("CPU per flap", "cpu_ms_per_flap", " ms"),
            ("load", "load", ""),
        ],
    );
    table(
        &mut t,
        runs,
        "iface",
        "Interface churn (`cali*` veths with an address, created and deleted)",
        &[
            ("cycles", "cycles", ""),
            ("RSS start", "rss_start_mb", " MB"),
            ("end", "rss_end_mb", " MB"),
            ("RSS first → last 1,000", "rss_per_1000", " MB"),
            (
                "CPU ms per event, first → last 1,000",
                "cpu_ms_per_event_per_1000",
                "",
            ),
            ("load", "load", ""),
        ],
    );
    table(
        &mut t,
        runs,
        "soak",
        "Soak: route churn, session flaps and interface churn together",
        &[
            ("seconds", "secs", ""),
            ("route rounds", "route_rounds", ""),
            ("flaps", "flaps", ""),
            ("interface cycles", "iface_cycles", ""),
            ("RSS start", "rss_start_mb", " MB"),
            ("after 1 min", "rss_1min_mb", " MB"),
            ("end", "rss_end_mb", " MB"),
            ("kernel = RIB at the end", "kernel_equals_rib", ""),
            ("kernel / RIB routes", "kernel_routes", ""),
            ("", "rib_routes", ""),
            ("load", "load", ""),
        ],
    );
    t
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("churn: {e}");
            std::process::exit(2);
        }
    };
    let file = report_dir().join("churn.json");
    if !a.report_only {
        let mut runs = Vec::new();
        for part in &a.parts {
            for &d in &a.daemons {
                eprintln!("churn: {part} on {}", d.name());
                let r = match part.as_str() {
                    "idle" => part_idle(d, a.idle),
                    "dynamic" => part_dynamic(d, a.dynamic),
                    "static" => part_static(d, a.flaps, Duration::from_secs(900)),
                    "iface" => part_iface(d, a.ifaces),
                    "soak" => part_soak(d, a.soak_secs),
                    o => err(format!("unknown part {o}")),
                };
                match r {
                    Ok(v) => {
                        eprintln!("churn: {v}");
                        runs.push(v);
                    }
                    Err(e) => {
                        eprintln!("churn: {part} on {}: {e}", d.name());
                        runs.push(
                            json!({"part": part, "daemon": d.name(), "error": e.to_string()}),
                        );
                    }
                }
            }
        }
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut command = std::env::args().collect::<Vec<_>>().join(" ");
        if a.append {
            // Earlier rows stay unless measured again; the commands accumulate.
            let old: Value = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null);
            let key = |v: &Value| (v["part"].clone(), v["daemon"].clone());
            let mut merged: Vec<Value> = old["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| !runs.iter().any(|n| key(n) == key(o)))
                .collect();
            merged.append(&mut runs);
            runs = merged;
            if let Some(c) = old["meta"]["command"].as_str() {
                command = format!("{c}; then {command}");
            }
        }
        let doc = json!({
            "meta": {"date": date, "commit": commit, "command": command},
            "runs": runs,
        });
        if let Err(e) = std::fs::write(
            &file,
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        ) {
            eprintln!("churn: {}: {e}", file.display());
        }
    }
    let doc: Value = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let runs = doc["runs"].as_array().cloned().unwrap_or_default();
    let md = render(&runs, &doc["meta"]);
    let out = report_dir().join("churn.md");
    if let Err(e) = std::fs::write(&out, &md) {
        eprintln!("churn: {}: {e}", out.display());
    }
    // The same tables in benches/REPORT.md, between their markers (converge keeps them).
    let report = report_dir().join("..").join("REPORT.md");
    let r = std::fs::read_to_string(&report).unwrap_or_default();
    let r = bgpd_benches::report_section::with_churn(&r, &report_dir());
    if let Err(e) = std::fs::write(&report, r) {
        eprintln!("churn: {}: {e}", report.display());
    }
    print!("{md}");
}

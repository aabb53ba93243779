//! End-to-end convergence harness (issue 8): the daemon under test in one network namespace,
//! the injector (`inject`, bgp-core's encoder) in another, over a veth pair through the lab's
//! bridge; configs generated here; the same routes and the same injector for every daemon, in
//! the same run. See `benches/README.md` (## Convergence) for the method and the command.
//!
//! `converge [--quick] [--reps N] [--shapes a,b] [--daemons a,b] [--report-only]`
//!
//! Each shape writes `benches/report/<shape>.json` (every repetition, the load average, the
//! date, the command); then `benches/REPORT.md` and `benches/report/convergence.svg` are
//! regenerated from every shape file present.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bgpd_benches::procstat::{cpu_s, cpu_split, loadavg, rss_mb};
use bgpd_lab::lab::netns_pids;
use bgpd_lab::Process;
use bgpd_lab::{
    cmd, Bgpd, Bird, BirdVersion, Frr, Gobgp, GobgpConfig, GobgpNeighbor, Lab, NodeNet,
};
use serde_json::{json, Value};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(m.into().into())
}

fn mono_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

fn secs(from: u128, to: u128) -> f64 {
    to.saturating_sub(from) as f64 / 1e9
}

const DUT_ADDR: &str = "100.64.0.1";
const SRC_BASE: [u8; 4] = [100, 64, 0, 10];
const DUT_AS: u32 = 64512;
const EBGP_AS: u32 = 65001;
const POLL: Duration = Duration::from_millis(100);
const PROTO_BIRD: u8 = 12;
const PROTO_BGP: u8 = 186;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Bgpd,
    Bird2,
    Bird16,
    Frr,
    Gobgp,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "bird2",
            Daemon::Bird16 => "bird16",
            Daemon::Frr => "frr",
            Daemon::Gobgp => "gobgp",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "BIRD 2.0.12",
            Daemon::Bird16 => "BIRD 1.6.8",
            Daemon::Frr => "FRR 8.4 (bgpd; zebra apart)",
            Daemon::Gobgp => "GoBGP 3 (no FIB)",
        }
    }
    fn parse(s: &str) -> Option<Daemon> {
        [
            Daemon::Bgpd,
            Daemon::Bird2,
            Daemon::Bird16,
            Daemon::Frr,
            Daemon::Gobgp,
        ]
        .into_iter()
        .find(|d| d.name() == s)
    }
    /// The `rtm_protocol` of its kernel routes, if it programs the kernel.
    fn kernel_proto(self) -> Option<u8> {
        match self {
            Daemon::Bird2 | Daemon::Bird16 | Daemon::Bgpd => Some(PROTO_BIRD),
            Daemon::Frr => Some(PROTO_BGP),
            Daemon::Gobgp => None,
        }
    }
}

/// What the injector does and how the daemon is configured for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// eBGP sessions from the injector, `routes` distinct /24 each.
    Ebgp { sessions: usize, routes: usize },
    /// The daemon reflects between `clients` iBGP clients (one /26 each).
    Rr { clients: usize },
    /// Idle Calico-like node: `peers` iBGP mesh peers, one /26 each.
    Idle { peers: usize, window: u64 },
}

impl Kind {
    fn sessions(self) -> usize {
        match self {
            Kind::Ebgp { sessions, .. } => sessions,
            Kind::Rr { clients } => clients,
            Kind::Idle { peers, .. } => peers,
        }
    }
    fn total_routes(self) -> u64 {
        match self {
            Kind::Ebgp { sessions, routes } => (sessions * routes) as u64,
            Kind::Rr { clients } => clients as u64,
            Kind::Idle { peers, .. } => peers as u64,
        }
    }
    fn ibgp(self) -> bool {
        !matches!(self, Kind::Ebgp { .. })
    }
    fn rr(self) -> bool {
        matches!(self, Kind::Rr { .. })
    }
}

fn src_addr(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::from(SRC_BASE)) + i as u32)
}

// ---------------------------------------------------------------------------------------
// Kernel route counting over netlink, from a thread inside the namespace.

/// Counts IPv4 routes of `proto` in table main with one netlink dump.
fn dump_count(fd: i32, proto: u8, seq: u32, buf: &mut [u8]) -> std::io::Result<u64> {
    // nlmsghdr (16) + rtmsg (12): RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, AF_INET.
    let mut req = [0u8; 28];
    req[0..4].copy_from_slice(&28u32.to_ne_bytes());
    req[4..6].copy_from_slice(&26u16.to_ne_bytes());
    req[6..8].copy_from_slice(&(1u16 | 0x300).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req[16] = libc::AF_INET as u8;
    // SAFETY: send(2) of a buffer we own on a socket we own.
    let r = unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut n = 0u64;
    loop {
        // SAFETY: recv(2) into a buffer we own.
        let len = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let data = buf.get(..len as usize).unwrap_or(&[]);
        for m in bgp_fib::wire::Messages::new(data) {
            let (h, p) = m.map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            if h.seq != seq {
                continue;
            }
            match h.kind {
                3 => return Ok(n), // NLMSG_DONE
                2 => return Err(std::io::Error::other("netlink dump error")),
                // RTM_NEWROUTE; rtmsg: family, dst_len, src_len, tos, table, protocol, ...
                24 if p.get(4) == Some(&254) && p.get(5) == Some(&proto) => n += 1,
                _ => {}
            }
        }
    }
}

/// A thread that entered namespace `ns` and answers "how many routes of `proto`" requests.
struct KernelCounter {
    chan: std::sync::Mutex<(mpsc::Sender<()>, mpsc::Receiver<std::io::Result<u64>>)>,
}

impl KernelCounter {
    fn start(ns: &str, proto: u8) -> R<KernelCounter> {
        let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
        let (req_tx, req_rx) = mpsc::channel::<()>();
        let (resp_tx, resp_rx) = mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: setns on this thread only, with a valid namespace fd.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                let _ = resp_tx.send(Err(std::io::Error::last_os_error()));
                return;
            }
            // SAFETY: plain socket(2); the fd is owned below.
            let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE) };
            if fd < 0 {
                let _ = resp_tx.send(Err(std::io::Error::last_os_error()));
                return;
            }
            // SAFETY: fd was just returned by socket(2).
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            let size: libc::c_int = 8 << 20;
            // SAFETY: setsockopt with a valid int option.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            let mut buf = vec![0u8; 1 << 20];
            let mut seq = 1;
            while req_rx.recv().is_ok() {
                seq += 1;
                let r = dump_count(owned.as_raw_fd(), proto, seq, &mut buf);
                if resp_tx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok(KernelCounter {
            chan: std::sync::Mutex::new((req_tx, resp_rx)),
        })
    }
    fn count(&self) -> R<u64> {
        let c = self.chan.lock().map_err(|_| "kernel counter poisoned")?;
        c.0.send(())?;
        Ok(c.1.recv()??)
    }
}

// ---------------------------------------------------------------------------------------
// The injector process.

struct Injector {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<(String, u128, String)>,
    seen: Vec<(String, u128, String)>,
}

fn inject_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("inject")))
        .unwrap_or_else(|| PathBuf::from("inject"))
}

impl Injector {
    fn spawn(ns: &str, args: &[String], log: &Path) -> R<Injector> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(inject_bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log)?));
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
        let mut child = c.spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut w = line.splitn(3, ' ');
                let name = w.next().unwrap_or("").to_string();
                let t = w.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                let detail = w.next().unwrap_or("").to_string();
                if tx.send((name, t, detail)).is_err() {
                    break;
                }
            }
        });
        Ok(Injector {
            child,
            stdin,
            events: rx,
            seen: Vec::new(),
        })
    }
    fn send(&mut self, cmd: &str) -> R<()> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        Ok(())
    }
    /// Waits for event `name`; returns its time and detail.
    fn wait(&mut self, name: &str, timeout: Duration) -> R<(u128, String)> {
        if let Some(e) = self.seen.iter().find(|e| e.0 == name) {
            return Ok((e.1, e.2.clone()));
        }
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    let hit = e.0 == name;
                    let r = (e.1, e.2.clone());
                    self.seen.push(e);
                    if hit {
                        return Ok(r);
                    }
                }
                Err(_) => return err(format!("injector: no `{name}` within {timeout:?}")),
            }
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Daemons under test: configs, start, RIB counts, pids.

enum Dut {
    Bird(Bird),
    Frr(Frr),
    Gobgp(Gobgp),
    Bgpd {
        _process: Process,
        node: NodeNet,
        binary: PathBuf,
        socket: PathBuf,
    },
}

fn bird_config(v2: bool, kind: Kind, node: &NodeNet, kernel: bool) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "log \"{}\" {{ warning, error, fatal }};\nrouter id {DUT_ADDR};\nprotocol device {{ scan time 10; }}",
        node.path("bird.log").display()
    );
    let (imp, exp) = if kind.rr() {
        ("all", "all")
    } else {
        ("all", "none")
    };
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    if v2 {
        if kernel {
            let _ = writeln!(
                c,
                "protocol kernel k4 {{ scan time 60; ipv4 {{ import none; export all; }}; }}"
            );
        }
        let _ = writeln!(c, "template bgp inj {{\n  local {DUT_ADDR} as {DUT_AS};\n  hold time 90; keepalive time 30;\n  passive on;\n  direct;\n  ipv4 {{ import {imp}; export {exp}; }};");
        if kind.rr() {
            let _ = writeln!(c, "  rr client; rr cluster id 1.1.1.1;");
        }
        let _ = writeln!(c, "}}");
        if kind.rr() {
            let _ = writeln!(
                c,
                "protocol bgp clients from inj {{ neighbor range 100.64.0.0/22 internal; }}"
            );
        } else {
            for i in 0..kind.sessions() {
                let _ = writeln!(
                    c,
                    "protocol bgp p{i} from inj {{ neighbor {} as {peer_as}; }}",
                    src_addr(i)
                );
            }
        }
    } else {
        if kernel {
            let _ = writeln!(c, "protocol kernel {{ scan time 60; export all; }}");
        }
        let _ = writeln!(c, "template bgp inj {{\n  local {DUT_ADDR} as {DUT_AS};\n  hold time 90; keepalive time 30;\n  passive on;\n  import {imp}; export {exp};");
        if kind.rr() {
            let _ = writeln!(c, "  rr client; rr cluster id 1.1.1.1;");
        }
        let _ = writeln!(c, "}}");
        for i in 0..kind.sessions() {
            let _ = writeln!(
                c,
                "protocol bgp p{i} from inj {{ neighbor {} as {peer_as}; }}",
                src_addr(i)
            );
        }
    }
    c
}

fn frr_config(kind: Kind) -> String {
    let mut c = String::new();
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    let _ = writeln!(c, "frr defaults traditional\nhostname dut\n!\nrouter bgp {DUT_AS}\n bgp router-id {DUT_ADDR}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check");
    if kind.rr() {
        let _ = writeln!(c, " bgp cluster-id 1.1.1.1\n bgp listen limit 5000\n neighbor clients peer-group\n neighbor clients remote-as {DUT_AS}\n neighbor clients timers 30 90\n bgp listen range 100.64.0.0/22 peer-group clients\n address-family ipv4 unicast\n  neighbor clients activate\n  neighbor clients route-reflector-client\n exit-address-family");
    } else {
        // Export nothing (as BIRD's `export none`): the shapes measure receive → RIB → FIB.
        let _ = writeln!(c, " neighbor inj peer-group\n neighbor inj remote-as {peer_as}\n neighbor inj passive\n neighbor inj timers 30 90");
        for i in 0..kind.sessions() {
            let _ = writeln!(c, " neighbor {} peer-group inj", src_addr(i));
        }
        let _ = writeln!(
            c,
            " address-family ipv4 unicast\n  neighbor inj activate\n  neighbor inj route-map NONE out\n exit-address-family\n!\nroute-map NONE deny 10"
        );
    }
    c
}

fn gobgp_config(kind: Kind, node: &NodeNet) -> String {
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    if kind.rr() {
        format!(
            "[global.config]\n  as = {DUT_AS}\n  router-id = \"{DUT_ADDR}\"\n\n[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n    peer-as = {DUT_AS}\n  [peer-groups.timers.config]\n    hold-time = 90\n    keepalive-interval = 30\n  [peer-groups.transport.config]\n    passive-mode = true\n  [peer-groups.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = \"1.1.1.1\"\n  [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\n[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"100.64.0.0/22\"\n    peer-group = \"clients\"\n"
        )
    } else {
        let mut g = GobgpConfig::new(node, DUT_AS);
        g.router_id = DUT_ADDR.parse().unwrap_or(g.router_id);
        g.hold_time = 90;
        for i in 0..kind.sessions() {
            let mut n = GobgpNeighbor::new(src_addr(i), peer_as);
            n.passive = true;
            g.neighbors.push(n);
        }
        // Export nothing (as BIRD's `export none`).
        g.render().replacen(
            "\n\n[[neighbors]]",
            "\n[global.apply-policy.config]\n  default-export-policy = \"reject-route\"\n\n[[neighbors]]",
            1,
        )
    }
}

fn bgpd_config(kind: Kind) -> String {
    // The schema of bgpd/docs/config.md (branch `daemon`): no direct routes (they would count
    // in `show route count`), no graceful restart (the injector does not announce it either),
    // kernel protocol 12 as Calico runs BIRD.
    let peer_as = if kind.ibgp() { DUT_AS } else { EBGP_AS };
    let mut c = format!(
        "router_id = \"{DUT_ADDR}\"\nasn = {DUT_AS}\n\n[listen]\naddresses = [\"{DUT_ADDR}\"]\n\n[kernel]\nenabled = {}\nprotocol = 12\npersist = false\n\n[graceful_restart]\nenabled = false\n\n[direct]\ninterfaces = []\n",
        !kind.rr()
    );
    if !kind.rr() {
        // Export nothing (as BIRD's `export none`).
        let _ = writeln!(c, "\n[[policies]]\nname = \"none\"\ndefault = \"reject\"");
    }
    if kind.rr() {
        let _ = writeln!(c, "\n[route_reflector]\ncluster_id = \"1.1.1.1\"\n\n[[peer_ranges]]\nname = \"c\"\nprefix = \"100.64.0.0/22\"\nasn = {DUT_AS}\nrr_client = true\npassive = true\nhold_time = 90\nfamilies = [\"ipv4\"]");
    } else {
        for i in 0..kind.sessions() {
            let _ = writeln!(
                c,
                "\n[[peers]]\nname = \"p{i}\"\naddress = \"{}\"\nasn = {peer_as}\npassive = true\nhold_time = 90\nfamilies = [\"ipv4\"]\nexport = \"none\"",
                src_addr(i)
            );
        }
    }
    c
}

fn start_dut(d: Daemon, kind: Kind, node: &NodeNet) -> R<Dut> {
    let kernel = !kind.rr() && std::env::var_os("CONVERGE_NO_KERNEL").is_none();
    Ok(match d {
        Daemon::Bird2 => Dut::Bird(Bird::start(
            BirdVersion::V2,
            node,
            &bird_config(true, kind, node, kernel),
        )?),
        Daemon::Bird16 => Dut::Bird(Bird::start(
            BirdVersion::V16,
            node,
            &bird_config(false, kind, node, kernel),
        )?),
        Daemon::Frr => Dut::Frr(Frr::start(node, &frr_config(kind))?),
        Daemon::Gobgp => Dut::Gobgp(Gobgp::start(node, &gobgp_config(kind, node))?),
        Daemon::Bgpd => start_bgpd(node, &bgpd_config(kind))?,
    })
}

/// The bgpd under test: `$BGPD_BIN`, else the release build (never a newer debug build: the
/// lab's `Bgpd::binary` takes the newest of the two, which suits tests, not measurements).
fn bgpd_binary() -> R<std::path::PathBuf> {
    if std::env::var_os("BGPD_BIN").is_some() {
        return Ok(Bgpd::binary()?);
    }
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/bgpd");
    if release.exists() {
        return Ok(release);
    }
    err("no target/release/bgpd: run `cargo build --release -p bgpd` (or set BGPD_BIN)")
}

/// Starts `bgpd -c FILE -s SOCK` in the node's namespace and waits until it listens on 179
/// (its control socket answers from then on too).
fn start_bgpd(node: &NodeNet, config: &str) -> R<Dut> {
    let binary = bgpd_binary()?;
    let conf = node.path("bgpd.toml");
    std::fs::write(&conf, config)?;
    let socket = node.path("bgpd.ctl");
    let argv = cmd::in_netns(
        Some(&node.ns),
        &binary.to_string_lossy(),
        &[
            "-c",
            &conf.to_string_lossy(),
            "-s",
            &socket.to_string_lossy(),
        ],
    );
    let mut p = Process::spawn("bgpd", &argv, &node.path("bgpd.log"))?;
    let t = Instant::now();
    loop {
        p.ensure_running()?;
        let ss = cmd::run(Some(&node.ns), "ss", &["-Hltn", "sport = :179"]).unwrap_or_default();
        if !ss.trim().is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(15) {
            return err("bgpd does not listen on port 179");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Dut::Bgpd {
        _process: p,
        node: node.clone(),
        binary,
        socket,
    })
}

fn json_u64(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// `show route count` straight over BIRD's control socket (no `birdc` process per ask).
fn bird_count(sock: &Path) -> R<u64> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"show route count\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return err("BIRD closed the control socket");
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        // Reply code 0014 carries the count; a line starting with `0000` or an error ends it.
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("0014") {
                let rest = rest.trim_start_matches([' ', '-']);
                let rest = rest.strip_prefix("Total:").unwrap_or(rest);
                if let Some(n) = rest.split_whitespace().next() {
                    return Ok(n.parse()?);
                }
            }
            if l.starts_with('8') || l.starts_with('9') {
                return err(format!("BIRD: {l}"));
            }
        }
    }
}

/// The daemon's own count of IPv4 routes in its RIB.
fn rib_count(dut: &Dut) -> R<u64> {
    match dut {
        Dut::Bird(b) => bird_count(&b.ctl.socket),
        Dut::Frr(f) => {
            let v = f.json("show bgp ipv4 unicast summary json")?;
            // The sum of the peers' accepted prefixes: `ribCount` counts table nodes
            // (1,175,079 of them for 1M prefixes), so it reaches the target too early.
            let s = v.get("ipv4Unicast").unwrap_or(&v);
            Ok(s.get("peers")
                .and_then(Value::as_object)
                .map(|p| p.values().filter_map(|x| json_u64(x, "pfxRcd")).sum())
                .unwrap_or(0))
        }
        Dut::Gobgp(g) => {
            let t = g.gobgp(&["global", "rib", "summary", "-a", "ipv4"])?;
            let n = t
                .split("Destination:")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|x| x.trim().parse().ok());
            n.ok_or_else(|| format!("gobgp summary: {t}").into())
        }
        Dut::Bgpd {
            node,
            binary,
            socket,
            ..
        } => {
            let out = cmd::run(
                Some(&node.ns),
                &binary.to_string_lossy(),
                &["-s", &socket.to_string_lossy(), "show", "route", "count"],
            )?;
            bgpd_lab::bird::parse_route_count(&out)
                .or_else(|| {
                    out.split_whitespace()
                        .find_map(|w| w.parse::<u64>().ok().filter(|_| !w.starts_with("00")))
                })
                .ok_or_else(|| format!("bgpd route count: {out}").into())
        }
    }
}

/// The BIRD-style control socket of a daemon under test.
fn ctl_socket(dut: &Dut) -> Option<PathBuf> {
    match dut {
        Dut::Bird(b) => Some(b.ctl.socket.clone()),
        Dut::Bgpd { socket, .. } => Some(socket.clone()),
        _ => None,
    }
}

/// A thread asking what calico-node's probes ask, timing each answer (Calico's read deadline
/// is 2 s; a timed-out probe restarts the node's networking).
struct CtlProbe {
    stop: std::sync::Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<f64>>,
}

impl CtlProbe {
    fn start(sock: PathBuf) -> CtlProbe {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut ms = Vec::new();
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let cmd = if i.is_multiple_of(2) {
                    "show protocols"
                } else {
                    "show status"
                };
                i += 1;
                let t0 = Instant::now();
                if ctl_ask(&sock, cmd).is_ok() {
                    ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            ms
        });
        CtlProbe { stop, thread }
    }

    /// (answers, p50, p99, max) in milliseconds.
    fn finish(self) -> (usize, Option<f64>, Option<f64>, Option<f64>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut v = self.thread.join().unwrap_or_default();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| -> Option<f64> {
            let i = ((v.len() as f64 - 1.0) * p).round() as usize;
            v.get(i).copied()
        };
        (v.len(), q(0.5), q(0.99), v.last().copied())
    }
}

/// One command on a fresh connection, read to the last line of the reply (`NNNN `).
fn ctl_ask(sock: &Path, cmd: &str) -> R<()> {
    let s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = s.try_clone()?;
    w.write_all(format!("{cmd}\n").as_bytes())?;
    let mut r = BufReader::new(s);
    let mut greeting = true;
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return err("closed");
        }
        let b = l.as_bytes();
        let code = b.get(..4).is_some_and(|c| c.iter().all(u8::is_ascii_digit));
        if code && b.get(4) == Some(&b' ') {
            if greeting && l.starts_with("0001") {
                greeting = false;
                continue;
            }
            return Ok(());
        }
    }
}

/// (daemon pid, zebra pid) found by name among the namespace's processes.
fn dut_pids(ns: &str, d: Daemon) -> (Option<i32>, Option<i32>) {
    let want = match d {
        Daemon::Bird2 | Daemon::Bird16 => "bird",
        Daemon::Frr | Daemon::Bgpd => "bgpd",
        Daemon::Gobgp => "gobgpd",
    };
    let mut main = None;
    let mut zebra = None;
    for pid in netns_pids(ns) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        match comm.trim() {
            c if c == want && main.is_none() => main = Some(pid),
            "zebra" => zebra = Some(pid),
            _ => {}
        }
    }
    (main, zebra)
}

/// Polls `f` every [`POLL`] until `done(value)`; returns the time (mono ns, taken after the
/// answer) and the mean cost of one ask in seconds.
fn poll_until(
    deadline: Instant,
    stop: &AtomicBool,
    mut f: impl FnMut() -> R<u64>,
    done: impl Fn(u64) -> bool,
) -> (Option<u128>, f64, u64) {
    let mut cost = 0.0;
    let mut asks = 0u64;
    let mut last = 0;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let t0 = mono_ns();
        let r = f();
        let t1 = mono_ns();
        cost += secs(t0, t1);
        asks += 1;
        if let Ok(n) = r {
            last = n;
            if done(n) {
                return (Some(t1), cost / asks as f64, n);
            }
        }
        // An ask that costs more than the interval (a 1M-route table walk or dump) would
        // otherwise eat the CPU it measures: wait at least as long as the ask took.
        std::thread::sleep(POLL.max(Duration::from_nanos((t1 - t0) as u64)));
    }
    (None, cost / asks.max(1) as f64, last)
}

struct Topo {
    _lab: Lab,
    dut: NodeNet,
    inj: NodeNet,
}

fn topology(test: &str, sessions: usize) -> R<Topo> {
    let mut lab = Lab::with_capture(test, false)?;
    let lan = lab.lan()?;
    let dut = lab.node("dut", &[(&lan, 1)], None)?;
    let inj = lab.node("inj", &[(&lan, 2)], None)?;
    cmd::ip(&[
        "-n",
        &dut.ns,
        "addr",
        "add",
        &format!("{DUT_ADDR}/22"),
        "dev",
        "eth0",
    ])?;
    let mut batch = String::new();
    for i in 0..sessions.max(1) {
        let _ = writeln!(batch, "addr add {}/22 dev eth0", src_addr(i));
    }
    let file = inj.path("addrs.batch");
    std::fs::write(&file, batch)?;
    cmd::ip(&["-n", &inj.ns, "-batch", &file.to_string_lossy()])?;
    Ok(Topo {
        _lab: lab,
        dut,
        inj,
    })
}

fn inj_args(kind: Kind, max_secs: u64) -> Vec<String> {
    let (mode, routes, plen, base, asn) = match kind {
        Kind::Ebgp { routes, .. } => ("send", routes, 24, "10.0.0.0", EBGP_AS),
        Kind::Rr { .. } => ("rr", 1, 26, "10.128.0.0", DUT_AS),
        Kind::Idle { .. } => ("send", 1, 26, "10.128.0.0", DUT_AS),
    };
    [
        "--mode",
        mode,
        "--target",
        &format!("{DUT_ADDR}:179"),
        "--src",
        &src_addr(0).to_string(),
        "--sessions",
        &kind.sessions().to_string(),
        "--routes",
        &routes.to_string(),
        "--plen",
        &plen.to_string(),
        "--prefix-base",
        base,
        "--asn",
        &asn.to_string(),
        "--peer-as",
        &DUT_AS.to_string(),
        "--max-secs",
        &max_secs.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One repetition of one shape for one daemon: a fresh topology and daemon.
fn run_once(shape: &str, kind: Kind, d: Daemon, rep: usize, budget: Duration) -> R<Value> {
    let test = format!("cv-{shape}-{}-{rep}", d.name());
    let topo = topology(&test, kind.sessions())?;
    let dut = start_dut(d, kind, &topo.dut)?;
    let (pid, zebra) = dut_pids(&topo.dut.ns, d);
    let pid = pid.ok_or("daemon pid not found")?;
    let no_fib = std::env::var_os("CONVERGE_NO_FIB").is_some();
    let kc = match d.kernel_proto() {
        Some(p) if !kind.rr() && !no_fib => Some(KernelCounter::start(&topo.dut.ns, p)?),
        _ => None,
    };
    // A daemon whose CLI cannot count (bgpd before its control socket lands) gets no RIB
    // column rather than a poll that fails 10 times a second.
    let rib_ok = !matches!(dut, Dut::Bgpd { .. }) || rib_count(&dut).is_ok();
    let rib_count = |d: &Dut| -> R<u64> {
        if rib_ok {
            rib_count(d)
        } else {
            err("no RIB count")
        }
    };
    let cpu0 = cpu_s(pid);
    let out = json!({ "rib_supported": rib_ok });
    let zcpu0 = zebra.map(cpu_s).unwrap_or(0.0);
    let load_start = loadavg();
    let total = kind.total_routes();
    let deadline = Instant::now() + budget;
    let first = out;
    let mut out = json!({
        "shape": shape, "daemon": d.name(), "rep": rep, "load_start": load_start,
        "routes": total, "sessions": kind.sessions(),
    });
    out["rib_supported"] = first["rib_supported"].clone();
    // Calico's probes, all along the load: `show protocols` and `show status` on a fresh
    // connection every 100 ms, each timed from connect to its last line.
    let probe = ctl_socket(&dut).map(CtlProbe::start);
    let t_spawn = mono_ns();
    let mut inj = Injector::spawn(
        &topo.inj.ns,
        &inj_args(kind, budget.as_secs() + 30),
        &topo.inj.path("inject.log"),
    )?;
    let stop = AtomicBool::new(false);
    match kind {
        Kind::Ebgp { .. } => {
            let (t_go, _) = inj.wait("go", budget)?;
            let (rib, fib) = std::thread::scope(|s| {
                let r = s.spawn(|| {
                    if !rib_ok {
                        return (None, 0.0, 0);
                    }
                    poll_until(deadline, &stop, || rib_count(&dut), |n| n >= total)
                });
                let f = kc
                    .as_ref()
                    .map(|k| s.spawn(|| poll_until(deadline, &stop, || k.count(), |n| n >= total)));
                (
                    r.join().unwrap_or((None, 0.0, 0)),
                    f.map(|h| h.join().unwrap_or((None, 0.0, 0))),
                )
            });
            let (t_sent, _) = inj
                .wait("sent", Duration::from_secs(1))
                .unwrap_or((0, String::new()));
            out["inject_s"] = json!(secs(t_go, t_sent));
            out["rib_s"] = json!(rib.0.map(|t| secs(t_go, t)));
            out["rib_ask_s"] = json!(rib.1);
            out["rib_last"] = json!(rib.2);
            if let Some(f) = &fib {
                out["fib_s"] = json!(f.0.map(|t| secs(t_go, t)));
                out["fib_ask_s"] = json!(f.1);
                out["fib_last"] = json!(f.2);
            }
            // Withdraw: close every session; time until RIB and FIB are empty (a fresh budget).
            let deadline = Instant::now() + budget;
            let t_close = mono_ns();
            inj.send("close")?;
            let (wr, wf) = std::thread::scope(|s| {
                let r = s.spawn(|| {
                    if !rib_ok {
                        return (None, 0.0, 0);
                    }
                    poll_until(deadline, &stop, || rib_count(&dut), |n| n == 0)
                });
                let f = kc
                    .as_ref()
                    .map(|k| s.spawn(|| poll_until(deadline, &stop, || k.count(), |n| n == 0)));
                (
                    r.join().unwrap_or((None, 0.0, 0)),
                    f.map(|h| h.join().unwrap_or((None, 0.0, 0))),
                )
            });
            out["wd_rib_s"] = json!(wr.0.map(|t| secs(t_close, t)));
            out["wd_rib_last"] = json!(wr.2);
            if let Some(f) = wf {
                out["wd_fib_s"] = json!(f.0.map(|t| secs(t_close, t)));
                out["wd_fib_last"] = json!(f.2);
            }
        }
        Kind::Rr { clients } => {
            let (t_up, n) = match inj.wait("all_up", budget) {
                Ok(x) => x,
                Err(_) => {
                    out["up_all_s"] = Value::Null;
                    out["fanout_note"] = json!(format!(
                        "not all {clients} sessions were up after {} s (the run's budget)",
                        budget.as_secs()
                    ));
                    out["peak_rss_mb"] = json!(rss_mb(pid).0);
                    out["cpu_s"] = json!(cpu_s(pid) - cpu0);
                    out["load_end"] = json!(loadavg());
                    return Ok(out);
                }
            };
            let (t_first, _) = inj.wait("up_first", Duration::from_secs(1))?;
            out["up_all_s"] = json!(secs(t_spawn, t_up));
            out["up_first_s"] = json!(secs(t_spawn, t_first));
            out["up_n"] = json!(n.trim().parse::<u64>().unwrap_or(0));
            // Let the daemon settle (End-of-RIBs) before everyone announces at once.
            std::thread::sleep(Duration::from_secs(2));
            let t_ann = mono_ns();
            inj.send("announce")?;
            let left = deadline.saturating_duration_since(Instant::now());
            match inj.wait("all_received", left) {
                Ok((t, _)) => out["fanout_s"] = json!(secs(t_ann, t)),
                Err(e) => {
                    let _ = inj.send("status");
                    let p = inj.wait("progress", Duration::from_secs(2)).map(|x| x.1);
                    out["fanout_s"] = Value::Null;
                    out["fanout_note"] = json!(format!("{e}; {:?} of {clients} complete", p.ok()));
                }
            }
            out["rib_last"] = json!(rib_count(&dut).unwrap_or(0));
        }
        Kind::Idle { window, .. } => {
            let (t_go, _) = inj.wait("go", budget)?;
            let rib = if rib_ok {
                poll_until(deadline, &stop, || rib_count(&dut), |n| n >= total)
            } else {
                (None, 0.0, 0)
            };
            out["rib_s"] = json!(rib.0.map(|t| secs(t_go, t)));
            if let Some(k) = &kc {
                let f = poll_until(deadline, &stop, || k.count(), |n| n >= total);
                out["fib_s"] = json!(f.0.map(|t| secs(t_go, t)));
            }
            std::thread::sleep(Duration::from_secs(3));
            let c0 = cpu_s(pid);
            let z0 = zebra.map(cpu_s).unwrap_or(0.0);
            std::thread::sleep(Duration::from_secs(window));
            out["idle_cpu_per_min"] = json!((cpu_s(pid) - c0) * 60.0 / window as f64);
            if let Some(z) = zebra {
                out["zebra_idle_cpu_per_min"] = json!((cpu_s(z) - z0) * 60.0 / window as f64);
                out["zebra_rss_mb"] = json!(rss_mb(z).1);
            }
            out["rss_mb"] = json!(rss_mb(pid).1);
            out["idle_window_s"] = json!(window);
        }
    }
    if let Some(p) = probe {
        let (n, p50, p99, max) = p.finish();
        out["ctl_probes"] = json!(n);
        out["ctl_p50_ms"] = json!(p50);
        out["ctl_p99_ms"] = json!(p99);
        out["ctl_max_ms"] = json!(max);
    }
    let (hwm, _) = rss_mb(pid);
    out["peak_rss_mb"] = json!(hwm);
    out["cpu_s"] = json!(cpu_s(pid) - cpu0);
    out["cpu_split_user_sys"] = json!(cpu_split(pid));
    if let Some(z) = zebra {
        out["zebra_peak_rss_mb"] = json!(rss_mb(z).0);
        out["zebra_cpu_s"] = json!(cpu_s(z) - zcpu0);
    }
    out["load_end"] = json!(loadavg());
    drop(inj);
    drop(dut);
    drop(topo);
    Ok(out)
}

/// The injector against a sink, and BIRD 2 (1M static routes) against the same sink.
fn run_sender(routes: usize, rep: usize) -> R<Value> {
    let topo = topology(&format!("cv-sender-{rep}"), 1)?;
    let sink_args = |asn: u32| -> Vec<String> {
        [
            "--mode",
            "sink",
            "--listen",
            &format!("{DUT_ADDR}:179"),
            "--asn",
            &asn.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut out = json!({"shape": "sender", "rep": rep, "routes": routes, "load_start": loadavg()});
    // 1. inject → sink.
    {
        let mut sink = Injector::spawn(
            &topo.dut.ns,
            &sink_args(DUT_AS),
            &topo.dut.path("sink1.log"),
        )?;
        sink.wait("listening", Duration::from_secs(10))?;
        let mut args = inj_args(
            Kind::Ebgp {
                sessions: 1,
                routes,
            },
            120,
        );
        args.push("--peer-as".into());
        args.push(DUT_AS.to_string());
        let mut inj = Injector::spawn(&topo.inj.ns, &args, &topo.inj.path("inject.log"))?;
        let (t_go, _) = inj.wait("go", Duration::from_secs(60))?;
        let (t_eor, n) = sink.wait("eor", Duration::from_secs(120))?;
        out["inject_s"] = json!(secs(t_go, t_eor));
        out["inject_prefixes"] = json!(n.trim().parse::<u64>().unwrap_or(0));
    }
    // 2. BIRD 2 → sink: statics loaded first, then the session is enabled.
    {
        let mut c = format!(
            "log \"{}\" {{ warning, error, fatal }};\nrouter id 100.64.0.10;\nprotocol device {{ }}\nprotocol static s4 {{\n  ipv4;\n",
            topo.inj.path("bird.log").display()
        );
        for i in 0..routes {
            let a = std::net::Ipv4Addr::from(
                u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + ((i as u32) << 8),
            );
            let _ = writeln!(c, "  route {a}/24 blackhole;");
        }
        let _ = writeln!(c, "}}\nprotocol bgp feed {{\n  disabled;\n  local 100.64.0.10 as {EBGP_AS};\n  neighbor {DUT_ADDR} as {DUT_AS};\n  hold time 90;\n  ipv4 {{ import none; export all; next hop self; }};\n}}");
        let bird = Bird::start(BirdVersion::V2, &topo.inj, &c)?;
        let t = Instant::now();
        while bird.ctl.route_count("").unwrap_or(0) < routes as u64 {
            if t.elapsed() > Duration::from_secs(120) {
                return err("BIRD 2 did not load its statics");
            }
            std::thread::sleep(POLL);
        }
        let mut sink = Injector::spawn(
            &topo.dut.ns,
            &sink_args(DUT_AS),
            &topo.dut.path("sink2.log"),
        )?;
        sink.wait("listening", Duration::from_secs(10))?;
        bird.ctl.cmd("enable feed")?;
        let (t_est, _) = sink.wait("established", Duration::from_secs(60))?;
        let (t_eor, n) = sink.wait("eor", Duration::from_secs(120))?;
        out["bird2_s"] = json!(secs(t_est, t_eor));
        out["bird2_prefixes"] = json!(n.trim().parse::<u64>().unwrap_or(0));
    }
    out["load_end"] = json!(loadavg());
    drop(topo);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Aggregation and the report.

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

fn med(rows: &[&Value], key: &str) -> Option<f64> {
    median(
        rows.iter()
            .filter_map(|r| r.get(key).and_then(Value::as_f64))
            .collect(),
    )
}

fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("report")
}

const SHAPES: [&str; 6] = ["full", "peers10", "peers100", "rr", "idle", "sender"];

fn shape_kind(shape: &str, quick: bool) -> Option<Kind> {
    Some(match (shape, quick) {
        ("full", false) => Kind::Ebgp {
            sessions: 1,
            routes: 1_000_000,
        },
        ("full", true) => Kind::Ebgp {
            sessions: 1,
            routes: 100_000,
        },
        ("peers10", false) => Kind::Ebgp {
            sessions: 10,
            routes: 100_000,
        },
        ("peers10", true) => Kind::Ebgp {
            sessions: 10,
            routes: 10_000,
        },
        ("peers100", _) => Kind::Ebgp {
            sessions: 100,
            routes: 1_000,
        },
        ("rr", false) => Kind::Rr { clients: 1000 },
        ("rr", true) => Kind::Rr { clients: 100 },
        ("idle", false) => Kind::Idle {
            peers: 100,
            window: 60,
        },
        ("idle", true) => Kind::Idle {
            peers: 100,
            window: 10,
        },
        _ => return None,
    })
}

fn fmt_s(v: Option<f64>) -> String {
    v.map(|x| {
        if x < 0.1 {
            format!("{:.1} ms", x * 1000.0)
        } else {
            format!("{x:.2} s")
        }
    })
    .unwrap_or_else(|| "—".into())
}
fn fmt_mb(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} MB"))
        .unwrap_or_else(|| "—".into())
}
fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// Per-daemon medians of one shape file's rows.
fn by_daemon(rows: &[Value]) -> Vec<(String, Vec<&Value>)> {
    let mut out: Vec<(String, Vec<&Value>)> = Vec::new();
    for r in rows {
        let d = r["daemon"].as_str().unwrap_or("?").to_string();
        match out.iter_mut().find(|(k, _)| *k == d) {
            Some((_, v)) => v.push(r),
            None => out.push((d, vec![r])),
        }
    }
    out
}

fn label_of(d: &str) -> &'static str {
    Daemon::parse(d).map(Daemon::label).unwrap_or("?")
}

fn shape_table(shape: &str, file: &Value) -> String {
    let rows: Vec<Value> = file["rows"].as_array().cloned().unwrap_or_default();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Run {} (UTC), {} repetition(s), 1-minute load average {} over the runs (start and end of each).  \nCommand: `{}`\n",
        file["date"].as_str().unwrap_or("?"),
        file["reps"],
        {
            let l: Vec<f64> = rows
                .iter()
                .flat_map(|r| [&r["load_start"], &r["load_end"]])
                .filter_map(|v| v.as_str()?.split_whitespace().next()?.parse().ok())
                .collect();
            match (
                l.iter().copied().reduce(f64::min),
                l.iter().copied().reduce(f64::max),
            ) {
                (Some(a), Some(b)) => format!("{a:.2}–{b:.2}"),
                _ => "not recorded".into(),
            }
        },
        file["command"].as_str().unwrap_or("?")
    );
    if shape == "sender" {
        let refs: Vec<&Value> = rows.iter().collect();
        let (a, b) = (med(&refs, "inject_s"), med(&refs, "bird2_s"));
        let _ = writeln!(t, "| sender → sink (same sink, one session, {} routes) | time to End-of-RIB (median) | rate |", rows.first().map(|r| r["routes"].to_string()).unwrap_or_default());
        let _ = writeln!(t, "|---|---|---|");
        let n = rows
            .first()
            .and_then(|r| r["routes"].as_f64())
            .unwrap_or(0.0);
        for (name, v) in [
            ("inject (bgp-core encoder, pre-encoded)", a),
            ("BIRD 2.0.12 (static routes, export all)", b),
        ] {
            let rate = v
                .map(|s| format!("{:.0}k routes/s", n / s / 1000.0))
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(t, "| {name} | {} | {rate} |", fmt_s(v));
        }
        return t;
    }
    let groups = by_daemon(&rows);
    let base = groups
        .iter()
        .find(|(d, _)| d == "bird2")
        .map(|(_, v)| v.clone());
    let bm = |k: &str| base.as_ref().and_then(|b| med(b, k));
    match shape {
        "rr" => {
            let _ = writeln!(t, "| daemon | all sessions up | ratio | every client has every block | ratio | peak RSS | ratio | CPU s |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let up = med(v, "up_all_s");
                let timed_out = v.iter().any(|r| r["up_all_s"].is_null());
                let up_s = if timed_out && up.is_none() {
                    "> 180 s (not all up)".to_string()
                } else {
                    fmt_s(up)
                };
                let fo = med(v, "fanout_s");
                let rss = med(v, "peak_rss_mb");
                let _ = writeln!(
                    t,
                    "| {} | {up_s} | {} | {} | {} | {} | {} | {} |",
                    label_of(d),
                    ratio(up, bm("up_all_s")),
                    fmt_s(fo),
                    ratio(fo, bm("fanout_s")),
                    fmt_mb(rss),
                    ratio(rss, bm("peak_rss_mb")),
                    med(v, "cpu_s")
                        .map(|c| format!("{c:.2}"))
                        .unwrap_or_else(|| "—".into())
                );
            }
            for r in &rows {
                if let Some(n) = r.get("fanout_note").and_then(Value::as_str) {
                    let _ = writeln!(
                        t,
                        "\n{} rep {}: {n}",
                        label_of(r["daemon"].as_str().unwrap_or("")),
                        r["rep"]
                    );
                }
            }
        }
        "idle" => {
            let _ = writeln!(t, "| daemon | RSS (idle) | peak RSS | CPU s per minute (idle) | zebra RSS / CPU s per min | RIB / FIB complete |");
            let _ = writeln!(t, "|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let z = match (med(v, "zebra_rss_mb"), med(v, "zebra_idle_cpu_per_min")) {
                    (Some(r), Some(c)) => format!("{r:.1} MB / {c:.3}"),
                    _ => "—".into(),
                };
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | {:.3} | {z} | {} / {} |",
                    label_of(d),
                    fmt_mb(med(v, "rss_mb")),
                    fmt_mb(med(v, "peak_rss_mb")),
                    med(v, "idle_cpu_per_min").unwrap_or(f64::NAN),
                    fmt_s(med(v, "rib_s")),
                    fmt_s(med(v, "fib_s")),
                );
            }
        }
        _ => {
            let _ = writeln!(t, "| daemon | RIB complete | ratio | FIB complete | ratio | peak RSS | ratio | CPU s | withdraw: RIB / FIB empty | ratio (withdraw) |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let (rib, fib, rss) = (med(v, "rib_s"), med(v, "fib_s"), med(v, "peak_rss_mb"));
                let (wr, wf) = (med(v, "wd_rib_s"), med(v, "wd_fib_s"));
                let mut cpu = format!("{:.2}", med(v, "cpu_s").unwrap_or(f64::NAN));
                let mut rss_s = fmt_mb(rss);
                if let (Some(zr), Some(zc)) = (med(v, "zebra_peak_rss_mb"), med(v, "zebra_cpu_s")) {
                    cpu.push_str(&format!(" (+ zebra {zc:.2})"));
                    rss_s.push_str(&format!(" (+ zebra {zr:.0} MB)"));
                }
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | {} | {} | {rss_s} | {} | {cpu} | {} / {} | {} |",
                    label_of(d),
                    fmt_s(rib),
                    ratio(rib, bm("rib_s")),
                    fmt_s(fib),
                    ratio(fib, bm("fib_s")),
                    ratio(rss, bm("peak_rss_mb")),
                    fmt_s(wr),
                    fmt_s(wf),
                    match wf {
                        Some(_) => ratio(wf, bm("wd_fib_s")),
                        None => ratio(wr, bm("wd_rib_s")) + " (RIB)",
                    },
                );
            }
            let incomplete: Vec<String> = rows
                .iter()
                .filter(|r| r["rib_s"].is_null() && r["rib_supported"] != json!(false))
                .map(|r| {
                    format!(
                        "{} rep {} (RIB stopped at {})",
                        label_of(r["daemon"].as_str().unwrap_or("")),
                        r["rep"],
                        r["rib_last"]
                    )
                })
                .collect();
            if !incomplete.is_empty() {
                let _ = writeln!(
                    t,
                    "\nIncomplete within the time budget: {}.",
                    incomplete.join(", ")
                );
            }
        }
    }
    t
}

/// One metric's bars: (daemon, value).
type Bars = Vec<(String, f64)>;

/// Horizontal bars grouped by metric (1×1M RIB, FIB, withdraw, peak RSS; RR fan-out and RSS;
/// idle RSS), each metric on its own scale, one bar per daemon. SVG written by hand: no font
/// or plotting dependency.
fn svg(files: &[(String, Value)]) -> String {
    let metrics: [(&str, &str, &str, &str); 8] = [
        ("full", "rib_s", "1×1M: RIB complete (s)", "#4477aa"),
        ("full", "fib_s", "1×1M: kernel FIB complete (s)", "#66ccee"),
        (
            "full",
            "wd_fib_s",
            "1×1M: withdraw, FIB empty (s)",
            "#aa3377",
        ),
        ("full", "peak_rss_mb", "1×1M: peak RSS (MB)", "#ccbb44"),
        (
            "rr",
            "fanout_s",
            "RR 1,000 clients: every client has every block (s)",
            "#228833",
        ),
        (
            "rr",
            "peak_rss_mb",
            "RR 1,000 clients: peak RSS (MB)",
            "#ccbb44",
        ),
        ("idle", "rss_mb", "Idle, 100 peers: RSS (MB)", "#ccbb44"),
        (
            "idle",
            "idle_cpu_per_min",
            "Idle, 100 peers: CPU s per minute",
            "#ee6677",
        ),
    ];
    let mut groups: Vec<(&str, &str, Bars)> = Vec::new();
    for (shape, key, title, colour) in metrics {
        let mut bars = Bars::new();
        for (s, f) in files {
            if s != shape {
                continue;
            }
            let rows: Vec<Value> = f["rows"].as_array().cloned().unwrap_or_default();
            for (d, v) in by_daemon(&rows) {
                if let Some(x) = med(&v, key) {
                    if !bars.iter().any(|(k, _)| *k == d) {
                        bars.push((d, x));
                    }
                }
            }
        }
        if !bars.is_empty() {
            groups.push((title, colour, bars));
        }
    }
    let row_h = 16.0;
    let (width, left) = (760.0, 230.0);
    let n: usize = groups.iter().map(|(_, _, b)| b.len() + 2).sum();
    let height = 40.0 + n as f64 * row_h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"14\">Medians per daemon (benches/REPORT.md); each metric on its own scale; shorter is better</text>\n"
    );
    let mut y = 30.0;
    for (title, colour, bars) in &groups {
        let max = bars.iter().map(|b| b.1).fold(f64::MIN_POSITIVE, f64::max);
        let scale = (width - left - 70.0) / max;
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.0}\" font-weight=\"bold\">{title}</text>",
            y + 16.0
        );
        y += row_h * 1.3;
        for (d, v) in bars {
            let _ = writeln!(
                s,
                "<text x=\"20\" y=\"{:.0}\">{}</text><rect x=\"{left}\" y=\"{:.0}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
                y + 12.0,
                label_of(d),
                y + 2.0,
                (v * scale).max(1.0),
                row_h - 4.0,
                left + (v * scale).max(1.0) + 4.0,
                y + 12.0,
                if *v >= 10.0 { format!("{v:.0}") } else { format!("{v:.2}") }
            );
            y += row_h;
        }
        y += row_h * 0.7;
    }
    s.push_str("</svg>\n");
    s.replace(
        &format!("height=\"{height}\""),
        &format!("height=\"{:.0}\"", y + 10.0),
    )
}

fn machine() -> String {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    format!(
        "{nproc} CPUs ({cpu}), {}, kernel {}",
        mem.split_whitespace().skip(1).collect::<Vec<_>>().join(" "),
        kernel.trim()
    )
}

fn write_report() -> R<()> {
    let dir = report_dir();
    let mut files = Vec::new();
    // `<shape>.json`, then `<shape>-<tag>.json` (runs with `--tag`), in shape order.
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for s in SHAPES {
        for n in names
            .iter()
            .filter(|n| n.trim_end_matches(".json") == s)
            .chain(&names)
        {
            let stem = n.trim_end_matches(".json");
            if stem != s && stem.strip_prefix(s).is_some_and(|r| r.starts_with('-'))
                || stem == s && !files.iter().any(|(k, _): &(String, Value)| k == s)
            {
                let t = std::fs::read_to_string(dir.join(n))?;
                files.push((s.to_string(), serde_json::from_str::<Value>(&t)?));
            }
        }
    }
    std::fs::write(dir.join("convergence.svg"), svg(&files))?;
    let titles = |s: &str| match s {
        "full" => "1 peer × 1M IPv4 /24 (eBGP)",
        "peers10" => "10 peers × 100k /24 (eBGP)",
        "peers100" => "100 peers × 1k /24 (eBGP)",
        "rr" => "Route-reflector fan-out (iBGP clients, one /26 each, connecting at once)",
        "idle" => "Idle Calico-like node: 100 iBGP mesh peers, 100 routes",
        _ => "The injector as a sender, against BIRD 2",
    };
    let mut r = String::new();
    let _ = writeln!(r, "<!-- generated by `converge` from benches/report/*.json and benches/report/notes.md; do not edit by hand -->\n# Convergence report\n\nGenerated {} UTC. Machine: {}.  \nTables: medians over the repetitions of each run; ratios against BIRD 2 from the same run; each time is an upper bound that includes the cost of asking (poll every 100 ms; the mean cost of one ask is in the JSON files). RIB counts come from each daemon's CLI, FIB counts from a netlink dump in the daemon's namespace (protocol 12 for BIRD/bgpd, 186 for FRR's zebra); t=0 is the moment the injector starts writing, after every session is up; withdraw t=0 is when the injector closes its sessions.\n\n![convergence](report/convergence.svg)\n", utc_now(), machine());
    for (s, f) in &files {
        let tag = match (f["title_suffix"].as_str(), f["daemons_partial"].as_bool()) {
            (Some(t), _) => t,
            (None, Some(true)) => " (a separate run)",
            _ => "",
        };
        let _ = writeln!(r, "## {}{tag}\n\n{}", titles(s), shape_table(s, f));
    }
    if let Ok(n) = std::fs::read_to_string(dir.join("notes.md")) {
        r.push_str(&n);
    }
    // The BFD figures (`bfd_figures`) keep their section.
    if let Ok(t) = std::fs::read_to_string(dir.join("bfd.json")) {
        let bfd = bgpd_benches::bfd_report::render(&serde_json::from_str(&t)?);
        r = bgpd_benches::bfd_report::splice(&r, &bfd);
    }
    std::fs::write(dir.join("..").join("REPORT.md"), r)?;
    Ok(())
}

fn utc_now() -> String {
    cmd::run(None, "date", &["-u", "+%Y-%m-%d %H:%M"])
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() -> R<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |k: &str| args.iter().any(|a| a == k);
    let val = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    const USAGE: &str = "usage: converge [--quick] [--reps N] [--shapes a,b] [--daemons a,b] \
[--tag T] [--no-renice] [--report-only]\n  shapes: full,peers10,peers100,rr,idle,sender\n  \
daemons: bird2,bird16,frr,gobgp,bgpd";
    if has("--help") || has("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    // Refuse unknown flags: a typo must not start an hour of measurements.
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "--quick" | "--no-renice" | "--report-only" => i += 1,
            "--reps" | "--shapes" | "--daemons" | "--tag" => i += 2,
            other => return err(format!("converge: unknown argument {other:?}\n{USAGE}")),
        }
    }
    if has("--report-only") {
        return write_report();
    }
    if !has("--no-renice") {
        // Other builds share these 2 cores: run the harness, the injector and the daemons
        // (children inherit it) at nice -10 so the daemons, not the build queue, set the pace.
        // SAFETY: setpriority on our own process.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
    }
    let quick = has("--quick");
    let reps: usize = val("--reps")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
    let shapes: Vec<String> = val("--shapes")
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_else(|| SHAPES.iter().map(|s| s.to_string()).collect());
    let daemons: Vec<Daemon> = val("--daemons")
        .map(|s| s.split(',').filter_map(Daemon::parse).collect())
        .unwrap_or_else(|| {
            vec![
                Daemon::Bird2,
                Daemon::Bird16,
                Daemon::Frr,
                Daemon::Gobgp,
                Daemon::Bgpd,
            ]
        });
    let command = format!(
        "cargo run --release -p bgpd-benches --bin converge -- {}",
        args.join(" ")
    );
    std::fs::create_dir_all(report_dir())?;
    for shape in &shapes {
        let date = utc_now();
        let mut rows = Vec::new();
        for rep in 1..=reps {
            if shape == "sender" {
                let routes = if quick { 100_000 } else { 1_000_000 };
                match run_sender(routes, rep) {
                    Ok(v) => {
                        eprintln!("{v}");
                        rows.push(v)
                    }
                    Err(e) => eprintln!("converge: sender rep {rep}: {e}"),
                }
                continue;
            }
            let Some(kind) = shape_kind(shape, quick) else {
                return err(format!("unknown shape {shape}"));
            };
            let budget = Duration::from_secs(match kind {
                Kind::Rr { .. } => 180,
                Kind::Idle { window, .. } => 60 + window,
                Kind::Ebgp { .. } => 90,
            });
            // Daemons interleaved within a repetition, so load drifts hit all of them alike.
            for &d in &daemons {
                match run_once(shape, kind, d, rep, budget) {
                    Ok(v) => {
                        eprintln!("{v}");
                        rows.push(v);
                    }
                    Err(e) => eprintln!("converge: {shape} {} rep {rep}: {e}", d.name()),
                }
            }
        }
        let file = json!({"shape": shape, "date": date, "reps": reps, "quick": quick, "command": command, "rows": rows, "daemons_partial": val("--tag").is_some()});
        let name = match val("--tag") {
            Some(t) => format!("{shape}-{t}.json"),
            None => format!("{shape}.json"),
        };
        std::fs::write(
            report_dir().join(name),
            serde_json::to_string_pretty(&file)?,
        )?;
        write_report()?;
        println!("{}", shape_table(shape, &file));
    }
    Ok(())
}

//! The binary under systemd's notify protocol (`Type=notify`, `WatchdogSec=`, as
//! `packaging/bgpd.service` runs it), in network namespaces (root): the test plays systemd,
//! listening on the datagram socket it passes as `NOTIFY_SOCKET` with `WATCHDOG_USEC` set.
//! * a daemon that cannot start (listen address not on the node) exits 1 and never says
//!   `READY=1`;
//! * `READY=1` is the first message, and when it arrives the control socket answers, and the
//!   BGP and metrics ports are listening;
//! * `WATCHDOG=1` keeps coming while a peer's table loads through the RIB task and the FIB
//!   thread into the kernel: pings arrive while some but not all of the 100,000 routes are
//!   in the kernel (a ping is due every 0.125 s; 20,000 routes, once 2-5 s in a debug build,
//!   loaded in under 0.5 s once the FIB thread had its netlink writer, and the test flaked),
//!   and after; the test asserts that behaviour, not the length of the gaps between pings;
//! * SIGHUP gives `RELOADING=1` then `READY=1`; SIGTERM gives `STOPPING=1` and exit 0.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bgpd_lab::{Lab, NodeNet, Process};

/// Routes the feeder learns from its kernel and sends to the daemon under test.
const ROUTES: u32 = 100_000;
/// `WATCHDOG_USEC` given to the daemon (a ping every quarter of it).
const WATCHDOG: Duration = Duration::from_millis(500);

/// The systemd side: every datagram received on `path`, with its arrival time.
struct Notify {
    rx: mpsc::Receiver<(Instant, String)>,
}

impl Notify {
    fn bind(path: &Path) -> Notify {
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send((Instant::now(), msg)).is_err() {
                    return;
                }
            }
        });
        Notify { rx }
    }

    /// The next message, waiting at most `secs`.
    fn next(&self, secs: u64) -> Option<(Instant, String)> {
        self.rx.recv_timeout(Duration::from_secs(secs)).ok()
    }

    /// Messages until one contains `line` (as a whole line); panics after `secs`.
    fn until(&self, line: &str, secs: u64) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => {
                    let found = m.1.lines().any(|l| l == line);
                    seen.push(m);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("no {line} within {secs} s; got {seen:?}"),
            }
        }
    }
}

fn spawn(n: &NodeNet, notify: &Path, config: &str, run: u32) -> Process {
    let cfg = n.path(&format!("bgpd.{run}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let argv: Vec<String> = [
        "ip",
        "netns",
        "exec",
        &n.ns,
        "env",
        &format!("NOTIFY_SOCKET={}", notify.display()),
        &format!("WATCHDOG_USEC={}", WATCHDOG.as_micros()),
        env!("CARGO_BIN_EXE_bgpd"),
        "-c",
        &cfg.display().to_string(),
        "-s",
        &common::socket(n).display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Process::spawn("bgpd", &argv, &n.path(&format!("bgpd.{run}.log"))).unwrap()
}

fn config(me: &NodeNet, listen: &str, peer: &NodeNet, learn: bool) -> String {
    format!(
        r#"
router_id = "{me_ip}"
asn = 64512
[listen]
addresses = ["{listen}"]
[kernel]
protocol = "bird"
learn = {learn}
[[peers]]
name = "peer"
address = "{peer_ip}"
asn = 64512
source_address = "{me_ip}"
hold_time = 9
[metrics]
listen = "127.0.0.1:9179"
"#,
        me_ip = me.ip4(),
        peer_ip = peer.ip4(),
    )
}

/// Whether something in namespace `ns` listens on TCP `port`.
fn listening(ns: &str, port: u16) -> bool {
    let out = bgpd_lab::cmd::run(Some(ns), "ss", &["-Hltn", &format!("sport = :{port}")])
        .unwrap_or_default();
    !out.trim().is_empty()
}

/// Our routes in the node's main table (`ip route show proto bird`, counted).
fn kernel_count(ns: &str) -> usize {
    bgpd_lab::cmd::run(Some(ns), "ip", &["-4", "route", "show", "proto", "bird"])
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn notify_ready_watchdog_reload_stop() {
    let mut lab = Lab::new("bgpd_systemd_notify").unwrap();
    let lan = lab.lan().unwrap();
    let feeder = lab.node("feeder", &[(&lan, 11)], None).unwrap();
    let node = lab.node("node", &[(&lan, 12)], None).unwrap();
    let notify_path = node.path("notify.sock");
    let notify = Notify::bind(&notify_path);

    // A start that fails (the listen address is not on the node): exit 1, no READY=1.
    let mut bad = spawn(
        &node,
        &notify_path,
        &config(&node, "172.31.0.200", &feeder, false),
        0,
    );
    let status = bad.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(1), "failed start exits 1");
    let early: Vec<_> = std::iter::from_fn(|| notify.next(0)).collect();
    assert!(
        early.iter().all(|(_, m)| !m.contains("READY=1")),
        "READY=1 from a daemon that failed to start: {early:?}"
    );

    // A good start: READY=1 first, and by then the control socket answers.
    let mut p = spawn(
        &node,
        &notify_path,
        &config(&node, &node.ip4().to_string(), &feeder, false),
        1,
    );
    let (_, first) = notify.next(30).expect("READY=1 within 30 s");
    assert!(
        first.lines().any(|l| l == "READY=1"),
        "first notification is READY=1: {first:?}"
    );
    let ctl = UnixStream::connect(common::socket(&node)).expect("control socket at READY=1");
    ctl.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut greeting = String::new();
    BufReader::new(ctl).read_line(&mut greeting).unwrap();
    assert!(
        greeting.starts_with("0001 "),
        "control socket greets at READY=1: {greeting:?}"
    );
    assert!(listening(&node.ns, 179), "BGP port bound at READY=1");
    assert!(listening(&node.ns, 9179), "metrics port bound at READY=1");

    // The feeder learns ROUTES kernel routes and sends them; the node installs them.
    let mut feed = common::start(
        &feeder,
        &config(&feeder, &feeder.ip4().to_string(), &node, true),
        0,
    );
    common::wait_all_established(&node, 1, 30);
    let batch: String = (0..ROUTES)
        .map(|i| {
            // /24s from 10.100.0.0 on (past 10.255.255.0 into 11.0.0.0/8).
            let net = std::net::Ipv4Addr::from(u32::from_be_bytes([10, 100, 0, 0]) + (i << 8));
            format!("route add {net}/24 via 172.31.0.99 proto static\n")
        })
        .collect();
    let batch_file = feeder.path("routes.batch");
    std::fs::write(&batch_file, batch).unwrap();
    // Drain what came before the load, then load (in the background: the daemon starts
    // installing while the feeder's kernel still fills, and the counts below watch it).
    while notify.next(0).is_some() {}
    let feeder_ns = feeder.ns.clone();
    let batch_arg = batch_file.display().to_string();
    let loader = std::thread::spawn(move || {
        bgpd_lab::cmd::run(Some(&feeder_ns), "ip", &["-batch", &batch_arg]).map(|_| ())
    });
    // Every WATCHDOG=1 with its arrival instant, every kernel count with the instants its
    // `ip route` began and ended. A ping came mid-load if a count finished before it saw some
    // routes in, and a count begun after it saw not all of them: pings must keep coming while
    // the table is loading (an order of events, not a gap length).
    let mut pings = Vec::new();
    let mut samples: Vec<(Instant, Instant, usize)> = Vec::new();
    let mut installed = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    while installed < ROUTES as usize {
        assert!(
            Instant::now() < deadline,
            "{installed} of {ROUTES} routes installed after 180 s"
        );
        p.ensure_running().unwrap();
        if let Ok(m) = notify.rx.recv_timeout(Duration::from_millis(100)) {
            pings.extend(
                std::iter::once(m)
                    .chain(notify.rx.try_iter())
                    .filter_map(|(t, m)| m.lines().any(|l| l == "WATCHDOG=1").then_some(t)),
            );
        }
        let began = Instant::now();
        installed = kernel_count(&node.ns);
        samples.push((began, Instant::now(), installed));
    }
    loader.join().unwrap().unwrap();
    let mid_load = pings
        .iter()
        .filter(|&&t| {
            samples.iter().any(|&(_, end, n)| end <= t && n > 0)
                && samples
                    .iter()
                    .any(|&(start, _, n)| start >= t && n < ROUTES as usize)
        })
        .count();
    let counts: Vec<usize> = samples.iter().map(|s| s.2).collect();
    eprintln!(
        "{} WATCHDOG=1 during the load, {mid_load} of them mid-load; kernel counts: {counts:?}",
        pings.len()
    );
    assert!(
        mid_load > 0,
        "no WATCHDOG=1 while the {ROUTES} routes were loading ({} pings; kernel counts seen: \
         {counts:?})",
        pings.len()
    );
    // And they go on once it is done.
    notify.until("WATCHDOG=1", 30);

    // SIGHUP: RELOADING=1 then READY=1.
    p.signal(libc::SIGHUP).unwrap();
    let msgs = notify.until("READY=1", 30);
    let reloading = msgs
        .iter()
        .position(|(_, m)| m.lines().any(|l| l == "RELOADING=1"));
    assert!(
        reloading.is_some() && reloading < Some(msgs.len() - 1),
        "RELOADING=1 before READY=1: {msgs:?}"
    );

    // SIGTERM: STOPPING=1, exit 0.
    p.signal(libc::SIGTERM).unwrap();
    notify.until("STOPPING=1", 30);
    let status = p.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "exit status {status:?}");
    feed.stop(Duration::from_secs(5));
}

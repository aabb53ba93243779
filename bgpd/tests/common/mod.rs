//! Helpers of the namespace tests: the daemon process (the `bgpd` binary of this build, with
//! its control socket `<node dir>/bgpd.ctl`), queries through that socket (`bgpd -s SOCKET
//! ... --json`), and kernel-table expectations.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bgpd_lab::kernel::{self, KernelRoute};
use bgpd_lab::{wait_observing, Family, NodeNet, Observed, Process};

pub fn embed_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples/embed");
    assert!(
        p.exists(),
        "{} missing: cargo build -p bgpd --examples",
        p.display()
    );
    p
}

/// The control socket of the daemon [`start`] runs on `n`.
pub fn socket(n: &NodeNet) -> PathBuf {
    n.path("bgpd.ctl")
}

/// `bgpd -s SOCKET ARGS` against the daemon of `n`.
pub fn cli(n: &NodeNet, args: &[&str]) -> bgpd_lab::Result<String> {
    let mut argv = vec![
        env!("CARGO_BIN_EXE_bgpd").to_string(),
        "-s".into(),
        socket(n).display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    bgpd_lab::cmd::run_argv(&argv, bgpd_lab::cmd::COMMAND_TIMEOUT)
}

/// `show protocols --json` of the daemon of `n`.
pub fn protocols(n: &NodeNet) -> bgpd_lab::Result<Vec<bgpd_lab::bgpd::BgpdProtocol>> {
    bgpd_lab::bgpd::parse_protocols(&cli(n, &["show", "protocols", "--json"])?)
}

/// `show route --json` (every path) of the daemon of `n`.
pub fn routes(n: &NodeNet) -> bgpd_lab::Result<Vec<bgpd_lab::bgpd::BgpdRoute>> {
    bgpd_lab::bgpd::parse_routes(&cli(n, &["show", "route", "--json"])?)
}

/// The best route of `prefix` at `n` as (protocol, next hop), from `show route --json`.
pub fn best(n: &NodeNet, prefix: &str) -> Option<(String, Option<String>)> {
    routes(n)
        .ok()?
        .into_iter()
        .find(|r| r.primary && r.prefix == prefix)
        .map(|r| (r.protocol, r.bgp.and_then(|b| b.next_hop)))
}

/// The names of the BGP protocols of `n` and whether each is Established.
pub fn sessions(n: &NodeNet) -> Vec<(String, bool)> {
    protocols(n)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let up = p.bgp.as_ref()?.state == "Established";
            Some((p.name, up))
        })
        .collect()
}

/// Waits until `n` has exactly `count` BGP protocols, all Established (`show protocols`).
pub fn wait_all_established(n: &NodeNet, count: usize, secs: u64) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(200),
        &format!("{}: {count} BGP sessions Established", n.name),
        || {
            let s = sessions(n);
            Ok(Observed::when(
                s.len() == count && s.iter().all(|(_, up)| *up),
                format!("{s:?}"),
            ))
        },
    )
    .unwrap();
}

/// Waits until `pred` holds for `n`'s `show route --json`.
pub fn wait_routes(
    n: &NodeNet,
    secs: u64,
    what: &str,
    pred: impl Fn(&[bgpd_lab::bgpd::BgpdRoute]) -> bool,
) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(200),
        what,
        || {
            let r = routes(n)?;
            let shown: Vec<String> = r
                .iter()
                .map(|x| {
                    format!(
                        "{} {}{}",
                        x.prefix,
                        x.protocol,
                        if x.primary { "*" } else { "" }
                    )
                })
                .collect();
            Ok(Observed::when(pred(&r), format!("{}: {shown:?}", n.name)))
        },
    )
    .unwrap();
}

/// Writes `config` to the node's `bgpd.toml` and starts `bgpd -c bgpd.toml -s bgpd.ctl` (log
/// `bgpd.<run>.log`); returns once the control socket answers.
pub fn start(n: &NodeNet, config: &str, run: u32) -> Process {
    let cfg = n.path("bgpd.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut argv: Vec<String> = vec!["ip".into(), "netns".into(), "exec".into(), n.ns.clone()];
    if let Ok(out) = std::env::var("BGPD_PERF") {
        // Profile the daemon: `perf record -g -o OUT`.
        argv.extend([
            "perf".into(),
            "record".into(),
            "-g".into(),
            "-o".into(),
            out,
        ]);
    }
    if let Ok(a) = std::env::var("BGPD_MALLOC_ARENA_MAX") {
        argv.extend(["env".into(), format!("MALLOC_ARENA_MAX={a}")]);
    }
    let sock = socket(n);
    let _ = std::fs::remove_file(&sock);
    argv.extend([
        env!("CARGO_BIN_EXE_bgpd").to_string(),
        "-c".into(),
        cfg.display().to_string(),
        "-s".into(),
        sock.display().to_string(),
    ]);
    spawn_and_wait(n, &argv, &n.path(&format!("bgpd.{run}.log")))
}

/// Starts bgpd with `argv` (its control socket is [`socket`]`(n)`) and waits until the socket
/// answers; fails at once if the process exits meanwhile.
pub fn spawn_and_wait(n: &NodeNet, argv: &[String], log: &Path) -> Process {
    let mut p = Process::spawn("bgpd", argv, log).unwrap();
    bgpd_lab::wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        "bgpd control socket answers",
        || {
            p.ensure_running()?;
            Ok(cli(n, &["show", "status", "--json"]).is_ok())
        },
    )
    .unwrap();
    p
}

/// The routes the kernel refused at `n` (`show fib --json`'s failed count).
pub fn fib_failed(n: &NodeNet) -> u64 {
    let out = cli(n, &["show", "fib", "--json"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["fib"]["counts"]["failed"].as_u64().unwrap()
}

/// `GET /metrics` of the daemon of `n` listening on `127.0.0.1:port`, from inside its
/// namespace (bash's /dev/tcp: no HTTP client needed); the whole answer, head and body.
pub fn scrape_metrics(n: &NodeNet, port: u16) -> bgpd_lab::Result<String> {
    bgpd_lab::cmd::run(
        Some(&n.ns),
        "bash",
        &[
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /metrics HTTP/1.1\\r\\nHost: bgpd\\r\\nConnection: close\\r\\n\\r\\n' >&3 && cat <&3"),
        ],
    )
}

/// The value of one series (`name{labels}` exactly as exported) in a metrics exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Our routes (`proto bird`) of the node's main table.
pub fn ours(n: &NodeNet, f: Family) -> Vec<KernelRoute> {
    kernel::routes(&n.ns, f, "main", Some("bird")).unwrap_or_default()
}

/// Waits until `pred` holds for the node's routes of family `f`.
pub fn wait_kernel(
    n: &NodeNet,
    f: Family,
    secs: u64,
    what: &str,
    pred: impl Fn(&[KernelRoute]) -> bool,
) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(200),
        what,
        || {
            let r = kernel::routes(&n.ns, f, "main", Some("bird"))?;
            Ok(Observed::when(
                pred(&r),
                format!("{}: {}", n.name, kernel::render(&r)),
            ))
        },
    )
    .unwrap();
}

/// Whether `dst` is installed via `gw` (any device, no onlink).
pub fn via(r: &[KernelRoute], dst: &str, gw: &str) -> bool {
    r.iter()
        .any(|k| k.dst == dst && k.gateway.as_deref() == Some(gw))
}

/// Starts the `bgpd` binary of this build on `n` with its control socket (queried with
/// `bgpd -s SOCKET ... --json` through [`bgpd_lab::Bgpd`]).
pub fn start_bgpd(n: &NodeNet, config: &str) -> bgpd_lab::Bgpd {
    bgpd_lab::Bgpd::start_with(n, config, PathBuf::from(env!("CARGO_BIN_EXE_bgpd"))).unwrap()
}

/// The state of BGP protocol `name` in `show protocols --json` (`""` when absent).
pub fn session_state(b: &bgpd_lab::Bgpd, name: &str) -> String {
    b.protocols()
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.bgp)
        .map(|s| s.state)
        .unwrap_or_default()
}

/// Waits until BGP protocol `name` of `b` is Established.
pub fn wait_established(b: &bgpd_lab::Bgpd, name: &str, secs: u64) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(200),
        &format!("{}: {name} Established", b.node.name),
        || {
            let s = session_state(b, name);
            Ok(Observed::when(s == "Established", s))
        },
    )
    .unwrap();
}

/// A kernel SNMP/netstat counter of the namespace (`nstat -asz NAME`), e.g.
/// `TcpExtTCPMinTTLDrop`.
pub fn nstat(ns: &str, name: &str) -> u64 {
    let out = bgpd_lab::cmd::run(Some(ns), "nstat", &["-asz", name]).unwrap();
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}
pub mod raw;

/// `bgpd -c <node>/bird.cfg -s <node>/bgpd.ctl` (BIRD syntax, the file already written), once
/// its control socket answers.
pub fn start_bird_cfg(n: &NodeNet) -> Process {
    let sock = socket(n);
    let _ = std::fs::remove_file(&sock);
    let argv: Vec<String> = vec![
        "ip".into(),
        "netns".into(),
        "exec".into(),
        n.ns.clone(),
        env!("CARGO_BIN_EXE_bgpd").into(),
        "-c".into(),
        n.path("bird.cfg").display().to_string(),
        "-s".into(),
        sock.display().to_string(),
    ];
    spawn_and_wait(n, &argv, &n.path("bgpd.1.log"))
}

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
//!   neighbour (the base read after 20 neighbours came up and left, so the code and first
//!   allocations every session needs are in it); then they close: RSS once they are gone
//!   (bgpd forgets them).
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
//!   routes), session flaps (a second peer every 2 s) and interface churn (10/s): one sample a
//!   minute (RSS, threads, open descriptors, protocols listed) and the growth after minute 2;
//!   at the end the kernel's routes must equal the RIB's.
//!
//! `CHURN_HOLD_SECS=S` keeps the daemon of the `dynamic` part running S seconds after its last
//! reading, and that of the `idle` part S seconds while its neighbours are up (its pid on
//! stderr), for a profiler's snapshot. RSS is read once settled: five readings 1 s apart
//! within 0.1 MB.
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

mod dut;
mod parts;
mod report;

use dut::*;
use parts::*;
use report::*;

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

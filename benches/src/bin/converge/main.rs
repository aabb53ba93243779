//! End-to-end convergence harness (issue 8): the daemon under test in one network namespace,
//! the injector (`inject`, bgp-core's encoder) in another, over a veth pair through the lab's
//! bridge; configs generated here; the same routes and the same injector for every daemon, in
//! the same run. See `benches/README.md` (## Convergence) for the method and the command.
//!
//! `converge [--quick] [--reps N] [--shapes a,b] [--daemons a,b] [--report-only]`; the daemons
//! `bgpd-all` and `bgpd-calico` (not in the default list) run bgpd on BIRD text without and with
//! Calico's import and kernel filters, for the filter cost of issue 13.
//!
//! Each shape writes `benches/report/<shape>.json` (every repetition, the load average, the
//! date, the command); then `benches/REPORT.md` and `benches/report/convergence.svg` are
//! regenerated from every shape file present.

use std::time::Duration;

use serde_json::json;

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(m.into().into())
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
    /// bgpd reading BIRD text: BGP `import all`, kernel `export all` (the baseline of
    /// `BgpdCalico`).
    BgpdAll,
    /// bgpd reading BIRD text with Calico's filters: the mesh import filter and
    /// `calico_kernel_programming` over 20 IP pools (see `dut::bgpd_bird_config`).
    BgpdCalico,
    /// A second bgpd build, `$BGPD_BEFORE_BIN` (TOML config as `Bgpd`): the baseline of a
    /// before/after comparison interleaved in one run.
    BgpdBefore,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "bird2",
            Daemon::Bird16 => "bird16",
            Daemon::Frr => "frr",
            Daemon::Gobgp => "gobgp",
            Daemon::BgpdAll => "bgpd-all",
            Daemon::BgpdCalico => "bgpd-calico",
            Daemon::BgpdBefore => "bgpd-before",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Daemon::Bgpd => "bgpd",
            Daemon::Bird2 => "BIRD 2.0.12",
            Daemon::Bird16 => "BIRD 1.6.8",
            Daemon::Frr => "FRR 8.4 (bgpd; zebra apart)",
            Daemon::Gobgp => "GoBGP 3 (no FIB)",
            Daemon::BgpdAll => "bgpd (bird.cfg, import all / kernel export all)",
            Daemon::BgpdCalico => "bgpd (bird.cfg, Calico import + kernel filters)",
            Daemon::BgpdBefore => "bgpd, baseline build ($BGPD_BEFORE_BIN)",
        }
    }
    fn parse(s: &str) -> Option<Daemon> {
        [
            Daemon::Bgpd,
            Daemon::Bird2,
            Daemon::Bird16,
            Daemon::Frr,
            Daemon::Gobgp,
            Daemon::BgpdAll,
            Daemon::BgpdCalico,
            Daemon::BgpdBefore,
        ]
        .into_iter()
        .find(|d| d.name() == s)
    }
    /// The `rtm_protocol` of its kernel routes, if it programs the kernel.
    fn kernel_proto(self) -> Option<u8> {
        match self {
            Daemon::Bird2
            | Daemon::Bird16
            | Daemon::Bgpd
            | Daemon::BgpdAll
            | Daemon::BgpdCalico
            | Daemon::BgpdBefore => Some(PROTO_BIRD),
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
    /// The route reflector of `Rr` once every client has every block; then `rounds` times
    /// every client drops its session and connects again (issue 15's "1,000 peers flap").
    Flap { clients: usize, rounds: usize },
}

impl Kind {
    fn sessions(self) -> usize {
        match self {
            Kind::Ebgp { sessions, .. } => sessions,
            Kind::Rr { clients } | Kind::Flap { clients, .. } => clients,
            Kind::Idle { peers, .. } => peers,
        }
    }
    fn total_routes(self) -> u64 {
        match self {
            Kind::Ebgp { sessions, routes } => (sessions * routes) as u64,
            Kind::Rr { clients } | Kind::Flap { clients, .. } => clients as u64,
            Kind::Idle { peers, .. } => peers as u64,
        }
    }
    fn ibgp(self) -> bool {
        !matches!(self, Kind::Ebgp { .. })
    }
    fn rr(self) -> bool {
        matches!(self, Kind::Rr { .. } | Kind::Flap { .. })
    }
}

fn src_addr(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::from(SRC_BASE)) + i as u32)
}

mod dut;
mod injector;
mod kernel;
mod probe;
mod report;
mod run;

use bgpd_benches::clock::mono_ns;
use report::{report_dir, shape_kind, shape_table, utc_now, write_report, SHAPES};
use run::{run_once, run_sender};

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
[--tag T] [--no-renice] [--report-only]\n  shapes: full,peers10,peers100,rr,idle,sender,flap\n  \
daemons: bird2,bird16,frr,gobgp,bgpd,bgpd-all,bgpd-calico,bgpd-before\n  \
(bgpd-before runs $BGPD_BEFORE_BIN)";
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
    injector::require_inject()?;
    // A typo in the BIRD 2 choice or the connect window must not start a run either.
    dut::Bird2Rr::from_env()?;
    injector::connect_window()?;
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
                Kind::Flap { rounds, .. } => 180 + 60 * rounds as u64,
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
        let mut file = json!({"shape": shape, "date": date, "reps": reps, "quick": quick, "command": command, "rows": rows, "daemons_partial": val("--tag").is_some()});
        if matches!(shape.as_str(), "rr" | "flap") {
            // How the clients connected and how BIRD 2 took them (the report says so).
            file["inject_connect_window"] = json!(injector::connect_window()?);
            file["bird2_rr"] = json!(dut::Bird2Rr::from_env()?.name());
        }
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

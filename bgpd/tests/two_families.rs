//! `bird` and `bird6` side by side (Calico runs both on every node, with the same kernel
//! protocol number): two bgpd processes in one namespace, one restricted to IPv4 and one to
//! IPv6, each with a blackhole block of its family. Neither may reconcile away nor learn the
//! other's routes: both blocks stay in the kernel over several scans of both daemons.

use std::time::{Duration, Instant};

use bgpd_lab::kernel::{self, KernelRoute};
use bgpd_lab::{cmd, wait_observing, Family, Lab, NodeNet, Observed, Process};

fn config(n: &NodeNet, prefix: &str) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = []
[kernel]
protocol = "bird"
scan_interval = 1
[[static]]
prefix = "{prefix}"
blackhole = true
"#,
        ip = n.ip4()
    )
}

/// `bgpd -c FILE -s SOCK --family F` in the node's namespace; returns once it answers.
fn start(n: &NodeNet, name: &str, family: &str, config: &str) -> Process {
    let cfg = n.path(&format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let sock = n.path(&format!("{name}.ctl"));
    let argv = cmd::in_netns(
        Some(&n.ns),
        env!("CARGO_BIN_EXE_bgpd"),
        &[
            "-c",
            &cfg.to_string_lossy(),
            "-s",
            &sock.to_string_lossy(),
            "--family",
            family,
        ],
    );
    let mut p = Process::spawn(name, &argv, &n.path(&format!("{name}.log"))).unwrap();
    let client = [
        env!("CARGO_BIN_EXE_bgpd").to_string(),
        "-s".into(),
        sock.display().to_string(),
        "show".into(),
        "status".into(),
    ];
    bgpd_lab::wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        &format!("{name} answers"),
        || {
            p.ensure_running()?;
            Ok(cmd::run_argv(&client, cmd::COMMAND_TIMEOUT).is_ok())
        },
    )
    .unwrap();
    p
}

fn present(n: &NodeNet, f: Family, dst: &str) -> bool {
    kernel::routes(&n.ns, f, "main", Some("bird"))
        .unwrap_or_default()
        .iter()
        .any(|r: &KernelRoute| r.dst == dst && r.kind.as_deref() == Some("blackhole"))
}

#[test]
fn an_ipv4_and_an_ipv6_daemon_keep_each_others_routes() {
    let mut lab = Lab::new("bgpd_two_families").unwrap();
    let lan = lab.lan().unwrap();
    let n = lab.node("node", &[(&lan, 1)], None).unwrap();
    let mut v4 = start(&n, "bird", "ipv4", &config(&n, "10.77.0.0/24"));
    wait_observing(
        Duration::from_secs(20),
        Duration::from_millis(100),
        "the IPv4 block in the kernel",
        || Ok(Observed::when(present(&n, Family::V4, "10.77.0.0/24"), "")),
    )
    .unwrap();
    let mut v6 = start(&n, "bird6", "ipv6", &config(&n, "fd00:77::/64"));
    wait_observing(
        Duration::from_secs(20),
        Duration::from_millis(100),
        "the IPv6 block in the kernel",
        || Ok(Observed::when(present(&n, Family::V6, "fd00:77::/64"), "")),
    )
    .unwrap();
    // Both daemons scan every second: over five seconds each has reconciled several times.
    // Both blocks must be there at every look, not only at the end.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        assert!(
            present(&n, Family::V4, "10.77.0.0/24"),
            "the IPv6 daemon removed the IPv4 daemon's route"
        );
        assert!(
            present(&n, Family::V6, "fd00:77::/64"),
            "the IPv4 daemon removed the IPv6 daemon's route"
        );
        v4.ensure_running().unwrap();
        v6.ensure_running().unwrap();
    }
    // Neither learned the other's block as a foreign kernel route.
    let v4_routes = common_routes(&n, "bird");
    assert!(!v4_routes.contains("fd00:77::/64"), "{v4_routes}");
    let v6_routes = common_routes(&n, "bird6");
    assert!(!v6_routes.contains("10.77.0.0/24"), "{v6_routes}");
}

/// `show route` of the daemon `name` on `n`.
fn common_routes(n: &NodeNet, name: &str) -> String {
    let argv = [
        env!("CARGO_BIN_EXE_bgpd").to_string(),
        "-s".into(),
        n.path(&format!("{name}.ctl")).display().to_string(),
        "show".into(),
        "route".into(),
    ];
    cmd::run_argv(&argv, cmd::COMMAND_TIMEOUT).unwrap()
}

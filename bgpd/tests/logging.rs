//! The daemon's log output (docs/config.md, `[log]`), from a live `bgpd` process in a network
//! namespace (root): its standard error, read once it stopped (so every line it wrote while
//! starting, listening and stopping is there).
//! * `[log] level` takes target directives: only the named targets log;
//! * `RUST_LOG` overrides `[log] level`; `format = "json"` writes one JSON object per line;
//! * a filter that does not parse is reported and the daemon logs at `info`;
//! * the human format has no terminal colour codes (the log goes to journald or a file).

mod common;

use std::time::Duration;

use bgpd_lab::{Lab, NodeNet};

fn config(n: &NodeNet, log: &str) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[log]
{log}
"#,
        ip = n.ip4(),
    )
}

/// Runs bgpd on `n` with `config` (and `RUST_LOG` if given) until its control socket answers,
/// stops it with SIGTERM and returns what it wrote.
fn run(n: &NodeNet, config: &str, rust_log: Option<&str>, run: u32) -> String {
    let cfg = n.path(&format!("bgpd.{run}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let sock = common::socket(n);
    let _ = std::fs::remove_file(&sock);
    let mut argv: Vec<String> = ["ip", "netns", "exec", &n.ns, "env", "-u", "RUST_LOG"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(r) = rust_log {
        argv.push(format!("RUST_LOG={r}"));
    }
    argv.extend([
        env!("CARGO_BIN_EXE_bgpd").to_string(),
        "-c".into(),
        cfg.display().to_string(),
        "-s".into(),
        sock.display().to_string(),
    ]);
    let log = n.path(&format!("bgpd.{run}.log"));
    let mut p = common::spawn_and_wait(n, &argv, &log);
    let st = p.stop(Duration::from_secs(10)).expect("exits");
    assert_eq!(
        st.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    std::fs::read_to_string(&log).unwrap()
}

/// The targets of the human-format lines (`TIME LEVEL [spans: ]TARGET: message`).
fn targets(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once(" INFO ").or_else(|| l.split_once(" WARN "))?.1;
            rest.split(": ")
                .find(|w| w.starts_with("bgp"))
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn log_filters_formats_and_rust_log() {
    let mut lab = Lab::new("bgpd_logging").unwrap();
    let lan = lab.lan().unwrap();
    let n = lab.node("node", &[(&lan, 11)], None).unwrap();

    // Everything at info: the control socket, the signal and the RIB task's "stopped".
    let all = run(&n, &config(&n, r#"level = "info""#), None, 0);
    let t = targets(&all);
    for want in ["bgpd::daemon", "bgpd::daemon::control", "bgpd::daemon::rib"] {
        assert!(t.iter().any(|x| x == want), "no {want} line in:\n{all}");
    }
    assert!(!all.contains('\x1b'), "colour codes in the log:\n{all}");

    // `[log] level` with target directives: only the control socket's lines.
    let only = run(
        &n,
        &config(&n, r#"level = "warn,bgpd::daemon::control=info""#),
        None,
        1,
    );
    let t = targets(&only);
    assert!(!t.is_empty(), "{only}");
    assert!(t.iter().all(|x| x == "bgpd::daemon::control"), "{only}");
    assert!(only.contains("control socket listening"), "{only}");

    // RUST_LOG overrides it; JSON lines.
    let json = run(
        &n,
        &config(
            &n,
            "level = \"bgpd::daemon::control=info\"\nformat = \"json\"",
        ),
        Some("bgpd::daemon::rib=info"),
        2,
    );
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(!lines.is_empty(), "{json}");
    for v in &lines {
        assert_eq!(v["target"], "bgpd::daemon::rib", "{json}");
        assert_eq!(v["level"], "INFO", "{json}");
    }
    assert!(
        lines.iter().any(|v| v["fields"]["message"] == "stopped"),
        "{json}"
    );

    // A filter that does not parse (a span filter, RUST_LOG syntax we do not take): said so,
    // and the daemon logs at info.
    let bad = run(&n, &config(&n, r#"level = "bgpd[peer]=debug""#), None, 3);
    assert!(
        bad.lines()
            .any(|l| l.starts_with("bgpd: [log] level \"bgpd[peer]=debug\" is not a log filter")),
        "{bad}"
    );
    assert!(
        targets(&bad).iter().any(|x| x == "bgpd::daemon::rib"),
        "{bad}"
    );
}

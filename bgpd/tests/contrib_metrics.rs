//! The Grafana dashboard (`contrib/grafana/bgpd.json`) and the Prometheus alerting rules
//! (`contrib/prometheus/bgpd-rules.yml`) use only metrics a live bgpd exports: two bgpd
//! processes in network namespaces (root) with an Established iBGP session, a route each way
//! and the kernel FIB on; every metric name of every PromQL expression of the dashboard's
//! panels and of the rules must appear in the node's `/metrics` (scraped over HTTP inside its
//! namespace). Prometheus' own `up` is the one name allowed from outside. Then the
//! graceful-restart gauges the alerts watch take their values: `a` stopped (SIGTERM) leaves
//! its routes stale at `b` (`bgpd_bgp_graceful_restart_stale{peer} 1`); `b` restarted while
//! `a` is away recovers (`bgpd_graceful_restart_recovery 1`, one peer waited for) until `a`
//! is back.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed};

/// Series Prometheus makes itself (not in any target's `/metrics`).
const PROMETHEUS_SERIES: &[&str] = &["up"];

/// Label lists follow these (`by (instance, le)`), not metric names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Other PromQL words that are not metric names (aggregations too: `sum by (x) (...)` puts
/// their modifier before the parenthesis).
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "sum", "min", "max", "avg",
    "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
];

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers
/// (`{...}`) and ranges (`[...]`), that are neither functions/aggregations (followed by `(`),
/// nor keywords, nor the label lists of `by`/`without`/`on`/`ignoring`/`group_*`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Strings, matchers and ranges out.
    let mut bare = String::new();
    let (mut quote, mut escaped, mut depth) = (None, false, 0i32);
    for c in expr.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
        if depth != 0 || matches!(c, '{' | '}' | '[' | ']') {
            bare.push(' ');
        }
    }
    let chars: Vec<char> = bare.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' || c == '$' {
            // A number, a duration or a Grafana variable.
            i += 1;
            while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let call = chars.get(j) == Some(&'(');
        if call && GROUPING.contains(&word.as_str()) {
            // Skip the label list.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
        } else if !call && !KEYWORDS.contains(&word.as_str()) && !GROUPING.contains(&word.as_str())
        {
            names.insert(word);
        }
    }
    names
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// Every `expr` of the dashboard's panel targets.
fn dashboard_exprs() -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(t) = m.get("targets").and_then(|t| t.as_array()) {
                    for t in t {
                        if let Some(e) = t.get("expr").and_then(|e| e.as_str()) {
                            out.push(e.to_string());
                        }
                    }
                }
                for (k, x) in m {
                    if k != "targets" {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(repo("contrib/grafana/bgpd.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut out = Vec::new();
    walk(&json, &mut out);
    out
}

/// Every `expr:` of the rules file (one line each: the test reads them without a YAML parser).
fn rule_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(repo("contrib/prometheus/bgpd-rules.yml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| {
            let e = e.trim();
            assert!(
                !e.is_empty() && !e.starts_with('|') && !e.starts_with('>'),
                "keep rule expressions on one line: {e:?}"
            );
            e.to_string()
        })
        .collect()
}

fn config(me: &NodeNet, peer: &NodeNet, idx: u8) -> String {
    format!(
        r#"
router_id = "{me_ip}"
asn = 64512
[listen]
addresses = ["{me_ip}"]
[kernel]
protocol = "bird"
[[static]]
prefix = "10.244.{idx}.0/26"
blackhole = true
[[peers]]
name = "peer"
address = "{peer_ip}"
asn = 64512
source_address = "{me_ip}"
next_hop = "self"
hold_time = 9
[metrics]
listen = "127.0.0.1:9179"
"#,
        me_ip = me.ip4(),
        peer_ip = peer.ip4(),
    )
}

/// `GET /metrics` inside the node's namespace (bash's /dev/tcp: no HTTP client needed).
fn scrape(n: &NodeNet) -> bgpd_lab::Result<String> {
    bgpd_lab::cmd::run(
        Some(&n.ns),
        "bash",
        &[
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/9179 && printf 'GET /metrics HTTP/1.1\\r\\nHost: bgpd\\r\\nConnection: close\\r\\n\\r\\n' >&3 && cat <&3",
        ],
    )
}

/// The value of one series (`name{labels}` exactly as exported) in an exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Waits until `series` of `n`'s `/metrics` has `want`.
fn wait_value(n: &NodeNet, series: &str, want: f64, what: &str) {
    wait_observing(
        Duration::from_secs(40),
        Duration::from_millis(300),
        what,
        || {
            let v = value(&scrape(n)?, series);
            Ok(Observed::when(v == Some(want), format!("{series} = {v:?}")))
        },
    )
    .unwrap();
}

/// Sample names of a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn promql_names() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (instance, le) (rate(bgpd_x_bucket{instance=~"$instance", a="b{c}"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["bgpd_x_bucket".to_string()])
    );
    assert_eq!(
        metric_names(
            "a > 0 and deriv(b[10m]) > 1e3 unless on(instance) group_left(peer) c offset 5m"
        ),
        BTreeSet::from(["a".to_string(), "b".to_string(), "c".to_string()])
    );
    assert_eq!(
        metric_names(r#"count by (instance) (x{state!="Established"} == 6)"#),
        BTreeSet::from(["x".to_string()])
    );
}

#[test]
fn dashboard_and_rules_use_live_metrics() {
    let exprs: Vec<(String, String)> = dashboard_exprs()
        .into_iter()
        .map(|e| ("dashboard".to_string(), e))
        .chain(rule_exprs().into_iter().map(|e| ("rules".to_string(), e)))
        .collect();
    assert!(exprs.len() >= 20, "expressions found: {}", exprs.len());
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (_, e) in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric in {e:?}");
        wanted.extend(names);
    }
    wanted.retain(|n| !PROMETHEUS_SERIES.contains(&n.as_str()));

    let mut lab = Lab::new("bgpd_contrib_metrics").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let mut pa = common::start(&a, &config(&a, &b, 1), 0);
    let mut pb = common::start(&b, &config(&b, &a, 2), 0);
    common::wait_all_established(&b, 1, 30);
    common::wait_kernel(&b, Family::V4, 30, "a's route installed at b", |r| {
        common::via(r, "10.244.1.0/26", &a.ip4().to_string())
    });
    // Some series appear with their first sample (per-peer counters) or on the first refresh
    // of the RIB gauges (every 5 s): wait for all of them, then report what is missing.
    let mut missing = Vec::new();
    let waited = wait_observing(
        Duration::from_secs(30),
        Duration::from_millis(500),
        "every metric of the dashboard and the rules exported by b",
        || {
            let have = exported(&scrape(&b)?);
            missing = wanted.difference(&have).cloned().collect();
            Ok(Observed::when(
                missing.is_empty(),
                format!("missing: {missing:?}"),
            ))
        },
    );
    if waited.is_err() {
        let offending: Vec<&(String, String)> = exprs
            .iter()
            .filter(|(_, e)| metric_names(e).iter().any(|n| missing.contains(n)))
            .collect();
        panic!("metrics not exported by a live bgpd: {missing:?}\nused by: {offending:#?}");
    }
    eprintln!(
        "{} metric names of {} expressions exported",
        wanted.len(),
        exprs.len()
    );

    // The graceful-restart gauges: a's routes kept stale at b while a is away ...
    let stale = r#"bgpd_bgp_graceful_restart_stale{peer="peer"}"#;
    wait_value(&b, stale, 0.0, "b: a's routes not stale");
    wait_value(
        &b,
        "bgpd_graceful_restart_recovery",
        0.0,
        "b: not recovering",
    );
    pa.signal(libc::SIGTERM).unwrap();
    assert!(
        pa.wait_exit(Duration::from_secs(15)).is_some(),
        "a stops on SIGTERM"
    );
    wait_value(&b, stale, 1.0, "b keeps a's routes stale");
    // ... b restarted meanwhile recovers (its kernel routes adopted), waiting for a ...
    pb.signal(libc::SIGTERM).unwrap();
    assert!(
        pb.wait_exit(Duration::from_secs(15)).is_some(),
        "b stops on SIGTERM"
    );
    pb = common::start(&b, &config(&b, &a, 2), 1);
    wait_value(&b, "bgpd_graceful_restart_recovery", 1.0, "b recovering");
    wait_value(
        &b,
        "bgpd_graceful_restart_waiting_peers",
        1.0,
        "b waits for a",
    );
    // ... until a is back and sent End-of-RIB. (a comes back with an empty table, as after a
    // reboot: two speakers restarting together currently wait for each other until
    // wait_time, see the report of issue 18.)
    // Our routes go through nexthop objects: iproute2 6.1's `ip route flush` sends them back
    // with both `nhid` and the gateway, which the kernel refuses (EINVAL), so the objects go
    // first (taking their routes with them), then the plain routes.
    bgpd_lab::cmd::run(Some(&a.ns), "ip", &["nexthop", "flush", "protocol", "12"]).unwrap();
    bgpd_lab::cmd::run(Some(&a.ns), "ip", &["route", "flush", "proto", "bird"]).unwrap();
    pa = common::start(&a, &config(&a, &b, 1), 1);
    wait_value(
        &b,
        "bgpd_graceful_restart_recovery",
        0.0,
        "b's recovery over",
    );
    wait_value(&b, stale, 0.0, "b: a's routes fresh again");
    pa.stop(Duration::from_secs(5));
    pb.stop(Duration::from_secs(5));
}

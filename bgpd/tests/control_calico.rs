//! calico-node's parsers of BIRD's CLI replies (CALICO.md §3, `calico_node`, the same ones
//! `calico_live.rs` runs against live daemons), run against our server's output over a mock: the readiness probe (`GRInProgress`, `scanBIRDPeers`), the
//! status reporter (`show status`, `show protocols all NAME` on one connection, `show route`
//! with its regexes).

mod calico_node;
mod control_common;

use std::time::Duration;

use bgpd::status::{GracefulRecovery, ProtoState};
use calico_node as cn;
use control_common::*;

fn lines(reply: &str) -> Vec<String> {
    reply.lines().map(String::from).collect()
}

fn scan_bird_peers(reply: &str) -> Result<Vec<cn::Peer>, String> {
    cn::scan_peers(&lines(reply))
}

fn gr_in_progress(reply: &str) -> Result<bool, String> {
    cn::gr_in_progress(&lines(reply))
}

fn peer(ip: &str, state: &str, since: &str, bgp_state: &str, info: &str) -> cn::Peer {
    cn::Peer {
        peer_ip: ip.into(),
        peer_type: "node-to-node mesh".into(),
        state: state.into(),
        since: since.into(),
        bgp_state: bgp_state.into(),
        info: info.into(),
    }
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
            peer("172.30.0.12", "up", "00:01:44", "Established", ""),
            peer(
                "172.30.0.13",
                "start",
                "00:01:52",
                "Passive",
                "Received: Administrative shutdown"
            )
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
    // Meanwhile an Established session with a GR-capable peer is `wait`, as BIRD 1.6 shows a
    // protocol whose export it postpones until recovery ends (calico_live_gr compares it live).
    let reply = c.ask(b"show protocols");
    assert!(
        reply.contains(" Mesh_172_30_0_12 BGP      master   wait   00:01:44    Established   \n"),
        "{reply}"
    );
    mock.status.lock().unwrap().graceful_restart = None;

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
    let status = cn::status(&lines(&format!(
        "{}{}",
        c.greeting.clone(),
        c.ask(b"show status")
    )));
    assert!(status.ready);
    assert_eq!(
        format!("v{}", status.version),
        bgpd::control::bird::bird_version()
    );
    assert_eq!(status.router_id, "172.30.0.11");
    for t in [
        &status.server_time,
        &status.last_boot,
        &status.last_reconfig,
    ] {
        assert!(!t.is_empty(), "{status:?}");
    }

    // show protocols, then show protocols all NAME per peer, on the same connection.
    let peers = scan_bird_peers(&c.ask(b"show protocols")).unwrap();
    for p in &peers {
        let name = format!("Mesh_{}", p.peer_ip.replace('.', "_"));
        let detail = c.ask(format!("show protocols all {name}").as_bytes());
        let (state, addr) = cn::protocol_details(&lines(&detail)).unwrap();
        assert_eq!(state, p.bgp_state);
        assert_eq!(addr, p.peer_ip);
    }

    // show route: every 1007 line parses with one of the reporter's regexes, and `from` is an
    // accepted protocol name.
    let routes = cn::routes(&lines(&c.ask(b"show route"))).unwrap();
    for r in &routes {
        assert!(r.primary, "primary marker: {r:?}");
        if r.kind == "via" {
            assert_eq!(
                (r.gateway.as_str(), r.iface.as_str()),
                ("172.30.0.12", "eth0")
            );
        }
    }
    assert_eq!(routes.len(), 5);
}

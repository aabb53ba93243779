//! The `bgpd` binary as a control client against the mock daemon: BIRD-like human output,
//! `--json` documents, exit codes (0 ok, 1 error reply, 2 cannot connect).

mod control_common;

use std::process::{Command, Output};

use control_common::*;
use serde_json::Value;

fn bgpd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .args(args)
        .output()
        .unwrap()
}

fn run(sock: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["-s", sock.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = bgpd(&a);
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

fn json(sock: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = run(sock, args);
    assert!(err.is_empty(), "{err}");
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{out}");
    (code, serde_json::from_str(&out).unwrap())
}

#[test]
fn human_output_mirrors_birdc() {
    let mock = Mock::fixture();
    let (sock, _rt) = start(mock.clone(), fixture_options(), "cli");
    let v = bgpd::control::bird::bird_version();
    let (code, out, _) = run(&sock, &["show", "status"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "BIRD {v} ready.\nBIRD {v}\nRouter ID is 172.30.0.11\nCurrent server time is 2026-11-22 00:01:55\n\
             Last reboot on 2026-11-22 00:01:42\nLast reconfiguration on 2026-11-22 00:01:42\nDaemon is up and running\n"
        )
    );
    let (code, out, _) = run(&sock, &["show", "protocols"]);
    assert_eq!(code, 0);
    assert!(out.contains("\nname     proto    table    state  since       info\nkernel1  Kernel   master   up     00:01:42    \n"));
    let (code, out, _) = run(&sock, &["show", "neighbor", "Mesh_172_30_0_12"]);
    assert_eq!(code, 0);
    assert!(out.contains("\n    Neighbor address: 172.30.0.12\n"));
    let (code, out, _) = run(
        &sock,
        &["sh", "ro", "10.244.2.0/26", "table", "master", "all"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("\n\tBGP.local_pref: 100\n"), "{out}");
    let (code, out, _) = run(&sock, &["show", "fib"]);
    assert_eq!(code, 0);
    assert!(out.contains("via 172.30.0.12 on tunl0 onlink"), "{out}");
    assert!(out.ends_with("1 installed, 0 failed, 0 pending\n"));

    // Error replies: exit 1, message on stderr.
    let (code, _, err) = run(&sock, &["show", "route", "10.99.0.0/24"]);
    assert_eq!((code, err.as_str()), (1, "Network not in table\n"));
    let (code, _, err) = run(&sock, &["show", "neighbor", "nosuch"]);
    assert_eq!((code, err.as_str()), (1, "nosuch is not a protocol\n"));

    // Actions reach the daemon.
    let (code, out, _) = run(&sock, &["disable", "Mesh_172_30_0_12", "maintenance"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("\nMesh_172_30_0_12: disabled\n"));
    let (code, out, _) = run(&sock, &["enable", "Mesh*"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("\nMesh_172_30_0_12: enabled\nMesh_172_30_0_13: enabled\n"));
    assert_eq!(run(&sock, &["restart", "kernel1"]).0, 0);
    let (code, out, _) = run(&sock, &["reload"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("\nReconfigured\n"));
    assert_eq!(run(&sock, &["down"]).0, 0);
    assert_eq!(
        *mock.actions.lock().unwrap(),
        vec![
            Action::Disable("Mesh_172_30_0_12".into(), "maintenance".into()),
            Action::Enable("Mesh_172_30_0_12".into()),
            Action::Enable("Mesh_172_30_0_13".into()),
            Action::Restart("kernel1".into()),
            Action::Reload,
            Action::Shutdown,
        ]
    );
}

#[test]
fn json_output() {
    let (sock, _rt) = start(Mock::fixture(), fixture_options(), "clijson");
    let (code, v) = json(&sock, &["show", "protocols", "--json"]);
    assert_eq!(code, 0);
    let ps = v["protocols"].as_array().unwrap();
    assert_eq!(ps.len(), 6);
    assert_eq!(ps[4]["name"], "Mesh_172_30_0_12");
    assert_eq!(ps[4]["kind"], "bgp");
    assert_eq!(ps[4]["state"], "up");
    assert_eq!(ps[4]["bgp"]["state"], "Established");
    assert_eq!(ps[4]["bgp"]["hold_timer"], serde_json::json!([212, 240]));
    assert_eq!(ps[4]["routes"]["imported"], 2);

    let (code, v) = json(&sock, &["show", "route", "--json"]);
    assert_eq!(code, 0);
    let rs = v["routes"].as_array().unwrap();
    assert_eq!(rs.len(), 5);
    assert_eq!(rs[1]["dest"]["type"], "via");
    assert_eq!(
        rs[1]["dest"]["nexthops"][0],
        serde_json::json!(["172.30.0.12", "eth0"])
    );
    assert_eq!(rs[1]["bgp"]["local_pref"], 100);
    assert_eq!(rs[3]["dest"]["type"], "blackhole");

    let (_, v) = json(&sock, &["show", "route", "count", "--json"]);
    assert_eq!(
        v["count"],
        serde_json::json!({"shown": 5, "routes": 5, "networks": 5})
    );
    let (_, v) = json(&sock, &["show", "status", "--json"]);
    assert_eq!(v["status"]["router_id"], "172.30.0.11");
    let (_, v) = json(&sock, &["show", "neighbor", "Mesh_172_30_0_13", "--json"]);
    assert_eq!(
        v["protocols"][0]["bgp"]["last_error"],
        "Received: Administrative shutdown"
    );
    let (_, v) = json(&sock, &["show", "fib", "--json"]);
    assert_eq!(v["fib"]["counts"]["installed"], 1);
    assert_eq!(v["fib"]["routes"][0]["onlink"], true);
    let (code, v) = json(&sock, &["reload", "--json"]);
    assert_eq!(
        (code, v),
        (0, serde_json::json!({"result": ["Reconfigured"]}))
    );

    let (code, v) = json(&sock, &["show", "route", "10.99.0.0/24", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        v,
        serde_json::json!({"error": {"code": 8001, "message": "Network not in table"}})
    );
}

#[test]
fn exit_codes_and_flags() {
    let dir = socket_path("nosock");
    let (code, out, err) = run(&dir, &["show", "status"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("bgpd: cannot connect to "), "{err}");
    let o = bgpd(&["--version"]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("bgpd {}\n", bgpd::VERSION)
    );
    assert!(o.status.success());
    assert!(!bgpd(&["--check", "-c", "/nonexistent/bgpd.toml"])
        .status
        .success());
    assert_eq!(bgpd(&["show", "bogus"]).status.code(), Some(2));
    // No second command smuggled in an argument.
    assert_eq!(run(&dir, &["enable", "x\ndown"]).0, 2);
    assert!(run(&dir, &["enable", "x\ndown"])
        .2
        .contains("control characters"));
}

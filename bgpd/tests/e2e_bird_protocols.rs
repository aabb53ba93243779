//! BIRD-syntax protocol options checked against a running bgpd in network namespaces, with
//! BIRD 2 peers telling what they see: node b is bgpd reading a `bird.cfg` without `router id`,
//! with `static` routes `unreachable` and `prohibit`, a kernel protocol that `learn`s through an
//! `import filter`, an eBGP neighbor p (single hop: BIRD 1.6's default `gateway direct`;
//! `graceful restart off`) and an iBGP neighbor q (`graceful restart aware`).
//!
//! Checked: the router ID is BIRD 1.6's choice (the lowest address of an up interface: tunl0's
//! 10.244.12.1, not eth0's 172.31.0.12), as p sees it; the kernel holds `unreachable` /
//! `prohibit` routes `proto bird` and the peers receive both; p's route whose next hop
//! (192.0.2.1) is on no connected network is installed via p itself; p's OPEN from b carries no
//! graceful restart capability, q's carries one without restart time or families; of two alien
//! kernel routes only the one the import filter accepts enters the RIB and reaches the peers,
//! and a SIGHUP that widens the filter brings in the other one, with the router ID kept; a
//! SIGHUP that makes p `gateway recursive` resets its session and resolves its route anew.

mod common;

use std::time::Duration;

use bgpd_lab::bird::{Bird, BirdVersion};
use bgpd_lab::kernel::KernelRoute;
use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed};
use common::{cli, routes, start_bird_cfg, wait_all_established, wait_kernel};

const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// `gateway`: Ext_p's `gateway` line, if any.
fn b_cfg(kernel_accept: &str, gateway: &str) -> String {
    format!(
        r#"# No `router id`: chosen from the interfaces, as BIRD 1.6 does.
filter kernel_in {{
  if net ~ [ {kernel_accept} ] then accept;
  reject;
}}

filter to_peers {{
  if net ~ [ 10.77.0.0/16+, 10.66.0.0/16+ ] then accept;
  reject;
}}

protocol kernel {{
  learn;
  scan time 2;
  import filter kernel_in;
  export all;
}}

protocol device {{ scan time 2; }}

protocol static {{
  route 10.77.1.0/24 unreachable;
  route 10.77.2.0/24 prohibit;
}}

protocol bgp Ext_p {{
  local as 64512;
  neighbor 172.31.0.11 as 65001;
  source address 172.31.0.12;  # as confd writes it (without: next hop self = router ID)
  {gateway}
  graceful restart off;
  import all;
  export filter to_peers;
}}

protocol bgp Int_q {{
  local as 64512;
  neighbor 172.31.0.13 as 64512;
  source address 172.31.0.12;
  graceful restart aware;
  import all;
  export filter to_peers;
}}
"#
    )
}

const P_CFG: &str = r#"router id 172.31.0.11;
protocol device { scan time 2; }
protocol static { ipv4; route 10.88.0.0/24 blackhole; }
protocol bgp b {
  local 172.31.0.11 as 65001;
  neighbor 172.31.0.12 as 64512;
  ipv4 {
    import all;
    # A next hop on no network b is connected to.
    export filter { if net = 10.88.0.0/24 then { bgp_next_hop = 192.0.2.1; accept; } reject; };
  };
}
"#;

const Q_CFG: &str = r#"router id 172.31.0.13;
protocol device { scan time 2; }
protocol bgp b {
  local 172.31.0.13 as 64512;
  neighbor 172.31.0.12 as 64512;
  graceful restart on;
  ipv4 { import all; export none; };
}
"#;

/// The "Neighbor capabilities" block of `show protocols all b` (what b's OPEN carried).
fn neighbor_caps(bird: &Bird) -> String {
    let out = bird.ctl.cmd("show protocols all b").unwrap();
    let from = out
        .find("Neighbor capabilities")
        .unwrap_or_else(|| panic!("{out}"));
    let rest = &out[from..];
    let to = rest.find("Session:").unwrap_or(rest.len());
    rest[..to].to_string()
}

fn has_prefix(bird: &Bird, prefix: &str) -> bool {
    bird.ctl
        .routes("")
        .unwrap_or_default()
        .iter()
        .any(|r| r.prefix == prefix)
}

fn wait_bird(bird: &Bird, what: &str, want: &[&str], not: &[&str]) {
    wait_observing(DEADLINE, POLL, what, || {
        let got: Vec<String> = bird.ctl.routes("")?.into_iter().map(|r| r.prefix).collect();
        let ok = want.iter().all(|w| got.iter().any(|g| g == w))
            && not.iter().all(|n| !got.iter().any(|g| g == n));
        Ok(Observed::when(ok, format!("{got:?}")))
    })
    .unwrap();
}

fn kind_of<'a>(r: &'a [KernelRoute], dst: &str) -> Option<&'a str> {
    r.iter()
        .find(|k| k.dst == dst)
        .and_then(|k| k.kind.as_deref())
}

fn router_id(n: &NodeNet) -> String {
    let s: serde_json::Value =
        serde_json::from_str(&cli(n, &["show", "status", "--json"]).unwrap()).unwrap();
    s["status"]["router_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bird_cfg_statics_gateway_gr_kernel_import_router_id() {
    let mut lab = Lab::new("bgpd_bird_protocols").unwrap();
    let lan = lab.lan().unwrap();
    let p = lab.node("p", &[(&lan, 11)], None).unwrap();
    let b = lab
        .node("b", &[(&lan, 12)], Some("10.244.12.1".parse().unwrap()))
        .unwrap();
    let q = lab.node("q", &[(&lan, 13)], None).unwrap();

    // Two alien kernel routes on b, present before bgpd starts (learned by the first scan).
    for dst in ["10.66.1.0/24", "10.66.2.0/24"] {
        b.add_route(dst, "172.31.0.11".parse().unwrap()).unwrap();
    }
    std::fs::write(b.path("bird.cfg"), b_cfg("10.66.1.0/24", "")).unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .args(["-p", "-c"])
        .arg(b.path("bird.cfg"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let bird_p = Bird::start(BirdVersion::V2, &p, P_CFG).unwrap();
    let bird_q = Bird::start(BirdVersion::V2, &q, Q_CFG).unwrap();
    let pb = start_bird_cfg(&b);
    wait_all_established(&b, 2, 60);

    // Router ID: BIRD 1.6's choice, the lowest address of an up interface.
    assert_eq!(router_id(&b), "10.244.12.1");
    let all_p = bird_p.ctl.cmd("show protocols all b").unwrap();
    let id_line = all_p.lines().find(|l| l.contains("Neighbor ID:"));
    assert_eq!(
        id_line.and_then(|l| l.split_whitespace().last()),
        Some("10.244.12.1"),
        "{all_p}"
    );

    // Static unreachable / prohibit: in the kernel as those types, announced to both peers.
    wait_kernel(
        &b,
        Family::V4,
        60,
        "unreachable and prohibit routes installed",
        |r| {
            kind_of(r, "10.77.1.0/24") == Some("unreachable")
                && kind_of(r, "10.77.2.0/24") == Some("prohibit")
        },
    );
    for bird in [&bird_p, &bird_q] {
        wait_bird(
            bird,
            "the peer learns the static routes and the accepted kernel route",
            &["10.77.1.0/24", "10.77.2.0/24", "10.66.1.0/24"],
            &[],
        );
    }
    // The kernel import filter held 10.66.2.0/24 back: not in the RIB, not announced.
    let rib: Vec<String> = routes(&b).unwrap().into_iter().map(|r| r.prefix).collect();
    assert!(rib.iter().any(|x| x == "10.66.1.0/24"), "{rib:?}");
    assert!(!rib.iter().any(|x| x == "10.66.2.0/24"), "{rib:?}");
    assert!(!has_prefix(&bird_p, "10.66.2.0/24"));

    // gateway direct (single-hop eBGP default): next hop 192.0.2.1 is on no connected network,
    // so the kernel route goes via the neighbor itself.
    wait_kernel(
        &b,
        Family::V4,
        60,
        "p's route via p (gateway direct)",
        |r| {
            r.iter().any(|k| {
                k.dst == "10.88.0.0/24"
                    && k.gateway.as_deref() == Some("172.31.0.11")
                    && k.dev.as_deref() == Some("eth0")
            })
        },
    );

    // `show route` says the same: via p on eth0 (BIRD 1.6 shows the direct-mode gateway).
    let shown = routes(&b)
        .unwrap()
        .into_iter()
        .find(|r| r.prefix == "10.88.0.0/24")
        .map(|r| r.dest.to_string());
    assert_eq!(
        shown.as_deref(),
        Some(r#"{"nexthops":[["172.31.0.11","eth0"]],"type":"via"}"#),
        "show route of 10.88.0.0/24"
    );

    // Graceful restart as each peer saw it in b's OPEN.
    let caps_p = neighbor_caps(&bird_p);
    assert!(!caps_p.contains("Graceful restart"), "off: {caps_p}");
    let caps_q = neighbor_caps(&bird_q);
    assert!(caps_q.contains("Graceful restart"), "aware: {caps_q}");
    assert!(!caps_q.contains("Restart time"), "aware: {caps_q}");

    // SIGHUP with a wider kernel import filter: the held-back route comes in; the router ID
    // stays.
    let wider = "10.66.1.0/24, 10.66.2.0/24";
    std::fs::write(b.path("bird.cfg"), b_cfg(wider, "")).unwrap();
    // SAFETY: signals our own child process.
    unsafe { libc::kill(pb.pid() as i32, libc::SIGHUP) };
    wait_bird(
        &bird_p,
        "p learns the kernel route the new filter accepts",
        &["10.66.1.0/24", "10.66.2.0/24"],
        &[],
    );
    assert_eq!(router_id(&b), "10.244.12.1");
    wait_all_established(&b, 2, 5);

    // A reload that changes `gateway` resets the session, as BIRD's does, and p's route is
    // resolved anew: recursively, 192.0.2.1 is reached through no route, so the kernel refuses
    // it (`show fib`) instead of taking it via p.
    std::fs::write(b.path("bird.cfg"), b_cfg(wider, "gateway recursive;")).unwrap();
    // SAFETY: signals our own child process.
    unsafe { libc::kill(pb.pid() as i32, libc::SIGHUP) };
    wait_observing(
        DEADLINE,
        POLL,
        "p's route refused by the kernel (gateway recursive)",
        || {
            let fib = cli(&b, &["show", "fib", "--json"])?;
            let v: serde_json::Value = serde_json::from_str(&fib).unwrap_or_default();
            let rows = v["fib"]["routes"].as_array().cloned().unwrap_or_default();
            let row = rows.iter().find(|r| r["prefix"] == "10.88.0.0/24");
            let refused = row.is_some_and(|r| r["state"] != "installed" && r["state"] != "pending");
            Ok(Observed::when(refused, format!("{row:?}")))
        },
    )
    .unwrap();
    let k = bgpd_lab::kernel::routes(&b.ns, Family::V4, "main", Some("bird")).unwrap();
    assert!(
        !k.iter().any(|r| r.dst == "10.88.0.0/24"),
        "not in the kernel: {k:?}"
    );
    wait_all_established(&b, 2, 60);
}

//! End to end in network namespaces (root): three bgpd processes in a Calico-style iBGP full
//! mesh with the passive rule, checked through the kernel tables and each daemon's control
//! socket (`bgpd show protocols|route --json`: sessions, best routes, stale routes):
//! * blackhole IPAM blocks announced and installed as `blackhole proto bird`;
//! * IP-in-IP `always` pool routes installed `via NODE dev tunl0 onlink` (tunl0 is a veth);
//! * `cross-subnet` pool routes with an on-link next hop installed `via NODE dev eth0`;
//! * a kernel route added by hand with `learn` on is exported and installed by the others;
//! * graceful restart: one node SIGKILLed, then another SIGTERMed: the peers keep their routes
//!   in the kernel (no deletion recorded by `ip monitor`), the restarted nodes keep their own
//!   routes through the restart (adopted, swept only after End-of-RIB), everything converges.

mod common;

use std::time::Duration;

use bgpd_lab::kernel::{self, RouteMonitor};
use bgpd_lab::{wait_observing, Family, Lab, NodeNet, Observed, Process};

fn config(n: &NodeNet, idx: u8, all: &[String]) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
learn = true
scan_interval = 1
[graceful_restart]
wait_time = 30
[[pools]]
cidr = "10.244.0.0/16"
ipip = "cross-subnet"
[[pools]]
cidr = "10.96.0.0/16"
ipip = "always"
[[static]]
prefix = "10.244.{idx}.0/26"
blackhole = true
[[static]]
prefix = "10.96.{idx}.0/26"
blackhole = true
[direct]
interfaces = ["-cali*", "-tunl0*", "eth*"]
[mesh]
peers = [{peers}]
source_address = "{ip}"
hold_time = 9
[log]
level = "info"
"#,
        ip = n.ip4(),
        peers = all
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn start(n: &NodeNet, run: u32) -> Process {
    let cfg = std::fs::read_to_string(n.path("bgpd.toml")).unwrap();
    common::start(n, &cfg, run)
}

/// Everything node `me` (1-based index) must have in its kernel, given which nodes announce.
fn expected(me: u8, nodes: &[NodeNet], learned_from: Option<u8>) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let idx = i as u8 + 1;
        if idx == me {
            v.push((format!("10.244.{idx}.0/26"), "blackhole".into()));
            v.push((format!("10.96.{idx}.0/26"), "blackhole".into()));
        } else {
            v.push((
                format!("10.244.{idx}.0/26"),
                format!("via {} dev eth0", n.ip4()),
            ));
            v.push((
                format!("10.96.{idx}.0/26"),
                format!("via {} dev tunl0 onlink", n.ip4()),
            ));
        }
    }
    if let Some(l) = learned_from {
        if l != me {
            let gw = nodes[l as usize - 1].ip4();
            v.push(("10.77.0.0/24".into(), format!("via {gw}")));
        }
    }
    v
}

fn check(n: &NodeNet, want: &[(String, String)]) -> bgpd_lab::Result<Observed> {
    let routes = kernel::routes(&n.ns, Family::V4, "main", Some("bird"))?;
    let mut missing = Vec::new();
    for (dst, form) in want {
        let ok = routes.iter().any(|r| {
            r.dst == *dst
                && match form.as_str() {
                    "blackhole" => r.is_blackhole(),
                    f if f.ends_with("dev tunl0 onlink") => {
                        r.is_via(f.split(' ').nth(1).unwrap(), "tunl0", true)
                    }
                    f if f.ends_with("dev eth0") => {
                        r.is_via(f.split(' ').nth(1).unwrap(), "eth0", false)
                    }
                    f => r.gateway.as_deref() == f.strip_prefix("via ") && !r.is_onlink(),
                }
        });
        if !ok {
            missing.push(format!("{dst} {form}"));
        }
    }
    let extra: Vec<String> = routes
        .iter()
        .filter(|r| !want.iter().any(|(d, _)| *d == r.dst))
        .map(|r| r.to_string())
        .collect();
    let done = missing.is_empty() && extra.is_empty();
    Ok(Observed::when(
        done,
        format!(
            "{}: missing {missing:?}, extra {extra:?}\n{}",
            n.name,
            kernel::render(&routes)
        ),
    ))
}

fn converge(nodes: &[NodeNet], learned_from: Option<u8>, secs: u64, what: &str) {
    for (i, n) in nodes.iter().enumerate() {
        let want = expected(i as u8 + 1, nodes, learned_from);
        wait_observing(
            Duration::from_secs(secs),
            Duration::from_millis(200),
            what,
            || check(n, &want),
        )
        .unwrap();
    }
}

/// The same expectations through the control socket: every node has its two mesh sessions
/// Established, its own blocks best from `static1`, the others' best from their `Mesh_`
/// protocol with their address as next hop, and the learned route from `kernel1` at the
/// node that learned it.
fn converge_ctl(nodes: &[NodeNet], learned_from: Option<u8>, secs: u64, what: &str) {
    for (i, n) in nodes.iter().enumerate() {
        let me = i as u8 + 1;
        common::wait_all_established(n, 2, secs);
        let mut want: Vec<(String, String, Option<String>)> = Vec::new();
        for (j, o) in nodes.iter().enumerate() {
            let idx = j as u8 + 1;
            for p in prefixes_of(idx) {
                want.push(if idx == me {
                    (p, "static1".into(), None)
                } else {
                    (
                        p,
                        format!("Mesh_{}", o.ip4().to_string().replace('.', "_")),
                        Some(o.ip4().to_string()),
                    )
                });
            }
        }
        if let Some(l) = learned_from {
            let src = &nodes[l as usize - 1];
            want.push(if l == me {
                ("10.77.0.0/24".into(), "kernel1".into(), None)
            } else {
                (
                    "10.77.0.0/24".into(),
                    format!("Mesh_{}", src.ip4().to_string().replace('.', "_")),
                    Some(src.ip4().to_string()),
                )
            });
        }
        common::wait_routes(n, secs, &format!("{what} (show route)"), |rs| {
            want.iter().all(|(p, proto, nh)| {
                rs.iter().any(|r| {
                    r.primary
                        && r.prefix == *p
                        && r.protocol == *proto
                        && (nh.is_none()
                            || r.bgp.as_ref().and_then(|b| b.next_hop.as_ref()) == nh.as_ref())
                })
            })
        });
    }
}

/// Waits until node `idx`'s prefixes are all stale (`stale`) or none of them is (`!stale`) at
/// every node of `at`.
fn wait_stale(at: &[NodeNet], idx: u8, stale: bool, what: &str) {
    for n in at {
        wait_observing(
            Duration::from_secs(30),
            Duration::from_millis(200),
            &format!("{}: {what}", n.name),
            || {
                let rs = common::routes(n)?;
                let flags: Vec<(String, bool)> = rs
                    .iter()
                    .filter(|r| r.primary && prefixes_of(idx).contains(&r.prefix))
                    .map(|r| (r.prefix.clone(), r.stale))
                    .collect();
                let done = flags.len() == 2 && flags.iter().all(|(_, s)| *s == stale);
                Ok(Observed::when(done, format!("{flags:?}")))
            },
        )
        .unwrap();
    }
}

fn prefixes_of(idx: u8) -> Vec<String> {
    vec![format!("10.244.{idx}.0/26"), format!("10.96.{idx}.0/26")]
}

#[test]
fn mesh_calico_forms_learn_and_graceful_restart() {
    let mut lab = Lab::new("bgpd_mesh").unwrap();
    let lan = lab.lan().unwrap();
    let nodes: Vec<NodeNet> = (1..=3u8)
        .map(|i| {
            lab.node(
                &format!("n{i}"),
                &[(&lan, 10 + i)],
                Some(format!("10.0.0.{i}").parse().unwrap()),
            )
            .unwrap()
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.ip4().to_string()).collect();
    for (i, n) in nodes.iter().enumerate() {
        std::fs::write(n.path("bgpd.toml"), config(n, i as u8 + 1, &addrs)).unwrap();
    }
    let mut procs: Vec<Process> = nodes.iter().map(|n| start(n, 0)).collect();

    converge(
        &nodes,
        None,
        40,
        "mesh converged: blocks as blackhole, direct and tunl0 onlink forms",
    );
    converge_ctl(&nodes, None, 20, "mesh converged");

    // `learn`: a route added by hand on n1 reaches n2 and n3 via n1.
    bgpd_lab::cmd::run(
        Some(&nodes[0].ns),
        "ip",
        &[
            "route",
            "add",
            "10.77.0.0/24",
            "via",
            "172.31.0.99",
            "proto",
            "static",
        ],
    )
    .unwrap();
    converge(&nodes, Some(1), 20, "learned kernel route exported");
    converge_ctl(&nodes, Some(1), 20, "learned kernel route exported");

    // Graceful restart 1: SIGKILL n3. Its routes stay everywhere, including its own kernel.
    let mons: Vec<RouteMonitor> = nodes
        .iter()
        .map(|n| RouteMonitor::start(&n.ns, &n.path("monitor.log")).unwrap())
        .collect();
    procs[2].kill();
    // The peers saw n3 go (its sessions closed) and keep its routes stale; `ip monitor` records
    // any deletion from here to the end, so "kept" holds over the whole window.
    wait_stale(
        &nodes[..2],
        3,
        true,
        "n3's routes kept stale by its peers (show route)",
    );
    converge(&nodes, Some(1), 5, "routes kept while n3 is dead");
    procs[2] = start(&nodes[2], 1);
    // Refreshed: n3 is back and re-announced its blocks (no longer stale at its peers).
    wait_stale(
        &nodes[..2],
        3,
        false,
        "n3's routes refreshed after its restart",
    );
    converge(&nodes, Some(1), 40, "converged after n3's restart");
    converge_ctl(&nodes, Some(1), 40, "converged after n3's restart");
    // The routes n3 adopted from its kernel at start-up were replaced, not added again (an
    // exclusive add of an adopted route fails with EEXIST and lists it as refused).
    assert_eq!(common::fib_failed(&nodes[2]), 0, "n3: routes refused");

    // Graceful restart 2: SIGTERM n2 (graceful shutdown), restart.
    procs[1].signal(libc::SIGTERM).unwrap();
    assert!(
        procs[1].wait_exit(Duration::from_secs(10)).is_some(),
        "n2 stops on SIGTERM"
    );
    let others = [nodes[0].clone(), nodes[2].clone()];
    wait_stale(&others, 2, true, "n2's routes kept stale by its peers");
    converge(&nodes, Some(1), 5, "routes kept while n2 is stopped");
    procs[1] = start(&nodes[1], 1);
    wait_stale(&others, 2, false, "n2's routes refreshed after its restart");
    converge(&nodes, Some(1), 40, "converged after n2's restart");
    converge_ctl(&nodes, Some(1), 40, "converged after n2's restart");
    assert_eq!(common::fib_failed(&nodes[1]), 0, "n2: routes refused");

    let watched: Vec<String> = [
        prefixes_of(1),
        prefixes_of(2),
        prefixes_of(3),
        vec!["10.77.0.0/24".into()],
    ]
    .concat();
    for (n, m) in nodes.iter().zip(&mons) {
        let del = m.deletions_of(&watched).unwrap();
        assert!(
            del.is_empty(),
            "{}: routes deleted during the restarts: {del:?}",
            n.name
        );
    }
    for m in mons {
        m.stop();
    }
    for mut p in procs {
        p.stop(Duration::from_secs(5));
    }
}

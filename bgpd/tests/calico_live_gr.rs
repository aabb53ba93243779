//! A node's graceful restart as calico-node sees it, bgpd against BIRD 1.6 (issue 15), on
//! running daemons in network namespaces (root): the three-node Calico mesh (`bird.cfg` as
//! confd renders it, IP-in-IP pool, a blackhole block per node), node 1 BIRD 1.6 in one run
//! and bgpd under the name `bird` (same file) in the other, nodes 2 and 3 BIRD 1.6.
//!
//! Once ready, node 3's BIRD is frozen (SIGSTOP) and node 1 restarts as on a node restart:
//! SIGTERM, then `bird -R` (recovery), as calico-node's runit script starts it. While node 3
//! stays silent, node 1's recovery cannot finish: calico-node must read the same on both
//! daemons (`show status` with the `0024` graceful-restart lines, readiness failing,
//! `show protocols` rows and states, `show route` through the status reporter's regexes) and
//! node 1's kernel must still hold node 3's block. Node 3 is then thawed: once recovered,
//! the `0024` lines are gone, readiness passes and both views are equal again.

mod calico_node;

use std::net::Ipv4Addr;
use std::path::Path;

use bgpd_lab::bird16::mesh_name;
use bgpd_lab::{cmd, wait_observing, CalicoBird16Config, NodeNet, Observed};
use calico_node as cn;
use cn::seen::{assert_fields, assert_same, block, mask, Seen, AS, CONVERGE, POLL, POOL};
use cn::topo;
use cn::Fam;

const HOSTS: [u8; 3] = [11, 12, 13];

/// The `0024` lines of `show status` (the wait timer's remaining seconds masked: a time).
fn gr_lines(sock: &Path) -> Vec<String> {
    let r = cn::query1(sock, "show status").unwrap();
    let t = regex::Regex::new(r"Wait timer is \d+/").unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    for l in r {
        inside = l.starts_with("0024") || (inside && l.starts_with(' '));
        if inside {
            out.push(t.replace(&mask(&l), "Wait timer is N/").into_owned());
        }
    }
    out
}

/// Node 1's kernel routes to the other nodes' blocks (`ip route` lines, BIRD's protocol).
fn kernel_blocks(n: &NodeNet) -> Vec<String> {
    let out = cmd::ip(&["-n", &n.ns, "-4", "route", "show", "proto", "bird"]).unwrap();
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| HOSTS[1..].iter().any(|h| l.starts_with(&block(*h))))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

/// What calico-node saw during recovery and after it, and node 1's kernel then.
struct Restart {
    during: Seen,
    gr_during: Vec<String>,
    kernel_before: Vec<String>,
    kernel_during: Vec<String>,
    after: Seen,
    gr_after: Vec<String>,
    kernel_after: Vec<String>,
}

fn restart(test: &str, bgpd: bool) -> Restart {
    let cfg = |n: &NodeNet, h: u8, tunnel| {
        let ips: Vec<Ipv4Addr> = HOSTS
            .iter()
            .map(|h| Ipv4Addr::new(172, 31, 0, *h))
            .collect();
        CalicoBird16Config::new(n, AS, &block(h), POOL, &ips, tunnel).render(&n.path("bird.log"))
    };
    let mut up = topo::start(test, Fam::V4, bgpd, &HOSTS.map(|h| (h, true)), cfg);
    let peer_names: Vec<String> = ["172.31.0.12", "172.31.0.13"]
        .iter()
        .map(|p| mesh_name(p))
        .collect();
    let blocks = [block(12), block(13)];
    up.wait_ready("node 1 ready", 2, &blocks);
    let n1 = up.nodes[0].clone();
    let kernel_before = kernel_blocks(&n1);
    assert_eq!(kernel_before.len(), 2, "{kernel_before:?}");

    // Node 3 silent: node 1 (passive towards it) waits for its session to recover.
    let n3 = up.others[1].process().unwrap().pid() as i32;
    // SAFETY: signals a child of this test.
    unsafe { libc::kill(n3, libc::SIGSTOP) };
    up.restart_graceful();
    let sock = up.sock.clone();
    up.ensure_running().unwrap();
    // Recovering: node 2 back (Established, its block learned again, its End-of-RIB in),
    // node 3 not.
    wait_observing(CONVERGE, POLL, "node 2 back while recovering", || {
        up.ensure_running()?;
        let peers = cn::query1(&sock, "show protocols")
            .and_then(|l| cn::scan_peers(&l))
            .unwrap_or_default();
        let n2_up = peers
            .iter()
            .any(|p| p.peer_ip == "172.31.0.12" && p.bgp_state == "Established");
        let routes = cn::query1(&sock, "show route")
            .and_then(|l| cn::routes(&l))
            .unwrap_or_default();
        let learned = routes.iter().any(|r| r.dest == block(12));
        // Node 2's End-of-RIB counted: only node 3's session left to recover.
        let gr = gr_lines(&sock);
        let one_left = gr.iter().any(|l| l.contains("Waiting for 1 protocols"));
        Ok(Observed::when(
            n2_up && learned && one_left,
            format!("{peers:?} {routes:?} {gr:?}"),
        ))
    })
    .unwrap();
    let cmds = ["show route count".to_string(), "show protocols".into()];
    let during = cn::seen::observe(&sock, Fam::V4, &peer_names, &cmds);
    let gr_during = gr_lines(&sock);
    let kernel_during = kernel_blocks(&n1);

    // SAFETY: as above.
    unsafe { libc::kill(n3, libc::SIGCONT) };
    up.wait_ready("node 1 recovered", 2, &blocks);
    let after = cn::seen::observe(&sock, Fam::V4, &peer_names, &cmds);
    Restart {
        during,
        gr_during,
        kernel_before,
        kernel_during,
        after,
        gr_after: gr_lines(&sock),
        kernel_after: kernel_blocks(&n1),
    }
}

#[test]
fn calico_graceful_restart_vs_bird16() {
    let bird = restart("calico_gr_bird16", false);
    let bgpd = restart("calico_gr_bgpd", true);
    // The scenario did what it is meant to: BIRD 1.6 was caught recovering, not ready,
    // and kept node 3's block in the kernel meanwhile.
    assert!(bird.during.gr, "{:?}", bird.during);
    assert!(bird.during.ready.is_err());
    assert_eq!(bird.kernel_during, bird.kernel_before);
    // What calico-node reads while recovering: the same on both.
    assert_eq!(bgpd.gr_during, bird.gr_during);
    assert_fields(&bgpd.during, &bird.during);
    // Routes kept: node 3's block stays in node 1's kernel through the restart.
    assert_eq!(bgpd.kernel_before, bird.kernel_before);
    assert_eq!(bgpd.kernel_during, bird.kernel_during);
    // Recovered: no 0024 lines, ready, and the same view as BIRD 1.6.
    assert_eq!(bird.gr_after, Vec::<String>::new());
    assert_eq!(bgpd.gr_after, bird.gr_after);
    assert_same(&bgpd.after, &bird.after);
    assert_eq!(bgpd.kernel_after, bird.kernel_after);
}

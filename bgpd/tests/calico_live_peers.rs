//! calico-node cannot tell bgpd from BIRD 1.6 (issue 15) beyond the node-to-node mesh: the
//! other peer shapes Calico renders, on running daemons in network namespaces (root).
//!
//! - A route reflector and its clients (mesh off, `BGPPeer`s with selectors: `Node_<ip>`
//!   protocols; the reflector's carry `rr client; rr cluster id 224.0.0.1;`), read once on the
//!   reflector and once on a client (which learns the other client's block reflected: next
//!   hop the other client, `BGP.originator_id` and `BGP.cluster_list` set).
//! - Explicit eBGP peers: a global peer `Global_<ip>` in AS 65001 and a node-specific peer
//!   `Node_<ip>` in AS 65002 reached with a `local as 64600` override; both announce their own
//!   network and one network they share (same AS path length, so the router ID decides), and
//!   both send the node's block back (an AS loop for each session's own AS: dropped).
//!
//! In each, node 1 runs BIRD 1.6 with Calico's `bird.cfg`, then bgpd (named `bird`, started as
//! calico-node's runit script does) with the very same file; the other nodes are BIRD 1.6.
//! What Calico's parsers read (`calico_node`) must be equal field by field, times aside, and
//! `show route all`/`for`/`count`/`protocol` and the `show protocols all` session lines equal
//! as text.

mod calico_node;

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use bgpd_lab::bird16::mesh_name;
use bgpd_lab::{CalicoBird16Config, NodeNet, TunnelSupport};
use calico_node as cn;
use cn::seen::{block, AS, POOL};
use cn::topo::{self, compare, View};
use cn::Fam;

/// Calico's protocol name for a BGPPeer (`Node_172_31_0_12`, `Global_...`).
fn peer_name(kind: &str, ip: Ipv4Addr) -> String {
    mesh_name(&ip.to_string()).replacen("Mesh", kind, 1)
}

/// One `protocol bgp NAME from bgp_template` as confd renders a BGPPeer.
struct CalicoPeer {
    name: String,
    ip: Ipv4Addr,
    asn: u32,
    local_as: Option<u32>,
    rr_cluster_id: Option<&'static str>,
    passive: bool,
}

/// A Calico node's `bird.cfg` (Calico's kernel, device, direct, static, filters and template,
/// from the lab's generator) with `peers` in place of the mesh.
fn calico_cfg(n: &NodeNet, host: u8, peers: &[CalicoPeer], tunnel: TunnelSupport) -> String {
    let mut c = CalicoBird16Config::new(n, AS, &block(host), POOL, &[], tunnel);
    c.mesh_peers.clear();
    let mut s = c.render(&n.path("bird.log"));
    let me = n.ip4();
    s.push_str("# ------------- Global peers / Node-specific peers -------------\n");
    for p in peers {
        let _ = writeln!(s, "protocol bgp {} from bgp_template {{", p.name);
        if let Some(l) = p.local_as {
            let _ = writeln!(s, "  local as {l};");
        }
        let _ = writeln!(s, "  neighbor {} as {};", p.ip, p.asn);
        if let Some(id) = p.rr_cluster_id {
            let _ = writeln!(s, "  rr client;\n  rr cluster id {id};");
        }
        let _ = writeln!(
            s,
            "  ttl security off;\n  multihop;\n  source address {me};\n  keepalive time 3;\n  hold time 9;\n  import all;"
        );
        let internal = p.asn == p.local_as.unwrap_or(AS);
        let _ = writeln!(
            s,
            "  export filter {{\n    calico_export_to_bgp_peers({internal});\n    reject;\n  }};"
        );
        if p.passive {
            let _ = writeln!(s, "  passive on;");
        }
        let _ = writeln!(s, "}}\n");
    }
    s
}

/// A plain BIRD 1.6 router (not a Calico node) in `asn` announcing `nets`, peered with `peer`.
fn tor_cfg(n: &NodeNet, asn: u32, nets: &[&str], peer: Ipv4Addr, peer_as: u32) -> String {
    let mut s = format!(
        "log \"{}\" all;\nrouter id {};\nprotocol device {{ scan time 2; }}\nprotocol direct {{ interface \"*\"; }}\nprotocol static {{\n",
        n.path("bird.log").display(),
        n.ip4()
    );
    for net in nets {
        let _ = writeln!(s, "  route {net} blackhole;");
    }
    let _ = writeln!(
        s,
        "}}\nprotocol bgp calico {{\n  local as {asn};\n  neighbor {peer} as {peer_as};\n  keepalive time 3;\n  hold time 9;\n  import all;\n  export all;\n}}"
    );
    s
}

/// A route reflector (host 11) and two clients (12, 13); `subject` is the host read.
fn rr_view(test: &str, bgpd: bool, subject: u8) -> View {
    let lan_ip = |h: u8| Ipv4Addr::new(172, 31, 0, h);
    let mut hosts: Vec<(u8, bool)> = vec![(subject, true)];
    hosts.extend(
        [11u8, 12, 13]
            .iter()
            .filter(|h| **h != subject)
            .map(|h| (*h, true)),
    );
    let passive = |me: u8, other: u8| {
        bgpd_lab::bird16::calico_passive(&lan_ip(me).to_string(), &lan_ip(other).to_string())
    };
    let peers_of = |h: u8| -> Vec<CalicoPeer> {
        let others: Vec<u8> = if h == 11 { vec![12, 13] } else { vec![11] };
        others
            .into_iter()
            .map(|o| CalicoPeer {
                name: peer_name("Node", lan_ip(o)),
                ip: lan_ip(o),
                asn: AS,
                local_as: None,
                // The reflector's peers are nodes without its cluster ID: its clients.
                rr_cluster_id: (h == 11).then_some("224.0.0.1"),
                passive: passive(h, o),
            })
            .collect()
    };
    let names: Vec<String> = peers_of(subject).iter().map(|p| p.name.clone()).collect();
    let want: Vec<String> = [11u8, 12, 13]
        .iter()
        .filter(|h| **h != subject)
        .map(|h| block(*h))
        .collect();
    let mut cmds: Vec<String> = want.iter().map(|b| format!("show route all {b}")).collect();
    cmds.extend([
        "show route count".to_string(),
        format!("show route protocol {}", names[0]),
        "show route for 10.244.13.5".into(),
    ]);
    topo::run(
        test,
        Fam::V4,
        bgpd,
        &hosts,
        |n, h, t| calico_cfg(n, h, &peers_of(h), t),
        &names,
        &want,
        &cmds,
    )
}

#[test]
fn calico_route_reflector_and_client() {
    // Read on the reflector: both clients Established as rr clients, their blocks learned.
    let bird = rr_view("calico_rr_bird16", false, 11);
    let bgpd = rr_view("calico_rr_bgpd", true, 11);
    assert_eq!(bgpd.0.peers.len(), 2);
    compare(&bgpd, &bird);
    // Read on a client: the other client's block comes reflected.
    let bird = rr_view("calico_rrc_bird16", false, 12);
    let bgpd = rr_view("calico_rrc_bgpd", true, 12);
    let r13 = bgpd.0.routes.iter().find(|r| r.dest == block(13)).unwrap();
    assert_eq!(
        (r13.gateway.as_str(), r13.from.as_str()),
        ("172.31.0.13", "Node_172_31_0_11")
    );
    compare(&bgpd, &bird);
}

const TOR_AS: u32 = 65001;
const PEER_AS: u32 = 65002;
const LOCAL_AS: u32 = 64600;
/// Announced by both eBGP neighbours.
const SHARED: &str = "10.99.50.0/24";

fn ebgp_view(test: &str, bgpd: bool) -> View {
    let lan_ip = |h: u8| Ipv4Addr::new(172, 31, 0, h);
    let hosts = [(11u8, true), (12, false), (13, false)];
    let calico_peers = || {
        vec![
            CalicoPeer {
                name: peer_name("Global", lan_ip(12)),
                ip: lan_ip(12),
                asn: TOR_AS,
                local_as: None,
                rr_cluster_id: None,
                passive: false,
            },
            CalicoPeer {
                name: peer_name("Node", lan_ip(13)),
                ip: lan_ip(13),
                asn: PEER_AS,
                local_as: Some(LOCAL_AS),
                rr_cluster_id: None,
                passive: false,
            },
        ]
    };
    let names: Vec<String> = calico_peers().iter().map(|p| p.name.clone()).collect();
    let want = vec![
        "10.99.12.0/24".to_string(),
        "10.99.13.0/24".into(),
        SHARED.into(),
    ];
    let cmds = vec![
        "show route all 10.99.12.0/24".to_string(),
        "show route all 10.99.13.0/24".into(),
        format!("show route {SHARED}"),
        format!("show route all {SHARED}"),
        format!("show route all {}", block(11)),
        "show route count".into(),
        format!("show route protocol {}", names[1]),
        "show route for 10.99.13.7".into(),
    ];
    topo::run(
        test,
        Fam::V4,
        bgpd,
        &hosts,
        |n, h, t| match h {
            11 => calico_cfg(n, h, &calico_peers(), t),
            12 => tor_cfg(n, TOR_AS, &["10.99.12.0/24", SHARED], lan_ip(11), AS),
            _ => tor_cfg(n, PEER_AS, &["10.99.13.0/24", SHARED], lan_ip(11), LOCAL_AS),
        },
        &names,
        &want,
        &cmds,
    )
}

#[test]
fn calico_ebgp_global_and_node_peer() {
    let bird = ebgp_view("calico_ebgp_bird16", false);
    let bgpd = ebgp_view("calico_ebgp_bgpd", true);
    // Both sessions external, the node-specific one from AS 64600.
    let s = &bgpd.1;
    assert!(
        s["Node_172_31_0_13"].iter().any(|l| l.contains("external")),
        "{s:?}"
    );
    compare(&bgpd, &bird);
}

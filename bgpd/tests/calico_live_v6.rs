//! calico-node cannot tell bgpd's `bird6` from BIRD 1.6's `bird6` (issue 15), on running
//! daemons in network namespaces (root): a Calico-shaped three-node IPv6 mesh (`bird6.cfg` as
//! confd renders it: IPv6 pool without encapsulation, one blackhole block per node, direct on
//! every interface but `cali*`, mesh over the nodes' IPv6 addresses, `Mesh_fd00_31__c`), node
//! 1 BIRD 1.6's `bird6`, then bgpd under the name `bird6` started as calico-node's runit
//! script starts it (`bird6 -R -s SOCK -d -c bird6.cfg`) with the very same file; the other
//! two BIRD 1.6's `bird6`. Calico's parsers (`calico_node`, peer addresses decoded with `:`
//! as for `bird6`) read node 1's socket: readiness, `calicoctl node status`, the status
//! reporter (`show status`, `show protocols` + `show protocols all NAME`, `show route`
//! through its regexes), and `show route all`/`for`/`protocol`/`count` as text, also for a
//! block both other nodes announce (two paths); the two must be equal field by field, times
//! aside.

mod calico_node;

use std::net::Ipv6Addr;

use bgpd_lab::bird16::mesh_name;
use bgpd_lab::{CalicoBird16Config, NodeNet};
use calico_node as cn;
use cn::seen::AS;
use cn::topo::{self, compare, View};
use cn::Fam;

const HOSTS: [u8; 3] = [11, 12, 13];
/// The IPv6 pool and host `h`'s block in it.
const POOL6: &str = "fd00:244::/48";
fn block6(h: u8) -> String {
    format!("fd00:244:0:{h}::/122")
}
/// A block nodes 2 and 3 both announce: node 1 holds two equal paths.
const SHARED6: &str = "fd00:244:0:99::/122";

fn mesh6(test: &str, bgpd: bool) -> View {
    let cfg = |n: &NodeNet, h: u8, _| {
        let ips: Vec<Ipv6Addr> = HOSTS
            .iter()
            .map(|h| Ipv6Addr::new(0xfd00, 0x31, 0, 0, 0, 0, 0, u16::from(*h)))
            .collect();
        let mut c = CalicoBird16Config::new_v6(n, AS, &block6(h), POOL6, &ips);
        if h != HOSTS[0] {
            c.blocks.push(SHARED6.into());
        }
        c.render(&n.path("bird.log"))
    };
    let peer_names: Vec<String> = ["fd00:31::c", "fd00:31::d"]
        .iter()
        .map(|p| mesh_name(p))
        .collect();
    let want = vec![
        block6(12),
        block6(13),
        SHARED6.to_string(),
        SHARED6.to_string(),
    ];
    let cmds = [
        format!("show route all {}", block6(12)),
        format!("show route {SHARED6}"),
        format!("show route all {SHARED6}"),
        "show route for fd00:244:0:12::5".into(),
        format!("show route protocol {}", peer_names[1]),
        "show route protocol static1".into(),
        "show route protocol direct1".into(),
        "show route count".into(),
        "show route fd00:99::/64".into(),
        // The other family's prefix, as bird6 answers it.
        "show route 10.244.12.0/26".into(),
        "show protocols all nosuch".into(),
        "show nonsense".into(),
    ];
    let hosts = HOSTS.map(|h| (h, true));
    topo::run(test, Fam::V6, bgpd, &hosts, cfg, &peer_names, &want, &cmds)
}

#[test]
fn calico_sees_bgpd_as_bird6() {
    let bird = mesh6("calico_v6_bird16", false);
    let bgpd = mesh6("calico_v6_bgpd", true);
    // The mesh is up and decoded as bird6's: IPv6 peer addresses from the protocol names.
    let ips: Vec<&str> = bgpd.0.peers.iter().map(|p| p.peer_ip.as_str()).collect();
    assert_eq!(ips, ["fd00:31::c", "fd00:31::d"]);
    // (A network's second path has no prefix: its dest is empty.)
    assert!(
        bgpd.0
            .routes
            .iter()
            .all(|r| r.dest.is_empty() || r.dest.contains(':')),
        "{bgpd:?}"
    );
    compare(&bgpd, &bird);
}

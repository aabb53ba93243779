//! Pieces of the interop scenarios that run both with bgpd as a node (`bgpd/tests/interop`) and
//! with real peers only (`lab/tests/interop`): the common constants, the route sets, and the
//! parts of a scenario that do not depend on which daemon sits in bgpd's place.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::lab::{Lab, NodeNet};
use crate::speaker::{wait_exactly, wait_learns, wait_sessions, Speaker};
use crate::{Bird, Bird2Config, Bird2Peer, Family, Gobgp, GobgpConfig, GobgpNeighbor, Result};

/// The AS of every iBGP scenario (Calico's default).
pub const AS: u32 = 64512;
/// How long sessions and routes may take to converge.
pub const CONVERGE: Duration = Duration::from_secs(40);
/// How often the scenarios look again.
pub const POLL: Duration = Duration::from_millis(250);

/// Node `host`'s Calico block, `10.244.HOST.0/26`.
pub fn block(host: u8) -> String {
    format!("10.244.{host}.0/26")
}

/// The `i`-th /26 of 10.0.0.0/8 (the churn and scale route sets).
pub fn nth26(i: u32) -> String {
    format!("10.{}.{}.{}/26", i >> 10, (i >> 2) & 255, (i & 3) * 64)
}

/// Prints how long a passed scenario took.
pub fn report(test: &str, start: Instant) {
    eprintln!(
        "bgpd-lab: {test} passed in {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

/// Waits until every speaker has `sessions` established sessions, then until every one has
/// learned `prefixes` (a mesh has converged).
pub fn wait_converged(
    speakers: &[&dyn Speaker],
    sessions: usize,
    family: Family,
    prefixes: &[String],
) -> Result<()> {
    for s in speakers {
        wait_sessions(*s, sessions, CONVERGE)?;
    }
    for s in speakers {
        wait_learns(*s, family, prefixes, CONVERGE)?;
    }
    Ok(())
}

/// The churn of scenario 7: BIRD 2 (configured by `cb` on `node`, already peering with
/// `receiver`) announces 10,000 /26 blackholes; once `receiver` holds exactly those, three
/// waves follow back to back through `birdc configure` (the first half withdrawn; every even
/// one of the rest withdrawn and 2,000 new ones announced; 1,000 of the new ones withdrawn
/// again). Returns BIRD and the prefixes it announces at the end.
pub fn bird2_churn_waves(
    cb: &mut Bird2Config,
    node: &NodeNet,
    receiver: &dyn Speaker,
) -> Result<(Bird, Vec<String>)> {
    let set = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&i| format!("{} blackhole", nth26(i)))
            .collect()
    };
    // Wave 1: 10k routes.
    let mut ids: Vec<u32> = (0..10_000).collect();
    cb.statics = set(&ids);
    let mut bird = cb.start(node)?;
    wait_sessions(&bird, 1, CONVERGE)?;
    let wave1: Vec<String> = ids.iter().map(|&i| nth26(i)).collect();
    wait_exactly(receiver, Family::V4, &wave1, Duration::from_secs(60))?;
    // Waves 2-4 back to back, without waiting. Wave 2: withdraw the first half.
    ids.retain(|&i| i >= 5_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird)?;
    // Wave 3: 2k new routes, and every even one of the remaining half withdrawn.
    ids.retain(|&i| i % 2 == 1);
    ids.extend(10_000..12_000);
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird)?;
    // Wave 4: withdraw 1k of the new ones again.
    ids.retain(|&i| !(10_000..11_000).contains(&i));
    cb.statics = set(&ids);
    cb.reconfigure(&mut bird)?;
    Ok((bird, ids.iter().map(|&i| nth26(i)).collect()))
}

/// Scenario 8's reflector side: BIRD 2 as route reflector with `add paths tx` for three
/// passive clients (two GoBGP speakers both announcing [`AddPathRr::PREFIX`], and the client
/// under test), and the two GoBGP speakers started.
pub struct AddPathRr {
    /// The reflector's node.
    pub rr_node: NodeNet,
    /// The GoBGP clients' nodes: their addresses are the next hops of the two paths.
    pub announcers: [NodeNet; 2],
    /// The client under test's node (address 13 on the LAN).
    pub client: NodeNet,
    /// The reflector.
    pub rr: Bird,
    /// The GoBGP clients.
    pub gobgps: Vec<Gobgp>,
}

impl AddPathRr {
    /// The prefix both GoBGP clients announce.
    pub const PREFIX: &'static str = "10.8.0.0/24";

    /// Builds the topology in `lab` and starts the reflector and the GoBGP clients; the client
    /// under test (node and BIRD protocol `client_name`) is started by the caller.
    pub fn start(lab: &mut Lab, client_name: &str) -> Result<AddPathRr> {
        let lan = lab.lan()?;
        let rr_node = lab.node("rr", &[(&lan, 10)], None)?;
        let na = lab.node("gobgp-a", &[(&lan, 11)], None)?;
        let nb = lab.node("gobgp-b", &[(&lan, 12)], None)?;
        let client = lab.node(client_name, &[(&lan, 13)], None)?;
        let mut crr = Bird2Config::new(&rr_node, AS);
        crr.rr_cluster_id = Some(Ipv4Addr::new(10, 255, 0, 2));
        for (name, node) in [("gobgp_a", &na), ("gobgp_b", &nb), (client_name, &client)] {
            let mut p = Bird2Peer::new(name, node.ip4(), AS);
            p.rr_client = true;
            p.passive = true;
            p.add_paths = Some("tx".into());
            crr.peers.push(p);
        }
        let rr = crr.start(&rr_node)?;
        let mut gobgps = Vec::new();
        for node in [&na, &nb] {
            let mut c = GobgpConfig::new(node, AS);
            c.neighbors.push(GobgpNeighbor::new(rr_node.ip4(), AS));
            c.announce.push(Self::PREFIX.to_string());
            gobgps.push(c.start(node)?);
        }
        Ok(AddPathRr {
            rr_node,
            announcers: [na, nb],
            client,
            rr,
            gobgps,
        })
    }

    /// The next hops the client under test should hold for [`AddPathRr::PREFIX`].
    pub fn want_hops(&self) -> std::collections::BTreeSet<String> {
        self.announcers
            .iter()
            .map(|n| n.ip4().to_string())
            .collect()
    }
}

/// Scenario 10's route count: `BGPLAB_SCALE_ROUTES`, 100,000 by default.
pub fn scale_routes() -> u32 {
    std::env::var("BGPLAB_SCALE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Scenario 10's sender: BIRD 2 on `node` announcing the first `n` of [`nth26`] as blackholes
/// to `receiver` (BIRD protocol `receiver_name`), which connects to it.
pub fn bird2_scale_sender(
    node: &NodeNet,
    receiver_name: &str,
    receiver: &NodeNet,
    n: u32,
) -> Result<Bird> {
    let mut cs = Bird2Config::new(node, AS);
    cs.statics = (0..n).map(|i| format!("{} blackhole", nth26(i))).collect();
    let mut p = Bird2Peer::new(receiver_name, receiver.ip4(), AS);
    p.passive = true;
    cs.peers.push(p);
    cs.start(node)
}

/// Scenario 10's kernel side: waits until namespace `ns` holds `n` routes of `proto bird` in
/// table main (`who` names it in the failure), then checks through the full parser that there
/// are exactly `n` and that the last one, [`nth26`]`(n - 1)`, goes via `gw` on eth0.
pub fn wait_scale_kernel(ns: &str, n: u32, gw: Ipv4Addr, who: &str) -> Result<()> {
    let want = u64::from(n);
    crate::wait_observing(
        Duration::from_secs(120),
        Duration::from_secs(1),
        &format!("{who}'s kernel has every route"),
        || {
            let c = crate::kernel::count(ns, Family::V4, "main", Some("bird"))?;
            Ok(crate::Observed::when(
                c as u64 == want,
                format!("{c} of {want}"),
            ))
        },
    )?;
    let last = nth26(n.saturating_sub(1));
    let k = crate::kernel::routes(ns, Family::V4, "main", Some("bird"))?;
    let ok = k.len() == n as usize
        && k.iter()
            .any(|r| r.dst == last && r.is_via(&gw.to_string(), "eth0", false));
    if ok {
        Ok(())
    } else {
        Err(crate::Error(format!(
            "{who}'s kernel: {} routes of {n}, or {last} not via {gw} on eth0",
            k.len()
        )))
    }
}

/// The nodes of a Calico-style mesh on one LAN ([`mesh_nodes`]).
pub struct MeshNodes {
    /// The nodes, in the order of the hosts given.
    pub nodes: Vec<NodeNet>,
    /// Their LAN addresses.
    pub ips: Vec<Ipv4Addr>,
    /// Their blocks ([`block`] of the host number).
    pub blocks: Vec<String>,
}

/// One node per `(name, host)` on one LAN, with router address `10.244.HOST.1`.
pub fn mesh_nodes(lab: &mut Lab, hosts: &[(&str, u8)]) -> Result<MeshNodes> {
    let lan = lab.lan()?;
    let mut nodes = Vec::new();
    for (name, h) in hosts {
        nodes.push(lab.node(name, &[(&lan, *h)], Some(Ipv4Addr::new(10, 244, *h, 1)))?);
    }
    Ok(MeshNodes {
        ips: nodes.iter().map(|n| n.ip4()).collect(),
        blocks: hosts.iter().map(|(_, h)| block(*h)).collect(),
        nodes,
    })
}

/// BIRD 2 in a Calico node's role: its block as a blackhole, and Calico's `krt_tunnel`
/// emulated on export to the kernel (`via NODE dev tunl0 onlink`). Peers are the caller's.
pub fn calico_bird2(node: &NodeNet, block: &str) -> Bird2Config {
    let mut c = Bird2Config::new(node, AS);
    c.statics.push(format!("{block} blackhole"));
    c.kernel = crate::KernelExport::Tunnel {
        dev: "tunl0".into(),
        direct_subnet: None,
    };
    c
}

/// Scenario 4's BIRD 2 client: a client of both reflectors `rr1` and `rr2` (protocols `rr1`,
/// `rr2`) announcing `10.4.12.0/26` (a blackhole), exporting what it learns to the kernel.
pub fn bird2_cluster_client(node: &NodeNet, rr1: &NodeNet, rr2: &NodeNet) -> Result<Bird> {
    let mut cb = Bird2Config::new(node, AS);
    cb.statics.push("10.4.12.0/26 blackhole".into());
    cb.kernel = crate::KernelExport::Plain;
    cb.peers.push(Bird2Peer::new("rr1", rr1.ip4(), AS));
    cb.peers.push(Bird2Peer::new("rr2", rr2.ip4(), AS));
    cb.start(node)
}

/// Waits until BIRD 2 holds `prefix` from two protocols (a client of two reflectors: one
/// path from each); `owner` names the route's origin in the failure.
pub fn wait_bird_from_both(bird: &Bird, prefix: &str, owner: &str) -> Result<()> {
    crate::wait_observing(
        CONVERGE,
        POLL,
        &format!("BIRD has {owner}'s route from rr1 and rr2"),
        || {
            let rs = bird.ctl.routes(&format!("for {prefix}"))?;
            let from: std::collections::BTreeSet<String> =
                rs.iter().map(|r| r.protocol.clone()).collect();
            Ok(crate::Observed::when(from.len() == 2, format!("{from:?}")))
        },
    )
    .map(|_| ())
}

/// TCP-MD5 scenario, FRR's side: the neighbour at `bad` (wrong password) is not Established
/// and the one at `good` is (one look; the scenarios call it throughout a window).
pub fn check_frr_md5(frr: &crate::Frr, bad: &NodeNet, good: &NodeNet) -> Result<()> {
    let f = frr.neighbor_states()?;
    let state = |n: &NodeNet| f.get(&n.ip4().to_string()).map(String::as_str);
    if state(bad) == Some("Established") || state(good) != Some("Established") {
        return Err(crate::Error(format!(
            "FRR: {} (wrong password) must not be Established, {} must be: {f:?}",
            bad.ip4(),
            good.ip4()
        )));
    }
    Ok(())
}

//! ADD-PATH send to a real peer: bgpd as route reflector (`add_path = "send"`) for two GoBGP
//! clients announcing the same prefix and a BIRD 2 client with `add paths rx`. BIRD receives
//! both paths (it keeps two routes of the prefix only when their path identifiers differ),
//! and when one client withdraws its path BIRD drops that one and keeps the other throughout.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::*;

/// The next hops of BIRD's routes of `prefix` from bgpd.
fn bird_hops(bird: &bgpd_lab::Bird, prefix: &str) -> bgpd_lab::Result<BTreeSet<String>> {
    Ok(bird
        .ctl
        .routes(prefix)?
        .iter()
        .filter_map(|r| r.attrs.get("next_hop").cloned())
        .collect())
}

#[test]
fn bgpd_add_paths_send_to_bird2() {
    let test = "bgpd_add_paths_send_to_bird2";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nd = lab.node("bgpd", &[(&lan, 10)], None).unwrap();
    let na = lab.node("gobgp-a", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("gobgp-b", &[(&lan, 12)], None).unwrap();
    let nbird = lab.node("bird", &[(&lan, 13)], None).unwrap();
    let prefix = "10.8.0.0/24".to_string();

    let mut cd = bgpd_config(&nd, AS);
    cd.rr_cluster_id = Some(Ipv4Addr::new(10, 255, 0, 3));
    cd.kernel_enabled = false;
    for (name, node) in [("gobgp_a", &na), ("gobgp_b", &nb), ("bird", &nbird)] {
        let mut p = BgpdPeer::new(name, node.ip4(), AS);
        p.rr_client = true;
        p.passive = true;
        if name == "bird" {
            p.add_paths = Some("send".into());
        }
        cd.peers.push(p);
    }
    let bgpd = cd.start(&nd).unwrap();
    let mut gobgps = Vec::new();
    for node in [&na, &nb] {
        let mut c = GobgpConfig::new(node, AS);
        c.neighbors.push(GobgpNeighbor::new(nd.ip4(), AS));
        c.announce.push(prefix.clone());
        gobgps.push(c.start(node).unwrap());
    }
    let mut cb = Bird2Config::new(&nbird, AS);
    let mut p = Bird2Peer::new("reflector", nd.ip4(), AS);
    p.add_paths = Some("rx".into());
    cb.peers.push(p);
    let bird = cb.start(&nbird).unwrap();

    wait_sessions(&bgpd, 3, CONVERGE).unwrap();
    let (a4, b4) = (na.ip4().to_string(), nb.ip4().to_string());
    let both: BTreeSet<String> = [a4.clone(), b4.clone()].into();
    wait_observing(CONVERGE, POLL, "BIRD has both paths of 10.8.0.0/24", || {
        let hops = bird_hops(&bird, &prefix)?;
        Ok(Observed::when(hops == both, format!("{hops:?}")))
    })
    .unwrap();

    // Client a withdraws: BIRD drops a's path; b's stays at every poll until then.
    gobgps[0].withdraw(&prefix).unwrap();
    let only_b: BTreeSet<String> = [b4.clone()].into();
    wait_observing(CONVERGE, POLL, "BIRD keeps only b's path", || {
        let hops = bird_hops(&bird, &prefix)?;
        assert!(hops.contains(&b4), "b's path lost at BIRD: {hops:?}");
        Ok(Observed::when(hops == only_b, format!("{hops:?}")))
    })
    .unwrap();
    report(test, start);
}

//! Churn of 10k routes and 100k routes from BIRD 2: bgpd's RIB and kernel match exactly.

use std::collections::BTreeSet;

use bgpd_lab::scenario::{
    bird2_churn_waves, bird2_scale_sender, nth26, scale_routes, wait_scale_kernel,
};

use super::*;

/// Waits until bgpd's kernel (`proto bird`, main) holds exactly `want`, each via `gw` on eth0.
fn wait_kernel_exactly(ns: &str, want: &[String], gw: &str, deadline: Duration) {
    let want_set: BTreeSet<&String> = want.iter().collect();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "bgpd's kernel matches the peer's table",
        || {
            let k = kernel::routes(ns, Family::V4, "main", Some("bird"))?;
            let have: BTreeSet<&String> = k.iter().map(|r| &r.dst).collect();
            let missing = want_set.difference(&have).count();
            let extra = have.difference(&want_set).count();
            let wrong = k.iter().filter(|r| !r.is_via(gw, "eth0", false)).count();
            Ok(Observed::when(
                missing == 0 && extra == 0 && wrong == 0,
                format!(
                    "{} routes, {missing} missing, {extra} extra, {wrong} not via {gw}",
                    have.len()
                ),
            ))
        },
    )
    .unwrap();
}

/// Scenario 7: BIRD 2 announces 10k routes to bgpd, then three back-to-back waves of
/// withdrawals and announcements (`birdc configure`); at the end bgpd's RIB (`show route
/// --json`, nothing missing, nothing extra) and kernel match BIRD's table exactly.
#[test]
fn bgpd_churn_10k_from_bird2() {
    let test = "bgpd_churn_10k_from_bird2";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nb = lab.node("bird2", &[(&lan, 1)], None).unwrap();
    let nd = lab.node("bgpd", &[(&lan, 2)], None).unwrap();
    let mut cd = bgpd_config(&nd, AS);
    let mut p = BgpdPeer::new("bird2", nb.ip4(), AS);
    p.passive = true;
    cd.peers.push(p);
    let bgpd = cd.start(&nd).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.peers.push(Bird2Peer::new("bgpd", nd.ip4(), AS));
    let (bird, want) = bird2_churn_waves(&mut cb, &nb, &bgpd).unwrap();
    let deadline = Duration::from_secs(90);
    wait_exactly(&bgpd, Family::V4, &want, deadline).unwrap();
    wait_kernel_exactly(&nd.ns, &want, &nb.ip4().to_string(), deadline);
    assert_eq!(
        bird.ctl.route_count("table master4").unwrap(),
        want.len() as u64
    );
    let (routes, networks) = bgpd.route_count().unwrap();
    assert_eq!((routes, networks), (want.len() as u64, want.len() as u64));
    report(test, start);
}

/// Scenario 10: 100k routes from BIRD 2 reach bgpd's RIB (`show route count --json`) and its
/// kernel (`kernel::count`), spot-checked through the full parsers.
#[test]
fn bgpd_scale_100k_from_bird2() {
    let test = "bgpd_scale_100k_from_bird2";
    let start = Instant::now();
    let n = scale_routes();
    let mut lab = Lab::heavy(test).unwrap();
    let lan = lab.lan().unwrap();
    let ns = lab.node("sender", &[(&lan, 1)], None).unwrap();
    let nd = lab.node("bgpd", &[(&lan, 2)], None).unwrap();
    let sender = bird2_scale_sender(&ns, "bgpd", &nd, n).unwrap();
    let mut cd = bgpd_config(&nd, AS);
    cd.peers.push(BgpdPeer::new("sender", ns.ip4(), AS));
    let bgpd = cd.start(&nd).unwrap();
    wait_sessions(&bgpd, 1, CONVERGE).unwrap();
    let deadline = Duration::from_secs(120);
    let want = u64::from(n);
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "bgpd's RIB has every route",
        || {
            let (routes, networks) = bgpd.route_count()?;
            Ok(Observed::when(
                routes == want && networks == want,
                format!("{routes} routes, {networks} networks of {want}"),
            ))
        },
    )
    .unwrap();
    let rib_at = start.elapsed();
    wait_scale_kernel(&nd.ns, n, ns.ip4(), "bgpd").unwrap();
    let last = nth26(n - 1);
    let r = best(&bgpd, &last);
    assert_eq!(r.protocol, "sender", "{r:?}");
    let _ = sender;
    eprintln!(
        "bgpd-lab: {n} routes: in bgpd's RIB after {:.1}s, kernel after {:.1}s",
        rib_at.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    report(test, start);
}

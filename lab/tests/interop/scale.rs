//! Scale and churn with real peers only.

use bgpd_lab::scenario::{
    bird2_churn_waves, bird2_scale_sender, nth26, scale_routes, wait_scale_kernel,
};

use super::*;

/// Scale smoke with real peers only (scenario 10 with BIRD 2 in bgpd's place): 100k routes
/// (`BGPLAB_SCALE_ROUTES` to change) from one BIRD 2 reach another BIRD 2's RIB and kernel;
/// proves the harness's counting helpers and deadlines at that size.
#[test]
fn scale_bird2_100k() {
    let start = Instant::now();
    let n = scale_routes();
    let mut lab = Lab::heavy("scale_bird2_100k").unwrap();
    let lan = lab.lan().unwrap();
    let ns = lab.node("sender", &[(&lan, 1)], None).unwrap();
    let nr = lab.node("receiver", &[(&lan, 2)], None).unwrap();
    let sender = bird2_scale_sender(&ns, "receiver", &nr, n).unwrap();
    let mut cr = Bird2Config::new(&nr, AS);
    cr.kernel = KernelExport::Plain;
    cr.peers.push(Bird2Peer::new("sender", ns.ip4(), AS));
    let receiver = cr.start(&nr).unwrap();
    wait_sessions(&receiver, 1, CONVERGE).unwrap();
    let deadline = Duration::from_secs(120);
    let want = u64::from(n);
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "receiver's RIB has every route",
        || {
            let c = receiver.ctl.route_count("table master4 protocol sender")?;
            Ok(Observed::when(c == want, format!("{c} of {want}")))
        },
    )
    .unwrap();
    let rib_at = start.elapsed();
    wait_scale_kernel(&nr.ns, n, ns.ip4(), "receiver").unwrap();
    // Spot check through the full parser: the last route in the RIB.
    let last = nth26(n - 1);
    let r = receiver.ctl.routes(&format!("for {last}")).unwrap();
    assert!(r.iter().any(|r| r.prefix == last && r.primary), "{r:?}");
    let _ = sender;
    eprintln!(
        "bgpd-lab: {n} routes: in the receiver's RIB after {:.1}s, kernel after {:.1}s",
        rib_at.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    report("scale_bird2_100k", start);
}

/// Churn with real peers only (scenario 7 with FRR in bgpd's place): BIRD 2 announces and
/// withdraws routes in waves (`birdc configure`): 10k, then three back-to-back waves of
/// withdrawals and announcements; at the end FRR's RIB and kernel match BIRD's table exactly.
#[test]
fn churn_bird2_to_frr() {
    let start = Instant::now();
    let mut lab = Lab::new("churn_bird2_to_frr").unwrap();
    let lan = lab.lan().unwrap();
    let nb = lab.node("bird2", &[(&lan, 1)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 2)], None).unwrap();
    let mut cf = FrrConfig::new(&nf, AS);
    let mut n = FrrNeighbor::new(nb.ip4(), AS);
    n.passive = true;
    cf.neighbors.push(n);
    let frr = cf.start(&nf).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.peers.push(Bird2Peer::new("frr", nf.ip4(), AS));
    let (bird, want) = bird2_churn_waves(&mut cb, &nb, &frr).unwrap();
    let deadline = Duration::from_secs(90);
    wait_exactly(&frr, Family::V4, &want, deadline).unwrap();
    let want_set: BTreeSet<&String> = want.iter().collect();
    wait_observing(
        deadline,
        Duration::from_secs(1),
        "FRR's kernel matches BIRD's table",
        || {
            let k = kernel::routes(&nf.ns, Family::V4, "main", Some("bgp"))?;
            let have: BTreeSet<&String> = k.iter().map(|r| &r.dst).collect();
            let missing = want_set.difference(&have).count();
            let extra = have.difference(&want_set).count();
            Ok(Observed::when(
                missing == 0 && extra == 0,
                format!("{} routes, {missing} missing, {extra} extra", have.len()),
            ))
        },
    )
    .unwrap();
    assert_eq!(
        bird.ctl.route_count("table master4").unwrap(),
        want.len() as u64
    );
    report("churn_bird2_to_frr", start);
}

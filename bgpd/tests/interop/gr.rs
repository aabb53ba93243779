//! Graceful restart with BIRD 2 and FRR, both directions.

use super::*;

/// Whether every FRR path of `prefix` carries `stale` (graceful restart helper).
fn frr_stale(frr: &bgpd_lab::Frr, prefix: &str) -> bgpd_lab::Result<Observed> {
    let v = frr.route(Family::V4, prefix)?;
    let stale = v["paths"]
        .as_array()
        .is_some_and(|ps| !ps.is_empty() && ps.iter().all(|p| p["stale"] == true));
    Ok(Observed::when(stale, v.to_string()))
}

/// Scenario 6: graceful restart with BIRD 2 and FRR (iBGP). bgpd restarted with SIGTERM and
/// with SIGKILL: both peers keep its route as stale (birdc "Neighbor graceful restart active",
/// FRR's `stale`) and refresh it; bgpd's kernel never loses a peer's route meanwhile
/// (`RouteMonitor`). Then BIRD 2 and FRR are killed and restarted: bgpd keeps their routes
/// (stale in its JSON) and its kernel loses none while they are down.
#[test]
fn bgpd_graceful_restart() {
    let test = "bgpd_graceful_restart";
    let start = Instant::now();
    let mut lab = Lab::new(test).unwrap();
    let lan = lab.lan().unwrap();
    let nd = lab.node("bgpd", &[(&lan, 11)], None).unwrap();
    let nb = lab.node("bird2", &[(&lan, 12)], None).unwrap();
    let nf = lab.node("frr", &[(&lan, 13)], None).unwrap();
    let (own, rb, rf) = ("10.6.11.0/26", "10.6.12.0/26", "10.6.13.0/26");
    let peer_routes = vec![rb.to_string(), rf.to_string()];

    let mut cf = FrrConfig::new(&nf, AS);
    cf.neighbors.push(FrrNeighbor::new(nd.ip4(), AS));
    cf.networks.push(rf.into());
    // Keep the Forwarding State bit set after a restart (RFC 4724), as `bird -R` does.
    cf.router_extra
        .push(" bgp graceful-restart preserve-fw-state".into());
    let mut frr = cf.start(&nf).unwrap();
    wait_learns(&frr, Family::V4, &[rf.into()], CONVERGE).unwrap();
    let mut cb = Bird2Config::new(&nb, AS);
    cb.statics.push(format!("{rb} blackhole"));
    cb.kernel = KernelExport::Plain;
    cb.peers.push(Bird2Peer::new("bgpd", nd.ip4(), AS));
    let mut bird = cb.start(&nb).unwrap();
    let mut cd = bgpd_config(&nd, AS);
    cd.blackhole_blocks.push(own.into());
    for (name, n) in [("bird2", &nb), ("frr", &nf)] {
        let mut p = BgpdPeer::new(name, n.ip4(), AS);
        p.passive = true;
        cd.peers.push(p);
    }
    let mut bgpd = cd.start(&nd).unwrap();

    let converged = |bgpd: &Bgpd, bird: &bgpd_lab::Bird, frr: &bgpd_lab::Frr| {
        wait_sessions(bgpd, 2, CONVERGE).unwrap();
        wait_learns(bgpd, Family::V4, &peer_routes, CONVERGE).unwrap();
        // iBGP without reflection: each peer learns bgpd's own route only.
        wait_learns(bird, Family::V4, &[own.into()], CONVERGE).unwrap();
        wait_learns(frr, Family::V4, &[own.into()], CONVERGE).unwrap();
        wait_observing(
            CONVERGE,
            POLL,
            "bgpd's kernel has both peers' routes",
            || {
                let k = kernel::routes(&nd.ns, Family::V4, "main", Some("bird"))?;
                let ok = k
                    .iter()
                    .any(|r| r.dst == rb && r.is_via(&nb.ip4().to_string(), "eth0", false))
                    && k.iter()
                        .any(|r| r.dst == rf && r.is_via(&nf.ip4().to_string(), "eth0", false));
                Ok(Observed::when(ok, render(&k)))
            },
        )
        .unwrap();
    };
    converged(&bgpd, &bird, &frr);

    // bgpd restarts: graceful (SIGTERM) and crash (SIGKILL).
    for (signal, how) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
        let monitor =
            RouteMonitor::start(&nd.ns, &nd.path(&format!("ip-monitor-{how}.log"))).unwrap();
        bgpd.stop(signal).unwrap();
        wait_observing(
            Duration::from_secs(20),
            POLL,
            &format!("BIRD in GR for bgpd ({how})"),
            || {
                let s = bird.ctl.bgp_states()?;
                let down = s.get("bgpd").is_some_and(|s| s != "Established");
                Ok(Observed::when(
                    down && bird.ctl.graceful_restart_active("bgpd")?,
                    format!("{s:?}"),
                ))
            },
        )
        .unwrap();
        wait_observing(
            Duration::from_secs(20),
            POLL,
            &format!("FRR keeps bgpd's route stale ({how})"),
            || frr_stale(&frr, own),
        )
        .unwrap();
        assert!(
            bird.prefixes(Family::V4)
                .unwrap()
                .contains(&own.to_string()),
            "BIRD dropped bgpd's route during its restart ({how})"
        );
        bgpd.start_again().unwrap();
        converged(&bgpd, &bird, &frr);
        // The peers refreshed bgpd's route: GR over, nothing stale.
        wait_observing(CONVERGE, POLL, &format!("peers out of GR ({how})"), || {
            let b = bird.ctl.graceful_restart_active("bgpd")?;
            let f = frr_stale(&frr, own)?;
            Ok(Observed::when(
                !b && !f.done,
                format!("BIRD GR {b}; FRR {}", f.state),
            ))
        })
        .unwrap();
        // bgpd's own recovery ends (every peer sent End-of-RIB): nothing was swept or lost.
        wait_observing(
            CONVERGE,
            POLL,
            &format!("bgpd's GR recovery over ({how})"),
            || {
                let s = bgpd.status()?;
                Ok(Observed::when(
                    s["graceful_restart"].is_null(),
                    s.to_string(),
                ))
            },
        )
        .unwrap();
        let gone = monitor.deletions_of(&peer_routes).unwrap();
        assert!(
            gone.is_empty(),
            "bgpd's kernel lost a route during its own restart ({how}): {gone:?}"
        );
        monitor.stop();
    }

    // The reverse: BIRD 2 crashes and comes back; then FRR.
    let monitor = RouteMonitor::start(&nd.ns, &nd.path("ip-monitor-peers.log")).unwrap();
    bird.stop(libc::SIGKILL).unwrap();
    wait_observing(
        Duration::from_secs(20),
        POLL,
        "bgpd keeps BIRD's route stale",
        || {
            let ps = bgpd.protocols()?;
            let gr = ps.iter().any(|p| {
                p.name == "bird2"
                    && p.bgp
                        .as_ref()
                        .is_some_and(|b| b.graceful_restart_stale && b.state != "Established")
            });
            let rs = bgpd.route(rb)?;
            let stale = rs.iter().any(|r| r.primary && r.stale);
            Ok(Observed::when(gr && stale, format!("{ps:?} {rs:?}")))
        },
    )
    .unwrap();
    // BIRD comes back as calico-node starts it, `bird -R` (graceful-restart recovery): without
    // -R, BIRD's OPEN has the Forwarding State bit clear and RFC 4724 4.2 makes the helper
    // drop the stale routes at once (bgpd does; seen in the pcap of a run without -R).
    let (daemon, _) = bird.version.binaries();
    let _ = std::fs::remove_file(&bird.ctl.socket);
    let argv = cmd::in_netns(
        Some(&nb.ns),
        &daemon.to_string_lossy(),
        &[
            "-f",
            "-R",
            "-c",
            &bird.config.to_string_lossy(),
            "-s",
            &bird.ctl.socket.to_string_lossy(),
            "-P",
            &nb.path("bird.pid").to_string_lossy(),
        ],
    );
    let mut bird_r = Process::spawn("bird-R@bird2", &argv, &nb.path("bird-stdout.R.log")).unwrap();
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        "BIRD -R answers",
        || {
            bird_r.ensure_running()?;
            Ok(bird.ctl.cmd("show status").is_ok())
        },
    )
    .unwrap();
    converged(&bgpd, &bird, &frr);
    wait_observing(CONVERGE, POLL, "BIRD's route refreshed in bgpd", || {
        let rs = bgpd.route(rb)?;
        Ok(Observed::when(
            rs.iter().any(|r| r.primary && !r.stale),
            format!("{rs:?}"),
        ))
    })
    .unwrap();
    let gone = monitor.deletions_of(&[rb.to_string()]).unwrap();
    assert!(
        gone.is_empty(),
        "bgpd's kernel lost BIRD's route over BIRD's restart: {gone:?}"
    );

    frr.stop(libc::SIGKILL).unwrap();
    wait_observing(
        Duration::from_secs(20),
        POLL,
        "bgpd keeps FRR's route stale",
        || {
            let rs = bgpd.route(rf)?;
            let ps = bgpd.protocols()?;
            let down = ps.iter().any(|p| {
                p.name == "frr" && p.bgp.as_ref().is_some_and(|b| b.state != "Established")
            });
            Ok(Observed::when(
                down && rs.iter().any(|r| r.primary && r.stale),
                format!("{rs:?}"),
            ))
        },
    )
    .unwrap();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        assert!(
            bgpd.prefixes(Family::V4).unwrap().contains(&rf.to_string()),
            "bgpd dropped FRR's route while FRR was down"
        );
        std::thread::sleep(POLL);
    }
    let gone = monitor.deletions_of(&[rf.to_string()]).unwrap();
    assert!(
        gone.is_empty(),
        "bgpd's kernel lost FRR's route while FRR was down: {gone:?}"
    );
    monitor.clear().unwrap();
    frr.start_again().unwrap();
    converged(&bgpd, &bird, &frr);
    // With `preserve-fw-state` FRR's new OPEN keeps the Forwarding State bit, and no premature
    // End-of-RIB flap (lab README, pitfalls) was seen in any run: bgpd must not drop FRR's
    // route from its kernel across the whole restart either.
    wait_observing(CONVERGE, POLL, "FRR's route refreshed in bgpd", || {
        let rs = bgpd.route(rf)?;
        Ok(Observed::when(
            rs.iter().any(|r| r.primary && !r.stale),
            format!("{rs:?}"),
        ))
    })
    .unwrap();
    let flap = monitor.deletions_of(&[rf.to_string()]).unwrap();
    assert!(
        flap.is_empty(),
        "bgpd's kernel lost FRR's route over FRR's restart: {flap:?}"
    );
    monitor.stop();
    report(test, start);
}

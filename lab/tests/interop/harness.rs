//! The harness itself: the failure path (artefacts kept, nothing left behind) and the sweep
//! of stale labs.

use super::*;

/// (d) The harness's failure path: a failing check inside `catch_unwind` leaves the artefact
/// directory (configs, logs, pcap with the BGP session, kernel dumps, daemon state dumps) and
/// no namespace or process behind.
#[test]
fn harness_failure_path() {
    let start = Instant::now();
    let mut seen: Option<(PathBuf, String, Vec<u32>)> = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lab = Lab::new("harness_failure_path").unwrap();
        let lan = lab.lan().unwrap();
        let na = lab.node("bird2", &[(&lan, 1)], None).unwrap();
        let nb = lab.node("frr", &[(&lan, 2)], None).unwrap();
        let mut cf = FrrConfig::new(&nb, AS);
        let mut n = FrrNeighbor::new(na.ip4(), AS);
        n.passive = true;
        cf.neighbors.push(n);
        cf.networks.push("10.1.2.0/26".into());
        let mut frr = cf.start(&nb).unwrap();
        let mut cb = Bird2Config::new(&na, AS);
        cb.peers.push(Bird2Peer::new("frr", nb.ip4(), AS));
        let mut bird = cb.start(&na).unwrap();
        wait_until(CONVERGE, POLL, "session up", || {
            Ok(bird.established()?.len() == 1)
        })
        .unwrap();
        let _ = &mut frr;
        let mut pids: Vec<u32> = vec![bird.process().unwrap().pid()];
        pids.extend(lab.capture_pid());
        for ns in lab.namespaces() {
            pids.extend(bgpd_lab::lab::netns_pids(ns).into_iter().map(|p| p as u32));
        }
        seen = Some((
            lab.artefacts().to_path_buf(),
            lab.prefix().to_string(),
            pids,
        ));
        // The deliberate failure: a condition that never holds.
        wait_until(
            Duration::from_millis(600),
            Duration::from_millis(100),
            "a condition that never holds",
            || Ok(false),
        )
        .unwrap();
    }));
    let err = result.expect_err("the closure must fail");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("timed out") && msg.contains("a condition that never holds"),
        "{msg}"
    );
    let (dir, prefix, pids) = seen.expect("the lab came up");

    // Nothing left behind.
    let left: Vec<String> = bgpd_lab::lab::lab_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(pids.len() >= 4, "{pids:?}");
    for pid in &pids {
        assert!(
            !PathBuf::from(format!("/proc/{pid}")).exists(),
            "process {pid} still exists"
        );
    }
    // Artefacts kept: configs, logs, state dumps, kernel dumps, and a pcap holding the OPENs.
    for f in [
        "bgp.pcap",
        "netns-bird2.txt",
        "netns-frr.txt",
        "bird2/bird.conf",
        "bird2/bird.log",
        "bird2/birdc-protocols.txt",
        "bird2/kernel.txt",
        "frr/frr.conf",
        "frr/bgpd.log",
        "frr/zebra.log",
        "frr/vtysh-state.txt",
    ] {
        let p = dir.join(f);
        assert!(
            p.metadata().is_ok_and(|m| m.len() > 0),
            "artefact {} missing or empty",
            p.display()
        );
    }
    let opens = cmd::run(
        None,
        "tshark",
        &[
            "-r",
            &dir.join("bgp.pcap").to_string_lossy(),
            "-Y",
            "bgp.type == 1",
            "-T",
            "fields",
            "-e",
            "ip.src",
        ],
    )
    .unwrap();
    let srcs: BTreeSet<&str> = opens.lines().collect();
    assert!(
        srcs.contains("172.31.0.1") && srcs.contains("172.31.0.2"),
        "OPENs in the pcap from: {srcs:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    report("harness_failure_path", start);
}

/// The sweep at the start of a run: a namespace left by a crashed run (its pid is dead), with
/// a process still inside, and that run's FRR pathspace directory are removed; so is one whose
/// pid was reused (lock file free); a live run's namespace (lock held) is kept.
#[test]
fn stale_lab_sweep() {
    let start = Instant::now();
    bgpd_lab::lab::require_root().unwrap();
    // A pid that is surely dead: a child that has exited and been reaped.
    let mut t = std::process::Command::new("true").spawn().unwrap();
    let dead = t.id();
    t.wait().unwrap();
    let ns = format!("bgplab-{dead}-0-stale");
    cmd::ip(&["netns", "add", &ns]).unwrap();
    let mut sleeper = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "300"])
        .spawn()
        .unwrap();
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        "sleeper inside the namespace",
        || Ok(!bgpd_lab::lab::netns_pids(&ns).is_empty()),
    )
    .unwrap();
    let frr_dir = PathBuf::from(bgpd_lab::frr::FRR_RUN_DIR).join(&ns);
    std::fs::create_dir_all(&frr_dir).unwrap();
    // A run whose pid was reused by an unrelated live process (here: the sleeper): its lock
    // file exists but nobody holds it.
    let reused = format!("bgplab-{}-0-reused", sleeper.id());
    cmd::ip(&["netns", "add", &reused]).unwrap();
    let lock_dir = PathBuf::from(bgpd_lab::lab::LOCK_DIR);
    std::fs::create_dir_all(&lock_dir).unwrap();
    let reused_lock = lock_dir.join(format!("{}.lock", sleeper.id()));
    std::fs::write(&reused_lock, "").unwrap();
    // A live run (its lock is held), even though its pid is not a process we can see.
    let mut t2 = std::process::Command::new("true").spawn().unwrap();
    let live_pid = t2.id();
    t2.wait().unwrap();
    let live = format!("bgplab-{live_pid}-0-live");
    cmd::ip(&["netns", "add", &live]).unwrap();
    let live_lock_path = lock_dir.join(format!("{live_pid}.lock"));
    let live_lock = std::fs::File::create(&live_lock_path).unwrap();
    // SAFETY: flock on a descriptor we own (a separate open file description from the sweep's).
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&live_lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(rc, 0);

    bgpd_lab::lab::sweep_stale();

    let left = bgpd_lab::lab::lab_namespaces();
    assert!(!left.contains(&reused), "{reused} survived the sweep");
    assert!(!reused_lock.exists(), "{} survived", reused_lock.display());
    assert!(
        left.contains(&live),
        "the sweep removed a live run's {live}"
    );
    cmd::ip(&["netns", "del", &live]).unwrap();
    drop(live_lock);
    std::fs::remove_file(&live_lock_path).unwrap();

    assert!(
        !bgpd_lab::lab::lab_namespaces().contains(&ns),
        "{ns} survived the sweep"
    );
    assert!(
        !frr_dir.exists(),
        "{} survived the sweep",
        frr_dir.display()
    );
    let mut status = None;
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        "the stale process was killed",
        || {
            status = sleeper.try_wait()?;
            Ok(status.is_some())
        },
    )
    .unwrap();
    assert!(!status.unwrap().success());
    report("stale_lab_sweep", start);
}

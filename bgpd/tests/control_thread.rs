//! The control socket of a live `bgpd` is served from its own thread (issue 15: calico-node's
//! probes have a 2 s read deadline and must not queue behind the sessions' tasks): the
//! process has a `bgpd-ctl` thread; `show protocols` and `show status` are answered, complete,
//! while three peers keep the RIB busy with a stream of route replacements (their UPDATEs
//! go on being read between the first and the last answer); SIGTERM stops the daemon and removes
//! the socket file. Behaviour only: the deadline of each answer (10 s) is far above what a
//! probe needs, latency figures belong to the convergence harness (benches/README.md).

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgpd_lab::Lab;

mod common;

use common::raw::{config, packed_updates, peer, RawPeer, D_AS};

/// Routes each feeder replaces per round.
const ROUTES: u32 = 20_000;

/// One command on a fresh connection (as calico-node's probes ask): the reply's lines, up to
/// and including the last one (`NNNN ` with a space).
fn ask(sock: &std::path::Path, cmd: &str) -> Vec<String> {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        let n = r
            .read_line(&mut l)
            .unwrap_or_else(|e| panic!("{cmd}: no answer within 10 s: {e}; so far {lines:?}"));
        assert!(n > 0, "{cmd}: connection closed; so far {lines:?}");
        let last = l.len() > 4
            && l.as_bytes().iter().take(4).all(u8::is_ascii_digit)
            && l.as_bytes().get(4) == Some(&b' ')
            && !l.starts_with("0001 ");
        lines.push(l.trim_end().to_string());
        if last {
            return lines;
        }
    }
}

/// UPDATEs received by each BGP protocol (`show protocols --json`).
fn updates_in(n: &bgpd_lab::NodeNet) -> Vec<(String, u64)> {
    common::protocols(n)
        .unwrap()
        .into_iter()
        .filter_map(|p| Some((p.name, p.bgp?.messages_in.update)))
        .collect()
}

#[test]
fn control_socket_answers_from_its_own_thread_while_sessions_are_busy() {
    let mut lab = Lab::new("bgpd_ctlthread").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 1)], None).unwrap();
    let feeders: Vec<_> = (0..3u8)
        .map(|i| lab.node(&format!("f{i}"), &[(&lan, 10 + i)], None).unwrap())
        .collect();
    let peers: Vec<String> = feeders
        .iter()
        .enumerate()
        .map(|(i, f)| peer(&format!("f{i}"), f.ip4(), 65100 + i as u32, ""))
        .collect();
    let cfg = config(&d, &peers).replace("[kernel]\n", "[kernel]\nenabled = false\n");
    let mut p = common::start(&d, &cfg, 0);
    let sock = common::socket(&d);

    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", p.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    assert!(
        threads.iter().any(|t| t == "bgpd-ctl"),
        "no bgpd-ctl thread: {threads:?}"
    );

    // Each feeder replaces the same block of routes over and over (two next hops in turn)
    // until told to stop: the peer tasks decode and the RIB task applies all along.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for (i, f) in feeders.iter().enumerate() {
        let asn = 65100 + i as u32;
        let mut rp = RawPeer::connect(f, d.ip4(), D_AS, asn, true, 30);
        let first = Ipv4Addr::new(10, i as u8, 0, 0);
        let rounds = [
            packed_updates(ROUTES, first, 32, asn, f.ip4()),
            packed_updates(ROUTES, first, 32, asn, lan.v4(200 + i as u8)),
        ];
        let stop = Arc::clone(&stop);
        load.push(std::thread::spawn(move || {
            // The connection stays open until the daemon is stopped (a write then fails).
            while !stop.load(Ordering::Relaxed) {
                if rounds.iter().any(|r| rp.try_send(r).is_err()) {
                    break;
                }
            }
            rp
        }));
    }
    common::wait_all_established(&d, feeders.len(), 30);
    let before = updates_in(&d);

    // Twenty rounds of probes at least, and until the feeders' UPDATEs went on being read
    // since the first (the load ran while the answers came; each feeder in turn may wait for
    // the RIB, so their sum).
    let sum = |v: &[(String, u64)]| v.iter().map(|x| x.1).sum::<u64>();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut i = 0;
    let mut after = before.clone();
    while i < 20 || sum(&after) <= sum(&before) {
        assert!(
            std::time::Instant::now() < deadline,
            "no UPDATE read in 120 s of probes: {before:?} -> {after:?}"
        );
        let st = ask(&sock, "show status");
        assert!(
            st.iter()
                .any(|l| l.starts_with("0013 Daemon is up and running")),
            "answer {i}: {st:?}"
        );
        let pr = ask(&sock, "show protocols");
        for n in 0..feeders.len() {
            assert!(
                pr.iter()
                    .any(|l| l.starts_with(&format!("1002-f{n} "))
                        || l.starts_with(&format!(" f{n} "))),
                "answer {i}: f{n} missing: {pr:?}"
            );
        }
        assert!(
            pr.last().is_some_and(|l| l.starts_with("0000")),
            "answer {i}: {pr:?}"
        );
        after = updates_in(&d);
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);

    // SIGTERM: the daemon stops and its socket file goes with it.
    p.signal(libc::SIGTERM).unwrap();
    let st = p.wait_exit(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "exit: {st:?}");
    assert!(!sock.exists(), "{} left behind", sock.display());
    for h in load {
        drop(h.join().unwrap());
    }
}

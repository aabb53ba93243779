//! The FIB thread (`spawn`) with intents: resolved against the namespace's links and
//! addresses, re-resolved in the kernel when an on-link subnet appears, and reported through
//! its observer (kernel view, refused routes, turns, batches).

use std::sync::{Arc, Mutex};

use bgp_fib::thread::{HANDOFF_DEPTH, MAX_QUEUED};

use crate::harness::*;

#[derive(Default)]
struct Seen {
    view: Option<Arc<KernelView>>,
    failures: Option<(usize, Vec<FailedRoute>)>,
    turns: u64,
    batches: u64,
}

struct Obs(Arc<Mutex<Seen>>);

impl FibObserver for Obs {
    fn event(&mut self, _ev: FibEvent) {}
    fn view(&mut self, view: Arc<KernelView>) {
        self.0.lock().unwrap().view = Some(view);
    }
    fn batch_sent(&mut self, _took: Duration) {
        self.0.lock().unwrap().batches += 1;
    }
    fn turn(&mut self, _installed: usize, _pending: usize) {
        self.0.lock().unwrap().turns += 1;
    }
    fn failures(&mut self, count: usize, listed: Vec<FailedRoute>) {
        self.0.lock().unwrap().failures = Some((count, listed));
    }
}

fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn intent(prefix: &str, hop: IntentHop) -> FibChange {
    FibChange::Intent(RouteIntent {
        prefix: net(prefix),
        kind: IntentKind::Unicast(hop.into()),
        metric: None,
    })
}

#[test]
fn the_fib_thread_resolves_intents_and_reports_through_its_observer() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let c = FibConfig {
        routes: RoutePolicy {
            pools: vec![Pool {
                cidr: net("10.244.0.0/16"),
                mode: PoolMode::IpipCrossSubnet,
            }],
            ..RoutePolicy::default()
        },
        ..cfg()
    };
    let h = spawn(c, false, lab.socket(true), Obs(Arc::clone(&seen))).unwrap();
    let nodev = IntentHop {
        reach: Reach::Tunnel("nosuchdev".into()),
        ..IntentHop::pool(ip("192.168.1.7"))
    };
    h.try_send(vec![
        intent("10.244.3.0/26", IntentHop::pool(ip("192.168.1.5"))),
        intent("10.244.4.0/26", IntentHop::pool(ip("10.9.9.9"))),
        intent("10.96.0.0/24", nodev),
    ])
    .unwrap();
    let mut route_is = |p: &str, want: (IpAddr, u32, bool, u16)| {
        let r = ours(&mut rd, TABLE_MAIN);
        r.get(&net(p)).is_some_and(|k| hops(k) == vec![want])
    };
    // On-link next hop: directly on eth0; off-link: tunl0 onlink.
    wait("cross-subnet routes in the kernel", || {
        route_is("10.244.3.0/26", (ip("192.168.1.5"), eth0, false, 1))
            && route_is("10.244.4.0/26", (ip("10.9.9.9"), tunl0, true, 1))
    });
    // The refused route is listed (ENODEV: the device does not exist), the view published.
    wait("the refused route reported", || {
        seen.lock()
            .unwrap()
            .failures
            .as_ref()
            .is_some_and(|(n, l)| {
                *n == 1
                    && l.first()
                        .is_some_and(|f| f.key.prefix == net("10.96.0.0/24"))
            })
    });
    {
        let s = seen.lock().unwrap();
        let (_, l) = s.failures.as_ref().unwrap();
        assert_eq!(l[0].errno, libc::ENODEV);
        let v = s.view.as_ref().expect("kernel view published");
        assert_eq!(v.onlink_name(ip("192.168.1.5")), Some("eth0"));
        assert_eq!(v.links.get(&tunl0).map(String::as_str), Some("tunl0"));
        assert!(s.turns > 0 && s.batches > 0);
    }
    // The next hop's subnet appears on eth0: the thread moves the route off the tunnel by
    // itself, and back when the subnet goes.
    lab.ip("addr add 10.9.9.1/24 dev eth0");
    wait("re-resolved directly on eth0", || {
        route_is("10.244.4.0/26", (ip("10.9.9.9"), eth0, false, 1))
    });
    lab.ip("addr del 10.9.9.1/24 dev eth0");
    wait("re-resolved through tunl0 again", || {
        route_is("10.244.4.0/26", (ip("10.9.9.9"), tunl0, true, 1))
    });
    h.shutdown().unwrap();
}

/// An observer that reports each turn's (installed, pending) and, while held, holds the FIB
/// thread at the end of the turn until the test lets it go. A held thread takes no hand-off,
/// so the test knows exactly how many are waiting.
struct Hold {
    turns: mpsc::Sender<(usize, usize)>,
    go: mpsc::Receiver<bool>,
    held: bool,
}

impl FibObserver for Hold {
    fn event(&mut self, _ev: FibEvent) {}
    fn turn(&mut self, installed: usize, pending: usize) {
        let _ = self.turns.send((installed, pending));
        if self.held {
            // `false`, or the test gone or failed (a handle dropped on a panic joins the
            // thread): run freely from now on.
            self.held = self
                .go
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or(false);
        }
    }
}

/// `n` blackhole /32s from 10.0.0.0 + `start` on.
fn blackholes(start: u32, n: u32) -> Vec<FibChange> {
    (start..start + n)
        .map(|i| {
            FibChange::Upsert(FibRoute {
                prefix: IpNet::from(IpAddr::from(std::net::Ipv4Addr::from((10 << 24) + i))),
                kind: RouteKind::Blackhole,
                metric: 0,
                table: TABLE_MAIN,
            })
        })
        .collect()
}

fn prefixes(v: &[FibChange]) -> Vec<IpNet> {
    v.iter()
        .map(|c| match c {
            FibChange::Upsert(r) => r.prefix,
            other => panic!("not an upsert: {other:?}"),
        })
        .collect()
}

/// `try_send` of `v` must give it back whole (the handle is full).
fn given_back(h: &FibHandle, v: Vec<FibChange>) -> Vec<FibChange> {
    match h.try_send(v.clone()) {
        Err(back) => {
            assert_eq!(back, v);
            back
        }
        Ok(()) => panic!("a hand-off beyond HANDOFF_DEPTH was taken"),
    }
}

#[test]
fn try_send_gives_changes_back_beyond_the_handoff_depth_and_while_the_fib_queue_is_full() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    let (turns_tx, turns) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    // Small batches: one turn sends at most 8 x 1 KiB of routes, far fewer than `margin`.
    let c = FibConfig {
        max_batch_bytes: 1024,
        ..cfg()
    };
    let obs = Hold {
        turns: turns_tx,
        go: go_rx,
        held: true,
    };
    let h = spawn(c, false, lab.socket(true), obs).unwrap();
    // Dropped before `h` on a panic, so the held thread runs free and the handle's drop
    // (which joins it) returns.
    let go = go;
    let next_turn = || {
        turns
            .recv_timeout(Duration::from_secs(30))
            .expect("the FIB thread reached the end of a turn")
    };
    next_turn(); // held at the end of its first turn, before any hand-off
    let margin = 1000;
    let mut sent = Vec::new();
    let mut back = Vec::new();
    // One hand-off above the queue limit (the thread takes it whole), then smaller ones up
    // to the depth: all taken by the handle; the next is given back, whole and unchanged.
    let big = blackholes(0, (MAX_QUEUED + margin) as u32);
    sent.extend(prefixes(&big));
    assert!(h.try_send(big).is_ok());
    let mut small = (1u32 << 20..).step_by(16).map(|s| blackholes(s, 10));
    for i in 1..HANDOFF_DEPTH {
        let v = small.next().unwrap();
        sent.extend(prefixes(&v));
        assert!(h.try_send(v).is_ok(), "hand-off {i} of {HANDOFF_DEPTH}");
    }
    assert!(h.is_full());
    back.push(given_back(&h, small.next().unwrap()));
    // One turn: the thread takes the big hand-off and stops there (its queue is full), so
    // exactly one place is free again.
    go.send(true).unwrap();
    let (_, mut pending) = next_turn();
    assert!(pending >= MAX_QUEUED, "queue after one turn: {pending}");
    assert!(!h.is_full(), "the big hand-off was not taken");
    let v = small.next().unwrap();
    sent.extend(prefixes(&v));
    assert!(h.try_send(v).is_ok());
    assert!(h.is_full());
    back.push(given_back(&h, small.next().unwrap()));
    // While MAX_QUEUED or more changes are queued, turn after turn takes no hand-off; the
    // first turn after the queue went below takes them (and frees the places).
    let mut full_turns = 0;
    while pending >= MAX_QUEUED {
        go.send(true).unwrap();
        pending = next_turn().1;
        assert!(h.is_full(), "a hand-off was taken with a full queue");
        full_turns += 1;
    }
    assert!(
        full_turns > 1,
        "the queue emptied too fast to test ({full_turns} turns)"
    );
    go.send(true).unwrap();
    next_turn();
    assert!(
        !h.is_full(),
        "no hand-off taken once the queue was below MAX_QUEUED"
    );
    // Let it run: everything given back can be sent again, and every route arrives.
    go.send(false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(v) = back.pop() {
        let p = prefixes(&v);
        match h.try_send(v) {
            Ok(()) => sent.extend(p),
            Err(v) => {
                back.push(v);
                assert!(Instant::now() < deadline, "given-back changes never taken");
                next_turn();
            }
        }
    }
    sent.sort();
    loop {
        let (installed, pending) = next_turn();
        if installed == sent.len() && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "installed {installed}, pending {pending}"
        );
    }
    wait("every route handed off in the kernel", || {
        ours(&mut rd, TABLE_MAIN)
            .keys()
            .copied()
            .collect::<Vec<_>>()
            == sent
    });
    h.shutdown().unwrap();
}

/// What the FIB thread reports as it installs and deletes: its last turn's counts and its
/// counters.
#[derive(Default)]
struct Progress {
    installed: usize,
    pending: usize,
    stats: FibStats,
}

struct ProgressObs(Arc<Mutex<Progress>>);

impl FibObserver for ProgressObs {
    fn event(&mut self, _ev: FibEvent) {}
    fn turn(&mut self, installed: usize, pending: usize) {
        let mut p = self.0.lock().unwrap();
        p.installed = installed;
        p.pending = pending;
    }
    fn stats(&mut self, stats: FibStats) {
        self.0.lock().unwrap().stats = stats;
    }
}

/// Hands `v` over in chunks, trying again while the handle is full.
fn hand_over(h: &FibHandle, v: Vec<FibChange>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for chunk in v.chunks(4096) {
        let mut c = chunk.to_vec();
        while let Err(back) = h.try_send(c) {
            assert!(Instant::now() < deadline, "hand-offs never taken");
            std::thread::sleep(Duration::from_millis(1));
            c = back;
        }
    }
}

fn removes(v: &[FibChange]) -> Vec<FibChange> {
    v.iter()
        .map(|c| match c {
            FibChange::Upsert(r) => FibChange::Remove(r.key()),
            other => panic!("not an upsert: {other:?}"),
        })
        .collect()
}

#[test]
fn the_writer_keeps_batches_in_flight_and_every_route_is_installed_then_deleted() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    let seen = Arc::new(Mutex::new(Progress::default()));
    // Small batches (~20 routes each): a thousand batches, up to 8 in flight behind the writer.
    let c = FibConfig {
        max_batch_bytes: 1024,
        ..cfg()
    };
    let max = c.max_batches_in_flight as u64;
    let h = spawn(c, false, lab.socket(true), ProgressObs(Arc::clone(&seen))).unwrap();
    let n = 20_000;
    let routes = blackholes(0, n);
    let mut want = prefixes(&routes);
    want.sort();
    hand_over(&h, routes.clone());
    // Installed counts what the kernel acknowledged: every route is in the kernel then.
    wait("every route acknowledged", || {
        let p = seen.lock().unwrap();
        p.installed == n as usize && p.pending == 0
    });
    let got: Vec<IpNet> = ours(&mut rd, TABLE_MAIN).keys().copied().collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the kernel's routes are not the routes handed over"
    );
    {
        let p = seen.lock().unwrap();
        // The thread encoded the next batches while the writer's earlier ones were in the
        // kernel (sending each batch before encoding the next never has more than one), and
        // never more than the bound.
        assert!(
            (2..=max).contains(&p.stats.most_in_flight),
            "most batches in flight at once: {}",
            p.stats.most_in_flight
        );
        assert!(p.stats.batches_sent > 100, "{:?}", p.stats);
        assert_eq!((p.stats.errors, p.stats.overruns), (0, 0));
    }
    hand_over(&h, removes(&routes));
    wait("every delete acknowledged", || {
        let p = seen.lock().unwrap();
        p.installed == 0 && p.pending == 0
    });
    assert!(ours(&mut rd, TABLE_MAIN).is_empty(), "routes left behind");
    h.shutdown().unwrap();
}

#[test]
fn shutdown_while_batches_are_in_flight_flushes_every_route_and_joins_the_writer() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    let seen = Arc::new(Mutex::new(Progress::default()));
    let c = FibConfig {
        max_batch_bytes: 4096,
        flush_on_shutdown: true,
        ..cfg()
    };
    let h = spawn(c, false, lab.socket(true), ProgressObs(Arc::clone(&seen))).unwrap();
    let n = 50_000;
    hand_over(&h, blackholes(0, n));
    // Stop as soon as the kernel acknowledged something: most of the load is queued or in
    // flight.
    wait("the first routes acknowledged", || {
        seen.lock().unwrap().installed > 0
    });
    let pending_at_stop = seen.lock().unwrap().pending;
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(h.shutdown().map_err(|e| e.to_string()));
    });
    let r = done
        .recv_timeout(Duration::from_secs(60))
        .expect("shutdown returned (the thread and its writer ended)");
    assert_eq!(r, Ok(()));
    {
        assert!(pending_at_stop > 0, "the load had finished before the stop");
        let p = seen.lock().unwrap();
        assert_eq!((p.stats.errors, p.stats.overruns), (0, 0));
    }
    // Every batch was sent before the flush's deletes and in their order: nothing is left.
    assert!(ours(&mut rd, TABLE_MAIN).is_empty(), "routes left behind");
}

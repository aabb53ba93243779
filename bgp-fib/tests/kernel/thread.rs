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

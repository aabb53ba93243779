//! The FIB thread (`spawn`) with intents: resolved against the namespace's links and
//! addresses, re-resolved in the kernel when an on-link subnet appears, and reported through
//! its observer (kernel view, refused routes, turns, batches).

use std::sync::{Arc, Mutex};

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
        kind: IntentKind::Unicast(vec![hop]),
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

//! Tagged mode against the kernel: the driver (a model of the daemon's RIB task: a
//! `TagTable` and a tag per prefix) hands over tags, the `Fib` keeps no entry for an installed
//! route, and every result is read back from the kernel: installs, next-hop moves,
//! withdrawals with and without their object, re-announcements during a withdrawal, scans
//! that find routes missing, wrong or stray, repairs seen by the monitor, and a driver ahead of
//! the FIB.

use crate::harness::*;
use bgp_fib::tags::{DesiredTags, TagTable};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Store {
    tags: HashMap<IpNet, u32>,
    /// Tagged changes made (handed over or not).
    made: u64,
}

/// The driver: what the daemon's RIB task does with bgp-core's per-prefix tags.
struct Driver {
    table: TagTable,
    store: Arc<Mutex<Store>>,
    /// Changes made and not handed over yet.
    out: Vec<FibChange>,
    /// What the RIB wants per prefix.
    want: HashMap<IpNet, RouteIntent>,
}

struct Answers(Arc<Mutex<Store>>);

impl DesiredTags for Answers {
    fn tag(&self, prefix: &IpNet, applied: u64) -> Option<u32> {
        let s = self.0.lock().unwrap();
        (s.made == applied).then(|| s.tags.get(prefix).copied().unwrap_or(0))
    }
}

impl Driver {
    fn new(fib: &mut Fib) -> Driver {
        let store = Arc::new(Mutex::new(Store::default()));
        fib.set_desired_tags(Box::new(Answers(Arc::clone(&store))));
        Driver {
            table: TagTable::new(fib.config().routes.clone(), (1 << 24) - 1),
            store,
            out: Vec::new(),
            want: HashMap::new(),
        }
    }

    fn set(&mut self, prefix: IpNet, intent: Option<RouteIntent>, force: bool) {
        match &intent {
            Some(i) => self.want.insert(prefix, i.clone()),
            None => self.want.remove(&prefix),
        };
        let mut s = self.store.lock().unwrap();
        let old = s.tags.get(&prefix).copied().unwrap_or(0);
        let before = self.out.len();
        let new = self.table.change(prefix, old, intent, force, &mut self.out);
        s.made += self.out[before..]
            .iter()
            .filter(|c| matches!(c, FibChange::Tagged { .. }))
            .count() as u64;
        if new == 0 {
            s.tags.remove(&prefix);
        } else {
            s.tags.insert(prefix, new);
        }
    }

    fn pool(&mut self, prefix: IpNet, gw: &str) {
        self.set(prefix, Some(pool_intent(prefix, gw)), false);
    }

    fn withdraw(&mut self, prefix: IpNet) {
        self.set(prefix, None, false);
    }

    /// Hands the changes over.
    fn hand_over(&mut self, fib: &mut Fib) {
        for c in self.out.drain(..) {
            fib.apply(c);
        }
    }

    /// What the daemon does on `FibEvent::Resync`: every prefix again, forced.
    fn resync(&mut self, fib: &mut Fib) {
        let all: Vec<(IpNet, RouteIntent)> = self.want.clone().into_iter().collect();
        for (p, i) in all {
            self.set(p, Some(i), true);
        }
        self.hand_over(fib);
    }
}

fn pool_intent(prefix: IpNet, gw: &str) -> RouteIntent {
    RouteIntent {
        prefix,
        kind: IntentKind::Unicast(IntentHop::pool(ip(gw)).into()),
        metric: None,
    }
}

fn tagged_cfg() -> FibConfig {
    FibConfig {
        nexthop_objects: NexthopObjects::Auto,
        routes: RoutePolicy {
            pools: vec![Pool {
                cidr: net("10.128.0.0/9"),
                mode: PoolMode::IpipAlways,
            }],
            ..RoutePolicy::default()
        },
        ..cfg()
    }
}

/// The `i`th /26 of the pool.
fn block(i: u32) -> IpNet {
    let a = 0x0a80_0000u32 + (i << 6);
    IpNet::new(std::net::Ipv4Addr::from(a).into(), 26).unwrap()
}

/// Our routes in the main table: prefix → gateway, each through tunl0 onlink.
fn gateways(rd: &mut FibSocket, tunl0: u32) -> BTreeMap<IpNet, IpAddr> {
    ours(rd, TABLE_MAIN)
        .into_iter()
        .map(|(p, r)| {
            let h = hops(&r);
            assert_eq!(h.len(), 1, "{p}: {h:?}");
            assert_eq!((h[0].1, h[0].2), (tunl0, true), "{p}: {h:?}");
            (p, h[0].0)
        })
        .collect()
}

fn expect(blocks: impl IntoIterator<Item = (u32, &'static str)>) -> BTreeMap<IpNet, IpAddr> {
    blocks.into_iter().map(|(i, g)| (block(i), ip(g))).collect()
}

/// Drives the FIB until idle, answering `Resync` as the daemon does; returns the events.
fn run(sock: &mut FibSocket, fib: &mut Fib, d: &mut Driver) -> Vec<FibEvent> {
    d.hand_over(fib);
    let mut ev = Vec::new();
    for _ in 0..10 {
        settle(sock, fib);
        let new = drain(fib);
        let resync = new.contains(&FibEvent::Resync);
        ev.extend(new);
        if !resync {
            return ev;
        }
        d.resync(fib);
    }
    panic!("resync after resync: {ev:#?}");
}

/// A namespace, a FIB in tagged mode with `cfg` and its driver, and `n` blocks installed
/// (block `i` through gateway `gw(i)`), every one read back.
struct Setup {
    lab: Lab,
    tunl0: u32,
    sock: FibSocket,
    rd: FibSocket,
    fib: Fib,
    d: Driver,
}

fn installed(cfg: FibConfig, monitor: bool, n: u32, gw: impl Fn(u32) -> &'static str) -> Setup {
    let lab = Lab::new();
    let tunl0 = lab.ifindex("tunl0");
    let mut sock = lab.socket(monitor);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg, false);
    let mut d = Driver::new(&mut fib);
    for i in 0..n {
        d.pool(block(i), gw(i));
    }
    assert_eq!(errors(&run(&mut sock, &mut fib, &mut d)), vec![]);
    assert_eq!(gateways(&mut rd, tunl0), expect((0..n).map(|i| (i, gw(i)))));
    assert_eq!((fib.len(), fib.entries()), (n as usize, 0));
    Setup {
        lab,
        tunl0,
        sock,
        rd,
        fib,
        d,
    }
}

fn without_objects() -> FibConfig {
    FibConfig {
        nexthop_objects: NexthopObjects::Off,
        ..tagged_cfg()
    }
}

fn one_in_three(i: u32) -> &'static str {
    if i.is_multiple_of(3) {
        "172.20.0.1"
    } else {
        "172.20.0.2"
    }
}

#[test]
fn installed_routes_leave_no_entry_and_follow_their_tags() {
    let mut s = installed(tagged_cfg(), false, 300, one_in_three);
    assert!(s.fib.uses_nexthop_objects());
    // The FIB holds the two tags, not the routes.
    assert_eq!(s.fib.tag_count(), 2);

    // Next hops move (a tag change), some routes go, one tag ends.
    for i in 0..300 {
        match i % 3 {
            0 => s.d.pool(block(i), "172.20.0.3"),
            1 if i < 150 => s.d.withdraw(block(i)),
            _ => {}
        }
    }
    let ev = run(&mut s.sock, &mut s.fib, &mut s.d);
    assert_eq!(errors(&ev), vec![]);
    let want = expect((0..300).filter_map(|i| match i % 3 {
        0 => Some((i, "172.20.0.3")),
        1 if i < 150 => None,
        _ => Some((i, "172.20.0.2")),
    }));
    assert_eq!(gateways(&mut s.rd, s.tunl0), want);
    assert_eq!(
        (s.fib.len(), s.fib.entries(), s.fib.tag_count()),
        (want.len(), 0, 2)
    );
    // The first gateway's object went with its tag.
    assert_eq!(s.fib.nexthop_objects(), 2);
}

#[test]
fn a_withdrawn_next_hop_goes_with_its_object_and_reannounced_routes_stay() {
    // 2,500 routes behind one next hop: its object takes them in one kernel walk; 200: one
    // by one (too few for the walk).
    for (n, flushed) in [(2500, true), (200, false)] {
        let gw = move |i| if i < n { "172.20.0.1" } else { "172.20.0.2" };
        let mut s = installed(tagged_cfg(), false, n + 500, gw);
        let flushes = s.fib.stats().object_flushes;
        // The peer behind 172.20.0.1 goes; before its routes are out, ten of them come back
        // through the other next hop and ten through the same one.
        for i in 0..n {
            s.d.withdraw(block(i));
        }
        s.d.hand_over(&mut s.fib);
        for i in 0..10 {
            s.d.pool(block(i), "172.20.0.2");
            s.d.pool(block(100 + i), "172.20.0.1");
        }
        let ev = run(&mut s.sock, &mut s.fib, &mut s.d);
        assert_eq!(errors(&ev), vec![]);
        let want = expect(
            (0..10)
                .map(|i| (i, "172.20.0.2"))
                .chain((100..110).map(|i| (i, "172.20.0.1")))
                .chain((n..n + 500).map(|i| (i, "172.20.0.2"))),
        );
        assert_eq!(gateways(&mut s.rd, s.tunl0), want, "{n}");
        assert_eq!((s.fib.len(), s.fib.entries()), (want.len(), 0));
        assert_eq!(
            s.fib.stats().object_flushes > flushes,
            flushed,
            "{n}: {:?}",
            s.fib.stats()
        );
    }
}

#[test]
fn a_scan_finds_routes_missing_wrong_or_stray_through_the_driver() {
    // No monitor: only scans see third parties.
    let mut s = installed(without_objects(), false, 50, |_| "172.20.0.1");
    // Behind our back: two deleted, one moved to another gateway, a stray of ours added.
    s.lab.ip_batch(&format!(
        "route del {}\nroute del {}\nroute replace {} via 172.20.0.9 dev tunl0 onlink proto bird\n\
         route add 10.200.0.0/24 via 172.20.0.9 dev tunl0 onlink proto bird\n",
        block(3),
        block(4),
        block(5)
    ));
    s.fib.request_scan(Instant::now());
    let ev = run(&mut s.sock, &mut s.fib, &mut s.d);
    assert!(ev.contains(&FibEvent::Resync), "{ev:#?}");
    assert_eq!(errors(&ev), vec![]);
    assert_eq!(
        gateways(&mut s.rd, s.tunl0),
        expect((0..50).map(|i| (i, "172.20.0.1")))
    );
    assert_eq!((s.fib.len(), s.fib.entries()), (50, 0));
}

#[test]
fn the_monitor_repairs_routes_it_holds_no_entry_for() {
    let mut s = installed(without_objects(), true, 20, |_| "172.20.0.1");
    let scans = s.fib.stats().scans;
    s.lab.ip_batch(&format!(
        "route del {}\nroute replace {} via 172.20.0.9 dev tunl0 onlink proto bird\n",
        block(3),
        block(5)
    ));
    repaired(&mut s.sock, &mut s.fib, &mut s.rd, |k| {
        k.len() == 20 && k.values().all(|r| hops(r)[0].0 == ip("172.20.0.1"))
    });
    assert_eq!(
        gateways(&mut s.rd, s.tunl0),
        expect((0..20).map(|i| (i, "172.20.0.1")))
    );
    assert_eq!(
        s.fib.stats().scans,
        scans,
        "repaired by the monitor, not by a scan"
    );
    settle(&mut s.sock, &mut s.fib);
    assert_eq!(s.fib.entries(), 0);
}

#[test]
fn a_driver_ahead_of_the_fib_is_not_trusted_by_a_scan() {
    let mut s = installed(tagged_cfg(), false, 20, |_| "172.20.0.1");
    // Changes made, not handed over: the driver's answers are ahead.
    for i in 0..5 {
        s.d.withdraw(block(i));
    }
    s.lab.ip(&format!("route del {}", block(10)));
    s.fib.request_scan(Instant::now());
    settle(&mut s.sock, &mut s.fib);
    let ev = drain(&mut s.fib);
    assert!(!ev.contains(&FibEvent::Resync), "{ev:#?}");
    // Nothing was judged: the five withdrawn ones are still there, 10 still missing.
    assert_eq!(ours(&mut s.rd, TABLE_MAIN).len(), 19);
    // Handed over, a scan sees the rest.
    s.fib.request_scan(Instant::now());
    run(&mut s.sock, &mut s.fib, &mut s.d);
    assert_eq!(
        gateways(&mut s.rd, s.tunl0),
        expect((5..20).map(|i| (i, "172.20.0.1")))
    );
}

#[test]
fn shutdown_with_flush_removes_routes_it_holds_no_entry_for() {
    for objects in [NexthopObjects::Auto, NexthopObjects::Off] {
        let cfg = FibConfig {
            nexthop_objects: objects,
            flush_on_shutdown: true,
            ..tagged_cfg()
        };
        let gw = |i| if i < 20 { "172.20.0.1" } else { "172.20.0.2" };
        let mut s = installed(cfg, false, 40, gw);
        // A route not handed over by the driver is ours too.
        s.lab
            .ip("route add 10.200.0.0/24 via 172.20.0.9 dev tunl0 onlink proto bird");
        s.fib.shutdown();
        settle(&mut s.sock, &mut s.fib);
        assert_eq!(ours(&mut s.rd, TABLE_MAIN).len(), 0, "{objects:?}");
        assert!(s
            .rd
            .dump_nexthops()
            .map_or(true, |v| v.iter().all(|n| n.protocol != BIRD)));
    }
}

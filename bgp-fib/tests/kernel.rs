//! Kernel tests: every test builds its own network namespace (`bgpfib-<pid>-<n>`), opens
//! its netlink sockets inside it (setns on a helper thread, never `ip netns exec`), and
//! reads every result back from the kernel with a route dump. The `ip` command only plays
//! third parties (creating veths, adding foreign routes, deleting ours behind our back).
//! Root is required; CI runs as root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bgp_fib::fib::Fib;
use bgp_fib::socket::{self, FibCommand, FibSocket};
use bgp_fib::wire::{KernelRoute, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE};
use bgp_fib::*;
use ipnet::IpNet;

const BIRD: u8 = 12;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "bgp-fib kernel tests need root (they create network namespaces); \
             run `sudo cargo test -p bgp-fib` or scripts/test-all.sh as root"
        );
    }
}

/// A network namespace that is removed when dropped, even on panic. It holds the machine's
/// kernel lock (`bgpd_lab::isolation`): shared, or exclusive for a test that floods the kernel
/// with interfaces, so that one never runs beside other namespace tests.
struct Lab {
    name: String,
    _lock: bgpd_lab::KernelLock,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// A namespace with `lo`, `eth0` (a veth, 192.168.1.1/24 and 2001:db8:1::1/64) and
    /// `tunl0` (a veth standing in for the IP-in-IP device: this kernel has no ipip).
    fn new() -> Lab {
        Lab::with_lock(bgpd_lab::KernelLock::shared())
    }

    /// [`Lab::new`] alone on the machine.
    fn heavy() -> Lab {
        Lab::with_lock(bgpd_lab::KernelLock::exclusive())
    }

    fn with_lock(lock: bgpd_lab::KernelLock) -> Lab {
        require_root();
        remove_stale_namespaces();
        let name = format!(
            "bgpfib-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        sh("ip", &["netns", "add", &name]);
        let lab = Lab { name, _lock: lock };
        lab.ip_batch(
            "link set lo up\n\
             link add eth0 type veth peer name eth0p\n\
             link set eth0 up\nlink set eth0p up\n\
             link add tunl0 type veth peer name tunlp\n\
             link set tunl0 up\nlink set tunlp up\n\
             addr add 192.168.1.1/24 dev eth0\n\
             addr add 2001:db8:1::1/64 dev eth0 nodad\n",
        );
        lab
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    fn ip(&self, args: &str) {
        let mut v = vec!["-n", &self.name];
        v.extend(args.split_whitespace());
        sh("ip", &v);
    }

    fn ip_batch(&self, text: &str) {
        let f = std::env::temp_dir().join(format!("{}.batch", self.name));
        std::fs::write(&f, text).unwrap();
        sh("ip", &["-n", &self.name, "-batch", f.to_str().unwrap()]);
        let _ = std::fs::remove_file(f);
    }

    fn ifindex(&self, dev: &str) -> u32 {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-j", "link", "show", "dev", dev])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let i = s.find("\"ifindex\":").expect("ifindex") + 10;
        s[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn socket(&self, monitor: bool) -> FibSocket {
        FibSocket::open_in_netns(&self.path(), monitor).unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Removes namespaces left by test processes that were killed (Drop never ran).
fn remove_stale_namespaces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(rd) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("bgpfib-")
                .and_then(|r| r.split('-').next())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
            }
        }
    });
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg() -> FibConfig {
    FibConfig {
        tables: vec![TABLE_MAIN, 1000],
        scan_interval: Duration::from_millis(500),
        ..FibConfig::default()
    }
}

fn route(prefix: &str, kind: RouteKind) -> FibRoute {
    FibRoute {
        prefix: net(prefix),
        kind,
        metric: 0,
        table: TABLE_MAIN,
    }
}

fn uni(nhs: Vec<NextHop>) -> RouteKind {
    RouteKind::Unicast(nhs)
}

fn dev(n: &str) -> Device {
    Device::Name(n.into())
}

fn drain(fib: &mut Fib) -> Vec<FibEvent> {
    std::iter::from_fn(|| fib.poll_event()).collect()
}

fn settle(sock: &mut FibSocket, fib: &mut Fib) {
    assert!(
        sock.run_until_idle(fib, Duration::from_secs(30)).unwrap(),
        "FIB not idle"
    );
}

/// Our routes (protocol bird) in `table`, read back from the kernel, by prefix.
fn ours(rd: &mut FibSocket, table: u32) -> BTreeMap<IpNet, KernelRoute> {
    rd.dump_routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.protocol == BIRD && r.table == table)
        .map(|r| (r.prefix, r))
        .collect()
}

fn all_in(rd: &mut FibSocket, table: u32) -> Vec<KernelRoute> {
    rd.dump_routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.table == table)
        .collect()
}

/// (gateway, ifindex, onlink, weight) of each next hop, sorted.
fn hops(r: &KernelRoute) -> Vec<(IpAddr, u32, bool, u16)> {
    let mut v: Vec<_> = r
        .nexthops
        .iter()
        .map(|n| (n.gateway.unwrap(), n.ifindex, n.onlink, n.weight))
        .collect();
    v.sort();
    v
}

/// Drives the FIB until our routes in the main table satisfy `ok` (failing after 30 s, far
/// beyond the 500 ms scan interval that repairs them); returns how long it took, a figure
/// for the log, not an assertion.
fn repaired(
    sock: &mut FibSocket,
    fib: &mut Fib,
    rd: &mut FibSocket,
    ok: impl Fn(&BTreeMap<IpNet, KernelRoute>) -> bool,
) -> Duration {
    let t0 = Instant::now();
    loop {
        sock.run_for(fib, Duration::from_millis(20)).unwrap();
        if ok(&ours(rd, TABLE_MAIN)) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "not repaired after 30 s"
        );
    }
}

/// Drives the FIB and collects its events until `done` holds for them (failing after 30 s).
fn events_until(
    sock: &mut FibSocket,
    fib: &mut Fib,
    done: impl Fn(&[FibEvent]) -> bool,
) -> Vec<FibEvent> {
    let t0 = Instant::now();
    let mut ev = Vec::new();
    loop {
        sock.run_for(fib, Duration::from_millis(20)).unwrap();
        ev.extend(drain(fib));
        if done(&ev) {
            return ev;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "events missing: {ev:#?}"
        );
    }
}

fn errors(ev: &[FibEvent]) -> Vec<(IpNet, i32)> {
    ev.iter()
        .filter_map(|e| match e {
            FibEvent::Outcome { key, errno, .. } if *errno != 0 => Some((key.prefix, *errno)),
            _ => None,
        })
        .collect()
}

#[test]
fn ipv4_install_replace_delete_every_kind() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let routes = [
        route(
            "10.1.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
        ),
        route(
            "10.2.0.0/26",
            uni(vec![NextHop::onlink(ip("172.20.0.7"), dev("tunl0"))]),
        ),
        route("10.3.0.0/26", RouteKind::Blackhole),
        route("10.4.0.0/24", RouteKind::Unreachable),
        route("10.5.0.0/24", RouteKind::Prohibit),
        route(
            "10.6.0.0/24",
            uni(vec![
                NextHop::onlink(ip("172.20.0.8"), dev("tunl0")),
                NextHop {
                    weight: 3,
                    ..NextHop::via(ip("192.168.1.3"), Device::Index(eth0))
                },
            ]),
        ),
        FibRoute {
            table: 1000,
            metric: 20,
            ..route(
                "10.7.0.0/24",
                uni(vec![NextHop::onlink(ip("172.20.0.9"), dev("tunl0"))]),
            )
        },
    ];
    for r in &routes {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);

    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 6, "{k:#?}");
    assert_eq!(
        hops(&k[&net("10.1.0.0/24")]),
        vec![(ip("192.168.1.2"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("10.2.0.0/26")]),
        vec![(ip("172.20.0.7"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("10.3.0.0/26")].rtype, RTN_BLACKHOLE);
    assert_eq!(k[&net("10.4.0.0/24")].rtype, RTN_UNREACHABLE);
    assert_eq!(k[&net("10.5.0.0/24")].rtype, RTN_PROHIBIT);
    let ecmp = &k[&net("10.6.0.0/24")];
    assert!(ecmp.multipath);
    assert_eq!(
        hops(ecmp),
        vec![
            (ip("172.20.0.8"), tunl0, true, 1),
            (ip("192.168.1.3"), eth0, false, 3)
        ]
    );
    for r in k.values() {
        assert_eq!((r.protocol, r.scope), (BIRD, 0));
    }
    let t = ours(&mut rd, 1000);
    assert_eq!(t.len(), 1);
    assert_eq!(t[&net("10.7.0.0/24")].metric, 20);
    assert_eq!(
        hops(&t[&net("10.7.0.0/24")]),
        vec![(ip("172.20.0.9"), tunl0, true, 1)]
    );

    // Replace: new next hops, kinds swapped, ECMP to single path and back.
    let replaced = [
        route(
            "10.1.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.4"), dev("eth0"))]),
        ),
        route("10.2.0.0/26", RouteKind::Blackhole),
        route(
            "10.3.0.0/26",
            uni(vec![NextHop::onlink(ip("172.20.0.10"), dev("tunl0"))]),
        ),
        route("10.4.0.0/24", RouteKind::Prohibit),
        route("10.5.0.0/24", RouteKind::Unreachable),
        route(
            "10.6.0.0/24",
            uni(vec![NextHop::via(ip("192.168.1.5"), dev("eth0"))]),
        ),
    ];
    for r in &replaced {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 6);
    assert_eq!(
        hops(&k[&net("10.1.0.0/24")]),
        vec![(ip("192.168.1.4"), eth0, false, 1)]
    );
    assert_eq!(k[&net("10.2.0.0/26")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("10.3.0.0/26")]),
        vec![(ip("172.20.0.10"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("10.4.0.0/24")].rtype, RTN_PROHIBIT);
    assert_eq!(k[&net("10.5.0.0/24")].rtype, RTN_UNREACHABLE);
    assert!(!k[&net("10.6.0.0/24")].multipath);
    assert_eq!(
        hops(&k[&net("10.6.0.0/24")]),
        vec![(ip("192.168.1.5"), eth0, false, 1)]
    );
    // exactly one route per key: replaced in place, not added beside
    assert_eq!(
        all_in(&mut rd, TABLE_MAIN)
            .iter()
            .filter(|r| r.protocol == BIRD)
            .count(),
        6
    );

    // Delete everything (and something that was never there).
    for r in routes.iter() {
        fib.apply(FibChange::Remove(r.key()));
    }
    fib.apply(FibChange::Remove(RouteKey::new(
        TABLE_MAIN,
        net("10.99.0.0/16"),
        0,
    )));
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
    assert!(ours(&mut rd, 1000).is_empty());
}

#[test]
fn ipv6_install_replace_ecmp_delete() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let single = route(
        "2001:db8:10::/64",
        uni(vec![NextHop::via(ip("2001:db8:1::2"), dev("eth0"))]),
    );
    let onlink = route(
        "2001:db8:11::/64",
        uni(vec![NextHop::onlink(ip("2001:db8:99::1"), dev("tunl0"))]),
    );
    let hole = route("2001:db8:12::/122", RouteKind::Blackhole);
    let ecmp = route(
        "2001:db8:13::/64",
        uni(vec![
            NextHop::via(ip("2001:db8:1::2"), dev("eth0")),
            NextHop::via(ip("2001:db8:1::3"), dev("eth0")),
            NextHop::onlink(ip("2001:db8:99::2"), dev("tunl0")),
        ]),
    );
    for r in [&single, &onlink, &hole, &ecmp] {
        fib.apply(FibChange::Upsert(r.clone()));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(k.len(), 4, "{k:#?}");
    assert_eq!(k[&net("2001:db8:10::/64")].metric, 1024);
    assert_eq!(
        hops(&k[&net("2001:db8:10::/64")]),
        vec![(ip("2001:db8:1::2"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("2001:db8:11::/64")]),
        vec![(ip("2001:db8:99::1"), tunl0, true, 1)]
    );
    assert_eq!(k[&net("2001:db8:12::/122")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("2001:db8:13::/64")]),
        vec![
            (ip("2001:db8:1::2"), eth0, false, 1),
            (ip("2001:db8:1::3"), eth0, false, 1),
            (ip("2001:db8:99::2"), tunl0, true, 1),
        ]
    );

    // ECMP -> single path must leave no sibling behind; single -> ECMP must not append to
    // an old route; unicast -> blackhole and back.
    fib.apply(FibChange::Upsert(route(
        "2001:db8:13::/64",
        uni(vec![NextHop::via(ip("2001:db8:1::4"), dev("eth0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:10::/64",
        uni(vec![
            NextHop::via(ip("2001:db8:1::5"), dev("eth0")),
            NextHop::via(ip("2001:db8:1::6"), dev("eth0")),
        ]),
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:11::/64",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "2001:db8:12::/122",
        uni(vec![NextHop::onlink(ip("2001:db8:99::3"), dev("tunl0"))]),
    )));
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    let all: Vec<_> = all_in(&mut rd, TABLE_MAIN)
        .into_iter()
        .filter(|r| r.protocol == BIRD)
        .collect();
    assert_eq!(all.len(), 4, "{all:#?}");
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        hops(&k[&net("2001:db8:13::/64")]),
        vec![(ip("2001:db8:1::4"), eth0, false, 1)]
    );
    assert_eq!(
        hops(&k[&net("2001:db8:10::/64")]),
        vec![
            (ip("2001:db8:1::5"), eth0, false, 1),
            (ip("2001:db8:1::6"), eth0, false, 1)
        ]
    );
    assert_eq!(k[&net("2001:db8:11::/64")].rtype, RTN_BLACKHOLE);
    assert_eq!(
        hops(&k[&net("2001:db8:12::/122")]),
        vec![(ip("2001:db8:99::3"), tunl0, true, 1)]
    );

    for p in [
        "2001:db8:10::/64",
        "2001:db8:11::/64",
        "2001:db8:12::/122",
        "2001:db8:13::/64",
    ] {
        fib.apply(FibChange::Remove(RouteKey::new(TABLE_MAIN, net(p), 0)));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(errors(&drain(&mut fib)), vec![]);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
}

#[test]
fn per_route_errors_do_not_fail_the_batch() {
    let lab = Lab::new();
    // A foreign route under a key we will want: we must fail with EEXIST and leave it.
    lab.ip("route add 10.50.0.0/24 via 192.168.1.2 dev eth0 proto static");
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    fib.apply(FibChange::Upsert(route(
        "10.49.0.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.50.0.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.51.0.0/24",
        uni(vec![NextHop::via(ip("172.16.0.1"), dev("eth0"))]), // gateway not on-link
    )));
    fib.apply(FibChange::Upsert(route(
        "10.55.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), Device::Index(9999))]), // no such device
    )));
    fib.apply(FibChange::Upsert(route(
        "10.52.0.0/24",
        uni(vec![NextHop::onlink(
            ip("192.168.1.2"),
            Device::Index(9999),
        )]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.53.0.0/24",
        uni(vec![NextHop::via(ip("192.168.1.2"), dev("nosuchdev"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.54.0.0/24",
        RouteKind::Unreachable,
    )));
    settle(&mut sock, &mut fib);
    let mut errs = errors(&drain(&mut fib));
    errs.sort();
    assert_eq!(
        errs,
        vec![
            (net("10.50.0.0/24"), libc::EEXIST),
            (net("10.51.0.0/24"), libc::ENETUNREACH),
            (net("10.52.0.0/24"), libc::ENODEV),
            (net("10.53.0.0/24"), libc::ENODEV), // unknown name: refused before sending
            (net("10.55.0.0/24"), libc::ENETUNREACH), // the kernel's answer without onlink
        ]
    );
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k.keys().copied().collect::<Vec<_>>(),
        vec![net("10.49.0.0/24"), net("10.54.0.0/24")]
    );
    let foreign: Vec<_> = all_in(&mut rd, TABLE_MAIN)
        .into_iter()
        .filter(|r| r.prefix == net("10.50.0.0/24"))
        .collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!((foreign[0].protocol, foreign[0].rtype), (4, RTN_UNICAST));
}

#[test]
fn startup_reconcile_with_stale_and_foreign_routes() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    // Left behind by a previous run (ours) and by others.
    lab.ip_batch(
        "route add 10.60.0.0/24 via 192.168.1.50 dev eth0 proto bird\n\
         route add 10.61.0.0/24 via 172.20.0.1 dev tunl0 onlink proto bird\n\
         route add blackhole 10.62.0.0/26 proto bird\n\
         route add 10.63.0.0/24 via 172.20.0.2 dev tunl0 onlink proto bird\n\
         route add 10.64.0.0/24 via 192.168.1.2 proto static\n\
         route add 10.65.0.0/24 via 192.168.1.2 proto boot\n\
         route add blackhole 10.66.0.0/24 proto bird table 77\n",
    );
    let mut sock = lab.socket(true);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    // Desired: 10.60 through the tunnel now (after a reboot it came back direct: the BIRD
    // bug), 10.61 unchanged, 10.62 still a blackhole, 10.67 new. 10.63 is stale.
    fib.apply(FibChange::Upsert(route(
        "10.60.0.0/24",
        uni(vec![NextHop::onlink(ip("192.168.1.50"), dev("tunl0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.61.0.0/24",
        uni(vec![NextHop::onlink(ip("172.20.0.1"), dev("tunl0"))]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.62.0.0/26",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.67.0.0/24",
        RouteKind::Blackhole,
    )));
    settle(&mut sock, &mut fib);
    let ev = drain(&mut fib);
    assert!(
        ev.contains(&FibEvent::Reconciled {
            added: 1,
            replaced: 1,
            deleted: 1
        }),
        "{ev:#?}"
    );
    assert_eq!(errors(&ev), vec![]);
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        k.keys().copied().collect::<Vec<_>>(),
        vec![
            net("10.60.0.0/24"),
            net("10.61.0.0/24"),
            net("10.62.0.0/26"),
            net("10.67.0.0/24")
        ]
    );
    assert_eq!(
        hops(&k[&net("10.60.0.0/24")]),
        vec![(ip("192.168.1.50"), tunl0, true, 1)]
    );
    // foreign routes untouched, our route in an unmanaged table untouched
    let all = all_in(&mut rd, TABLE_MAIN);
    assert!(all
        .iter()
        .any(|r| r.prefix == net("10.64.0.0/24") && r.protocol == 4));
    assert!(all
        .iter()
        .any(|r| r.prefix == net("10.65.0.0/24") && r.protocol == 3));
    assert_eq!(ours(&mut rd, 77).len(), 1);
    // and learned
    let learned: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            FibEvent::LearnedAdd(l) => Some((l.key.prefix, l.protocol, l.ifindex)),
            _ => None,
        })
        .collect();
    assert!(
        learned.contains(&(net("10.64.0.0/24"), 4, eth0)),
        "{learned:?}"
    );
    assert!(
        learned.contains(&(net("10.65.0.0/24"), 3, eth0)),
        "{learned:?}"
    );
    // proto kernel (the connected subnet) is not learned
    assert!(!learned.iter().any(|l| l.0 == net("192.168.1.0/24")));
}

#[test]
fn startup_adopts_stale_routes_until_released() {
    let lab = Lab::new();
    lab.ip("route add blackhole 10.70.0.0/24 proto bird");
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), true);
    settle(&mut sock, &mut fib);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 1);
    fib.release_stale(Instant::now());
    settle(&mut sock, &mut fib);
    assert!(ours(&mut rd, TABLE_MAIN).is_empty());
}

#[test]
fn repair_after_third_party_changes() {
    let lab = Lab::new();
    let eth0 = lab.ifindex("eth0");
    let mut sock = lab.socket(true);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    for p in ["10.80.0.0/24", "10.81.0.0/24", "10.82.0.0/24"] {
        fib.apply(FibChange::Upsert(route(
            p,
            uni(vec![NextHop::via(ip("192.168.1.2"), dev("eth0"))]),
        )));
    }
    settle(&mut sock, &mut fib);
    assert_eq!(ours(&mut rd, TABLE_MAIN).len(), 3);
    // Behind our back: one deleted, one changed, one stale of ours added.
    lab.ip_batch(
        "route del 10.80.0.0/24 proto bird\n\
         route replace 10.81.0.0/24 via 192.168.1.9 dev eth0 proto bird\n\
         route add blackhole 10.83.0.0/24 proto bird\n",
    );
    let want = vec![
        net("10.80.0.0/24"),
        net("10.81.0.0/24"),
        net("10.82.0.0/24"),
    ];
    let took = repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.keys().copied().collect::<Vec<_>>() == want
            && k.values()
                .all(|r| hops(r) == vec![(ip("192.168.1.2"), eth0, false, 1)])
    });
    eprintln!(
        "repaired after {took:?} (scan interval {:?})",
        cfg().scan_interval
    );
    let k = ours(&mut rd, TABLE_MAIN);
    for r in k.values() {
        assert_eq!(hops(r), vec![(ip("192.168.1.2"), eth0, false, 1)]);
    }
}

#[test]
fn mode_flip_between_tunnel_and_direct() {
    let lab = Lab::new();
    let (eth0, tunl0) = (lab.ifindex("eth0"), lab.ifindex("tunl0"));
    let mut sock = lab.socket(false);
    let mut rd = lab.socket(false);
    let mut fib = Fib::new(cfg(), false);
    let tunnel = route(
        "10.90.0.0/26",
        uni(vec![NextHop::onlink(ip("192.168.1.20"), dev("tunl0"))]),
    );
    let direct = route(
        "10.90.0.0/26",
        uni(vec![NextHop::via(ip("192.168.1.20"), dev("eth0"))]),
    );
    for (r, want) in [
        (&tunnel, (ip("192.168.1.20"), tunl0, true, 1)),
        (&direct, (ip("192.168.1.20"), eth0, false, 1)),
        (&tunnel, (ip("192.168.1.20"), tunl0, true, 1)),
    ] {
        fib.apply(FibChange::Upsert(r.clone()));
        settle(&mut sock, &mut fib);
        assert_eq!(errors(&drain(&mut fib)), vec![]);
        let k = ours(&mut rd, TABLE_MAIN);
        assert_eq!(k.len(), 1);
        assert_eq!(hops(&k[&net("10.90.0.0/26")]), vec![want]);
    }
    // A third party flips it to direct (what a reboot did to BIRD): the scan flips it back.
    lab.ip("route replace 10.90.0.0/26 via 192.168.1.20 dev eth0 proto bird");
    repaired(&mut sock, &mut fib, &mut rd, |k| {
        k.get(&net("10.90.0.0/26"))
            .is_some_and(|r| hops(r) == vec![(ip("192.168.1.20"), tunl0, true, 1)])
    });
    let k = ours(&mut rd, TABLE_MAIN);
    assert_eq!(
        hops(&k[&net("10.90.0.0/26")]),
        vec![(ip("192.168.1.20"), tunl0, true, 1)]
    );
}

#[test]
fn learns_routes_of_other_protocols() {
    let lab = Lab::new();
    let eth0 = lab.ifindex("eth0");
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let _ = drain(&mut fib);
    lab.ip("route add 10.77.0.0/16 via 192.168.1.2 proto static");
    lab.ip("route add blackhole 10.78.0.0/16 proto static");
    lab.ip("route add 10.79.0.0/16 dev eth0 scope link");
    lab.ip("route add blackhole 10.76.0.0/16 proto bird"); // ours: not learned
                                                           // A marker added last: once it is learned, every route before it was seen (the
                                                           // kernel's notifications arrive in order).
    lab.ip("route add blackhole 10.75.0.0/16 proto static");
    let marker =
        |e: &FibEvent| matches!(e, FibEvent::LearnedAdd(l) if l.key.prefix == net("10.75.0.0/16"));
    let learned: Vec<LearnedRoute> = events_until(&mut sock, &mut fib, |ev| ev.iter().any(marker))
        .into_iter()
        .filter_map(|e| match e {
            FibEvent::LearnedAdd(l) => Some(l),
            _ => None,
        })
        .collect();
    let find = |p: &str| learned.iter().find(|l| l.key.prefix == net(p)).cloned();
    let s = find("10.77.0.0/16").expect("static route learned");
    assert_eq!(
        (s.protocol, s.route_type, s.ifindex),
        (4, RTN_UNICAST, eth0)
    );
    assert_eq!(s.nexthops, vec![(Some(ip("192.168.1.2")), eth0)]);
    let b = find("10.78.0.0/16").expect("blackhole learned");
    assert_eq!((b.protocol, b.route_type), (4, RTN_BLACKHOLE));
    let d = find("10.79.0.0/16").expect("device route learned");
    assert_eq!((d.protocol, d.scope, d.ifindex), (3, 253, eth0));
    assert!(find("10.76.0.0/16").is_none());
    lab.ip("route del 10.77.0.0/16");
    let gone = FibEvent::LearnedRemove(RouteKey::new(TABLE_MAIN, net("10.77.0.0/16"), 0));
    events_until(&mut sock, &mut fib, |ev| ev.contains(&gone));
    assert_eq!(fib.learned_count(), 3);
}

#[test]
fn interface_and_address_events() {
    let lab = Lab::new();
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let ev = drain(&mut fib);
    // start-up: the existing interfaces and addresses are reported
    assert!(ev
        .iter()
        .any(|e| matches!(e, FibEvent::Link { name, .. } if name == "tunl0")));
    assert!(ev.contains(&FibEvent::AddressAdd {
        ifindex: lab.ifindex("eth0"),
        address: ip("192.168.1.1"),
        subnet: net("192.168.1.0/24"),
    }));
    let base = fib.link_count();

    lab.ip("link add cali1 type veth peer name calip1");
    let idx = lab.ifindex("cali1");
    lab.ip("addr add 10.200.0.1/30 dev cali1");
    // A marker link added last: once it is reported, everything before it was seen.
    lab.ip("link add mark1 type veth peer name markp1");
    let ev = events_until(&mut sock, &mut fib, |ev| {
        ev.iter()
            .any(|e| matches!(e, FibEvent::Link { name, .. } if name == "mark1"))
    });
    assert!(
        ev.contains(&FibEvent::Link {
            index: idx,
            name: "cali1".into(),
            up: false
        }),
        "{ev:#?}"
    );
    // cali1 is administratively down: its address is not reported yet (Calico's BIRD
    // ignores addresses of down interfaces such as kube-ipvs0)
    assert!(
        !ev.iter().any(|e| matches!(e, FibEvent::AddressAdd { .. })),
        "{ev:#?}"
    );
    assert_eq!(fib.link_index("cali1"), Some(idx));
    lab.ip("link set cali1 up");
    lab.ip("link set calip1 up");
    // carrier comes through the kernel's link watch, asynchronously
    let up = FibEvent::Link {
        index: idx,
        name: "cali1".into(),
        up: true,
    };
    let ev = events_until(&mut sock, &mut fib, |ev| ev.contains(&up));
    assert!(
        ev.contains(&FibEvent::AddressAdd {
            ifindex: idx,
            address: ip("10.200.0.1"),
            subnet: net("10.200.0.0/30"),
        }),
        "{ev:#?}"
    );
    lab.ip("addr add 10.201.0.1/24 dev cali1");
    let added = FibEvent::AddressAdd {
        ifindex: idx,
        address: ip("10.201.0.1"),
        subnet: net("10.201.0.0/24"),
    };
    events_until(&mut sock, &mut fib, |ev| ev.contains(&added));
    lab.ip("link del cali1");
    let removed = FibEvent::LinkRemoved {
        index: idx,
        name: "cali1".into(),
    };
    let ev = events_until(&mut sock, &mut fib, |ev| ev.contains(&removed));
    assert!(ev.contains(&FibEvent::AddressRemove {
        ifindex: idx,
        address: ip("10.200.0.1"),
        subnet: net("10.200.0.0/30"),
    }));
    // mark1 (and its peer) stay.
    assert_eq!(fib.link_count(), base + 2);
    assert_eq!(fib.link_index("cali1"), None);
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().map(|n| n.parse().unwrap()))
        .unwrap()
}

#[test]
fn ten_thousand_veth_cycles_do_not_grow_the_interface_map() {
    let lab = Lab::heavy();
    let mut sock = lab.socket(true);
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let base_links = fib.link_count();
    let (mut created, mut removed) = (0usize, 0usize);
    let mut after_first = None;
    let rounds = 20;
    let per_round = 500;
    let t0 = Instant::now();
    for round in 0..rounds {
        // create `per_round` veths (setup through ip -batch), then delete them all: deleting
        // a link group is one batched unregistration instead of one RCU wait per veth.
        let mut text = String::new();
        for i in 0..per_round {
            let n = round * per_round + i;
            text.push_str(&format!(
                "link add cali{n:08x} group 99 type veth peer name calp{n:08x}\n"
            ));
        }
        lab.ip_batch(&text);
        sock.run_for(&mut fib, Duration::from_millis(1)).unwrap();
        lab.ip("link del group 99");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            sock.run_for(&mut fib, Duration::from_millis(5)).unwrap();
            for e in drain(&mut fib) {
                match e {
                    FibEvent::Link { name, .. } if name.starts_with("cali") => created += 1,
                    FibEvent::LinkRemoved { name, .. } if name.starts_with("cali") => removed += 1,
                    _ => {}
                }
            }
            if fib.link_count() == base_links || Instant::now() > deadline {
                break;
            }
        }
        assert_eq!(fib.link_count(), base_links, "round {round}");
        if round == 0 {
            after_first = Some((fib.link_capacity(), rss_kib()));
        }
    }
    let (cap1, rss1) = after_first.unwrap();
    let (cap, rss) = (fib.link_capacity(), rss_kib());
    eprintln!(
        "10000 veth cycles in {:?}: links {} (capacity {} -> {}), RSS {} -> {} KiB",
        t0.elapsed(),
        fib.link_count(),
        cap1,
        cap,
        rss1,
        rss
    );
    assert!(created >= rounds * per_round, "created {created}");
    assert_eq!(removed, rounds * per_round);
    assert!(cap <= cap1, "interface map grew: {cap1} -> {cap}");
}

#[test]
fn persist_on_shutdown_and_flush_when_configured() {
    let lab = Lab::new();
    let mut rd = lab.socket(false);
    for flush in [false, true] {
        let (tx, rx) = mpsc::channel();
        let c = FibConfig {
            flush_on_shutdown: flush,
            ..cfg()
        };
        let h = socket::spawn(c, false, lab.socket(true), move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        h.send(FibCommand::Changes(vec![
            FibChange::Upsert(route("10.95.0.0/24", RouteKind::Blackhole)),
            FibChange::Upsert(route(
                "10.96.0.0/24",
                uni(vec![NextHop::onlink(ip("172.20.0.1"), dev("tunl0"))]),
            )),
        ]))
        .unwrap();
        // wait until the start-up reconcile has run and our routes are in
        let deadline = Instant::now() + Duration::from_secs(10);
        while ours(&mut rd, TABLE_MAIN).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "routes not installed by the FIB thread"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h.shutdown().unwrap();
        let ev: Vec<FibEvent> = rx.try_iter().collect();
        assert!(ev.iter().any(|e| matches!(e, FibEvent::Reconciled { .. })));
        let left = ours(&mut rd, TABLE_MAIN).len();
        if flush {
            assert_eq!(left, 0, "flush_on_shutdown left routes");
        } else {
            assert_eq!(left, 2, "persist removed routes");
        }
    }
}

#[test]
fn own_route_notifications_are_filtered_in_the_kernel() {
    let lab = Lab::new();
    // Two monitors side by side: with and without the filter.
    let mut sock = lab.socket(true);
    sock.ignore_own_route_notifications(BIRD).unwrap();
    let mut fib = Fib::new(cfg(), false);
    settle(&mut sock, &mut fib);
    let mut plain = lab.socket(true);
    let mut control = Fib::new(cfg(), false);
    settle(&mut plain, &mut control);
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "route add blackhole 10.{}.{}.0/24 proto bird\n",
            100 + i / 256,
            i % 256
        ));
    }
    text.push_str("route add blackhole 10.120.0.0/24 proto static\n");
    text.push_str("route add blackhole 2001:db8:77::/64 proto static\n");
    lab.ip_batch(&text);
    // The two static routes come last: once both monitors learned them, every notification
    // of ours before them has arrived (or was filtered out by the kernel).
    let t0 = Instant::now();
    while fib.learned_count() < 2 || control.learned_count() < 2 {
        sock.run_for(&mut fib, Duration::from_millis(20)).unwrap();
        plain
            .run_for(&mut control, Duration::from_millis(20))
            .unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "static routes not learned"
        );
    }
    assert_eq!(control.stats().own_route_notifications, 200);
    assert_eq!(fib.stats().own_route_notifications, 0);
    // other protocols still get through
    assert_eq!(fib.learned_count(), 2);
}

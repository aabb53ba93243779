//! Kernel FIB benchmark: bgp-fib against `ip -batch`, doing the same work in the same run,
//! in a network namespace of its own (created and removed here; needs root).
//!
//! For IPv4 (1M /24) and IPv6 (100k /64) routes: install them all `via GW dev eth0 proto
//! bird`, replace them all with a new gateway, delete them all. Each phase ends with a
//! read-back dump that checks the kernel holds exactly what it should. Prints routes/s and
//! the ratio, and the heap bgp-fib's desired state takes per route.
//!
//! `cargo run --release -p bgpd-benches --bin fib_bench [-- V4_COUNT V6_COUNT]`
//! (`FIB_BENCH_BATCH=bytes` changes the bytes per `send`). Not run by CI.
//!
//! `fib_bench --repair`: 10,000 IPv4 routes installed, then (`ip -batch`, behind our back)
//! 100 of them deleted and one replaced with a wrong gateway; prints how long bgp-fib takes,
//! from the end of that batch until a read-back dump shows the table right again, with the
//! periodic scan an hour away (the route monitor's notifications alone repair).
//!
//! `fib_bench --nexthop-objects [V4_COUNT [FLIP_COUNT]]`: V4_COUNT (1M) IPv4 routes through
//! one next hop installed (and deleted) as plain routes and through one kernel nexthop object
//! (whose delete withdraws the routes left when the last one is removed),
//! interleaved, best of `FIB_BENCH_ROUNDS`; then FLIP_COUNT (100k) cross-subnet pool routes
//! whose gateway's subnet appears on eth0 (tunnel -> direct): the messages and the time from
//! the address change until bgp-fib is idle, plain and with objects.
//!
//! `fib_bench --listeners [V4_COUNT]`: what the kernel charges for route notifications and what
//! the daemon's way of feeding costs. V4_COUNT (1M) IPv4 routes through one nexthop object
//! installed (timed) and deleted, interleaved, best of `FIB_BENCH_ROUNDS`: all applied at once
//! to a `Fib` with no route listener in the namespace; the same with the daemon's monitor
//! socket (subscribed to the route groups, our own notifications dropped by its socket
//! filter); the same with an `ip monitor route` reading every notification; and the daemon's
//! FIB thread (`bgp_fib::spawn`, with its monitor) fed intents in address order, chunk by
//! chunk, as fast as it takes them, alone and while another socket counts the table with a
//! dump every 100 ms (as `converge` does to see the FIB complete).
//! `FIB_BENCH_LISTENERS=0,3` runs only those rows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_fib::fib::Fib;
use bgp_fib::socket::FibSocket;
use bgp_fib::{
    Device, FibChange, FibConfig, FibRoute, IntentHop, IntentKind, NextHop, NexthopObjects, Pool,
    PoolMode, RouteIntent, RouteKind, RoutePolicy, TABLE_MAIN,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Counts live heap bytes (and their peak), to report the desired state's memory per route.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The highest `LIVE` since `reset_peak`.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Starts a new peak at the current live bytes; returns them.
fn reset_peak() -> isize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

// SAFETY: forwards to the system allocator, only adding counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        grew(new as isize - l.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BIRD: u8 = 12;

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("fibbench-{}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        ns.batch(
            "link set lo up\nlink add eth0 type veth peer name eth0p\nlink set eth0 up\n\
             link set eth0p up\naddr add 192.168.0.1/16 dev eth0\n\
             addr add 2001:db8:1::1/64 dev eth0 nodad\n",
        );
        ns
    }

    /// Runs `ip -batch`; returns its wall time and CPU time (user + system of the child).
    fn batch(&self, text: &str) -> Timing {
        let f = std::env::temp_dir().join(format!("{}.batch", self.0));
        std::fs::write(&f, text).expect("write batch file");
        let c0 = cpu(libc::RUSAGE_CHILDREN);
        let t = Instant::now();
        run("ip", &["-n", &self.0, "-batch", f.to_str().expect("path")]);
        let wall = t.elapsed();
        let c1 = cpu(libc::RUSAGE_CHILDREN);
        let _ = std::fs::remove_file(f);
        Timing {
            wall,
            cpu: (c1.0 + c1.1).saturating_sub(c0.0 + c0.1),
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.0))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wall-clock and CPU time of one phase.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl Timing {
    const MAX: Timing = Timing {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };

    fn best(self, o: Timing) -> Timing {
        Timing {
            wall: self.wall.min(o.wall),
            cpu: self.cpu.min(o.cpu),
        }
    }
}

/// A stopwatch for our own phases: wall time and this process's CPU time.
struct Watch(Instant, (Duration, Duration));

impl Watch {
    fn start() -> Watch {
        Watch(Instant::now(), cpu(libc::RUSAGE_SELF))
    }
    fn stop(&self) -> Timing {
        let c = cpu(libc::RUSAGE_SELF);
        Timing {
            wall: self.0.elapsed(),
            cpu: (c.0 + c.1).saturating_sub(self.1 .0 + self.1 .1),
        }
    }
}

fn cpu_times() -> (Duration, Duration) {
    cpu(libc::RUSAGE_SELF)
}

/// (user, system) CPU time of this process or of its waited-for children.
fn cpu(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn v4(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x2000_0000 + (i << 8)), 24).expect("prefix"))
}

fn v6(i: u32) -> IpNet {
    let a = Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x100 + (i >> 16) as u16,
        i as u16,
        0,
        0,
        0,
        0,
    );
    IpNet::V6(Ipv6Net::new(a, 64).expect("prefix"))
}

struct Phase {
    name: &'static str,
    ours: Timing,
    ip: Timing,
    n: u32,
}

fn rounds() -> u32 {
    std::env::var("FIB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn count_ours(rd: &mut FibSocket, gw: IpAddr) -> usize {
    rd.dump_routes()
        .expect("dump")
        .iter()
        .filter(|r| r.protocol == BIRD && r.nexthops.first().and_then(|n| n.gateway) == Some(gw))
        .count()
}

#[allow(clippy::too_many_arguments)]
fn family(
    ns: &Netns,
    sock: &mut FibSocket,
    rd: &mut FibSocket,
    fib: &mut Fib,
    n: u32,
    prefix: fn(u32) -> IpNet,
    gw1: IpAddr,
    gw2: IpAddr,
    label: &'static str,
    out: &mut Vec<Phase>,
    heap: &mut Option<f64>,
    scan_out: &mut Option<Duration>,
) {
    let limit = Duration::from_secs(300);
    let route = |i: u32, gw: IpAddr| FibRoute {
        prefix: prefix(i),
        kind: RouteKind::Unicast(vec![NextHop::via(gw, Device::Name("eth0".into()))]),
        metric: 0,
        table: TABLE_MAIN,
    };
    let ipline = |verb: &str, gw: Option<IpAddr>| {
        let mut s = String::with_capacity(n as usize * 64);
        for i in 0..n {
            match gw {
                Some(g) => {
                    let _ = writeln!(s, "route {verb} {} via {g} dev eth0 proto bird", prefix(i));
                }
                None => {
                    let _ = writeln!(s, "route {verb} {} proto bird", prefix(i));
                }
            }
        }
        s
    };

    let rounds = rounds();
    let (add, rep, del) = (
        ipline("add", Some(gw1)),
        ipline("replace", Some(gw2)),
        ipline("del", None),
    );
    // Let the kernel finish deferred work (RCU frees of the previous run) before timing.
    let pause = || std::thread::sleep(Duration::from_secs(1));
    let ip_run = |rd: &mut FibSocket| {
        pause();
        let a = ns.batch(&add);
        assert_eq!(count_ours(rd, gw1), n as usize, "ip -batch add");
        let r = ns.batch(&rep);
        assert_eq!(count_ours(rd, gw2), n as usize, "ip -batch replace");
        let d = ns.batch(&del);
        assert_eq!(count_ours(rd, gw2), 0, "ip -batch del");
        [a, r, d]
    };
    // bgp-fib: time from the first `apply` to the last ACK. The FibChange values are built
    // beforehand (the RIB hands them over ready-made, as ip gets its batch file ready-made).
    let mut best_scan = Duration::MAX;
    let mut ours_run = |rd: &mut FibSocket, heap: &mut Option<f64>| {
        pause();
        let before = LIVE.load(Ordering::Relaxed);
        let adds: Vec<FibChange> = (0..n).map(|i| FibChange::Upsert(route(i, gw1))).collect();
        let w = Watch::start();
        let t = Instant::now();
        fib.reserve(n as usize);
        for c in adds {
            fib.apply(c);
        }
        let apply_time = t.elapsed();
        assert!(
            sock.run_until_idle(fib, limit).expect("run"),
            "install timed out"
        );
        let a = w.stop();
        eprintln!(
            "{label}: apply {apply_time:?} of install {:?} (CPU {:?})",
            a.wall, a.cpu
        );
        let idle = LIVE.load(Ordering::Relaxed);
        if heap.is_none() {
            *heap = Some((idle - before) as f64 / n as f64);
        }
        assert_eq!(count_ours(rd, gw1), n as usize, "bgp-fib install");
        // A reconcile scan with everything in place: dump, compare, nothing to fix.
        let sent = fib.stats().messages_sent;
        let cpu0 = cpu_times();
        let t = Instant::now();
        fib.request_scan(t);
        assert!(
            sock.run_until_idle(fib, limit).expect("run"),
            "scan timed out"
        );
        let scan = t.elapsed();
        assert_eq!(
            fib.stats().messages_sent,
            sent,
            "a scan of a correct table sent changes"
        );
        let cpu1 = cpu_times();
        eprintln!(
            "{label}: reconcile scan of {n} routes took {scan:?} (user {:?}, system {:?})",
            cpu1.0 - cpu0.0,
            cpu1.1 - cpu0.1
        );
        best_scan = best_scan.min(scan);
        let reps: Vec<FibChange> = (0..n).map(|i| FibChange::Upsert(route(i, gw2))).collect();
        let w = Watch::start();
        for c in reps {
            fib.apply(c);
        }
        assert!(
            sock.run_until_idle(fib, limit).expect("run"),
            "replace timed out"
        );
        let r = w.stop();
        assert_eq!(count_ours(rd, gw2), n as usize, "bgp-fib replace");
        let dels: Vec<FibChange> = (0..n)
            .map(|i| FibChange::Remove(route(i, gw2).key()))
            .collect();
        let w = Watch::start();
        for c in dels {
            fib.apply(c);
        }
        assert!(
            sock.run_until_idle(fib, limit).expect("run"),
            "delete timed out"
        );
        let d = w.stop();
        assert_eq!(count_ours(rd, gw2), 0, "bgp-fib delete");
        [a, r, d]
    };
    // Alternate who goes first; keep the best time of each (the machine may be shared).
    let mut best_ip = [Timing::MAX; 3];
    let mut best_ours = [Timing::MAX; 3];
    for round in 0..rounds.max(1) {
        let (i, o) = if round % 2 == 0 {
            let i = ip_run(rd);
            (i, ours_run(rd, heap))
        } else {
            let o = ours_run(rd, heap);
            (ip_run(rd), o)
        };
        for k in 0..3 {
            best_ip[k] = best_ip[k].best(i[k]);
            best_ours[k] = best_ours[k].best(o[k]);
        }
    }
    *scan_out = Some(best_scan);
    let (ip_add, ip_rep, ip_del) = (best_ip[0], best_ip[1], best_ip[2]);
    let (ours_add, ours_rep, ours_del) = (best_ours[0], best_ours[1], best_ours[2]);
    for (name, ours, ip) in [
        ("install", ours_add, ip_add),
        ("replace", ours_rep, ip_rep),
        ("delete", ours_del, ip_del),
    ] {
        out.push(Phase { name, ours, ip, n });
    }
}

/// `--repair`: time from a third party's changes to a table that is right again.
fn repair() {
    const N: u32 = 10_000;
    let ns = Netns::new();
    let mut sock = FibSocket::open_in_netns(&ns.path(), true).expect("socket");
    sock.ignore_own_route_notifications(BIRD).expect("filter");
    let mut rd = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let cfg = FibConfig {
        learn: false,
        scan_interval: Duration::from_secs(3600),
        ..FibConfig::default()
    };
    let mut fib = Fib::new(cfg, false);
    let gw: IpAddr = "192.168.0.2".parse().expect("ip");
    let wrong: IpAddr = "192.168.0.3".parse().expect("ip");
    let limit = Duration::from_secs(60);
    for i in 0..N {
        fib.apply(FibChange::Upsert(FibRoute {
            prefix: v4(i),
            kind: RouteKind::Unicast(vec![NextHop::via(gw, Device::Name("eth0".into()))]),
            metric: 0,
            table: TABLE_MAIN,
        }));
    }
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    assert_eq!(count_ours(&mut rd, gw), N as usize);
    let mut took = Vec::new();
    for round in 0..rounds().max(1) * 3 {
        let mut text = String::new();
        for i in 0..100 {
            let _ = writeln!(text, "route del {} proto bird", v4(round * 100 + i));
        }
        let _ = writeln!(
            text,
            "route replace {} via {wrong} dev eth0 proto bird",
            v4(N - 1 - round)
        );
        ns.batch(&text);
        let t = Instant::now();
        loop {
            sock.run_for(&mut fib, Duration::from_millis(2))
                .expect("run");
            if count_ours(&mut rd, gw) == N as usize {
                break;
            }
            assert!(t.elapsed() < limit, "not repaired");
        }
        took.push(t.elapsed());
    }
    assert_eq!(fib.stats().scans, 1, "only the start-up scan ran");
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "bgp-fib repair of 100 deleted + 1 changed route out of {N} (no scan): {} rounds, min {:.1} ms, median {:.1} ms, max {:.1} ms (until a read-back dump is right)",
        took.len(),
        ms(took[0]),
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );
}

/// Heap bytes per route: once installed, at the peak of the install, at the peak of the
/// delete (above what was live before the install).
#[derive(Clone, Copy, Default)]
struct HeapUse {
    steady: f64,
    install_peak: f64,
    delete_peak: f64,
}

/// One install and delete of `n` IPv4 routes through one gateway; (install, delete) times,
/// install messages, (delete messages, object flushes, routes they withdrew, seconds
/// spent applying the removes), and the FIB's heap. As the daemon does, the FIB is not told
/// the table's size beforehand (`Fib::reserve`): its tables grow while the routes come, and
/// each change is made just before it is applied (its own heap, freed at once, is not
/// counted as the FIB's).
fn objects_install(
    ns: &Netns,
    n: u32,
    objects: NexthopObjects,
) -> (Timing, Timing, u64, (u64, u64, u64, f64), HeapUse) {
    let limit = Duration::from_secs(600);
    let mut sock = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let mut rd = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let cfg = FibConfig {
        learn: false,
        nexthop_objects: objects,
        ..FibConfig::default()
    };
    let mut fib = Fib::new(cfg, false);
    assert!(sock.run_until_idle(&mut fib, limit).expect("sync"));
    let gw: IpAddr = "192.168.0.2".parse().expect("ip");
    let route = |i: u32| FibRoute {
        prefix: v4(i),
        kind: RouteKind::Unicast(vec![NextHop::via(gw, Device::Name("eth0".into()))]),
        metric: 0,
        table: TABLE_MAIN,
    };
    std::thread::sleep(Duration::from_secs(1));
    let base = reset_peak();
    let w = Watch::start();
    for i in 0..n {
        fib.apply(FibChange::Upsert(route(i)));
    }
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    let add = w.stop();
    let per = |b: isize| (b - base) as f64 / f64::from(n.max(1));
    let mut heap = HeapUse {
        steady: per(LIVE.load(Ordering::Relaxed)),
        install_peak: per(PEAK.load(Ordering::Relaxed)),
        delete_peak: 0.0,
    };
    let msgs = fib.stats().messages_sent;
    assert_eq!(fib.uses_nexthop_objects(), objects != NexthopObjects::Off);
    assert_eq!(count_ours(&mut rd, gw), n as usize, "install");
    let dels: Vec<FibChange> = (0..n).map(|i| FibChange::Remove(route(i).key())).collect();
    let before = fib.stats();
    // The removes' vector is live from here on: not the FIB's.
    reset_peak();
    let dels_bytes = (dels.capacity() * std::mem::size_of::<FibChange>()) as isize;
    let w = Watch::start();
    for c in dels {
        fib.apply(c);
    }
    let applied = w.stop().wall.as_secs_f64();
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    let del = w.stop();
    heap.delete_peak = per(PEAK.load(Ordering::Relaxed) - dels_bytes);
    assert_eq!(count_ours(&mut rd, gw), 0, "delete");
    assert!(rd.dump_nexthops().map(|v| v.is_empty()).unwrap_or(true));
    let after = fib.stats();
    let del_stats = (
        after.messages_sent - before.messages_sent,
        after.object_flushes - before.object_flushes,
        after.flushed_routes - before.flushed_routes,
        applied,
    );
    (add, del, msgs, del_stats, heap)
}

/// `n` cross-subnet pool routes via a gateway off-link, then its subnet appears on eth0:
/// (messages sent, time until idle) for the flip to direct.
fn objects_flip(n: u32, objects: NexthopObjects) -> (u64, Duration) {
    let ns = Netns::new();
    let limit = Duration::from_secs(600);
    let mut sock = FibSocket::open_in_netns(&ns.path(), true).expect("socket");
    sock.ignore_own_route_notifications(BIRD).expect("filter");
    let mut rd = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let cfg = FibConfig {
        learn: false,
        scan_interval: Duration::from_secs(3600),
        nexthop_objects: objects,
        routes: RoutePolicy {
            pools: vec![Pool {
                cidr: "32.0.0.0/7".parse().expect("net"),
                mode: PoolMode::IpipCrossSubnet,
            }],
            ..RoutePolicy::default()
        },
        ..FibConfig::default()
    };
    ns.batch("link add tunl0 type veth peer name tunlp\nlink set tunl0 up\nlink set tunlp up\n");
    let mut fib = Fib::new(cfg, false);
    let gw: IpAddr = "10.30.0.5".parse().expect("ip");
    for i in 0..n {
        fib.apply(FibChange::Intent(RouteIntent {
            prefix: v4(i),
            kind: IntentKind::Unicast(IntentHop::pool(gw).into()),
            metric: None,
        }));
    }
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    assert_eq!(count_ours(&mut rd, gw), n as usize, "install");
    let before = fib.stats().messages_sent;
    ns.batch("addr add 10.30.0.1/24 dev eth0\n");
    let t = Instant::now();
    loop {
        sock.run_for(&mut fib, Duration::from_millis(1))
            .expect("run");
        if fib.stats().messages_sent > before && fib.is_idle() {
            break;
        }
        assert!(t.elapsed() < limit, "flip not done");
    }
    let took = t.elapsed();
    let direct = rd
        .dump_routes()
        .expect("dump")
        .iter()
        .filter(|r| {
            r.protocol == BIRD
                && r.nexthops
                    .first()
                    .is_some_and(|h| h.gateway == Some(gw) && !h.onlink)
        })
        .count();
    assert_eq!(direct, n as usize, "not every route went direct");
    (fib.stats().messages_sent - before, took)
}

/// `--nexthop-objects`.
fn nexthop_objects(n: u32, flip_n: u32) {
    let ns = Netns::new();
    let mut best = [[Timing::MAX; 2]; 2];
    let mut msgs = [0u64; 2];
    let mut del_msgs = [(0u64, 0u64, 0u64, 0f64); 2];
    let mut heap = [HeapUse::default(); 2];
    for round in 0..rounds().max(1) {
        for k in 0..2 {
            let k = if round % 2 == 0 { k } else { 1 - k };
            let mode = [NexthopObjects::Off, NexthopObjects::Auto][k];
            let (a, d, m, dm, h) = objects_install(&ns, n, mode);
            heap[k] = h;
            best[k][0] = best[k][0].best(a);
            best[k][1] = best[k][1].best(d);
            msgs[k] = m;
            del_msgs[k] = dm;
        }
    }
    println!(
        "bgp-fib, {n} IPv4 routes through one next hop, best of {} rounds",
        rounds()
    );
    println!("| routes | phase | plain s | plain routes/s | objects s | objects routes/s | plain/objects | plain CPU s | objects CPU s |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, phase) in ["install", "delete"].iter().enumerate() {
        let (p, o) = (best[0][i], best[1][i]);
        println!(
            "| {n} | {phase} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2}x | {:.2} | {:.2} |",
            p.wall.as_secs_f64(),
            n as f64 / p.wall.as_secs_f64(),
            o.wall.as_secs_f64(),
            n as f64 / o.wall.as_secs_f64(),
            p.wall.as_secs_f64() / o.wall.as_secs_f64(),
            p.cpu.as_secs_f64(),
            o.cpu.as_secs_f64()
        );
    }
    println!("install messages: plain {}, objects {}", msgs[0], msgs[1]);
    let (p, o) = (del_msgs[0], del_msgs[1]);
    println!(
        "delete messages: plain {} ({} object deletes), objects {} ({} object deletes withdrew {} routes); applying the removes (last round) took {:.2} s plain, {:.2} s objects",
        p.0, p.1, o.0, o.1, o.2, p.3, o.3
    );
    for (label, h) in [("plain", heap[0]), ("objects", heap[1])] {
        println!(
            "bgp-fib heap, {label} (last round, no reserve): {:.1} B/route once installed, peak {:.1} B/route during the install, {:.1} B/route during the delete",
            h.steady, h.install_peak, h.delete_peak
        );
    }
    drop(ns);
    for (label, mode) in [
        ("plain", NexthopObjects::Off),
        ("objects", NexthopObjects::Auto),
    ] {
        let mut took = Vec::new();
        let mut m = 0;
        for _ in 0..rounds().max(1) {
            let (mm, t) = objects_flip(flip_n, mode);
            m = mm;
            took.push(t);
        }
        took.sort();
        println!(
            "flip of {flip_n} cross-subnet routes (tunnel -> direct), {label}: {m} messages, {:.2} ms (median of {}; address change until idle)",
            took[took.len() / 2].as_secs_f64() * 1e3,
            took.len()
        );
    }
}

mod listeners;

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("fib_bench needs root (it creates a network namespace)");
        std::process::exit(2);
    }
    if std::env::args().any(|a| a == "--repair") {
        repair();
        return;
    }
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if std::env::args().any(|a| a == "--listeners") {
        listeners::listeners(args.first().copied().unwrap_or(1_000_000));
        return;
    }
    if std::env::args().any(|a| a == "--nexthop-objects") {
        nexthop_objects(
            args.first().copied().unwrap_or(1_000_000),
            args.get(1).copied().unwrap_or(100_000),
        );
        return;
    }
    let n4 = args.first().copied().unwrap_or(1_000_000);
    let n6 = args.get(1).copied().unwrap_or(100_000);
    let rounds = rounds();
    let batch = std::env::var("FIB_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FibConfig::default().max_batch_bytes);

    let ns = Netns::new();
    let mut sock = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let mut rd = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let cfg = FibConfig {
        learn: false,
        max_batch_bytes: batch,
        ..FibConfig::default()
    };
    let mut fib = Fib::new(cfg, false);
    assert!(sock
        .run_until_idle(&mut fib, Duration::from_secs(10))
        .expect("sync"));

    let mut v4r = Vec::new();
    let mut v6r = Vec::new();
    let mut heap = None;
    let (mut scan4, mut scan6) = (None, None);
    family(
        &ns,
        &mut sock,
        &mut rd,
        &mut fib,
        n4,
        v4,
        "192.168.0.2".parse().expect("ip"),
        "192.168.0.3".parse().expect("ip"),
        "IPv4",
        &mut v4r,
        &mut heap,
        &mut scan4,
    );
    family(
        &ns,
        &mut sock,
        &mut rd,
        &mut fib,
        n6,
        v6,
        "2001:db8:1::2".parse().expect("ip"),
        "2001:db8:1::3".parse().expect("ip"),
        "IPv6",
        &mut v6r,
        &mut None,
        &mut scan6,
    );

    println!("bgp-fib vs ip -batch, {batch} bytes per send, best of {rounds} rounds");
    println!(
        "| family | routes | phase | bgp-fib s | bgp-fib routes/s | ip -batch s | ip -batch routes/s | ratio | bgp-fib CPU s | ip CPU s | CPU ratio |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (fam, rows) in [("IPv4 /24", &v4r), ("IPv6 /64", &v6r)] {
        for p in rows.iter() {
            let (o, i) = (p.ours.wall.as_secs_f64(), p.ip.wall.as_secs_f64());
            let (oc, ic) = (p.ours.cpu.as_secs_f64(), p.ip.cpu.as_secs_f64());
            println!(
                "| {fam} | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2}x | {:.2} | {:.2} | {:.2}x |",
                p.n,
                p.name,
                o,
                p.n as f64 / o,
                i,
                p.n as f64 / i,
                i / o,
                oc,
                ic,
                ic / oc
            );
        }
    }
    for (fam, n, scan) in [("IPv4", n4, scan4), ("IPv6", n6, scan6)] {
        if let Some(d) = scan {
            println!(
                "bgp-fib reconcile scan (dump + compare, nothing to fix) of {n} {fam} routes: {:.2} s",
                d.as_secs_f64()
            );
        }
    }
    if let Some(idle) = heap {
        println!("bgp-fib heap for the IPv4 desired state: {idle:.0} B/route once installed");
    }
}

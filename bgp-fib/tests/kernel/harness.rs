//! The kernel tests' harness: a namespace per test (`Lab`), FIB helpers, waits on events.

pub(crate) use std::collections::BTreeMap;
pub(crate) use std::net::IpAddr;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::Command;
pub(crate) use std::sync::atomic::{AtomicU32, Ordering};
pub(crate) use std::sync::mpsc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use bgp_fib::fib::Fib;
pub(crate) use bgp_fib::socket::FibSocket;
pub(crate) use bgp_fib::wire::{
    KernelRoute, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE,
};
pub(crate) use bgp_fib::*;
pub(crate) use bgp_fib::{spawn, FibCommand};
pub(crate) use ipnet::IpNet;

pub(crate) const BIRD: u8 = 12;

pub(crate) fn require_root() {
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
pub(crate) struct Lab {
    pub(crate) name: String,
    pub(crate) _lock: bgpd_lab::KernelLock,
}

pub(crate) static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// A namespace with `lo`, `eth0` (a veth, 192.168.1.1/24 and 2001:db8:1::1/64) and
    /// `tunl0` (a veth standing in for the IP-in-IP device: this kernel has no ipip).
    pub(crate) fn new() -> Lab {
        Lab::with_lock(bgpd_lab::KernelLock::shared())
    }

    /// [`Lab::new`] alone on the machine.
    pub(crate) fn heavy() -> Lab {
        Lab::with_lock(bgpd_lab::KernelLock::exclusive())
    }

    pub(crate) fn with_lock(lock: bgpd_lab::KernelLock) -> Lab {
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

    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    pub(crate) fn ip(&self, args: &str) {
        let mut v = vec!["-n", &self.name];
        v.extend(args.split_whitespace());
        sh("ip", &v);
    }

    pub(crate) fn ip_batch(&self, text: &str) {
        let f = std::env::temp_dir().join(format!("{}.batch", self.name));
        std::fs::write(&f, text).unwrap();
        sh("ip", &["-n", &self.name, "-batch", f.to_str().unwrap()]);
        let _ = std::fs::remove_file(f);
    }

    pub(crate) fn ifindex(&self, dev: &str) -> u32 {
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

    pub(crate) fn socket(&self, monitor: bool) -> FibSocket {
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
pub(crate) fn remove_stale_namespaces() {
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

pub(crate) fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn cfg() -> FibConfig {
    FibConfig {
        tables: vec![TABLE_MAIN, 1000],
        scan_interval: Duration::from_millis(500),
        ..FibConfig::default()
    }
}

pub(crate) fn route(prefix: &str, kind: RouteKind) -> FibRoute {
    FibRoute {
        prefix: net(prefix),
        kind,
        metric: 0,
        table: TABLE_MAIN,
    }
}

pub(crate) fn uni(nhs: Vec<NextHop>) -> RouteKind {
    RouteKind::Unicast(nhs)
}

pub(crate) fn dev(n: &str) -> Device {
    Device::Name(n.into())
}

pub(crate) fn drain(fib: &mut Fib) -> Vec<FibEvent> {
    std::iter::from_fn(|| fib.poll_event()).collect()
}

pub(crate) fn settle(sock: &mut FibSocket, fib: &mut Fib) {
    assert!(
        sock.run_until_idle(fib, Duration::from_secs(30)).unwrap(),
        "FIB not idle"
    );
}

/// Our routes (protocol bird) in `table`, read back from the kernel, by prefix.
pub(crate) fn ours(rd: &mut FibSocket, table: u32) -> BTreeMap<IpNet, KernelRoute> {
    rd.dump_routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.protocol == BIRD && r.table == table)
        .map(|r| (r.prefix, r))
        .collect()
}

pub(crate) fn all_in(rd: &mut FibSocket, table: u32) -> Vec<KernelRoute> {
    rd.dump_routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.table == table)
        .collect()
}

/// (gateway, ifindex, onlink, weight) of each next hop, sorted.
pub(crate) fn hops(r: &KernelRoute) -> Vec<(IpAddr, u32, bool, u16)> {
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
pub(crate) fn repaired(
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
pub(crate) fn events_until(
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

pub(crate) fn errors(ev: &[FibEvent]) -> Vec<(IpNet, i32)> {
    ev.iter()
        .filter_map(|e| match e {
            FibEvent::Outcome { key, errno, .. } if *errno != 0 => Some((key.prefix, *errno)),
            _ => None,
        })
        .collect()
}

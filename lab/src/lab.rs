//! DOC: a [`Lab`] is one test's topology: a hub namespace holding the bridges (the shared
//! subnets), one namespace per node joined to bridges by veth pairs (`eth0`, `eth1`, ... inside
//! the node), an optional `tunl0` per node (a veth end so named: the kernel here has no ipip
//! module), a capture of TCP port 179 on every hub port, and an artefact directory
//! (`target/lab-artefacts/<test>-<pid>-<n>/`) holding configs, logs, sockets and the pcap.
//!
//! Names: every namespace is `bgplab-<pid>-<n>-<node>` (`<n>` counts labs in this process), so
//! labs never collide; addresses live inside the lab's own namespaces, so every lab may reuse
//! 172.31.x.y and fd00:31::/64. Labs still run one at a time per process (a global mutex held by
//! each `Lab`): the machine is small and daemons' timers are not meant to compete for CPU.
//!
//! Teardown (`Drop`): kill whatever still runs in the lab's namespaces, stop the capture, delete
//! the namespaces; on failure (the thread is panicking, or [`Lab::mark_failed`]) dump every
//! namespace's addresses and routes into the artefacts, keep them and print where they are;
//! on success delete them (unless `BGPLAB_KEEP=1`). The first `Lab` of a process also sweeps
//! namespaces and processes left by a crashed earlier run: `bgplab-<pid>-...` whose owner is
//! gone, i.e. nobody holds `/run/bgplab/<pid>.lock` (each lab process flocks its own for its
//! whole life, so a reused pid is no alibi), or, without a lock file, the pid is dead.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use crate::cmd;
use crate::error::{Context, Error, Result};
use crate::process::Process;
use crate::wait::wait_until;

/// Every lab namespace starts with this.
pub const NETNS_PREFIX: &str = "bgplab-";

static SERIAL: Mutex<()> = Mutex::new(());
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A shared L2 segment (a Linux bridge in the hub namespace) with an IPv4 /24 and an IPv6 /64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Bridge device name in the hub namespace.
    pub name: String,
    /// The /24 (host part 0).
    pub subnet4: Ipv4Addr,
    /// The /64 (host part 0).
    pub subnet6: Ipv6Addr,
    index: u16,
}

impl Bridge {
    /// Host `host` of the IPv4 subnet.
    pub fn v4(&self, host: u8) -> Ipv4Addr {
        let o = self.subnet4.octets();
        Ipv4Addr::new(o[0], o[1], o[2], host)
    }
    /// Host `host` of the IPv6 subnet.
    pub fn v6(&self, host: u8) -> Ipv6Addr {
        let mut s = self.subnet6.segments();
        s[7] = u16::from(host);
        Ipv6Addr::from(s)
    }
    /// `a.b.c.0/24`.
    pub fn prefix4(&self) -> String {
        format!("{}/24", self.subnet4)
    }
    /// `x::/64`.
    pub fn prefix6(&self) -> String {
        format!("{}/64", self.subnet6)
    }
}

/// One interface of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Name inside the node (`eth0`, ...).
    pub name: String,
    /// Bridge it is plugged into.
    pub bridge: String,
    /// IPv4 address (/24).
    pub ipv4: Ipv4Addr,
    /// IPv6 address (/64).
    pub ipv6: Ipv6Addr,
}

/// A node's place in the lab: its namespace, interfaces and artefact directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNet {
    /// Node name (`bird2`, `frr`, ...).
    pub name: String,
    /// Namespace name.
    pub ns: String,
    /// The node's artefact directory (configs, logs, sockets).
    pub dir: PathBuf,
    /// Interfaces, in the order given.
    pub ifaces: Vec<Iface>,
    /// Address of the emulated `tunl0` (a /32, as Calico gives it), if the node has one.
    pub tunl0: Option<Ipv4Addr>,
}

impl NodeNet {
    /// The first interface's IPv4 address: the node's address.
    pub fn ip4(&self) -> Ipv4Addr {
        self.ifaces
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |i| i.ipv4)
    }
    /// The first interface's IPv6 address.
    pub fn ip6(&self) -> Ipv6Addr {
        self.ifaces
            .first()
            .map_or(Ipv6Addr::UNSPECIFIED, |i| i.ipv6)
    }
    /// The first interface's name (`eth0`).
    pub fn iface(&self) -> &str {
        self.ifaces.first().map_or("eth0", |i| i.name.as_str())
    }
    /// A path inside the node's artefact directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Makes the node a router between its bridges (IPv4 and IPv6 forwarding on).
    pub fn enable_forwarding(&self) -> Result<()> {
        cmd::run(
            Some(&self.ns),
            "sysctl",
            &[
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        )
        .map(|_| ())
    }

    /// Adds a route in the node's main table: `ip route add DST via GW proto static`
    /// (e.g. the other subnet through a router node).
    pub fn add_route(&self, dst: &str, via: std::net::IpAddr) -> Result<()> {
        let via = via.to_string();
        cmd::ip(&[
            "-n", &self.ns, "route", "add", dst, "via", &via, "proto", "static",
        ])
        .map(|_| ())
    }
}

/// One test's topology. See the module documentation.
pub struct Lab {
    test: String,
    prefix: String,
    hub: String,
    artefacts: PathBuf,
    namespaces: Vec<String>,
    bridges: Vec<Bridge>,
    nodes: Vec<NodeNet>,
    capture: Option<Process>,
    failed: bool,
    keep: bool,
    _serial: MutexGuard<'static, ()>,
    /// Held for the lab's lifetime: no heavy kernel test runs meanwhile.
    _kernel: crate::isolation::KernelLock,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("test", &self.test)
            .field("prefix", &self.prefix)
            .field("artefacts", &self.artefacts)
            .finish_non_exhaustive()
    }
}

/// `target/lab-artefacts` of this workspace (or of `CARGO_TARGET_DIR`).
pub fn artefact_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    let target = target.canonicalize().unwrap_or(target);
    target.join("lab-artefacts")
}

/// Fails unless the process runs as root (namespaces, veth, daemons need it).
pub fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error(
            "the lab needs root (network namespaces): run `sudo cargo test -p bgpd-lab -- --test-threads=1` or scripts/test-all.sh".into(),
        ));
    }
    Ok(())
}

impl Lab {
    /// Creates an empty lab for test `test` (artefacts in
    /// `target/lab-artefacts/<test>-<pid>-<n>/`, removed when the test passes), starts the port-179 capture, and waits for any other lab of this
    /// process to finish first.
    pub fn new(test: &str) -> Result<Lab> {
        Lab::with_capture(test, true)
    }

    /// [`Lab::new`] without the port-179 capture (`capture = false`): for benchmarks, where
    /// dumpcap would compete with the daemons for CPU and write gigabytes.
    pub fn with_capture(test: &str, capture: bool) -> Result<Lab> {
        Lab::create(test, capture, false)
    }

    /// [`Lab::new`] for a test that loads the kernel heavily (large tables, many interfaces):
    /// it waits until no other lab or namespace test runs on the machine, and they wait for it
    /// ([`crate::isolation`]).
    pub fn heavy(test: &str) -> Result<Lab> {
        Lab::create(test, true, true)
    }

    fn create(test: &str, capture: bool, heavy: bool) -> Result<Lab> {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        require_root()?;
        let kernel = if heavy {
            crate::isolation::KernelLock::exclusive()
        } else {
            crate::isolation::KernelLock::shared()
        };
        take_own_lock();
        SWEEP.call_once(sweep_stale);
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("{NETNS_PREFIX}{}-{n}-", std::process::id());
        // Unique per process and lab: the same test may run in several processes at once.
        let artefacts = artefact_root().join(format!("{test}-{}-{n}", std::process::id()));
        if artefacts.exists() {
            std::fs::remove_dir_all(&artefacts)
                .context(format!("clearing {}", artefacts.display()))?;
        }
        std::fs::create_dir_all(&artefacts).context(format!("creating {}", artefacts.display()))?;
        let hub = format!("{prefix}hub");
        let mut lab = Lab {
            test: test.to_string(),
            prefix,
            hub: hub.clone(),
            artefacts,
            namespaces: Vec::new(),
            bridges: Vec::new(),
            nodes: Vec::new(),
            capture: None,
            failed: false,
            keep: std::env::var("BGPLAB_KEEP").is_ok_and(|v| v == "1"),
            _serial: serial,
            _kernel: kernel,
        };
        // A lab that cannot even start is a failure: keep what it wrote (dumpcap.log).
        let started =
            lab.add_netns(&hub)
                .and_then(|()| if capture { lab.start_capture() } else { Ok(()) });
        if let Err(e) = started {
            lab.failed = true;
            return Err(e);
        }
        Ok(lab)
    }

    fn add_netns(&mut self, ns: &str) -> Result<()> {
        cmd::ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        cmd::ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // No IPv6 DAD delays on anything created later in this namespace.
        cmd::run(
            Some(ns),
            "sysctl",
            &[
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ],
        )?;
        Ok(())
    }

    fn start_capture(&mut self) -> Result<()> {
        if cmd::run(None, "which", &["dumpcap"]).is_err() {
            return Err(Error(
                "dumpcap is missing: install the Debian package `tshark` (its dependency \
                 wireshark-common has dumpcap; scripts/test-all.sh installs it)"
                    .into(),
            ));
        }
        let pcap = self.artefacts.join("bgp.pcap");
        let pcap_s = pcap.to_string_lossy().into_owned();
        // `any` sees every hub port, including ports added later; `inbound` keeps each frame
        // once (as it enters the hub from a node), not twice (in and out of the bridge).
        let argv = cmd::in_netns(
            Some(&self.hub),
            "dumpcap",
            &[
                "-q",
                "-i",
                "any",
                "-f",
                "tcp port 179 and inbound",
                "-P",
                "-w",
                &pcap_s,
            ],
        );
        let mut p = Process::spawn("dumpcap", &argv, &self.artefacts.join("dumpcap.log"))?;
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(20),
            "dumpcap wrote its pcap header",
            || {
                p.ensure_running()?;
                Ok(std::fs::metadata(&pcap)
                    .map(|m| m.len() >= 24)
                    .unwrap_or(false))
            },
        )?;
        self.capture = Some(p);
        Ok(())
    }

    /// The test name.
    pub fn test(&self) -> &str {
        &self.test
    }
    /// This lab's namespace prefix (`bgplab-<pid>-<n>-`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// The hub namespace (bridges, capture).
    pub fn hub_ns(&self) -> &str {
        &self.hub
    }
    /// The artefact directory.
    pub fn artefacts(&self) -> &Path {
        &self.artefacts
    }
    /// Every namespace of the lab (hub first).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
    /// The nodes added so far.
    pub fn nodes(&self) -> &[NodeNet] {
        &self.nodes
    }
    /// The pid of the capture process.
    pub fn capture_pid(&self) -> Option<u32> {
        self.capture.as_ref().map(Process::pid)
    }
    /// Keep the artefacts even if the test passes.
    pub fn keep_artefacts(&mut self) {
        self.keep = true;
    }
    /// Treat the lab as failed at teardown (keep artefacts) even without a panic.
    pub fn mark_failed(&mut self) {
        self.failed = true;
    }

    /// Adds a bridge `name` with IPv4 `a.b.c.0/24` and IPv6 `subnet6/64`.
    pub fn bridge(&mut self, name: &str, subnet4: Ipv4Addr, subnet6: Ipv6Addr) -> Result<Bridge> {
        let index =
            u16::try_from(self.bridges.len()).map_err(|_| Error("too many bridges".into()))?;
        cmd::ip(&["-n", &self.hub, "link", "add", name, "type", "bridge"])?;
        cmd::ip(&["-n", &self.hub, "link", "set", name, "up"])?;
        let b = Bridge {
            name: name.to_string(),
            subnet4,
            subnet6,
            index,
        };
        self.bridges.push(b.clone());
        Ok(b)
    }

    /// The usual single shared subnet: bridge `lan0`, 172.31.0.0/24 and fd00:31::/64.
    pub fn lan(&mut self) -> Result<Bridge> {
        self.bridge(
            "lan0",
            Ipv4Addr::new(172, 31, 0, 0),
            "fd00:31::".parse().map_err(|_| Error("v6".into()))?,
        )
    }

    /// Adds node `name` (namespace `<prefix><name>`): one interface per `(bridge, host)` pair
    /// (`eth0`, `eth1`, ... with addresses `bridge.v4(host)`/24 and `bridge.v6(host)`/64 and
    /// MAC 02:00:31:<bridge>:00:<host>), and, with `tunl0 = Some(addr)`, an emulated `tunl0` (a
    /// veth end, peer `tunl0-peer`, both up) holding `addr/32`.
    pub fn node(
        &mut self,
        name: &str,
        links: &[(&Bridge, u8)],
        tunl0: Option<Ipv4Addr>,
    ) -> Result<NodeNet> {
        if name.is_empty()
            || name.len() > 12
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error(format!(
                "node name {name:?}: 1-12 characters [a-zA-Z0-9-]"
            )));
        }
        let ns = format!("{}{name}", self.prefix);
        let dir = self.artefacts.join(name);
        std::fs::create_dir_all(&dir)?;
        self.add_netns(&ns)?;
        let node_index = self.nodes.len();
        let mut ifaces = Vec::new();
        for (i, (bridge, host)) in links.iter().enumerate() {
            let inner = format!("eth{i}");
            let outer = format!("n{node_index}e{i}");
            let mac = format!("02:00:31:{:02x}:00:{:02x}", bridge.index, host);
            cmd::ip(&[
                "link", "add", &outer, "netns", &self.hub, "type", "veth", "peer", "name", &inner,
                "netns", &ns, "address", &mac,
            ])?;
            cmd::ip(&[
                "-n",
                &self.hub,
                "link",
                "set",
                &outer,
                "master",
                &bridge.name,
            ])?;
            cmd::ip(&["-n", &self.hub, "link", "set", &outer, "up"])?;
            let (v4, v6) = (bridge.v4(*host), bridge.v6(*host));
            cmd::ip(&["-n", &ns, "addr", "add", &format!("{v4}/24"), "dev", &inner])?;
            cmd::ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                &inner,
                "nodad",
            ])?;
            cmd::ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ifaces.push(Iface {
                name: inner,
                bridge: bridge.name.clone(),
                ipv4: v4,
                ipv6: v6,
            });
        }
        if let Some(addr) = tunl0 {
            cmd::ip(&[
                "-n",
                &ns,
                "link",
                "add",
                "tunl0",
                "type",
                "veth",
                "peer",
                "name",
                "tunl0-peer",
            ])?;
            cmd::ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/32"),
                "dev",
                "tunl0",
            ])?;
            cmd::ip(&["-n", &ns, "link", "set", "tunl0-peer", "up"])?;
            cmd::ip(&["-n", &ns, "link", "set", "tunl0", "up"])?;
        }
        let node = NodeNet {
            name: name.to_string(),
            ns,
            dir,
            ifaces,
            tunl0,
        };
        self.nodes.push(node.clone());
        Ok(node)
    }

    /// Dumps every namespace's links, addresses and routes into `<artefacts>/netns-<ns>.txt`
    /// (at teardown: after the nodes' daemons stopped; each node kind also dumps its own
    /// namespace into `<node>/kernel.txt` while its daemon still runs).
    pub fn dump_kernel_state(&self) {
        for ns in &self.namespaces {
            let short = ns.strip_prefix(&self.prefix).unwrap_or(ns);
            dump_netns(ns, &self.artefacts.join(format!("netns-{short}.txt")));
        }
    }
}

/// Writes `ip link/addr/route` of namespace `ns` into `file`.
pub fn dump_netns(ns: &str, file: &Path) {
    let mut text = String::new();
    for args in [
        &["-d", "link", "show"][..],
        &["addr", "show"],
        &["-4", "route", "show", "table", "all"],
        &["-6", "route", "show", "table", "all"],
    ] {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        text.push_str(&format!("## ip {}\n", full.join(" ")));
        match cmd::ip(&full) {
            Ok(o) => text.push_str(&o),
            Err(e) => text.push_str(&format!("(failed: {e})\n")),
        }
    }
    let _ = std::fs::write(file, text);
}

/// Where each lab process keeps its liveness lock (`<pid>.lock`, flock held for its life).
pub const LOCK_DIR: &str = "/run/bgplab";

static OWN_LOCK: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();

/// Takes this process's liveness lock (once): a run whose lock can be taken by someone else is
/// dead, even if its pid has been reused since.
fn take_own_lock() {
    OWN_LOCK.get_or_init(|| {
        std::fs::create_dir_all(LOCK_DIR).ok()?;
        let f =
            std::fs::File::create(Path::new(LOCK_DIR).join(format!("{}.lock", std::process::id())))
                .ok()?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0).then_some(f)
    });
}

/// Whether the lab process `pid` still runs: its lock is held (or, without a lock file, the
/// pid exists).
fn owner_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let lock = Path::new(LOCK_DIR).join(format!("{pid}.lock"));
    match std::fs::File::open(&lock) {
        Ok(f) => {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a file descriptor we own; released when `f` is dropped.
            let got = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            !got
        }
        Err(_) => Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// Pids of the processes in namespace `ns`.
pub fn netns_pids(ns: &str) -> Vec<i32> {
    cmd::ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs every process in `ns` (each by its pid) and deletes the namespace.
fn destroy_netns(ns: &str) {
    for _ in 0..50 {
        let pids = netns_pids(ns);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) with a pid read from the lab's own namespace.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(e) = cmd::ip(&["netns", "del", ns]) {
        eprintln!("bgpd-lab: could not delete namespace {ns}: {e}");
    }
}

/// The lab namespaces currently present (`ip netns list`).
pub fn lab_namespaces() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(NETNS_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Deletes namespaces (and kills their processes) left by lab runs whose process is gone.
pub fn sweep_stale() {
    for ns in lab_namespaces() {
        let owner = ns
            .strip_prefix(NETNS_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if !owner.is_some_and(owner_alive) {
            eprintln!(
                "bgpd-lab: removing stale namespace {ns} (and its processes) from a crashed run"
            );
            destroy_netns(&ns);
        }
    }
    // Lock files of runs that are gone.
    if let Ok(d) = std::fs::read_dir(LOCK_DIR) {
        for e in d.filter_map(|e| e.ok()) {
            let pid = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".lock")
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if !owner_alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    // FRR pathspace directories (`-N <namespace>`) of runs that are gone.
    if let Ok(d) = std::fs::read_dir(crate::frr::FRR_RUN_DIR) {
        for e in d.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(NETNS_PREFIX) && !Path::new("/run/netns").join(&name).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let failed = self.failed || std::thread::panicking();
        if failed {
            self.dump_kernel_state();
        }
        // Nodes first (their daemons' last words reach the capture), then the capture, then
        // the namespaces.
        for ns in self.namespaces.iter().skip(1) {
            for pid in netns_pids(ns) {
                // SAFETY: kill(2) with a pid read from the lab's own namespace.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        let _ = wait_until(
            Duration::from_secs(3),
            Duration::from_millis(20),
            "lab processes exit",
            || {
                Ok(self
                    .namespaces
                    .iter()
                    .skip(1)
                    .all(|ns| netns_pids(ns).is_empty()))
            },
        );
        if let Some(mut cap) = self.capture.take() {
            cap.stop(Duration::from_secs(3));
        }
        for ns in self.namespaces.iter().rev() {
            destroy_netns(ns);
        }
        if failed || self.keep {
            eprintln!(
                "bgpd-lab: {} {}; artefacts (configs, daemon logs, bgp.pcap, netns-*.txt) kept in {}",
                self.test,
                if failed { "FAILED" } else { "finished" },
                self.artefacts.display()
            );
        } else if let Err(e) = std::fs::remove_dir_all(&self.artefacts) {
            eprintln!(
                "bgpd-lab: could not remove {}: {e}",
                self.artefacts.display()
            );
        }
    }
}

//! DOC: the bridge to bgp-fib's FIB thread (`bgp_fib::spawn`: desired state, netlink batches,
//! coalescing per prefix, reconcile scans, monitor) and the kernel form of a Loc-RIB route:
//! Calico pools decide IP-in-IP (`via NH dev tunl0 onlink`), cross-subnet (direct when the
//! next hop is inside a local on-link subnet), plain `via NH`, or nothing (VXLAN pools);
//! blackhole blocks become `blackhole` routes (host-length ones are skipped, as Calico does);
//! kernel-learned and direct routes are never written back.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use bgp_core::rib::{FibRoute as RibRoute, KernelTunnel, RouteType, SourceId, SourceKind};
use bgp_fib::{Device, FibConfig, FibEvent, FibSocket, NextHop, RouteKind};
use ipnet::IpNet;
use tokio::sync::mpsc;

use crate::config::{Config, IpipMode};

/// What the monitor told us about interfaces and addresses.
#[derive(Debug, Default, Clone)]
pub(crate) struct KernelView {
    pub links: HashMap<u32, String>,
    /// (on-link subnet, interface index, address).
    pub subnets: Vec<(IpNet, u32, IpAddr)>,
}

impl KernelView {
    /// The interface whose on-link subnet contains `gw`.
    pub fn onlink_iface(&self, gw: IpAddr) -> Option<u32> {
        self.subnets
            .iter()
            .filter(|(n, _, _)| n.contains(&gw) && n.prefix_len() < n.max_prefix_len())
            .max_by_key(|(n, _, _)| n.prefix_len())
            .map(|(_, i, _)| *i)
    }
}

/// Commands to the FIB thread.
enum FibCmd {
    Changes(Vec<bgp_fib::FibChange>),
    ReleaseStale,
    Shutdown,
}

/// Changes per hand-off to the FIB thread.
pub(crate) const FIB_CHUNK: usize = 16 * 1024;
/// Hand-offs queued for the FIB thread: beyond that the RIB keeps the changes (coalesced per
/// prefix in its own FIB queue) until the thread catches up, so memory stays bounded.
const FIB_DEPTH: usize = 4;
/// Refused routes `show fib` lists (all are counted).
const FAILURES_LISTED: usize = 1000;
/// Netlink batches sent between two looks at the command channel.
const BATCHES_PER_TURN: usize = 8;
/// Changes queued in bgp-fib beyond which the thread takes no further hand-off: the rest wait
/// in the RIB, coalesced per prefix in its bounded FIB queue (flags in its slots past that), so
/// a full-table load does not hold a second queue of the whole table here.
const MAX_QUEUED: usize = 4 * FIB_CHUNK;

/// The FIB thread (our loop around bgp-fib's sans-IO `Fib` and its `FibSocket`) and its
/// event stream. A bounded command channel gives the RIB task backpressure.
pub(crate) struct FibBridge {
    tx: Option<std::sync::mpsc::SyncSender<FibCmd>>,
    wake: std::os::fd::OwnedFd,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    pub events: mpsc::UnboundedReceiver<FibEvent>,
    pub table: u32,
}
/// bgp-fib settings from `[kernel]`.
pub(crate) fn fib_config(config: &Config) -> FibConfig {
    let k = &config.file.kernel;
    FibConfig {
        protocol: k.protocol.get_ref().resolve().unwrap_or(12),
        tables: vec![k.table],
        learn_tables: vec![k.table],
        learn: k.learn || config.file.direct.is_some() || !config.file.pools.is_empty(),
        learn_kernel_routes: false,
        scan_interval: std::time::Duration::from_secs(*k.scan_interval.get_ref()),
        flush_on_shutdown: !k.persist,
        families: fib_families(config),
        ..FibConfig::default()
    }
}

/// The families whose kernel routes are ours: one when the daemon handles one (`bird` and
/// `bird6` side by side share the protocol number), else both.
fn fib_families(config: &Config) -> bgp_fib::FibFamilies {
    match config.family {
        Some(crate::config::FamilyName::Ipv4) => bgp_fib::FibFamilies {
            ipv4: true,
            ipv6: false,
        },
        Some(crate::config::FamilyName::Ipv6) => bgp_fib::FibFamilies {
            ipv4: false,
            ipv6: true,
        },
        None => bgp_fib::FibFamilies::BOTH,
    }
}

/// Whether the kernel already holds routes of our protocol in our table (a restart).
pub(crate) fn kernel_has_our_routes(config: &Config) -> bool {
    let cfg = fib_config(config);
    match FibSocket::open(false).and_then(|mut s| s.dump_routes()) {
        Ok(routes) => routes.iter().any(|r| {
            r.protocol == cfg.protocol
                && r.table == config.file.kernel.table
                && cfg.families.contains(&r.prefix)
        }),
        Err(e) => {
            tracing::warn!("cannot dump the kernel routes: {e}");
            false
        }
    }
}

impl FibBridge {
    /// Starts the FIB thread; `adopt`: keep our routes found in the kernel until released.
    pub fn start(
        config: &Config,
        adopt: bool,
        shared: std::sync::Arc<super::Shared>,
    ) -> io::Result<FibBridge> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let cfg = fib_config(config);
        let sock = FibSocket::open(true)?;
        if let Err(e) = sock.ignore_own_route_notifications(cfg.protocol) {
            tracing::warn!("cannot filter our own route notifications: {e}");
        }
        // SAFETY: plain eventfd creation; the fd is owned below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own.
        let wake = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let wake_fd = wake.as_raw_fd();
        let (tx, rx) = std::sync::mpsc::sync_channel(FIB_DEPTH);
        let (etx, erx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("bgpd-fib".into())
            .spawn(move || fib_thread(cfg, adopt, sock, rx, wake_fd, etx, shared))?;
        Ok(FibBridge {
            tx: Some(tx),
            wake,
            thread: Some(thread),
            events: erx,
            table: config.file.kernel.table,
        })
    }

    fn wake(&self) {
        use std::os::fd::AsRawFd;
        let one: u64 = 1;
        // SAFETY: writes 8 bytes to our eventfd.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            );
        }
    }

    /// Hands changes to the FIB thread; gives them back when it is behind.
    pub fn try_send(
        &self,
        changes: Vec<bgp_fib::FibChange>,
    ) -> Result<(), Vec<bgp_fib::FibChange>> {
        if changes.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else { return Ok(()) };
        match tx.try_send(FibCmd::Changes(changes)) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(std::sync::mpsc::TrySendError::Full(FibCmd::Changes(c))) => Err(c),
            Err(_) => {
                tracing::error!("FIB thread ended");
                Ok(())
            }
        }
    }

    pub fn release_stale(&self) {
        if let Some(tx) = &self.tx {
            let tx = tx.clone();
            // Never blocks the runtime: a full channel drains within milliseconds.
            std::thread::spawn(move || {
                let _ = tx.send(FibCmd::ReleaseStale);
            });
            self.wake();
        }
    }

    /// Stops the thread (flushing our routes unless `persist`), without blocking the runtime.
    pub async fn shutdown(&mut self) {
        let tx = self.tx.take();
        let t = self.thread.take();
        let wake = self.wake.try_clone().ok();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(tx) = tx {
                let _ = tx.send(FibCmd::Shutdown);
            }
            if let Some(w) = wake {
                use std::os::fd::AsRawFd;
                let one: u64 = 1;
                // SAFETY: as in `wake`.
                unsafe {
                    libc::write(w.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8);
                }
            }
            if let Some(t) = t {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The FIB thread: commands in (bounded), at most [`BATCHES_PER_TURN`] netlink batches between
/// two looks at them, events out.
fn fib_thread(
    cfg: FibConfig,
    adopt: bool,
    mut sock: FibSocket,
    rx: std::sync::mpsc::Receiver<FibCmd>,
    wake: std::os::fd::RawFd,
    events: mpsc::UnboundedSender<FibEvent>,
    shared: std::sync::Arc<super::Shared>,
) -> io::Result<()> {
    use std::sync::mpsc::TryRecvError;
    use std::time::{Duration, Instant};
    let mut fib = bgp_fib::Fib::new(cfg, adopt);
    let mut stopping = false;
    let mut failed_listed = 0;
    let mut tx = Vec::new();
    loop {
        let now = Instant::now();
        // Commands wait too while the queue is full (a shutdown or release only after the
        // changes before it, which is their order anyway).
        while fib.pending() < MAX_QUEUED {
            match rx.try_recv() {
                Ok(FibCmd::Changes(v)) => v.into_iter().for_each(|c| fib.apply(c)),
                Ok(FibCmd::ReleaseStale) => fib.release_stale(now),
                Ok(FibCmd::Shutdown) | Err(TryRecvError::Disconnected) => {
                    if !stopping {
                        stopping = true;
                        fib.shutdown();
                    }
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        fib.handle_timeout(now);
        sock.read_notifications(&mut fib, now)?;
        sock.read_replies(&mut fib, now)?;
        let mut more = false;
        for _ in 0..BATCHES_PER_TURN {
            tx.clear();
            more = fib.poll_transmit(&mut tx);
            if !more {
                break;
            }
            let sent = Instant::now();
            sock.send_batch(&tx)?;
            sock.read_replies(&mut fib, now)?;
            shared.stats.netlink_batch(sent.elapsed());
        }
        let pending = fib.pending();
        // Installed: desired, sent, and not refused by the kernel.
        let installed = fib.len().saturating_sub(pending + fib.failed());
        shared.stats.fib_state(installed, pending);
        let mut outcomes = false;
        while let Some(ev) = fib.poll_event() {
            outcomes |= matches!(ev, FibEvent::Outcome { .. });
            let _ = events.send(ev);
        }
        // The refused routes, listed for `show fib` and counted for the metrics, whenever
        // they change (an outcome, or a failed route no longer wanted).
        if outcomes || fib.failed() != failed_listed {
            failed_listed = fib.failed();
            *super::lock(&shared.fib_failures) = fib.failures(FAILURES_LISTED);
            super::lock(&shared.fib_counts).failed = failed_listed as u64;
            shared.stats.fib_failed(failed_listed);
        }
        if stopping && fib.is_idle() {
            return Ok(());
        }
        if more {
            continue;
        }
        let mut fds = vec![sock.request_fd(), wake];
        fds.extend(sock.monitor_fd());
        let timeout = fib
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(1))
            // At least one turn a second: the systemd watchdog counts turns (`notify.rs`).
            .min(Duration::from_secs(1));
        bgp_fib::socket::wait_readable(&fds, Some(timeout))?;
        let mut drain = [0u8; 8];
        // SAFETY: reads 8 bytes from our non-blocking eventfd into a local buffer.
        unsafe {
            libc::read(wake, drain.as_mut_ptr() as *mut libc::c_void, 8);
        }
    }
}

/// The kernel route for a Loc-RIB route, or `None` when we must not hold one for the prefix.
/// `direct`: the peers in BIRD's `gateway direct` mode, with their addresses: a next hop of
/// theirs that is not on a connected network is replaced by the peer's address (BIRD 1.6's
/// `bgp_set_next_hop`).
pub(crate) fn kernel_route(
    config: &Config,
    view: &KernelView,
    direct: &[(SourceId, IpAddr)],
    prefix: IpNet,
    r: &RibRoute,
) -> Option<bgp_fib::FibRoute> {
    let k = &config.file.kernel;
    if matches!(r.source, SourceKind::Kernel | SourceKind::Direct) {
        return None;
    }
    let kind = match r.route_type {
        RouteType::Blackhole => {
            // Calico skips /32 (/128) blocks: the CNI owns the host route.
            if prefix.prefix_len() == prefix.max_prefix_len() {
                return None;
            }
            RouteKind::Blackhole
        }
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Unicast => {
            let pool = config
                .file
                .pools
                .iter()
                .filter(|p| p.cidr.get_ref().contains(&prefix))
                .max_by_key(|p| p.cidr.get_ref().prefix_len());
            if pool.is_some_and(|p| p.vxlan) {
                return None;
            }
            let mode = if r.source == SourceKind::Bgp {
                pool.map_or(IpipMode::Never, |p| p.ipip)
            } else {
                IpipMode::Never
            };
            let tunnel = Device::Name(k.tunnel_device.clone());
            let max = (*k.ecmp_max.get_ref()).max(1) as usize;
            let hops: Vec<NextHop> = r
                .next_hops
                .iter()
                .filter_map(|h| {
                    let mut gw = h.addr?;
                    if let Some((_, peer)) = direct.iter().find(|(s, _)| *s == h.source) {
                        if view.onlink_iface(gw).is_none() {
                            gw = *peer;
                        }
                    }
                    let direct = || NextHop {
                        gateway: gw,
                        device: view.onlink_iface(gw).map(Device::Index),
                        onlink: false,
                        weight: 1,
                    };
                    Some(match &h.tunnel {
                        Some(KernelTunnel::Dev(d)) => {
                            NextHop::onlink(gw, Device::Name(d.to_string()))
                        }
                        Some(KernelTunnel::Direct) => direct(),
                        None => match mode {
                            IpipMode::Always => NextHop::onlink(gw, tunnel.clone()),
                            IpipMode::CrossSubnet => match view.onlink_iface(gw) {
                                Some(i) => NextHop::via(gw, Device::Index(i)),
                                None => NextHop::onlink(gw, tunnel.clone()),
                            },
                            // The interface when the gateway is on a local subnet (as BIRD
                            // installs it); else the kernel resolves it.
                            IpipMode::Never => direct(),
                        },
                    })
                })
                .fold(Vec::<NextHop>::new(), |mut v, h| {
                    // Paths via several reflectors share a next hop: one kernel next hop each.
                    if v.len() < max
                        && !v
                            .iter()
                            .any(|x| x.gateway == h.gateway && x.device == h.device)
                    {
                        v.push(h);
                    }
                    v
                });
            if hops.is_empty() {
                return None;
            }
            RouteKind::Unicast(hops)
        }
    };
    Some(bgp_fib::FibRoute {
        prefix,
        kind,
        metric: r.krt_metric.unwrap_or(k.metric),
        table: k.table,
    })
}

#[cfg(test)]
mod tests {
    use bgp_core::rib::{FibNextHop, SourceId};

    use super::*;

    fn cfg() -> Config {
        Config::parse(
            r#"
router_id = "10.0.0.1"
asn = 64512
[[pools]]
cidr = "10.244.0.0/16"
ipip = "cross-subnet"
[[pools]]
cidr = "10.96.0.0/16"
ipip = "always"
[[pools]]
cidr = "10.250.0.0/16"
vxlan = true
"#,
            "t",
        )
        .unwrap()
    }

    fn bgp(nh: &str, tunnel: Option<KernelTunnel>) -> RibRoute {
        RibRoute {
            source: SourceKind::Bgp,
            route_type: RouteType::Unicast,
            next_hops: vec![FibNextHop {
                addr: Some(nh.parse().unwrap()),
                tunnel,
                source: SourceId(3),
            }],
            ifname: None,
            krt_metric: None,
            local_pref: 100,
        }
    }

    fn view() -> KernelView {
        KernelView {
            links: [(2, "eth0".to_string())].into(),
            subnets: vec![(
                "172.31.0.0/24".parse().unwrap(),
                2,
                "172.31.0.11".parse().unwrap(),
            )],
        }
    }

    fn hop(r: Option<bgp_fib::FibRoute>) -> NextHop {
        match r.unwrap().kind {
            RouteKind::Unicast(h) => h[0].clone(),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn calico_pool_forms() {
        let (c, v) = (cfg(), view());
        let tunl0 = Device::Name("tunl0".into());
        // cross-subnet: on-link next hop → direct on its interface; off-link → tunnel.
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "10.244.3.0/26".parse().unwrap(),
            &bgp("172.31.0.13", None),
        ));
        assert_eq!(
            h,
            NextHop::via("172.31.0.13".parse().unwrap(), Device::Index(2))
        );
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "10.244.3.0/26".parse().unwrap(),
            &bgp("192.168.9.9", None),
        ));
        assert_eq!(
            h,
            NextHop::onlink("192.168.9.9".parse().unwrap(), tunl0.clone())
        );
        // always: the tunnel even on-link.
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "10.96.3.0/26".parse().unwrap(),
            &bgp("172.31.0.13", None),
        ));
        assert_eq!(h, NextHop::onlink("172.31.0.13".parse().unwrap(), tunl0));
        // outside every pool: plain via, on the interface of the gateway's subnet if local,
        // else the kernel resolves the device.
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "192.0.2.0/24".parse().unwrap(),
            &bgp("172.31.0.13", None),
        ));
        assert_eq!((h.device, h.onlink), (Some(Device::Index(2)), false));
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "192.0.2.0/24".parse().unwrap(),
            &bgp("192.168.7.7", None),
        ));
        assert_eq!((h.device, h.onlink), (None, false));
        // policy's krt_tunnel wins over the pool.
        let h = hop(kernel_route(
            &c,
            &v,
            &[],
            "10.96.3.0/26".parse().unwrap(),
            &bgp("172.31.0.13", Some(KernelTunnel::Direct)),
        ));
        assert_eq!(h.device, Some(Device::Index(2)));
        // VXLAN pools are not programmed.
        assert!(kernel_route(
            &c,
            &v,
            &[],
            "10.250.1.0/26".parse().unwrap(),
            &bgp("172.31.0.13", None)
        )
        .is_none());
    }

    #[test]
    fn blackholes_and_local_sources() {
        let (c, v) = (cfg(), view());
        let mut r = bgp("172.31.0.13", None);
        r.source = SourceKind::Static;
        r.route_type = RouteType::Blackhole;
        r.next_hops.clear();
        let k = kernel_route(&c, &v, &[], "10.244.1.0/26".parse().unwrap(), &r).unwrap();
        assert_eq!((k.kind, k.metric, k.table), (RouteKind::Blackhole, 32, 254));
        assert!(
            kernel_route(&c, &v, &[], "10.244.1.7/32".parse().unwrap(), &r).is_none(),
            "Calico skips /32 blocks"
        );
        r.source = SourceKind::Kernel;
        assert!(kernel_route(&c, &v, &[], "10.244.1.0/26".parse().unwrap(), &r).is_none());
    }

    #[test]
    fn gateway_direct_uses_the_peer_when_the_next_hop_is_not_connected() {
        let (c, v) = (cfg(), view());
        let direct = [(SourceId(3), "172.31.0.13".parse().unwrap())];
        let prefix: IpNet = "192.0.2.0/24".parse().unwrap();
        // Not on a connected network: the peer's address, on its interface.
        let h = hop(kernel_route(
            &c,
            &v,
            &direct,
            prefix,
            &bgp("198.51.100.9", None),
        ));
        assert_eq!(
            h,
            NextHop::via("172.31.0.13".parse().unwrap(), Device::Index(2))
        );
        // On a connected network: used as is.
        let h = hop(kernel_route(
            &c,
            &v,
            &direct,
            prefix,
            &bgp("172.31.0.20", None),
        ));
        assert_eq!(
            h,
            NextHop::via("172.31.0.20".parse().unwrap(), Device::Index(2))
        );
        // Another source (recursive mode): the next hop as is, the kernel resolves it.
        let other = [(SourceId(4), "172.31.0.14".parse().unwrap())];
        let h = hop(kernel_route(
            &c,
            &v,
            &other,
            prefix,
            &bgp("198.51.100.9", None),
        ));
        assert_eq!(
            (h.gateway, h.device),
            ("198.51.100.9".parse().unwrap(), None)
        );
    }
}

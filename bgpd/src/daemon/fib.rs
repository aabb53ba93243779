//! DOC: the bridge to bgp-fib's FIB thread (`bgp_fib::spawn`: desired state, netlink batches,
//! coalescing per prefix, reconcile scans, monitor) and the kernel form of a Loc-RIB route:
//! Calico pools decide IP-in-IP (`via NH dev tunl0 onlink`), cross-subnet (direct when the
//! next hop is inside a local on-link subnet), plain `via NH`, or nothing (VXLAN pools);
//! blackhole blocks become `blackhole` routes (host-length ones are skipped, as Calico does);
//! kernel-learned and direct routes are never written back.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use bgp_core::rib::{FibRoute as RibRoute, KernelTunnel, RouteType, SourceKind};
use bgp_fib::{Device, FibCommand, FibConfig, FibEvent, FibHandle, FibSocket, NextHop, RouteKind};
use ipnet::IpNet;
use tokio::sync::mpsc;

use crate::config::{Config, IpipMode};

/// What the monitor told us about interfaces and addresses.
#[derive(Debug, Default)]
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

/// The FIB thread and its event stream.
pub(crate) struct FibBridge {
    pub handle: Option<FibHandle>,
    pub events: mpsc::UnboundedReceiver<FibEvent>,
    pub table: u32,
    pub metric: u32,
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
        ..FibConfig::default()
    }
}

/// Whether the kernel already holds routes of our protocol in our table (a restart).
pub(crate) fn kernel_has_our_routes(config: &Config) -> bool {
    let cfg = fib_config(config);
    match FibSocket::open(false).and_then(|mut s| s.dump_routes()) {
        Ok(routes) => routes
            .iter()
            .any(|r| r.protocol == cfg.protocol && r.table == config.file.kernel.table),
        Err(e) => {
            tracing::warn!("cannot dump the kernel routes: {e}");
            false
        }
    }
}

impl FibBridge {
    /// Starts the FIB thread; `adopt`: keep our routes found in the kernel until released.
    pub fn start(config: &Config, adopt: bool) -> io::Result<FibBridge> {
        let cfg = fib_config(config);
        let sock = FibSocket::open(true)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = bgp_fib::spawn(cfg, adopt, sock, move |ev| {
            let _ = tx.send(ev);
        })?;
        Ok(FibBridge {
            handle: Some(handle),
            events: rx,
            table: config.file.kernel.table,
            metric: config.file.kernel.metric,
        })
    }

    pub fn send(&self, changes: Vec<bgp_fib::FibChange>) {
        if changes.is_empty() {
            return;
        }
        if let Some(h) = &self.handle {
            if let Err(e) = h.send(FibCommand::Changes(changes)) {
                tracing::error!("FIB thread: {e}");
            }
        }
    }

    pub fn release_stale(&self) {
        if let Some(h) = &self.handle {
            let _ = h.send(FibCommand::ReleaseStale);
        }
    }

    /// Stops the thread (flushing our routes unless `persist`), without blocking the runtime.
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = tokio::task::spawn_blocking(move || h.shutdown()).await;
        }
    }
}

/// The kernel route for a Loc-RIB route, or `None` when we must not hold one for the prefix.
pub(crate) fn kernel_route(
    config: &Config,
    view: &KernelView,
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
                    let gw = h.addr?;
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
                            IpipMode::Never => NextHop {
                                gateway: gw,
                                device: None,
                                onlink: false,
                                weight: 1,
                            },
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
            "10.96.3.0/26".parse().unwrap(),
            &bgp("172.31.0.13", None),
        ));
        assert_eq!(h, NextHop::onlink("172.31.0.13".parse().unwrap(), tunl0));
        // outside every pool: plain via, the kernel picks the device.
        let h = hop(kernel_route(
            &c,
            &v,
            "192.0.2.0/24".parse().unwrap(),
            &bgp("172.31.0.13", None),
        ));
        assert_eq!((h.device, h.onlink), (None, false));
        // policy's krt_tunnel wins over the pool.
        let h = hop(kernel_route(
            &c,
            &v,
            "10.96.3.0/26".parse().unwrap(),
            &bgp("172.31.0.13", Some(KernelTunnel::Direct)),
        ));
        assert_eq!(h.device, Some(Device::Index(2)));
        // VXLAN pools are not programmed.
        assert!(kernel_route(
            &c,
            &v,
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
        let k = kernel_route(&c, &v, "10.244.1.0/26".parse().unwrap(), &r).unwrap();
        assert_eq!((k.kind, k.metric, k.table), (RouteKind::Blackhole, 32, 254));
        assert!(
            kernel_route(&c, &v, "10.244.1.7/32".parse().unwrap(), &r).is_none(),
            "Calico skips /32 blocks"
        );
        r.source = SourceKind::Kernel;
        assert!(kernel_route(&c, &v, "10.244.1.0/26".parse().unwrap(), &r).is_none());
    }
}

//! DOC: the daemon's side of bgp-fib's FIB thread (`bgp_fib::spawn`: desired state, intent
//! resolution against the links and on-link subnets it tracks, netlink batches, coalescing per
//! prefix, reconcile scans, monitor): started with bgpd-config's `Config::fib_config`, what it
//! reports (events to the RIB task, the kernel view for `show route`, metrics and refused
//! routes for `show fib`), and a Loc-RIB route as an intent. Kernel-learned and direct routes
//! are never written back.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgp_core::rib::{
    FibRoute as RibRoute, KernelTunnel, RouteType, SourceId, SourceKind, FIB_TAG_MAX,
};
use bgp_fib::{
    DesiredTags, FailedRoute, FibEvent, FibHandle, FibObserver, FibSocket, IntentHop, IntentKind,
    KernelView, Pool, Reach, RouteIntent, TagTable,
};
use ipnet::IpNet;
use tokio::sync::mpsc;

use super::{lock, Shared};
use crate::config::Config;

pub(crate) use bgp_fib::thread::HANDOFF_CHUNK as FIB_CHUNK;

/// The FIB thread's handle and its event stream.
pub(crate) struct FibBridge {
    handle: Option<FibHandle>,
    pub events: mpsc::UnboundedReceiver<FibEvent>,
    /// The IP pools bgp-fib resolves with.
    pools: Vec<Pool>,
    /// Tagged mode (bgp-fib keeps no copy of the table): the kernel intents by tag; each
    /// prefix's tag is kept in the RIB.
    pub tags: TagTable,
    /// Tagged changes made (counted under the RIB lock, so an answer from the RIB and this
    /// count agree).
    made: Arc<AtomicU64>,
    /// Hand every prefix over even with its tag unchanged (a `Resync` until the RIB's FIB
    /// queue is empty).
    pub force: bool,
}

/// The FIB thread's questions about a prefix's tag, answered from the RIB.
struct Answers {
    shared: Arc<Shared>,
    made: Arc<AtomicU64>,
}

impl DesiredTags for Answers {
    fn tag(&self, prefix: &IpNet, applied: u64) -> Option<u32> {
        let rib = lock(&self.shared.rib);
        (self.made.load(Ordering::SeqCst) == applied).then(|| rib.fib_tag(prefix))
    }
}

/// Whether the kernel already holds routes of our protocol in our table (a restart).
pub(crate) fn kernel_has_our_routes(config: &Config) -> bool {
    let cfg = config.fib_config();
    match FibSocket::open(false)
        .map_err(bgp_fib::DumpError::from)
        .and_then(|mut s| s.dump_routes())
    {
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

/// Where the FIB thread's reports go.
struct Observer {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<FibEvent>,
}

impl FibObserver for Observer {
    fn event(&mut self, ev: FibEvent) {
        let _ = self.events.send(ev);
    }

    fn view(&mut self, view: Arc<KernelView>) {
        *lock(&self.shared.kernel_view) = view;
    }

    fn batch_sent(&mut self, took: Duration) {
        self.shared.stats.netlink_batch(took);
    }

    fn turn(&mut self, installed: usize, pending: usize) {
        self.shared.stats.fib_state(installed, pending);
    }

    fn stats(&mut self, stats: bgp_fib::FibStats) {
        self.shared.stats.fib_kernel_stats(stats.into());
    }

    fn failures(&mut self, count: usize, listed: Vec<FailedRoute>) {
        *lock(&self.shared.fib_failures) = listed;
        lock(&self.shared.fib_counts).failed = count as u64;
        self.shared.stats.fib_failed(count);
    }
}

impl FibBridge {
    /// Starts the FIB thread; `adopt`: keep our routes found in the kernel until released.
    pub fn start(config: &Config, adopt: bool, shared: Arc<Shared>) -> io::Result<FibBridge> {
        let (tx, events) = mpsc::unbounded_channel();
        let made = Arc::new(AtomicU64::new(0));
        let answers = Box::new(Answers {
            shared: Arc::clone(&shared),
            made: Arc::clone(&made),
        });
        let observer = Observer { shared, events: tx };
        let cfg = config.fib_config();
        let pools = cfg.routes.pools.clone();
        let tags = TagTable::new(cfg.routes.clone(), FIB_TAG_MAX);
        let handle = bgp_fib::spawn_tagged(cfg, adopt, FibSocket::open(true)?, observer, answers)?;
        Ok(FibBridge {
            handle: Some(handle),
            events,
            pools,
            tags,
            made,
            force: false,
        })
    }

    /// One Loc-RIB change as the FIB's: called by `Rib::poll_fib_change_tagged` with the
    /// prefix's tag, under the RIB lock; returns the new tag.
    pub fn change(
        &mut self,
        direct: &[(SourceId, IpAddr)],
        c: &bgp_core::rib::FibChange,
        old: u32,
        out: &mut Vec<bgp_fib::FibChange>,
    ) -> u32 {
        let intent = c.route.as_ref().and_then(|r| intent(direct, c.prefix, r));
        let before = out.len();
        let new = self.tags.change(c.prefix, old, intent, self.force, out);
        let made = out.get(before..).map_or(0, |v| {
            v.iter()
                .filter(|c| matches!(c, bgp_fib::FibChange::Tagged { .. }))
                .count()
        });
        self.made.fetch_add(made as u64, Ordering::SeqCst);
        new
    }

    /// Hands changes to the FIB thread; gives them back when it is behind.
    pub fn try_send(
        &self,
        changes: Vec<bgp_fib::FibChange>,
    ) -> Result<(), Vec<bgp_fib::FibChange>> {
        match &self.handle {
            Some(h) => h.try_send(changes),
            None => Ok(()),
        }
    }

    pub fn release_stale(&self) {
        if let Some(h) = &self.handle {
            h.release_stale();
        }
    }

    /// The IP pools of a reloaded config, for the intents handed over from now on; true when
    /// they changed (then every prefix must be handed over again).
    pub fn set_pools(&mut self, config: &Config) -> bool {
        let new = config.fib_pools();
        if new == self.pools {
            return false;
        }
        if let Some(h) = &self.handle {
            h.set_pools(new.clone());
        }
        self.tags.set_pools(new.clone());
        self.pools = new;
        true
    }

    /// Stops the thread (flushing our routes unless `persist`), without blocking the runtime.
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = tokio::task::spawn_blocking(move || h.shutdown()).await;
        }
    }
}

/// The kernel intent for a Loc-RIB route, or `None` when we must not hold one for the prefix.
/// `direct`: the peers in BIRD's `gateway direct` mode, with their addresses. A BGP next hop
/// without `krt_tunnel` is reached as the IP pools say; any other directly.
pub(crate) fn intent(
    direct: &[(SourceId, IpAddr)],
    prefix: IpNet,
    r: &RibRoute,
) -> Option<RouteIntent> {
    if matches!(r.source, SourceKind::Kernel | SourceKind::Direct) {
        return None;
    }
    let kind = match r.route_type {
        RouteType::Blackhole => IntentKind::Blackhole,
        RouteType::Unreachable => IntentKind::Unreachable,
        RouteType::Prohibit => IntentKind::Prohibit,
        RouteType::Unicast => IntentKind::Unicast(
            r.next_hops
                .iter()
                .filter_map(|h| {
                    Some(IntentHop {
                        gateway: h.addr?,
                        reach: match &h.tunnel {
                            Some(KernelTunnel::Dev(d)) => Reach::Tunnel(Arc::clone(d)),
                            Some(KernelTunnel::Direct) => Reach::Direct,
                            None if r.source == SourceKind::Bgp => Reach::Pool,
                            None => Reach::Direct,
                        },
                        peer: direct.iter().find(|(s, _)| *s == h.source).map(|(_, a)| *a),
                    })
                })
                .collect(),
        ),
    };
    Some(RouteIntent {
        prefix,
        kind,
        metric: r.krt_metric,
    })
}

#[cfg(test)]
mod tests {
    use bgp_core::rib::FibNextHop;

    use super::*;

    fn route(source: SourceKind, tunnel: Option<KernelTunnel>) -> RibRoute {
        RibRoute {
            source,
            route_type: RouteType::Unicast,
            next_hops: vec![FibNextHop {
                addr: Some("172.31.0.13".parse().unwrap()),
                tunnel,
                source: SourceId(3),
            }],
            ifname: None,
            krt_metric: Some(5),
            local_pref: 100,
        }
    }

    fn reach(i: Option<RouteIntent>) -> (Reach, Option<IpAddr>) {
        match i.unwrap().kind {
            IntentKind::Unicast(h) => (h[0].reach.clone(), h[0].peer),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn rib_routes_as_intents() {
        let p: IpNet = "10.244.3.0/26".parse().unwrap();
        let i = intent(&[], p, &route(SourceKind::Bgp, None)).unwrap();
        assert_eq!(i.metric, Some(5));
        assert_eq!(reach(Some(i)), (Reach::Pool, None));
        // Static routes are not subject to the pools; krt_tunnel wins.
        let r = intent(&[], p, &route(SourceKind::Static, None));
        assert_eq!(reach(r).0, Reach::Direct);
        let r = intent(&[], p, &route(SourceKind::Bgp, Some(KernelTunnel::Direct)));
        assert_eq!(reach(r).0, Reach::Direct);
        let r = intent(
            &[],
            p,
            &route(SourceKind::Bgp, Some(KernelTunnel::Dev("wg0".into()))),
        );
        assert_eq!(reach(r).0, Reach::Tunnel("wg0".into()));
        // gateway direct peers: their address goes along.
        let peer: IpAddr = "172.31.0.1".parse().unwrap();
        let r = intent(&[(SourceId(3), peer)], p, &route(SourceKind::Bgp, None));
        assert_eq!(reach(r).1, Some(peer));
        // Kernel-learned and direct routes are never written back.
        assert!(intent(&[], p, &route(SourceKind::Kernel, None)).is_none());
        assert!(intent(&[], p, &route(SourceKind::Direct, None)).is_none());
        let mut b = route(SourceKind::Static, None);
        b.route_type = RouteType::Blackhole;
        assert_eq!(intent(&[], p, &b).unwrap().kind, IntentKind::Blackhole);
    }
}

//! DOC: the Loc-RIB as bgp-fib takes it, and bgp-fib's events as the RIB takes them. A
//! Loc-RIB route as a kernel intent ([`intent`]); the tagged hand-off's state
//! ([`KernelSync`]: the intents by tag, the pools they resolve with, the forced hand-over of
//! every prefix after a `Resync`, the count of tagged changes the FIB thread checks the
//! RIB's answers against); kernel-learned and `direct` routes from the FIB thread's events
//! ([`Config::learn`]); which kernel routes are ours ([`Config::owns_kernel_route`]) and the
//! graceful-restart recovery they start ([`Config::recovery`]). This
//! crate sees bgp-core, bgp-fib and the configuration at once; the daemon's RIB task only
//! moves these values between the RIB lock and the FIB thread. Kernel-learned and direct
//! routes are never written back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bgp_core::restart::Recovery;

use bgp_core::rib::{FibRoute, KernelTunnel, LocalRoute, Rib, RouteType, SourceKind, FIB_TAG_MAX};
use bgp_fib::{
    wire::KernelRoute, DesiredTags, FibChange, FibEvent, IntentHop, IntentKind, KernelView,
    LearnedKind, Pool, Reach, RouteIntent, TagTable,
};
use ipnet::IpNet;

use super::Config;

/// The kernel intent for a Loc-RIB route, or `None` when we must not hold one for the prefix.
/// A BGP next hop without `krt_tunnel` is reached as the IP pools say; any other directly; a
/// hop of a peer in BIRD's `gateway direct` mode carries the peer's address.
pub fn intent(prefix: IpNet, r: &FibRoute) -> Option<RouteIntent> {
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
                        peer: h.neighbor,
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

/// The RIB's side of bgp-fib's tagged mode (bgp-fib keeps no copy of the table): the kernel
/// intents by tag (each prefix's tag is kept in the RIB), the pools they resolve with, and
/// the count of tagged changes made, which the FIB thread compares with what it applied
/// before it trusts the RIB's answer about a prefix's tag.
pub struct KernelSync {
    pools: Vec<Pool>,
    tags: TagTable,
    made: Arc<AtomicU64>,
    force: bool,
}

impl KernelSync {
    /// The state for `config`'s kernel settings.
    pub fn new(config: &Config) -> KernelSync {
        let routes = config.fib_config().routes;
        KernelSync {
            pools: routes.pools.clone(),
            tags: TagTable::new(routes, FIB_TAG_MAX),
            made: Arc::new(AtomicU64::new(0)),
            force: false,
        }
    }

    /// What answers the FIB thread's questions about a prefix's tag (`bgp_fib::DesiredTags`)
    /// from the shared RIB: the tag it keeps, provided the count of tagged changes made
    /// (incremented under the RIB lock, so an answer and the count agree) is the FIB's
    /// `applied`; `None` while the RIB is ahead of the FIB.
    pub fn answers(&self, rib: Arc<Mutex<Rib>>) -> Box<dyn DesiredTags> {
        let made = Arc::clone(&self.made);
        Box::new(Answers { rib, made })
    }

    /// One Loc-RIB change as the FIB's: called by `Rib::poll_fib_change_tagged` with the
    /// prefix's tag `old`, under the RIB lock; pushes what to hand over to `out` and returns
    /// the new tag.
    pub fn change(
        &mut self,
        c: &bgp_core::rib::FibChange,
        old: u32,
        out: &mut Vec<FibChange>,
    ) -> u32 {
        let intent = c.route.as_ref().and_then(|r| intent(c.prefix, r));
        let before = out.len();
        let new = self.tags.change(c.prefix, old, intent, self.force, out);
        let made = out.get(before..).map_or(0, |v| {
            v.iter()
                .filter(|c| matches!(c, FibChange::Tagged { .. }))
                .count()
        });
        self.made.fetch_add(made as u64, Ordering::SeqCst);
        new
    }

    /// Routes bgp-fib keeps no entry for are missing (or resolve differently): every prefix
    /// is handed over again, each tag written once more, until the RIB's FIB queue is empty.
    pub fn resync(&mut self, rib: &mut Rib) {
        rib.refresh_fib();
        self.force = true;
    }

    /// The RIB's next Loc-RIB change ([`Rib::poll_fib_change_tagged`] with
    /// [`KernelSync::change`]: what to hand over is pushed to `out`); `None` once the RIB's FIB
    /// queue is empty, and then every prefix was handed over (a resync is done).
    pub fn poll(
        &mut self,
        rib: &mut Rib,
        out: &mut Vec<FibChange>,
    ) -> Option<bgp_core::rib::FibChange> {
        let c = rib.poll_fib_change_tagged(|c, old| self.change(c, old, out));
        self.force &= c.is_some();
        c.map(|(c, _, _)| c)
    }

    /// Whether every prefix is being handed over again (after [`KernelSync::resync`]).
    pub fn forcing(&self) -> bool {
        self.force
    }

    /// The IP pools of a reloaded config: `Some(pools)` (for the FIB thread) when they
    /// changed; then every prefix is handed over again, resolved with them.
    pub fn set_pools(&mut self, config: &Config, rib: &mut Rib) -> Option<Vec<Pool>> {
        let new = config.fib_pools();
        if new == self.pools {
            return None;
        }
        self.tags.set_pools(new.clone());
        self.pools = new.clone();
        rib.refresh_fib();
        Some(new)
    }
}

/// [`KernelSync::answers`].
struct Answers {
    rib: Arc<Mutex<Rib>>,
    made: Arc<AtomicU64>,
}

impl DesiredTags for Answers {
    fn tag(&self, prefix: &IpNet, applied: u64) -> Option<u32> {
        let rib = self.rib.lock().unwrap_or_else(PoisonError::into_inner);
        (self.made.load(Ordering::SeqCst) == applied).then(|| rib.fib_tag(prefix))
    }
}

impl Config {
    /// Our graceful-restart recovery (RFC 4724 §4.1: End-of-RIB from every peer awaited at
    /// most `[graceful_restart] wait_time`), begun at `now`: we restarted when the kernel
    /// holds our routes ([`Config::owns_kernel_route`]) or we are told so (`-R`).
    pub fn recovery(&self, now: Instant) -> Recovery {
        let wait = Duration::from_secs(u64::from(self.file.graceful_restart.wait_time));
        Recovery::new(now, wait, [])
    }

    /// Whether our shutdown sends every peer a Cease / Administrative Shutdown
    /// (`shutdown = "notify"`) rather than keeping their graceful-restart state.
    pub fn shutdown_notifies(&self) -> bool {
        self.file.shutdown == crate::ShutdownMode::Notify
    }

    /// Whether a route found in the kernel is one of ours (our protocol, table and
    /// families): found at start-up, it means we restarted.
    pub fn owns_kernel_route(&self, r: &KernelRoute) -> bool {
        let cfg = self.fib_config();
        r.protocol == cfg.protocol
            && r.table == self.file.kernel.table
            && cfg.families.contains(&r.prefix)
    }

    /// An event of the FIB thread into the RIB: learned kernel routes (`[kernel] learn`) and
    /// local addresses (`direct`); `view` names the interfaces. Gives back the events that
    /// are not about the RIB's routes (outcomes, reconciles, overruns, `Resync`: the FIB thread
    /// logged them), for the driver to act on.
    pub fn learn(&self, rib: &mut Rib, view: &KernelView, ev: FibEvent) -> Option<FibEvent> {
        let name = |i: &u32| view.links.get(i).map(|s| s.as_str().into());
        match ev {
            FibEvent::LearnedAdd(r) => {
                if self.file.kernel.learn {
                    let kind = match r.kind() {
                        LearnedKind::Blackhole => RouteType::Blackhole,
                        LearnedKind::Unreachable => RouteType::Unreachable,
                        LearnedKind::Prohibit => RouteType::Prohibit,
                        LearnedKind::Unicast => RouteType::Unicast,
                    };
                    let hops = r.nexthops.iter().map(|(g, i)| (*g, name(i))).collect();
                    let route =
                        LocalRoute::learned(kind, name(&r.ifindex), hops, r.key.metric, r.protocol);
                    rib.add_local(SourceKind::Kernel, r.key.prefix, route);
                }
            }
            FibEvent::LearnedRemove(k) => {
                if self.file.kernel.learn {
                    rib.remove_local(SourceKind::Kernel, k.prefix);
                }
            }
            FibEvent::Link { .. } | FibEvent::LinkRemoved { .. } => {}
            FibEvent::AddressAdd {
                ifindex,
                address,
                subnet,
            } => {
                if let (Some(d), Some(name)) = (&self.file.direct, view.links.get(&ifindex)) {
                    let route = d
                        .matches(name)
                        .then(|| LocalRoute::direct(address, name.as_str().into()));
                    if let Some(route) = route.flatten() {
                        rib.add_local(SourceKind::Direct, subnet, route);
                    }
                }
            }
            FibEvent::AddressRemove { subnet, .. } => {
                if self.file.direct.is_some() && !view.has_subnet(&subnet) {
                    rib.remove_local(SourceKind::Direct, subnet);
                }
            }
            ev @ (FibEvent::Outcome { .. }
            | FibEvent::Reconciled { .. }
            | FibEvent::Overrun
            | FibEvent::Resync) => return Some(ev),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use bgp_core::rib::FibNextHop;

    use super::*;
    use bgp_core::rib::SourceId;
    use std::net::IpAddr;

    fn route(source: SourceKind, tunnel: Option<KernelTunnel>) -> FibRoute {
        FibRoute {
            source,
            route_type: RouteType::Unicast,
            next_hops: vec![FibNextHop {
                addr: Some("172.31.0.13".parse().unwrap()),
                tunnel,
                source: SourceId(3),
                neighbor: None,
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
    fn recovery_shutdown_and_listen_settings() {
        let c = crate::test_config("[graceful_restart]\nwait_time = 30\n");
        assert_eq!(c.recovery(Instant::now()).wait(), Duration::from_secs(30));
        assert!(!crate::test_config("")
            .recovery(Instant::now())
            .wait()
            .is_zero());
        let n = crate::test_config("shutdown = \"notify\"\n");
        assert!(n.shutdown_notifies());
        let l = crate::test_config("[listen]\nport = 1790\n");
        assert!(c.listen_changed(&l) && !l.listen_changed(&l));
        assert!(!c.listen_changed(&n));
    }

    #[test]
    fn rib_routes_as_intents() {
        let p: IpNet = "10.244.3.0/26".parse().unwrap();
        let i = intent(p, &route(SourceKind::Bgp, None)).unwrap();
        assert_eq!(i.metric, Some(5));
        assert_eq!(reach(Some(i)), (Reach::Pool, None));
        // Static routes are not subject to the pools; krt_tunnel wins.
        let r = intent(p, &route(SourceKind::Static, None));
        assert_eq!(reach(r).0, Reach::Direct);
        let r = intent(p, &route(SourceKind::Bgp, Some(KernelTunnel::Direct)));
        assert_eq!(reach(r).0, Reach::Direct);
        let r = intent(
            p,
            &route(SourceKind::Bgp, Some(KernelTunnel::Dev("wg0".into()))),
        );
        assert_eq!(reach(r).0, Reach::Tunnel("wg0".into()));
        // gateway direct peers: their address goes along.
        let peer: IpAddr = "172.31.0.1".parse().unwrap();
        let mut r = route(SourceKind::Bgp, None);
        r.next_hops.iter_mut().for_each(|h| h.neighbor = Some(peer));
        assert_eq!(reach(intent(p, &r)).1, Some(peer));
        // Kernel-learned and direct routes are never written back.
        assert!(intent(p, &route(SourceKind::Kernel, None)).is_none());
        assert!(intent(p, &route(SourceKind::Direct, None)).is_none());
        let mut b = route(SourceKind::Static, None);
        b.route_type = RouteType::Blackhole;
        assert_eq!(intent(p, &b).unwrap().kind, IntentKind::Blackhole);
    }

    /// A configuration with a static route (10.1.0.0/16) and a pool, its RIB holding the
    /// static route, and a fresh hand-off.
    fn kernel_sync() -> (Config, Rib, KernelSync) {
        let c = crate::test_config(concat!(
            "[[static]]\nprefix = \"10.1.0.0/16\"\nvia = \"192.168.1.1\"\n",
            "[[pools]]\ncidr = \"10.244.0.0/16\"\nipip = \"always\"\n",
        ));
        let mut rib = c.new_rib();
        let mut statics = bgp_core::rib::Statics::default();
        statics.set_config(&mut rib, c.static_routes());
        let sync = KernelSync::new(&c);
        (c, rib, sync)
    }

    fn hand_over(sync: &mut KernelSync, rib: &mut Rib) -> Vec<FibChange> {
        let mut out = Vec::new();
        while sync.poll(rib, &mut out).is_some() {}
        out
    }

    #[test]
    fn the_tagged_hand_off_counts_forces_and_follows_the_pools() {
        let (c, mut rib, mut sync) = kernel_sync();
        let made = Arc::clone(&sync.made);
        let p: IpNet = "10.1.0.0/16".parse().unwrap();
        let out = hand_over(&mut sync, &mut rib);
        let tagged = |out: &[FibChange]| {
            out.iter()
                .filter_map(|c| match c {
                    FibChange::Tagged { prefix, old, new } => Some((*prefix, *old, *new)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let tag = rib.fib_tag(&p);
        assert_ne!(tag, 0);
        assert_eq!(tagged(&out), vec![(p, 0, tag)]);
        assert_eq!(made.load(Ordering::SeqCst), 1);
        // Nothing changed: nothing to hand over, until a Resync forces every prefix again.
        rib.refresh_fib();
        assert!(tagged(&hand_over(&mut sync, &mut rib)).is_empty());
        sync.resync(&mut rib);
        assert!(sync.forcing());
        let mut out = Vec::new();
        assert!(sync.poll(&mut rib, &mut out).is_some());
        assert!(sync.forcing(), "until the queue is empty");
        out.extend(hand_over(&mut sync, &mut rib));
        assert_eq!(tagged(&out), vec![(p, tag, tag)]);
        assert_eq!(made.load(Ordering::SeqCst), 2);
        assert!(!sync.forcing(), "every prefix was handed over");
        // The same pools change nothing; new ones go to the FIB thread.
        assert_eq!(sync.set_pools(&c, &mut rib), None);
        let c2 = crate::test_config("[[pools]]\ncidr = \"10.244.0.0/16\"\nipip = \"never\"\n");
        assert_eq!(sync.set_pools(&c2, &mut rib), Some(c2.fib_pools()));
    }

    #[test]
    fn the_rib_answers_the_fib_thread_only_when_the_fib_has_every_change_made() {
        let (_, mut rib, mut sync) = kernel_sync();
        let p: IpNet = "10.1.0.0/16".parse().unwrap();
        hand_over(&mut sync, &mut rib);
        let tag = rib.fib_tag(&p);
        let rib = Arc::new(Mutex::new(rib));
        let answers = sync.answers(Arc::clone(&rib));
        assert_eq!(answers.tag(&p, 1), Some(tag));
        assert_eq!(
            answers.tag(&p, 0),
            None,
            "the FIB has not taken the change yet"
        );
        let other: IpNet = "10.9.0.0/16".parse().unwrap();
        assert_eq!(answers.tag(&other, 1), Some(0), "no tag: no route");
    }

    #[test]
    fn learned_and_direct_routes_enter_the_rib() {
        let c = crate::test_config("[kernel]\nlearn = true\n[direct]\n");
        let mut rib = c.new_rib();
        let mut view = KernelView::default();
        view.links.insert(2, "eth0".into());
        view.links.insert(3, "cali123".into());
        let key = bgp_fib::RouteKey {
            table: 254,
            prefix: "10.9.0.0/16".parse().unwrap(),
            metric: 0,
        };
        let learned = bgp_fib::LearnedRoute {
            key,
            protocol: 4,
            route_type: 1,
            scope: 0,
            nexthops: vec![(Some("192.168.1.1".parse().unwrap()), 2)],
            ifindex: 2,
        };
        assert_eq!(
            c.learn(&mut rib, &view, FibEvent::LearnedAdd(learned)),
            None
        );
        let best = rib.best(&key.prefix).unwrap();
        assert_eq!(best.source_kind, SourceKind::Kernel);
        assert_eq!(c.learn(&mut rib, &view, FibEvent::LearnedRemove(key)), None);
        assert!(rib.best(&key.prefix).is_none());
        // Direct: an address of a matching interface brings its subnet, cali* none.
        let subnet: IpNet = "192.168.1.0/24".parse().unwrap();
        let add = |ifindex| FibEvent::AddressAdd {
            ifindex,
            address: "192.168.1.5".parse().unwrap(),
            subnet,
        };
        assert_eq!(c.learn(&mut rib, &view, add(3)), None);
        assert!(rib.best(&subnet).is_none());
        assert_eq!(c.learn(&mut rib, &view, add(2)), None);
        assert_eq!(rib.best(&subnet).unwrap().source_kind, SourceKind::Direct);
        // Gone only once no interface holds the subnet any more.
        let remove = FibEvent::AddressRemove {
            ifindex: 2,
            address: "192.168.1.5".parse().unwrap(),
            subnet,
        };
        view.subnets
            .push((subnet, 3, "192.168.1.6".parse().unwrap()));
        assert_eq!(c.learn(&mut rib, &view, remove.clone()), None);
        assert!(rib.best(&subnet).is_some());
        view.subnets.clear();
        assert_eq!(c.learn(&mut rib, &view, remove), None);
        assert!(rib.best(&subnet).is_none());
        // The rest is the driver's.
        assert_eq!(
            c.learn(&mut rib, &view, FibEvent::Resync),
            Some(FibEvent::Resync)
        );
        // Without `learn`, kernel routes stay out.
        let off = crate::test_config("");
        let mut rib = off.new_rib();
        let learned = bgp_fib::LearnedRoute {
            key,
            protocol: 4,
            route_type: 1,
            scope: 0,
            nexthops: vec![],
            ifindex: 2,
        };
        off.learn(&mut rib, &view, FibEvent::LearnedAdd(learned));
        assert!(rib.best(&key.prefix).is_none());
    }
}

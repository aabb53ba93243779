//! The resolution of intents (Calico pools, krt_tunnel, gateway direct, ECMP) and its redo
//! when an on-link subnet appears or goes.

use super::tests::start;
use super::*;
use crate::intent::*;
use crate::wire::{KernelAddress, KernelLink};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fib() -> Fib {
    let cfg = FibConfig {
        routes: RoutePolicy {
            pools: vec![
                Pool {
                    cidr: net("10.244.0.0/16"),
                    mode: PoolMode::IpipCrossSubnet,
                },
                Pool {
                    cidr: net("10.96.0.0/16"),
                    mode: PoolMode::IpipAlways,
                },
                Pool {
                    cidr: net("10.250.0.0/16"),
                    mode: PoolMode::Vxlan,
                },
            ],
            table: 254,
            metric: 32,
            ecmp_max: 2,
            skip_host_blackholes: true,
        },
        ..FibConfig::default()
    };
    let mut fib = Fib::new(cfg, false);
    let now = Instant::now();
    start(&mut fib, now, &[]);
    fib.link(
        now,
        true,
        KernelLink {
            index: 2,
            name: "eth0".into(),
            up: true,
            admin_up: true,
        },
    );
    add_address(&mut fib, true, "172.31.0.11", 24);
    fib
}

fn add_address(fib: &mut Fib, present: bool, a: &str, len: u8) {
    fib.address(
        present,
        KernelAddress {
            ifindex: 2,
            address: ip(a),
            prefix_len: len,
        },
    );
}

fn bgp(prefix: &str, hops: Vec<IntentHop>) -> FibChange {
    FibChange::Intent(RouteIntent {
        prefix: net(prefix),
        kind: IntentKind::Unicast(hops.into()),
        metric: None,
    })
}

/// What the FIB wants in the kernel for `prefix` (at any metric).
fn wanted(fib: &Fib, prefix: &str) -> Option<(u32, RouteKind)> {
    let p = net(prefix);
    fib.desired.iter().find_map(|(pk, e)| {
        let k = fib.tm.unpack(pk);
        (k.prefix == p && !e.doomed())
            .then(|| (k.metric, fib.public_kind(fib.target_of(e).unwrap())))
    })
}

fn hop(fib: &Fib, prefix: &str) -> NextHop {
    match wanted(fib, prefix).unwrap().1 {
        RouteKind::Unicast(h) => h[0].clone(),
        k => panic!("{k:?}"),
    }
}

#[test]
fn calico_pool_forms() {
    let mut f = fib();
    let tunl0 = Device::Name("tunl0".into());
    // cross-subnet: on-link next hop → direct on its interface; off-link → tunnel.
    f.apply(bgp(
        "10.244.3.0/26",
        vec![IntentHop::pool(ip("172.31.0.13"))],
    ));
    assert_eq!(
        hop(&f, "10.244.3.0/26"),
        NextHop::via(ip("172.31.0.13"), Device::Index(2))
    );
    f.apply(bgp(
        "10.244.4.0/26",
        vec![IntentHop::pool(ip("192.168.9.9"))],
    ));
    assert_eq!(
        hop(&f, "10.244.4.0/26"),
        NextHop::onlink(ip("192.168.9.9"), tunl0.clone())
    );
    // always: the tunnel even on-link.
    f.apply(bgp(
        "10.96.3.0/26",
        vec![IntentHop::pool(ip("172.31.0.13"))],
    ));
    assert_eq!(
        hop(&f, "10.96.3.0/26"),
        NextHop::onlink(ip("172.31.0.13"), tunl0)
    );
    // outside every pool: plain via, on the interface of the gateway's subnet if local,
    // else the kernel resolves the device.
    f.apply(bgp(
        "192.0.2.0/24",
        vec![IntentHop::pool(ip("172.31.0.13"))],
    ));
    let h = hop(&f, "192.0.2.0/24");
    assert_eq!((h.device, h.onlink), (Some(Device::Index(2)), false));
    f.apply(bgp(
        "198.51.100.0/24",
        vec![IntentHop::pool(ip("192.168.7.7"))],
    ));
    let h = hop(&f, "198.51.100.0/24");
    assert_eq!((h.device, h.onlink), (None, false));
    // krt_tunnel wins over the pool: directly, or through a named device.
    f.apply(bgp(
        "10.96.4.0/26",
        vec![IntentHop::direct(ip("172.31.0.13"))],
    ));
    assert_eq!(hop(&f, "10.96.4.0/26").device, Some(Device::Index(2)));
    let dev = IntentHop {
        reach: Reach::Tunnel("wg0".into()),
        ..IntentHop::pool(ip("172.31.0.13"))
    };
    f.apply(bgp("10.244.5.0/26", vec![dev]));
    assert_eq!(
        hop(&f, "10.244.5.0/26"),
        NextHop::onlink(ip("172.31.0.13"), Device::Name("wg0".into()))
    );
    // VXLAN pools are not programmed; what was held for the prefix goes.
    f.apply(bgp(
        "10.250.1.0/26",
        vec![IntentHop::pool(ip("172.31.0.13"))],
    ));
    assert_eq!(wanted(&f, "10.250.1.0/26"), None);
    // The policy's metric unless the intent names one.
    assert_eq!(wanted(&f, "192.0.2.0/24").unwrap().0, 32);
    f.apply(FibChange::Intent(RouteIntent {
        prefix: net("192.0.2.0/24"),
        kind: IntentKind::Unicast(IntentHop::pool(ip("172.31.0.13")).into()),
        metric: Some(7),
    }));
    assert_eq!(wanted(&f, "192.0.2.0/24").unwrap().0, 7);
    f.apply(FibChange::Withdraw(net("192.0.2.0/24")));
    assert_eq!(wanted(&f, "192.0.2.0/24"), None);
}

#[test]
fn blackholes_and_host_length_blocks() {
    let mut f = fib();
    let bh = |p: &str| {
        FibChange::Intent(RouteIntent {
            prefix: net(p),
            kind: IntentKind::Blackhole,
            metric: None,
        })
    };
    f.apply(bh("10.244.1.0/26"));
    assert_eq!(
        wanted(&f, "10.244.1.0/26"),
        Some((32, RouteKind::Blackhole))
    );
    f.apply(bh("10.244.1.7/32"));
    assert_eq!(wanted(&f, "10.244.1.7/32"), None, "Calico skips /32 blocks");
    // No next hop: nothing.
    f.apply(bgp("10.244.2.0/26", vec![]));
    assert_eq!(wanted(&f, "10.244.2.0/26"), None);
}

#[test]
fn gateway_direct_uses_the_peer_when_the_next_hop_is_not_connected() {
    let mut f = fib();
    let direct = |gw: &str| IntentHop {
        peer: Some(ip("172.31.0.13")),
        ..IntentHop::pool(ip(gw))
    };
    // Not on a connected network: the peer's address, on its interface.
    f.apply(bgp("192.0.2.0/24", vec![direct("198.51.100.9")]));
    assert_eq!(
        hop(&f, "192.0.2.0/24"),
        NextHop::via(ip("172.31.0.13"), Device::Index(2))
    );
    // On a connected network: used as is.
    f.apply(bgp("192.0.3.0/24", vec![direct("172.31.0.20")]));
    assert_eq!(
        hop(&f, "192.0.3.0/24"),
        NextHop::via(ip("172.31.0.20"), Device::Index(2))
    );
    // Recursive mode (no peer): the next hop as is, the kernel resolves it.
    f.apply(bgp(
        "192.0.4.0/24",
        vec![IntentHop::pool(ip("198.51.100.9"))],
    ));
    let h = hop(&f, "192.0.4.0/24");
    assert_eq!((h.gateway, h.device), (ip("198.51.100.9"), None));
}

#[test]
fn ecmp_next_hops_are_deduplicated_and_capped() {
    let mut f = fib();
    let gw = |s: &str| IntentHop::pool(ip(s));
    // Two reflectors, one next hop: one kernel next hop.
    f.apply(bgp(
        "192.0.2.0/24",
        vec![gw("172.31.0.13"), gw("172.31.0.13")],
    ));
    assert_eq!(
        wanted(&f, "192.0.2.0/24").unwrap().1,
        RouteKind::Unicast(vec![NextHop::via(ip("172.31.0.13"), Device::Index(2))])
    );
    // Three next hops, ecmp_max 2.
    f.apply(bgp(
        "192.0.3.0/24",
        vec![gw("172.31.0.13"), gw("172.31.0.14"), gw("172.31.0.15")],
    ));
    let RouteKind::Unicast(h) = wanted(&f, "192.0.3.0/24").unwrap().1 else {
        panic!()
    };
    assert_eq!(
        h.iter().map(|h| h.gateway).collect::<Vec<_>>(),
        vec![ip("172.31.0.13"), ip("172.31.0.14")]
    );
}

#[test]
fn a_subnet_appearing_or_going_resolves_the_affected_routes_again() {
    let mut f = fib();
    let mut b = Vec::new();
    let tunl0 = Device::Name("tunl0".into());
    f.apply(bgp(
        "10.244.3.0/26",
        vec![IntentHop::pool(ip("172.31.1.13"))],
    ));
    f.apply(bgp(
        "10.96.3.0/26",
        vec![IntentHop::pool(ip("172.31.1.13"))],
    ));
    f.apply(bgp(
        "10.244.9.0/26",
        vec![IntentHop::pool(ip("192.168.9.9"))],
    ));
    assert_eq!(
        hop(&f, "10.244.3.0/26"),
        NextHop::onlink(ip("172.31.1.13"), tunl0.clone())
    );
    // Sent (tunl0 is unknown here: refused with ENODEV without sending), nothing queued.
    while f.poll_transmit(&mut b) {}
    assert_eq!(f.pending(), 0);
    // The next hop's subnet appears: the cross-subnet route goes direct and is queued; the
    // `always` route and the one through another subnet stay as they are.
    add_address(&mut f, true, "172.31.1.11", 24);
    assert_eq!(
        hop(&f, "10.244.3.0/26"),
        NextHop::via(ip("172.31.1.13"), Device::Index(2))
    );
    assert_eq!(
        hop(&f, "10.96.3.0/26"),
        NextHop::onlink(ip("172.31.1.13"), tunl0.clone())
    );
    assert_eq!(f.pending(), 1);
    assert!(f.poll_transmit(&mut b));
    let sent = crate::wire::Messages::new(&b)
        .map(|m| crate::wire::parse_route(m.unwrap().1).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].prefix, net("10.244.3.0/26"));
    assert_eq!(
        (sent[0].nexthops[0].ifindex, sent[0].nexthops[0].onlink),
        (2, false)
    );
    // A second address in the subnet changes nothing; the last one going flips it back.
    add_address(&mut f, true, "172.31.1.12", 24);
    assert_eq!(f.pending(), 0);
    add_address(&mut f, false, "172.31.1.12", 24);
    add_address(&mut f, false, "172.31.1.11", 24);
    assert_eq!(
        hop(&f, "10.244.3.0/26"),
        NextHop::onlink(ip("172.31.1.13"), tunl0)
    );
    assert_eq!(f.pending(), 1);
    // The published view follows.
    assert!(!f.kernel_view().has_subnet(&net("172.31.1.0/24")));
    assert_eq!(f.kernel_view().onlink_name(ip("172.31.0.9")), Some("eth0"));
}

//! Nexthop objects without a kernel: support detected by the start-up nexthop dump (an error:
//! plain routes), objects sent before the routes that use them, and the reconcile's view of
//! both forms.

use super::tests::{ack, cfg, dump, net, route, via};
use super::*;
use crate::wire::*;
use std::time::Duration;

fn seq_of(b: &[u8]) -> u32 {
    u32::from_ne_bytes(b[8..12].try_into().unwrap())
}

fn kind_of(b: &[u8]) -> u16 {
    u16::from_ne_bytes(b[4..6].try_into().unwrap())
}

/// Drives the start-up dumps; the nexthop dump fails with `nh_errno` (0: an empty dump).
fn start(
    mode: NexthopObjects,
    nh_errno: i32,
    routes: &[(u8, u32, &str, u32, WireTarget<'_>)],
) -> Fib {
    let now = Instant::now();
    let mut fib = Fib::new(
        FibConfig {
            nexthop_objects: mode,
            ..cfg()
        },
        false,
    );
    let mut b = Vec::new();
    for want in [
        RTM_GETLINK,
        RTM_GETADDR,
        nexthop::RTM_GETNEXTHOP,
        RTM_GETROUTE,
    ] {
        assert!(fib.poll_transmit(&mut b));
        assert_eq!(kind_of(&b), want);
        let reply = match want {
            nexthop::RTM_GETNEXTHOP if nh_errno != 0 => ack(seq_of(&b), nh_errno),
            RTM_GETROUTE => dump(seq_of(&b), routes),
            _ => dump(seq_of(&b), &[]),
        };
        fib.handle_reply(now, &reply).unwrap();
    }
    assert!(fib.is_synced());
    fib
}

/// The messages of a batch: (type, route's nh_id or object's id).
fn messages(b: &[u8]) -> Vec<(u16, u32)> {
    Messages::new(b)
        .map(|m| {
            let (h, p) = m.unwrap();
            let id = match h.kind {
                RTM_NEWNEXTHOP => parse_nexthop(p).unwrap().id,
                _ => parse_route(p).unwrap().nh_id,
            };
            (h.kind, id)
        })
        .collect()
}

#[test]
fn a_kernel_without_objects_gets_plain_routes() {
    for mode in [NexthopObjects::Auto, NexthopObjects::On] {
        let mut fib = start(mode, libc::EOPNOTSUPP, &[]);
        assert!(!fib.uses_nexthop_objects());
        fib.apply(FibChange::Upsert(route(
            "10.0.1.0/24",
            RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]),
        )));
        let mut b = Vec::new();
        assert!(fib.poll_transmit(&mut b));
        assert_eq!(messages(&b), vec![(RTM_NEWROUTE, 0)]);
        let r = parse_route(&b[16..]).unwrap();
        assert_eq!(r.nexthops.len(), 1);
        // Periodic scans do not ask for nexthops again.
        fib.handle_reply(Instant::now(), &ack(seq_of(&b), 0))
            .unwrap();
        fib.request_scan(Instant::now());
        fib.handle_timeout(Instant::now());
        assert!(fib.poll_transmit(&mut b));
        assert_eq!(kind_of(&b), RTM_GETROUTE);
    }
}

#[test]
fn objects_go_first_and_the_reconcile_knows_both_forms() {
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    assert!(fib.uses_nexthop_objects());
    let now = Instant::now();
    let one = || RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]);
    fib.apply(FibChange::Upsert(route("10.0.1.0/24", one())));
    fib.apply(FibChange::Upsert(route("10.0.2.0/24", one())));
    fib.apply(FibChange::Upsert(route(
        "10.0.3.0/24",
        RouteKind::Blackhole,
    )));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let m = messages(&b);
    // One object, then the routes: two through it, the blackhole plain.
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(m[0].0, RTM_NEWNEXTHOP);
    let id = m[0].1;
    assert!((NHID_BASE..NHID_BASE + NHID_SPAN).contains(&id));
    let mut ids: Vec<u32> = m[1..].iter().map(|x| x.1).collect();
    ids.sort();
    assert_eq!(ids, vec![0, id, id]);
    let last = seq_of(&b) + 3;
    fib.handle_reply(now, &ack(last, 0)).unwrap();
    assert!(fib.is_idle());
    assert_eq!(fib.nexthop_objects(), 1);

    // A scan: nexthops, then routes. One route right (the object), one plain (replaced).
    fib.request_scan(now);
    fib.handle_timeout(now);
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of(&b), nexthop::RTM_GETNEXTHOP);
    let mut nh = Vec::new();
    encode_newnexthop(
        &mut nh,
        seq_of(&b),
        false,
        false,
        12,
        id,
        WireNexthop::One {
            gateway: "192.168.0.1".parse().unwrap(),
            ifindex: 3,
            onlink: true,
        },
    );
    nh[6..8].copy_from_slice(&NLM_F_MULTI.to_ne_bytes());
    nh.extend_from_slice(&dump(seq_of(&b), &[]));
    fib.handle_reply(now, &nh).unwrap();
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of(&b), RTM_GETROUTE);
    let plain = [WireNextHop {
        gateway: "192.168.0.1".parse().unwrap(),
        ifindex: 3,
        onlink: true,
        weight: 1,
    }];
    let d = dump(
        seq_of(&b),
        &[
            (12, 254, "10.0.1.0/24", 0, WireTarget::Object(id)),
            (12, 254, "10.0.2.0/24", 0, WireTarget::Unicast(&plain)),
            (12, 254, "10.0.3.0/24", 0, WireTarget::Blackhole),
        ],
    );
    fib.handle_reply(now, &d).unwrap();
    assert!(fib.poll_transmit(&mut b));
    let m = messages(&b);
    assert_eq!(
        m,
        vec![(RTM_NEWROUTE, id)],
        "only the plain one is replaced"
    );
    let r = parse_route(&b[16..]).unwrap();
    assert_eq!(r.prefix, "10.0.2.0/24".parse::<IpNet>().unwrap());
}

/// Sends every batch, each acknowledged as a whole; the kinds of the messages in order.
fn send_all(fib: &mut Fib) -> Vec<u16> {
    let mut kinds = Vec::new();
    let mut b = Vec::new();
    while fib.poll_transmit(&mut b) {
        let mut last = 0;
        for m in Messages::new(&b) {
            let (h, _) = m.unwrap();
            kinds.push(h.kind);
            last = h.seq;
        }
        fib.handle_reply(Instant::now(), &ack(last, 0)).unwrap();
    }
    kinds
}

#[test]
fn a_withdrawn_next_hop_goes_with_its_object_after_the_routes_that_move() {
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize, gw: &str| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via(gw, 3, false)]),
        )
    };
    for i in 0..2000 {
        fib.apply(FibChange::Upsert(one(i, "192.168.0.1")));
    }
    send_all(&mut fib);
    assert!(fib.is_idle());
    for i in 0..1999 {
        fib.apply(FibChange::Remove(one(i, "192.168.0.1").key()));
    }
    assert_eq!(fib.pending(), 0);
    assert!(!fib.is_idle());
    // The last route moves to another next hop: the old object retires with 1,999 doomed.
    fib.apply(FibChange::Upsert(one(1999, "192.168.0.2")));
    let kinds = send_all(&mut fib);
    assert_eq!(
        kinds,
        vec![RTM_NEWNEXTHOP, RTM_NEWROUTE, nexthop::RTM_DELNEXTHOP],
        "the moved route first, then the old object: no route delete"
    );
    assert_eq!(
        (fib.stats().object_flushes, fib.stats().flushed_routes),
        (1, 1999)
    );
    assert!(fib.is_idle());
    assert_eq!(fib.nexthop_objects(), 1);
}

#[test]
fn a_few_doomed_routes_go_one_by_one_then_their_object() {
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize| {
        route(
            &format!("10.0.{i}.0/24"),
            RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
        )
    };
    for i in 0..10 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    for i in 0..10 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    // One comes back while doomed (a new object: the old one retired with the tenth
    // remove): replaced, not deleted; the nine others go one by one (too few for a flush),
    // then the old object.
    fib.apply(FibChange::Upsert(one(3)));
    let mut want = vec![RTM_NEWNEXTHOP, RTM_NEWROUTE];
    want.extend([RTM_DELROUTE; 9]);
    want.push(nexthop::RTM_DELNEXTHOP);
    assert_eq!(send_all(&mut fib), want);
    assert_eq!(fib.stats().object_flushes, 0);
    assert_eq!(fib.nexthop_objects(), 1);
    fib.apply(FibChange::Remove(one(3).key()));
    let kinds = send_all(&mut fib);
    assert_eq!(kinds, vec![RTM_DELROUTE, nexthop::RTM_DELNEXTHOP]);
    assert!(fib.is_idle());
}

#[test]
fn a_scan_waits_until_doomed_routes_are_gone() {
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
        )
    };
    for i in 0..2000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    for i in 0..2000 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    let now = Instant::now();
    fib.request_scan(now);
    fib.handle_timeout(now);
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of(&b), nexthop::RTM_GETNEXTHOP);
    fib.handle_reply(now, &dump(seq_of(&b), &[])).unwrap();
    // Not the route dump (it would read the whole doomed table): the object delete first.
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of(&b), nexthop::RTM_DELNEXTHOP);
    fib.handle_reply(now, &ack(seq_of(&b), 0)).unwrap();
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of(&b), RTM_GETROUTE);
    assert_eq!(fib.stats().flushed_routes, 2000);
}

/// Sends every batch like `send_all`; the (type, flags, prefix) of each route message.
fn send_all_routes(fib: &mut Fib) -> Vec<(u16, u16, IpNet)> {
    let mut out = Vec::new();
    let mut b = Vec::new();
    while fib.poll_transmit(&mut b) {
        let mut last = 0;
        for m in Messages::new(&b) {
            let (h, p) = m.unwrap();
            if h.kind == RTM_NEWROUTE || h.kind == RTM_DELROUTE {
                out.push((h.kind, h.flags, parse_route(p).unwrap().prefix));
            }
            last = h.seq;
        }
        fib.handle_reply(Instant::now(), &ack(last, 0)).unwrap();
    }
    out
}

#[test]
fn doomed_routes_cost_no_map_of_their_own_and_leave_in_one_pass() {
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize, gw: &str| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via(gw, 3, false)]),
        )
    };
    for i in 0..4000 {
        fib.apply(FibChange::Upsert(one(i, "192.168.0.1")));
    }
    send_all(&mut fib);
    let full = fib.desired.heap_bytes();
    // Withdrawn (twice for some: a second remove of a doomed key is a no-op), one key
    // re-announced and withdrawn again before it is sent (its own delete is queued in its
    // entry: the route is in the kernel), another re-announced through a new next hop and
    // kept.
    for i in 0..4000 {
        fib.apply(FibChange::Remove(one(i, "192.168.0.1").key()));
    }
    for i in 0..10 {
        fib.apply(FibChange::Remove(one(i, "192.168.0.1").key()));
    }
    fib.apply(FibChange::Upsert(one(7, "192.168.0.1")));
    assert_eq!(fib.len(), 1);
    fib.apply(FibChange::Remove(one(7, "192.168.0.1").key()));
    fib.apply(FibChange::Upsert(one(9, "192.168.0.2")));
    assert_eq!((fib.len(), fib.is_empty()), (1, false));
    // No per-route state besides the (already allocated) table and the 8-octet list.
    assert_eq!(fib.pending_deletes.len(), 0);
    assert_eq!(fib.desired.heap_bytes(), full);
    assert_eq!(fib.doomed_entries, 3999);
    assert_eq!(fib.nh.doomed_total, 4000);
    // The re-announced key is replaced (its route is still in the kernel), the one
    // withdrawn while queued deleted, and the old object takes the others with it: no other
    // route delete, no lookup per route.
    let mut sent = send_all_routes(&mut fib);
    sent.sort_by_key(|s| s.2);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[0].0, sent[0].2), (RTM_DELROUTE, net("10.0.7.0/24")));
    assert_eq!((sent[1].0, sent[1].2), (RTM_NEWROUTE, net("10.0.9.0/24")));
    assert_eq!(sent[1].1 & NLM_F_REPLACE, NLM_F_REPLACE);
    assert_eq!(
        (fib.stats().object_flushes, fib.stats().flushed_routes),
        (1, 3998)
    );
    assert_eq!(
        (fib.len(), fib.desired.len(), fib.doomed_entries),
        (1, 1, 0)
    );
    assert!(fib.is_idle());
    assert!(
        fib.desired.heap_bytes() * 4 < full,
        "the table gave its memory back: {} of {full}",
        fib.desired.heap_bytes()
    );
    // The kept route is an ordinary desired route: it is withdrawn like one.
    fib.apply(FibChange::Remove(one(9, "192.168.0.2").key()));
    assert_eq!(fib.len(), 0);
    let sent = send_all_routes(&mut fib);
    assert_eq!(sent.iter().map(|s| s.0).collect::<Vec<_>>(), [RTM_DELROUTE]);
    assert!(fib.is_idle());
    assert_eq!(fib.desired.len(), 0);
}

#[test]
fn a_doomed_route_is_no_longer_held_nor_withdrawn_twice() {
    let now = Instant::now();
    let mut fib = Fib::new(
        FibConfig {
            nexthop_objects: NexthopObjects::Auto,
            flush_on_shutdown: true,
            ..cfg()
        },
        false,
    );
    let mut b = Vec::new();
    while fib.poll_transmit(&mut b) {
        fib.handle_reply(now, &dump(seq_of(&b), &[])).unwrap();
    }
    assert!(fib.is_synced());
    let r = route(
        "10.0.1.0/24",
        RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
    );
    let keep = route(
        "10.0.2.0/24",
        RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
    );
    fib.apply(FibChange::Upsert(r.clone()));
    fib.apply(FibChange::Upsert(keep));
    send_all(&mut fib);
    fib.apply(FibChange::Remove(r.key()));
    // Neither Withdraw, Clear nor Set at another metric holds it any more.
    fib.apply(FibChange::Withdraw(net("10.0.1.0/24")));
    fib.apply(FibChange::Clear {
        table: 254,
        prefix: net("10.0.1.0/24"),
    });
    assert_eq!(fib.len(), 1);
    // Not in the failures' view, and the shutdown does not withdraw it twice.
    assert!(fib.failures(10).is_empty());
    fib.shutdown();
    let sent = send_all_routes(&mut fib);
    let mut dels: Vec<_> = sent.iter().map(|s| (s.0, s.2)).collect();
    dels.sort();
    assert_eq!(
        dels,
        [
            (RTM_DELROUTE, net("10.0.1.0/24")),
            (RTM_DELROUTE, net("10.0.2.0/24"))
        ]
    );
    assert!(fib.is_idle());
    assert_eq!(fib.desired.len(), 0);
}

#[test]
fn a_partial_withdrawal_deletes_its_routes_in_scattered_order() {
    // 10,000 routes through one object; 5,000 neighbours withdrawn in address order. The
    // object stays (it still has routes), so they go route by route: scattered, not in the
    // order they came (the kernel's trie empties an address block several times slower so).
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
        )
    };
    for i in 0..10_000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    for i in 0..5_000 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    let sent = send_all_routes(&mut fib);
    let deleted: Vec<u32> = sent
        .iter()
        .filter(|(k, _, _)| *k == RTM_DELROUTE)
        .map(|(_, _, p)| match p {
            IpNet::V4(n) => u32::from(n.network()) >> 8,
            IpNet::V6(_) => unreachable!(),
        })
        .collect();
    let mut all = deleted.clone();
    all.sort_unstable();
    assert_eq!(all, (0x0a_0000..0x0a_0000 + 5_000).collect::<Vec<u32>>());
    // Neighbours in either direction: a shuffled order has a handful.
    let adjacent = deleted
        .windows(2)
        .filter(|w| w[0].abs_diff(w[1]) == 1)
        .count();
    assert!(
        adjacent < 100,
        "{adjacent} of 4,999 deletes next to the one before"
    );
}

#[test]
fn doomed_routes_of_several_objects_take_turns() {
    // Ten next hops with 300 routes each (below the flush threshold), all withdrawn: their
    // deletes alternate between the objects instead of emptying one block after another.
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via(&format!("192.168.0.{}", 1 + i / 300), 3, false)]),
        )
    };
    for i in 0..3_000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    for i in 0..3_000 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    let blocks: Vec<u32> = send_all_routes(&mut fib)
        .iter()
        .filter(|(k, _, _)| *k == RTM_DELROUTE)
        .map(|(_, _, p)| match p {
            IpNet::V4(n) => ((u32::from(n.network()) >> 8) - 0x0a_0000) / 300,
            IpNet::V6(_) => unreachable!(),
        })
        .collect();
    assert_eq!(blocks.len(), 3_000);
    // Among the first 100 deletes, every object's block shows up.
    let mut first: Vec<u32> = blocks.iter().take(100).copied().collect();
    first.sort_unstable();
    first.dedup();
    assert_eq!(first, (0..10).collect::<Vec<u32>>());
}

#[test]
fn peers_withdrawn_at_once_go_with_their_objects_when_each_holds_a_large_share() {
    // Three next hops with a third of the table each, all withdrawn: each object holds more
    // than the share where one walk of the kernel's table beats its routes' deletes. Ten with
    // a tenth each: route by route (ten walks of the whole table cost more).
    for (peers, flushes) in [(3, 3), (10, 0)] {
        let mut fib = start(NexthopObjects::Auto, 0, &[]);
        let per = 21_000 / peers;
        let one = |i: usize| {
            route(
                &format!("10.{}.{}.0/24", i / 256, i % 256),
                RouteKind::Unicast(vec![via(&format!("192.168.0.{}", 1 + i / per), 3, false)]),
            )
        };
        for i in 0..21_000 {
            fib.apply(FibChange::Upsert(one(i)));
        }
        send_all(&mut fib);
        for i in 0..21_000 {
            fib.apply(FibChange::Remove(one(i).key()));
        }
        let kinds = send_all(&mut fib);
        let alone = kinds.iter().filter(|k| **k == RTM_DELROUTE).count();
        assert_eq!(fib.stats().object_flushes, flushes, "{peers} peers");
        assert_eq!(
            fib.stats().flushed_routes as usize + alone,
            21_000,
            "{peers} peers"
        );
        assert_eq!(alone, if flushes > 0 { 0 } else { 21_000 }, "{peers} peers");
    }
}

#[test]
fn withdrawals_still_streaming_leave_their_routes_to_the_objects() {
    // Three next hops of ~6,700 routes each withdrawn together, handed over in chunks with the
    // driver's turns in between (the queue empty each time, the clock moving less than the
    // quiet time): nothing goes route by route before the objects retire with their last
    // routes; then the three objects take them all.
    let mut fib = start(NexthopObjects::Auto, 0, &[]);
    let one = |i: usize| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via(&format!("192.168.0.{}", 1 + i % 3), 3, false)]),
        )
    };
    for i in 0..20_000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    let mut now = Instant::now();
    fib.handle_timeout(now);
    let mut early = Vec::new();
    for chunk in 0..20 {
        for i in chunk * 1000..(chunk + 1) * 1000 {
            fib.apply(FibChange::Remove(one(i).key()));
        }
        now += Duration::from_millis(20);
        fib.handle_timeout(now);
        early.extend(send_all(&mut fib));
    }
    assert!(!early.contains(&RTM_DELROUTE), "a route went on its own");
    assert_eq!(fib.stats().object_flushes, 3);
    assert_eq!(fib.stats().flushed_routes, 20_000);

    // A partial withdrawal (the object stays): its routes wait for the quiet time, then go
    // one by one; the driver is woken for it.
    for i in 0..20_000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    send_all(&mut fib);
    for i in 0..500 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    now += Duration::from_millis(20);
    fib.handle_timeout(now);
    let before = send_all(&mut fib);
    assert!(!before.contains(&RTM_DELROUTE));
    let wake = fib.poll_timeout().unwrap();
    assert!(
        wake > now && wake <= now + Duration::from_millis(100),
        "{wake:?}"
    );
    fib.handle_timeout(wake);
    let after = send_all(&mut fib);
    assert_eq!(after.iter().filter(|k| **k == RTM_DELROUTE).count(), 500);
    assert!(fib.is_idle());
}

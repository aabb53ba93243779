//! What is deleted and when: no delete for a key the kernel does not hold, one route per
//! prefix at a metric a filter may change (`Set`/`Clear`), and a withdrawn table's deletes
//! kept in its entries.

use super::tests::{ack, cfg, decode, net, route, start, via};
use super::*;
use crate::wire::*;

/// The kernel takes a delete with metric 0 as "this prefix at any metric": a delete for a key
/// we never held (a metric that changed before the route was sent, or a caller removing at the
/// default metric to be sure) would remove our route at the new metric whenever the queue
/// happens to send it after the add. Only keys that may be in the kernel get a delete.
#[test]
fn no_delete_for_a_key_that_is_not_in_the_kernel() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let at = |metric| FibRoute {
        metric,
        ..route("10.7.0.0/24", RouteKind::Blackhole)
    };
    // Never held at metric 0.
    fib.apply(FibChange::Remove(RouteKey::new(254, net("10.7.0.0/24"), 0)));
    fib.apply(FibChange::Upsert(at(1024)));
    // Held at metric 5 but not sent yet, then moved to 1024 as well.
    fib.apply(FibChange::Upsert(FibRoute {
        metric: 5,
        ..route("10.8.0.0/24", RouteKind::Blackhole)
    }));
    fib.apply(FibChange::Remove(RouteKey::new(254, net("10.8.0.0/24"), 5)));
    fib.apply(FibChange::Upsert(FibRoute {
        metric: 1024,
        ..route("10.8.0.0/24", RouteKind::Blackhole)
    }));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent
        .iter()
        .all(|m| m.0 == RTM_NEWROUTE && m.3.metric == 1024));
    for m in &sent {
        fib.handle_reply(now, &ack(m.2, 0)).unwrap();
    }
    // Installed at 1024 and moved to 0: the old key's delete goes out (exact: metric 1024).
    fib.apply(FibChange::Remove(RouteKey::new(
        254,
        net("10.7.0.0/24"),
        1024,
    )));
    fib.apply(FibChange::Upsert(at(0)));
    assert!(fib.poll_transmit(&mut b));
    let mut sent = decode(&b);
    sent.sort_by_key(|m| m.0);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[0].0, sent[0].3.metric), (RTM_NEWROUTE, 0));
    assert_eq!((sent[1].0, sent[1].3.metric), (RTM_DELROUTE, 1024));
}

/// `Set` holds one route per prefix and table whatever its metric, `Clear` removes it at
/// whichever metric it is held: the caller does not remember the metric a filter chose.
#[test]
fn set_replaces_the_prefix_at_another_metric_and_clear_removes_any() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let at = |prefix: &str, metric| FibRoute {
        metric,
        ..route(prefix, RouteKind::Blackhole)
    };
    let mut b = Vec::new();
    let mut send = |fib: &mut Fib| {
        let mut sent = Vec::new();
        while fib.poll_transmit(&mut b) {
            for m in decode(&b) {
                fib.handle_reply(now, &ack(m.2, 0)).unwrap();
                sent.push((m.0, m.3.prefix, m.3.metric));
            }
        }
        sent.sort();
        sent
    };
    fib.apply(FibChange::Set(at("10.1.0.0/24", 0)));
    fib.apply(FibChange::Set(at("10.2.0.0/24", 0)));
    // Another table's route of the same prefix is not ours to replace.
    fib.apply(FibChange::Set(FibRoute {
        table: 100,
        ..at("10.1.0.0/24", 7)
    }));
    assert_eq!(send(&mut fib).len(), 3);
    fib.apply(FibChange::Set(at("10.1.0.0/24", 1024)));
    fib.apply(FibChange::Clear {
        table: 254,
        prefix: net("10.2.0.0/24"),
    });
    // Never held: nothing to send.
    fib.apply(FibChange::Clear {
        table: 254,
        prefix: net("10.3.0.0/24"),
    });
    let sent = send(&mut fib);
    assert_eq!(
        sent,
        vec![
            (RTM_NEWROUTE, net("10.1.0.0/24"), 1024),
            (RTM_DELROUTE, net("10.1.0.0/24"), 0),
            (RTM_DELROUTE, net("10.2.0.0/24"), 0),
        ]
    );
    assert_eq!(fib.len(), 2);
    fib.apply(FibChange::Clear {
        table: 254,
        prefix: net("10.1.0.0/24"),
    });
    assert_eq!(
        send(&mut fib),
        vec![(RTM_DELROUTE, net("10.1.0.0/24"), 1024)]
    );
    assert_eq!(fib.len(), 1);
}

#[test]
fn a_withdrawn_table_keeps_its_deletes_in_its_entries() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let one = |i: u32| {
        route(
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
        )
    };
    for i in 0..3000 {
        fib.apply(FibChange::Upsert(one(i)));
    }
    let mut b = Vec::new();
    let send_all = |fib: &mut Fib, b: &mut Vec<u8>| {
        let mut sent = Vec::new();
        while fib.poll_transmit(b) {
            let d = decode(b);
            let last = d.last().map_or(0, |m| m.2);
            sent.extend(d.into_iter().map(|m| (m.0, m.1, m.3.prefix)));
            fib.handle_reply(now, &ack(last, 0)).unwrap();
        }
        sent
    };
    assert_eq!(send_all(&mut fib, &mut b).len(), 3000);
    let full = fib.desired.heap_bytes();
    for i in 0..3000 {
        fib.apply(FibChange::Remove(one(i).key()));
    }
    // Withdrawn again (nothing more), and one re-announced before its delete went out:
    // it replaces the route that is still in the kernel.
    fib.apply(FibChange::Remove(one(5).key()));
    fib.apply(FibChange::Upsert(one(7)));
    assert_eq!(
        (fib.len(), fib.pending(), fib.pending_deletes.len()),
        (1, 3000, 0)
    );
    assert_eq!(fib.desired.heap_bytes(), full, "no other table grew");
    let sent = send_all(&mut fib, &mut b);
    assert_eq!(sent.len(), 3000);
    let dels = sent.iter().filter(|m| m.0 == RTM_DELROUTE).count();
    assert_eq!(dels, 2999);
    let kept: Vec<_> = sent.iter().filter(|m| m.0 == RTM_NEWROUTE).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].2, net("10.0.7.0/24"));
    assert_eq!(kept[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
    assert!(fib.is_idle());
    assert_eq!(
        (fib.len(), fib.desired.len(), fib.doomed_entries),
        (1, 1, 0)
    );
}

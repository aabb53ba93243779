use super::*;
use crate::wire::*;
use std::time::Duration;

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn hdr(v: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    v.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(body);
}

pub(super) fn ack(seq: u32, errno: i32) -> Vec<u8> {
    let mut body = (-errno).to_ne_bytes().to_vec();
    body.extend_from_slice(&[0u8; 16]);
    let mut v = Vec::new();
    hdr(&mut v, NLMSG_ERROR, 0x100, seq, &body);
    v
}

/// What a batch we sent contains: (type, flags, seq, route).
pub(super) fn decode(buf: &[u8]) -> Vec<(u16, u16, u32, KernelRoute)> {
    Messages::new(buf)
        .map(|m| {
            let (h, p) = m.unwrap();
            (h.kind, h.flags, h.seq, parse_route(p).unwrap())
        })
        .collect()
}

/// A kernel route dump answering `seq`, as one datagram.
pub(super) fn dump(seq: u32, routes: &[(u8, u32, &str, u32, WireTarget<'_>)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (proto, table, prefix, metric, t) in routes {
        let mut m = Vec::new();
        encode_newroute(
            &mut m,
            seq,
            false,
            false,
            *proto,
            *table,
            &net(prefix),
            *metric,
            *t,
        );
        // turn the request into a dump part: type NEWROUTE, flags MULTI
        m[6..8].copy_from_slice(&NLM_F_MULTI.to_ne_bytes());
        v.extend_from_slice(&m);
    }
    hdr(&mut v, NLMSG_DONE, NLM_F_MULTI, seq, &0u32.to_ne_bytes());
    v
}

pub(super) fn cfg() -> FibConfig {
    FibConfig {
        tables: vec![254],
        ..FibConfig::default()
    }
}

pub(super) fn via(gw: &str, ifindex: u32, onlink: bool) -> NextHop {
    NextHop {
        gateway: gw.parse().unwrap(),
        device: Some(Device::Index(ifindex)),
        onlink,
        weight: 1,
    }
}

pub(super) fn route(prefix: &str, kind: RouteKind) -> FibRoute {
    FibRoute {
        prefix: net(prefix),
        kind,
        metric: 0,
        table: 254,
    }
}

/// Drives the start-up dumps (links, addresses: empty; routes: `routes`).
pub(super) fn start(fib: &mut Fib, now: Instant, routes: &[(u8, u32, &str, u32, WireTarget<'_>)]) {
    let mut b = Vec::new();
    for _ in 0..2 {
        assert!(fib.poll_transmit(&mut b));
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        fib.handle_reply(now, &dump(seq, &[])).unwrap();
    }
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(
        u16::from_ne_bytes(b[4..6].try_into().unwrap()),
        RTM_GETROUTE
    );
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    fib.handle_reply(now, &dump(seq, routes)).unwrap();
    assert!(fib.is_synced());
}

pub(super) fn events(fib: &mut Fib) -> Vec<FibEvent> {
    std::iter::from_fn(|| fib.poll_event()).collect()
}

const GW1: [WireNextHop; 1] = [WireNextHop {
    gateway: IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 1)),
    ifindex: 3,
    onlink: true,
    weight: 1,
}];
const GW2: [WireNextHop; 1] = [WireNextHop {
    gateway: IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 2)),
    ifindex: 2,
    onlink: false,
    weight: 1,
}];

#[test]
fn nothing_is_sent_before_the_startup_reconcile() {
    let mut fib = Fib::new(cfg(), false);
    fib.apply(FibChange::Upsert(route(
        "10.0.0.0/24",
        RouteKind::Blackhole,
    )));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b)); // link dump
    assert_eq!(u16::from_ne_bytes(b[4..6].try_into().unwrap()), RTM_GETLINK);
    assert!(!fib.poll_transmit(&mut b)); // waits for the dump
}

#[test]
fn startup_reconcile_decisions() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    // desired: A (already right in the kernel), B (kernel has another next hop),
    // C (missing), and nothing for D (a stale route of ours).
    fib.apply(FibChange::Upsert(route(
        "10.0.1.0/24",
        RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.0.2.0/24",
        RouteKind::Unicast(vec![via("192.168.0.1", 3, true)]),
    )));
    fib.apply(FibChange::Upsert(route(
        "10.0.3.0/24",
        RouteKind::Blackhole,
    )));
    start(
        &mut fib,
        now,
        &[
            (12, 254, "10.0.1.0/24", 0, WireTarget::Unicast(&GW1)),
            (12, 254, "10.0.2.0/24", 0, WireTarget::Unicast(&GW2)), // moved to direct
            (12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole),     // stale, ours
            (4, 254, "10.0.5.0/24", 0, WireTarget::Unicast(&GW2)),  // foreign: static
            (12, 100, "10.0.6.0/24", 0, WireTarget::Blackhole),     // ours, unmanaged table
        ],
    );
    let ev = events(&mut fib);
    assert!(
        ev.contains(&FibEvent::Reconciled {
            added: 1,
            replaced: 1,
            deleted: 1
        }),
        "{ev:?}"
    );
    let learned: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            FibEvent::LearnedAdd(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(learned.len(), 1);
    assert_eq!(learned[0].key.prefix, net("10.0.5.0/24"));
    assert_eq!((learned[0].protocol, learned[0].ifindex), (4, 2));

    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    let summary: Vec<(u16, u16, IpNet)> = sent
        .iter()
        .map(|(t, f, _, r)| (*t, *f & 0x700, r.prefix))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                RTM_NEWROUTE,
                NLM_F_CREATE | NLM_F_REPLACE,
                net("10.0.2.0/24")
            ), // in place
            (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, net("10.0.3.0/24")),
            (RTM_DELROUTE, 0, net("10.0.4.0/24")),
        ]
    );
    // every message carries our protocol; the delete never names another protocol
    assert!(sent
        .iter()
        .all(|(_, _, _, r)| r.protocol == 12 && r.table == 254));
    // only the last one asks for an ACK
    assert_eq!(
        sent.iter()
            .filter(|(_, f, _, _)| f & NLM_F_ACK != 0)
            .count(),
        1
    );
    assert!(sent[2].1 & NLM_F_ACK != 0);
    assert_eq!(sent[2].3.protocol, 12);
    assert!(!fib.poll_transmit(&mut b));
}

#[test]
fn stale_routes_are_adopted_until_released() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), true);
    start(
        &mut fib,
        now,
        &[(12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole)],
    );
    let mut b = Vec::new();
    assert!(!fib.poll_transmit(&mut b));
    fib.release_stale(now);
    fib.handle_timeout(now);
    assert!(fib.poll_transmit(&mut b));
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    fib.handle_reply(
        now,
        &dump(seq, &[(12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole)]),
    )
    .unwrap();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0, sent[0].3.prefix),
        (RTM_DELROUTE, net("10.0.4.0/24"))
    );
}

#[test]
fn changes_are_coalesced() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let r = |gw: &str| route("10.0.1.0/24", RouteKind::Unicast(vec![via(gw, 3, false)]));
    fib.apply(FibChange::Upsert(r("192.168.0.1")));
    fib.apply(FibChange::Upsert(r("192.168.0.2")));
    fib.apply(FibChange::Upsert(r("192.168.0.3")));
    fib.apply(FibChange::Upsert(route(
        "10.0.2.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Remove(RouteKey::new(254, net("10.0.2.0/24"), 0)));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    // The blackhole, added and removed before it was ever sent, costs nothing.
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].3.nexthops[0].gateway,
        Some("192.168.0.3".parse().unwrap())
    );
}

#[test]
fn acks_are_matched_by_sequence_number() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    for p in ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"] {
        fib.apply(FibChange::Upsert(route(
            p,
            RouteKind::Unicast(vec![via("192.168.9.1", 3, false)]),
        )));
    }
    let _ = events(&mut fib);
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    // the kernel refuses the second (ENETUNREACH), then ACKs the last
    fib.handle_reply(now, &ack(sent[1].2, libc::ENETUNREACH))
        .unwrap();
    fib.handle_reply(now, &ack(sent[2].2, 0)).unwrap();
    let ev = events(&mut fib);
    assert_eq!(
        ev,
        vec![FibEvent::Outcome {
            key: RouteKey::new(254, net("10.0.2.0/24"), 0),
            op: RouteOp::Add,
            errno: libc::ENETUNREACH
        }]
    );
    assert!(fib.is_idle());
    // the successful ones are now known installed: a change replaces in place
    fib.apply(FibChange::Upsert(route(
        "10.0.1.0/24",
        RouteKind::Blackhole,
    )));
    fib.apply(FibChange::Upsert(route(
        "10.0.2.0/24",
        RouteKind::Blackhole,
    )));
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
    assert_eq!(sent[1].1 & NLM_F_EXCL, NLM_F_EXCL);
    // a success after a failure is reported
    fib.handle_reply(now, &ack(sent[1].2, 0)).unwrap();
    let ev = events(&mut fib);
    assert_eq!(
        ev,
        vec![FibEvent::Outcome {
            key: RouteKey::new(254, net("10.0.2.0/24"), 0),
            op: RouteOp::Add,
            errno: 0
        }]
    );
}

#[test]
fn acks_match_across_sequence_wrap() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let _ = events(&mut fib);
    fib.seq = u32::MAX - 1;
    for p in ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24", "10.0.4.0/24"] {
        fib.apply(FibChange::Upsert(route(p, RouteKind::Blackhole)));
    }
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    let seqs: Vec<u32> = sent.iter().map(|m| m.2).collect();
    assert_eq!(seqs, vec![u32::MAX - 1, u32::MAX, 0, 1]);
    fib.handle_reply(now, &ack(0, libc::EEXIST)).unwrap();
    fib.handle_reply(now, &ack(1, 0)).unwrap();
    assert_eq!(
        events(&mut fib),
        vec![FibEvent::Outcome {
            key: RouteKey::new(254, net("10.0.3.0/24"), 0),
            op: RouteOp::Add,
            errno: libc::EEXIST
        }]
    );
    assert!(fib.is_idle());
}

#[test]
fn deleting_an_absent_route_is_fine() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    fib.apply(FibChange::Upsert(route(
        "10.9.0.0/16",
        RouteKind::Blackhole,
    )));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    fib.handle_reply(now, &ack(decode(&b)[0].2, 0)).unwrap();
    // Someone deleted it before we do: ESRCH is success for a delete.
    fib.apply(FibChange::Remove(RouteKey::new(254, net("10.9.0.0/16"), 0)));
    let _ = events(&mut fib);
    assert!(fib.poll_transmit(&mut b));
    let seq = decode(&b)[0].2;
    assert_eq!(decode(&b)[0].0, RTM_DELROUTE);
    fib.handle_reply(now, &ack(seq, libc::ESRCH)).unwrap();
    assert_eq!(events(&mut fib), vec![]);
    assert!(fib.is_idle());
}

#[test]
fn lost_ack_triggers_resync() {
    let now = Instant::now();
    let mut fib = Fib::new(
        FibConfig {
            max_batch_bytes: 1024,
            ..cfg()
        },
        false,
    );
    start(&mut fib, now, &[]);
    let _ = events(&mut fib);
    for i in 0..40u8 {
        fib.apply(FibChange::Upsert(route(
            &format!("10.{i}.0.0/16"),
            RouteKind::Blackhole,
        )));
    }
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let first = decode(&b);
    assert!(fib.poll_transmit(&mut b));
    let second = decode(&b);
    // the first batch's ACK never arrives; the second's does
    fib.handle_reply(now, &ack(second.last().unwrap().2, 0))
        .unwrap();
    assert!(first.len() > 1);
    assert!(events(&mut fib).contains(&FibEvent::Overrun));
    // next comes a route dump (full resync), once the queue is flushed
    while fib.poll_transmit(&mut b) {
        let t = u16::from_ne_bytes(b[4..6].try_into().unwrap());
        if t == RTM_GETROUTE {
            return;
        }
        let last = decode(&b).last().unwrap().2;
        fib.handle_reply(now, &ack(last, 0)).unwrap();
    }
    panic!("no resync dump");
}

/// A synced FIB wanting the blackhole 10.0.1.0/24, which the start-up dump showed right.
fn synced_with_blackhole() -> (Fib, Instant) {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    fib.apply(FibChange::Upsert(route(
        "10.0.1.0/24",
        RouteKind::Blackhole,
    )));
    start(
        &mut fib,
        now,
        &[(12, 254, "10.0.1.0/24", 0, WireTarget::Blackhole)],
    );
    (fib, now)
}

#[test]
fn enobufs_triggers_resync_and_repairs() {
    let (mut fib, now) = synced_with_blackhole();
    let mut b = Vec::new();
    assert!(!fib.poll_transmit(&mut b));
    fib.handle_reply_overrun(now);
    assert!(fib.poll_transmit(&mut b));
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    // the route went missing meanwhile: it is re-added, with EXCL (it is not there)
    fib.handle_reply(now, &dump(seq, &[])).unwrap();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1 & NLM_F_EXCL, NLM_F_EXCL);
}

#[test]
fn a_route_seen_by_an_interrupted_dump_is_looked_for_again() {
    let (mut fib, now) = synced_with_blackhole();
    let mut b = Vec::new();
    assert!(!fib.poll_transmit(&mut b));
    fib.request_scan(now);
    fib.handle_timeout(now);
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of_first(&b), RTM_GETROUTE);
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    // The dump shows the route, but the table changed meanwhile: the dump is not trusted.
    let mut d = dump(seq, &[(12, 254, "10.0.1.0/24", 0, WireTarget::Blackhole)]);
    d[6..8].copy_from_slice(&(NLM_F_MULTI | NLM_F_DUMP_INTR).to_ne_bytes());
    fib.handle_reply(now, &d).unwrap();
    // A new scan at once.
    fib.handle_timeout(now);
    assert!(fib.poll_transmit(&mut b));
    assert_eq!(kind_of_first(&b), RTM_GETROUTE);
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    // The next dump does not show it: it is added again (what the interrupted dump saw
    // does not count for this one).
    fib.handle_reply(now, &dump(seq, &[])).unwrap();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, RTM_NEWROUTE);
    assert_eq!(sent[0].1 & NLM_F_EXCL, NLM_F_EXCL);
}

fn kind_of_first(b: &[u8]) -> u16 {
    u16::from_ne_bytes(b[4..6].try_into().unwrap())
}

#[test]
fn an_entry_packs_its_target_and_flags_in_four_octets() {
    assert_eq!(std::mem::size_of::<Entry>(), 4);
    let mut e = Entry::new(MAX_INTENT, true, false);
    assert_eq!(
        (e.target(), e.installed(), e.queued()),
        (MAX_INTENT, true, false)
    );
    assert!(!e.doomed() && !e.seen());
    e.set_queued(true);
    e.set_seen(true);
    e.set_target(7);
    assert_eq!(
        (e.target(), e.installed(), e.queued(), e.seen()),
        (7, true, true, true)
    );
    e.set_installed(false);
    e.set_seen(false);
    assert_eq!(
        (e.target(), e.installed(), e.queued(), e.seen()),
        (7, false, true, false)
    );
    for top in [NHID_BASE, NHID_BASE + 1, NHID_BASE + NHID_SPAN - 1] {
        let d = Entry::doomed_by(top);
        assert!(d.doomed() && d.installed() && !d.queued() && !d.seen());
        assert_eq!(d.target(), top);
    }
}

#[test]
fn periodic_scan_repairs_and_respects_interval() {
    let (mut fib, now) = synced_with_blackhole();
    assert_eq!(fib.poll_timeout(), Some(now + Duration::from_secs(2)));
    let mut b = Vec::new();
    fib.handle_timeout(now + Duration::from_secs(1));
    assert!(!fib.poll_transmit(&mut b));
    let later = now + Duration::from_secs(2);
    fib.handle_timeout(later);
    assert!(fib.poll_transmit(&mut b));
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    // a third party changed our blackhole into unreachable
    fib.handle_reply(
        later,
        &dump(seq, &[(12, 254, "10.0.1.0/24", 0, WireTarget::Unreachable)]),
    )
    .unwrap();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent[0].3.rtype, RTN_BLACKHOLE);
    assert_eq!(sent[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
}

#[test]
fn a_slow_scan_pushes_the_next_one_out() {
    let (mut fib, now) = synced_with_blackhole();
    // The start-up scan took no time: the configured interval.
    assert_eq!(fib.poll_timeout(), Some(now + Duration::from_secs(2)));
    let mut b = Vec::new();
    assert!(!fib.poll_transmit(&mut b)); // nothing to send: the route was right
    let t = now + Duration::from_secs(2);
    fib.handle_timeout(t);
    assert!(fib.poll_transmit(&mut b));
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    // The routes arrive at t, NLMSG_DONE 1.5 s later (a large table): ten times that.
    let d = dump(seq, &[(12, 254, "10.0.1.0/24", 0, WireTarget::Blackhole)]);
    let (routes, done) = d.split_at(d.len() - 20);
    assert_eq!(
        u16::from_ne_bytes(done[4..6].try_into().unwrap()),
        NLMSG_DONE
    );
    fib.handle_reply(t, routes).unwrap();
    let end = t + Duration::from_millis(1500);
    fib.handle_reply(end, done).unwrap();
    assert_eq!(fib.poll_timeout(), Some(end + Duration::from_secs(15)));
    // Capped at a minute; never below the configured interval.
    assert_eq!(
        next_scan_delay(Duration::from_secs(2), Duration::from_secs(30)),
        Duration::from_secs(60)
    );
    assert_eq!(
        next_scan_delay(Duration::from_secs(300), Duration::from_secs(30)),
        Duration::from_secs(300)
    );
}

#[test]
fn ipv6_metric_zero_is_the_kernels_1024() {
    let k = RouteKey::new(254, net("2001:db8::1/64"), 0);
    assert_eq!(k.metric, 1024);
    assert_eq!(k.prefix, net("2001:db8::/64"));
    assert_eq!(RouteKey::new(254, net("10.1.2.3/8"), 0).metric, 0);
}

fn link_msg(kind: u16, index: u32, name: &str, up: bool) -> Vec<u8> {
    let mut body = vec![0u8; 16];
    body[4..8].copy_from_slice(&index.to_ne_bytes());
    let flags: u32 = if up { 0x1 | 0x40 } else { 0 };
    body[8..12].copy_from_slice(&flags.to_ne_bytes());
    let n = name.len() + 1;
    body.extend_from_slice(&((4 + n) as u16).to_ne_bytes());
    body.extend_from_slice(&3u16.to_ne_bytes()); // IFLA_IFNAME
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let mut v = Vec::new();
    hdr(&mut v, kind, 0, 0, &body);
    v
}

#[test]
fn device_names_resolve_through_the_link_table() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    let _ = events(&mut fib);
    let r = route(
        "10.0.1.0/24",
        RouteKind::Unicast(vec![NextHop::onlink(
            "192.168.0.1".parse().unwrap(),
            Device::Name("tunl0".into()),
        )]),
    );
    fib.apply(FibChange::Upsert(r));
    let mut b = Vec::new();
    assert!(!fib.poll_transmit(&mut b));
    assert_eq!(
        events(&mut fib),
        vec![FibEvent::Outcome {
            key: RouteKey::new(254, net("10.0.1.0/24"), 0),
            op: RouteOp::Add,
            errno: libc::ENODEV
        }]
    );
    fib.handle_notification(now, &link_msg(RTM_NEWLINK, 7, "tunl0", true))
        .unwrap();
    assert!(events(&mut fib).contains(&FibEvent::Link {
        index: 7,
        name: "tunl0".into(),
        up: true
    }));
    // the new link triggers a scan, which finds the route missing and installs it
    fib.handle_timeout(now);
    assert!(fib.poll_transmit(&mut b));
    let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    fib.handle_reply(now, &dump(seq, &[])).unwrap();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent[0].3.nexthops[0].ifindex, 7);
    assert!(sent[0].3.nexthops[0].onlink);
    // a rename or a delete unresolves the name; a new tunl0 resolves it again
    fib.handle_notification(now, &link_msg(RTM_NEWLINK, 7, "tunlX", true))
        .unwrap();
    assert_eq!(fib.name_ifindex, vec![0]);
    fib.handle_notification(now, &link_msg(RTM_NEWLINK, 9, "tunl0", true))
        .unwrap();
    assert_eq!(fib.name_ifindex, vec![9]);
    fib.handle_notification(now, &link_msg(RTM_DELLINK, 9, "tunl0", true))
        .unwrap();
    assert_eq!(fib.name_ifindex, vec![0]);
}

#[test]
fn interface_churn_is_forgotten() {
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), false);
    start(&mut fib, now, &[]);
    for i in 0..10_000u32 {
        let name = format!("cali{i:011}");
        fib.handle_notification(now, &link_msg(RTM_NEWLINK, 100 + i, &name, true))
            .unwrap();
        fib.handle_notification(now, &link_msg(RTM_DELLINK, 100 + i, &name, false))
            .unwrap();
        let _ = events(&mut fib);
    }
    assert_eq!(fib.link_count(), 0);
    assert!(fib.link_by_name.is_empty());
    assert!(fib.names.is_empty());
}

#[test]
fn a_one_family_fib_leaves_the_other_family_alone() {
    // `bird` (IPv4) beside `bird6`: the IPv6 routes of protocol bird are not its own to
    // delete, nor foreign routes to learn.
    let now = Instant::now();
    let mut fib = Fib::new(
        FibConfig {
            families: FibFamilies {
                ipv4: true,
                ipv6: false,
            },
            ..cfg()
        },
        false,
    );
    start(
        &mut fib,
        now,
        &[
            (12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole), // stale, ours
            (12, 254, "fd00:4::/64", 0, WireTarget::Blackhole), // bird6's
            (4, 254, "fd00:5::/64", 0, WireTarget::Blackhole),  // foreign IPv6
        ],
    );
    let ev = events(&mut fib);
    assert!(
        ev.contains(&FibEvent::Reconciled {
            added: 0,
            replaced: 0,
            deleted: 1
        }),
        "{ev:?}"
    );
    assert!(
        !ev.iter().any(|e| matches!(e, FibEvent::LearnedAdd(_))),
        "{ev:?}"
    );
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let deleted: Vec<IpNet> = decode(&b).iter().map(|(_, _, _, r)| r.prefix).collect();
    assert_eq!(deleted, vec![net("10.0.4.0/24")]);
}

#[test]
fn an_adopted_route_desired_again_is_replaced_not_added() {
    // A restart: our route is in the kernel, adopted at start-up; BGP then learns it again.
    // An exclusive add would fail with EEXIST; the FIB must replace the adopted route.
    let now = Instant::now();
    let mut fib = Fib::new(cfg(), true);
    start(
        &mut fib,
        now,
        &[(12, 254, "10.0.4.0/24", 0, WireTarget::Blackhole)],
    );
    fib.apply(FibChange::Upsert(route(
        "10.0.4.0/24",
        RouteKind::Unicast(vec![via("192.168.0.1", 3, false)]),
    )));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, RTM_NEWROUTE);
    assert_eq!(sent[0].1 & NLM_F_REPLACE, NLM_F_REPLACE);
    assert_eq!(sent[0].1 & NLM_F_EXCL, 0);
    fib.handle_reply(now, &ack(sent[0].2, 0)).unwrap();
    // A key that was not in the kernel is still added exclusively.
    fib.apply(FibChange::Upsert(route(
        "10.0.5.0/24",
        RouteKind::Blackhole,
    )));
    let mut b = Vec::new();
    assert!(fib.poll_transmit(&mut b));
    let sent = decode(&b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1 & NLM_F_EXCL, NLM_F_EXCL);
}

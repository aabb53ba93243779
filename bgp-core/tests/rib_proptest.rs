//! DOC: property: any sequence of announcements, withdrawals, peer downs (hard and graceful),
//! End-of-RIBs and next-hop changes from several peers leaves a Loc-RIB equal to the one
//! computed from scratch out of the surviving routes, and the FIB change stream, applied in
//! order, reproduces that Loc-RIB's selected next hops. Three observer peers (eBGP, iBGP RR
//! client, iBGP non-client) pull their UPDATEs at arbitrary points: their Adj-RIBs-Out end up
//! equal to a fresh RIB's initial feed, and the RIBs that decode and apply those UPDATEs hold
//! exactly what the Adj-RIBs-Out say.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp_core::rib::{DecisionOptions, NhState, PeerConfig, Rib, RibConfig, SourceId};
use bgp_core::wire::{frame, Family, Message, Negotiated, Nlri, PathAttributes, MAX_MESSAGE_LEN};
use bytes::BytesMut;
use proptest::prelude::*;
use rib_common::*;

const AS: u32 = 65000;
/// (name, AS, address, ADD-PATH receive)
const PEERS: [(&str, u32, &str, bool); 4] = [
    ("i1", AS, "10.0.0.2", false),
    ("i2", AS, "10.0.0.3", true),
    ("e1", 65001, "192.0.2.1", false),
    ("e2", 65002, "192.0.2.2", false),
];
const PREFIXES: [&str; 6] = [
    "10.1.0.0/16",
    "10.2.0.0/16",
    "10.2.0.0/24",
    "10.3.0.0/16",
    "fd00:1::/48",
    "fd00:2::/48",
];
const NEXT_HOPS: [&str; 3] = ["10.9.0.1", "10.9.0.2", "10.9.0.3"];
/// Receive-only peers: (name, AS, address, RR client). i1 is an RR client too.
const OBSERVERS: [(&str, u32, &str, bool); 3] = [
    ("x", 65300, "192.0.2.50", false),
    ("c", AS, "10.0.0.50", true),
    ("n", AS, "10.0.0.51", false),
];

fn observer_ctx(o: usize) -> Negotiated {
    let (_, asn, addr, _) = OBSERVERS[o];
    neg(AS, "10.0.0.1", asn, addr)
}

/// A RIB on the far side of observer session `o`, fed with what we send.
fn receiver(o: usize) -> (Rib, SourceId) {
    let (_, asn, addr, _) = OBSERVERS[o];
    let mut r = Rib::new(RibConfig::new(asn, v4(addr)));
    let p = r.add_peer(PeerConfig::new("us", ip("10.0.0.1"))).unwrap();
    r.peer_up(p, observer_ctx(o).mirror());
    (r, p)
}

/// Pulls everything pending for observer `o` and applies it to its receiver.
fn pull_into(rib: &mut Rib, id: SourceId, o: usize, recv: &mut (Rib, SourceId)) {
    let mut buf = BytesMut::new();
    while rib.poll_update(id, &mut buf).unwrap() {}
    let mut b = buf.freeze();
    let rx = observer_ctx(o).mirror();
    while !b.is_empty() {
        let len = frame(&b, MAX_MESSAGE_LEN).unwrap().unwrap();
        match Message::decode(b.split_to(len), &rx).unwrap() {
            Message::Update(u) => {
                recv.0.apply_update(recv.1, &u);
            }
            m => panic!("{m:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: usize,
        prefix: usize,
        pid: u32,
        attrs: u8,
        nh: usize,
    },
    Withdraw {
        peer: usize,
        prefix: usize,
        pid: u32,
    },
    Down {
        peer: usize,
        graceful: bool,
    },
    EndOfRib {
        peer: usize,
    },
    NextHop {
        nh: usize,
        reachable: bool,
        cost: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4usize, 0..6usize, 1..3u32, any::<u8>(), 0..3usize)
            .prop_map(|(peer, prefix, pid, attrs, nh)| Op::Announce { peer, prefix, pid, attrs, nh }),
        3 => (0..4usize, 0..6usize, 1..3u32)
            .prop_map(|(peer, prefix, pid)| Op::Withdraw { peer, prefix, pid }),
        1 => (0..4usize, any::<bool>()).prop_map(|(peer, graceful)| Op::Down { peer, graceful }),
        1 => (0..4usize).prop_map(|peer| Op::EndOfRib { peer }),
        1 => (0..3usize, any::<bool>(), 0..3u32)
            .prop_map(|(nh, reachable, cost)| Op::NextHop { nh, reachable, cost }),
    ]
}

/// Attribute variants from a byte: path length, LOCAL_PREF, MED, neighbour AS, cluster list,
/// originator — enough to exercise every decision step including MED non-transitivity.
fn attrs_of(b: u8, peer_as: u32) -> PathAttributes {
    let first = if peer_as == AS {
        65001 + u32::from(b & 1)
    } else {
        peer_as
    };
    let mut path = vec![first];
    path.extend(std::iter::repeat_n(7, usize::from((b >> 1) & 1)));
    let mut a = attrs(&path);
    a.local_pref = [None, Some(200)][usize::from((b >> 2) & 1)];
    a.med = [None, Some(10), Some(20), Some(5)][usize::from((b >> 3) & 3)];
    if b & 0x20 != 0 {
        a.cluster_list = vec![v4("1.1.1.1")];
    }
    if b & 0x40 != 0 {
        a.originator_id = Some(v4("10.7.7.7"));
    }
    a
}

fn family(prefix: usize) -> Family {
    if PREFIXES[prefix].contains(':') {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    }
}

fn next_hop(prefix: usize, nh: usize) -> Option<bgp_core::wire::NextHop> {
    if family(prefix) == Family::IPV6_UNICAST {
        Some(bgp_core::wire::NextHop::V6 {
            global: format!("fd00::{}", nh + 1).parse().unwrap(),
            link_local: None,
        })
    } else {
        nh_of(nh)
    }
}

fn nh_of(nh: usize) -> Option<bgp_core::wire::NextHop> {
    rib_common::nh(NEXT_HOPS[nh])
}

fn nh_addr(prefix: usize, nh: usize) -> IpAddr {
    if family(prefix) == Family::IPV6_UNICAST {
        format!("fd00::{}", nh + 1).parse().unwrap()
    } else {
        ip(NEXT_HOPS[nh])
    }
}

fn new_rib(opts: DecisionOptions, observers_up: bool) -> (Rib, Vec<SourceId>, Vec<SourceId>) {
    let mut rib = Rib::new(RibConfig {
        decision: opts,
        ..RibConfig::new(AS, v4("10.0.0.1"))
    });
    let mut ids = Vec::new();
    for (name, asn, addr, ap) in PEERS {
        let mut cfg = PeerConfig::new(name, ip(addr));
        cfg.rr_client = name == "i1";
        let id = rib.add_peer(cfg).unwrap();
        let mut ctx = neg(AS, "10.0.0.1", asn, addr);
        if ap {
            ctx.add_path_rx = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        }
        rib.peer_up(id, ctx);
        ids.push(id);
    }
    let mut obs = Vec::new();
    for (o, (name, _, addr, client)) in OBSERVERS.into_iter().enumerate() {
        let mut cfg = PeerConfig::new(name, ip(addr));
        cfg.rr_client = client;
        cfg.local_v4 = Some(v4("10.0.0.1"));
        cfg.local_v6 = Some("fd00::100".parse().unwrap());
        let id = rib.add_peer(cfg).unwrap();
        if observers_up {
            rib.peer_up(id, observer_ctx(o));
        }
        obs.push(id);
    }
    (rib, ids, obs)
}

fn nlri_of(peer: usize, prefix: usize, pid: u32) -> Nlri {
    let p = net(PREFIXES[prefix]);
    if PEERS[peer].3 {
        Nlri::with_path_id(p, pid)
    } else {
        Nlri::new(p)
    }
}

/// The Loc-RIB as comparable values: prefix → selected (source, path id, attributes).
type View = BTreeMap<String, Vec<(SourceId, u32, String)>>;

fn view(rib: &Rib) -> View {
    let mut v = View::new();
    for p in PREFIXES {
        let sel: Vec<_> = rib
            .selected(&net(p))
            .into_iter()
            .map(|r| (r.source, r.path_id, format!("{:?}", r.attrs)))
            .collect();
        if !sel.is_empty() {
            v.insert(p.to_string(), sel);
        }
    }
    v
}

fn run(ops: &[Op], opts: DecisionOptions) -> Result<(), TestCaseError> {
    let (mut rib, ids, obs) = new_rib(opts, true);
    let mut receivers: Vec<(Rib, SourceId)> = (0..OBSERVERS.len()).map(receiver).collect();
    // Model: (peer, prefix, pid) → (attrs byte, next hop, stale).
    let mut model: BTreeMap<(usize, usize, u32), (u8, usize, bool)> = BTreeMap::new();
    let mut nh_state: BTreeMap<IpAddr, NhState> = BTreeMap::new();
    let mut fib: BTreeMap<String, Vec<Option<IpAddr>>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Announce {
                peer,
                prefix,
                pid,
                attrs,
                nh,
            } => {
                let pid = if PEERS[peer].3 { pid } else { 0 };
                rib.announce(
                    ids[peer],
                    family(prefix),
                    &attrs_of(attrs, PEERS[peer].1),
                    next_hop(prefix, nh),
                    &[nlri_of(peer, prefix, pid)],
                );
                model.insert((peer, prefix, pid), (attrs, nh, false));
            }
            Op::Withdraw { peer, prefix, pid } => {
                let pid = if PEERS[peer].3 { pid } else { 0 };
                rib.withdraw(ids[peer], family(prefix), &nlri_of(peer, prefix, pid));
                model.remove(&(peer, prefix, pid));
            }
            Op::Down { peer, graceful } => {
                rib.peer_down(ids[peer], graceful);
                let (_, asn, addr, ap) = PEERS[peer];
                let mut ctx = neg(AS, "10.0.0.1", asn, addr);
                if ap {
                    ctx.add_path_rx = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
                }
                rib.peer_up(ids[peer], ctx);
                if graceful {
                    for (k, v) in model.iter_mut() {
                        if k.0 == peer {
                            v.2 = true;
                        }
                    }
                } else {
                    model.retain(|k, _| k.0 != peer);
                }
            }
            Op::EndOfRib { peer } => {
                rib.end_of_rib(ids[peer], Family::IPV4_UNICAST);
                rib.end_of_rib(ids[peer], Family::IPV6_UNICAST);
                model.retain(|k, v| !(k.0 == peer && v.2));
            }
            Op::NextHop {
                nh,
                reachable,
                cost,
            } => {
                let st = NhState {
                    reachable,
                    igp_cost: cost,
                };
                for prefix in [0, 4] {
                    rib.set_next_hop_state(nh_addr(prefix, nh), st);
                    nh_state.insert(nh_addr(prefix, nh), st);
                }
            }
        }
        // Observers pull at some points only, so their changes coalesce too.
        if i % 4 == 3 {
            for (o, &id) in obs.iter().enumerate() {
                pull_into(&mut rib, id, o, &mut receivers[o]);
            }
        }
        // Drain the FIB after some operations only, so changes also coalesce.
        if i % 3 == 2 || matches!(op, Op::Down { .. }) {
            while let Some(c) = rib.poll_fib_change() {
                match c.route {
                    Some(r) => fib.insert(
                        c.prefix.to_string(),
                        r.next_hops.iter().map(|h| h.addr).collect(),
                    ),
                    None => fib.remove(&c.prefix.to_string()),
                };
            }
        }
    }
    while let Some(c) = rib.poll_fib_change() {
        match c.route {
            Some(r) => fib.insert(
                c.prefix.to_string(),
                r.next_hops.iter().map(|h| h.addr).collect(),
            ),
            None => fib.remove(&c.prefix.to_string()),
        };
    }
    // From scratch.
    let (mut fresh, fids, fobs) = new_rib(opts, false);
    for (addr, st) in &nh_state {
        fresh.set_next_hop_state(*addr, *st);
    }
    for (&(peer, prefix, pid), &(attrs, nh, _)) in &model {
        fresh.announce(
            fids[peer],
            family(prefix),
            &attrs_of(attrs, PEERS[peer].1),
            next_hop(prefix, nh),
            &[nlri_of(peer, prefix, pid)],
        );
    }
    let want = view(&fresh);
    prop_assert_eq!(view(&rib), want.clone());
    let want_fib: BTreeMap<String, Vec<Option<IpAddr>>> = PREFIXES
        .iter()
        .filter_map(|p| {
            let sel = fresh.selected(&net(p));
            (!sel.is_empty()).then(|| {
                (
                    net(p).to_string(),
                    sel.iter().map(|r| r.attrs.next_hop_addr()).collect(),
                )
            })
        })
        .collect();
    prop_assert_eq!(fib, want_fib);
    // Adj-RIBs-Out: incremental = a fresh initial feed; receivers hold what they say.
    for (o, (&id, &fid)) in obs.iter().zip(&fobs).enumerate() {
        pull_into(&mut rib, id, o, &mut receivers[o]);
        fresh.peer_up(fid, observer_ctx(o));
        let mut sink = receiver(o);
        pull_into(&mut fresh, fid, o, &mut sink);
        for p in PREFIXES {
            let got = rib.adj_rib_out(id, &net(p));
            prop_assert_eq!(
                &got,
                &fresh.adj_rib_out(fid, &net(p)),
                "observer {} {}",
                o,
                p
            );
            let rcv = receivers[o].0.best(&net(p));
            prop_assert_eq!(rcv.is_some(), !got.is_empty(), "receiver {} {}", o, p);
            if let (Some(r), Some((_, a))) = (rcv, got.first()) {
                prop_assert_eq!(&r.attrs.next_hop, &a.next_hop);
                prop_assert_eq!(&r.attrs.attrs.as_path, &a.attrs.as_path);
            }
        }
    }
    // Every interned set is referenced by some path.
    let paths: usize = PREFIXES.iter().map(|p| rib.routes(&net(p)).len()).sum();
    prop_assert!(rib.attr_sets() <= paths);
    // The running counters equal a walk over the table.
    let mut per: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
    let mut networks = 0u64;
    for p in PREFIXES {
        let rs = rib.routes(&net(p));
        networks += u64::from(!rs.is_empty());
        for (i, r) in rs.iter().enumerate() {
            let e = per.entry(r.source.0).or_default();
            e.0 += 1;
            e.1 += u64::from(i == 0 && r.selected);
        }
    }
    prop_assert_eq!(rib.table_counts(), (networks, paths as u64));
    for id in ids.iter().chain(&obs) {
        let want = per.get(&id.0).copied().unwrap_or((0, 0));
        let c = rib.source_counts(*id);
        prop_assert_eq!((c.routes, c.best), want, "source {}", id.0);
    }
    for &id in &obs {
        let exported: u64 = PREFIXES
            .iter()
            .map(|p| rib.adj_rib_out(id, &net(p)).len() as u64)
            .sum();
        prop_assert_eq!(rib.source_counts(id).exported, exported);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_from_scratch(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops, DecisionOptions::default())?;
    }

    #[test]
    fn incremental_equals_from_scratch_multipath_med_modes(
        ops in proptest::collection::vec(op(), 1..60),
        always in any::<bool>(),
        deterministic in any::<bool>(),
    ) {
        run(&ops, DecisionOptions { always_compare_med: always, deterministic_med: deterministic, max_paths: 3 })?;
    }
}

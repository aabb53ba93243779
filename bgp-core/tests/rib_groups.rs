//! DOC: update groups (issue 16): peers with the same export output share one Adj-RIB-Out and
//! one encoding. Proven against per-peer export: a second RIB fed the same operations in which
//! every peer is a group of its own (a distinct export filter name each, same filter text), so
//! its export is the per-peer one; every peer's received routes (decoded from the UPDATE bytes)
//! and its Adj-RIB-Out must be the same in both. Also: membership follows configuration and
//! renegotiation, split horizon (no route back to its source), and a member that stops reading
//! delays no other member and holds a bounded backlog.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::needless_range_loop
)] // test code

mod rib_common;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bgp_core::filter::{Attr, Expr, Filter, PrefixRange, PrefixSet, Set, Stmt, Value};
use bgp_core::rib::{NextHopMode, PeerConfig, Rib, RibConfig, SourceId};
use bgp_core::wire::{
    frame, AsPath, Family, Message, Negotiated, Nlri, Origin, PathAttributes, Update,
    MAX_MESSAGE_LEN,
};
use bytes::BytesMut;
use ipnet::IpNet;
use proptest::prelude::*;
use rib_common::{net, v4};

const AS: u32 = 65000;
const V4: Family = Family::IPV4_UNICAST;

/// What a receiver holds from us: prefix → (attributes, next hop as text).
type Received = HashMap<IpNet, (PathAttributes, String)>;

/// Peer kinds of the reflector's neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Client,
    NonClient,
    Ebgp(u32),
}

fn filters() -> Vec<(&'static str, Filter)> {
    let in_10_1 = Expr::matches(
        Expr::attr(Attr::Net),
        Expr::val(Value::set(Set::Prefix(PrefixSet::new(["10.1.0.0/16+"
            .parse::<PrefixRange>()
            .unwrap()])))),
    );
    vec![
        ("all", Filter::accept_all()),
        (
            "no_10_1",
            Filter::simple(
                "no_10_1",
                vec![Stmt::if_then(in_10_1, vec![Stmt::Reject]), Stmt::Accept],
            )
            .unwrap(),
        ),
        (
            "med",
            Filter::simple(
                "med",
                vec![Stmt::SetAttr(Attr::BgpMed, Expr::int(7)), Stmt::Accept],
            )
            .unwrap(),
        ),
    ]
}

/// One reflector and its receivers. `solo` gives every peer its own export filter name, so no
/// two peers share a group: the per-peer export.
struct Side {
    rib: Rib,
    solo: bool,
    rx: Vec<Received>,
    negs: Vec<Option<Negotiated>>,
    msgs: usize,
}

struct Peer {
    kind: Kind,
    policy: Option<&'static str>,
    next_hop: NextHopMode,
}

fn peer_cfg(i: usize, p: &Peer, solo: bool) -> PeerConfig {
    let mut c = PeerConfig::new(
        format!("p{i}"),
        rib_common::ip(&format!("10.0.1.{}", i + 1)),
    );
    c.rr_client = p.kind == Kind::Client;
    c.next_hop = p.next_hop;
    c.local_v4 = Some(v4("10.0.0.1"));
    c.export = match (p.policy, solo) {
        (Some(f), false) => Some(f.to_string()),
        (Some(f), true) => Some(format!("{f}#{i}")),
        (None, false) => None,
        (None, true) => Some(format!("all#{i}")),
    };
    c
}

fn neg_of(i: usize, kind: Kind, four_octet: bool) -> Negotiated {
    Negotiated {
        local_as: AS,
        peer_as: match kind {
            Kind::Ebgp(a) => a,
            _ => AS,
        },
        local_id: v4("10.0.0.1"),
        peer_id: Ipv4Addr::new(10, 0, 1, i as u8 + 1),
        four_octet_as: four_octet,
        families: vec![V4],
        ..Negotiated::default()
    }
}

impl Side {
    fn new(peers: &[Peer], solo: bool) -> Side {
        Side::with(peers, solo, RibConfig::new(AS, v4("10.0.0.1")))
    }

    fn with(peers: &[Peer], solo: bool, cfg: RibConfig) -> Side {
        let mut rib = Rib::new(cfg);
        for (name, f) in filters() {
            if solo {
                for i in 0..peers.len() {
                    rib.set_policy(format!("{name}#{i}"), f.clone());
                }
            } else {
                rib.set_policy(name, f);
            }
        }
        for (i, p) in peers.iter().enumerate() {
            let id = rib.add_peer(peer_cfg(i, p, solo)).unwrap();
            assert_eq!(id, SourceId((i + 3) as u16));
        }
        Side {
            rib,
            solo,
            rx: peers.iter().map(|_| Received::new()).collect(),
            negs: peers.iter().map(|_| None).collect(),
            msgs: 0,
        }
    }

    fn up(&mut self, i: usize, kind: Kind, four_octet: bool) {
        let n = neg_of(i, kind, four_octet);
        self.rib.peer_up(sid(i), n.clone());
        self.negs[i] = Some(n);
        self.rx[i].clear();
    }

    fn down(&mut self, i: usize) {
        self.rib.peer_down(sid(i), false);
        self.negs[i] = None;
        self.rx[i].clear();
    }

    /// Reads up to `n` UPDATEs of peer `i` into its receiver; returns how many there were.
    fn pull(&mut self, i: usize, n: usize) -> usize {
        let Some(neg) = self.negs[i].clone() else {
            return 0;
        };
        let mut got = 0;
        let mut buf = BytesMut::new();
        while got < n && self.rib.poll_update(sid(i), &mut buf).unwrap() {
            got += 1;
        }
        self.msgs += got;
        apply(&mut self.rx[i], buf, &neg);
        got
    }

    fn settle(&mut self) {
        loop {
            let mut moved = 0;
            for i in 0..self.rx.len() {
                moved += self.pull(i, usize::MAX);
            }
            if moved == 0 {
                return;
            }
        }
    }
}

fn sid(i: usize) -> SourceId {
    SourceId((i + 3) as u16)
}

/// Decodes the UPDATEs in `buf` as the peer would (its side of `neg`) into `rx`.
fn apply(rx: &mut Received, buf: BytesMut, neg: &Negotiated) {
    let mut bytes = buf.freeze();
    let mirror = neg.mirror();
    while !bytes.is_empty() {
        let len = frame(&bytes, MAX_MESSAGE_LEN).unwrap().unwrap();
        let msg = bytes.split_to(len);
        let Message::Update(u) = Message::decode(msg, &mirror).unwrap() else {
            panic!("not an UPDATE");
        };
        for (_, n) in u.withdrawn_routes() {
            rx.remove(&n.prefix);
        }
        for a in u.announced() {
            for n in a.nlri {
                rx.insert(
                    n.prefix,
                    (
                        u.attrs.clone(),
                        format!("{:?}", a.next_hop.map(|n| format!("{n:?}"))),
                    ),
                );
            }
        }
    }
}

/// An UPDATE from peer `i` of kind `kind` announcing (or withdrawing) `prefix`.
fn route(i: usize, kind: Kind, prefix: IpNet, variant: u8, withdraw: bool) -> Update {
    let mut u = Update::default();
    if withdraw {
        u.withdrawn = vec![Nlri::new(prefix)];
        return u;
    }
    let mut path: Vec<u32> = match kind {
        Kind::Ebgp(a) => vec![a],
        _ => vec![],
    };
    path.extend((0..variant % 3).map(|k| 65100 + k as u32));
    u.attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(&path)),
        next_hop: Some(Ipv4Addr::new(10, 0, 1, i as u8 + 1)),
        local_pref: if matches!(kind, Kind::Ebgp(_)) {
            None
        } else {
            Some(100 + u32::from(variant / 3))
        },
        ..PathAttributes::default()
    };
    u.nlri = vec![Nlri::new(prefix)];
    u
}

fn prefix(n: u8) -> IpNet {
    net(&format!("10.{}.{}.0/24", 1 + n % 2, n))
}

#[derive(Debug, Clone)]
enum Op {
    Route {
        peer: usize,
        p: u8,
        variant: u8,
        withdraw: bool,
    },
    Pull {
        peer: usize,
        n: usize,
    },
    Down {
        peer: usize,
    },
    Up {
        peer: usize,
        four_octet: bool,
    },
    Policy {
        peer: usize,
        policy: u8,
    },
}

fn op(peers: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..peers, 0..12u8, 0..6u8, any::<bool>())
            .prop_map(|(peer, p, variant, withdraw)| Op::Route { peer, p, variant, withdraw }),
        2 => (0..peers, 1..4usize).prop_map(|(peer, n)| Op::Pull { peer, n }),
        1 => (0..peers).prop_map(|peer| Op::Down { peer }),
        1 => (0..peers, any::<bool>()).prop_map(|(peer, four_octet)| Op::Up { peer, four_octet }),
        1 => (0..peers, 0..4u8).prop_map(|(peer, policy)| Op::Policy { peer, policy }),
    ]
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind::Client,
        Kind::Client,
        Kind::Client,
        Kind::NonClient,
        Kind::NonClient,
        Kind::Ebgp(65001),
        Kind::Ebgp(65002),
        Kind::Client,
    ]
}

fn policy_of(n: u8) -> Option<&'static str> {
    [None, Some("all"), Some("no_10_1"), Some("med")][usize::from(n % 4)]
}

/// Runs `ops` on a grouped and a per-peer reflector and compares every peer's routes. With
/// `tiny`, a group's stream holds a few hundred octets: members that do not read at once fall
/// back to their own catch-up all the time.
fn check(ops: &[Op], nh_self: bool, tiny: bool) {
    let mut peers: Vec<Peer> = kinds()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Peer {
            kind,
            policy: None,
            next_hop: if nh_self && i % 2 == 0 {
                NextHopMode::SelfAlways
            } else {
                NextHopMode::Default
            },
        })
        .collect();
    let cfg = RibConfig {
        group_stream_bytes: if tiny { 300 } else { 2 << 20 },
        ..RibConfig::new(AS, v4("10.0.0.1"))
    };
    let mut sides = [
        Side::with(&peers, false, cfg.clone()),
        Side::with(&peers, true, cfg),
    ];
    for s in sides.iter_mut() {
        for (i, p) in peers.iter().enumerate() {
            s.up(i, p.kind, true);
        }
    }
    for op in ops {
        match *op {
            Op::Route {
                peer,
                p,
                variant,
                withdraw,
            } => {
                if sides[0].negs[peer].is_none() {
                    continue;
                }
                let u = route(peer, peers[peer].kind, prefix(p), variant, withdraw);
                for s in sides.iter_mut() {
                    s.rib.apply_update(sid(peer), &u);
                }
            }
            Op::Pull { peer, n } => {
                for s in sides.iter_mut() {
                    s.pull(peer, n);
                }
            }
            Op::Down { peer } => sides.iter_mut().for_each(|s| s.down(peer)),
            Op::Up { peer, four_octet } => {
                for s in sides.iter_mut() {
                    if s.negs[peer].is_some() {
                        s.down(peer);
                    }
                    s.up(peer, peers[peer].kind, four_octet);
                }
            }
            Op::Policy { peer, policy } => {
                peers[peer].policy = policy_of(policy);
                for s in sides.iter_mut() {
                    let cfg = peer_cfg(peer, &peers[peer], s.solo);
                    s.rib.set_peer_config(sid(peer), cfg);
                    s.rib.refresh_export(sid(peer), false);
                }
            }
        }
    }
    for s in sides.iter_mut() {
        s.settle();
    }
    let [g, solo] = &sides;
    for i in 0..peers.len() {
        let (a, b) = (sort(&g.rx[i]), sort(&solo.rx[i]));
        let only = |x: &[(IpNet, String)], y: &[(IpNet, String)]| -> Vec<(IpNet, String)> {
            x.iter().filter(|e| !y.contains(e)).cloned().collect()
        };
        assert!(
            a == b,
            "peer {i} ({:?}) received different routes with groups: only grouped {:?}, only per-peer {:?}",
            peers[i].kind,
            only(&a, &b),
            only(&b, &a)
        );
        for p in 0..12 {
            assert_eq!(
                g.rib.adj_rib_out(sid(i), &prefix(p)),
                solo.rib.adj_rib_out(sid(i), &prefix(p)),
                "Adj-RIB-Out of peer {i} for {}",
                prefix(p)
            );
            // What the Adj-RIB-Out says is what the peer has.
            assert_eq!(
                g.rib.adj_rib_out(sid(i), &prefix(p)).is_empty(),
                !g.rx[i].contains_key(&prefix(p)),
                "peer {i}, {}",
                prefix(p)
            );
        }
        assert_eq!(
            g.rib.source_counts(sid(i)).exported,
            solo.rib.source_counts(sid(i)).exported
        );
    }
    // The per-peer side really is per peer.
    assert!(solo.rib.update_groups(V4).iter().all(|m| m.len() == 1));
}

fn sort(r: &Received) -> Vec<(IpNet, String)> {
    let mut v: Vec<(IpNet, String)> = r.iter().map(|(k, v)| (*k, format!("{v:?}"))).collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("GROUPS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96), ..ProptestConfig::default() })]

    /// Random routes, policies, partial reads, members leaving and joining (with a different
    /// 4-octet AS capability sometimes), streams that overflow or not: every peer ends with
    /// exactly the per-peer export.
    #[test]
    fn grouped_export_equals_per_peer_export(
        ops in prop::collection::vec(op(8), 1..80),
        nh_self in any::<bool>(),
        tiny in any::<bool>(),
    ) {
        check(&ops, nh_self, tiny);
    }
}

fn all_up(peers: &[Peer]) -> Side {
    let mut s = Side::new(peers, false);
    for (i, p) in peers.iter().enumerate() {
        s.up(i, p.kind, true);
    }
    s
}

fn clients(n: usize) -> Vec<Peer> {
    (0..n)
        .map(|_| Peer {
            kind: Kind::Client,
            policy: None,
            next_hop: NextHopMode::Default,
        })
        .collect()
}

fn group_sizes(rib: &Rib) -> Vec<usize> {
    let mut v: Vec<usize> = rib.update_groups(V4).iter().map(Vec::len).collect();
    v.sort();
    v
}

#[test]
fn membership_follows_policy_kind_and_capabilities() {
    let mut peers = clients(4);
    peers[3].kind = Kind::NonClient;
    let mut s = all_up(&peers);
    // Three clients share one group; the non-client is apart.
    assert_eq!(group_sizes(&s.rib), vec![1, 3]);
    // Reload: peer 1 gets another export filter, and moves out.
    peers[1].policy = Some("no_10_1");
    s.rib.set_peer_config(sid(1), peer_cfg(1, &peers[1], false));
    s.rib.refresh_export(sid(1), false);
    assert_eq!(group_sizes(&s.rib), vec![1, 1, 2]);
    // Back to the first filter: back in the group.
    peers[1].policy = None;
    s.rib.set_peer_config(sid(1), peer_cfg(1, &peers[1], false));
    assert_eq!(group_sizes(&s.rib), vec![1, 3]);
    // Next hop self is another group.
    peers[2].next_hop = NextHopMode::SelfAlways;
    s.rib.set_peer_config(sid(2), peer_cfg(2, &peers[2], false));
    assert_eq!(group_sizes(&s.rib), vec![1, 1, 2]);
    peers[2].next_hop = NextHopMode::Default;
    s.rib.set_peer_config(sid(2), peer_cfg(2, &peers[2], false));
    // Renegotiation without 4-octet AS: another encoding, another group.
    s.down(0);
    assert_eq!(group_sizes(&s.rib), vec![1, 2]);
    s.up(0, Kind::Client, false);
    assert_eq!(group_sizes(&s.rib), vec![1, 1, 2]);
    s.down(0);
    s.up(0, Kind::Client, true);
    assert_eq!(group_sizes(&s.rib), vec![1, 3]);
    // The last member leaving frees its group.
    s.down(3);
    assert_eq!(group_sizes(&s.rib), vec![3]);
}

#[test]
fn a_member_moved_by_a_reload_gets_the_new_groups_routes_and_loses_the_old_ones() {
    let mut peers = clients(3);
    let mut s = all_up(&peers);
    for p in 0..6 {
        let u = route(0, Kind::Client, prefix(p), 0, false);
        s.rib.apply_update(sid(0), &u);
    }
    s.settle();
    assert_eq!(s.rx[1].len(), 6);
    peers[1].policy = Some("no_10_1");
    s.rib.set_peer_config(sid(1), peer_cfg(1, &peers[1], false));
    s.rib.refresh_export(sid(1), false);
    s.settle();
    let mut got: Vec<IpNet> = s.rx[1].keys().copied().collect();
    got.sort();
    let want: Vec<IpNet> = (0..6)
        .map(prefix)
        .filter(|p| p.to_string().starts_with("10.2."))
        .collect();
    assert_eq!(got, want);
    assert_eq!(s.rx[2].len(), 6, "the group it left is unchanged");
}

/// RFC 4456 §8 and RFC 4271 §9 leave dropping a route's echo to the receiver as a SHOULD, so
/// the group never sends a route back to its source: the source is skipped in the shared
/// stream, or gets the prefix withdrawn when it had another peer's path for it.
#[test]
fn split_horizon_within_a_group() {
    let peers = clients(3);
    let mut s = all_up(&peers);
    s.settle();
    let p = prefix(0);
    // Client 0 advertises: the others get it, client 0 nothing.
    s.rib
        .apply_update(sid(0), &route(0, Kind::Client, p, 0, false));
    s.settle();
    assert!(!s.rx[0].contains_key(&p));
    assert!(s.rx[1].contains_key(&p) && s.rx[2].contains_key(&p));
    // A better path from client 1: client 0 gets it, client 1 gets its previous one (client
    // 0's) withdrawn, not its own back.
    s.rib
        .apply_update(sid(1), &route(1, Kind::Client, p, 5, false));
    s.settle();
    assert!(s.rx[0].contains_key(&p));
    assert!(!s.rx[1].contains_key(&p), "client 1 got its own route back");
    let (attrs, _) = &s.rx[2][&p];
    assert_eq!(attrs.originator_id, Some(v4("10.0.1.2")));
    // Client 1 withdraws: client 0's path comes back to client 1 and 2, client 0 has none.
    s.rib
        .apply_update(sid(1), &route(1, Kind::Client, p, 0, true));
    s.settle();
    assert!(!s.rx[0].contains_key(&p));
    assert_eq!(s.rx[1][&p].0.originator_id, Some(v4("10.0.1.1")));
    assert_eq!(s.rx[2][&p].0.originator_id, Some(v4("10.0.1.1")));
    assert_eq!(s.rib.source_counts(sid(0)).exported, 0);
    assert_eq!(s.rib.source_counts(sid(1)).exported, 1);
}

#[test]
fn a_member_that_stops_reading_delays_no_one_and_its_backlog_is_bounded() {
    const LIMIT: usize = 16 << 10;
    let peers = clients(4);
    let mut s = Side::with(
        &peers,
        false,
        RibConfig {
            group_stream_bytes: LIMIT,
            ..RibConfig::new(AS, v4("10.0.0.1"))
        },
    );
    for (i, p) in peers.iter().enumerate() {
        s.up(i, p.kind, true);
    }
    s.settle();
    // Peer 3 stops reading. 4,000 prefixes arrive one UPDATE each, the others read as they go.
    let n = 4000u32;
    let mut most = 0;
    for k in 0..n {
        let p = net(&format!("10.{}.{}.0/24", 100 + k / 256, k % 256));
        s.rib
            .apply_update(sid(0), &route(0, Kind::Client, p, (k % 5) as u8, false));
        if k % 50 == 0 {
            for i in 1..3 {
                s.pull(i, usize::MAX);
            }
        }
        most = most.max(s.rib.update_group_backlog(sid(1), V4).1);
    }
    for i in 1..3 {
        s.pull(i, usize::MAX);
        assert_eq!(
            s.rx[i].len(),
            n as usize,
            "peer {i} is complete without peer 3"
        );
    }
    // The group's stream never held much more than its bound (one batch of at most 1,024
    // prefixes past it).
    assert!(
        most > LIMIT / 2,
        "the stream reached its bound ({most} octets)"
    );
    assert!(most <= LIMIT + (32 << 10), "stream {most} octets");
    // Peer 3's own backlog is a set of prefixes, at most one entry each.
    let (_, _, own) = s.rib.update_group_backlog(sid(3), V4);
    assert!(own <= n as usize, "own backlog {own}");
    assert!(own > 0, "peer 3 lagged past the stream");
    // It catches up with exactly the group's routes.
    s.pull(3, usize::MAX);
    assert_eq!(sort(&s.rx[3]), sort(&s.rx[1]));
    assert_eq!(s.rib.update_group_backlog(sid(3), V4).2, 0);
    s.settle();
    assert_eq!(s.rib.update_group_backlog(sid(3), V4), (0, 0, 0));
}

#[test]
fn a_change_is_encoded_once_per_group() {
    // 50 clients in one group: one change, one group evaluation. Counted from the outside as
    // the stream's length while no member has read it.
    let peers = clients(50);
    let mut s = all_up(&peers);
    s.settle();
    s.rib
        .apply_update(sid(0), &route(0, Kind::Client, prefix(1), 0, false));
    s.pull(1, usize::MAX);
    let (stream, _, _) = s.rib.update_group_backlog(sid(2), V4);
    assert_eq!(stream, 1, "one UPDATE for the whole group");
    s.settle();
    let (stream, bytes, _) = s.rib.update_group_backlog(sid(2), V4);
    assert_eq!(
        (stream, bytes),
        (0, 0),
        "read by every member, then dropped"
    );
    for i in 1..50 {
        assert!(s.rx[i].contains_key(&prefix(1)));
    }
}

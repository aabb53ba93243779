//! DOC: peer-down and graceful-restart sweeps of a source whose share of the table changes:
//! a full-table peer keeps no log of its prefixes (its sweeps scan the table), a peer with a
//! small share keeps one, and a source moves between the two as its share grows or shrinks.
//! Every step is checked against a model of which peer has which prefix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bgp_core::rib::{Rib, RibConfig, SourceId};
use bgp_core::wire::{Family, Nlri};
use ipnet::{IpNet, Ipv4Net};
use rib_common::*;

const AS: u32 = 65000;
/// More prefixes than a source may have while keeping its log when it holds most of the table
/// (the RIB's threshold is 4,096).
const FULL: u32 = 10_000;

fn rib() -> Rib {
    Rib::new(RibConfig::new(AS, v4("10.0.0.1")))
}

fn up(rib: &mut Rib, addr: &str) -> SourceId {
    let p = rib
        .add_peer(bgp_core::rib::PeerConfig::new(addr, ip(addr)))
        .unwrap();
    reup(rib, p, addr);
    p
}

fn reup(rib: &mut Rib, p: SourceId, addr: &str) {
    let mut n = neg(AS, "10.0.0.1", 65100, addr);
    n.families = vec![Family::IPV4_UNICAST];
    rib.peer_up(p, n);
}

/// The /24 number `i` of first octet `a`.
fn pfx(a: u8, i: u32) -> IpNet {
    let addr = Ipv4Addr::from((u32::from(a) << 24) + i * 256);
    IpNet::V4(Ipv4Net::new(addr, 24).unwrap())
}

/// Which peers have a path for which prefix, and which of those paths are stale.
#[derive(Default)]
struct Model {
    has: BTreeMap<IpNet, BTreeMap<u16, bool>>,
}

struct Peer {
    id: SourceId,
    addr: &'static str,
}

impl Model {
    fn announce(&mut self, rib: &mut Rib, p: &Peer, nets: &[IpNet]) {
        for chunk in nets.chunks(500) {
            let n: Vec<Nlri> = chunk.iter().map(|n| Nlri::new(*n)).collect();
            rib.announce(p.id, Family::IPV4_UNICAST, &attrs(&[65100]), nh(p.addr), &n);
        }
        for n in nets {
            self.has.entry(*n).or_default().insert(p.id.0, false);
        }
    }

    fn withdraw(&mut self, rib: &mut Rib, p: &Peer, nets: &[IpNet]) {
        for n in nets {
            rib.withdraw(p.id, Family::IPV4_UNICAST, &Nlri::new(*n));
            if let Some(m) = self.has.get_mut(n) {
                m.remove(&p.id.0);
            }
        }
        self.has.retain(|_, m| !m.is_empty());
    }

    fn down(&mut self, rib: &mut Rib, p: &Peer, graceful: bool) {
        rib.peer_down(p.id, graceful);
        for m in self.has.values_mut() {
            if let Some(stale) = m.get_mut(&p.id.0) {
                *stale = true;
            }
        }
        if !graceful {
            self.sweep(p, false);
        }
    }

    /// Drops `p`'s paths (only the stale ones if `only_stale`).
    fn sweep(&mut self, p: &Peer, only_stale: bool) {
        for m in self.has.values_mut() {
            if m.get(&p.id.0).is_some_and(|&stale| stale || !only_stale) {
                m.remove(&p.id.0);
            }
        }
        self.has.retain(|_, m| !m.is_empty());
    }

    /// The RIB holds exactly the model's paths, stale where the model says, and the FIB
    /// (drained) agrees on which prefixes have a route.
    fn check(&self, rib: &mut Rib, peers: &[&Peer]) {
        while rib.poll_fib_change().is_some() {}
        assert_eq!(
            rib.prefixes(Family::IPV4_UNICAST),
            self.has.keys().copied().collect::<Vec<_>>()
        );
        for (n, m) in &self.has {
            let got: BTreeMap<u16, bool> = rib
                .routes(n)
                .iter()
                .map(|r| (r.source.0, r.stale))
                .collect();
            assert_eq!(&got, m, "{n}");
            assert!(rib.fib_route(n).is_some(), "{n} not in the FIB");
        }
        for p in peers {
            let want: Vec<IpNet> = self
                .has
                .iter()
                .filter(|(_, m)| m.contains_key(&p.id.0))
                .map(|(n, _)| *n)
                .collect();
            let got: Vec<IpNet> = rib
                .source_routes(p.id, Family::IPV4_UNICAST)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(got, want, "source_routes of {}", p.addr);
        }
    }

    /// Graceful restart of `p`: down, back up, re-announces `again`, End-of-RIB; then
    /// down for good.
    fn restart_then_down(&mut self, rib: &mut Rib, p: &Peer, again: &[IpNet], peers: &[&Peer]) {
        self.down(rib, p, true);
        self.check(rib, peers);
        reup(rib, p.id, p.addr);
        self.announce(rib, p, again);
        self.check(rib, peers);
        rib.end_of_rib(p.id, Family::IPV4_UNICAST);
        self.sweep(p, true);
        self.check(rib, peers);
        // A second restart that ends on the stale timer.
        self.down(rib, p, true);
        reup(rib, p.id, p.addr);
        self.announce(rib, p, &again[..again.len() / 2]);
        rib.stale_timer_expired(p.id);
        self.sweep(p, true);
        self.check(rib, peers);
        self.down(rib, p, false);
        self.check(rib, peers);
    }
}

/// Two peers up: 10.0.0.2 and 10.0.0.3.
fn two_peers(r: &mut Rib) -> (Peer, Peer) {
    let a = Peer {
        id: up(r, "10.0.0.2"),
        addr: "10.0.0.2",
    };
    let b = Peer {
        id: up(r, "10.0.0.3"),
        addr: "10.0.0.3",
    };
    (a, b)
}

fn range(a: u8, r: std::ops::Range<u32>) -> Vec<IpNet> {
    r.map(|i| pfx(a, i)).collect()
}

#[test]
fn a_full_table_peer_is_swept_by_scanning_the_table() {
    let mut r = rib();
    let (a, b) = two_peers(&mut r);
    let mut m = Model::default();
    m.announce(&mut r, &a, &range(30, 0..FULL));
    // The small peer overlaps the full one on 100 prefixes and has 100 of its own.
    m.announce(&mut r, &b, &range(30, 5_000..5_100));
    m.announce(&mut r, &b, &range(31, 0..100));
    m.check(&mut r, &[&a, &b]);
    m.withdraw(&mut r, &a, &range(30, 0..10));
    m.check(&mut r, &[&a, &b]);
    m.restart_then_down(&mut r, &a, &range(30, 2_000..7_000), &[&a, &b]);
    // Only the small peer's routes are left.
    assert_eq!(r.prefixes(Family::IPV4_UNICAST).len(), 200);
    // It comes back with a full table, and the small one goes.
    m.announce(&mut r, &a, &range(30, 0..FULL));
    m.down(&mut r, &b, false);
    m.check(&mut r, &[&a, &b]);
}

#[test]
fn a_peer_whose_share_shrinks_or_grows_is_swept_either_way() {
    let mut r = rib();
    let (a, b) = two_peers(&mut r);
    let mut m = Model::default();
    // The full-table peer's share shrinks under a quarter (another peer brings 6x as many),
    // and it changes: it is logged again.
    m.announce(&mut r, &a, &range(30, 0..FULL));
    m.announce(&mut r, &b, &range(31, 0..6 * FULL));
    m.withdraw(&mut r, &a, &range(30, 0..1));
    m.check(&mut r, &[&a, &b]);
    m.restart_then_down(&mut r, &a, &range(30, 1_000..6_000), &[&a, &b]);
    // Now the other way: logged while small, then the big peer withdraws everything and the
    // small one's next change finds it holds the whole table.
    m.announce(&mut r, &a, &range(30, 0..FULL));
    let all_b = range(31, 0..6 * FULL);
    m.withdraw(&mut r, &b, &all_b);
    m.announce(&mut r, &a, &range(30, FULL..FULL + 1));
    m.check(&mut r, &[&a, &b]);
    m.restart_then_down(&mut r, &a, &range(30, 0..FULL / 2), &[&a, &b]);
    assert!(r.prefixes(Family::IPV4_UNICAST).is_empty());
}

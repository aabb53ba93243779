//! DOC: the RIB's FIB queue is bounded (issue 16): a load far larger than the queue, drained
//! late and interleaved with withdrawals, still reaches the FIB once per prefix per drain and
//! leaves the FIB's view equal to the RIB's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use bgp_core::rib::{PeerConfig, Rib, RibConfig, SourceId};
use bgp_core::wire::{Family, Nlri};
use ipnet::{IpNet, Ipv4Net};
use rib_common::*;

const AS: u32 = 65000;
/// Several times the queue's capacity (32,768 prefixes).
const N: u32 = 150_000;

fn prefix(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from((1u32 << 24) + i * 256), 24).unwrap())
}

fn peer(rib: &mut Rib, addr: &str) -> SourceId {
    let p = rib.add_peer(PeerConfig::new(addr, ip(addr))).unwrap();
    rib.peer_up(p, neg(AS, "10.0.0.1", 65001, addr));
    p
}

fn announce(rib: &mut Rib, p: SourceId, hop: &str, range: std::ops::Range<u32>) {
    let n: Vec<Nlri> = range.map(|i| Nlri::new(prefix(i))).collect();
    for chunk in n.chunks(500) {
        rib.announce(p, Family::IPV4_UNICAST, &attrs(&[65001]), nh(hop), chunk);
    }
}

/// Drains up to `max` changes into the model of the FIB (prefix → next hop); returns the
/// prefixes seen, asserting none twice.
fn drain(rib: &mut Rib, fib: &mut HashMap<IpNet, String>, max: usize) -> HashSet<IpNet> {
    let mut seen = HashSet::new();
    while seen.len() < max {
        let Some(c) = rib.poll_fib_change() else {
            break;
        };
        assert!(seen.insert(c.prefix), "{} twice in one drain", c.prefix);
        match c.route {
            Some(r) => {
                let hop = format!("{:?}", r.next_hops.first().and_then(|h| h.addr));
                fib.insert(c.prefix, hop);
            }
            None => {
                fib.remove(&c.prefix);
            }
        }
    }
    seen
}

/// The RIB's selected next hop per prefix, as the FIB model records it.
fn truth(rib: &Rib) -> HashMap<IpNet, String> {
    rib.prefixes(Family::IPV4_UNICAST)
        .into_iter()
        .filter_map(|p| {
            let b = rib.best(&p)?;
            Some((p, format!("{:?}", b.attrs.next_hop)))
        })
        .collect()
}

#[test]
fn a_load_larger_than_the_fib_queue_reaches_the_fib_once_per_prefix() {
    let mut rib = Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
    let a = peer(&mut rib, "10.0.0.2");
    announce(&mut rib, a, "10.0.0.2", 0..N);
    let mut fib = HashMap::new();
    let seen = drain(&mut rib, &mut fib, usize::MAX);
    assert_eq!(seen.len(), N as usize);
    assert_eq!(fib.len(), N as usize);
    assert!(rib.poll_fib_change().is_none());
}

#[test]
fn late_partial_drains_interleaved_with_changes_leave_the_fib_equal_to_the_rib() {
    let mut rib = Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
    let a = peer(&mut rib, "10.0.0.2");
    let b = peer(&mut rib, "10.0.0.3");
    let mut fib = HashMap::new();
    announce(&mut rib, a, "10.0.0.2", 0..N);
    // The FIB takes a little, then falls behind while the table keeps changing: a second peer
    // covers part of it, the first withdraws a range (some of it never seen by the FIB).
    drain(&mut rib, &mut fib, 10_000);
    announce(&mut rib, b, "10.0.0.3", N / 3..N);
    drain(&mut rib, &mut fib, 40_000);
    for i in 0..N / 2 {
        rib.withdraw(a, Family::IPV4_UNICAST, &Nlri::new(prefix(i)));
    }
    drain(&mut rib, &mut fib, 5_000);
    announce(&mut rib, a, "10.0.0.2", 0..N / 4);
    drain(&mut rib, &mut fib, usize::MAX);
    assert!(rib.poll_fib_change().is_none());
    let want = truth(&rib);
    assert_eq!(want.len(), fib.len());
    assert_eq!(
        want.keys().collect::<HashSet<_>>(),
        fib.keys().collect::<HashSet<_>>()
    );
    // Every prefix's FIB entry is the RIB's current choice.
    let hops = |m: &HashMap<IpNet, String>| {
        let mut v: Vec<(IpNet, bool)> = m
            .iter()
            .map(|(p, h)| (*p, h.contains("10.0.0.3")))
            .collect();
        v.sort();
        v
    };
    assert_eq!(hops(&want), hops(&fib));
}

/// A session that ends takes its whole table out of the FIB. The prefixes that did not fit in
/// the queue come out of rescans; the kernel's trie deletes fastest when neighbours are far
/// apart, so each group of 64 neighbouring /24s (a /18, kept in one run of hash buckets) must
/// be spread over the drain, not handed out in one run (benches/README, "Withdraw order").
#[test]
fn a_table_that_goes_reaches_the_fib_with_neighbours_spread_over_the_drain() {
    let mut rib = Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
    let a = peer(&mut rib, "10.0.0.2");
    announce(&mut rib, a, "10.0.0.2", 0..N);
    let mut fib = HashMap::new();
    drain(&mut rib, &mut fib, usize::MAX);
    rib.peer_down(a, false);
    let mut order = Vec::new();
    while let Some(c) = rib.poll_fib_change() {
        assert!(c.route.is_none(), "{} still routed", c.prefix);
        order.push(c.prefix);
    }
    assert_eq!(order.len(), N as usize);
    assert_eq!(order.iter().collect::<HashSet<_>>().len(), N as usize);
    // Positions of each /18's members among the rescanned prefixes (after the first queueful).
    let rescanned = &order[32_768..];
    let mut at: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in rescanned.iter().enumerate() {
        if let IpNet::V4(n) = p {
            at.entry(u32::from(n.network()) >> 14).or_default().push(i);
        }
    }
    let full: Vec<&Vec<usize>> = at.values().filter(|v| v.len() == 64).collect();
    assert!(full.len() > 1_000, "{} whole groups rescanned", full.len());
    // The widest run of one group's members: grouped hand-out puts all 64 within ~64 places.
    let narrow = full
        .iter()
        .filter(|v| v[63] - v[0] < rescanned.len() / 2)
        .count();
    assert!(
        narrow * 20 < full.len(),
        "{narrow} of {} groups handed out within half the drain",
        full.len()
    );
}

/// A peer in `gateway direct` mode gives its hops its address (the FIB resolves an off-link
/// next hop through it); a recursive one does not.
#[test]
fn gateway_direct_peers_put_their_address_on_their_hops() {
    let mut rib = Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
    let mut c = PeerConfig::new("direct", ip("192.168.1.2"));
    c.gateway_direct = true;
    let d = rib.add_peer(c).unwrap();
    rib.peer_up(d, neg(AS, "10.0.0.1", 65001, "192.168.1.2"));
    let r = peer(&mut rib, "192.168.1.3");
    announce(&mut rib, d, "10.7.7.7", 0..1);
    announce(&mut rib, r, "10.7.7.8", 1..2);
    let hops: HashMap<IpNet, _> = drain_fib(&mut rib)
        .into_iter()
        .map(|c| (c.prefix, c.route.unwrap().next_hops[0].neighbor))
        .collect();
    assert_eq!(hops[&prefix(0)], Some(ip("192.168.1.2")));
    assert_eq!(hops[&prefix(1)], None);
}

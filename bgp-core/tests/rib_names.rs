//! DOC: what the control socket reads of the table by source: the protocol names `show`
//! prints (`Rib::source_name`) and the per-source counters of `show protocols` and
//! `show route count` (`Rib::counts_by_source`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::rib::{
    LocalRoute, PeerConfig, Rib, RibConfig, RouteType, SourceCounts, SourceId, SourceKind,
};
use bgp_core::wire::{Family, Nlri};
use rib_common::*;

const AS: u32 = 65000;

fn rib() -> Rib {
    Rib::new(RibConfig::new(AS, v4("10.0.0.1")))
}

fn blackhole() -> LocalRoute {
    LocalRoute {
        route_type: RouteType::Blackhole,
        ..LocalRoute::default()
    }
}

#[test]
fn local_sources_have_birds_names_and_peers_their_configured_ones() {
    let mut r = rib();
    let p = r
        .add_peer(PeerConfig::new("Mesh_10_0_0_2", ip("10.0.0.2")))
        .unwrap();
    assert_eq!(r.source_name(SourceId::STATIC), "static1");
    assert_eq!(r.source_name(SourceId::KERNEL), "kernel1");
    assert_eq!(r.source_name(SourceId::DIRECT), "direct1");
    assert_eq!(r.source_name(p), "Mesh_10_0_0_2");
    // A slot nobody holds is named by its number.
    assert_eq!(r.source_name(SourceId(77)), "bgp77");
}

#[test]
fn counts_by_source_lists_the_sources_with_routes_and_the_totals() {
    let mut r = rib();
    let mut c = PeerConfig::new("p", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let p = r.add_peer(c).unwrap();
    let idle = r.add_peer(PeerConfig::new("idle", ip("10.0.0.3"))).unwrap();
    r.peer_up(p, neg(AS, "10.0.0.1", 65100, "10.0.0.2"));
    let n: Vec<Nlri> = ["10.1.0.0/16", "10.2.0.0/16"]
        .iter()
        .map(|s| nlri(s))
        .collect();
    r.announce(
        p,
        Family::IPV4_UNICAST,
        &attrs(&[65100]),
        nh("10.0.0.2"),
        &n,
    );
    // The static route shares 10.1.0.0/16 and wins it (preference 200 over 100).
    r.add_local(SourceKind::Static, net("10.1.0.0/16"), blackhole());
    let t = r.counts_by_source();
    assert_eq!((t.networks, t.routes), (2, 3));
    assert_eq!(
        t.per_source.get(&p),
        Some(&SourceCounts {
            routes: 2,
            best: 1,
            exported: 0
        })
    );
    assert_eq!(
        t.per_source
            .get(&SourceId::STATIC)
            .map(|c| (c.routes, c.best)),
        Some((1, 1))
    );
    // Sources with nothing are left out.
    assert!(!t.per_source.contains_key(&idle));
    assert!(!t.per_source.contains_key(&SourceId::KERNEL));
    // The peers counted are the RIB's own: a removed one is neither listed nor counted.
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![p, idle]);
    r.remove_peer(p);
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![idle]);
    assert!(!r.counts_by_source().per_source.contains_key(&p));
}

//! DOC: a batch of one peer's UPDATEs (`Rib::apply_updates`): totals, End-of-RIB markers,
//! next hops equal to our own address ignored (RFC 4271 §6.3) and reported.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // test code

mod rib_common;

use bgp_core::rib::{PeerConfig, Rib, RibConfig};
use bgp_core::wire::{Family, Update};
use rib_common::*;

const AS: u32 = 65000;

fn update(hop: &str, prefixes: &[&str]) -> Update {
    let mut a = attrs(&[65100]);
    a.next_hop = Some(v4(hop));
    Update {
        attrs: a,
        nlri: prefixes.iter().map(|p| nlri(p)).collect(),
        ..Update::default()
    }
}

#[test]
fn a_batch_counts_its_prefixes_and_reports_its_markers() {
    let mut r = Rib::new(RibConfig::new(AS, v4("10.0.0.1")));
    let mut c = PeerConfig::new("p", ip("10.0.0.2"));
    c.local_v4 = Some(v4("10.0.0.1"));
    let p = r.add_peer(c).unwrap();
    r.peer_up(p, neg(AS, "10.0.0.1", 65100, "10.0.0.2"));
    let mut batch = vec![
        update("10.0.0.2", &["10.1.0.0/16", "10.2.0.0/16"]),
        // Via our own address on the session: ignored.
        update("10.0.0.1", &["10.3.0.0/16"]),
        Update::end_of_rib(Family::IPV4_UNICAST),
    ];
    let mut reports = Vec::new();
    let s = r.apply_updates(p, &mut batch, Some(ip("10.0.0.1")), |m| reports.push(m));
    assert_eq!((s.received, s.accepted, s.filtered), (2, 2, 0));
    assert_eq!(s.end_of_rib, [Family::IPV4_UNICAST]);
    // The ignored one is reported as RFC 7606 treat-as-withdraw, the others are clean.
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("receiving speaker's own address"),
        "{}",
        reports[0]
    );
    assert!(r.best(&net("10.1.0.0/16")).is_some());
    assert!(r.best(&net("10.3.0.0/16")).is_none());
}

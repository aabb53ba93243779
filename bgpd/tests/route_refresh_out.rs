//! RFC 2918 against a `bgpd` process (root, network namespaces): a peer that sends
//! ROUTE-REFRESH gets our Adj-RIB-Out again. The request travels from the peer's task to the
//! RIB task (the RIB's one writer) as a message; this test catches a request that is lost on
//! the way or never re-marks the peer's routes.

mod common;

use std::time::Duration;

use bgpd_lab::wait::wait_until;
use bgpd_lab::Lab;
use common::raw::{attr, config, peer, update, with_header, RawPeer, D_AS};
use common::start;

const O_AS: u32 = 65010;
const N_AS: u32 = 65020;

/// UPDATEs received by `p` that announce `nlri` (its encoded form).
fn announcing(p: &RawPeer, nlri: &[u8]) -> usize {
    let rx = p.rx.lock().unwrap();
    rx.raw_updates.iter().filter(|u| u.ends_with(nlri)).count()
}

#[test]
fn route_refresh_from_a_peer_resends_our_routes() {
    let mut lab = Lab::new("bgpd_rr_out").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let o = lab.node("o", &[(&lan, 12)], None).unwrap();
    let n = lab.node("n", &[(&lan, 13)], None).unwrap();
    let _p = start(
        &d,
        &config(
            &d,
            &[peer("o", o.ip4(), O_AS, ""), peer("n", n.ip4(), N_AS, "")],
        ),
        0,
    );
    let mut po = RawPeer::connect(&o, d.ip4(), D_AS, O_AS, false, 30);
    let mut pn = RawPeer::connect(&n, d.ip4(), D_AS, N_AS, false, 30);
    common::wait_all_established(&d, 2, 30);
    let attrs = [
        &attr(0x40, 1, &[0])[..],
        &attr(0x40, 2, &[2, 1, (O_AS >> 8) as u8, O_AS as u8]),
        &attr(0x40, 3, &o.ip4().octets()),
    ]
    .concat();
    let nlri = [24u8, 10, 71, 0];
    po.send(&update(&[], &attrs, &nlri));
    pn.wait_route("10.71.0.0/24", 30);
    let before = announcing(&pn, &nlri);
    assert_eq!(before, 1, "one announcement before the refresh");

    // ROUTE-REFRESH for IPv4 unicast: AFI 1, reserved 0, SAFI 1.
    pn.send(&with_header(5, &[0, 1, 0, 1]));
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "the route announced again after ROUTE-REFRESH",
        || Ok(announcing(&pn, &nlri) > before),
    )
    .unwrap();

    // A refresh for a family the session does not carry is ignored (RFC 2918 §4); the
    // session stays up and the next IPv4 refresh is still answered.
    pn.send(&with_header(5, &[0, 2, 0, 1]));
    let after = announcing(&pn, &nlri);
    pn.send(&with_header(5, &[0, 1, 0, 1]));
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "a second refresh answered",
        || Ok(announcing(&pn, &nlri) > after),
    )
    .unwrap();
    assert!(pn.rx.lock().unwrap().notification.is_none());

    // The session's counters (bgp-core's `Peer::stats`) in `show protocols`: n's three
    // ROUTE-REFRESH, its OPEN; our OPEN and the UPDATEs n holds.
    let n_stats = || {
        common::protocols(&d)
            .unwrap()
            .into_iter()
            .find(|p| p.name == "n")
            .and_then(|p| p.bgp)
            .unwrap()
    };
    let got = announcing(&pn, &nlri) as u64;
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        "message counters up to date",
        || Ok(n_stats().messages_in.route_refresh == 3),
    )
    .unwrap();
    let b = n_stats();
    assert_eq!((b.messages_in.open, b.messages_out.open), (1, 1), "{b:?}");
    assert_eq!(b.messages_in.update, 0, "n sent no UPDATE: {b:?}");
    assert!(b.messages_out.update >= got, "{b:?}");
    assert!(b.messages_in.keepalive >= 1 && b.messages_out.keepalive >= 1);
}

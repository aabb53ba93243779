//! GTSM (RFC 5082, `ttl_security`) end to end in network namespaces (root), with bgpd
//! processes checked through the control socket (`show protocols --json`) and the kernel's
//! `TCPMinTTLDrop` counter:
//! * two directly connected peers, both with GTSM and both connecting out: the session comes
//!   up (our SYN-ACK, sent with the listener's TTL, must carry 255 too);
//! * the same settings one router away (TTL 254 on arrival): both sides drop the other's
//!   segments (`TCPMinTTLDrop` grows on both) and the session never establishes; a reload to
//!   `multihop = 2` (minimum 254) brings it up;
//! * a directly connected peer without GTSM (eBGP, TTL 1) towards a GTSM side: the GTSM side
//!   drops its segments; the peer itself drops nothing.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgpd_lab::{wait_observing, Lab, NodeNet, Observed};
use common::{nstat, session_state, start_bgpd, wait_established};

const DROP: &str = "TcpExtTCPMinTTLDrop";

fn config(n: &NodeNet, asn: u32, peers: &[(&str, Ipv4Addr, u32, &str)]) -> String {
    let mut c = format!(
        "router_id = \"{ip}\"\nasn = {asn}\n[listen]\naddresses = [\"{ip}\"]\n[kernel]\nenabled = false\n",
        ip = n.ip4()
    );
    for (name, addr, pasn, extra) in peers {
        c += &format!(
            "[[peers]]\nname = \"{name}\"\naddress = \"{addr}\"\nasn = {pasn}\nhold_time = 9\n{extra}\n"
        );
    }
    c
}

fn wait_drops(n: &NodeNet, what: &str) {
    wait_observing(
        Duration::from_secs(30),
        Duration::from_millis(200),
        what,
        || {
            let d = nstat(&n.ns, DROP);
            Ok(Observed::when(d > 0, format!("{}: {DROP} {d}", n.name)))
        },
    )
    .unwrap();
}

#[test]
fn gtsm_direct_up_one_hop_more_or_low_ttl_refused() {
    let mut lab = Lab::new("bgpd_gtsm").unwrap();
    let lan = lab.lan().unwrap();
    let far = lab
        .bridge(
            "lan1",
            Ipv4Addr::new(172, 31, 1, 0),
            "fd00:32::".parse().unwrap(),
        )
        .unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let c = lab.node("c", &[(&lan, 13)], None).unwrap();
    let d = lab.node("d", &[(&far, 14)], None).unwrap();
    let e = lab.node("e", &[(&lan, 15)], None).unwrap();
    let r = lab.node("r", &[(&lan, 1), (&far, 1)], None).unwrap();
    r.enable_forwarding().unwrap();
    c.add_route("172.31.1.0/24", lan.v4(1).into()).unwrap();
    d.add_route("172.31.0.0/24", far.v4(1).into()).unwrap();

    let gtsm = "ttl_security = true";
    // a: GTSM towards b (direct) and e (direct, e has no GTSM).
    let ba = start_bgpd(
        &a,
        &config(
            &a,
            65001,
            &[("b", b.ip4(), 65002, gtsm), ("e", e.ip4(), 65005, gtsm)],
        ),
    );
    let bb = start_bgpd(&b, &config(&b, 65002, &[("a", a.ip4(), 65001, gtsm)]));
    let be = start_bgpd(&e, &config(&e, 65005, &[("a", a.ip4(), 65001, "")]));
    // c <-> d through r, GTSM for a direct neighbour on both sides.
    let mut bc = start_bgpd(&c, &config(&c, 65003, &[("d", d.ip4(), 65004, gtsm)]));
    let mut bd = start_bgpd(&d, &config(&d, 65004, &[("c", c.ip4(), 65003, gtsm)]));

    wait_established(&ba, "b", 30);
    wait_established(&bb, "a", 30);

    // One hop too far: both ends drop what the other sends (arrives with TTL 254).
    wait_drops(&c, "c drops d's TTL-254 segments");
    wait_drops(&d, "d drops c's TTL-254 segments");
    // e sends with TTL 1 (eBGP, no GTSM): a drops it; e accepts a's TTL-255 segments.
    wait_drops(&a, "a drops e's TTL-1 segments");
    assert_eq!(nstat(&e.ns, DROP), 0, "e has no minimum TTL");
    assert_eq!(nstat(&b.ns, DROP), 0, "b's peer sends TTL 255");
    // The drops are the only thing between them, and they never stop: not Established.
    for (bg, name) in [(&bc, "d"), (&bd, "c"), (&ba, "e"), (&be, "a")] {
        assert_ne!(
            session_state(bg, name),
            "Established",
            "{}: session with {name} must be refused",
            bg.node.name
        );
    }

    // multihop = 2: the minimum is 254, so the routed session comes up.
    let hop2 = "ttl_security = true\nmultihop = 2";
    std::fs::write(
        &bc.config,
        config(&c, 65003, &[("d", d.ip4(), 65004, hop2)]),
    )
    .unwrap();
    std::fs::write(
        &bd.config,
        config(&d, 65004, &[("c", c.ip4(), 65003, hop2)]),
    )
    .unwrap();
    bc.cli(&["reload"]).unwrap();
    bd.cli(&["reload"]).unwrap();
    wait_established(&bc, "d", 30);
    wait_established(&bd, "c", 30);
    assert_ne!(session_state(&ba, "e"), "Established");
    bc.stop(libc::SIGTERM).unwrap();
    bd.stop(libc::SIGTERM).unwrap();
}

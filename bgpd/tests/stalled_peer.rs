//! A peer that stops reading (root): its connection's send path fills (kernel buffers and the
//! daemon's own write buffer) while the daemon has a table to export to it. The daemon must go
//! on running that session's timers: when the peer's hold time runs out it queues the
//! Hold Timer Expired NOTIFICATION behind the UPDATEs that could not leave, and closes the
//! connection. (Before the fix, a KEEPALIVE or NOTIFICATION waiting behind a full write buffer
//! was never pulled: the peer task spun at 100 % of a core and the connection was never
//! closed.)

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgpd_lab::{cmd, Lab, NodeNet};
use common::raw::{config, connect_from, open_msg_hold, packed_updates, peer, read_msg, KEEPALIVE};
use common::start;

const FEEDER_AS: u32 = 65010;
const STALL_AS: u32 = 65020;
/// Routes the feeder announces: packed, they make well over TX_HIGH (64 KB) of UPDATEs towards
/// the stalled peer on top of the (shrunk) kernel buffers.
const ROUTES: u32 = 40_000;

/// OPEN (hold time `hold`), then the daemon's OPEN read, then our KEEPALIVE.
fn establish(s: &mut TcpStream, asn: u32, id: Ipv4Addr, hold: u16) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&open_msg_hold(asn, id, true, hold)).unwrap();
    assert_eq!(read_msg(s).unwrap().0, 1, "OPEN from the daemon");
    s.write_all(&KEEPALIVE).unwrap();
}

fn wait_established(d: &NodeNet, name: &str) {
    bgpd_lab::wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        &format!("{name} Established"),
        || {
            Ok(common::protocols(d)?.iter().any(|p| {
                p.name == name && p.bgp.as_ref().is_some_and(|b| b.state == "Established")
            }))
        },
    )
    .unwrap();
}

#[test]
fn a_peer_that_stops_reading_gets_its_hold_timer_notification_and_is_closed() {
    let mut lab = Lab::new("bgpd_stall").unwrap();
    let lan = lab.lan().unwrap();
    let d = lab.node("d", &[(&lan, 11)], None).unwrap();
    let feeder = lab.node("feeder", &[(&lan, 12)], None).unwrap();
    let stall = lab.node("stall", &[(&lan, 13)], None).unwrap();
    // Small socket buffers on both ends of the stalled connection: the daemon's write buffer
    // (not the kernel's) is what fills.
    for (ns, key) in [
        (&d.ns, "net.ipv4.tcp_wmem=4096 8192 8192"),
        (&stall.ns, "net.ipv4.tcp_rmem=4096 8192 8192"),
    ] {
        cmd::run(Some(ns), "sysctl", &["-qw", key]).unwrap();
    }
    let peers = [
        peer("feeder", feeder.ip4(), FEEDER_AS, ""),
        peer("stall", stall.ip4(), STALL_AS, ""),
    ];
    let _p = start(&d, &config(&d, &peers), 0);

    // The stalled peer: hold time 3 s; it never reads, and sends KEEPALIVEs (on a thread) only
    // until the daemon has the feeder's table to export to it.
    let mut st = connect_from(&stall.ns, d.ip4()).unwrap();
    establish(&mut st, STALL_AS, stall.ip4(), 3);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keepalives = {
        let mut w = st.try_clone().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                w.write_all(&[[0xff; 16].as_slice(), &[0, 19, 4]].concat())
                    .unwrap();
                std::thread::park_timeout(Duration::from_millis(500));
            }
        })
    };
    wait_established(&d, "stall");

    // The feeder: a table the daemon exports to the stalled peer (keeps reading what the daemon
    // sends it, on a thread, so that its own session is not stalled too).
    let mut fd = connect_from(&feeder.ns, d.ip4()).unwrap();
    establish(&mut fd, FEEDER_AS, feeder.ip4(), 90);
    wait_established(&d, "feeder");
    fd.write_all(&packed_updates(
        ROUTES,
        Ipv4Addr::new(10, 0, 0, 0),
        32,
        FEEDER_AS,
        feeder.ip4(),
    ))
    .unwrap();
    let mut drain = fd.try_clone().unwrap();
    drain.set_read_timeout(None).unwrap();
    let drainer = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while matches!(drain.read(&mut buf), Ok(n) if n > 0) {}
    });
    bgpd_lab::wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "every route of the feeder imported",
        || {
            let p = common::protocols(&d)?;
            Ok(p.iter()
                .any(|p| p.name == "feeder" && p.routes.imported == u64::from(ROUTES)))
        },
    )
    .unwrap();

    // The daemon has the whole table and began exporting it to the stalled peer (what the
    // socket does not take waits in the daemon's write buffer, far more than fits); now the
    // stalled peer goes silent too.
    bgpd_lab::wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "the table exported to the stalled peer",
        || {
            let p = common::protocols(&d)?;
            Ok(p.iter().any(|p| p.name == "stall" && p.routes.exported > 0))
        },
    )
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    keepalives.thread().unpark();
    keepalives.join().unwrap();

    // When the hold time runs out the daemon pulls the Hold Timer Expired NOTIFICATION (and
    // counts it as sent) although its write buffer is full, appends it behind the UPDATEs that
    // could not leave, and closes the connection. Nothing is read from the stalled connection
    // until then. A daemon that never pulls the NOTIFICATION never counts it (and spins).
    let stall_bgp = || -> bgpd_lab::Result<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&common::cli(
            &d,
            &["show", "protocols", "all", "stall", "--json"],
        )?)
        .map_err(|e| bgpd_lab::Error(e.to_string()))?;
        Ok(v["protocols"][0]["bgp"].clone())
    };
    bgpd_lab::wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        "the hold timer of the stalled peer expired and its NOTIFICATION was sent",
        || {
            let b = stall_bgp()?;
            Ok(
                b["state"] != "Established"
                    && b["messages_out"]["notification"].as_u64() == Some(1),
            )
        },
    )
    .unwrap();
    let b = stall_bgp().unwrap();
    assert!(
        b["last_error"]
            .as_str()
            .is_some_and(|e| e.to_ascii_lowercase().contains("hold")),
        "{b}"
    );
    // The connection is closed: reading drains what was queued, then the stream ends (the
    // daemon's last second of writing may cut it mid-message: the peer was not reading).
    st.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        match st.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the daemon did not close the stalled connection: {e}"),
        }
    }
    // The daemon is well: the feeder's session is still up and the control socket answers.
    let p = common::protocols(&d).unwrap();
    let state = |name: &str| {
        p.iter()
            .find(|p| p.name == name)
            .and_then(|p| p.bgp.as_ref())
            .map(|b| b.state.clone())
    };
    assert_eq!(state("feeder").as_deref(), Some("Established"), "{p:?}");
    assert_ne!(state("stall").as_deref(), Some("Established"), "{p:?}");
    fd.shutdown(std::net::Shutdown::Both).unwrap();
    drainer.join().unwrap();
}

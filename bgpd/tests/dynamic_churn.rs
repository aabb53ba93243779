//! Churn without growth (issue 19), against a bgpd process in a network namespace: dynamic
//! neighbours whose session ended leave `show protocols`, `--json` and `/metrics` (at once, or
//! after their graceful-restart stale time with their routes kept until then), and a static
//! peer that flaps many times leaves the daemon with the peers, routes and descriptors it had
//! once settled. RSS figures belong to the `churn` benchmark; these tests assert behaviour.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use bgp_core::wire::{Capability, Family, GracefulRestartCap, Open};
use bgpd_lab::{wait_observing, Lab, NodeNet, Observed};
use bytes::BytesMut;

mod common;
mod loopback;

const CLIENT_AS: u32 = 65010;

fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    // SAFETY: setns on a valid namespace fd; affects only this thread.
    let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns");
}

/// One BGP message (header included) read from `s`; `None` when the connection closes first.
fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 19];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut m = h.to_vec();
    m.resize(len.max(19), 0);
    s.read_exact(m.get_mut(19..)?).ok()?;
    Some(m)
}

/// An UPDATE announcing `prefix`/24 with next hop `nh` and AS_PATH `CLIENT_AS` (4-octet).
fn announce(prefix: [u8; 3], nh: Ipv4Addr) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attrs.extend([0x40, 2, 6, 2, 1]); // AS_PATH, one AS_SEQUENCE of 1
    attrs.extend(CLIENT_AS.to_be_bytes());
    attrs.extend([0x40, 3, 4]);
    attrs.extend(nh.octets());
    loopback::update(&attrs, &[24, prefix[0], prefix[1], prefix[2]])
}

/// A raw eBGP speaker in namespace `ns`, connecting from `src` to `dst`:179: OPEN (with a
/// graceful-restart capability of `gr_time` seconds when given), KEEPALIVE, one announced /24,
/// End-of-RIB. Connections the daemon refuses (its IdleHold after the previous session's
/// error) are retried until one is accepted. Returns the established connection; a thread
/// keeps reading it until it closes.
fn speaker(
    ns: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    gr_time: Option<u16>,
    prefix: [u8; 3],
) -> TcpStream {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_netns(&ns);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = try_session(src, dst, gr_time, prefix) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{src}: no session accepted by {dst} within 60 s"
            );
            std::thread::park_timeout(Duration::from_millis(200));
        }
    })
    .join()
    .unwrap()
}

fn try_session(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    gr_time: Option<u16>,
    prefix: [u8; 3],
) -> Option<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut s = rt.block_on(async {
        let o = bgpd::net::tcp::ConnectOpts {
            peer: SocketAddr::new(IpAddr::V4(dst), 179),
            source: Some(IpAddr::V4(src)),
            md5: None,
            ttl: 64,
            gtsm_min: None,
            timeout: Duration::from_secs(10),
        };
        bgpd::net::tcp::connect(&o).await.ok()?.into_std().ok()
    })?;
    s.set_nonblocking(false).ok()?;
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::FourOctetAs(CLIENT_AS),
    ];
    if let Some(t) = gr_time {
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time: t,
            families: vec![(Family::IPV4_UNICAST, true)],
        }));
    }
    let mut open = BytesMut::new();
    Open::new(23456, 90, src, caps).encode(&mut open).unwrap();
    s.write_all(&open).ok()?;
    let m = read_msg(&mut s)?;
    if m.get(18) != Some(&1) {
        return None;
    }
    s.write_all(&[0xff; 16]).ok()?;
    s.write_all(&[0, 19, 4]).ok()?;
    s.write_all(&announce(prefix, src)).ok()?;
    // End-of-RIB (IPv4 unicast: an empty UPDATE).
    s.write_all(&[0xff; 16]).ok()?;
    s.write_all(&[0, 23, 2, 0, 0, 0, 0]).ok()?;
    let mut r = s.try_clone().ok()?;
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        while r.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
    });
    Some(s)
}

/// Closes the speaker's connection (TCP FIN, no NOTIFICATION; its reader thread ends).
fn close(s: TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Both);
}

/// The reflector's configuration: a range over the LAN, metrics on the node's address.
fn rr_config(n: &NodeNet, lan: &str, forget_after: u32) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[metrics]
listen = "{ip}:9179"
[[peer_ranges]]
name = "Dyn"
prefix = "{lan}"
asn = {CLIENT_AS}
forget_after = {forget_after}
"#,
        ip = n.ip4(),
        lan = lan,
    )
}

/// The BGP protocol names `show protocols --json` lists.
fn bgp_names(n: &NodeNet) -> Vec<String> {
    common::protocols(n)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.bgp.is_some())
        .map(|p| p.name)
        .collect()
}

/// `/metrics` of the daemon on `n`, scraped from inside its namespace.
fn scrape(n: &NodeNet) -> String {
    let ns = n.ns.clone();
    let addr = SocketAddr::new(IpAddr::V4(n.ip4()), 9179);
    std::thread::spawn(move || {
        enter_netns(&ns);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .join()
    .unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> (bool, String)) {
    wait_observing(
        Duration::from_secs(secs),
        Duration::from_millis(100),
        what,
        || {
            let (ok, state) = f();
            Ok(Observed::when(ok, state))
        },
    )
    .unwrap();
}

/// Waits until `n`'s RIB has `prefix`.
fn wait_route(n: &NodeNet, prefix: &str, what: &str) {
    wait_for(what, 20, || {
        (has_route(n, prefix), format!("{:?}", bgp_names(n)))
    });
}

/// Waits until `n` lists no BGP protocol (every dynamic neighbour forgotten).
fn wait_none_listed(n: &NodeNet, what: &str) {
    wait_for(what, 30, || {
        let names = bgp_names(n);
        (names.is_empty(), format!("{names:?}"))
    });
}

fn has_route(n: &NodeNet, prefix: &str) -> bool {
    common::routes(n)
        .unwrap_or_default()
        .iter()
        .any(|r| r.prefix == prefix)
}

#[test]
fn dynamic_neighbours_are_forgotten_when_their_session_ends() {
    let mut lab = Lab::new("bgpd_dynchurn").unwrap();
    let lan = lab.lan().unwrap();
    let rr = lab.node("rr", &[(&lan, 1)], None).unwrap();
    let cl = lab.node("clients", &[(&lan, 2)], None).unwrap();
    // Ten more client addresses on the client node's interface.
    let srcs: Vec<Ipv4Addr> = (0..10u8).map(|i| lan.v4(100 + i)).collect();
    for a in &srcs {
        bgpd_lab::cmd::run(
            Some(&cl.ns),
            "ip",
            &["addr", "add", &format!("{a}/24"), "dev", cl.iface()],
        )
        .unwrap();
    }
    let mut p = common::start(&rr, &rr_config(&rr, &lan.prefix4(), 0), 0);

    // Ten non-GR neighbours come, announce, and go (TCP close without NOTIFICATION).
    for (i, src) in srcs.iter().enumerate() {
        let s = speaker(&cl.ns, *src, rr.ip4(), None, [10, 50, i as u8]);
        let name = bgpd::config::peer_name("Dyn", IpAddr::V4(*src));
        let prefix = format!("10.50.{i}.0/24");
        wait_for(&format!("{name} and {prefix}"), 20, || {
            let names = bgp_names(&rr);
            (
                names.contains(&name) && has_route(&rr, &prefix),
                format!("{names:?}"),
            )
        });
        assert!(
            scrape(&rr).contains(&format!("peer=\"{name}\"")),
            "metrics list the live neighbour"
        );
        close(s);
    }
    wait_none_listed(&rr, "every dynamic neighbour forgotten");
    for i in 0..10 {
        assert!(!has_route(&rr, &format!("10.50.{i}.0/24")));
    }
    let m = scrape(&rr);
    assert!(
        !m.contains("peer=\"Dyn_"),
        "metrics keep series of forgotten neighbours:\n{}",
        m.lines()
            .filter(|l| l.contains("Dyn_"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A graceful-restart-capable neighbour keeps its routes as stale for its restart time,
    // is listed meanwhile, and is forgotten with its routes once the time is over.
    let src = srcs[0];
    let name = bgpd::config::peer_name("Dyn", IpAddr::V4(src));
    let s = speaker(&cl.ns, src, rr.ip4(), Some(4), [10, 60, 0]);
    wait_route(&rr, "10.60.0.0/24", "GR neighbour's route");
    close(s);
    wait_for("GR neighbour down, its route kept stale", 20, || {
        let ps = common::protocols(&rr).unwrap_or_default();
        let stale = ps.iter().any(|p| {
            p.name == name
                && p.bgp
                    .as_ref()
                    .is_some_and(|b| b.state != "Established" && b.graceful_restart_stale)
        });
        (stale && has_route(&rr, "10.60.0.0/24"), format!("{ps:?}"))
    });
    wait_for("GR neighbour forgotten after its restart time", 30, || {
        let names = bgp_names(&rr);
        (
            names.is_empty() && !has_route(&rr, "10.60.0.0/24"),
            format!("{names:?}"),
        )
    });

    // The same address comes back: a new neighbour of the same name, working as before.
    let s = speaker(&cl.ns, src, rr.ip4(), None, [10, 61, 0]);
    wait_route(&rr, "10.61.0.0/24", "returning neighbour's route");
    assert_eq!(bgp_names(&rr), vec![name]);
    close(s);
    wait_none_listed(&rr, "returning neighbour forgotten");
    p.ensure_running().unwrap();
}

#[test]
fn forget_after_lingers_and_a_reconnect_keeps_the_neighbour() {
    let mut lab = Lab::new("bgpd_dynlinger").unwrap();
    let lan = lab.lan().unwrap();
    let rr = lab.node("rr", &[(&lan, 1)], None).unwrap();
    let cl = lab.node("clients", &[(&lan, 2)], None).unwrap();
    let mut p = common::start(&rr, &rr_config(&rr, &lan.prefix4(), 15), 0);
    let name = bgpd::config::peer_name("Dyn", IpAddr::V4(cl.ip4()));
    let s = speaker(&cl.ns, cl.ip4(), rr.ip4(), None, [10, 70, 0]);
    wait_route(&rr, "10.70.0.0/24", "neighbour's route");
    close(s);
    // Down, routes gone at once (no GR), but still listed while it lingers.
    wait_for("neighbour down and lingering", 20, || {
        let ps = common::protocols(&rr).unwrap_or_default();
        let down = ps
            .iter()
            .any(|p| p.name == name && p.bgp.as_ref().is_some_and(|b| b.state != "Established"));
        (down && !has_route(&rr, "10.70.0.0/24"), format!("{ps:?}"))
    });
    // Back within the linger: the same neighbour, Established again.
    let s = speaker(&cl.ns, cl.ip4(), rr.ip4(), None, [10, 71, 0]);
    wait_route(&rr, "10.71.0.0/24", "neighbour back");
    assert_eq!(bgp_names(&rr), vec![name]);
    close(s);
    wait_none_listed(&rr, "neighbour forgotten after its linger");
    p.ensure_running().unwrap();
}

/// Open descriptors of process `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn a_static_peer_flapping_leaves_nothing_behind() {
    let mut lab = Lab::new("bgpd_flap").unwrap();
    let lan = lab.lan().unwrap();
    let dut = lab.node("dut", &[(&lan, 1)], None).unwrap();
    let cl = lab.node("peer", &[(&lan, 2)], None).unwrap();
    let cfg = format!(
        r#"
router_id = "{ip}"
asn = 64512
[listen]
addresses = ["{ip}"]
[kernel]
protocol = "bird"
[[peers]]
name = "Flappy"
address = "{peer}"
asn = {CLIENT_AS}
passive = true
"#,
        ip = dut.ip4(),
        peer = cl.ip4()
    );
    let mut p = common::start(&dut, &cfg, 0);
    // A graceful-restart-capable peer (restart time 1 s) that resets its session: the routes
    // of the last session stay stale until the new session's End-of-RIB replaces them.
    let cycle = |i: u32| {
        let s = speaker(
            &cl.ns,
            cl.ip4(),
            dut.ip4(),
            Some(1),
            [10, 80, (i % 200) as u8],
        );
        let prefix = format!("10.80.{}.0/24", i % 200);
        wait_for(
            &format!("flap {i}: only the new session's route"),
            20,
            || {
                let r = common::routes(&dut).unwrap_or_default();
                let ours: Vec<&str> = r
                    .iter()
                    .filter(|r| r.prefix.starts_with("10.80."))
                    .map(|r| r.prefix.as_str())
                    .collect();
                (ours == [prefix.as_str()], format!("{ours:?}"))
            },
        );
        close(s);
        wait_for(&format!("flap {i}: session down"), 20, || {
            let ps = common::protocols(&dut).unwrap_or_default();
            let down = ps.iter().any(|p| {
                p.name == "Flappy" && p.bgp.as_ref().is_some_and(|b| b.state != "Established")
            });
            (down, format!("{ps:?}"))
        });
    };
    for i in 0..20 {
        cycle(i);
    }
    let settled = fds(p.pid());
    for i in 20..200 {
        cycle(i);
    }
    assert_eq!(bgp_names(&dut), vec!["Flappy".to_string()]);
    wait_for(
        "the last session's stale route gone after the restart time",
        20,
        || {
            let r = common::routes(&dut).unwrap_or_default();
            let left: Vec<&str> = r
                .iter()
                .filter(|r| r.prefix.starts_with("10.80."))
                .map(|r| r.prefix.as_str())
                .collect();
            (left.is_empty(), format!("{left:?}"))
        },
    );
    // Descriptors (sockets, reader tasks' connections) back where they settled.
    wait_for("descriptors back to the settled count", 20, || {
        let now = fds(p.pid());
        (now <= settled, format!("{now} open, {settled} settled"))
    });
    p.ensure_running().unwrap();
}

//! A raw speaker floods an embedded daemon (no kernel) with N distinct /24s in packed
//! 4 KB UPDATEs over loopback; measures the time until the RIB holds all of them and the
//! process's peak RSS. Ignored by default (a measurement, not a check); run with
//! `cargo test --release -p bgpd --test flood -- --ignored --nocapture` (`FLOOD_ROUTES`
//! sets N, default 1,000,000).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use bgp_core::wire::{Capability, Family, Open};
use bgpd::config::Config;
use bgpd::{Daemon, StartOptions};
use bytes::BytesMut;

mod common;

fn rss_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// `n` distinct /24s from 1.0.0.0/24 in packed 4 KB UPDATEs (AS_PATH 65001).
fn updates(n: u32, nh: [u8; 4]) -> Vec<u8> {
    common::raw::packed_updates(n, Ipv4Addr::new(1, 0, 0, 0), 24, 65001, nh.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn flood_rib() {
    let n: u32 = std::env::var("FLOOD_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = Config::parse(
        "router_id = \"10.0.0.1\"\nasn = 64512\n[listen]\naddresses = [\"127.0.0.1\"]\nport = 0\n[kernel]\nenabled = false\n[[peers]]\nname = \"inj\"\naddress = \"127.0.0.1\"\nasn = 65001\npassive = true\nmultihop = 2\n",
        "t",
    )
    .unwrap();
    let d = Daemon::start(
        cfg,
        StartOptions {
            no_kernel: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = d.listen_addrs()[0].port();
    let ctl = d.control();
    let data = updates(n, [127, 0, 0, 9]);
    let base_rss = rss_kb("VmRSS:");
    let t0 = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut open = BytesMut::new();
        Open::new(
            65001,
            90,
            Ipv4Addr::new(10, 0, 0, 9),
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::FourOctetAs(65001),
            ],
        )
        .encode(&mut open)
        .unwrap();
        s.write_all(&open).unwrap();
        let mut h = [0u8; 19];
        s.read_exact(&mut h).unwrap();
        let mut b = vec![0; u16::from_be_bytes([h[16], h[17]]) as usize - 19];
        s.read_exact(&mut b).unwrap();
        s.write_all(&[0xff; 16]).unwrap();
        s.write_all(&[0, 19, 4]).unwrap();
        let t0 = Instant::now();
        // Drain what the daemon sends in the background so it never blocks on us.
        let mut r = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while r.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
        });
        s.write_all(&data).unwrap();
        (t0, s)
    })
    .await
    .unwrap();
    let (t0, _s) = t0;
    let mut peak = 0;
    loop {
        let (routes, _) = ctl.route_count();
        peak = peak.max(rss_kb("VmRSS:"));
        if routes >= u64::from(n) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "only {routes} of {n} after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let el = t0.elapsed();
    println!(
        "flood: {n} routes in the RIB after {:.2} s; RSS {} MB before, peak {} MB (includes the injector's {} MB buffer)",
        el.as_secs_f64(),
        base_rss / 1024,
        peak.max(rss_kb("VmHWM:")) / 1024,
        (n as usize * 4 / (1 << 20)),
    );
    drop(d);
}

/// Opens a BGP session from the current thread's namespace, sends `data`, keeps draining.
fn inject(to: (Ipv4Addr, u16), asn: u16, data: &[u8]) -> (Instant, TcpStream) {
    let mut s = TcpStream::connect(to).unwrap();
    let mut open = BytesMut::new();
    Open::new(
        u32::from(asn),
        90,
        Ipv4Addr::new(10, 0, 0, 9),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::FourOctetAs(u32::from(asn)),
        ],
    )
    .encode(&mut open)
    .unwrap();
    s.write_all(&open).unwrap();
    let mut h = [0u8; 19];
    s.read_exact(&mut h).unwrap();
    let mut b = vec![0; u16::from_be_bytes([h[16], h[17]]) as usize - 19];
    s.read_exact(&mut b).unwrap();
    s.write_all(&[0xff; 16]).unwrap();
    s.write_all(&[0, 19, 4]).unwrap();
    let t0 = Instant::now();
    let mut r = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut sink = [0u8; 65536];
        while r.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
    });
    s.write_all(data).unwrap();
    (t0, s)
}

fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    // SAFETY: setns on a valid namespace fd; affects only this thread.
    let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns");
}

/// The full path: N /24s from an injector namespace to a bgpd process (the `bgpd` binary)
/// in another, over a veth pair; time until its RIB... and its kernel hold all of them, and
/// the daemon's peak RSS (VmHWM). Root; ignored by default:
/// `cargo test --release -p bgpd --test flood flood_kernel -- --ignored --nocapture`.
#[test]
#[ignore]
fn flood_kernel() {
    use bgpd_lab::{Lab, NodeNet};
    let n: u32 = std::env::var("FLOOD_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut lab = Lab::heavy("bgpd_flood").unwrap();
    let lan = lab.lan().unwrap();
    let dut: NodeNet = lab.node("dut", &[(&lan, 11)], None).unwrap();
    let inj: NodeNet = lab.node("inj", &[(&lan, 12)], None).unwrap();
    let cfg = format!(
        "router_id = \"{ip}\"\nasn = 64512\n[listen]\naddresses = [\"{ip}\"]\n[kernel]\nprotocol = \"bird\"\n[[peers]]\nname = \"inj\"\naddress = \"{pi}\"\nasn = 65001\npassive = true\n",
        ip = dut.ip4(),
        pi = inj.ip4()
    );
    // Returns once the control socket answers: the listener is bound by then.
    let mut p = common::start(&dut, &cfg, 0);
    let data = updates(n, inj.ip4().octets());
    let ns = inj.ns.clone();
    let to = (dut.ip4(), 179);
    let (t0, s) = std::thread::spawn(move || {
        enter_netns(&ns);
        inject(to, 65001, &data)
    })
    .join()
    .unwrap();
    let mut sock = bgp_fib::FibSocket::open_in_netns(
        std::path::Path::new(&format!("/var/run/netns/{}", dut.ns)),
        false,
    )
    .unwrap();
    loop {
        let k = sock
            .dump_routes()
            .unwrap()
            .iter()
            .filter(|r| r.protocol == 12)
            .count();
        if k >= n as usize {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "only {k} of {n} kernel routes after 120 s"
        );
        // A dump of a large table holds the kernel's routing lock: poll sparingly.
        std::thread::sleep(Duration::from_millis(1000));
    }
    let fib = t0.elapsed();
    let hwm = std::fs::read_to_string(format!("/proc/{}/status", p.pid()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "flood_kernel: {n} routes in the kernel after {:.2} s (dump-polled); daemon peak RSS {} MB",
        fib.as_secs_f64(),
        hwm / 1024
    );
    drop(s);
    p.stop(Duration::from_secs(10));
}

//! A raw speaker floods an embedded daemon (no kernel) with N distinct /24s in packed
//! 4 KB UPDATEs over loopback; measures the time until the RIB holds all of them and the
//! process's peak RSS. Ignored by default (a measurement, not a check); run with
//! `cargo test --release -p bgpd --test flood -- --ignored --nocapture` (`FLOOD_ROUTES`
//! sets N, default 1,000,000).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bgp_core::wire::{Capability, Family, Open};
use bgpd::config::Config;
use bgpd::{Daemon, StartOptions};
use bytes::BytesMut;

fn rss_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn updates(n: u32) -> Vec<u8> {
    let attrs: [u8; 20] = [
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, // AS_PATH 65001
        0x40, 3, 4, 127, 0, 0, 9, // NEXT_HOP
    ];
    let per = (4096 - 19 - 4 - attrs.len()) / 4;
    let mut out = Vec::new();
    let mut i = 0u32;
    while i < n {
        let k = (n - i).min(per as u32);
        let len = 19 + 4 + attrs.len() + 4 * k as usize;
        out.extend([0xff; 16]);
        out.extend((len as u16).to_be_bytes());
        out.push(2);
        out.extend([0, 0]);
        out.extend((attrs.len() as u16).to_be_bytes());
        out.extend(attrs);
        for j in i..i + k {
            // 1.0.0.0/24 onwards: distinct /24s.
            let a = 0x0100_0000u32 + (j << 8);
            out.push(24);
            out.extend(&a.to_be_bytes()[..3]);
        }
        i += k;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn flood_rib() {
    let n: u32 = std::env::var("FLOOD_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = Config::parse(
        &format!(
            "router_id = \"10.0.0.1\"\nasn = 64512\n[listen]\naddresses = [\"127.0.0.1\"]\nport = {port}\n[kernel]\nenabled = false\n[[peers]]\nname = \"inj\"\naddress = \"127.0.0.1\"\nasn = 65001\npassive = true\nmultihop = 2\n"
        ),
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
    let ctl = d.control();
    let data = updates(n);
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

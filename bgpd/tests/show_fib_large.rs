//! `show fib` of a large kernel table through a running bgpd (root, network namespaces): a raw
//! speaker announces N /24s (default 200,000; `SHOW_FIB_ROUTES`) to a bgpd process that
//! installs them; `show fib` and `json show fib` then list every one of them, and the
//! daemon's peak RSS while answering (its high-water mark reset just before, through
//! `/proc/PID/clear_refs`) grows by far less than the table's size: the kernel dump is read
//! as a stream and written page by page (a daemon that gathered the table first grows by
//! ~150 MB at 200k routes for the JSON answer).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use bgp_core::wire::{Capability, Family, Open};
use bgpd_lab::{Lab, NodeNet};
use bytes::BytesMut;

/// Opens a BGP session from namespace `ns` to `to`, sends `data`, keeps draining what the
/// daemon sends; the stream keeps the session up while it lives.
fn inject(ns: String, to: (Ipv4Addr, u16), asn: u32, data: Vec<u8>) -> TcpStream {
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns");
        let mut s = TcpStream::connect(to).unwrap();
        let mut open = BytesMut::new();
        Open::new(
            asn,
            90,
            Ipv4Addr::new(10, 0, 0, 9),
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::FourOctetAs(asn),
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
        let mut r = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while r.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
        });
        s.write_all(&data).unwrap();
        s
    })
    .join()
    .unwrap()
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

/// Our routes (protocol bird) in the kernel of `n`.
fn kernel_ours(n: &NodeNet) -> usize {
    let mut sock = bgp_fib::FibSocket::open_in_netns(
        std::path::Path::new(&format!("/var/run/netns/{}", n.ns)),
        false,
    )
    .unwrap();
    let mut k = 0;
    sock.dump_routes_with(|r| {
        k += usize::from(r.protocol == 12 && r.table == 254);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    k
}

#[test]
fn show_fib_lists_a_large_table_in_bounded_memory() {
    let n: u32 = std::env::var("SHOW_FIB_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut lab = Lab::heavy("bgpd_show_fib_large").unwrap();
    let lan = lab.lan().unwrap();
    let dut = lab.node("dut", &[(&lan, 11)], None).unwrap();
    let inj = lab.node("inj", &[(&lan, 12)], None).unwrap();
    // No periodic scan while we measure (it reads the table too).
    let cfg = format!(
        "router_id = \"{ip}\"\nasn = 64512\n[listen]\naddresses = [\"{ip}\"]\n[kernel]\nprotocol = \"bird\"\nscan_interval = 3600\n[[peers]]\nname = \"inj\"\naddress = \"{pi}\"\nasn = 65001\npassive = true\n",
        ip = dut.ip4(),
        pi = inj.ip4()
    );
    let mut p = common::start(&dut, &cfg, 0);
    let data = common::raw::packed_updates(n, Ipv4Addr::new(1, 0, 0, 0), 24, 65001, inj.ip4());
    let _session = inject(inj.ns.clone(), (dut.ip4(), 179), 65001, data);
    let t0 = Instant::now();
    // Every route in the kernel and nothing pending (the daemon idle).
    loop {
        if kernel_ours(&dut) >= n as usize {
            let fib: serde_json::Value =
                serde_json::from_str(&common::cli(&dut, &["show", "fib", "--json"]).unwrap())
                    .unwrap();
            if fib["fib"]["counts"]["pending"] == 0 {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the kernel does not hold the {n} routes after 300 s"
        );
        // A dump of a large table holds the kernel's routing lock: poll sparingly.
        std::thread::sleep(Duration::from_millis(1000));
    }
    eprintln!(
        "{n} routes installed after {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let pid = p.pid();
    // The peak RSS from here on (Linux 4.0: writing 5 resets VmHWM to the current RSS).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let base = status_kib(pid, "VmRSS:");

    // Text: the heading, one row per route, the two summary lines.
    let text = common::cli(&dut, &["show", "fib"]).unwrap();
    let rows = text.lines().filter(|l| l.ends_with(" installed")).count();
    assert_eq!(rows, n as usize, "show fib rows");
    assert!(
        text.contains("\nprefix "),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(
        text.contains(&format!("\n{n} installed, 0 failed, 0 pending")),
        "show fib summary"
    );
    // JSON: every route, once, in the kernel's order, and the counters.
    let doc = common::cli(&dut, &["show", "fib", "--json"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let routes = v["fib"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), n as usize, "json show fib routes");
    let mut prefixes: Vec<&str> = routes
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    assert_eq!(prefixes.len(), n as usize, "distinct prefixes");
    assert!(routes.iter().all(|r| r["state"] == "installed"));
    assert_eq!(v["fib"]["counts"]["installed"], n);

    let peak = status_kib(pid, "VmHWM:");
    let grew = peak.saturating_sub(base);
    eprintln!(
        "show fib of {n} routes (text, then JSON): daemon RSS {} MB, peak {} MB (+{} KB)",
        base / 1024,
        peak / 1024,
        grew
    );
    // A few pages in flight, the allocator's slack: far below the table (150+ MB gathered).
    assert!(
        grew < 32 * 1024,
        "the daemon's RSS grew by {grew} KB during show fib of {n} routes"
    );
    p.stop(Duration::from_secs(10));
}

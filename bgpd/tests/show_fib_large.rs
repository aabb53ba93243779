//! `show fib` of a large kernel table through a running bgpd (root, network namespaces): a raw
//! speaker announces N /24s (default 100,000; `SHOW_FIB_ROUTES`) to a bgpd process that
//! installs them; `show fib` and `json show fib` then list every one of them, and the
//! daemon's peak RSS while answering both (its high-water mark reset just before, through
//! `/proc/PID/clear_refs`) grows by far less than the table's size: the kernel dump is read
//! as a stream and written page by page. Measured at 1M routes (release builds,
//! `SHOW_FIB_BGPD=PATH` runs another build): +2.3 MB; the server that gathered the table
//! first, +2.4 GB.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use bgp_core::wire::{Capability, Family, Open};
use bgpd_lab::Lab;
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

const METRICS_PORT: u16 = 9181;

#[test]
fn show_fib_lists_a_large_table_in_bounded_memory() {
    let n: u32 = std::env::var("SHOW_FIB_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut lab = Lab::heavy("bgpd_show_fib_large").unwrap();
    let lan = lab.lan().unwrap();
    let dut = lab.node("dut", &[(&lan, 11)], None).unwrap();
    let inj = lab.node("inj", &[(&lan, 12)], None).unwrap();
    // No periodic scan while we measure (it reads the table too).
    let cfg = format!(
        "router_id = \"{ip}\"\nasn = 64512\n[listen]\naddresses = [\"{ip}\"]\n[kernel]\nprotocol = \"bird\"\nscan_interval = 3600\n[metrics]\nlisten = \"127.0.0.1:{METRICS_PORT}\"\n[[peers]]\nname = \"inj\"\naddress = \"{pi}\"\nasn = 65001\npassive = true\n",
        ip = dut.ip4(),
        pi = inj.ip4()
    );
    std::fs::write(dut.path("bgpd.toml"), &cfg).unwrap();
    // `SHOW_FIB_BGPD=PATH` measures another build (the figures printed; the bound asserted).
    let bin = std::env::var("SHOW_FIB_BGPD").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bgpd").into());
    let argv: Vec<String> = vec![
        "ip".into(),
        "netns".into(),
        "exec".into(),
        dut.ns.clone(),
        bin,
        "-c".into(),
        dut.path("bgpd.toml").display().to_string(),
        "-s".into(),
        common::socket(&dut).display().to_string(),
    ];
    let mut p = common::spawn_and_wait(&dut, &argv, &dut.path("bgpd.0.log"));
    let data = common::raw::packed_updates(n, Ipv4Addr::new(1, 0, 0, 0), 24, 65001, inj.ip4());
    let _session = inject(inj.ns.clone(), (dut.ip4(), 179), 65001, data);
    let t0 = Instant::now();
    // Every route installed and nothing pending, as the FIB thread reports them (its
    // metrics: no dump, no show fib before the one measured).
    loop {
        let m = common::scrape_metrics(&dut, METRICS_PORT).unwrap_or_default();
        let installed = common::metric(&m, "bgpd_fib_routes_installed");
        let pending = common::metric(&m, "bgpd_fib_routes_pending");
        if installed >= Some(f64::from(n)) && pending == Some(0.0) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "{installed:?} of {n} routes installed, {pending:?} pending after 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{n} routes installed after {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // bgp-fib keeps no copy of the table: once acknowledged, a route is known only to the
    // RIB (its tag), and the FIB thread holds no entry for it.
    // (The last batches' acknowledgements may still be on their way.)
    let t1 = Instant::now();
    loop {
        let m = common::scrape_metrics(&dut, METRICS_PORT).unwrap_or_default();
        let entries = common::metric(&m, "bgpd_fib_route_entries");
        if entries == Some(0.0) {
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "the FIB thread still holds {entries:?} entries for {n} installed routes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let pid = p.pid();
    // The peak RSS from here on (Linux 4.0: writing 5 resets VmHWM to the current RSS).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let base = status_kib(pid, "VmRSS:");

    // Text: the heading, one row per route, the two summary lines.
    let t = Instant::now();
    let text = common::cli(&dut, &["show", "fib"]).unwrap();
    let text_took = t.elapsed();
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
    let t = Instant::now();
    let doc = common::cli(&dut, &["show", "fib", "--json"]).unwrap();
    let json_took = t.elapsed();
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
        "show fib of {n} routes (text {:.2} s, then JSON {:.2} s): daemon RSS {} MB, peak {} MB (+{} KB)",
        text_took.as_secs_f64(),
        json_took.as_secs_f64(),
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

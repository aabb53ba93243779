//! Scrapes the metrics endpoint on loopback with the mock daemon and checks names, labels and
//! values, and the HTTP responder's answers to other requests.

mod control_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use bgpd::metrics::Metrics;
use control_common::*;

fn http(addr: std::net::SocketAddr, req: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{body}"))
        .parse()
        .unwrap()
}

/// User plus system CPU time of this process, in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn scrape() {
    let mock = Mock::fixture();
    let before = SystemTime::now();
    {
        let mut ps = mock.protocols.lock().unwrap();
        let b = ps[4].bgp.as_mut().unwrap();
        b.established_since = Some(SystemTime::now() - Duration::from_secs(100));
        // The message counters come from the peer table at scrape time.
        b.messages_in.update = 3;
        b.messages_out.keepalive = 1;
    }
    let metrics = Metrics::new().unwrap();
    metrics.update_processing_seconds.observe(0.000_2);
    metrics.netlink_batch_seconds.observe(0.01);
    metrics.fib_installed.set(4);
    metrics.fib_failed.set(1);
    metrics.fib_pending.set(2);
    metrics.rib_routes.with_label_values(&["ipv4"]).set(5);
    metrics.set_fib_kernel(bgpd::status::FibKernelCounts {
        messages: 2004,
        nexthop_messages: 4,
        object_flushes: 1,
        flushed_routes: 2000,
        third_party_route_changes: 5,
        errors: 6,
        overruns: 7,
        scans: 8,
        entries: 9,
        resyncs: 10,
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // The public entry point is spawnable (Send + 'static) as the core uses it.
    let other = rt.spawn(bgpd::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        mock.clone(),
    ));
    rt.spawn(bgpd::metrics::serve_listener(
        listener,
        metrics.clone(),
        mock.clone(),
    ));

    // Burn CPU until the kernel has charged this process at least one clock tick, so the
    // process counter is visibly above zero.
    let mut x = 1u64;
    while cpu_ticks() == 0 {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    let resp = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let after = SystemTime::now();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));

    // Collectors the core updates.
    let peer = "peer=\"Mesh_172_30_0_12\"";
    assert_eq!(
        value(
            body,
            &format!("bgpd_bgp_messages_received_total{{{peer},type=\"update\"}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            body,
            &format!("bgpd_bgp_messages_sent_total{{{peer},type=\"keepalive\"}}")
        ),
        1.0
    );
    // A type never seen has no series.
    assert!(
        !body.contains(&format!(
            "bgpd_bgp_messages_sent_total{{{peer},type=\"update\"}}"
        )),
        "{body}"
    );
    assert_eq!(value(body, "bgpd_update_processing_seconds_count"), 1.0);
    assert_eq!(value(body, "bgpd_netlink_batch_seconds_count"), 1.0);
    assert_eq!(value(body, "bgpd_fib_routes_installed"), 4.0);
    assert_eq!(value(body, "bgpd_fib_routes_failed"), 1.0);
    assert_eq!(value(body, "bgpd_fib_routes_pending"), 2.0);
    assert_eq!(value(body, "bgpd_rib_routes{family=\"ipv4\"}"), 5.0);
    // The FIB thread's last counters, as counters.
    for (series, v) in [
        ("bgpd_fib_netlink_messages_total", 2004.0),
        ("bgpd_fib_nexthop_messages_total", 4.0),
        ("bgpd_fib_object_flushes_total", 1.0),
        ("bgpd_fib_flushed_routes_total", 2000.0),
        ("bgpd_fib_third_party_route_changes_total", 5.0),
        ("bgpd_fib_kernel_errors_total", 6.0),
        ("bgpd_fib_netlink_overruns_total", 7.0),
        ("bgpd_fib_scans_total", 8.0),
        ("bgpd_fib_resyncs_total", 10.0),
    ] {
        assert_eq!(value(body, series), v, "{series}");
        assert!(
            body.contains(&format!("# TYPE {series} counter\n")),
            "{series}"
        );
    }
    assert_eq!(value(body, "bgpd_fib_route_entries"), 9.0);
    assert!(body.contains("# TYPE bgpd_fib_route_entries gauge\n"));
    assert!(body.contains("# TYPE bgpd_update_processing_seconds histogram"));

    // Scrape-time gauges from Control::protocols.
    assert_eq!(
        value(
            body,
            "bgpd_bgp_session_state{neighbor=\"172.30.0.12\",peer=\"Mesh_172_30_0_12\",state=\"Established\"}"
        ),
        6.0
    );
    assert_eq!(
        value(
            body,
            "bgpd_bgp_session_state{neighbor=\"172.30.0.13\",peer=\"Mesh_172_30_0_13\",state=\"Passive\"}"
        ),
        3.0
    );
    // Established 100 s before `before`: the uptime is 100 s plus however long the test took
    // until the scrape (whole seconds), no more.
    let up = value(body, &format!("bgpd_bgp_session_uptime_seconds{{{peer}}}"));
    let took = after.duration_since(before).unwrap().as_secs_f64().ceil();
    assert!(
        up >= 100.0 && up <= 100.0 + took + 1.0,
        "{up} (test took {took} s)"
    );
    assert_eq!(
        value(
            body,
            "bgpd_bgp_session_uptime_seconds{peer=\"Mesh_172_30_0_13\"}"
        ),
        0.0
    );
    assert_eq!(
        value(body, &format!("bgpd_bgp_prefixes_received{{{peer}}}")),
        2.0
    );
    assert_eq!(
        value(body, &format!("bgpd_bgp_prefixes_accepted{{{peer}}}")),
        2.0
    );
    assert_eq!(
        value(body, &format!("bgpd_bgp_prefixes_advertised{{{peer}}}")),
        2.0
    );
    assert_eq!(
        value(
            body,
            "bgpd_protocol_up{kind=\"kernel\",protocol=\"kernel1\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            body,
            "bgpd_protocol_up{kind=\"bgp\",protocol=\"Mesh_172_30_0_13\"}"
        ),
        0.0
    );
    // Process.
    assert!(value(body, "process_cpu_seconds_total") > 0.0);
    assert!(value(body, "process_resident_memory_bytes") > 1e6);
    assert!(value(body, "process_open_fds") > 2.0);

    // Other requests.
    let head = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
    assert!(http(addr, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(http(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let big = format!("GET /{} HTTP/1.1\r\n", "a".repeat(20_000));
    assert!(http(addr, &big).starts_with("HTTP/1.1 400 "));
    // Still serving.
    assert!(http(addr, "GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    assert!(!other.is_finished());
}

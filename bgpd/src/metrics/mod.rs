//! DOC: Prometheus metrics: the collectors the daemon core updates as it works ([`Metrics`]),
//! the values computed at scrape time from [`Control::protocols`], the FIB thread's last
//! counters and `/proc/self`, and the `GET /metrics` endpoint ([`serve`]). [`Stats`]
//! (`stats.rs`): the daemon-wide counters the tasks update, feeding these collectors.
//!
//! The endpoint is a minimal HTTP/1.1 responder on tokio rather than hyper: one read-only
//! endpoint, one request per connection (`Connection: close`), request heads bounded to 8 KiB
//! and 5 s; hyper + hyper-util + http would add a dozen crates to the daemon for that.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::status::{Control, FibKernelCounts};

mod stats;
pub use stats::Stats;

/// Metric name prefix.
const NS: &str = "bgpd";

/// The daemon's metrics. The registry is owned here; the core updates the public collectors.
pub struct Metrics {
    registry: Registry,
    /// Time to process one received UPDATE through the RIB: `bgpd_update_processing_seconds`.
    pub update_processing_seconds: Histogram,
    /// Time to send one netlink batch and read the acknowledgements then available:
    /// `bgpd_netlink_batch_seconds`.
    pub netlink_batch_seconds: Histogram,
    /// Routes installed in the kernel and confirmed: `bgpd_fib_routes_installed`.
    pub fib_installed: IntGauge,
    /// Routes whose last install failed: `bgpd_fib_routes_failed`.
    pub fib_failed: IntGauge,
    /// Routes waiting to be sent to the kernel: `bgpd_fib_routes_pending`.
    pub fib_pending: IntGauge,
    /// Loc-RIB routes by `family` (`ipv4`, `ipv6`): `bgpd_rib_routes`.
    pub rib_routes: IntGaugeVec,
    /// Filter runs that ended in a run-time error, which rejected the route:
    /// `bgpd_filter_errors_total`.
    pub filter_errors: prometheus::IntCounter,
    /// BFD state changes by `peer` (address) and `state` entered:
    /// `bgpd_bfd_state_changes_total`.
    pub bfd_state_changes: IntCounterVec,
    /// Time from a BFD session's last received packet to its Down by detection timeout:
    /// `bgpd_bfd_detection_seconds`.
    pub bfd_detection_seconds: Histogram,
    /// The FIB thread's cumulative counters as last reported ([`Metrics::set_fib_kernel`]),
    /// exported at scrape time as the `bgpd_fib_*_total` counters.
    fib_kernel: Mutex<FibKernelCounts>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NS)
}

impl Metrics {
    /// Creates the collectors and registers them. Fresh collectors with distinct names in a
    /// fresh registry do not fail; the error is passed on all the same.
    pub fn new() -> Result<Arc<Metrics>, prometheus::Error> {
        let registry = Registry::new();
        let hist = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help)
                    .namespace(NS)
                    .buckets(buckets),
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let update_processing_seconds = hist(
            "update_processing_seconds",
            "Time to process one received UPDATE through the RIB.",
            prometheus::exponential_buckets(1e-6, 4.0, 12)?,
        )?;
        let netlink_batch_seconds = hist(
            "netlink_batch_seconds",
            "Time to send one netlink batch and read the acknowledgements then available.",
            prometheus::exponential_buckets(1e-5, 4.0, 11)?,
        )?;
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::with_opts(opts(name, help))?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let fib_installed = gauge("fib_routes_installed", "Routes installed in the kernel.")?;
        let fib_failed = gauge("fib_routes_failed", "Routes whose last install failed.")?;
        let fib_pending = gauge(
            "fib_routes_pending",
            "Routes waiting to be sent to the kernel.",
        )?;
        let rib_routes = IntGaugeVec::new(
            opts("rib_routes", "Routes in the Loc-RIB, by address family."),
            &["family"],
        )?;
        registry.register(Box::new(rib_routes.clone()))?;
        let filter_errors = prometheus::IntCounter::with_opts(opts(
            "filter_errors_total",
            "Filter runs that ended in a run-time error (the route was rejected).",
        ))?;
        registry.register(Box::new(filter_errors.clone()))?;
        let bfd_state_changes = IntCounterVec::new(
            opts(
                "bfd_state_changes_total",
                "BFD session state changes, by state entered.",
            ),
            &["peer", "state"],
        )?;
        registry.register(Box::new(bfd_state_changes.clone()))?;
        let bfd_detection_seconds = hist(
            "bfd_detection_seconds",
            "Time from a BFD session's last received packet to its Down by detection timeout.",
            prometheus::exponential_buckets(0.01, 1.5, 16)?,
        )?;
        Ok(Arc::new(Metrics {
            registry,
            bfd_state_changes,
            bfd_detection_seconds,
            update_processing_seconds,
            netlink_batch_seconds,
            fib_installed,
            fib_failed,
            fib_pending,
            rib_routes,
            filter_errors,
            fib_kernel: Mutex::new(FibKernelCounts::default()),
        }))
    }

    /// The FIB thread's cumulative counters (its last report).
    pub fn set_fib_kernel(&self, c: FibKernelCounts) {
        *self.fib_kernel.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }

    /// The registry (to register more collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders every metric in the Prometheus text format, adding the scrape-time gauges: per
    /// BGP peer its session state, uptime and prefix counts (from [`Control::protocols`]), and
    /// the process's CPU time, resident memory and open descriptors (from `/proc/self`).
    pub fn render(&self, control: &dyn Control) -> String {
        let scrape = Registry::new();
        if let Err(e) = scrape_gauges(&scrape, control) {
            tracing::warn!("metrics: {e}");
        }
        let fib = *self.fib_kernel.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = scrape_fib(&scrape, &fib) {
            tracing::warn!("metrics: {e}");
        }
        let mut families = self.registry.gather();
        families.extend(scrape.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!("metrics encoding: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The FIB thread's cumulative counters, as counters.
fn scrape_fib(reg: &Registry, c: &FibKernelCounts) -> prometheus::Result<()> {
    for (name, help, n) in [
        (
            "fib_netlink_messages_total",
            "Netlink messages sent to the kernel (route and nexthop object adds, replaces, deletes).",
            c.messages,
        ),
        (
            "fib_nexthop_messages_total",
            "Nexthop object messages sent (creates, replaces, deletes; also in bgpd_fib_netlink_messages_total).",
            c.nexthop_messages,
        ),
        (
            "fib_object_flushes_total",
            "Nexthop objects deleted to withdraw every route using them in one kernel walk.",
            c.object_flushes,
        ),
        (
            "fib_flushed_routes_total",
            "Routes withdrawn by the delete of their nexthop object (no route delete sent for them).",
            c.flushed_routes,
        ),
        (
            "fib_third_party_route_changes_total",
            "Routes of ours changed or deleted by someone else, seen by the monitor and repaired.",
            c.third_party_route_changes,
        ),
        (
            "fib_kernel_errors_total",
            "Netlink requests the kernel refused (routes and nexthop objects).",
            c.errors,
        ),
        (
            "fib_netlink_overruns_total",
            "Netlink socket overruns (ENOBUFS: replies or notifications lost; a resync followed).",
            c.overruns,
        ),
        (
            "fib_scans_total",
            "Scans of the kernel's routes (reconcile).",
            c.scans,
        ),
        (
            "fib_resyncs_total",
            "Times the FIB thread asked for every prefix again (routes missing from the kernel, or resolved differently).",
            c.resyncs,
        ),
    ] {
        let counter = prometheus::IntCounter::with_opts(opts(name, help))?;
        counter.inc_by(n);
        reg.register(Box::new(counter))?;
    }
    let entries = IntGauge::with_opts(opts(
        "fib_route_entries",
        "Routes the FIB thread holds state for (queued, in flight, failed, being deleted); installed routes are known only to the RIB.",
    ))?;
    entries.set(i64::try_from(c.entries).unwrap_or(i64::MAX));
    reg.register(Box::new(entries))?;
    Ok(())
}

/// BFD at scrape time: sessions by state, and the engine's packet counters (cumulative, so
/// exposed as counters).
fn scrape_bfd(reg: &Registry, control: &dyn Control) -> prometheus::Result<()> {
    let sessions = control.bfd_sessions();
    let c = control.bfd_counters();
    if sessions.is_empty() && c.packets_out == 0 {
        return Ok(()); // BFD not configured
    }
    let by_state = IntGaugeVec::new(opts("bfd_sessions", "BFD sessions, by state."), &["state"])?;
    for st in bgp_core::bfd::State::ALL {
        let n = sessions.iter().filter(|s| s.state == st.name()).count();
        by_state.with_label_values(&[st.name()]).set(n as i64);
    }
    let packets = prometheus::IntCounterVec::new(
        opts(
            "bfd_packets_total",
            "BFD Control packets, by direction (in: accepted).",
        ),
        &["direction"],
    )?;
    packets.with_label_values(&["in"]).inc_by(c.packets_in);
    packets.with_label_values(&["out"]).inc_by(c.packets_out);
    let dropped = prometheus::IntCounterVec::new(
        opts(
            "bfd_packets_dropped_total",
            "BFD packets dropped by the checks of RFC 5880 §6.8.6 / RFC 5881 §5, by reason.",
        ),
        &["reason"],
    )?;
    for (r, n) in &c.dropped {
        dropped.with_label_values(&[r.as_str()]).inc_by(*n);
    }
    reg.register(Box::new(by_state))?;
    reg.register(Box::new(packets))?;
    reg.register(Box::new(dropped))?;
    Ok(())
}

/// RFC 4271 / BGP4-MIB `bgpPeerState` numbers; BIRD's `Passive` (waiting for the peer to
/// connect) counts as `active`, anything else unknown as `idle`.
pub fn session_state_number(state: &str) -> i64 {
    match state {
        "Idle" => 1,
        "Connect" => 2,
        "Active" | "Passive" => 3,
        "OpenSent" => 4,
        "OpenConfirm" => 5,
        "Established" => 6,
        _ => 1,
    }
}

fn scrape_gauges(reg: &Registry, control: &dyn Control) -> prometheus::Result<()> {
    let state = GaugeVec::new(
        opts(
            "bgp_session_state",
            "BGP session state (1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established); the state name is a label.",
        ),
        &["peer", "neighbor", "state"],
    )?;
    let uptime = GaugeVec::new(
        opts(
            "bgp_session_uptime_seconds",
            "Seconds since the session became Established (0 when it is not).",
        ),
        &["peer"],
    )?;
    let received = GaugeVec::new(
        opts(
            "bgp_prefixes_received",
            "Prefixes received from the peer, before import policy.",
        ),
        &["peer"],
    )?;
    let accepted = GaugeVec::new(
        opts(
            "bgp_prefixes_accepted",
            "Prefixes accepted from the peer by import policy.",
        ),
        &["peer"],
    )?;
    let advertised = GaugeVec::new(
        opts(
            "bgp_prefixes_advertised",
            "Prefixes advertised to the peer.",
        ),
        &["peer"],
    )?;
    // Per-peer message counters are built at scrape time from the peer table, like the gauges
    // above: a series per peer and message type kept in the registry cost every neighbour
    // ~2 KB for as long as it lived (issue 19), and had to be removed when it left.
    let messages = |name: &str, help: &str| IntCounterVec::new(opts(name, help), &["peer", "type"]);
    let messages_in = messages(
        "bgp_messages_received_total",
        "BGP messages received, by peer and type (open, update, notification, keepalive, route_refresh).",
    )?;
    let messages_out = messages(
        "bgp_messages_sent_total",
        "BGP messages sent, by peer and type.",
    )?;
    let up = GaugeVec::new(
        opts("protocol_up", "1 when the protocol instance is up."),
        &["protocol", "kind"],
    )?;
    let stale = GaugeVec::new(
        opts(
            "bgp_graceful_restart_stale",
            "1 while the peer's routes are kept as stale through its graceful restart.",
        ),
        &["peer"],
    )?;
    // Our own restart (routes adopted from the kernel, End-of-RIB awaited).
    let recovery = Gauge::with_opts(opts(
        "graceful_restart_recovery",
        "1 while bgpd recovers from its own graceful restart (advertisements deferred, stale kernel routes kept).",
    ))?;
    let waiting = Gauge::with_opts(opts(
        "graceful_restart_waiting_peers",
        "Peers that have not yet sent End-of-RIB during our graceful-restart recovery.",
    ))?;
    if let Some(g) = control.status().graceful_restart {
        recovery.set(1.0);
        waiting.set(f64::from(g.waiting_for));
    }
    reg.register(Box::new(recovery))?;
    reg.register(Box::new(waiting))?;
    let now = SystemTime::now();
    for p in control.protocols() {
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        up.with_label_values(&[p.name.as_str(), kind.as_str()])
            .set(f64::from(u8::from(
                p.state == crate::status::ProtoState::Up,
            )));
        let Some(b) = &p.bgp else { continue };
        let name = p.name.as_str();
        let neighbor = b.neighbor_address.to_string();
        state
            .with_label_values(&[name, neighbor.as_str(), b.state.as_str()])
            .set(session_state_number(&b.state) as f64);
        let secs = b
            .established_since
            .filter(|_| b.state == "Established")
            .and_then(|t| now.duration_since(t).ok())
            .map_or(0.0, |d| d.as_secs_f64().floor());
        uptime.with_label_values(&[name]).set(secs);
        received
            .with_label_values(&[name])
            .set(p.routes.received as f64);
        accepted
            .with_label_values(&[name])
            .set(p.routes.imported as f64);
        advertised
            .with_label_values(&[name])
            .set(p.routes.exported as f64);
        stale
            .with_label_values(&[name])
            .set(f64::from(u8::from(b.graceful_restart_stale)));
        for (vec, counts) in [
            (&messages_in, &b.messages_in),
            (&messages_out, &b.messages_out),
        ] {
            for (ty, n) in counts.by_type() {
                if n > 0 {
                    vec.with_label_values(&[name, ty]).inc_by(n);
                }
            }
        }
    }
    reg.register(Box::new(messages_in))?;
    reg.register(Box::new(messages_out))?;
    for c in [
        &state,
        &uptime,
        &received,
        &accepted,
        &advertised,
        &up,
        &stale,
    ] {
        reg.register(Box::new(c.clone()))?;
    }
    scrape_bfd(reg, control)?;
    if let Some(proc) = ProcessStats::read() {
        let cpu = Gauge::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        cpu.set(proc.cpu_seconds);
        let rss = Gauge::with_opts(Opts::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        ))?;
        rss.set(proc.rss_bytes as f64);
        let fds = Gauge::with_opts(Opts::new(
            "process_open_fds",
            "Number of open file descriptors.",
        ))?;
        fds.set(proc.open_fds as f64);
        reg.register(Box::new(cpu))?;
        reg.register(Box::new(rss))?;
        reg.register(Box::new(fds))?;
    }
    Ok(())
}

/// What `/proc/self` tells about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl ProcessStats {
    /// Reads `/proc/self/stat` and `/proc/self/status`; `None` off Linux or on a parse error.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
        let cpu_seconds = parse_cpu_ticks(&stat)? as f64 / ticks;
        let rss_bytes = parse_rss_kb(&status)? * 1024;
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        Some(ProcessStats {
            cpu_seconds,
            rss_bytes,
            open_fds,
        })
    }
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After ')': field 3 (state) is the first; utime is field 14 → index 11.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS:` of `/proc/PID/status`, in kB.
pub fn parse_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Serves `GET /metrics` on `addr` until the future is dropped; returns only on a bind error.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    control: Arc<dyn Control>,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_listener(listener, metrics, control).await
}

/// Scrapes served at once; more connections are closed at once.
const MAX_SCRAPES: usize = 16;
/// Bound on a request head.
const MAX_HEAD: usize = 8192;
/// Time allowed for the request head and for writing the answer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// [`serve`] on a bound listener.
pub async fn serve_listener(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    control: Arc<dyn Control>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue; // dropped: closed
        };
        let metrics = metrics.clone();
        let control = control.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(HTTP_TIMEOUT * 2, http_conn(stream, metrics, control)).await;
            drop(permit);
        });
    }
}

async fn http_conn(
    mut stream: TcpStream,
    metrics: Arc<Metrics>,
    control: Arc<dyn Control>,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(HTTP_TIMEOUT, async {
        loop {
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, io::Error>(false);
            }
            head.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
    })
    .await;
    let (status, body, is_head) = match complete {
        Ok(Ok(true)) => route(&head),
        Ok(Ok(false)) => ("400 Bad Request", None, false),
        Ok(Err(e)) => return Err(e),
        Err(_) => ("408 Request Timeout", None, false),
    };
    let body = match body {
        Some(()) => tokio::task::spawn_blocking(move || metrics.render(&*control))
            .await
            .map_err(io::Error::other)?,
        None => format!("{status}\n"),
    };
    let ctype = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !is_head {
        resp.extend_from_slice(body.as_bytes());
    }
    tokio::time::timeout(HTTP_TIMEOUT, stream.write_all(&resp))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    let _ = stream.shutdown().await;
    Ok(())
}

/// (status, `Some(())` to render metrics, HEAD) for a request head.
fn route(head: &[u8]) -> (&'static str, Option<()>, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", None, false);
    };
    if !version.starts_with("HTTP/1.") {
        return ("505 HTTP Version Not Supported", None, false);
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => ("200 OK", Some(()), false),
        ("HEAD", "/metrics") => ("200 OK", Some(()), true),
        ("GET" | "HEAD", _) => ("404 Not Found", None, method == "HEAD"),
        _ => ("405 Method Not Allowed", None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let stat = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(200));
        assert_eq!(parse_rss_kb("Name:\tx\nVmRSS:\t  4321 kB\n"), Some(4321));
        assert!(ProcessStats::read().is_some());
    }

    #[test]
    fn routing() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\n\r\n").0, "200 OK");
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").0, "200 OK");
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n").0,
            "405 Method Not Allowed"
        );
        assert_eq!(route(b"\xff\xfe\r\n\r\n").0, "400 Bad Request");
    }
}

//! A mock [`Control`] holding the daemon state of the BIRD 1.6.8 transcript
//! (`/work/shared/fixtures/bird16-cli-transcript.txt`, copied to `tests/fixtures/`), and helpers
//! to run the control server on a temporary socket and talk to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bgpd::control::ServerOptions;
use bgpd::status::*;

/// 2026-11-22 00:00:00 UTC, the transcript's day.
pub const DAY: u64 = 1_795_305_600;

/// `00:MM:SS` on the transcript's day.
pub fn at(min: u64, sec: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(DAY + min * 60 + sec)
}

/// The transcript's "now" (`Current server time is 2026-11-22 00:01:55`).
pub fn fixture_now() -> SystemTime {
    at(1, 55)
}

/// Server options pinned to the transcript's clock, in UTC.
pub fn fixture_options() -> ServerOptions {
    ServerOptions {
        now: fixture_now,
        utc_offset: Some(0),
        ..ServerOptions::default()
    }
}

/// A recorded command given to the mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Enable(String),
    Disable(String, String),
    Restart(String),
    Reload,
    Shutdown,
}

/// The mock daemon.
pub struct Mock {
    pub status: Mutex<DaemonStatus>,
    pub protocols: Mutex<Vec<ProtocolStatus>>,
    pub routes: Mutex<Vec<RouteEntry>>,
    /// Generated routes beyond `routes` (for large-table tests): `10.x.y.0/24` from `static1`.
    pub synthetic_routes: AtomicUsize,
    pub actions: Mutex<Vec<Action>>,
    pub route_calls: AtomicUsize,
}

fn proto(name: &str, kind: ProtoKind, since: SystemTime, export: &str) -> ProtocolStatus {
    ProtocolStatus {
        name: name.into(),
        kind,
        state: ProtoState::Up,
        since,
        info: String::new(),
        description: None,
        import_policy: "ACCEPT".into(),
        export_policy: export.into(),
        routes: RouteCounts::default(),
        bgp: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The transcript's Mesh_172_30_0_12 (Established), `since` as given.
pub fn mesh12(since: SystemTime) -> ProtocolStatus {
    let mut p = proto(
        "Mesh_172_30_0_12",
        ProtoKind::Bgp,
        since,
        "calico_export_to_bgp_peers",
    );
    p.info = "Established".into();
    p.description = Some("Connection to BGP peer".into());
    p.routes = RouteCounts {
        imported: 2,
        exported: 2,
        preferred: 2,
        received: 2,
        rejected: 0,
        accepted: 2,
    };
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    p.bgp = Some(BgpStatus {
        state: "Established".into(),
        neighbor_address: ip("172.30.0.12"),
        neighbor_port: 179,
        neighbor_as: 64512,
        local_as: 64512,
        neighbor_id: Some(Ipv4Addr::new(172, 30, 0, 12)),
        neighbor_caps: words(
            "refresh enhanced-refresh restart-able llgr-aware AS4 add-path-rx add-path-tx",
        ),
        session_flags: words("internal multihop AS4 add-path-rx add-path-tx"),
        source_address: Some(ip("172.30.0.11")),
        hold_timer: Some((212, 240)),
        keepalive_timer: Some((51, 80)),
        last_error: None,
        established_since: Some(since),
        rr_client: false,
        graceful_restart_stale: false,
        messages_in: MessageCounts {
            open: 1,
            update: 3,
            notification: 0,
            keepalive: 2,
            route_refresh: 0,
        },
        messages_out: MessageCounts::default(),
    });
    p
}

/// The transcript's Mesh_172_30_0_13 (start/Passive after an administrative shutdown).
pub fn mesh13(since: SystemTime) -> ProtocolStatus {
    let mut p = proto(
        "Mesh_172_30_0_13",
        ProtoKind::Bgp,
        since,
        "calico_export_to_bgp_peers",
    );
    p.state = ProtoState::Start;
    p.info = "Passive".into();
    p.description = Some("Connection to BGP peer".into());
    p.bgp = Some(BgpStatus {
        state: "Passive".into(),
        neighbor_address: ip("172.30.0.13"),
        neighbor_port: 179,
        neighbor_as: 64512,
        local_as: 64512,
        neighbor_id: None,
        neighbor_caps: vec![],
        session_flags: vec![],
        source_address: None,
        hold_timer: None,
        keepalive_timer: None,
        last_error: Some("Received: Administrative shutdown".into()),
        established_since: None,
        rr_client: false,
        graceful_restart_stale: false,
        messages_in: MessageCounts::default(),
        messages_out: MessageCounts::default(),
    });
    p
}

/// The transcript's kernel1.
pub fn kernel1(since: SystemTime) -> ProtocolStatus {
    let mut p = proto(
        "kernel1",
        ProtoKind::Kernel,
        since,
        "calico_kernel_programming",
    );
    p.routes.exported = 4;
    p
}

/// The `show protocols` state.
pub fn fixture_protocols() -> Vec<ProtocolStatus> {
    vec![
        kernel1(at(1, 42)),
        proto("device1", ProtoKind::Device, at(1, 42), "ACCEPT"),
        proto("direct1", ProtoKind::Direct, at(1, 42), "ACCEPT"),
        proto("static1", ProtoKind::Static, at(1, 42), "ACCEPT"),
        mesh12(at(1, 44)),
        mesh13(at(1, 52)),
    ]
}

fn route(
    prefix: &str,
    dest: RouteDest,
    protocol: &str,
    since: SystemTime,
    pref: u16,
) -> RouteEntry {
    RouteEntry {
        prefix: prefix.parse().unwrap(),
        dest,
        protocol: protocol.into(),
        since,
        from: None,
        primary: true,
        preference: pref,
        igp_metric: None,
        bgp: None,
        stale: false,
        sync_error: false,
        krt: None,
    }
}

fn bgp_route(prefix: &str) -> RouteEntry {
    let mut r = route(
        prefix,
        RouteDest::Via {
            nexthops: vec![(ip("172.30.0.12"), Some("eth0".into()))],
        },
        "Mesh_172_30_0_12",
        at(1, 45),
        100,
    );
    r.igp_metric = Some(0);
    r.bgp = Some(BgpRouteAttrs {
        origin: "IGP".into(),
        as_path: String::new(),
        next_hop: Some(ip("172.30.0.12")),
        med: None,
        local_pref: Some(100),
        communities: vec![],
        large_communities: vec![],
        originator_id: None,
        cluster_list: vec![],
    });
    r
}

/// The transcript's routing table, in its order.
pub fn fixture_routes() -> Vec<RouteEntry> {
    vec![
        route(
            "172.30.0.0/24",
            RouteDest::Dev {
                iface: "eth0".into(),
            },
            "direct1",
            at(1, 43),
            240,
        ),
        bgp_route("10.244.2.0/26"),
        bgp_route("10.244.2.0/32"),
        route(
            "10.244.1.0/26",
            RouteDest::Blackhole,
            "static1",
            at(1, 43),
            200,
        ),
        route(
            "10.244.1.0/32",
            RouteDest::Dev {
                iface: "tunl0".into(),
            },
            "direct1",
            at(1, 43),
            240,
        ),
    ]
}

impl Mock {
    pub fn fixture() -> Arc<Mock> {
        Arc::new(Mock {
            status: Mutex::new(DaemonStatus {
                version: "bgpd 0.1.0".into(),
                router_id: Ipv4Addr::new(172, 30, 0, 11),
                started: at(1, 42),
                last_reconfiguration: at(1, 42),
                graceful_restart: None,
                reconfiguring: false,
                shutting_down: false,
                listen: vec!["0.0.0.0:179".parse().unwrap()],
            }),
            protocols: Mutex::new(fixture_protocols()),
            routes: Mutex::new(fixture_routes()),
            synthetic_routes: AtomicUsize::new(0),
            actions: Mutex::new(Vec::new()),
            route_calls: AtomicUsize::new(0),
        })
    }

    fn synthetic(i: usize) -> RouteEntry {
        route(
            &format!("10.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff),
            RouteDest::Blackhole,
            "static1",
            at(1, 43),
            200,
        )
    }

    fn matches(q: &RouteQuery, r: &RouteEntry) -> bool {
        q.prefix.is_none_or(|p| p == r.prefix)
            && q.protocol.as_ref().is_none_or(|p| *p == r.protocol)
            && (!q.primary_only || r.primary)
    }
}

impl Control for Mock {
    fn status(&self) -> DaemonStatus {
        self.status.lock().unwrap().clone()
    }
    fn protocols(&self) -> Vec<ProtocolStatus> {
        self.protocols.lock().unwrap().clone()
    }
    fn routes(&self, q: &RouteQuery) -> Vec<RouteEntry> {
        self.route_calls.fetch_add(1, Ordering::Relaxed);
        let fixed = self.routes.lock().unwrap().clone();
        let n = self.synthetic_routes.load(Ordering::Relaxed);
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        if q.prefix.is_none() && q.protocol.is_none() && !q.primary_only {
            // Unfiltered pages of a large table: jump straight to the offset.
            let skip_fixed = q.offset.min(fixed.len());
            let start = q.offset - skip_fixed;
            return fixed
                .into_iter()
                .skip(skip_fixed)
                .chain((start..n).map(Mock::synthetic))
                .take(limit)
                .collect();
        }
        fixed
            .into_iter()
            .chain((0..n).map(Mock::synthetic))
            .filter(|r| Mock::matches(q, r))
            .skip(q.offset)
            .take(limit)
            .collect()
    }
    fn route_count(&self) -> (u64, u64) {
        let n = self.routes.lock().unwrap().len() + self.synthetic_routes.load(Ordering::Relaxed);
        (n as u64, n as u64)
    }
    fn fib(&self) -> (Vec<FibEntry>, FibCounts) {
        (
            vec![FibEntry {
                prefix: "10.244.2.0/26".parse().unwrap(),
                dest: RouteDest::Via {
                    nexthops: vec![(ip("172.30.0.12"), Some("tunl0".into()))],
                },
                onlink: true,
                table: 254,
                metric: 0,
                state: "installed".into(),
            }],
            FibCounts {
                installed: 1,
                failed: 0,
                pending: 0,
                ..FibCounts::default()
            },
        )
    }
    fn admin(&self, name: &str, request: bgp_core::driver::Admin) -> Result<(), ControlError> {
        use bgp_core::driver::Admin;
        self.known(name)?;
        let action = match request {
            Admin::Enable => Action::Enable(name.into()),
            Admin::Disable(message) => Action::Disable(name.into(), message),
            Admin::Restart => Action::Restart(name.into()),
            other => panic!("not a control-socket request: {other:?}"),
        };
        self.actions.lock().unwrap().push(action);
        Ok(())
    }
    fn reload(&self) -> Result<(), ControlError> {
        self.actions.lock().unwrap().push(Action::Reload);
        Ok(())
    }
    fn shutdown(&self) {
        self.actions.lock().unwrap().push(Action::Shutdown);
    }
}

impl Mock {
    fn known(&self, name: &str) -> Result<(), ControlError> {
        if self
            .protocols
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.name == name)
        {
            Ok(())
        } else {
            Err(ControlError::NoSuchProtocol(name.into()))
        }
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh socket path in a fresh temporary directory.
pub fn socket_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bgpd-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("bgpd.ctl")
}

/// Starts the server on its own runtime thread; returns the socket path and the runtime.
pub fn start(
    control: Arc<dyn Control>,
    opts: ServerOptions,
    tag: &str,
) -> (PathBuf, tokio::runtime::Runtime) {
    let path = socket_path(tag);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(async { bgpd::control::bind(&path) }).unwrap();
    rt.spawn(bgpd::control::serve_listener(listener, control, opts));
    (path, rt)
}

/// A connected client that has read the greeting.
pub struct Client {
    pub rd: BufReader<UnixStream>,
    pub wr: UnixStream,
    pub greeting: String,
}

impl Client {
    pub fn connect(path: &std::path::Path) -> Client {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let wr = s.try_clone().unwrap();
        let mut rd = BufReader::new(s);
        let mut greeting = String::new();
        rd.read_line(&mut greeting).unwrap();
        Client { rd, wr, greeting }
    }

    /// Sends a line and reads the reply up to and including its last line.
    pub fn ask(&mut self, line: &[u8]) -> String {
        self.wr.write_all(line).unwrap();
        self.wr.write_all(b"\n").unwrap();
        self.reply()
    }

    /// Reads one reply.
    pub fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut l = String::new();
            let n = self.rd.read_line(&mut l).unwrap();
            assert!(n > 0, "EOF in the middle of a reply: {out}");
            out.push_str(&l);
            let b = l.as_bytes();
            if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b' ' {
                return out;
            }
        }
    }
}

//! The daemon under test (bgpd or BIRD 2) in its namespace, and the load generator's BGP speaker.

use super::*;

// ---------------------------------------------------------------------------------------
// The daemon under test.

pub(crate) struct Dut {
    pub(crate) d: Daemon,
    pub(crate) node: NodeNet,
    pub(crate) bgpd: Option<Bgpd>,
    pub(crate) bird: Option<Bird>,
    pub(crate) pid: i32,
}

pub(crate) fn bgpd_binary() -> R<PathBuf> {
    if let Some(p) = std::env::var_os("BGPD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/bgpd");
    if release.exists() {
        return Ok(release);
    }
    err("no target/release/bgpd: run `cargo build --release -p bgpd` (or set BGPD_BIN)")
}

pub(crate) fn bgpd_config() -> String {
    format!(
        r#"router_id = "{DUT_ADDR}"
asn = {DUT_AS}
[listen]
addresses = ["{DUT_ADDR}"]
[kernel]
protocol = "bird"
scan_interval = 60
[direct]
interfaces = ["-cali*", "*"]
[[peers]]
name = "Flappy"
address = "{flappy}"
asn = {PEER_AS}
passive = true
[[peers]]
name = "Routes"
address = "{routes}"
asn = {PEER_AS}
passive = true
[[peer_ranges]]
name = "Dyn"
prefix = "{RANGE}"
asn = {PEER_AS}
hold_time = 90
"#,
        flappy = src(STATIC_SRC),
        routes = src(ROUTES_SRC),
    )
}

pub(crate) fn bird2_config(node: &NodeNet) -> String {
    format!(
        r#"log "{log}" {{ warning, error, fatal }};
router id {DUT_ADDR};
protocol device {{ scan time 10; }}
protocol direct {{ ipv4; interface -"cali*", "*"; }}
protocol kernel k4 {{ scan time 60; ipv4 {{ import none; export all; }}; }}
template bgp t {{
  local {DUT_ADDR} as {DUT_AS};
  hold time 90; keepalive time 30;
  passive on; direct; graceful restart on;
  ipv4 {{ import all; export none; }};
}}
protocol bgp Flappy from t {{ neighbor {flappy} as {PEER_AS}; }}
protocol bgp Routes from t {{ neighbor {routes} as {PEER_AS}; }}
protocol bgp Dyn from t {{ neighbor range {RANGE} as {PEER_AS}; dynamic name "Dyn"; }}
"#,
        log = node.path("bird.log").display(),
        flappy = src(STATIC_SRC),
        routes = src(ROUTES_SRC),
    )
}

impl Dut {
    pub(crate) fn start(d: Daemon, node: &NodeNet) -> R<Dut> {
        let (bgpd, bird) = match d {
            Daemon::Bgpd => (
                Some(Bgpd::start_with(node, &bgpd_config(), bgpd_binary()?)?),
                None,
            ),
            Daemon::Bird2 => (
                None,
                Some(Bird::start(BirdVersion::V2, node, &bird2_config(node))?),
            ),
        };
        let want = if d == Daemon::Bgpd { "bgpd" } else { "bird" };
        let pid = netns_pids(&node.ns)
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == want)
            })
            .ok_or("daemon pid not found")?;
        Ok(Dut {
            d,
            node: node.clone(),
            bgpd,
            bird,
            pid,
        })
    }

    pub(crate) fn rss(&self) -> f64 {
        rss_mb(self.pid).1
    }

    /// One sample of the soak's series, `min` minutes in: RSS, threads, open descriptors and
    /// the BGP protocols listed (established ones apart).
    pub(crate) fn sample(&self, min: f64) -> Value {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count())
            .ok();
        let (listed, up) = self.sessions().unwrap_or((0, 0));
        json!({
            "min": (min * 10.0).round() / 10.0, "rss_mb": self.rss(), "threads": threads,
            "fds": fds, "protocols": listed, "established": up,
        })
    }

    pub(crate) fn cpu(&self) -> f64 {
        cpu_s(self.pid)
    }

    /// BGP protocols the daemon lists, and how many are Established.
    pub(crate) fn sessions(&self) -> R<(usize, usize)> {
        if let Some(b) = &self.bgpd {
            let p = b.protocols()?;
            let bgp: Vec<_> = p.iter().filter_map(|p| p.bgp.as_ref()).collect();
            let up = bgp.iter().filter(|s| s.state == "Established").count();
            return Ok((bgp.len(), up));
        }
        let Some(b) = &self.bird else {
            return err("no daemon");
        };
        let text = b.ctl.cmd("show protocols")?;
        let rows: Vec<&str> = text.lines().filter(|l| l.contains(" BGP ")).collect();
        let up = rows.iter().filter(|l| l.contains("Established")).count();
        Ok((rows.len(), up))
    }

    /// Routes the daemon selected (its RIB's primary routes from BGP).
    pub(crate) fn rib_routes(&self) -> R<u64> {
        if let Some(b) = &self.bgpd {
            return Ok(b
                .routes()?
                .iter()
                .filter(|r| r.primary && r.bgp.is_some())
                .count() as u64);
        }
        let Some(b) = &self.bird else {
            return err("no daemon");
        };
        Ok(b.ctl.route_count("protocol Routes primary")?)
    }

    pub(crate) fn check(&mut self) -> R<()> {
        if std::fs::metadata(format!("/proc/{}", self.pid)).is_err() {
            return err(format!(
                "{} exited (logs in {})",
                self.d.name(),
                self.node.dir.display()
            ));
        }
        Ok(())
    }
}

/// For a profiler's snapshot of the settled daemon (live heap by allocation site): with
/// `CHURN_HOLD_SECS` set, the part keeps its daemon running that long after its last reading,
/// announcing its pid on stderr.
pub(crate) fn hold(dut: &Dut) {
    let secs: u64 = std::env::var("CHURN_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if secs > 0 {
        eprintln!(
            "churn: holding {} pid {} for {secs} s",
            dut.d.name(),
            dut.pid
        );
        std::thread::sleep(Duration::from_secs(secs));
    }
}

/// Polls `f` until it returns true, every 200 ms, at most `secs`.
pub(crate) fn wait(secs: u64, what: &str, mut f: impl FnMut() -> R<bool>) -> R<()> {
    let t = Instant::now();
    loop {
        if f().unwrap_or(false) {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(secs) {
            return err(format!("timed out after {secs} s: {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// RSS once it stopped moving: the last five readings, 1 s apart, within 0.1 MB (bgpd gives
/// freed memory back 2 s after its sessions stopped changing; a reading taken before that would
/// count the allocator's free pages), at most 30 s.
pub(crate) fn settled_rss(dut: &Dut) -> f64 {
    let mut last: Vec<f64> = vec![dut.rss()];
    for _ in 0..30 {
        std::thread::sleep(Duration::from_secs(1));
        last.push(dut.rss());
        let recent = &last[last.len().saturating_sub(5)..];
        let (lo, hi) = recent
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        if recent.len() == 5 && hi - lo < 0.1 {
            return recent[4];
        }
    }
    last.last().copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The load: a runtime on a thread inside the generator's namespace.

pub(crate) fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static,
) -> R<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || -> Result<T, String> {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns on this thread only, with a valid namespace fd.
        if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) } < 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(f(&rt))
    })
    .join()
    .map_err(|_| "load thread panicked")?
    .map_err(Into::into)
}

pub(crate) fn open_msg(asn: u32, id: Ipv4Addr, gr: bool) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ];
    if gr {
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time: 30,
            families: vec![(Family::IPV4_UNICAST, true)],
        }));
    }
    Open::new(asn, 90, id, caps)
}

pub(crate) fn prefixes(base: Ipv4Addr, n: usize) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(u32::from(base) + ((i as u32) << 8));
            Nlri::new(IpNet::V4(Ipv4Net::new(a, 24).unwrap_or_default()))
        })
        .collect()
}

/// One session from `from`: handshake (retried while the daemon refuses, at most `secs`),
/// then `routes` announced with End-of-RIB. Returns the open connection.
pub(crate) async fn session(
    from: Ipv4Addr,
    gr: bool,
    routes: &[Nlri],
    secs: u64,
) -> std::io::Result<TcpStream> {
    let target = SocketAddr::new(DUT_ADDR.into(), 179);
    let open = open_msg(PEER_AS, from, gr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let attempt = async {
            let mut s = connect(from, target).await?;
            let mut buf = BytesMut::new();
            let ctx = handshake(&mut s, &mut buf, &open).await?;
            s.write_all(&encode_table(&ctx, routes, from, false))
                .await?;
            Ok::<_, std::io::Error>(s)
        };
        match attempt.await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

//! `fib_bench --listeners`: what the kernel charges for route notifications, and the daemon's
//! FIB thread fed as the daemon feeds it (see the binary's docs).

use super::*;

/// Who listens to the namespace's route notifications during a `--listeners` install.
#[derive(Clone, Copy, PartialEq)]
enum Listener {
    /// Nobody: the kernel's floor.
    None,
    /// The daemon's monitor socket (our own route notifications dropped by its filter).
    Own,
    /// `ip monitor route` reading every notification (a third party's listener).
    IpMonitor,
    /// The daemon's FIB thread with its monitor, fed intents in address order.
    Thread,
    /// As `Thread`, while another socket dumps the table every 100 ms (as `converge` counts
    /// the kernel's routes to see the FIB complete).
    ThreadPolled,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Listener::None => "no listener, all applied at once",
            Listener::Own => "daemon's monitor (filtered), all applied at once",
            Listener::IpMonitor => "ip monitor route, all applied at once",
            Listener::Thread => "daemon's FIB thread + monitor, fed in chunks",
            Listener::ThreadPolled => {
                "daemon's FIB thread + monitor, fed in chunks, table dumped every 100 ms"
            }
        }
    }
}

/// The FIB thread's counts, for `--listeners`.
#[derive(Clone, Default)]
struct Counts {
    installed: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
}

impl bgp_fib::FibObserver for Counts {
    fn event(&mut self, _ev: bgp_fib::FibEvent) {}
    fn turn(&mut self, installed: usize, pending: usize) {
        self.pending.store(pending, Ordering::SeqCst);
        self.installed.store(installed, Ordering::SeqCst);
    }
}

/// One install (timed) and delete of `n` IPv4 routes through one nexthop object, with
/// `who` listening; the install's time.
fn listener_install(ns: &Netns, n: u32, who: Listener) -> Timing {
    let limit = Duration::from_secs(600);
    let gw: IpAddr = "192.168.0.2".parse().expect("ip");
    let mut rd = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
    let mut child = (who == Listener::IpMonitor).then(|| {
        Command::new("ip")
            .args(["-n", &ns.0, "monitor", "route"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ip monitor")
    });
    let cfg = FibConfig {
        learn: false,
        scan_interval: Duration::from_secs(3600),
        nexthop_objects: NexthopObjects::Auto,
        ..FibConfig::default()
    };
    let monitor = matches!(
        who,
        Listener::Own | Listener::Thread | Listener::ThreadPolled
    );
    let mut sock = FibSocket::open_in_netns(&ns.path(), monitor).expect("socket");
    let stop = Arc::new(AtomicUsize::new(0));
    let poller = (who == Listener::ThreadPolled).then(|| {
        let s = FibSocket::open_in_netns(&ns.path(), false).expect("socket");
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut seq = 1;
            while stop.load(Ordering::SeqCst) == 0 {
                seq += 1;
                let _ = bgpd_benches::route_count::dump_count(s.request_fd(), BIRD, seq, &mut buf);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });
    if matches!(who, Listener::Thread | Listener::ThreadPolled) {
        let counts = Counts::default();
        // As the daemon feeds it: tagged mode, one tag for the peer's next hop.
        let mut tags = bgp_fib::TagTable::new(cfg.routes.clone(), (1 << 24) - 1);
        let h = bgp_fib::spawn(cfg, false, sock, counts.clone()).expect("spawn");
        let mut intent = |i: u32, out: &mut Vec<FibChange>| {
            let ri = RouteIntent {
                prefix: v4(i),
                kind: IntentKind::Unicast(IntentHop::pool(gw).into()),
                metric: None,
            };
            tags.change(v4(i), 0, Some(ri), false, out);
        };
        // Every prefix has tag 1; the tag goes after the last one.
        let mut remove = |i: u32, out: &mut Vec<FibChange>| {
            out.push(FibChange::Tagged {
                prefix: v4(i),
                old: 1,
                new: 0,
            });
            if i + 1 == n {
                out.push(FibChange::Forget(1));
            }
        };
        let feed = |mk: &mut dyn FnMut(u32, &mut Vec<FibChange>), want: usize| {
            let t = Instant::now();
            let mut i = 0;
            while i < n {
                let end = (i + bgp_fib::thread::HANDOFF_CHUNK as u32).min(n);
                let mut chunk: Vec<FibChange> = Vec::with_capacity(end as usize - i as usize + 1);
                for j in i..end {
                    mk(j, &mut chunk);
                }
                let mut c = chunk;
                loop {
                    match h.try_send(c) {
                        Ok(()) => break,
                        Err(back) => {
                            c = back;
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    assert!(t.elapsed() < limit, "FIB thread stuck");
                }
                i = end;
            }
            while h.is_full()
                || counts.pending.load(Ordering::SeqCst) != 0
                || counts.installed.load(Ordering::SeqCst) != want
            {
                assert!(t.elapsed() < limit, "FIB thread not done");
                std::thread::sleep(Duration::from_micros(500));
            }
        };
        std::thread::sleep(Duration::from_secs(1));
        let w = Watch::start();
        feed(&mut intent, n as usize);
        let add = w.stop();
        stop.store(1, Ordering::SeqCst);
        if let Some(p) = poller {
            let _ = p.join();
        }
        assert_eq!(count_ours(&mut rd, gw), n as usize, "install");
        feed(&mut remove, 0);
        h.shutdown().expect("shutdown");
        assert_eq!(count_ours(&mut rd, gw), 0, "delete");
        return add;
    }
    if monitor {
        sock.ignore_own_route_notifications(BIRD).expect("filter");
    }
    let mut fib = Fib::new(cfg, false);
    assert!(sock.run_until_idle(&mut fib, limit).expect("sync"));
    let route = |i: u32| FibRoute {
        prefix: v4(i),
        kind: RouteKind::Unicast(vec![NextHop::via(gw, Device::Name("eth0".into()))]),
        metric: 0,
        table: TABLE_MAIN,
    };
    std::thread::sleep(Duration::from_secs(1));
    let w = Watch::start();
    for i in 0..n {
        fib.apply(FibChange::Upsert(route(i)));
    }
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    let add = w.stop();
    assert_eq!(count_ours(&mut rd, gw), n as usize, "install");
    for i in 0..n {
        fib.apply(FibChange::Remove(route(i).key()));
    }
    assert!(sock.run_until_idle(&mut fib, limit).expect("run"));
    assert_eq!(count_ours(&mut rd, gw), 0, "delete");
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    add
}

/// `--listeners`.
pub(super) fn listeners(n: u32) {
    let ns = Netns::new();
    let all = [
        Listener::None,
        Listener::Own,
        Listener::IpMonitor,
        Listener::Thread,
        Listener::ThreadPolled,
    ];
    // `FIB_BENCH_LISTENERS=0,3`: only these variants (by their index in the table).
    let only: Option<Vec<usize>> = std::env::var("FIB_BENCH_LISTENERS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect());
    let mut best = [Timing::MAX; 5];
    for round in 0..rounds().max(1) {
        for k in 0..all.len() {
            let k = (k + round as usize) % all.len();
            if only.as_ref().is_some_and(|o| !o.contains(&k)) {
                continue;
            }
            let t = listener_install(&ns, n, all[k]);
            eprintln!(
                "round {round}: {}: {:.2} s (CPU {:.2} s)",
                all[k].label(),
                t.wall.as_secs_f64(),
                t.cpu.as_secs_f64()
            );
            best[k] = best[k].best(t);
        }
    }
    println!(
        "{n} IPv4 routes through one nexthop object, install, best of {} rounds",
        rounds()
    );
    println!("| who listens / how fed | s | routes/s | CPU s (this process) |");
    println!("|---|---:|---:|---:|");
    for (k, who) in all.iter().enumerate() {
        if best[k].wall == Duration::MAX {
            continue;
        }
        println!(
            "| {} | {:.2} | {:.0} | {:.2} |",
            who.label(),
            best[k].wall.as_secs_f64(),
            n as f64 / best[k].wall.as_secs_f64(),
            best[k].cpu.as_secs_f64()
        );
    }
}

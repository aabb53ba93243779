//! The parts of the churn run: idle, dynamic, static, iface, soak.

use super::*;

// ---------------------------------------------------------------------------------------
// The parts.

pub(crate) struct Topo {
    pub(crate) _lab: Lab,
    pub(crate) dut: NodeNet,
    pub(crate) gen: NodeNet,
}

pub(crate) fn topology(test: &str, sources: usize) -> R<Topo> {
    let mut lab = Lab::with_capture(test, false)?;
    let lan = lab.lan()?;
    let dut = lab.node("dut", &[(&lan, 1)], None)?;
    let gen = lab.node("gen", &[(&lan, 2)], None)?;
    cmd::ip(&[
        "-n",
        &dut.ns,
        "addr",
        "add",
        &format!("{DUT_ADDR}/20"),
        "dev",
        dut.iface(),
    ])?;
    let mut batch = String::new();
    for i in (0..sources).chain([STATIC_SRC, ROUTES_SRC]) {
        let _ = writeln!(batch, "addr add {}/20 dev {}", src(i), gen.iface());
    }
    let file = gen.path("addrs.batch");
    std::fs::write(&file, batch)?;
    cmd::ip(&["-n", &gen.ns, "-batch", &file.to_string_lossy()])?;
    Ok(Topo {
        _lab: lab,
        dut,
        gen,
    })
}

/// Neighbours that come up and leave before the idle part's base reading.
const IDLE_WARM_UP: usize = 20;

pub(crate) fn part_idle(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-idle-{}", d.name()), n)?;
    let mut dut = Dut::start(d, &t.dut)?;
    // Warm-up: a few neighbours come up and leave before the base is read, so the daemon's
    // code pages and first allocations a session needs (a fixed cost, ~1 MB of RSS for bgpd)
    // are in the base and not divided among the idle neighbours.
    let ns = t.gen.ns.clone();
    in_netns(&ns, move |rt| {
        rt.block_on(async move {
            let all: Vec<_> = (0..IDLE_WARM_UP.min(n))
                .map(|i| {
                    tokio::spawn(async move {
                        if let Ok(mut s) = session(src(i), false, &[], 30).await {
                            let _ = s.shutdown().await;
                        }
                    })
                })
                .collect();
            for a in all {
                let _ = a.await;
            }
        })
    })?;
    wait(120, "warm-up neighbours gone", || {
        let (listed, est) = dut.sessions()?;
        Ok(est == 0 && (d != Daemon::Bgpd || listed <= 2))
    })?;
    let base = settled_rss(&dut);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let ns = t.gen.ns.clone();
    let holder = std::thread::spawn(move || {
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let mut conns = Vec::new();
                for i in 0..n {
                    conns.push(tokio::spawn(async move {
                        session(src(i), false, &[], 120).await
                    }));
                }
                let mut open = Vec::new();
                for c in conns {
                    if let Ok(Ok(s)) = c.await {
                        open.push(s);
                    }
                }
                // Keepalives while the measurement runs (hold 90 s).
                let ka = [0xffu8; 16]
                    .iter()
                    .copied()
                    .chain([0, 19, 4])
                    .collect::<Vec<u8>>();
                loop {
                    if rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                        break;
                    }
                    for s in &mut open {
                        let _ = s.write_all(&ka).await;
                    }
                }
                open.len()
            })
        })
    });
    wait(300, "every idle neighbour Established", || {
        dut.check()?;
        Ok(dut.sessions()?.1 >= n)
    })?;
    let up = settled_rss(&dut);
    hold(&dut);
    let _ = tx.send(());
    let opened = holder.join().map_err(|_| "holder panicked")??;
    let gone = wait(120, "neighbours gone", || {
        let (listed, est) = dut.sessions()?;
        Ok(est == 0 && (d != Daemon::Bgpd || listed <= 2))
    });
    let after = settled_rss(&dut);
    let listed = dut.sessions()?.0;
    Ok(json!({
        "part": "idle", "daemon": d.name(), "neighbours": n, "opened": opened,
        "warm_up": IDLE_WARM_UP.min(n),
        "rss_base_mb": base, "rss_up_mb": up, "rss_after_mb": after,
        "per_neighbour_kb": (up - base) * 1024.0 / n as f64,
        "listed_after": listed, "forgotten": gone.is_ok(), "load": loadavg(),
    }))
}

pub(crate) fn part_dynamic(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-dyn-{}", d.name()), n)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let cpu0 = dut.cpu();
    let run = |from: usize, to: usize| -> R<usize> {
        let ns = t.gen.ns.clone();
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let mut ok = 0;
                let mut i = from;
                while i < to {
                    let batch: Vec<_> = (i..(i + 20).min(to))
                        .map(|k| {
                            tokio::spawn(async move {
                                let base = Ipv4Addr::from(
                                    u32::from_be_bytes([20, 0, 0, 0]) + ((k as u32) << 16),
                                );
                                let s = session(src(k), false, &prefixes(base, 100), 30).await;
                                if let Ok(mut s) = s {
                                    let _ = s.shutdown().await;
                                    return true;
                                }
                                false
                            })
                        })
                        .collect();
                    for b in batch {
                        ok += usize::from(b.await.unwrap_or(false));
                    }
                    i += 20;
                }
                ok
            })
        })
    };
    let first = run(0, n / 10)?;
    dut.check()?;
    let settled = settled_rss(&dut);
    let t0 = Instant::now();
    let rest = run(n / 10, n)?;
    let wall = t0.elapsed().as_secs_f64();
    dut.check()?;
    let _ = wait(120, "sessions closed", || Ok(dut.sessions()?.1 == 0));
    let end = settled_rss(&dut);
    let cpu = dut.cpu() - cpu0;
    let listed = dut.sessions()?.0;
    hold(&dut);
    Ok(json!({
        "part": "dynamic", "daemon": d.name(), "sessions": n, "completed": first + rest,
        "rss_start_mb": start, "rss_settled_mb": settled, "rss_end_mb": end,
        "growth_after_settled_kb_per_session": (end - settled) * 1024.0 / (n - n / 10) as f64,
        "cpu_ms_per_session": cpu * 1000.0 / n as f64, "wall_s": wall,
        "listed_at_end": listed, "load": loadavg(),
    }))
}

pub(crate) fn part_static(d: Daemon, n: usize, budget: Duration) -> R<Value> {
    let t = topology(&format!("churn-static-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let flaps = |count: usize, budget: Duration| -> R<usize> {
        let ns = t.gen.ns.clone();
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let t0 = Instant::now();
                let one = prefixes(Ipv4Addr::new(30, 0, 0, 0), 1);
                let mut done = 0;
                while done < count && t0.elapsed() < budget {
                    match session(src(STATIC_SRC), true, &one, 60).await {
                        Ok(mut s) => {
                            let _ = s.shutdown().await;
                            done += 1;
                        }
                        Err(_) => break,
                    }
                }
                done
            })
        })
    };
    let first = flaps(100, budget)?;
    dut.check()?;
    let settled = settled_rss(&dut);
    let cpu0 = dut.cpu();
    let t0 = Instant::now();
    let rest = flaps(n.saturating_sub(100), budget)?;
    let wall = t0.elapsed().as_secs_f64();
    dut.check()?;
    let cpu = dut.cpu() - cpu0;
    let end = settled_rss(&dut);
    Ok(json!({
        "part": "static", "daemon": d.name(), "flaps_asked": n, "flaps": first + rest,
        "rss_start_mb": start, "rss_settled_mb": settled, "rss_end_mb": end,
        "growth_pct": (end - settled) * 100.0 / settled,
        "cpu_ms_per_flap": cpu * 1000.0 / rest.max(1) as f64, "wall_s": wall,
        "load": loadavg(),
    }))
}

/// Creates `n` `cali*` veth pairs with an address each, then deletes them (`ip -batch`).
pub(crate) fn iface_cycles(ns: &str, dir: &std::path::Path, from: usize, n: usize) -> R<()> {
    let mut add = String::new();
    let mut del = String::new();
    for i in from..from + n {
        let _ = writeln!(add, "link add cali{i:07} type veth peer name cp{i:07}");
        let _ = writeln!(add, "link set cali{i:07} up");
        let _ = writeln!(
            add,
            "addr add 169.254.{}.{}/32 dev cali{i:07}",
            (i / 250) % 250,
            i % 250 + 1
        );
        let _ = writeln!(del, "link del cali{i:07}");
    }
    for (name, text) in [("add", add), ("del", del)] {
        let f = dir.join(format!("iface-{name}.batch"));
        std::fs::write(&f, text)?;
        cmd::ip(&["-n", ns, "-batch", &f.to_string_lossy()])?;
    }
    Ok(())
}

/// [`iface_cycles`] in steps of 100 (a veth deletion waits for an RCU grace period: 1,000 in
/// one `ip -batch` outlast the command timeout).
pub(crate) fn iface_cycles_stepped(
    ns: &str,
    dir: &std::path::Path,
    from: usize,
    n: usize,
) -> R<()> {
    let mut i = from;
    while i < from + n {
        let k = 100.min(from + n - i);
        iface_cycles(ns, dir, i, k)?;
        i += k;
    }
    Ok(())
}

pub(crate) fn part_iface(d: Daemon, n: usize) -> R<Value> {
    let t = topology(&format!("churn-iface-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let mut per_k = Vec::new();
    let mut rss = Vec::new();
    let mut i = 0;
    while i < n {
        let k = 1000.min(n - i);
        let c0 = dut.cpu();
        iface_cycles_stepped(&t.dut.ns, &t.dut.dir, i, k)?;
        // Let the daemon finish with the events before reading its CPU time.
        std::thread::sleep(Duration::from_millis(500));
        dut.check()?;
        per_k.push((dut.cpu() - c0) * 1000.0 / k as f64);
        rss.push(dut.rss());
        i += k;
    }
    let end = settled_rss(&dut);
    Ok(json!({
        "part": "iface", "daemon": d.name(), "cycles": n,
        "rss_start_mb": start, "rss_end_mb": end, "rss_per_1000": rss,
        "cpu_ms_per_event_per_1000": per_k, "load": loadavg(),
    }))
}

pub(crate) fn part_soak(d: Daemon, secs: u64) -> R<Value> {
    let t = topology(&format!("churn-soak-{}", d.name()), 0)?;
    let mut dut = Dut::start(d, &t.dut)?;
    let start = settled_rss(&dut);
    let ns = t.gen.ns.clone();
    let dur = Duration::from_secs(secs);
    // Route churn and flaps from the generator; interface churn from here.
    let load = std::thread::spawn(move || {
        in_netns(&ns, move |rt| {
            rt.block_on(async move {
                let flapper = tokio::spawn(async move {
                    let t0 = Instant::now();
                    let one = prefixes(Ipv4Addr::new(30, 0, 0, 0), 1);
                    let mut n = 0u64;
                    while t0.elapsed() < dur {
                        if let Ok(mut s) = session(src(STATIC_SRC), true, &one, 60).await {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            let _ = s.shutdown().await;
                            n += 1;
                        }
                    }
                    n
                });
                // One long session: 1,000 routes in, then alternately withdrawn and back.
                let t0 = Instant::now();
                let set = prefixes(Ipv4Addr::new(40, 0, 0, 0), 1000);
                let mut rounds = 0u64;
                if let Ok(mut s) = session(src(ROUTES_SRC), false, &set, 60).await {
                    while t0.elapsed() < dur {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        // Withdraw half, re-announce it: one UPDATE each way per second.
                        let half = &set[(rounds as usize % 2) * 500..][..500];
                        let mut w = BytesMut::new();
                        encode_withdraw(half, &mut w);
                        let _ = s.write_all(&w).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let mut a = BytesMut::new();
                        encode_announce(half, src(ROUTES_SRC), &mut a);
                        let _ = s.write_all(&a).await;
                        rounds += 1;
                    }
                    // Leave it with every route announced: the end state the check compares.
                    let mut a = BytesMut::new();
                    encode_announce(&set, src(ROUTES_SRC), &mut a);
                    let _ = s.write_all(&a).await;
                    std::mem::forget(s);
                }
                (rounds, flapper.await.unwrap_or(0))
            })
        })
    });
    let t0 = Instant::now();
    let mut i = 0;
    // One sample a minute (and one at the end): RSS, threads, open descriptors (a leaked
    // connection or socket shows there) and the BGP protocols listed, to tell settling from
    // growth.
    let every = Duration::from_secs(60.min(secs.div_ceil(2)).max(1));
    let mut series = vec![dut.sample(0.0)];
    while t0.elapsed() < dur {
        iface_cycles(&t.dut.ns, &t.dut.dir, i, 10)?;
        i += 10;
        dut.check()?;
        let due = every * u32::try_from(series.len()).unwrap_or(u32::MAX);
        if t0.elapsed() >= due {
            series.push(dut.sample(t0.elapsed().as_secs_f64() / 60.0));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    series.push(dut.sample(t0.elapsed().as_secs_f64() / 60.0));
    let rss_1min = series.get(1).map(|s| s["rss_mb"].clone());
    let (rounds, flaps) = load.join().map_err(|_| "load panicked")??;
    // Quiet now: the kernel must hold exactly the RIB's selected BGP routes.
    let kernel = |dut: &Dut| -> R<u64> {
        let out = cmd::run(
            Some(&dut.node.ns),
            "ip",
            &["-4", "route", "show", "proto", "bird"],
        )?;
        Ok(out
            .lines()
            .filter(|l| l.starts_with("40.") || l.starts_with("30."))
            .count() as u64)
    };
    let equal = wait(60, "kernel equals RIB", || {
        let k = kernel(&dut)?;
        Ok(k == dut.rib_routes()? && k >= 1000)
    });
    let end = settled_rss(&dut);
    // Growth once settled: the largest RSS of the samples from minute 2 on, minus the RSS at
    // minute 2 (the first minutes are the daemon reaching its working set).
    let rss = |s: &Value| s["rss_mb"].as_f64().unwrap_or(f64::NAN);
    let later: Vec<f64> = series.iter().skip(2).map(rss).collect();
    let growth = match later.first() {
        Some(first) => later.iter().copied().fold(f64::MIN, f64::max) - first,
        None => f64::NAN,
    };
    Ok(json!({
        "part": "soak", "daemon": d.name(), "secs": secs, "route_rounds": rounds,
        "flaps": flaps, "iface_cycles": i,
        "rss_start_mb": start, "rss_1min_mb": rss_1min, "rss_end_mb": end,
        "rss_growth_after_2min_mb": growth, "series": series,
        "kernel_equals_rib": equal.is_ok(), "kernel_routes": kernel(&dut).ok(),
        "rib_routes": dut.rib_routes().ok(), "load": loadavg(),
    }))
}

/// Withdrawals of `p` (IPv4 unicast, no attributes), 4 KB UPDATEs at most.
pub(crate) fn encode_withdraw(p: &[Nlri], out: &mut BytesMut) {
    for chunk in p.chunks(800) {
        let body: Vec<u8> = chunk.iter().flat_map(nlri24).collect();
        let len = 19 + 2 + body.len() + 2;
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&[2]);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&[0, 0]);
    }
}

/// Announcements of `p` with next hop `nh` and AS_PATH `PEER_AS`.
pub(crate) fn encode_announce(p: &[Nlri], nh: Ipv4Addr, out: &mut BytesMut) {
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
    attrs.extend(PEER_AS.to_be_bytes());
    attrs.extend([0x40, 3, 4]);
    attrs.extend(nh.octets());
    for chunk in p.chunks(800) {
        let nlri: Vec<u8> = chunk.iter().flat_map(nlri24).collect();
        let len = 19 + 2 + 2 + attrs.len() + nlri.len();
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&[2, 0, 0]);
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&nlri);
    }
}

pub(crate) fn nlri24(n: &Nlri) -> [u8; 4] {
    match n.prefix {
        IpNet::V4(p) => {
            let o = p.addr().octets();
            [24, o[0], o[1], o[2]]
        }
        IpNet::V6(_) => [0; 4],
    }
}

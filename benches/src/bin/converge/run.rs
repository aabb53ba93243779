//! One repetition of a shape: the topology, the injector's arguments, the measurement.

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bgpd_benches::procstat::{cpu_s, cpu_split, loadavg, rss_mb, rss_split_mb};
use bgpd_lab::{cmd, Bird, BirdVersion, Lab, NodeNet};
use serde_json::{json, Value};

use super::dut::{start_dut, Dut};
use super::injector::Injector;
use super::kernel::KernelCounter;
use super::probe::{ctl_socket, dut_pids, poll_until, probe_summary, rib_count, CtlProbe};
use super::{err, mono_ns, secs, src_addr, Daemon, Kind, DUT_ADDR, DUT_AS, EBGP_AS, POLL, R};

pub(crate) struct Topo {
    _lab: Lab,
    dut: NodeNet,
    inj: NodeNet,
}

pub(crate) fn topology(test: &str, sessions: usize) -> R<Topo> {
    let mut lab = Lab::with_capture(test, false)?;
    let lan = lab.lan()?;
    let dut = lab.node("dut", &[(&lan, 1)], None)?;
    let inj = lab.node("inj", &[(&lan, 2)], None)?;
    cmd::ip(&[
        "-n",
        &dut.ns,
        "addr",
        "add",
        &format!("{DUT_ADDR}/22"),
        "dev",
        "eth0",
    ])?;
    let mut batch = String::new();
    for i in 0..sessions.max(1) {
        let _ = writeln!(batch, "addr add {}/22 dev eth0", src_addr(i));
    }
    let file = inj.path("addrs.batch");
    std::fs::write(&file, batch)?;
    cmd::ip(&["-n", &inj.ns, "-batch", &file.to_string_lossy()])?;
    Ok(Topo {
        _lab: lab,
        dut,
        inj,
    })
}

pub(crate) fn inj_args(kind: Kind, max_secs: u64) -> Vec<String> {
    let (mode, routes, plen, base, asn) = match kind {
        Kind::Ebgp { routes, .. } => ("send", routes, 24, "10.0.0.0", EBGP_AS),
        Kind::Rr { .. } | Kind::Flap { .. } => ("rr", 1, 26, "10.128.0.0", DUT_AS),
        Kind::Idle { .. } => ("send", 1, 26, "10.128.0.0", DUT_AS),
    };
    [
        "--mode",
        mode,
        "--target",
        &format!("{DUT_ADDR}:179"),
        "--src",
        &src_addr(0).to_string(),
        "--sessions",
        &kind.sessions().to_string(),
        "--routes",
        &routes.to_string(),
        "--plen",
        &plen.to_string(),
        "--prefix-base",
        base,
        "--asn",
        &asn.to_string(),
        "--peer-as",
        &DUT_AS.to_string(),
        "--max-secs",
        &max_secs.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One repetition of one shape for one daemon: a fresh topology and daemon.
pub(crate) fn run_once(
    shape: &str,
    kind: Kind,
    d: Daemon,
    rep: usize,
    budget: Duration,
) -> R<Value> {
    let test = format!("cv-{shape}-{}-{rep}", d.name());
    let topo = topology(&test, kind.sessions())?;
    let dut = start_dut(d, kind, &topo.dut)?;
    let (pid, zebra) = dut_pids(&topo.dut.ns, &dut, d);
    let pid = pid.ok_or("daemon pid not found")?;
    let no_fib = std::env::var_os("CONVERGE_NO_FIB").is_some();
    let kc = match d.kernel_proto() {
        Some(p) if !kind.rr() && !no_fib => Some(KernelCounter::start(&topo.dut.ns, p)?),
        _ => None,
    };
    // A daemon whose CLI cannot count (bgpd before its control socket lands) gets no RIB
    // column rather than a poll that fails 10 times a second.
    let rib_ok = !matches!(dut, Dut::Bgpd { .. }) || rib_count(&dut).is_ok();
    let rib_count = |d: &Dut| -> R<u64> {
        if rib_ok {
            rib_count(d)
        } else {
            err("no RIB count")
        }
    };
    let cpu0 = cpu_s(pid);
    let out = json!({ "rib_supported": rib_ok });
    let zcpu0 = zebra.map(cpu_s).unwrap_or(0.0);
    let load_start = loadavg();
    let total = kind.total_routes();
    let deadline = Instant::now() + budget;
    let first = out;
    let mut out = json!({
        "shape": shape, "daemon": d.name(), "rep": rep, "load_start": load_start,
        "routes": total, "sessions": kind.sessions(),
    });
    out["rib_supported"] = first["rib_supported"].clone();
    // Calico's probes, all along the load: `show protocols` and `show status` on a fresh
    // connection every 100 ms, each timed from connect to its last line.
    // `CONVERGE_PROBE=off`: no probe (the baseline of a monitoring-loop measurement).
    let probe = if std::env::var("CONVERGE_PROBE").is_ok_and(|v| v == "off") {
        None
    } else {
        ctl_socket(&dut).map(CtlProbe::start)
    };
    let t_spawn = mono_ns();
    let mut inj = Injector::spawn(
        &topo.inj.ns,
        &inj_args(kind, budget.as_secs() + 30),
        &topo.inj.path("inject.log"),
    )?;
    let stop = AtomicBool::new(false);
    // When the flap rounds began (the probe's answers after it are the flap phase's).
    let mut flap_from: Option<Instant> = None;
    match kind {
        Kind::Ebgp { .. } => {
            let (t_go, _) = inj.wait("go", budget)?;
            let (rib, fib) = std::thread::scope(|s| {
                let r = s.spawn(|| {
                    if !rib_ok {
                        return (None, 0.0, 0);
                    }
                    poll_until(deadline, &stop, || rib_count(&dut), |n| n >= total)
                });
                let f = kc
                    .as_ref()
                    .map(|k| s.spawn(|| k.poll(deadline, &stop, |n| n >= total)));
                (
                    r.join().unwrap_or((None, 0.0, 0)),
                    f.map(|h| h.join().unwrap_or((None, 0.0, 0))),
                )
            });
            let (t_sent, _) = inj
                .wait("sent", Duration::from_secs(1))
                .unwrap_or((0, String::new()));
            out["inject_s"] = json!(secs(t_go, t_sent));
            out["rib_s"] = json!(rib.0.map(|t| secs(t_go, t)));
            out["rib_ask_s"] = json!(rib.1);
            out["rib_last"] = json!(rib.2);
            if let Some(f) = &fib {
                out["fib_s"] = json!(f.0.map(|t| secs(t_go, t)));
                out["fib_ask_s"] = json!(f.1);
                out["fib_last"] = json!(f.2);
            }
            // Withdraw: close every session; time until RIB and FIB are empty (a fresh budget).
            let deadline = Instant::now() + budget;
            let t_close = mono_ns();
            inj.send("close")?;
            let (wr, wf) = std::thread::scope(|s| {
                let r = s.spawn(|| {
                    if !rib_ok {
                        return (None, 0.0, 0);
                    }
                    poll_until(deadline, &stop, || rib_count(&dut), |n| n == 0)
                });
                let f = kc
                    .as_ref()
                    .map(|k| s.spawn(|| k.poll(deadline, &stop, |n| n == 0)));
                (
                    r.join().unwrap_or((None, 0.0, 0)),
                    f.map(|h| h.join().unwrap_or((None, 0.0, 0))),
                )
            });
            out["wd_rib_s"] = json!(wr.0.map(|t| secs(t_close, t)));
            out["wd_rib_last"] = json!(wr.2);
            if let Some(f) = wf {
                out["wd_fib_s"] = json!(f.0.map(|t| secs(t_close, t)));
                out["wd_fib_last"] = json!(f.2);
            }
        }
        Kind::Rr { clients } | Kind::Flap { clients, .. } => {
            let (t_up, n) = match inj.wait("all_up", budget) {
                Ok(x) => x,
                Err(_) => {
                    out["up_all_s"] = Value::Null;
                    out["fanout_note"] = json!(format!(
                        "not all {clients} sessions were up after {} s (the run's budget)",
                        budget.as_secs()
                    ));
                    out["peak_rss_mb"] = json!(rss_mb(pid).0);
                    out["cpu_s"] = json!(cpu_s(pid) - cpu0);
                    out["load_end"] = json!(loadavg());
                    return Ok(out);
                }
            };
            let (t_first, _) = inj.wait("up_first", Duration::from_secs(1))?;
            out["up_all_s"] = json!(secs(t_spawn, t_up));
            out["up_first_s"] = json!(secs(t_spawn, t_first));
            out["up_n"] = json!(n.trim().parse::<u64>().unwrap_or(0));
            // Let the daemon settle (End-of-RIBs) before everyone announces at once.
            std::thread::sleep(Duration::from_secs(2));
            let t_ann = mono_ns();
            inj.send("announce")?;
            let left = deadline.saturating_duration_since(Instant::now());
            match inj.wait("all_received", left) {
                Ok((t, _)) => out["fanout_s"] = json!(secs(t_ann, t)),
                Err(e) => {
                    let _ = inj.send("status");
                    let p = inj.wait("progress", Duration::from_secs(2)).map(|x| x.1);
                    out["fanout_s"] = Value::Null;
                    out["fanout_note"] = json!(format!("{e}; {:?} of {clients} complete", p.ok()));
                }
            }
            if let Kind::Flap { rounds, .. } = kind {
                flap_from = Some(Instant::now());
                flap_rounds(
                    &mut inj, &dut, clients, rounds, deadline, &rib_count, &mut out,
                );
            }
            out["rib_last"] = json!(rib_count(&dut).unwrap_or(0));
        }
        Kind::Idle { window, .. } => {
            let (t_go, _) = inj.wait("go", budget)?;
            let rib = if rib_ok {
                poll_until(deadline, &stop, || rib_count(&dut), |n| n >= total)
            } else {
                (None, 0.0, 0)
            };
            out["rib_s"] = json!(rib.0.map(|t| secs(t_go, t)));
            if let Some(k) = &kc {
                let f = k.poll(deadline, &stop, |n| n >= total);
                out["fib_s"] = json!(f.0.map(|t| secs(t_go, t)));
            }
            std::thread::sleep(Duration::from_secs(3));
            let c0 = cpu_s(pid);
            let z0 = zebra.map(cpu_s).unwrap_or(0.0);
            std::thread::sleep(Duration::from_secs(window));
            out["idle_cpu_per_min"] = json!((cpu_s(pid) - c0) * 60.0 / window as f64);
            if let Some(z) = zebra {
                out["zebra_idle_cpu_per_min"] = json!((cpu_s(z) - z0) * 60.0 / window as f64);
                out["zebra_rss_mb"] = json!(rss_mb(z).1);
            }
            out["rss_mb"] = json!(rss_mb(pid).1);
            let (anon, file) = rss_split_mb(pid);
            out["rss_anon_mb"] = json!(anon);
            out["rss_file_mb"] = json!(file);
            out["idle_window_s"] = json!(window);
        }
    }
    if let Some(p) = probe {
        let from = flap_from.map(|t| p.offset(t));
        let answers = p.finish();
        let all = probe_summary(answers.iter());
        out["ctl_probes"] = all["probes"].clone();
        out["ctl_failed"] = all["failed"].clone();
        out["ctl_p50_ms"] = all["p50_ms"].clone();
        out["ctl_p99_ms"] = all["p99_ms"].clone();
        out["ctl_max_ms"] = all["max_ms"].clone();
        out["ctl_slowest"] = all["slowest"].clone();
        if let Some(from) = from {
            out["flap_ctl"] = probe_summary(answers.iter().filter(|a| a.at >= from));
        }
    }
    let (hwm, _) = rss_mb(pid);
    out["peak_rss_mb"] = json!(hwm);
    out["cpu_s"] = json!(cpu_s(pid) - cpu0);
    out["cpu_split_user_sys"] = json!(cpu_split(pid));
    if let Some(z) = zebra {
        out["zebra_peak_rss_mb"] = json!(rss_mb(z).0);
        out["zebra_cpu_s"] = json!(cpu_s(z) - zcpu0);
    }
    out["load_end"] = json!(loadavg());
    drop(inj);
    drop(dut);
    drop(topo);
    Ok(out)
}

/// `rounds` times: every client drops its session and connects again (`flap`); each round
/// ends once every session is up again (`flap_up_s`) and the RIB holds every client's block
/// again (`flap_rib_s`), both from the `flap` command. Stops at the first round that does not
/// end before `deadline` (`flap_note`).
fn flap_rounds(
    inj: &mut Injector,
    dut: &Dut,
    clients: usize,
    rounds: usize,
    deadline: Instant,
    rib_count: &dyn Fn(&Dut) -> R<u64>,
    out: &mut Value,
) {
    let stop = AtomicBool::new(false);
    let (mut up_s, mut rib_s) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t0 = mono_ns();
        if let Err(e) = inj.send("flap") {
            out["flap_note"] = json!(format!("round {round}: {e}"));
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match inj.wait_detail("flapped", Some(&round.to_string()), left) {
            Ok((t, _)) => up_s.push(secs(t0, t)),
            Err(e) => {
                out["flap_note"] = json!(format!("round {round}: {e}"));
                break;
            }
        }
        let all = clients as u64;
        match poll_until(deadline, &stop, || rib_count(dut), |n| n >= all) {
            (Some(t), _, _) => rib_s.push(secs(t0, t)),
            (None, _, last) => {
                out["flap_note"] = json!(format!(
                    "round {round}: the RIB held {last} of {all} blocks at the deadline"
                ));
                break;
            }
        }
    }
    out["flap_rounds"] = json!(rib_s.len());
    out["flap_up_s"] = json!(up_s);
    out["flap_rib_s"] = json!(rib_s);
}

/// The injector against a sink, and BIRD 2 (1M static routes) against the same sink.
pub(crate) fn run_sender(routes: usize, rep: usize) -> R<Value> {
    let topo = topology(&format!("cv-sender-{rep}"), 1)?;
    let sink_args = |asn: u32| -> Vec<String> {
        [
            "--mode",
            "sink",
            "--listen",
            &format!("{DUT_ADDR}:179"),
            "--asn",
            &asn.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut out = json!({"shape": "sender", "rep": rep, "routes": routes, "load_start": loadavg()});
    // 1. inject → sink.
    {
        let mut sink = Injector::spawn(
            &topo.dut.ns,
            &sink_args(DUT_AS),
            &topo.dut.path("sink1.log"),
        )?;
        sink.wait("listening", Duration::from_secs(10))?;
        let mut args = inj_args(
            Kind::Ebgp {
                sessions: 1,
                routes,
            },
            120,
        );
        args.push("--peer-as".into());
        args.push(DUT_AS.to_string());
        let mut inj = Injector::spawn(&topo.inj.ns, &args, &topo.inj.path("inject.log"))?;
        let (t_go, _) = inj.wait("go", Duration::from_secs(60))?;
        let (t_eor, n) = sink.wait("eor", Duration::from_secs(120))?;
        out["inject_s"] = json!(secs(t_go, t_eor));
        out["inject_prefixes"] = json!(n.trim().parse::<u64>().unwrap_or(0));
    }
    // 2. BIRD 2 → sink: statics loaded first, then the session is enabled.
    {
        let mut c = format!(
            "log \"{}\" {{ warning, error, fatal }};\nrouter id 100.64.0.10;\nprotocol device {{ }}\nprotocol static s4 {{\n  ipv4;\n",
            topo.inj.path("bird.log").display()
        );
        for i in 0..routes {
            let a = std::net::Ipv4Addr::from(
                u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + ((i as u32) << 8),
            );
            let _ = writeln!(c, "  route {a}/24 blackhole;");
        }
        let _ = writeln!(c, "}}\nprotocol bgp feed {{\n  disabled;\n  local 100.64.0.10 as {EBGP_AS};\n  neighbor {DUT_ADDR} as {DUT_AS};\n  hold time 90;\n  ipv4 {{ import none; export all; next hop self; }};\n}}");
        let bird = Bird::start(BirdVersion::V2, &topo.inj, &c)?;
        let t = Instant::now();
        while bird.ctl.route_count("").unwrap_or(0) < routes as u64 {
            if t.elapsed() > Duration::from_secs(120) {
                return err("BIRD 2 did not load its statics");
            }
            std::thread::sleep(POLL);
        }
        let mut sink = Injector::spawn(
            &topo.dut.ns,
            &sink_args(DUT_AS),
            &topo.dut.path("sink2.log"),
        )?;
        sink.wait("listening", Duration::from_secs(10))?;
        bird.ctl.cmd("enable feed")?;
        let (t_est, _) = sink.wait("established", Duration::from_secs(60))?;
        let (t_eor, n) = sink.wait("eor", Duration::from_secs(120))?;
        out["bird2_s"] = json!(secs(t_est, t_eor));
        out["bird2_prefixes"] = json!(n.trim().parse::<u64>().unwrap_or(0));
    }
    out["load_end"] = json!(loadavg());
    drop(topo);
    Ok(out)
}

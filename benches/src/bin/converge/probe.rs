//! Asking a daemon under test: RIB counts, control-socket latency probes, pids, polling.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bgpd_lab::cmd;
use bgpd_lab::lab::netns_pids;
use serde_json::Value;

use super::dut::Dut;
use super::{err, mono_ns, secs, Daemon, POLL, R};

pub(crate) fn json_u64(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// `show route count` straight over BIRD's control socket (no `birdc` process per ask).
pub(crate) fn bird_count(sock: &Path) -> R<u64> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"show route count\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return err("BIRD closed the control socket");
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        // Reply code 0014 carries the count; a line starting with `0000` or an error ends it.
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("0014") {
                let rest = rest.trim_start_matches([' ', '-']);
                let rest = rest.strip_prefix("Total:").unwrap_or(rest);
                if let Some(n) = rest.split_whitespace().next() {
                    return Ok(n.parse()?);
                }
            }
            if l.starts_with('8') || l.starts_with('9') {
                return err(format!("BIRD: {l}"));
            }
        }
    }
}

/// The daemon's own count of IPv4 routes in its RIB.
pub(crate) fn rib_count(dut: &Dut) -> R<u64> {
    match dut {
        Dut::Bird(b) => bird_count(&b.ctl.socket),
        Dut::Frr(f) => {
            let v = f.json("show bgp ipv4 unicast summary json")?;
            // The sum of the peers' accepted prefixes: `ribCount` counts table nodes
            // (1,175,079 of them for 1M prefixes), so it reaches the target too early.
            let s = v.get("ipv4Unicast").unwrap_or(&v);
            Ok(s.get("peers")
                .and_then(Value::as_object)
                .map(|p| p.values().filter_map(|x| json_u64(x, "pfxRcd")).sum())
                .unwrap_or(0))
        }
        Dut::Gobgp(g) => {
            let t = g.gobgp(&["global", "rib", "summary", "-a", "ipv4"])?;
            let n = t
                .split("Destination:")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|x| x.trim().parse().ok());
            n.ok_or_else(|| format!("gobgp summary: {t}").into())
        }
        Dut::Bgpd {
            node,
            binary,
            socket,
            ..
        } => {
            let out = cmd::run(
                Some(&node.ns),
                &binary.to_string_lossy(),
                &["-s", &socket.to_string_lossy(), "show", "route", "count"],
            )?;
            bgpd_lab::bird::parse_route_count(&out)
                .or_else(|| {
                    out.split_whitespace()
                        .find_map(|w| w.parse::<u64>().ok().filter(|_| !w.starts_with("00")))
                })
                .ok_or_else(|| format!("bgpd route count: {out}").into())
        }
    }
}

/// The BIRD-style control socket of a daemon under test.
pub(crate) fn ctl_socket(dut: &Dut) -> Option<PathBuf> {
    match dut {
        Dut::Bird(b) => Some(b.ctl.socket.clone()),
        Dut::Bgpd { socket, .. } => Some(socket.clone()),
        _ => None,
    }
}

/// One probe: milliseconds from connect to the reply's last line (or to the failure),
/// seconds since the probe started, the command, whether it was answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    pub ms: f64,
    pub at: f64,
    pub cmd: &'static str,
    pub ok: bool,
    /// Milliseconds from connect to the greeting (the accept side alone).
    pub greet_ms: Option<f64>,
}

/// A thread asking what calico-node's probes ask, timing each answer (Calico's read deadline
/// is 2 s; a timed-out probe restarts the node's networking). An ask that fails (no answer
/// within 10 s, connection refused or closed) is kept with the time it took: p99 must see it.
pub(crate) struct CtlProbe {
    stop: std::sync::Arc<AtomicBool>,
    started: Instant,
    thread: std::thread::JoinHandle<Vec<Answer>>,
}

impl CtlProbe {
    pub(crate) fn start(sock: PathBuf) -> CtlProbe {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let started = Instant::now();
        // `CONVERGE_PROBE=CMD`: ask CMD every time instead (a monitoring loop, e.g. `show
        // route count protocol p0`; issue 14 measures what such a loop costs the load).
        let only: Option<&'static str> = std::env::var("CONVERGE_PROBE")
            .ok()
            .filter(|c| c != "off")
            .map(String::leak)
            .map(|s| &*s);
        let thread = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let cmd = match only {
                    Some(c) => c,
                    None if i.is_multiple_of(2) => "show protocols",
                    None => "show status",
                };
                i += 1;
                let t0 = Instant::now();
                let r = ctl_ask(&sock, cmd);
                all.push(Answer {
                    ms: t0.elapsed().as_secs_f64() * 1000.0,
                    at: t0.duration_since(started).as_secs_f64(),
                    cmd,
                    ok: r.is_ok(),
                    greet_ms: r
                        .ok()
                        .flatten()
                        .map(|g| g.duration_since(t0).as_secs_f64() * 1000.0),
                });
                std::thread::sleep(Duration::from_millis(100));
            }
            all
        });
        CtlProbe {
            stop,
            started,
            thread,
        }
    }

    /// Seconds from the probe's start to `t` (to select the answers of a phase).
    pub(crate) fn offset(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.started).as_secs_f64()
    }

    /// Stops the thread; every answer in order.
    pub(crate) fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Count, failures, p50, p99, max (milliseconds) of `answers`, and the five slowest
/// (ms, seconds since the probe started, command, answered, ms to the greeting) to tell where
/// the tail comes from.
pub(crate) fn probe_summary<'a>(answers: impl Iterator<Item = &'a Answer>) -> Value {
    let mut all: Vec<&Answer> = answers.collect();
    all.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let slowest: Vec<Value> = all
        .iter()
        .take(5)
        .map(|a| {
            let r = |x: f64| (x * 10.0).round() / 10.0;
            serde_json::json!([r(a.ms), r(a.at), a.cmd, a.ok, a.greet_ms.map(r)])
        })
        .collect();
    let v: Vec<f64> = all.iter().rev().map(|a| a.ms).collect();
    let q = |p: f64| -> Option<f64> {
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied()
    };
    serde_json::json!({
        "probes": v.len(),
        "failed": all.iter().filter(|a| !a.ok).count(),
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": v.last().copied(),
        "slowest": slowest,
    })
}

/// One command on a fresh connection, read to the last line of the reply (`NNNN `); returns
/// when the greeting (`0001`, written on accept, before any daemon call) had arrived.
pub(crate) fn ctl_ask(sock: &Path, cmd: &str) -> R<Option<Instant>> {
    let s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = s.try_clone()?;
    w.write_all(format!("{cmd}\n").as_bytes())?;
    let mut r = BufReader::new(s);
    let mut greeting = None;
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return err("closed");
        }
        let b = l.as_bytes();
        let code = b.get(..4).is_some_and(|c| c.iter().all(u8::is_ascii_digit));
        if code && b.get(4) == Some(&b' ') {
            if greeting.is_none() && l.starts_with("0001") {
                greeting = Some(Instant::now());
                continue;
            }
            return Ok(greeting);
        }
    }
}

/// (daemon pid, zebra pid). A bgpd the harness spawned is the process it started, whatever
/// its binary is called (`BGPD_BIN=/tmp/bgpd-new`): `ip netns exec` replaces itself with the
/// daemon, so the spawned child is the daemon once its executable is the binary (checked
/// among the namespace's processes by [`pick_by_exe`]; `$CONVERGE_DUT_EXE` names that
/// executable when `BGPD_BIN` is a wrapper that execs it, e.g. under heaptrack's preload
/// library). The daemons the lab crate starts
/// (BIRD, GoBGP, FRR's bgpd and zebra: fixed system binaries, their pids kept inside the lab)
/// are found by name.
pub(crate) fn dut_pids(ns: &str, dut: &Dut, d: Daemon) -> (Option<i32>, Option<i32>) {
    if let Dut::Bgpd {
        process, binary, ..
    } = dut
    {
        let procs: Vec<(i32, Option<PathBuf>)> = netns_pids(ns)
            .into_iter()
            .map(|pid| (pid, std::fs::read_link(format!("/proc/{pid}/exe")).ok()))
            .collect();
        let binary = match std::env::var_os("CONVERGE_DUT_EXE") {
            Some(e) => PathBuf::from(e),
            None => binary.canonicalize().unwrap_or_else(|_| binary.clone()),
        };
        let spawned = i32::try_from(process.pid()).ok();
        return (pick_by_exe(spawned, &binary, &procs), None);
    }
    let want = match d {
        Daemon::Bird2 | Daemon::Bird16 => "bird",
        Daemon::Frr | Daemon::Bgpd | Daemon::BgpdAll | Daemon::BgpdCalico | Daemon::BgpdBefore => {
            "bgpd"
        }
        Daemon::Gobgp => "gobgpd",
    };
    let mut main = None;
    let mut zebra = None;
    for pid in netns_pids(ns) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        match comm.trim() {
            c if c == want && main.is_none() => main = Some(pid),
            "zebra" => zebra = Some(pid),
            _ => {}
        }
    }
    (main, zebra)
}

/// The process among `procs` (pid, `/proc/PID/exe`) that runs `binary` (canonical): the
/// spawned child if it does, else the first that does (a wrapper that forks); `None` when
/// none does. An executable replaced on disk since it started (a rebuild) reads back with
/// ` (deleted)` appended and still counts.
pub(crate) fn pick_by_exe(
    spawned: Option<i32>,
    binary: &Path,
    procs: &[(i32, Option<PathBuf>)],
) -> Option<i32> {
    let runs = |exe: &Option<PathBuf>| {
        exe.as_deref().is_some_and(|e| {
            e == binary
                || e.to_str()
                    .and_then(|e| e.strip_suffix(" (deleted)"))
                    .is_some_and(|e| Path::new(e) == binary)
        })
    };
    procs
        .iter()
        .find(|(pid, exe)| Some(*pid) == spawned && runs(exe))
        .or_else(|| procs.iter().find(|(_, exe)| runs(exe)))
        .map(|(pid, _)| *pid)
}

/// The interval between two asks: [`POLL`], or `$CONVERGE_POLL_MS` (a finer look at
/// small shapes' latency; every ask costs the daemon and the machine).
pub(crate) fn poll_interval() -> Duration {
    static P: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *P.get_or_init(|| {
        std::env::var("CONVERGE_POLL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(POLL, Duration::from_millis)
    })
}

/// Polls `f` every [`poll_interval`] until `done(value)`; returns the time (mono ns, taken after the
/// answer) and the mean cost of one ask in seconds.
pub(crate) fn poll_until(
    deadline: Instant,
    stop: &AtomicBool,
    mut f: impl FnMut() -> R<u64>,
    done: impl Fn(u64) -> bool,
) -> (Option<u128>, f64, u64) {
    let mut cost = 0.0;
    let mut asks = 0u64;
    let mut last = 0;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let t0 = mono_ns();
        let r = f();
        let t1 = mono_ns();
        cost += secs(t0, t1);
        asks += 1;
        if let Ok(n) = r {
            last = n;
            if done(n) {
                return (Some(t1), cost / asks as f64, n);
            }
        }
        std::thread::sleep(pause(
            poll_interval(),
            Duration::from_nanos((t1 - t0) as u64),
        ));
    }
    (None, cost / asks.max(1) as f64, last)
}

/// Asks may take at most this share of one core: the pause after an ask is at least
/// `ASK_SHARE_INVERSE - 1` times the ask, up to [`PAUSE_MAX`].
const ASK_SHARE_INVERSE: u32 = 5;
/// The longest pause the share rule asks for (the detection's granularity stays bounded: a
/// 1M-route trie walk is followed by ~0.3-0.4 s). An ask longer than this (a full dump when
/// a count stopped moving) is still followed by a pause as long as itself.
const PAUSE_MAX: Duration = Duration::from_millis(400);

/// The pause after an ask that took `ask`: the interval, or longer when the ask was
/// expensive, so that asking takes at most a fifth of one core (up to [`PAUSE_MAX`]). An ask is not free for the
/// daemon measured: the kernel counter's `fib_triestat` read walks the whole trie inside one
/// RCU read-side section (~50-90 ms at 1M routes), and the kernel's trie waits for the end of
/// such sections when it frees nodes (`synchronize_rcu_expedited`) during the daemon's
/// inserts. With a pause only as long as the ask (asking half the time), bgpd's 1x1M install
/// took 4.1-5.8 s; asking every 0.4 s, 3.6-4.0 s, while BIRD 2's barely moved (session 15,
/// benches/report/notes.md). Cheap asks (a control-socket count, a small table) keep the
/// interval.
pub(crate) fn pause(interval: Duration, ask: Duration) -> Duration {
    interval
        .max(ask)
        .max((ask * (ASK_SHARE_INVERSE - 1)).min(PAUSE_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs(v: &[(i32, &str)]) -> Vec<(i32, Option<PathBuf>)> {
        v.iter()
            .map(|(pid, exe)| (*pid, (!exe.is_empty()).then(|| PathBuf::from(exe))))
            .collect()
    }

    #[test]
    fn an_expensive_ask_is_followed_by_a_pause_four_times_as_long_up_to_a_bound() {
        let ms = Duration::from_millis;
        // Cheap asks keep the interval.
        assert_eq!(pause(ms(100), ms(13)), ms(100));
        assert_eq!(pause(ms(100), ms(25)), ms(100));
        // A 1M-route trie walk: asking takes at most a fifth of the time.
        assert_eq!(pause(ms(100), ms(80)), ms(320));
        let (ask, p) = (ms(90), pause(ms(100), ms(90)));
        assert!(ask.as_secs_f64() / (ask + p).as_secs_f64() <= 0.2 + 1e-9);
        // Bounded, and never shorter than the ask itself (a full dump).
        assert_eq!(pause(ms(100), ms(150)), PAUSE_MAX);
        assert_eq!(pause(ms(100), ms(600)), ms(600));
        // A longer interval asked for ($CONVERGE_POLL_MS) stands.
        assert_eq!(pause(ms(1000), ms(80)), ms(1000));
    }

    #[test]
    fn the_daemon_is_the_process_running_the_binary_it_spawned_whatever_its_name() {
        let bin = Path::new("/tmp/bgpd-copy");
        // The spawned child runs the binary (`ip netns exec` exec'd it): that one, even with
        // an earlier process of the same binary (another daemon in the namespace) listed.
        let p = procs(&[
            (10, "/usr/sbin/bird"),
            (11, "/tmp/bgpd-copy"),
            (12, "/tmp/bgpd-copy"),
        ]);
        assert_eq!(pick_by_exe(Some(12), bin, &p), Some(12));
        // A child that is not the binary (a wrapper that forked): the process that is.
        let p = procs(&[(20, "/usr/bin/sh"), (21, "/tmp/bgpd-copy")]);
        assert_eq!(pick_by_exe(Some(20), bin, &p), Some(21));
        // A binary rebuilt on disk since it started, and unreadable exes (other users').
        let p = procs(&[(30, ""), (31, "/tmp/bgpd-copy (deleted)")]);
        assert_eq!(pick_by_exe(Some(31), bin, &p), Some(31));
        // Named bgpd is not enough (FRR's bgpd, another build): none runs this binary.
        let p = procs(&[(40, "/usr/lib/frr/bgpd"), (41, "/work/target/release/bgpd")]);
        assert_eq!(pick_by_exe(Some(99), bin, &p), None);
        assert_eq!(pick_by_exe(None, bin, &[]), None);
    }
}

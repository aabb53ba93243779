//! Aggregation and the report (`benches/REPORT.md`, `benches/report/convergence.svg`).

use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use bgpd_lab::cmd;
use serde_json::{json, Value};

use super::{Daemon, Kind, R};

pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

pub(crate) fn med(rows: &[&Value], key: &str) -> Option<f64> {
    median(
        rows.iter()
            .filter_map(|r| r.get(key).and_then(Value::as_f64))
            .collect(),
    )
}

/// Where the raw JSON goes (`REPORT.md` beside it, one level up): `$CONVERGE_REPORT_DIR`, else
/// `benches/report` of the tree the binary was built from.
pub(crate) fn report_dir() -> PathBuf {
    match std::env::var_os("CONVERGE_REPORT_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("report"),
    }
}

pub(crate) const SHAPES: [&str; 7] = [
    "full", "peers10", "peers100", "rr", "idle", "sender", "flap",
];

pub(crate) fn shape_kind(shape: &str, quick: bool) -> Option<Kind> {
    Some(match (shape, quick) {
        ("full", false) => Kind::Ebgp {
            sessions: 1,
            routes: 1_000_000,
        },
        ("full", true) => Kind::Ebgp {
            sessions: 1,
            routes: 100_000,
        },
        ("peers10", false) => Kind::Ebgp {
            sessions: 10,
            routes: 100_000,
        },
        ("peers10", true) => Kind::Ebgp {
            sessions: 10,
            routes: 10_000,
        },
        ("peers100", _) => Kind::Ebgp {
            sessions: 100,
            routes: 1_000,
        },
        // `CONVERGE_RR_CLIENTS`: another count (issue 16 set its targets against BIRD 2 at 500).
        ("rr", false) => Kind::Rr {
            clients: std::env::var("CONVERGE_RR_CLIENTS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(1000),
        },
        ("rr", true) => Kind::Rr { clients: 100 },
        ("flap", false) => Kind::Flap {
            clients: 1000,
            rounds: 10,
        },
        ("flap", true) => Kind::Flap {
            clients: 100,
            rounds: 3,
        },
        ("idle", false) => Kind::Idle {
            peers: 100,
            window: 60,
        },
        ("idle", true) => Kind::Idle {
            peers: 100,
            window: 10,
        },
        _ => return None,
    })
}

pub(crate) fn fmt_s(v: Option<f64>) -> String {
    v.map(|x| {
        if x < 0.1 {
            format!("{:.1} ms", x * 1000.0)
        } else {
            format!("{x:.2} s")
        }
    })
    .unwrap_or_else(|| "—".into())
}
pub(crate) fn fmt_mb(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} MB"))
        .unwrap_or_else(|| "—".into())
}
pub(crate) fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// Per-daemon medians of one shape file's rows.
pub(crate) fn by_daemon(rows: &[Value]) -> Vec<(String, Vec<&Value>)> {
    let mut out: Vec<(String, Vec<&Value>)> = Vec::new();
    for r in rows {
        let d = r["daemon"].as_str().unwrap_or("?").to_string();
        match out.iter_mut().find(|(k, _)| *k == d) {
            Some((_, v)) => v.push(r),
            None => out.push((d, vec![r])),
        }
    }
    out
}

pub(crate) fn label_of(d: &str) -> &'static str {
    Daemon::parse(d).map(Daemon::label).unwrap_or("?")
}

pub(crate) fn shape_table(shape: &str, file: &Value) -> String {
    let rows: Vec<Value> = file["rows"].as_array().cloned().unwrap_or_default();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Run {} (UTC), {} repetition(s), 1-minute load average {} over the runs (start and end of each).  \nCommand: `{}`\n",
        file["date"].as_str().unwrap_or("?"),
        file["reps"],
        {
            let l: Vec<f64> = rows
                .iter()
                .flat_map(|r| [&r["load_start"], &r["load_end"]])
                .filter_map(|v| v.as_str()?.split_whitespace().next()?.parse().ok())
                .collect();
            match (
                l.iter().copied().reduce(f64::min),
                l.iter().copied().reduce(f64::max),
            ) {
                (Some(a), Some(b)) => format!("{a:.2}–{b:.2}"),
                _ => "not recorded".into(),
            }
        },
        file["command"].as_str().unwrap_or("?")
    );
    if shape == "sender" {
        let refs: Vec<&Value> = rows.iter().collect();
        let (a, b) = (med(&refs, "inject_s"), med(&refs, "bird2_s"));
        let _ = writeln!(t, "| sender → sink (same sink, one session, {} routes) | time to End-of-RIB (median) | rate |", rows.first().map(|r| r["routes"].to_string()).unwrap_or_default());
        let _ = writeln!(t, "|---|---|---|");
        let n = rows
            .first()
            .and_then(|r| r["routes"].as_f64())
            .unwrap_or(0.0);
        for (name, v) in [
            ("inject (bgp-core encoder, pre-encoded)", a),
            ("BIRD 2.0.12 (static routes, export all)", b),
        ] {
            let rate = v
                .map(|s| format!("{:.0}k routes/s", n / s / 1000.0))
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(t, "| {name} | {} | {rate} |", fmt_s(v));
        }
        return t;
    }
    let groups = by_daemon(&rows);
    let base = groups
        .iter()
        .find(|(d, _)| d == "bird2")
        .map(|(_, v)| v.clone());
    let bm = |k: &str| base.as_ref().and_then(|b| med(b, k));
    match shape {
        "rr" => {
            let _ = writeln!(t, "| daemon | all sessions up | ratio | every client has every block | ratio | peak RSS | ratio | CPU s |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let up = med(v, "up_all_s");
                let timed_out = v.iter().any(|r| r["up_all_s"].is_null());
                let up_s = if timed_out && up.is_none() {
                    "> 180 s (not all up)".to_string()
                } else {
                    fmt_s(up)
                };
                let fo = med(v, "fanout_s");
                let rss = med(v, "peak_rss_mb");
                let _ = writeln!(
                    t,
                    "| {} | {up_s} | {} | {} | {} | {} | {} | {} |",
                    label_of(d),
                    ratio(up, bm("up_all_s")),
                    fmt_s(fo),
                    ratio(fo, bm("fanout_s")),
                    fmt_mb(rss),
                    ratio(rss, bm("peak_rss_mb")),
                    med(v, "cpu_s")
                        .map(|c| format!("{c:.2}"))
                        .unwrap_or_else(|| "—".into())
                );
            }
            if let Some(n) = rr_method(file) {
                let _ = writeln!(t, "\n{n}");
            }
            for r in &rows {
                if let Some(n) = r.get("fanout_note").and_then(Value::as_str) {
                    let _ = writeln!(
                        t,
                        "\n{} rep {}: {n}",
                        label_of(r["daemon"].as_str().unwrap_or("")),
                        r["rep"]
                    );
                }
            }
        }
        "flap" => {
            let _ = writeln!(t, "| daemon | all up, then fan-out | flap rounds | round: all up again / RIB full again (median) | control socket during the flaps: probes, p50 / p99 / max | peak RSS | CPU s |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|");
            let each = |v: &[&Value], k: &str| -> Vec<f64> {
                v.iter()
                    .filter_map(|r| r[k].as_array())
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect()
            };
            let ms = |x: Option<f64>| x.map_or("—".into(), |m| format!("{m:.1} ms"));
            for (d, v) in &groups {
                let ctl: Vec<Value> = v.iter().map(|r| r["flap_ctl"].clone()).collect();
                let ctl: Vec<&Value> = ctl.iter().collect();
                let _ = writeln!(
                    t,
                    "| {} | {} / {} | {} | {} / {} | {:.0}, {} / {} / {} | {} | {} |",
                    label_of(d),
                    fmt_s(med(v, "up_all_s")),
                    fmt_s(med(v, "fanout_s")),
                    v.iter()
                        .map(|r| r["flap_rounds"].to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    fmt_s(median(each(v, "flap_up_s"))),
                    fmt_s(median(each(v, "flap_rib_s"))),
                    med(&ctl, "probes").unwrap_or(f64::NAN),
                    ms(med(&ctl, "p50_ms")),
                    ms(med(&ctl, "p99_ms")),
                    ms(med(&ctl, "max_ms")),
                    fmt_mb(med(v, "peak_rss_mb")),
                    med(v, "cpu_s").map_or("—".into(), |c| format!("{c:.2}")),
                );
            }
            if let Some(n) = rr_method(file) {
                let _ = writeln!(t, "\n{n}");
            }
            for r in &rows {
                for k in ["fanout_note", "flap_note"] {
                    if let Some(n) = r.get(k).and_then(Value::as_str) {
                        let _ = writeln!(
                            t,
                            "\n{} rep {}: {n}",
                            label_of(r["daemon"].as_str().unwrap_or("")),
                            r["rep"]
                        );
                    }
                }
            }
        }
        "idle" => {
            let _ = writeln!(t, "| daemon | RSS (idle) | of it anonymous / mapped files | peak RSS | CPU s per minute (idle) | zebra RSS / CPU s per min | RIB / FIB complete |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let z = match (med(v, "zebra_rss_mb"), med(v, "zebra_idle_cpu_per_min")) {
                    (Some(r), Some(c)) => format!("{r:.1} MB / {c:.3}"),
                    _ => "—".into(),
                };
                let split = match (med(v, "rss_anon_mb"), med(v, "rss_file_mb")) {
                    (Some(a), Some(f)) => format!("{} / {}", fmt_mb(Some(a)), fmt_mb(Some(f))),
                    _ => "—".into(),
                };
                let _ = writeln!(
                    t,
                    "| {} | {} | {split} | {} | {:.3} | {z} | {} / {} |",
                    label_of(d),
                    fmt_mb(med(v, "rss_mb")),
                    fmt_mb(med(v, "peak_rss_mb")),
                    med(v, "idle_cpu_per_min").unwrap_or(f64::NAN),
                    fmt_s(med(v, "rib_s")),
                    fmt_s(med(v, "fib_s")),
                );
            }
        }
        _ => {
            let _ = writeln!(t, "| daemon | RIB complete | ratio | FIB complete | ratio | peak RSS | ratio | CPU s | withdraw: RIB / FIB empty | ratio (withdraw) |");
            let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|---|");
            for (d, v) in &groups {
                let (rib, fib, rss) = (med(v, "rib_s"), med(v, "fib_s"), med(v, "peak_rss_mb"));
                let (wr, wf) = (med(v, "wd_rib_s"), med(v, "wd_fib_s"));
                let mut cpu = format!("{:.2}", med(v, "cpu_s").unwrap_or(f64::NAN));
                let mut rss_s = fmt_mb(rss);
                if let (Some(zr), Some(zc)) = (med(v, "zebra_peak_rss_mb"), med(v, "zebra_cpu_s")) {
                    cpu.push_str(&format!(" (+ zebra {zc:.2})"));
                    rss_s.push_str(&format!(" (+ zebra {zr:.0} MB)"));
                }
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | {} | {} | {rss_s} | {} | {cpu} | {} / {} | {} |",
                    label_of(d),
                    fmt_s(rib),
                    ratio(rib, bm("rib_s")),
                    fmt_s(fib),
                    ratio(fib, bm("fib_s")),
                    ratio(rss, bm("peak_rss_mb")),
                    fmt_s(wr),
                    fmt_s(wf),
                    match wf {
                        Some(_) => ratio(wf, bm("wd_fib_s")),
                        None => ratio(wr, bm("wd_rib_s")) + " (RIB)",
                    },
                );
            }
            let incomplete: Vec<String> = rows
                .iter()
                .filter(|r| r["rib_s"].is_null() && r["rib_supported"] != json!(false))
                .map(|r| {
                    format!(
                        "{} rep {} (RIB stopped at {})",
                        label_of(r["daemon"].as_str().unwrap_or("")),
                        r["rep"],
                        r["rib_last"]
                    )
                })
                .collect();
            if !incomplete.is_empty() {
                let _ = writeln!(
                    t,
                    "\nIncomplete within the time budget: {}.",
                    incomplete.join(", ")
                );
            }
        }
    }
    t
}

/// One metric's bars: (daemon, value).
pub(crate) type Bars = Vec<(String, f64)>;

/// Horizontal bars grouped by metric (1×1M RIB, FIB, withdraw, peak RSS; RR fan-out and RSS;
/// idle RSS), each metric on its own scale, one bar per daemon. SVG written by hand: no font
/// or plotting dependency.
pub(crate) fn svg(files: &[(String, Value)]) -> String {
    let metrics: [(&str, &str, &str, &str); 8] = [
        ("full", "rib_s", "1×1M: RIB complete (s)", "#4477aa"),
        ("full", "fib_s", "1×1M: kernel FIB complete (s)", "#66ccee"),
        (
            "full",
            "wd_fib_s",
            "1×1M: withdraw, FIB empty (s)",
            "#aa3377",
        ),
        ("full", "peak_rss_mb", "1×1M: peak RSS (MB)", "#ccbb44"),
        (
            "rr",
            "fanout_s",
            "RR 1,000 clients: every client has every block (s)",
            "#228833",
        ),
        (
            "rr",
            "peak_rss_mb",
            "RR 1,000 clients: peak RSS (MB)",
            "#ccbb44",
        ),
        ("idle", "rss_mb", "Idle, 100 peers: RSS (MB)", "#ccbb44"),
        (
            "idle",
            "idle_cpu_per_min",
            "Idle, 100 peers: CPU s per minute",
            "#ee6677",
        ),
    ];
    let mut groups: Vec<(&str, &str, Bars)> = Vec::new();
    for (shape, key, title, colour) in metrics {
        let mut bars = Bars::new();
        for (s, f) in files {
            if s != shape {
                continue;
            }
            let rows: Vec<Value> = f["rows"].as_array().cloned().unwrap_or_default();
            for (d, v) in by_daemon(&rows) {
                if let Some(x) = med(&v, key) {
                    if !bars.iter().any(|(k, _)| *k == d) {
                        bars.push((d, x));
                    }
                }
            }
        }
        if !bars.is_empty() {
            groups.push((title, colour, bars));
        }
    }
    let row_h = 16.0;
    let (width, left) = (760.0, 230.0);
    let n: usize = groups.iter().map(|(_, _, b)| b.len() + 2).sum();
    let height = 40.0 + n as f64 * row_h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"14\">Medians per daemon (benches/REPORT.md); each metric on its own scale; shorter is better</text>\n"
    );
    let mut y = 30.0;
    for (title, colour, bars) in &groups {
        let max = bars.iter().map(|b| b.1).fold(f64::MIN_POSITIVE, f64::max);
        let scale = (width - left - 70.0) / max;
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.0}\" font-weight=\"bold\">{title}</text>",
            y + 16.0
        );
        y += row_h * 1.3;
        for (d, v) in bars {
            let _ = writeln!(
                s,
                "<text x=\"20\" y=\"{:.0}\">{}</text><rect x=\"{left}\" y=\"{:.0}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
                y + 12.0,
                label_of(d),
                y + 2.0,
                (v * scale).max(1.0),
                row_h - 4.0,
                left + (v * scale).max(1.0) + 4.0,
                y + 12.0,
                if *v >= 10.0 { format!("{v:.0}") } else { format!("{v:.2}") }
            );
            y += row_h;
        }
        y += row_h * 0.7;
    }
    s.push_str("</svg>\n");
    s.replace(
        &format!("height=\"{height}\""),
        &format!("height=\"{:.0}\"", y + 10.0),
    )
}

pub(crate) fn machine() -> String {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    format!(
        "{nproc} CPUs ({cpu}), {}, kernel {}",
        mem.split_whitespace().skip(1).collect::<Vec<_>>().join(" "),
        kernel.trim()
    )
}

pub(crate) fn write_report() -> R<()> {
    let dir = report_dir();
    let mut files = Vec::new();
    // `<shape>.json`, then `<shape>-<tag>.json` (runs with `--tag`), in shape order.
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for s in SHAPES {
        for n in names
            .iter()
            .filter(|n| n.trim_end_matches(".json") == s)
            .chain(&names)
        {
            let stem = n.trim_end_matches(".json");
            if stem != s && stem.strip_prefix(s).is_some_and(|r| r.starts_with('-'))
                || stem == s && !files.iter().any(|(k, _): &(String, Value)| k == s)
            {
                let t = std::fs::read_to_string(dir.join(n))?;
                files.push((s.to_string(), serde_json::from_str::<Value>(&t)?));
            }
        }
    }
    std::fs::write(dir.join("convergence.svg"), svg(&files))?;
    let titles = |s: &str| match s {
        "full" => "1 peer × 1M IPv4 /24 (eBGP)",
        "peers10" => "10 peers × 100k /24 (eBGP)",
        "peers100" => "100 peers × 1k /24 (eBGP)",
        "rr" => "Route-reflector fan-out (iBGP clients, one /26 each)",
        "idle" => "Idle Calico-like node: 100 iBGP mesh peers, 100 routes",
        "flap" => "Route reflector: 1,000 clients up, then all dropped and reconnected, 10 rounds",
        _ => "The injector as a sender, against BIRD 2",
    };
    let mut r = String::new();
    let _ = writeln!(r, "<!-- generated by `converge` from benches/report/*.json and benches/report/notes.md; do not edit by hand -->\n# Convergence report\n\nGenerated {} UTC. Machine: {}.  \nTables: medians over the repetitions of each run; ratios against BIRD 2 from the same run; each time is an upper bound that includes the cost of asking (poll every 100 ms, since session 15 with a pause four times as long as an expensive ask, at most 0.4 s; the mean cost of one ask is in the JSON files). RIB counts come from each daemon's CLI, FIB counts from the kernel's `fib_triestat` in the daemon's namespace, confirmed by a netlink dump (protocol 12 for BIRD/bgpd, 186 for FRR's zebra); t=0 is the moment the injector starts writing, after every session is up; withdraw t=0 is when the injector closes its sessions.\n\n![convergence](report/convergence.svg)\n", utc_now(), machine());
    for (s, f) in &files {
        let tag = match (f["title_suffix"].as_str(), f["daemons_partial"].as_bool()) {
            (Some(t), _) => t,
            (None, Some(true)) => " (a separate run)",
            _ => "",
        };
        let _ = writeln!(r, "## {}{tag}\n\n{}", titles(s), shape_table(s, f));
    }
    if let Ok(n) = std::fs::read_to_string(dir.join("notes.md")) {
        r.push_str(&n);
    }
    // The BFD figures (`bfd_figures`) keep their section.
    if let Ok(t) = std::fs::read_to_string(dir.join("bfd.json")) {
        let bfd = bgpd_benches::bfd_report::render(&serde_json::from_str(&t)?);
        r = bgpd_benches::bfd_report::splice(&r, &bfd);
    }
    // And the churn tables (`churn`, issue 19).
    r = bgpd_benches::report_section::with_churn(&r, &dir);
    std::fs::write(dir.join("..").join("REPORT.md"), r)?;
    Ok(())
}

/// The RR shape's method line, from what its file records (files from before session 13 record
/// nothing: their clients connected all at once, unpaced, and BIRD 2 took them by range).
fn rr_method(file: &Value) -> Option<String> {
    let window = file["inject_connect_window"].as_u64()?;
    let bird2 = match file["bird2_rr"].as_str() {
        Some("protocols") => "one protocol per client",
        _ => "`neighbor range`",
    };
    let how = if window == 0 {
        "Clients connect all at once, unpaced (`CONVERGE_CONNECT_WINDOW=0`: a daemon with a short listen backlog, BIRD's 8, puts the rest into TCP's SYN back-off)".to_string()
    } else {
        format!("Clients connect paced, at most {window} connection attempts in flight (`inject --connect-window`; BIRD listens with a backlog of 8)")
    };
    Some(format!(
        "{how}; BIRD 2 takes them by {bird2}, BIRD 1.6 by one protocol per client."
    ))
}

pub(crate) fn utc_now() -> String {
    cmd::run(None, "date", &["-u", "+%Y-%m-%d %H:%M"])
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rr_table_says_how_clients_connected_when_the_file_records_it() {
        let row = json!({"daemon": "bird2", "rep": 1, "up_all_s": 0.12, "fanout_s": 1.5, "peak_rss_mb": 15.6, "cpu_s": 0.8});
        let mut f = json!({"shape": "rr", "date": "d", "reps": 1, "command": "c", "rows": [row]});
        // A file from before pacing: no method line.
        assert!(!shape_table("rr", &f).contains("Clients connect paced"));
        f["inject_connect_window"] = json!(8);
        f["bird2_rr"] = json!("protocols");
        let t = shape_table("rr", &f);
        assert!(t.contains("at most 8 connection attempts in flight"), "{t}");
        assert!(
            t.contains("BIRD 2 takes them by one protocol per client"),
            "{t}"
        );
        f["bird2_rr"] = json!("range");
        let t = shape_table("flap", &f);
        assert!(t.contains("BIRD 2 takes them by `neighbor range`"), "{t}");
        f["inject_connect_window"] = json!(0);
        let t = shape_table("rr", &f);
        assert!(t.contains("Clients connect all at once, unpaced"), "{t}");
    }
}

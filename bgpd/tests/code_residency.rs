//! The idle footprint's code release (`bgpd/src/residency.rs`, docs/memory.md) against live
//! daemons in network namespaces (root): a and b peer over a shared subnet, run the same
//! binary, and b runs with the opt-out (`BGPD_RELEASE_CODE=0`).
//! * a's own text is mapped far less than b's once both are up (/proc/PID/smaps): the
//!   start-up code a ran is no longer mapped, b keeps it;
//! * a reload through the control socket (`bgpd reload`, BIRD's `configure`) releases again
//!   (a's log) and a's text stays below b's, which ran the same reload;
//! * a keeps working after each release: sessions Established, `show protocols` answers, the
//!   reload's new static route reaches b.

mod common;

use std::time::Duration;

use bgpd::residency::parse_smaps;
use bgpd_lab::{wait_observing, Lab, NodeNet, Observed, Process};
use common::{cli, routes, socket, spawn_and_wait, start, wait_all_established, wait_routes};

fn config(n: &NodeNet, asn: u32, peer: &NodeNet, statics: &str) -> String {
    format!(
        r#"
router_id = "{ip}"
asn = {asn}
[listen]
addresses = ["{ip}"]
[kernel]
enabled = false
[log]
level = "info,bgpd::residency=debug"
{statics}
[[peers]]
name = "peer"
address = "{pip}"
asn = {asn}
families = ["ipv4"]
hold_time = 9
"#,
        ip = n.ip4(),
        pip = peer.ip4(),
    )
}

/// Resident kB of the daemon's own executable mapping (its text).
fn text_rss_kb(p: &Process) -> u64 {
    let pid = p.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    parse_smaps(&smaps)
        .iter()
        .filter(|m| m.perms == "r-xp" && std::path::Path::new(&m.path) == exe)
        .map(|m| m.rss_kb)
        .sum()
}

/// Crates whose code runs only to parse the command line and the configuration (start-up and
/// reloads), never while the daemon is idle.
const STARTUP_ONLY: [&str; 4] = ["clap_builder::", "clap_lex::", "toml::", "toml_parser::"];

/// The address ranges (link-time, bytes) of the binary's functions of [`STARTUP_ONLY`] crates.
fn startup_only_code() -> Vec<(u64, u64)> {
    let out = std::process::Command::new("nm")
        .args(["-C", "-S", "--defined-only", env!("CARGO_BIN_EXE_bgpd")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let ranges: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (a, s, t, name) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let name = name.trim_start_matches(['<', '&']);
            (matches!(t, "t" | "T") && STARTUP_ONLY.iter().any(|c| name.starts_with(c)))
                .then(|| {
                    Some((
                        u64::from_str_radix(a, 16).ok()?,
                        u64::from_str_radix(s, 16).ok()?,
                    ))
                })
                .flatten()
        })
        .collect();
    assert!(
        ranges.len() > 100,
        "nm found {} start-up-only functions",
        ranges.len()
    );
    ranges
}

/// Resident kB of the 4 KiB pages holding start-up-only code (`/proc/PID/pagemap`): the
/// executable is position-independent, its first mapping (file offset 0) is its load address.
fn startup_code_resident_kb(p: &Process, code: &[(u64, u64)]) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let pid = p.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let base = maps
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6 && f[2] == "00000000" && std::path::Path::new(f[5]) == exe)
                .then(|| u64::from_str_radix(f[0].split('-').next().unwrap(), 16).unwrap())
        })
        .unwrap();
    let mut pages: Vec<u64> = code
        .iter()
        .flat_map(|&(a, s)| (a / 4096)..=((a + s.max(1) - 1) / 4096))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).unwrap();
    let mut present = 0;
    for page in pages {
        let mut e = [0u8; 8];
        pagemap
            .seek(SeekFrom::Start((base / 4096 + page) * 8))
            .unwrap();
        pagemap.read_exact(&mut e).unwrap();
        if u64::from_le_bytes(e) >> 63 == 1 {
            present += 4;
        }
    }
    present
}

/// The lines of the daemon's log that report a release.
fn releases(p: &Process) -> Vec<String> {
    std::fs::read_to_string(p.log())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("released code pages"))
        .map(str::to_string)
        .collect()
}

/// Waits until a maps less of its text than b, and at most half as much of the
/// start-up-only code as b (which mapped at least 64 kB of it).
fn wait_startup_code_released(a: &Process, b: &Process, code: &[(u64, u64)], what: &str) {
    wait_observing(
        Duration::from_secs(20),
        Duration::from_millis(200),
        what,
        || {
            let (ta, tb) = (text_rss_kb(a), text_rss_kb(b));
            let (sa, sb) = (
                startup_code_resident_kb(a, code),
                startup_code_resident_kb(b, code),
            );
            Ok(Observed::when(
                ta < tb && sb >= 64 && sa * 2 <= sb,
                format!(
                    "text resident: a {ta} kB, b (opt-out) {tb} kB; of it start-up-only code: \
                     a {sa} kB, b {sb} kB"
                ),
            ))
        },
    )
    .unwrap();
}

#[test]
fn idle_daemon_releases_its_code_pages_and_keeps_working() {
    let mut lab = Lab::new("bgpd_code_residency").unwrap();
    let lan = lab.lan().unwrap();
    let a = lab.node("a", &[(&lan, 11)], None).unwrap();
    let b = lab.node("b", &[(&lan, 12)], None).unwrap();
    let pa = start(&a, &config(&a, 65001, &b, ""), 0);
    let cfg_b = b.path("bgpd.toml");
    std::fs::write(&cfg_b, config(&b, 65001, &a, "")).unwrap();
    let argv: Vec<String> = [
        "ip",
        "netns",
        "exec",
        &b.ns,
        "env",
        "BGPD_RELEASE_CODE=0",
        env!("CARGO_BIN_EXE_bgpd"),
        "-c",
        &cfg_b.display().to_string(),
        "-s",
        &socket(&b).display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let pb = spawn_and_wait(&b, &argv, &b.path("bgpd.0.log"));
    wait_all_established(&a, 1, 30);
    wait_all_established(&b, 1, 30);

    let code = startup_only_code();
    wait_startup_code_released(&pa, &pb, &code, "a released its start-up code");
    assert!(!releases(&pa).is_empty(), "a logs its release");
    assert!(releases(&pb).is_empty(), "b (opt-out) never releases");

    // A reload with a new static route, on both: a releases again, b keeps what it mapped.
    let statics = "[[static]]\nprefix = \"10.7.0.0/24\"\nblackhole = true\n";
    std::fs::write(a.path("bgpd.toml"), config(&a, 65001, &b, statics)).unwrap();
    std::fs::write(&cfg_b, config(&b, 65001, &a, statics)).unwrap();
    let before = releases(&pa).len();
    cli(&a, &["reload"]).unwrap();
    cli(&b, &["reload"]).unwrap();
    wait_observing(
        Duration::from_secs(20),
        Duration::from_millis(200),
        "a logs a release after the reload",
        || {
            let r = releases(&pa);
            Ok(Observed::when(
                r.len() > before && r.last().is_some_and(|l| l.contains("reload")),
                format!("{r:?}"),
            ))
        },
    )
    .unwrap();
    wait_startup_code_released(&pa, &pb, &code, "a released the reload's code");

    // a still works: its reload's route reaches b over the session, both still up.
    wait_routes(&b, 30, "b learns 10.7.0.0/24 from a", |r| {
        r.iter()
            .any(|x| x.prefix == "10.7.0.0/24" && x.protocol == "peer")
    });
    wait_all_established(&a, 1, 30);
    let shown = cli(&a, &["show", "protocols"]).unwrap();
    assert!(shown.contains("Established"), "{shown}");
    assert!(routes(&a)
        .unwrap()
        .iter()
        .any(|x| x.prefix == "10.7.0.0/24"));
    drop((pa, pb));
}

//! What the harnesses read about a daemon process: resident memory and CPU time from
//! `/proc/PID/{status,stat}`, and the machine's load average.

/// Fields of `/proc/PID/status` given in kB, in MB (NaN when absent).
fn status_mb<const N: usize>(pid: i32, keys: [&str; N]) -> [f64; N] {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    keys.map(|k| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    })
}

/// Peak RSS (VmHWM) and current RSS (VmRSS) in MB.
pub fn rss_mb(pid: i32) -> (f64, f64) {
    let [hwm, rss] = status_mb(pid, ["VmHWM:", "VmRSS:"]);
    (hwm, rss)
}

/// Of the current RSS, anonymous memory (RssAnon: heap, stacks) and mapped files (RssFile:
/// the binary's code and read-only data, shared libraries), in MB.
pub fn rss_split_mb(pid: i32) -> (f64, f64) {
    let [anon, file] = status_mb(pid, ["RssAnon:", "RssFile:"]);
    (anon, file)
}

/// (utime, stime) in seconds since the process started.
pub fn cpu_split(pid: i32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the comm: state is [0]; utime is field 14 overall → [11], stime [12].
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (t(11) / hz, t(12) / hz)
}

/// utime + stime in seconds.
pub fn cpu_s(pid: i32) -> f64 {
    let (u, s) = cpu_split(pid);
    u + s
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

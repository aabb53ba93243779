//! DOC: releasing the page-table entries of the daemon's read-only code mappings (issue 16,
//! idle footprint; docs/memory.md).
//!
//! At 100 idle sessions most of the daemon's resident memory is mapped code: its own text, libc
//! and libm. The kernel maps 64 KiB around every page a fault touches (fault-around), so
//! start-up and reload code (configuration parsing, the command line, the first sessions'
//! negotiation) leaves most of the binary's text mapped long after it last ran.
//! [`release_code_pages`] tells the kernel that the process's private, file-backed, read-only
//! mappings need not stay mapped (`madvise(MADV_DONTNEED)`): that removes page-table entries
//! only. The pages stay in the page cache (shared with every other process mapping the file),
//! and code that runs again is mapped back by a minor fault (no I/O), with its 64 KiB window.
//! What stays resident is what the daemon actually runs while idle.
//!
//! What qualifies ([`qualifies`]): a mapping that is private (`p`), not writable, backed by a
//! file (a path, not `[vdso]` or anonymous) and holds no anonymous (copy-on-write) page, resident
//! or swapped out. The
//! last condition keeps out RELRO regions after relocation and any page a debugger patched:
//! dropping those would lose their content. Writable and anonymous mappings are never touched.
//!
//! The binary's daemon calls it once it is ready, after each reload and then periodically
//! ([`spawn_trimmer`]); `BGPD_RELEASE_CODE=0` turns it off. An embedded daemon
//! ([`crate::Daemon::start`]) never does it: the pages are the host process's.

use std::time::Duration;

/// One line group of `/proc/self/smaps`: the mapping and what matters for [`qualifies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// `rwxp` / `r--s`... as the kernel prints them.
    pub perms: String,
    /// The backing file's path, `[vdso]`-like names, or empty for anonymous memory.
    pub path: String,
    /// `Rss:` in kB.
    pub rss_kb: u64,
    /// `Anonymous:` in kB (copy-on-write copies in a private file mapping).
    pub anonymous_kb: u64,
    /// `Swap:` in kB (copies swapped out: not counted in `Anonymous`, lost by a release).
    pub swap_kb: u64,
}

/// Parses `/proc/PID/smaps` text; header lines that do not parse start no mapping (their
/// fields are ignored), so an unexpected format releases nothing rather than the wrong range.
pub fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    let mut current = false;
    for line in text.lines() {
        if let Some(m) = parse_header(line) {
            out.push(m);
            current = true;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        // A header line we could not parse has a ':' in its device field: it must not lend
        // its fields to the mapping before it.
        if key.contains(' ') || key.contains('-') {
            current = false;
            continue;
        }
        let (Some(last), true) = (out.last_mut(), current) else {
            continue;
        };
        let kb = || value.split_whitespace().next()?.parse::<u64>().ok();
        match key {
            "Rss" => last.rss_kb = kb().unwrap_or(0),
            // Unparsable: treated as holding copies, so the mapping is left alone.
            "Anonymous" => last.anonymous_kb = kb().unwrap_or(u64::MAX),
            "Swap" => last.swap_kb = kb().unwrap_or(u64::MAX),
            _ => {}
        }
    }
    out
}

/// `start-end perms offset dev inode [path]`.
fn parse_header(line: &str) -> Option<Mapping> {
    let mut f = line.splitn(6, ' ');
    let (range, perms, offset, dev, inode) =
        (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    let (a, b) = range.split_once('-')?;
    let start = usize::from_str_radix(a, 16).ok()?;
    let end = usize::from_str_radix(b, 16).ok()?;
    if perms.len() != 4 || end <= start {
        return None;
    }
    u64::from_str_radix(offset, 16).ok()?;
    dev.split_once(':')?;
    inode.parse::<u64>().ok()?;
    Some(Mapping {
        start,
        end,
        perms: perms.to_string(),
        path: f.next().unwrap_or("").trim_start().to_string(),
        rss_kb: 0,
        // Until its `Anonymous:` / `Swap:` lines say otherwise.
        anonymous_kb: u64::MAX,
        swap_kb: u64::MAX,
    })
}

/// Whether dropping the mapping's page-table entries loses nothing: private, not writable,
/// file-backed, no copy-on-write copies (resident or swapped out). Executable or not (`.rodata` and `.eh_frame` are
/// read-only data of the same files).
pub fn qualifies(m: &Mapping) -> bool {
    let p = m.perms.as_bytes();
    p.first() == Some(&b'r')
        && p.get(1) == Some(&b'-')
        && p.get(3) == Some(&b'p')
        && m.path.starts_with('/')
        && m.anonymous_kb == 0
        && m.swap_kb == 0
}

/// What [`release_code_pages`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings released.
    pub mappings: usize,
    /// Their resident size before, in kB (what was unmapped; code in use comes back).
    pub rss_kb: u64,
    /// Mappings the kernel refused (`madvise` error; e.g. locked memory).
    pub failed: usize,
}

/// Drops the page-table entries of every mapping of this process that [`qualifies`]. See the
/// module documentation for why this is safe and what it costs.
pub fn release_code_pages() -> std::io::Result<Released> {
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut r = Released::default();
    for m in parse_smaps(&text).iter().filter(|m| qualifies(m)) {
        // SAFETY: the range is one whole mapping of this process as the kernel listed it,
        // private, read-only and without anonymous pages: MADV_DONTNEED only removes page-table
        // entries, later accesses read the same file pages again. No Rust object lives in it
        // that could observe the difference.
        let rc = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            r.mappings += 1;
            r.rss_kb += m.rss_kb;
        } else {
            r.failed += 1;
        }
    }
    Ok(r)
}

/// How often the running daemon releases code pages again: what ran once since (sessions
/// coming up after start-up, a `show route` of the whole table) leaves the resident set. Each
/// release costs the idle path's code a few dozen minor faults to come back (its functions are
/// linked together in release builds: `bgpd/hot-symbols.txt`).
pub const TRIM_PERIOD: Duration = Duration::from_secs(60);

/// Whether the binary releases code pages: yes unless `BGPD_RELEASE_CODE` is `0`, `no` or
/// `off`.
pub fn enabled() -> bool {
    enabled_by(std::env::var("BGPD_RELEASE_CODE").ok().as_deref())
}

fn enabled_by(v: Option<&str>) -> bool {
    !matches!(v.map(str::trim), Some("0" | "no" | "off" | "false"))
}

/// Releases code pages now (on a blocking thread: reading smaps walks the page tables) and
/// logs what it did.
pub async fn release_now(why: &'static str) {
    match tokio::task::spawn_blocking(release_code_pages).await {
        Ok(Ok(r)) => tracing::debug!(
            why,
            mappings = r.mappings,
            rss_kb = r.rss_kb,
            failed = r.failed,
            "released code pages"
        ),
        Ok(Err(e)) => tracing::debug!(why, "cannot release code pages: {e}"),
        Err(e) => tracing::debug!(why, "cannot release code pages: {e}"),
    }
}

static RELOADED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A reload was applied (called by the daemon's reload, whoever asked for it): the trimmer,
/// if one runs, releases code pages at once (the configuration parser just ran).
pub fn reloaded() {
    RELOADED.notify_one();
}

/// The binary's trimmer (call on its runtime): releases code pages now, every
/// [`TRIM_PERIOD`] and after each reload ([`reloaded`]). Does nothing when not [`enabled`].
pub fn spawn_trimmer() {
    if !enabled() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TRIM_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                _ = tick.tick() => "periodic",
                _ = RELOADED.notified() => "reload",
            };
            release_now(why).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:01 1234                       /usr/sbin/bgpd
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0c0100000-55d0c0500000 r-xp 00100000 fe:01 1234                       /usr/sbin/bgpd
Size:               4096 kB
Rss:                3900 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0c0500000-55d0c0540000 r--p 00500000 fe:01 1234                       /usr/sbin/bgpd
Rss:                 256 kB
Anonymous:           256 kB
Swap:                  0 kB
55d0c0540000-55d0c0550000 rw-p 00540000 fe:01 1234                       /usr/sbin/bgpd
Rss:                  64 kB
Anonymous:            12 kB
Swap:                  0 kB
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0                          [heap]
Rss:                 800 kB
Anonymous:           800 kB
Swap:                  0 kB
7f0000000000-7f0000010000 rw-p 00000000 00:00 0 
Rss:                  64 kB
Anonymous:            64 kB
Swap:                  0 kB
7f1000000000-7f1000200000 r-xp 00028000 fe:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1500 kB
Anonymous:             0 kB
Swap:                  0 kB
7f1000200000-7f1000210000 r-xp 00028000 fe:01 99                         /usr/lib/x86_64-linux-gnu/libpatched.so (deleted)
Rss:                  64 kB
Anonymous:             4 kB
Swap:                  0 kB
7f1000220000-7f1000230000 r--p 00038000 fe:01 99                         /usr/lib/x86_64-linux-gnu/librelro.so
Rss:                  16 kB
Anonymous:             0 kB
Swap:                  8 kB
7f1000300000-7f1000301000 rw-s 00000000 00:05 77                         /dev/shm/x
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
7f1000400000-7f1000401000 r--s 00000000 00:05 78                         /memfd:ring (deleted)
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
Swap:                  0 kB
7ffd00010000-7ffd00011000 r-xp 00000000 fe:01 55                         /opt/no-anon-line
Rss:                   4 kB
Swap:                  0 kB
";

    fn chosen(text: &str) -> Vec<(usize, String)> {
        parse_smaps(text)
            .into_iter()
            .filter(qualifies)
            .map(|m| (m.start, m.perms))
            .collect()
    }

    #[test]
    fn only_clean_private_read_only_file_mappings_qualify() {
        // Not: COW copies (RELRO, a patched page), swapped-out copies, writable, anonymous,
        // shared, [vdso], a mapping whose Anonymous line is missing.
        assert_eq!(
            chosen(SMAPS),
            vec![
                (0x55d0c0000000, "r--p".to_string()),
                (0x55d0c0100000, "r-xp".to_string()),
                (0x7f1000000000, "r-xp".to_string()),
            ]
        );
    }

    #[test]
    fn fields_are_read_per_mapping() {
        let m = parse_smaps(SMAPS);
        assert_eq!(m.len(), 13);
        assert_eq!(m[1].rss_kb, 3900);
        assert_eq!(m[1].end - m[1].start, 4096 * 1024);
        assert_eq!(m[2].anonymous_kb, 256);
        assert_eq!(m[5].path, "");
        assert_eq!(
            m[7].path,
            "/usr/lib/x86_64-linux-gnu/libpatched.so (deleted)"
        );
        assert_eq!((m[8].anonymous_kb, m[8].swap_kb), (0, 8));
        assert_eq!((m[12].anonymous_kb, m[12].swap_kb), (u64::MAX, 0));
    }

    #[test]
    fn garbled_headers_do_not_lend_their_fields() {
        let text = "\
00400000-00500000 r-xp 00000000 fe:01 1 /bin/x
Rss: 4 kB
Anonymous: 0 kB
Swap: 0 kB
zzzz-00600000 r-xp 00000000 fe:01 1 /bin/y
Anonymous: 8 kB
00700000-00600000 r-xp 00000000 fe:01 1 /bin/z
Anonymous: 0 kB
00800000-00900000 r-xp 00000000 fe:01 1 /bin/w
Anonymous: lots
Swap: 0 kB
";
        let m = parse_smaps(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].anonymous_kb, 0);
        assert!(qualifies(&m[0]));
        assert!(!qualifies(&m[1]));
    }

    #[test]
    fn opt_out() {
        assert!(enabled_by(None));
        assert!(enabled_by(Some("1")));
        for v in ["0", "no", "off", " false"] {
            assert!(!enabled_by(Some(v)), "{v}");
        }
    }

    fn released_rss_kb() -> u64 {
        let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
        parse_smaps(&text)
            .iter()
            .filter(|m| qualifies(m))
            .map(|m| m.rss_kb)
            .sum()
    }

    #[test]
    fn releasing_unmaps_code_and_this_process_keeps_running() {
        let r = release_code_pages().unwrap();
        assert!(r.mappings > 0, "{r:?}");
        assert_eq!(r.failed, 0, "{r:?}");
        // The code that runs again (this test, the reader, the parser) is mapped back; the
        // rest of the test binary's text is not.
        let after = released_rss_kb();
        assert!(after < r.rss_kb, "{after} kB resident after, {r:?}");
    }
}

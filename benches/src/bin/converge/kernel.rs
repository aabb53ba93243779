//! Kernel route counting from a thread inside the namespace.
//!
//! Two ways to count, and the poll uses both:
//! - **fast**: the number of IPv4 routes in all the namespace's tables, read from
//!   `/proc/thread-self/net/fib_triestat` (the kernel walks its trie in place: ~50-70 ms at
//!   1M routes, against ~0.35-0.41 s for a dump that copies every route to user space),
//!   less a baseline of routes that are not the daemon's;
//! - **exact**: a dump of table main counting the routes of the daemon's protocol.
//!
//! A poll asks fast until its condition holds, then confirms with an exact count; the time
//! reported is the fast ask's. A fast count that stops moving is checked exactly too, which
//! also re-learns the baseline. `CONVERGE_FIB_COUNT=dump` counts by dump only (the harness's
//! way before session 13: every ask a dump, which competes with the daemon for a core and
//! reports completion up to two asks late).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Instant;

use bgp_fib::socket::setsockopt;
use bgpd_benches::route_count::dump_count;

use super::probe::poll_until;
use super::R;

/// What the counter thread is asked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ask {
    Fast,
    Exact,
}

/// The sum of the `Prefixes:` lines of a `fib_triestat` (every table's routes).
fn triestat_prefixes(text: &str) -> Option<u64> {
    let mut sum = None;
    for line in text.lines() {
        if let Some(v) = line.trim().strip_prefix("Prefixes:") {
            sum = Some(sum.unwrap_or(0) + v.trim().parse::<u64>().ok()?);
        }
    }
    sum
}

fn read_triestat() -> std::io::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/fib_triestat")?;
    // A namespace with no IPv4 route at all prints no table.
    Ok(triestat_prefixes(&text).unwrap_or(0))
}

/// The counter thread's state between asks.
struct Counting {
    /// Routes in the tries that are not the daemon's (learned by an exact count).
    baseline: Option<u64>,
    /// The last fast answer.
    last: Option<u64>,
}

impl Counting {
    fn exact(&mut self, fd: i32, proto: u8, seq: u32, buf: &mut [u8]) -> std::io::Result<u64> {
        let before = read_triestat()?;
        let n = dump_count(fd, proto, seq, buf)?;
        // Learn the baseline only from a table that held still during the dump.
        if read_triestat()? == before {
            self.baseline = Some(before.saturating_sub(n));
        }
        self.last = None;
        Ok(n)
    }

    fn answer(
        &mut self,
        ask: Ask,
        fd: i32,
        proto: u8,
        seq: u32,
        buf: &mut [u8],
    ) -> std::io::Result<u64> {
        let Some(base) = self.baseline.filter(|_| ask == Ask::Fast) else {
            return self.exact(fd, proto, seq, buf);
        };
        let est = read_triestat()?.saturating_sub(base);
        if self.last == Some(est) {
            // Not moving: complete, idle, or a baseline gone stale. Ask exactly.
            return self.exact(fd, proto, seq, buf);
        }
        self.last = Some(est);
        Ok(est)
    }
}

/// A thread that entered namespace `ns` and answers "how many routes of `proto`" requests.
pub(crate) struct KernelCounter {
    chan: std::sync::Mutex<(mpsc::Sender<Ask>, mpsc::Receiver<std::io::Result<u64>>)>,
    /// Every ask a dump (`CONVERGE_FIB_COUNT=dump`).
    dump_only: bool,
}

impl KernelCounter {
    pub(crate) fn start(ns: &str, proto: u8) -> R<KernelCounter> {
        let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
        let (req_tx, req_rx) = mpsc::channel::<Ask>();
        let (resp_tx, resp_rx) = mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: setns on this thread only, with a valid namespace fd.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                let _ = resp_tx.send(Err(std::io::Error::last_os_error()));
                return;
            }
            // SAFETY: plain socket(2); the fd is owned below.
            let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE) };
            if fd < 0 {
                let _ = resp_tx.send(Err(std::io::Error::last_os_error()));
                return;
            }
            // SAFETY: fd was just returned by socket(2).
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // Room for the dump of a 1M-route table (FORCE: past rmem_max, as root).
            let size: libc::c_int = 8 << 20;
            if let Err(e) = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size) {
                let _ = resp_tx.send(Err(e));
                return;
            }
            let mut buf = vec![0u8; 1 << 20];
            let mut seq = 1;
            let mut counting = Counting {
                baseline: None,
                last: None,
            };
            while let Ok(ask) = req_rx.recv() {
                seq += 1;
                let r = counting.answer(ask, owned.as_raw_fd(), proto, seq, &mut buf);
                if resp_tx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok(KernelCounter {
            chan: std::sync::Mutex::new((req_tx, resp_rx)),
            dump_only: std::env::var("CONVERGE_FIB_COUNT").is_ok_and(|v| v == "dump"),
        })
    }

    /// The exact count of the daemon's routes (a dump).
    #[cfg(test)]
    pub(crate) fn count(&self) -> R<u64> {
        self.ask(Ask::Exact)
    }

    /// Asks until `done` holds of the count, or `deadline`: when it held (a fast ask's
    /// time, confirmed by an exact count), the mean cost of an ask, the last count.
    pub(crate) fn poll(
        &self,
        deadline: Instant,
        stop: &AtomicBool,
        done: impl Fn(u64) -> bool,
    ) -> (Option<u128>, f64, u64) {
        let ask = if self.dump_only {
            Ask::Exact
        } else {
            Ask::Fast
        };
        loop {
            let (t, cost, n) = poll_until(deadline, stop, || self.ask(ask), &done);
            let Some(t) = t else {
                return (None, cost, n);
            };
            if ask == Ask::Exact {
                return (Some(t), cost, n);
            }
            match self.ask(Ask::Exact) {
                Ok(x) if done(x) => return (Some(t), cost, x),
                // A stale baseline: the exact ask has re-learned it; go on asking.
                Ok(_) => {}
                Err(_) => return (None, cost, n),
            }
        }
    }

    fn ask(&self, ask: Ask) -> R<u64> {
        let c = self.chan.lock().map_err(|_| "kernel counter poisoned")?;
        if c.0.send(ask).is_err() {
            // The thread ended while starting: its error waits in the answers.
            return match c.1.try_recv() {
                Ok(Err(e)) => Err(format!("kernel counter: {e}").into()),
                _ => Err("kernel counter: its thread ended".into()),
            };
        }
        Ok(c.1.recv()??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A network namespace of its own, deleted on drop (root).
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    #[test]
    fn triestat_prefixes_are_summed_over_tables() {
        let two = "Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.\nMain:\n\tAver depth:     1.00\n\tLeaves:         3\n\tPrefixes:       4\nLocal:\n\tPrefixes:       7\n";
        assert_eq!(triestat_prefixes(two), Some(11));
        assert_eq!(triestat_prefixes("Basic info: nothing\n"), None);
        assert_eq!(triestat_prefixes("Main:\n\tPrefixes: many\n"), None);
    }

    #[test]
    fn the_counter_counts_a_namespaces_routes_of_a_protocol() {
        let ns = Netns(format!("converge-kc-{}", std::process::id()));
        let ip = |args: &[&str]| {
            let s = Command::new("ip").args(args).status().unwrap();
            assert!(s.success(), "ip {args:?}");
        };
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        let blackhole = |p: &str, proto: &str| {
            ip(&["-n", &ns.0, "route", "add", "blackhole", p, "proto", proto]);
        };
        let c = KernelCounter::start(&ns.0, 12).unwrap();
        assert_eq!(c.count().unwrap(), 0);
        blackhole("10.1.0.0/16", "12");
        blackhole("10.2.0.0/16", "12");
        blackhole("10.3.0.0/16", "13");
        assert_eq!(c.count().unwrap(), 2);
        // The poll: fast asks learn the other protocol's route as baseline and confirm.
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(c.poll(deadline, &stop, |n| n >= 2).2, 2);
        blackhole("10.4.0.0/16", "12");
        assert_eq!(c.poll(deadline, &stop, |n| n >= 3).2, 3);
        // A route of another protocol added behind the counter's back: the fast count says
        // 4 (a stale baseline); the exact count does not confirm it, and re-learns.
        blackhole("10.5.0.0/16", "13");
        let short = Instant::now() + std::time::Duration::from_millis(500);
        let (at, _, last) = c.poll(short, &stop, |n| n >= 4);
        assert_eq!((at, last), (None, 3));
        blackhole("10.6.0.0/16", "12");
        assert_eq!(c.poll(deadline, &stop, |n| n >= 4).2, 4);
        // A namespace that is not there: an error at start.
        assert!(KernelCounter::start("converge-kc-nonexistent", 12).is_err());
    }
}

//! Kernel route counting over netlink, from a thread inside the namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;

use bgp_fib::socket::setsockopt;
use bgpd_benches::route_count::dump_count;

use super::R;

/// A thread that entered namespace `ns` and answers "how many routes of `proto`" requests.
pub(crate) struct KernelCounter {
    chan: std::sync::Mutex<(mpsc::Sender<()>, mpsc::Receiver<std::io::Result<u64>>)>,
}

impl KernelCounter {
    pub(crate) fn start(ns: &str, proto: u8) -> R<KernelCounter> {
        let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
        let (req_tx, req_rx) = mpsc::channel::<()>();
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
            while req_rx.recv().is_ok() {
                seq += 1;
                let r = dump_count(owned.as_raw_fd(), proto, seq, &mut buf);
                if resp_tx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok(KernelCounter {
            chan: std::sync::Mutex::new((req_tx, resp_rx)),
        })
    }
    pub(crate) fn count(&self) -> R<u64> {
        let c = self.chan.lock().map_err(|_| "kernel counter poisoned")?;
        if c.0.send(()).is_err() {
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
    fn the_counter_counts_a_namespaces_routes_of_a_protocol() {
        let ns = Netns(format!("converge-kc-{}", std::process::id()));
        let ip = |args: &[&str]| {
            let s = Command::new("ip").args(args).status().unwrap();
            assert!(s.success(), "ip {args:?}");
        };
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        let c = KernelCounter::start(&ns.0, 12).unwrap();
        assert_eq!(c.count().unwrap(), 0);
        for p in ["10.1.0.0/16", "10.2.0.0/16"] {
            ip(&["-n", &ns.0, "route", "add", "blackhole", p, "proto", "12"]);
        }
        ip(&[
            "-n",
            &ns.0,
            "route",
            "add",
            "blackhole",
            "10.3.0.0/16",
            "proto",
            "13",
        ]);
        assert_eq!(c.count().unwrap(), 2);
        // A namespace that is not there: an error at start.
        assert!(KernelCounter::start("converge-kc-nonexistent", 12).is_err());
    }
}

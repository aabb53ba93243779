//! Kernel route counting over netlink, from a thread inside the namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;

use super::R;

/// Counts IPv4 routes of `proto` in table main with one netlink dump.
pub(crate) fn dump_count(fd: i32, proto: u8, seq: u32, buf: &mut [u8]) -> std::io::Result<u64> {
    // nlmsghdr (16) + rtmsg (12): RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, AF_INET.
    let mut req = [0u8; 28];
    req[0..4].copy_from_slice(&28u32.to_ne_bytes());
    req[4..6].copy_from_slice(&26u16.to_ne_bytes());
    req[6..8].copy_from_slice(&(1u16 | 0x300).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req[16] = libc::AF_INET as u8;
    // SAFETY: send(2) of a buffer we own on a socket we own.
    let r = unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut n = 0u64;
    loop {
        // SAFETY: recv(2) into a buffer we own.
        let len = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let data = buf.get(..len as usize).unwrap_or(&[]);
        for m in bgp_fib::wire::Messages::new(data) {
            let (h, p) = m.map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            if h.seq != seq {
                continue;
            }
            match h.kind {
                3 => return Ok(n), // NLMSG_DONE
                2 => return Err(std::io::Error::other("netlink dump error")),
                // RTM_NEWROUTE; rtmsg: family, dst_len, src_len, tos, table, protocol, ...
                24 if p.get(4) == Some(&254) && p.get(5) == Some(&proto) => n += 1,
                _ => {}
            }
        }
    }
}

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
            let size: libc::c_int = 8 << 20;
            // SAFETY: setsockopt with a valid int option.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
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
        c.0.send(())?;
        Ok(c.1.recv()??)
    }
}

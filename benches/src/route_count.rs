//! Counting a namespace's kernel routes of one protocol with one netlink dump: the way
//! `converge` watches a daemon's FIB, and `fib_bench --listeners` reproduces that cost.

use std::time::Duration;

/// Counts the IPv4 routes of `proto` in table main with one dump on netlink socket `fd`
/// (blocking or not: a non-blocking socket is polled), reading no more of each route than
/// its header. `seq` tells this dump's replies from any earlier one's.
pub fn dump_count(fd: i32, proto: u8, seq: u32, buf: &mut [u8]) -> std::io::Result<u64> {
    // nlmsghdr (16) + rtmsg (12): RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, AF_INET.
    let mut req = [0u8; 28];
    req[0..4].copy_from_slice(&28u32.to_ne_bytes());
    req[4..6].copy_from_slice(&26u16.to_ne_bytes());
    req[6..8].copy_from_slice(&(1u16 | 0x300).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req[16] = libc::AF_INET as u8;
    // SAFETY: send(2) of a buffer we own on a socket we own.
    if unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut n = 0u64;
    loop {
        // SAFETY: recv(2) into a buffer we own (a blocking wait: poll first).
        let len = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if len < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                bgp_fib::socket::wait_readable(&[fd], Some(Duration::from_millis(100)))?;
                continue;
            }
            return Err(e);
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

//! DOC: the thin socket layer. `FibSocket` owns two `netlink-sys` sockets: the request
//! socket (our route writes, their ACKs/errors and our dumps; no multicast groups, so
//! notifications can never crowd out an ACK) and the monitor socket (link, address and
//! route notifications). It moves bytes between them and a `Fib`; all decisions are the
//! `Fib`'s. [`crate::spawn`] runs both on the dedicated FIB thread for the daemon (its
//! sends on a writer thread beside it, through a second descriptor of the request socket).

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use netlink_sys::{constants::NETLINK_ROUTE, Socket, SocketAddr};

use crate::fib::Fib;
use crate::wire;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_CAP_ACK: libc::c_int = 10;

// Multicast groups (linux/rtnetlink.h, RTNLGRP_*).
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
/// Nexthop objects (Linux 5.3 and later: joined when the kernel has the group).
const RTNLGRP_NEXTHOP: u32 = 32;

/// Receive buffer size asked for (with `SO_RCVBUFFORCE` when root, else `SO_RCVBUF`).
pub const RCVBUF: usize = 64 << 20;
const SNDBUF: usize = 4 << 20;
const RX_BUF: usize = 1 << 20;
/// A dump fails when the kernel sends nothing for this long.
const DUMP_SILENCE: Duration = Duration::from_secs(60);

/// `setsockopt(2)` with the value `v` (its size passed). The workspace's one wrapper: bgpd's
/// TCP and BFD sockets use it too (a small public helper, not part of the FIB's interface).
pub fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size given; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// [`setsockopt`] of an `int` option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    setsockopt(fd, level, name, &v)
}

fn big_buffers(fd: RawFd) {
    if setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        RCVBUF as libc::c_int,
    )
    .is_err()
    {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF as libc::c_int);
    }
    if setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_SNDBUFFORCE,
        SNDBUF as libc::c_int,
    )
    .is_err()
    {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SNDBUF as libc::c_int);
    }
}

fn open_socket(groups: &[u32]) -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind(&SocketAddr::new(0, 0))?;
    big_buffers(s.as_raw_fd());
    // Short ACKs (no copy of our request) and extended error messages; both optional.
    let _ = setsockopt_int(s.as_raw_fd(), SOL_NETLINK, NETLINK_CAP_ACK, 1);
    let _ = setsockopt_int(s.as_raw_fd(), SOL_NETLINK, NETLINK_EXT_ACK, 1);
    for g in groups {
        s.add_membership(*g)?;
    }
    s.set_non_blocking(true)?;
    Ok(s)
}

/// What a non-blocking read found.
enum Read {
    Data(usize),
    Empty,
    Overrun,
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Read> {
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(Read::Data(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(Read::Empty),
            Some(libc::ENOBUFS) => return Ok(Read::Overrun),
            _ => return Err(e),
        }
    }
}

/// Waits until one of the fds is readable or the timeout passes.
pub fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<()> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    // SAFETY: p is a valid array of pollfd of the given length.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    Ok(())
}

/// The two netlink sockets of the FIB and the buffers to use them.
pub struct FibSocket {
    req: Socket,
    /// The request socket's netlink port id: notifications of our own writes carry it.
    portid: u32,
    mon: Option<Socket>,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

/// Why a route dump failed: the socket, or a reply the kernel sent that does not parse (kept
/// as bgp-fib's [`wire::WireError`], not flattened into an `io::Error`).
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    #[error("netlink reply: {0}")]
    Wire(#[from] wire::WireError),
}

impl FibSocket {
    /// Opens the sockets in the current network namespace. `monitor` subscribes the
    /// monitor socket to link, address and IPv4/IPv6 route notifications.
    pub fn open(monitor: bool) -> io::Result<Self> {
        let req = open_socket(&[])?;
        let mon = if monitor {
            Some(open_socket(&[
                RTNLGRP_LINK,
                RTNLGRP_IPV4_IFADDR,
                RTNLGRP_IPV6_IFADDR,
                RTNLGRP_IPV4_ROUTE,
                RTNLGRP_IPV6_ROUTE,
            ])?)
        } else {
            None
        };
        if let Some(m) = &mon {
            // Older kernels have no such group: nexthop objects are then not used anyway.
            let _ = m.add_membership(RTNLGRP_NEXTHOP);
        }
        let mut addr = SocketAddr::new(0, 0);
        req.get_address(&mut addr)?;
        Ok(FibSocket {
            req,
            portid: addr.port_number(),
            mon,
            rx: vec![0; RX_BUF],
            tx: Vec::with_capacity(256 * 1024),
        })
    }

    /// Opens the sockets inside the network namespace at `netns` (e.g.
    /// `/run/netns/NAME`): a short-lived thread enters it with `setns(2)` and opens them;
    /// a socket stays in the namespace it was created in, so the caller's thread never
    /// changes namespace.
    pub fn open_in_netns(netns: &Path, monitor: bool) -> io::Result<Self> {
        let file = std::fs::File::open(netns)?;
        std::thread::spawn(move || {
            // SAFETY: setns on this thread only, with a valid namespace fd.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            FibSocket::open(monitor)
        })
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
    }

    /// Attaches a socket filter to the monitor socket that drops, in the kernel, the route
    /// notifications of our own writes (routes of `protocol` changed through our request
    /// socket): installing 1M routes then costs the monitor nothing and cannot overrun it,
    /// while a change of one of our routes by anyone else still arrives and is repaired at
    /// once. [`crate::spawn`] does this with the configured protocol.
    pub fn ignore_own_route_notifications(&self, protocol: u8) -> io::Result<()> {
        let Some(mon) = &self.mon else { return Ok(()) };
        // Classic BPF over the nlmsghdr + rtmsg of each notification (one per skb).
        // nlmsg_type is host-endian; load its two bytes separately.
        let (lo, hi) = if cfg!(target_endian = "little") {
            (4, 5)
        } else {
            (5, 4)
        };
        // A word load converts from network byte order: compare with the port id's
        // host-endian bytes read as big-endian.
        let pid = u32::from_be_bytes(self.portid.to_ne_bytes());
        const LDB: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
        const LDW: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
        const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
        const RET: u16 = 0x06; // BPF_RET | BPF_K
        let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        let mut prog = [
            f(LDB, 0, 0, lo),                        // 0: A = type (low byte)
            f(JEQ, 1, 0, wire::RTM_NEWROUTE as u32), // 1: -> 3
            f(JEQ, 0, 6, wire::RTM_DELROUTE as u32), // 2: -> 3, else accept
            f(LDB, 0, 0, hi),                        // 3: A = type (high byte)
            f(JEQ, 0, 4, 0),                         // 4: -> 5, else accept
            f(LDB, 0, 0, 16 + 5),                    // 5: A = rtm_protocol
            f(JEQ, 0, 2, protocol as u32),           // 6: ours -> 7, else accept
            f(LDW, 0, 0, 12),                        // 7: A = nlmsg_pid
            f(JEQ, 1, 0, pid),                       // 8: our socket -> drop
            f(RET, 0, 0, u32::MAX),                  // 9: accept
            f(RET, 0, 0, 0),                         // 10: drop
        ];
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // fprog points to a program that outlives the call (the kernel copies it).
        setsockopt(
            mon.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog,
        )
    }

    /// The request socket's fd (for poll/epoll/tokio `AsyncFd`).
    pub fn request_fd(&self) -> RawFd {
        self.req.as_raw_fd()
    }

    /// The monitor socket's fd, if monitoring.
    pub fn monitor_fd(&self) -> Option<RawFd> {
        self.mon.as_ref().map(|s| s.as_raw_fd())
    }

    /// Sends one buffer of netlink messages with one `send` (the kernel handles all of
    /// them before the call returns).
    pub fn send_batch(&self, buf: &[u8]) -> io::Result<()> {
        send_batch(self.req.as_fd(), buf)
    }

    /// A second descriptor of the request socket (`dup(2)`: the same socket, port id and
    /// message order) for a writer thread that sends while this one reads the replies.
    pub(crate) fn request_writer(&self) -> io::Result<OwnedFd> {
        self.req.as_fd().try_clone_to_owned()
    }

    /// Reads every reply available on the request socket without blocking and feeds it to
    /// the FIB, each datagram with the time it was read (`now`, the caller's turn, only for
    /// `ENOBUFS`, which becomes `Fib::handle_reply_overrun`): the kernel makes a dump's next
    /// part as the last one is read, so one call reads a whole dump, and a dump stamped with
    /// the turn's time looked as if it took nothing (the periodic scan of a 400k-route table
    /// then ran every 2 s, ~0.35 CPU-s each, instead of pushing itself out to ten times its
    /// duration).
    pub fn read_replies(&mut self, fib: &mut Fib, now: Instant) -> io::Result<usize> {
        let mut n = 0;
        loop {
            match recv(self.req.as_raw_fd(), &mut self.rx)? {
                Read::Data(len) => {
                    n += 1;
                    let at = Instant::now();
                    if let Err(e) = fib.handle_reply(at, self.rx.get(..len).unwrap_or(&[])) {
                        tracing::warn!(%e, "malformed netlink reply");
                    }
                }
                Read::Empty => return Ok(n),
                Read::Overrun => fib.handle_reply_overrun(now),
            }
        }
    }

    /// Reads every notification available on the monitor socket without blocking.
    pub fn read_notifications(&mut self, fib: &mut Fib, now: Instant) -> io::Result<usize> {
        let Some(mon) = &self.mon else { return Ok(0) };
        let fd = mon.as_raw_fd();
        let mut n = 0;
        loop {
            match recv(fd, &mut self.rx)? {
                Read::Data(len) => {
                    n += 1;
                    fib.set_own_portid(self.portid);
                    if let Err(e) = fib.handle_notification(now, self.rx.get(..len).unwrap_or(&[]))
                    {
                        tracing::warn!(%e, "malformed netlink notification");
                    }
                }
                Read::Empty => return Ok(n),
                Read::Overrun => fib.handle_monitor_overrun(now),
            }
        }
    }

    /// Does all the work possible without blocking: timers, notifications, every batch
    /// the FIB wants to send and its replies.
    pub fn pump(&mut self, fib: &mut Fib, now: Instant) -> io::Result<()> {
        fib.handle_timeout(now);
        self.read_notifications(fib, now)?;
        self.read_replies(fib, now)?;
        loop {
            let mut tx = std::mem::take(&mut self.tx);
            let more = fib.poll_transmit(&mut tx);
            let r = if more { self.send_batch(&tx) } else { Ok(()) };
            self.tx = tx;
            r?;
            let got = self.read_replies(fib, now)?;
            if !more && got == 0 {
                return Ok(());
            }
        }
    }

    /// Dumps every route of every table straight from the kernel (for read-back checks
    /// and diagnostics; independent of any `Fib`). Use a socket that no `Fib` drives.
    pub fn dump_routes(&mut self) -> Result<Vec<wire::KernelRoute>, DumpError> {
        let mut out = Vec::new();
        self.dump_routes_with(|r| {
            out.push(r);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// [`FibSocket::dump_routes`] as a stream: `each` is given every route as it is read, so
    /// memory stays one receive buffer whatever the table size. When `each` breaks, the rest
    /// of the dump is read and discarded (the socket is left ready for another request).
    pub fn dump_routes_with(
        &mut self,
        each: impl FnMut(wire::KernelRoute) -> ControlFlow<()>,
    ) -> Result<(), DumpError> {
        self.dump(
            wire::DumpKind::Routes,
            wire::RTM_NEWROUTE,
            wire::parse_route,
            each,
        )
    }

    /// Whether the kernel holds a route that `wanted` accepts (a daemon's own routes found at
    /// start-up mean it restarted): a streamed dump that keeps no route.
    pub fn holds_route(
        &mut self,
        wanted: impl Fn(&wire::KernelRoute) -> bool,
    ) -> Result<bool, DumpError> {
        let mut found = false;
        self.dump_routes_with(|r| {
            found = wanted(&r);
            if found {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(found)
    }

    /// Dumps every nexthop object straight from the kernel (as [`FibSocket::dump_routes`]).
    pub fn dump_nexthops(&mut self) -> Result<Vec<wire::KernelNexthop>, DumpError> {
        let mut out = Vec::new();
        self.dump(
            wire::DumpKind::Nexthops,
            wire::RTM_NEWNEXTHOP,
            wire::parse_nexthop,
            |n| {
                out.push(n);
                ControlFlow::Continue(())
            },
        )?;
        Ok(out)
    }

    fn dump<T>(
        &mut self,
        kind: wire::DumpKind,
        object: u16,
        parse: fn(&[u8]) -> Result<T, wire::WireError>,
        mut each: impl FnMut(T) -> ControlFlow<()>,
    ) -> Result<(), DumpError> {
        let seq = 0x7fff_0001;
        let mut req = Vec::new();
        wire::encode_dump(&mut req, seq, kind);
        self.send_batch(&req)?;
        let mut wanted = true;
        // The kernel must not fall silent for a minute; a consumer that takes its time (a
        // slow reader at the end of a stream) holds the dump back without failing it.
        let mut deadline = Instant::now() + DUMP_SILENCE;
        loop {
            match recv(self.req.as_raw_fd(), &mut self.rx)? {
                Read::Data(len) => {
                    deadline = Instant::now() + DUMP_SILENCE;
                    for m in wire::Messages::new(self.rx.get(..len).unwrap_or(&[])) {
                        let (h, p) = m?;
                        if h.seq != seq {
                            continue;
                        }
                        match h.kind {
                            wire::NLMSG_DONE => return Ok(()),
                            wire::NLMSG_ERROR => {
                                let e = wire::parse_error(p)?;
                                return Err(io::Error::from_raw_os_error(e).into());
                            }
                            k if k == object && wanted => {
                                wanted = each(parse(p)?).is_continue();
                            }
                            _ => {}
                        }
                    }
                }
                Read::Empty => {
                    if Instant::now() > deadline {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "dump").into());
                    }
                    wait_readable(&[self.request_fd()], Some(Duration::from_millis(100)))?;
                }
                Read::Overrun => return Err(io::Error::from_raw_os_error(libc::ENOBUFS).into()),
            }
        }
    }

    /// Runs until the FIB has nothing queued, in flight or being dumped (for tests, the
    /// benchmark and shutdown). Returns false on timeout.
    pub fn run_until_idle(&mut self, fib: &mut Fib, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump(fib, Instant::now())?;
            if fib.is_idle() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let mut fds = vec![self.request_fd()];
            fds.extend(self.monitor_fd());
            wait_readable(&fds, Some((deadline - now).min(Duration::from_millis(50))))?;
        }
    }

    /// Runs until `until`, handling scans and notifications (tests use it to let a scan
    /// interval pass).
    pub fn run_for(&mut self, fib: &mut Fib, d: Duration) -> io::Result<()> {
        let end = Instant::now() + d;
        loop {
            self.pump(fib, Instant::now())?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            let mut wait = end - now;
            if let Some(t) = fib.poll_timeout() {
                wait = wait.min(t.saturating_duration_since(now));
            }
            let mut fds = vec![self.request_fd()];
            fds.extend(self.monitor_fd());
            wait_readable(&fds, Some(wait.max(Duration::from_millis(1))))?;
        }
    }
}

/// Sends one buffer of netlink messages on `fd` with one `send`, retrying on `EINTR` and
/// `EAGAIN` (see [`FibSocket::send_batch`]).
pub(crate) fn send_batch(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: buf is a valid readable buffer; fd is open for the borrow.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                0,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => {
                wait_writable(fd.as_raw_fd())?;
                continue;
            }
            _ => return Err(e),
        }
    }
}

fn wait_writable(fd: RawFd) -> io::Result<()> {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: p is a valid pollfd array of length 1.
    let r = unsafe { libc::poll(p.as_mut_ptr(), 1, 100) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

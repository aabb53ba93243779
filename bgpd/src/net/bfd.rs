//! DOC: BFD's UDP sockets (RFC 5881 §4, RFC 5883 §2): receive sockets on ports 3784 and 4784
//! (IPv4 and IPv6, `IPV6_V6ONLY`) that report each datagram's TTL / hop limit through
//! `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` control messages, and one send socket per session, bound
//! to the session's source address (if any) and a source port in 49152–65535, sending with TTL
//! / hop limit 255, connected to the peer when a route exists (the kernel then keeps the route
//! instead of looking it up for every packet). Plain libc calls on the raw fds of tokio / std
//! sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use bgp_core::bfd::SOURCE_PORTS;
use bgp_fib::socket::setsockopt_int;

use super::tcp::sockaddr;
use tokio::net::UdpSocket;

fn socket(v6: bool) -> io::Result<std::net::UdpSocket> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own.
    let s = unsafe { <std::net::UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    if v6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    Ok(s)
}

fn bind(s: &std::net::UdpSocket, addr: SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` octets.
    let r = unsafe {
        libc::bind(
            s.as_raw_fd(),
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A receive socket on `port` for one family, reporting TTL / hop limit.
pub(crate) fn rx_socket(v6: bool, port: u16) -> io::Result<UdpSocket> {
    let s = socket(v6)?;
    let fd = s.as_raw_fd();
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if v6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
    }
    let any = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    bind(&s, SocketAddr::new(any, port))?;
    UdpSocket::from_std(s)
}

/// A send socket for one session: source `local` (or any), a free port in 49152–65535 tried
/// from `start`, TTL / hop limit 255.
fn tx_socket(remote: IpAddr, local: Option<IpAddr>, start: u16) -> io::Result<std::net::UdpSocket> {
    let v6 = remote.is_ipv6();
    let s = socket(v6)?;
    let fd = s.as_raw_fd();
    if v6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
    }
    let ip = local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let lo = *SOURCE_PORTS.start();
    let span = u32::from(*SOURCE_PORTS.end() - lo) + 1;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        let port = lo + ((u32::from(start) + i) % span) as u16;
        match bind(&s, SocketAddr::new(ip, port)) {
            Ok(()) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// A session's send socket.
pub(crate) struct TxSocket {
    s: std::net::UdpSocket,
    to: SocketAddr,
    connected: bool,
}

impl TxSocket {
    /// Opens it (see [`tx_socket`]) and connects it to `to` if the kernel has a route now;
    /// otherwise every packet names its destination.
    pub(crate) fn open(to: SocketAddr, local: Option<IpAddr>, start: u16) -> io::Result<TxSocket> {
        let s = tx_socket(to.ip(), local, start)?;
        let connected = s.connect(to).is_ok();
        Ok(TxSocket { s, to, connected })
    }

    /// Sends one datagram, without blocking; errors (no route, a full buffer) are dropped:
    /// BFD's timers deal with lost packets. A connected socket reports an earlier ICMP error
    /// (port unreachable while the peer's BFD was not running) on the next send instead of
    /// sending: that packet is sent again.
    pub(crate) fn send(&self, b: &[u8]) {
        if !self.connected {
            let _ = self.s.send_to(b, self.to);
            return;
        }
        if let Err(e) = self.s.send(b) {
            if e.kind() == io::ErrorKind::ConnectionRefused {
                let _ = self.s.send(b);
            }
        }
    }
}

/// One datagram read without blocking: (length, source, TTL / hop limit if reported).
pub(crate) fn recv(s: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    s.try_io(tokio::io::Interest::READABLE, || {
        recvmsg(s.as_raw_fd(), buf)
    })
}

fn recvmsg(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY: all-zero is valid for these C structs.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // u64 alignment is enough for cmsghdr.
    let mut cbuf = [0u64; 16];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: every pointer in `msg` refers to live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: walking the control messages the kernel wrote into `cbuf` with the libc macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (lvl, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if (lvl == libc::IPPROTO_IP && ty == libc::IP_TTL)
                || (lvl == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT)
            {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let addr = match from.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in.
            let sin = unsafe { &*(&from as *const _ as *const libc::sockaddr_in) };
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes())),
                u16::from_be(sin.sin_port),
            )
        }
        _ => {
            // SAFETY: the kernel wrote a sockaddr_in6.
            let sin6 = unsafe { &*(&from as *const _ as *const libc::sockaddr_in6) };
            // A v4-mapped source (never on a V6ONLY socket, but be safe) as IPv4.
            let ip = IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)).to_canonical();
            SocketAddr::new(ip, u16::from_be(sin6.sin6_port))
        }
    };
    Ok((n as usize, addr, ttl))
}

//! DOC: socket options and socket creation: listeners (IPv4 and IPv6, `IPV6_V6ONLY`), outgoing
//! connections (source address, TTL / GTSM, TCP_NODELAY) and TCP-MD5 keys (`TCP_MD5SIG`, on the
//! listening socket per peer address and on the connecting socket). Plain libc calls on the raw
//! fds of tokio sockets.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// `struct tcp_md5sig` (linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; 80],
}

const TCP_MD5SIG: libc::c_int = 14;

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size given.
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
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets (or with `None` removes) the TCP-MD5 key for `peer` on `fd`.
pub fn set_md5(fd: RawFd, peer: IpAddr, key: Option<&str>) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
        }
    }
    let k = key.unwrap_or("").as_bytes();
    let n = k.len().min(80);
    sig.key[..n].copy_from_slice(&k[..n]);
    sig.keylen = n as u16;
    setsockopt(fd, libc::IPPROTO_TCP, TCP_MD5SIG, &sig)
}

/// TTL of outgoing packets and, with GTSM, the minimum TTL accepted.
pub fn set_ttl(fd: RawFd, v6: bool, ttl: u8, gtsm_min: Option<u8>) -> io::Result<()> {
    let t = libc::c_int::from(ttl);
    if v6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &t)?;
        if let Some(m) = gtsm_min {
            setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                73, /* IPV6_MINHOPCOUNT */
                &libc::c_int::from(m),
            )?;
        }
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &t)?;
        if let Some(m) = gtsm_min {
            setsockopt(
                fd,
                libc::IPPROTO_IP,
                21, /* IP_MINTTL */
                &libc::c_int::from(m),
            )?;
        }
    }
    Ok(())
}

/// How to open a connection to a peer.
#[derive(Debug, Clone)]
pub struct ConnectOpts {
    pub peer: SocketAddr,
    pub source: Option<IpAddr>,
    pub md5: Option<String>,
    pub ttl: u8,
    pub gtsm_min: Option<u8>,
    pub timeout: Duration,
}

/// Opens a connection with every option set before `connect`.
pub async fn connect(o: &ConnectOpts) -> io::Result<TcpStream> {
    let s = if o.peer.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(src) = o.source {
        s.bind(SocketAddr::new(src, 0))?;
    }
    let fd = s.as_raw_fd();
    if o.md5.is_some() {
        set_md5(fd, o.peer.ip(), o.md5.as_deref())?;
    }
    set_ttl(fd, o.peer.is_ipv6(), o.ttl, o.gtsm_min)?;
    s.set_nodelay(true)?;
    let st = tokio::time::timeout(o.timeout, s.connect(o.peer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(st)
}

/// A listening socket (`SO_REUSEADDR`, IPv6 sockets `IPV6_V6ONLY` so `0.0.0.0` and `::` can
/// both be bound).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        let s = TcpSocket::new_v6()?;
        setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            &1 as &libc::c_int,
        )?;
        s
    };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(1024)
}

//! DOC: socket options and socket creation: listeners (IPv4 and IPv6, `IPV6_V6ONLY`), outgoing
//! connections (source address, TTL / GTSM, TCP_NODELAY) and TCP-MD5 keys (`TCP_MD5SIG`, on the
//! listening socket per peer address and on the connecting socket). Plain libc calls on the raw
//! fds of tokio sockets.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use bgp_fib::socket::setsockopt;
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

/// Sets (or with `None` removes) the TCP-MD5 key for `peer` on `fd`.
pub fn set_md5(fd: RawFd, peer: IpAddr, key: Option<&str>) -> io::Result<()> {
    let k = key.unwrap_or("").as_bytes();
    let mut sig = TcpMd5Sig {
        addr: sockaddr(SocketAddr::new(peer, 0)).0,
        flags: 0,
        prefixlen: 0,
        keylen: 0,
        ifindex: 0,
        key: [0; 80],
    };
    let n = k.len().min(sig.key.len());
    for (to, from) in sig.key.iter_mut().zip(k) {
        *to = *from;
    }
    sig.keylen = n as u16;
    setsockopt(fd, libc::IPPROTO_TCP, TCP_MD5SIG, &sig)
}

/// The C form of `addr` and its length.
pub(crate) fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut st as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut st as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (st, len as libc::socklen_t)
}

/// `IP_MINTTL` (linux/in.h).
const IP_MINTTL: libc::c_int = 21;
/// `IPV6_MINHOPCOUNT` (linux/in6.h).
const IPV6_MINHOPCOUNT: libc::c_int = 73;

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live locals of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// The (TTL, minimum TTL) a socket is set to: `IP_TTL`/`IP_MINTTL`, or for IPv6
/// `IPV6_UNICAST_HOPS`/`IPV6_MINHOPCOUNT` (a TTL of -1 means the system default).
pub fn get_ttl(fd: RawFd, v6: bool) -> io::Result<(i32, i32)> {
    if v6 {
        Ok((
            getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)?,
            getsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_MINHOPCOUNT)?,
        ))
    } else {
        Ok((
            getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL)?,
            getsockopt_int(fd, libc::IPPROTO_IP, IP_MINTTL)?,
        ))
    }
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
                IPV6_MINHOPCOUNT,
                &libc::c_int::from(m),
            )?;
        }
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &t)?;
        if let Some(m) = gtsm_min {
            setsockopt(fd, libc::IPPROTO_IP, IP_MINTTL, &libc::c_int::from(m))?;
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
/// both be bound). Its TTL (hop limit) is 255: the SYN-ACK leaves with the listener's TTL,
/// and a GTSM peer (RFC 5082) connecting to us drops anything below 255 from a directly
/// connected neighbour, `IP_MINTTL` being set on its socket before `connect`. Each accepted
/// connection then gets its peer's own TTL and minimum (see `peer.rs`).
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
    set_ttl(s.as_raw_fd(), addr.is_ipv6(), 255, None)?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_send_with_ttl_255_v4_and_v6() {
        let l4 = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(get_ttl(l4.as_raw_fd(), false).unwrap().0, 255);
        if let Ok(l6) = listen("[::1]:0".parse().unwrap()) {
            assert_eq!(get_ttl(l6.as_raw_fd(), true).unwrap().0, 255);
        }
    }

    #[tokio::test]
    async fn connecting_sockets_get_ttl_and_gtsm_minimum() {
        for (bind, v6) in [("127.0.0.1:0", false), ("[::1]:0", true)] {
            let Ok(l) = listen(bind.parse().unwrap()) else {
                assert!(v6, "IPv4 loopback must work");
                continue; // no IPv6 loopback here
            };
            let peer = l.local_addr().unwrap();
            let gtsm = ConnectOpts {
                peer,
                source: None,
                md5: None,
                ttl: 255,
                gtsm_min: Some(bgp_core::session::gtsm_min_ttl(2)),
                timeout: Duration::from_secs(5),
            };
            let s = connect(&gtsm).await.unwrap();
            assert_eq!(get_ttl(s.as_raw_fd(), v6).unwrap(), (255, 254));
            let (acc, _) = l.accept().await.unwrap();
            // What the peer task does with an accepted connection.
            set_ttl(acc.as_raw_fd(), v6, 255, Some(255)).unwrap();
            assert_eq!(get_ttl(acc.as_raw_fd(), v6).unwrap(), (255, 255));
            let plain = ConnectOpts {
                ttl: 1,
                gtsm_min: None,
                ..gtsm
            };
            let s = connect(&plain).await.unwrap();
            assert_eq!(get_ttl(s.as_raw_fd(), v6).unwrap(), (1, 0));
        }
    }

    /// Why listeners send with TTL 255: a GTSM socket drops a SYN-ACK sent with the default
    /// TTL (64), so its `connect` never completes.
    #[tokio::test]
    async fn gtsm_connect_to_a_default_ttl_listener_fails() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let o = ConnectOpts {
            peer: l.local_addr().unwrap(),
            source: None,
            md5: None,
            ttl: 255,
            gtsm_min: Some(255),
            timeout: Duration::from_secs(1),
        };
        assert!(connect(&o).await.is_err());
    }
}

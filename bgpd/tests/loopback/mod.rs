//! Helpers of the loopback tests (a daemon embedded in the test process, raw BGP speakers on
//! 127.0.0.0/8, listening on port 0): this process's listeners, hand-built UPDATEs, sockets bound to a chosen source address.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The TCP sockets this process listens on (`/proc/net/tcp{,6}` entries in state LISTEN whose
/// inode is one of our file descriptors): proves a listener is closed without connecting to a
/// port another process may have bound since.
pub fn own_listeners() -> Vec<SocketAddr> {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut out = Vec::new();
    for file in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let w: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retr uid timeout inode
            if w.len() < 10 || w[3] != "0A" || !ours.contains(w[9]) {
                continue;
            }
            let (ip, port) = w[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let ip: IpAddr = if ip.len() == 8 {
                // One little-endian u32.
                Ipv4Addr::from(u32::from_str_radix(ip, 16).unwrap().swap_bytes()).into()
            } else {
                // Four little-endian u32s.
                let mut b = [0u8; 16];
                for i in 0..4 {
                    let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).unwrap();
                    b[i * 4..i * 4 + 4].copy_from_slice(&word.swap_bytes().to_be_bytes());
                }
                std::net::Ipv6Addr::from(b).into()
            };
            out.push(SocketAddr::new(ip, port));
        }
    }
    out
}

/// An UPDATE with these path attributes and IPv4 NLRI (no withdrawn routes).
pub fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = 19 + 2 + 2 + attrs.len() + nlri.len();
    let mut m = vec![0xff; 16];
    m.extend((len as u16).to_be_bytes());
    m.push(2);
    m.extend([0, 0]);
    m.extend((attrs.len() as u16).to_be_bytes());
    m.extend(attrs);
    m.extend(nlri);
    m
}

/// A connection to 127.0.0.1:`port` from `src` (std has no bind-before-connect: the daemon's
/// own socket helper, through a one-off runtime).
pub fn socket_from(src: Ipv4Addr, port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let o = bgpd::net::tcp::ConnectOpts {
            peer: format!("127.0.0.1:{port}").parse().unwrap(),
            source: Some(src.into()),
            md5: None,
            ttl: 64,
            gtsm_min: None,
            timeout: Duration::from_secs(5),
        };
        let s = bgpd::net::tcp::connect(&o).await.unwrap();
        let s = s.into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s
    })
}

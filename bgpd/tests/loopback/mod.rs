//! Helpers of the loopback tests (a daemon embedded in the test process, raw BGP speakers on
//! 127.0.0.0/8): free ports, hand-built UPDATEs, sockets bound to a chosen source address.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

/// A TCP port nobody listens on now, and never handed out before in this test binary (the
/// tests of one file run in parallel: two of them must not get the same released port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&p) {
            given.push(p);
            return p;
        }
    }
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
        let o = bgpd::daemon::sockets::ConnectOpts {
            peer: format!("127.0.0.1:{port}").parse().unwrap(),
            source: Some(src.into()),
            md5: None,
            ttl: 64,
            gtsm_min: None,
            timeout: Duration::from_secs(5),
        };
        let s = bgpd::daemon::sockets::connect(&o).await.unwrap();
        let s = s.into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s
    })
}

//! DOC: the BGP listener: binds every `listen` address, installs the TCP-MD5 keys of peers
//! with passwords on each listening socket, accepts connections and hands each to its peer's
//! task — or creates a dynamic peer when the address is inside a `[[peer_ranges]]` prefix.
//! Unknown addresses are closed at once.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{lock, peer, sockets, Shared};
use crate::config::Config;

/// Binds every listen address of `config`.
pub(crate) fn bind_all(config: &Config) -> Result<Vec<TcpListener>, (SocketAddr, std::io::Error)> {
    let l = &config.file.listen;
    let mut out = Vec::new();
    for a in &l.addresses {
        let addr = SocketAddr::new(*a, l.port);
        out.push(sockets::listen(addr).map_err(|e| (addr, e))?);
    }
    let all: Vec<SocketAddr> = out.iter().filter_map(|l| l.local_addr().ok()).collect();
    // With port 0 and several addresses, the ports differ; that is fine for tests.
    let _ = all;
    install_md5(config, &out);
    Ok(out)
}

/// Installs the MD5 keys of every peer with a password on every listener of its family.
pub(crate) fn install_md5(config: &Config, listeners: &[TcpListener]) {
    for p in config.peers() {
        let Some(pw) = &p.common.password else {
            continue;
        };
        for l in listeners {
            let Ok(la) = l.local_addr() else { continue };
            if la.is_ipv4() == p.address.is_ipv4() {
                if let Err(e) = sockets::set_md5(l.as_raw_fd(), p.address, Some(pw)) {
                    tracing::error!(peer = %p.name, "TCP-MD5 on the listener: {e}");
                }
            }
        }
    }
}

/// Re-installs the MD5 keys after a reload (keys of removed peers stay until a restart; an
/// unknown address cannot connect anyway).
pub(crate) fn reinstall_md5(shared: &Shared, config: &Config) {
    let fds = super::lock(&shared.listen_fds).clone();
    for p in config.peers() {
        let Some(pw) = &p.common.password else {
            continue;
        };
        for (fd, v4) in &fds {
            if *v4 == p.address.is_ipv4() {
                if let Err(e) = sockets::set_md5(*fd, p.address, Some(pw)) {
                    tracing::error!(peer = %p.name, "TCP-MD5 on the listener: {e}");
                }
            }
        }
    }
}

/// Spawns one accept loop per listener.
pub(crate) fn spawn(shared: &Arc<Shared>, listeners: Vec<TcpListener>) {
    for l in listeners {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let mut stop = shared.stop_tx.subscribe();
            loop {
                tokio::select! {
                    r = l.accept() => match r {
                        Ok((s, from)) => dispatch(&shared, s, from),
                        Err(e) => {
                            tracing::warn!("accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    },
                    _ = super::stopped(&mut stop) => break,
                }
            }
        });
    }
}

fn dispatch(shared: &Arc<Shared>, s: tokio::net::TcpStream, from: SocketAddr) {
    if shared
        .shutting_down
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let ip = match from.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    let existing = lock(&shared.peers)
        .iter()
        .find(|p| lock(&p.spec).address == ip)
        .cloned();
    let handle = match existing {
        Some(h) => h,
        None => {
            let cfg = shared.config();
            let Some(spec) = cfg.dynamic_peer(ip) else {
                tracing::debug!(%from, "connection from an unknown address refused");
                return;
            };
            tracing::info!(peer = %spec.name, "dynamic neighbour");
            peer::spawn(shared, spec)
        }
    };
    let _ = s.set_nodelay(true);
    let _ = handle.cmd.send(peer::PeerCmd::Incoming(s));
}

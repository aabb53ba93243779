//! DOC: the BGP listener: binds every `listen` address, installs the TCP-MD5 keys of peers
//! with passwords on each listening socket, accepts connections and hands each to its peer's
//! task — or creates a dynamic peer when the address is inside a `[[peer_ranges]]` prefix.
//! Unknown addresses are closed at once.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::peer::{self, PeerCmd};
use super::{lock, Shared};
use crate::config::{Config, Incoming};
use crate::net::tcp as sockets;
use crate::status::ControlError;

/// One running listener.
pub(crate) struct ListenerEntry {
    /// The address as configured (a port 0 stays 0).
    pub configured: SocketAddr,
    /// The address bound.
    pub bound: SocketAddr,
    /// Its fd (MD5 keys after a reload).
    pub fd: RawFd,
    /// The accept loop; aborting it closes the socket.
    pub task: tokio::task::JoinHandle<()>,
}

/// A bound listener and the configured address it is for.
pub(crate) type Bound = (SocketAddr, TcpListener);

/// Binds `addrs`, with the MD5 keys of `config`'s peers.
pub(crate) fn bind(
    config: &Config,
    addrs: &[SocketAddr],
) -> Result<Vec<Bound>, (SocketAddr, std::io::Error)> {
    let mut out = Vec::new();
    for addr in addrs {
        out.push((*addr, sockets::listen(*addr).map_err(|e| (*addr, e))?));
    }
    let fds: Vec<(RawFd, SocketAddr)> = (out.iter())
        .filter_map(|(_, l)| Some((l.as_raw_fd(), l.local_addr().ok()?)))
        .collect();
    install_md5(config, &fds);
    Ok(out)
}

/// Makes the running listeners those of `new` (a reload, `Config::rebind`): the listeners
/// closed first, then the added ones bound. If an address cannot be bound, the closed ones are
/// bound again (best effort) and the reload is refused.
pub(crate) async fn rebind(shared: &Arc<Shared>, new: &Config) -> Result<(), ControlError> {
    let running: Vec<SocketAddr> = lock(&shared.listeners)
        .iter()
        .map(|e| e.configured)
        .collect();
    let plan = new.rebind(&running);
    let gone: Vec<ListenerEntry> = {
        let mut cur = lock(&shared.listeners);
        let (gone, keep) = std::mem::take(&mut *cur)
            .into_iter()
            .partition(|e| plan.close.contains(&e.configured));
        *cur = keep;
        gone
    };
    for e in gone {
        e.task.abort();
        let _ = e.task.await;
        tracing::info!(addr = %e.bound, "listener closed");
    }
    let (bound, err) = match bind(new, &plan.bind) {
        Ok(bound) => (bound, Ok(())),
        Err((addr, e)) => {
            let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
            let again = bind(&shared.config(), &plan.close).unwrap_or_else(|(a, e)| {
                tracing::error!(addr = %a, "cannot listen again: {e}");
                Vec::new()
            });
            (again, Err(ControlError::Listen { addr, errno }))
        }
    };
    for a in bound.iter().filter_map(|(_, l)| l.local_addr().ok()) {
        tracing::info!(addr = %a, "listening");
    }
    spawn(shared, bound);
    err
}

/// Installs the MD5 keys of `config`'s peers on the listeners (`fd`, bound address).
fn install_md5(config: &Config, listeners: &[(RawFd, SocketAddr)]) {
    let bound: Vec<SocketAddr> = listeners.iter().map(|(_, a)| *a).collect();
    for k in config.listener_keys(&bound) {
        let Some((fd, _)) = listeners.get(k.listener) else {
            continue;
        };
        if let Err(e) = sockets::set_md5(*fd, k.address, Some(&k.password)) {
            tracing::error!(peer = %k.peer, "TCP-MD5 on the listener: {e}");
        }
    }
}

/// Re-installs the MD5 keys after a reload.
pub(crate) fn reinstall_md5(shared: &Shared, config: &Config) {
    let fds: Vec<(RawFd, SocketAddr)> = lock(&shared.listeners)
        .iter()
        .map(|e| (e.fd, e.bound))
        .collect();
    install_md5(config, &fds);
}

/// Spawns one accept loop per listener and registers it.
pub(crate) fn spawn(shared: &Arc<Shared>, listeners: Vec<Bound>) {
    for (configured, l) in listeners {
        let Ok(bound) = l.local_addr() else { continue };
        let fd = l.as_raw_fd();
        let shared2 = Arc::clone(shared);
        let shared = Arc::clone(shared);
        let task = tokio::spawn(async move {
            let mut stop = shared.stop_tx.subscribe();
            loop {
                tokio::select! {
                    r = l.accept() => match r {
                        Ok((s, from)) => dispatch(&shared, s, from).await,
                        Err(e) => {
                            tracing::warn!("accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    },
                    _ = super::stopped(&mut stop) => break,
                }
            }
        });
        lock(&shared2.listeners).push(ListenerEntry {
            configured,
            bound,
            fd,
            task,
        });
    }
}

/// Hands an accepted connection to its peer's task, or to a new dynamic neighbour's
/// (`Config::incoming`).
async fn dispatch(shared: &Arc<Shared>, s: tokio::net::TcpStream, from: SocketAddr) {
    // One dispatch at a time across the listeners (IPv4 and IPv6 sockets may accept the same
    // neighbour): a new neighbour is in the peer table before the next lookup.
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE.lock().await;
    if shared.shutting_down.load(Ordering::SeqCst) {
        return;
    }
    let ip = from.ip().to_canonical();
    let existing = lock(&shared.peers)
        .iter()
        .find(|p| lock(&p.spec).address == ip)
        .cloned();
    let _ = s.set_nodelay(true);
    let s = match existing {
        None => s,
        Some(h) => match h.cmd.send(PeerCmd::Incoming(s)) {
            Ok(()) => return,
            // The peer's task ended meanwhile (a dynamic neighbour just forgotten): the
            // connection goes to a new one.
            Err(PeerCmd::Incoming(s)) => s,
            Err(_) => return,
        },
    };
    match shared.config().incoming(ip) {
        Incoming::Dynamic(spec) => {
            tracing::info!(peer = %spec.name, "dynamic neighbour");
            let handle = peer::spawn(shared, spec).await;
            let _ = handle.cmd.send(PeerCmd::Incoming(s));
        }
        Incoming::Refuse => tracing::debug!(%from, "connection from an unknown address refused"),
    }
}

//! The connection side of a peer task: the daemon as the driver's [`Env`] (the Adj-RIB-Out
//! over the shared RIB, the deferral of our restart's recovery, non-blocking reads and
//! writes: the task itself reads when a socket is readable, no reader task, no read queue),
//! the sockets' options, closing.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use bgp_core::driver::Env;
use bgp_core::session::TtlPolicy;
use bgp_core::wire::{EncodeError, Negotiated};
use bytes::BytesMut;

use super::*;

pub(super) type Conn = bgp_core::driver::Conn<TcpStream>;

/// What the driver reads of the daemon: one peer's view of it.
pub(super) struct Daemon<'a> {
    pub shared: &'a Shared,
    pub h: &'a PeerHandle,
    pub spec: &'a PeerSpec,
}

impl Env<TcpStream> for Daemon<'_> {
    fn epoch(&self) -> u64 {
        self.h.epoch.load(Ordering::SeqCst)
    }

    fn next_epoch(&mut self) {
        self.h.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn rib_epoch(&self) -> u64 {
        self.h.rib_epoch.load(Ordering::SeqCst)
    }

    fn deferring(&self) -> bool {
        lock(&self.shared.recovery)
            .as_ref()
            .is_some_and(|r| r.deferring())
    }

    fn next_update(&mut self, _: &Negotiated, out: &mut BytesMut) -> Result<bool, EncodeError> {
        lock(&self.shared.rib).poll_update(self.h.id, out)
    }

    fn forget_after(&self) -> Duration {
        self.shared.config().forget_after(self.spec.address)
    }

    fn write(&mut self, stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
        logged(stream.try_write(buf), "write")
    }

    fn read(&mut self, stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
        logged(stream.try_read_buf(buf), "read")
    }
}

fn logged(r: io::Result<usize>, what: &str) -> io::Result<usize> {
    if let Some(e) = r
        .as_ref()
        .err()
        .filter(|e| e.kind() != io::ErrorKind::WouldBlock)
    {
        tracing::debug!("{what} failed: {e}");
    }
    r
}

/// An outgoing connection being opened (polled by the peer task).
pub(super) type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// A connection the session took: an incoming one gets the session's TTL and GTSM minimum
/// (the listener's are 255; an outgoing one had them, and no Nagle, before `connect`); our
/// address on it is kept.
pub(super) fn configure(s: &TcpStream, h: &PeerHandle, incoming: Option<TtlPolicy>) {
    let local = s.local_addr().ok();
    if let Some(TtlPolicy { send, min_receive }) = incoming {
        let v6 = local.is_some_and(|a| a.is_ipv6());
        if let Err(e) = sockets::set_ttl(s.as_raw_fd(), v6, send, min_receive) {
            tracing::error!(ttl = send, gtsm = ?min_receive, "cannot set the TTL of the connection: {e}");
        }
    }
    lock(&h.status).local_addr = local.map(|a| a.ip());
}

/// Writes what is left (a NOTIFICATION) within a second, then closes.
pub(super) async fn close_conn(mut c: Conn) {
    use tokio::io::AsyncWriteExt;
    if !c.tx.is_empty() {
        let pending = c.stream.write_all(c.tx.pending());
        let _ = tokio::time::timeout(Duration::from_secs(1), pending).await;
    }
    let _ = c.stream.shutdown().await;
}

/// The index of a connection that is readable (or in error), once one is.
pub(super) fn poll_readable(conns: &[Conn], cx: &mut Context<'_>) -> Poll<usize> {
    for (i, c) in conns.iter().enumerate() {
        if c.stream.poll_read_ready(cx).is_ready() {
            return Poll::Ready(i);
        }
    }
    Poll::Pending
}

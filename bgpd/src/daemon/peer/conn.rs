//! The connection side of a peer task: reading (the task itself reads when a socket is
//! readable: no reader task, no read queue), connecting (the connect futures are polled by the
//! task), writing (the write buffer, `bgp_core::driver::TxBuffer`, filled from the session
//! while below its bound), and the Adj-RIB-Out as the session's [`UpdateSource`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bgp_core::driver::{ReadSize, TxBuffer};

use super::*;

/// The Adj-RIB-Out of one peer as the session's [`UpdateSource`].
pub(crate) struct RibSource<'a> {
    pub shared: &'a Shared,
    pub id: SourceId,
    /// The RIB task has applied this session's `PeerUp` (see `PeerHandle::rib_epoch`).
    pub ready: bool,
    /// Set when the peer asked for our routes again: the peer task tells the RIB task.
    pub refresh: &'a mut bool,
}

impl UpdateSource for RibSource<'_> {
    fn next_update(
        &mut self,
        _ctx: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        // RFC 4724 §4.1: while we recover from our own restart (Restart State bit sent), route
        // selection and advertisement wait until every peer sent End-of-RIB or the wait timer
        // ended; the RIB task then wakes the peers, which send their routes and End-of-RIB.
        if !self.ready || deferring(self.shared) {
            return Ok(SourceStatus::Pending);
        }
        // The RIB writes the End-of-RIB markers itself after its initial feed.
        Ok(match lock(&self.shared.rib).poll_update(self.id, out)? {
            true => SourceStatus::Wrote,
            false => SourceStatus::Synced,
        })
    }

    fn refresh(&mut self, _family: Family) {
        *self.refresh = true;
    }

    fn sends_end_of_rib(&self) -> bool {
        true
    }
}

/// Whether our advertisements are deferred: the graceful-restart recovery of our own restart
/// is in progress.
fn deferring(shared: &Shared) -> bool {
    lock(&shared.recovery)
        .as_ref()
        .is_some_and(|r| r.deferring())
}

/// An outgoing connection being opened (polled by the peer task).
pub(super) type Connecting = (
    ConnId,
    Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>,
);

pub(super) struct Conn {
    pub(super) id: ConnId,
    pub(super) stream: TcpStream,
    /// What the session produced and the socket has not taken yet.
    pub(super) tx: TxBuffer,
    /// The size of the next read.
    read_size: ReadSize,
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

/// The first connect attempt that finished, taken out of `pending`.
pub(super) fn poll_connected(
    pending: &mut Vec<Connecting>,
    cx: &mut Context<'_>,
) -> Poll<(ConnId, io::Result<TcpStream>)> {
    for i in 0..pending.len() {
        let Some((id, f)) = pending.get_mut(i) else {
            break;
        };
        if let Poll::Ready(r) = f.as_mut().poll(cx) {
            let id = *id;
            drop(pending.swap_remove(i));
            if pending.is_empty() {
                *pending = Vec::new();
            }
            return Poll::Ready((id, r));
        }
    }
    Poll::Pending
}

impl PeerTask {
    pub(super) fn add_conn(&mut self, id: ConnId, stream: TcpStream) {
        let (ttl, gtsm) = self.ttl();
        let v6 = stream
            .local_addr()
            .map_or(self.spec.address.is_ipv6(), |a| a.is_ipv6());
        if let Err(e) = sockets::set_ttl(stream.as_raw_fd(), v6, ttl, gtsm) {
            tracing::error!(ttl, ?gtsm, "cannot set the TTL of the connection: {e}");
        }
        let _ = stream.set_nodelay(true);
        lock(&self.h.status).local_addr = stream.local_addr().ok().map(|a| a.ip());
        // At most two connections, usually one: no room for four kept (0.36 KB each peer).
        self.conns.reserve_exact(1);
        self.conns.push(Conn {
            id,
            stream,
            tx: TxBuffer::default(),
            read_size: ReadSize::default(),
        });
    }

    /// Reads once from connection `i` (found readable): the bytes go to the session, end of
    /// stream or an error to its loss. No buffer is kept between reads: an established session
    /// that only gets a KEEPALIVE now and then holds none.
    pub(super) fn read_from(&mut self, i: usize) {
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        let id = c.id;
        let mut buf = Vec::with_capacity(c.read_size.get());
        match c.stream.try_read_buf(&mut buf) {
            Ok(0) => self.closed(id),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                tracing::debug!("read failed: {e}");
                self.closed(id);
            }
            Ok(n) => {
                c.read_size.read(n);
                self.peer.handle_bytes(Instant::now(), id, &buf);
            }
        }
    }

    /// Pulls messages while the write buffers have room; whether anything was produced.
    pub(super) fn transmit(&mut self) -> bool {
        let now = Instant::now();
        let mut any = false;
        let src_shared = Arc::clone(&self.shared);
        let ready = self.h.rib_epoch.load(Ordering::SeqCst) == self.h.epoch.load(Ordering::SeqCst);
        for c in &mut self.conns {
            let mut src = RibSource {
                shared: &src_shared,
                id: self.h.id,
                ready,
                refresh: &mut self.refresh_out,
            };
            any |= c.tx.fill(now, &mut self.peer, c.id, &mut src);
        }
        any
    }

    /// Writes what the sockets take; whether a connection was found broken (the session then
    /// has its loss to process).
    pub(super) fn write_some(&mut self) -> bool {
        let mut broken = Vec::new();
        for c in &mut self.conns {
            while !c.tx.is_empty() {
                match c.stream.try_write(c.tx.pending()) {
                    Ok(n) => c.tx.written(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // The connection is gone (reset, broken pipe): what is queued can never
                        // leave, and a socket in error is always "writable", so waiting on it
                        // would spin. The session learns of the loss now, not at the next read.
                        tracing::debug!("write failed: {e}");
                        c.tx.discard();
                        broken.push(c.id);
                        break;
                    }
                }
            }
        }
        let any = !broken.is_empty();
        for id in broken {
            self.closed(id);
        }
        any
    }

    pub(super) async fn close_all(&mut self) {
        for c in std::mem::take(&mut self.conns) {
            close_conn(c).await;
        }
    }
}

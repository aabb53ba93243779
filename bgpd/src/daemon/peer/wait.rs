//! What a peer task waits for, polled by hand: its commands, its connections (readable,
//! connected, writable), its timer and the RIB's wake-up (its BFD session's changes come as
//! commands, `PeerCmd::BfdLink`). A `select!` over one future per source kept ~0.7 KB in each
//! idle neighbour's task (issue 19); polling the sources directly keeps only the timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::conn::poll_readable;
use super::*;

/// What ended a peer task's wait.
pub(super) enum Wake {
    Cmd(Option<PeerCmd>),
    Read(usize),
    Connected(ConnId, io::Result<TcpStream>),
    Timer,
    /// New output to pull (the RIB's signal) or room to write.
    Work,
}

impl PeerTask {
    /// The first source that is ready, in this order: a command, a readable connection, a
    /// finished connect attempt, the timer (when there is a deadline), the RIB's signal, room
    /// to write on connection `want_write`. Every source not ready has the task's waker.
    pub(super) fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        timer: Option<Pin<&mut tokio::time::Sleep>>,
        want_write: Option<usize>,
    ) -> Poll<Wake> {
        if let Poll::Ready(c) = self.cmd_rx.poll_recv(cx) {
            return Poll::Ready(Wake::Cmd(c));
        }
        if let Poll::Ready(i) = poll_readable(self.d.conns(), cx) {
            return Poll::Ready(Wake::Read(i));
        }
        if let Poll::Ready((id, r)) = self.d.poll_connecting(|f| f.as_mut().poll(cx)) {
            return Poll::Ready(Wake::Connected(id, r));
        }
        if let Some(t) = timer {
            if t.poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
        }
        if self.h.notify.poll(cx).is_ready() {
            return Poll::Ready(Wake::Work);
        }
        if let Some(c) = want_write.and_then(|i| self.d.conns().get(i)) {
            if c.stream.poll_write_ready(cx).is_ready() {
                return Poll::Ready(Wake::Work);
            }
        }
        Poll::Pending
    }
}

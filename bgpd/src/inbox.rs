//! DOC: a queue between tasks that holds no memory while it is empty, and a wake-up flag: sync
//! primitives (like tokio's `mpsc` and `Notify`), not daemon logic, used by the peer tasks.
//!
//! Every peer has an inbound queue (commands from the listener, control socket and RIB; what
//! it reads it reads itself). tokio's `mpsc` keeps a block of 32 slots per channel from its
//! creation on (about 1.4 KB, a third of what an idle neighbour may cost: issue 19, 1,000 idle
//! dynamic neighbours on a reflector). This queue is a `VecDeque` that is given back whenever
//! it drains and the waker of the one receiver; it has no bound (commands are few). The
//! receiver polls it ([`Receiver::poll_recv`]) without a future of its own, as it polls
//! [`Signal`], the RIB's wake-up.
//!
//! Semantics follow `mpsc`: a send fails (returning the value) once the receiver is gone;
//! `recv` returns `None` once every sender is gone and the queue is empty.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    senders: AtomicUsize,
}

struct Queue<T> {
    items: VecDeque<T>,
    closed: bool,
    /// The receiver waiting for a value.
    waker: Option<Waker>,
}

/// Stores `cx`'s waker in `slot` (unless it is the one already there).
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl<T> Shared<T> {
    fn queue(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side (clone it for several senders).
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The receiving side (one).
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

/// A queue without bound ([`Sender::send`] never waits).
pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
            waker: None,
        }),
        senders: AtomicUsize::new(1),
    });
    (Sender(Arc::clone(&s)), Receiver(s))
}

impl<T> Sender<T> {
    /// Queues `v` now (over the bound, if any); `Err(v)` when the receiver is gone.
    pub(crate) fn send(&self, v: T) -> Result<(), T> {
        let mut q = self.0.queue();
        if q.closed {
            return Err(v);
        }
        q.items.push_back(v);
        let w = q.waker.take();
        drop(q);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.queue().closed
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Sender(Arc::clone(&self.0))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let w = self.0.queue().waker.take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<T> Receiver<T> {
    /// The next value if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let mut q = self.0.queue();
        let v = q.items.pop_front();
        if q.items.is_empty() && q.items.capacity() > 0 {
            q.items = VecDeque::new();
        }
        v
    }

    /// The next value, or `None` once every sender is gone and nothing is left; `Pending`
    /// (the task woken by the next send) otherwise. A value is taken only when returned.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut q = self.0.queue();
        if let Some(v) = q.items.pop_front() {
            if q.items.is_empty() && q.items.capacity() > 0 {
                q.items = VecDeque::new();
            }
            return Poll::Ready(Some(v));
        }
        // The last sender's drop counts down before it takes the waker (under the lock held
        // here): either this sees zero or its waker is woken.
        if self.0.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(None);
        }
        register(&mut q.waker, cx);
        Poll::Pending
    }

    /// The next value; `None` once every sender is gone and nothing is left. Cancel-safe: a
    /// value is taken only by a call that returns it.
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

/// A wake-up for one task, set from anywhere (the RIB: "new output for you"), that the task
/// polls by hand ([`Signal::poll`]): like `Notify::notify_one` with its stored permit, without
/// a `Notified` future kept by the waiting task (issue 19: an idle neighbour's memory).
#[derive(Default)]
pub(crate) struct Signal(Mutex<(bool, Option<Waker>)>);

impl Signal {
    fn state(&self) -> MutexGuard<'_, (bool, Option<Waker>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the signal and wakes the task polling it.
    pub(crate) fn notify_one(&self) {
        let w = {
            let mut s = self.state();
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// `Ready` (clearing it) when set since the last `Ready`; otherwise the task is woken by
    /// the next [`Signal::notify_one`].
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.state();
        if std::mem::take(&mut s.0) {
            return Poll::Ready(());
        }
        register(&mut s.1, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut q = self.0.queue();
        q.closed = true;
        q.items = VecDeque::new();
        q.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_arrive_in_order_and_the_queue_gives_its_memory_back() {
        let (tx, mut rx) = unbounded();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.0.queue().items.capacity(), 0);
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn recv_ends_when_every_sender_is_gone() {
        let (tx, mut rx) = unbounded::<u8>();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        let waiter = tokio::spawn(async move {
            let a = rx.recv().await;
            let b = rx.recv().await;
            (a, b)
        });
        drop(tx2);
        assert_eq!(waiter.await.unwrap(), (Some(1), None));
    }

    #[tokio::test]
    async fn a_signal_set_before_the_wait_is_kept_and_taken_once() {
        let s = Arc::new(Signal::default());
        s.notify_one();
        s.notify_one();
        std::future::poll_fn(|cx| s.poll(cx)).await;
        let pending = std::future::poll_fn(|cx| Poll::Ready(s.poll(cx).is_pending())).await;
        assert!(pending, "two notifications before a wait wake it once");
        let s2 = Arc::clone(&s);
        let waiter = tokio::spawn(async move { std::future::poll_fn(|cx| s2.poll(cx)).await });
        tokio::task::yield_now().await;
        s.notify_one();
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn a_send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = unbounded();
        tx.send(1u8).unwrap();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(3), Err(3));
    }
}

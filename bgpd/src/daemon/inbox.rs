//! A queue between tasks that holds no memory while it is empty.
//!
//! Every peer has an inbound queue (commands from the listener, control socket and RIB; what
//! it reads it reads itself). tokio's `mpsc` keeps a block of 32 slots per channel from its
//! creation on (about 1.4 KB, a third of what an idle neighbour may cost: issue 19, 1,000 idle
//! dynamic neighbours on a reflector). This queue is a `VecDeque` that is given back whenever
//! it drains and a [`Notify`] for the one receiver; it has no bound (commands are few).
//!
//! Semantics follow `mpsc`: a send fails (returning the value) once the receiver is gone;
//! `recv` returns `None` once every sender is gone and the queue is empty.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    ready: Notify,
    senders: AtomicUsize,
}

struct Queue<T> {
    items: VecDeque<T>,
    closed: bool,
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
        }),
        ready: Notify::new(),
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
        drop(q);
        self.0.ready.notify_one();
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
            self.0.ready.notify_one();
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

    /// The next value; `None` once every sender is gone and nothing is left. Cancel-safe: a
    /// value is taken only by a call that returns it.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            self.0.ready.notified().await;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut q = self.0.queue();
        q.closed = true;
        q.items = VecDeque::new();
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
    async fn a_send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = unbounded();
        tx.send(1u8).unwrap();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(3), Err(3));
    }
}

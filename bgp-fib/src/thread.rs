//! DOC: the FIB thread: the one place a `Fib` and its `FibSocket` run for the daemon. Changes come
//! in through [`FibHandle::try_send`], bounded: at most [`HANDOFF_DEPTH`] hand-offs wait, and the
//! thread takes no further one while more than [`MAX_QUEUED`] changes are queued or in flight in
//! the `Fib`, so a full-table load keeps the rest in the caller (who coalesces per prefix) and
//! memory stays bounded; a full channel gives the changes back. Other commands (release the stale
//! routes, new pools, a scan, stop) are never refused and keep their order after the changes sent
//! before them. An eventfd wakes the thread's `poll(2)`. The netlink batches the `Fib` encodes go,
//! in order, to one writer thread (`bgp-fib-write`) over a bounded hand-off of recycled buffers:
//! the kernel applies a batch inside the writer's `send` while this thread encodes the next one and
//! reads and matches the replies (four buffers: one encoded, one sent, two waiting; the `Fib`'s own
//! bound on batches in flight still holds). A send error ends the thread as it did when this thread
//! sent; stopping joins the writer once everything handed over was sent. What happens goes out
//! through a [`FibObserver`]: events, the kernel view when it changes, each netlink batch's send
//! time, the installed/pending counts every turn (at least once a second), and the refused routes
//! whenever they change.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fib::{Fib, FibStats};
use crate::intent::{KernelView, Pool};
use crate::socket::{send_batch, wait_readable, FibSocket};
use crate::types::{FailedRoute, FibChange, FibConfig, FibEvent};

/// Changes per hand-off the caller should send (at most; fewer is fine).
pub const HANDOFF_CHUNK: usize = 16 * 1024;
/// Hand-offs waiting for the thread beyond which [`FibHandle::try_send`] gives changes back.
pub const HANDOFF_DEPTH: usize = 4;
/// Changes queued or in flight in the `Fib` beyond which the thread takes no further hand-off.
/// The `Fib` sends queued changes from random positions: the more it holds, the more scattered
/// the order the kernel's trie sees (a 1M load's install order: 2,712 against 3,175 distinct
/// /16s per 16,384 routes at 64k and 256k; the baseline's unbounded queue 3,587). At most 8
/// octets per queued route (24 per queued delete): ~2-6 MB, against the desired state's ~36 MB
/// at 1M.
pub const MAX_QUEUED: usize = 16 * HANDOFF_CHUNK;
/// Refused routes listed to [`FibObserver::failures`] (all are counted).
pub const FAILURES_LISTED: usize = 1000;
/// Netlink batches sent between two looks at the commands.
const BATCHES_PER_TURN: usize = 8;
/// Batch buffers the FIB thread and its writer share: one being encoded, one being sent, two
/// waiting. Enough to keep the writer busy (the thread encodes a batch several times faster
/// than the kernel applies it); each more is another `max_batch_bytes` of memory, and another
/// batch in flight, for nothing.
const WRITER_BUFFERS: usize = 4;

/// What the FIB thread reports; called on the FIB thread, so each must return quickly.
pub trait FibObserver: Send + 'static {
    /// An event of the `Fib` (forward it to a channel); the kernel's answers, reconciles and
    /// overruns are logged by the FIB thread already.
    fn event(&mut self, ev: FibEvent);
    /// The links and on-link subnets changed (published before the events of the same turn).
    fn view(&mut self, _view: Arc<KernelView>) {}
    /// One netlink batch was sent: the writer thread's `send` (in which the kernel applies
    /// it) took `took`.
    fn batch_sent(&mut self, _took: Duration) {}
    /// End of a loop turn (at least one a second): routes installed (desired, acknowledged
    /// and not refused) and changes waiting to be sent or acknowledged.
    fn turn(&mut self, _installed: usize, _pending: usize) {}
    /// The refused routes changed: how many, and the first [`FAILURES_LISTED`] in prefix order.
    fn failures(&mut self, _count: usize, _listed: Vec<FailedRoute>) {}
    /// The `Fib`'s cumulative counters, at the end of each turn (after [`Self::turn`]).
    fn stats(&mut self, _stats: FibStats) {}
}

/// A closure is an observer of events only.
impl<F: FnMut(FibEvent) + Send + 'static> FibObserver for F {
    fn event(&mut self, ev: FibEvent) {
        self(ev)
    }
}

/// A command to the FIB thread.
#[derive(Debug)]
pub enum FibCommand {
    Changes(Vec<FibChange>),
    /// See `Fib::release_stale`.
    ReleaseStale,
    /// New IP pools (a reload), for the intents handed over from now on.
    SetPools(Vec<Pool>),
    /// Reconcile now.
    Scan,
    /// Stop (flushing our routes first if configured) and end the thread.
    Shutdown,
}

/// The daemon's handle on the FIB thread. Dropping it stops the thread and waits for it.
pub struct FibHandle {
    tx: mpsc::Sender<FibCommand>,
    /// Hand-offs sent and not yet taken by the thread.
    waiting: Arc<AtomicUsize>,
    wake: OwnedFd,
    thread: Option<JoinHandle<io::Result<()>>>,
}

fn wake(fd: &impl AsRawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local to our eventfd, alive as long as `fd`.
    unsafe {
        libc::write(fd.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8);
    }
}

impl FibHandle {
    /// Sends a command and wakes the thread, never blocking (changes count towards
    /// [`HANDOFF_DEPTH`] but are not refused here). Fails once the thread has ended.
    pub fn send(&self, cmd: FibCommand) -> io::Result<()> {
        let changes = matches!(cmd, FibCommand::Changes(_));
        if changes {
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
        if self.tx.send(cmd).is_err() {
            if changes {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "FIB thread ended",
            ));
        }
        wake(&self.wake);
        Ok(())
    }

    /// Hands changes to the thread, or gives them back when [`HANDOFF_DEPTH`] hand-offs are
    /// still waiting (keep them and try again shortly). Changes for a thread that ended are
    /// dropped (logged).
    pub fn try_send(&self, changes: Vec<FibChange>) -> Result<(), Vec<FibChange>> {
        if changes.is_empty() {
            return Ok(());
        }
        if self.waiting.load(Ordering::SeqCst) >= HANDOFF_DEPTH {
            return Err(changes);
        }
        if self.send(FibCommand::Changes(changes)).is_err() {
            tracing::error!("FIB thread ended");
        }
        Ok(())
    }

    /// Whether the thread is behind: the next [`FibHandle::try_send`] would be refused.
    pub fn is_full(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) >= HANDOFF_DEPTH
    }

    /// See `Fib::release_stale` (after the changes sent before).
    pub fn release_stale(&self) {
        if self.send(FibCommand::ReleaseStale).is_err() {
            tracing::error!("FIB thread ended");
        }
    }

    /// New IP pools for the intents handed over from now on.
    pub fn set_pools(&self, pools: Vec<Pool>) {
        if self.send(FibCommand::SetPools(pools)).is_err() {
            tracing::error!("FIB thread ended");
        }
    }

    /// Stops the thread (see [`FibCommand::Shutdown`]) and waits for it (blocking).
    pub fn shutdown(mut self) -> io::Result<()> {
        let _ = self.send(FibCommand::Shutdown);
        join(self.thread.take(), "FIB thread")
    }
}

impl Drop for FibHandle {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(FibCommand::Shutdown);
            wake(&self.wake);
            let _ = t.join();
        }
    }
}

/// Waits for `thread` (if it still runs) and returns how it ended; a panic is an error.
fn join(thread: Option<JoinHandle<io::Result<()>>>, what: &str) -> io::Result<()> {
    match thread.map(JoinHandle::join) {
        Some(Ok(r)) => r,
        Some(Err(_)) => Err(io::Error::other(format!("{what} panicked"))),
        None => Ok(()),
    }
}

/// A non-blocking eventfd (what wakes the FIB thread's `poll`).
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain eventfd creation; the fd is owned below.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Runs the FIB on a dedicated blocking thread (`bgp-fib`): commands in through the returned
/// handle, reports out through `observer` (a closure `FnMut(FibEvent)` will do).
pub fn spawn(
    cfg: FibConfig,
    adopt_stale: bool,
    sock: FibSocket,
    observer: impl FibObserver,
) -> io::Result<FibHandle> {
    spawn_with(cfg, adopt_stale, sock, observer, None)
}

/// [`spawn`] for a driver in tagged mode (see [`crate::tags`]): `desired` answers the FIB's
/// questions about the prefixes' tags.
pub fn spawn_tagged(
    cfg: FibConfig,
    adopt_stale: bool,
    sock: FibSocket,
    observer: impl FibObserver,
    desired: Box<dyn crate::tags::DesiredTags>,
) -> io::Result<FibHandle> {
    spawn_with(cfg, adopt_stale, sock, observer, Some(desired))
}

fn spawn_with(
    cfg: FibConfig,
    adopt_stale: bool,
    sock: FibSocket,
    observer: impl FibObserver,
    desired: Option<Box<dyn crate::tags::DesiredTags>>,
) -> io::Result<FibHandle> {
    let wake = eventfd()?;
    if let Err(e) = sock.ignore_own_route_notifications(cfg.protocol) {
        tracing::warn!(%e, "cannot filter our own route notifications");
    }
    let (tx, rx) = mpsc::channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    let batch_bytes = cfg.max_batch_bytes;
    let mut fib = Fib::new(cfg, adopt_stale);
    if let Some(d) = desired {
        fib.set_desired_tags(d);
    }
    let writer = Writer::spawn(
        sock.request_writer()?,
        wake.try_clone()?,
        WRITER_BUFFERS,
        batch_bytes,
    )?;
    let mut t = Thread {
        fib,
        sock,
        writer,
        rx,
        waiting: Arc::clone(&waiting),
        wake: wake.try_clone()?,
        observer,
    };
    let thread = std::thread::Builder::new()
        .name("bgp-fib".into())
        .spawn(move || t.run())?;
    Ok(FibHandle {
        tx,
        waiting,
        wake,
        thread: Some(thread),
    })
}

/// The netlink writer: a thread that sends, in the order handed over, the batches the FIB
/// thread encodes (one writer keeps the kernel's order of our messages: dumps, deletes and
/// adds), and gives the buffers back for the next batches.
struct Writer {
    /// Batches to send (bounded); `None` once closed.
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    /// Buffers sent, with the time their `send` took. Disconnected: the writer failed.
    done: mpsc::Receiver<(Vec<u8>, Duration)>,
    /// Buffers back from the writer, for the next batches.
    pool: Vec<Vec<u8>>,
    /// Buffers made so far: at most `limit`, so neither channel (of that capacity) fills.
    made: usize,
    limit: usize,
    batch_bytes: usize,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Writer {
    /// Starts the writer on `fd` (the request socket's second descriptor); it holds at most
    /// `limit` buffers and wakes the FIB thread through `waker` when it fails.
    fn spawn(fd: OwnedFd, waker: OwnedFd, limit: usize, batch_bytes: usize) -> io::Result<Self> {
        // Every buffer is in the pool, handed over, being sent or in `done`: neither channel
        // holds more than the buffers made, so a hand-off never waits and the writer's
        // `try_send` never finds `done` full.
        let limit = limit.max(1);
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(limit);
        let (done_tx, done) = mpsc::sync_channel(limit);
        let thread = std::thread::Builder::new()
            .name("bgp-fib-write".into())
            .spawn(move || {
                // Ends when the FIB thread closes the hand-off (after the batches in it).
                for buf in rx {
                    let t = Instant::now();
                    if let Err(e) = send_batch(fd.as_fd(), &buf) {
                        // The FIB thread sees `done` disconnected (dropped before the wake).
                        drop(done_tx);
                        wake(&waker);
                        return Err(e);
                    }
                    let _ = done_tx.try_send((buf, t.elapsed()));
                }
                Ok(())
            })?;
        Ok(Writer {
            tx: Some(tx),
            done,
            pool: Vec::new(),
            made: 0,
            limit,
            batch_bytes,
            thread: Some(thread),
        })
    }

    /// Takes back the buffers sent, reporting each batch's time; the writer's error once it
    /// failed.
    fn collect(&mut self, observer: &mut impl FibObserver) -> io::Result<()> {
        loop {
            match self.done.try_recv() {
                Ok((buf, took)) => {
                    observer.batch_sent(took);
                    self.pool.push(buf);
                }
                Err(mpsc::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::TryRecvError::Disconnected) => return Err(self.failure()),
            }
        }
    }

    /// A buffer for the next batch: one back from the writer, a new one while fewer than
    /// `limit` exist, or else the next the writer gives back (it is sending the others).
    fn buffer(&mut self, observer: &mut impl FibObserver) -> io::Result<Vec<u8>> {
        self.collect(observer)?;
        if let Some(b) = self.pool.pop() {
            return Ok(b);
        }
        if self.made < self.limit {
            self.made += 1;
            return Ok(Vec::with_capacity(self.batch_bytes + 4096));
        }
        match self.done.recv() {
            Ok((buf, took)) => {
                observer.batch_sent(took);
                Ok(buf)
            }
            Err(mpsc::RecvError) => Err(self.failure()),
        }
    }

    /// A buffer not sent after all.
    fn put_back(&mut self, buf: Vec<u8>) {
        self.pool.push(buf);
    }

    /// Hands a batch to the writer (never waits: the hand-off has room for every buffer).
    fn send(&mut self, buf: Vec<u8>) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send(buf).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.failure())
        }
    }

    /// The writer's error, once it ended.
    fn failure(&mut self) -> io::Error {
        match self.close() {
            Err(e) => e,
            Ok(()) => io::Error::other("netlink writer ended"),
        }
    }

    /// Closes the hand-off and waits for the writer to send what is in it and end.
    fn close(&mut self) -> io::Result<()> {
        self.tx = None;
        join(self.thread.take(), "netlink writer")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

struct Thread<O> {
    fib: Fib,
    sock: FibSocket,
    writer: Writer,
    rx: mpsc::Receiver<FibCommand>,
    waiting: Arc<AtomicUsize>,
    wake: OwnedFd,
    observer: O,
}

impl<O: FibObserver> Thread<O> {
    /// Runs the turns; then (also after an error) the writer sends what it holds and ends.
    fn run(&mut self) -> io::Result<()> {
        let r = self.turns();
        let w = self.writer.close();
        r.and(w)
    }

    /// Commands in, at most [`BATCHES_PER_TURN`] netlink batches handed to the writer between
    /// two looks at them, reports out.
    fn turns(&mut self) -> io::Result<()> {
        let mut stopping = false;
        let mut failed_listed = 0;
        loop {
            let now = Instant::now();
            // Commands wait too while the queue is full (a shutdown or release only after the
            // changes before it, which is their order anyway).
            while self.fib.pending() + self.fib.in_flight() < MAX_QUEUED {
                match self.rx.try_recv() {
                    Ok(FibCommand::Changes(v)) => {
                        self.waiting.fetch_sub(1, Ordering::SeqCst);
                        v.into_iter().for_each(|c| self.fib.apply(c));
                    }
                    Ok(FibCommand::ReleaseStale) => self.fib.release_stale(now),
                    Ok(FibCommand::SetPools(p)) => self.fib.set_pools(p),
                    Ok(FibCommand::Scan) => self.fib.request_scan(now),
                    Ok(FibCommand::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                        if !stopping {
                            stopping = true;
                            self.fib.shutdown();
                        }
                        break;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            self.fib.handle_timeout(now);
            self.sock.read_notifications(&mut self.fib, now)?;
            self.sock.read_replies(&mut self.fib, now)?;
            let mut more = false;
            for _ in 0..BATCHES_PER_TURN {
                let mut buf = self.writer.buffer(&mut self.observer)?;
                more = self.fib.poll_transmit(&mut buf);
                if !more {
                    self.writer.put_back(buf);
                    break;
                }
                self.writer.send(buf)?;
                self.sock.read_replies(&mut self.fib, now)?;
            }
            // Handed to the writer is not yet in the kernel: pending until acknowledged.
            let pending = self.fib.pending() + self.fib.in_flight();
            let installed = self.fib.len().saturating_sub(pending + self.fib.failed());
            self.observer.turn(installed, pending);
            self.observer.stats(self.fib.stats());
            if let Some(v) = self.fib.take_view_update() {
                self.observer.view(Arc::new(v.clone()));
            }
            let mut outcomes = false;
            while let Some(ev) = self.fib.poll_event() {
                outcomes |= matches!(ev, FibEvent::Outcome { .. });
                ev.log();
                self.observer.event(ev);
            }
            // The refused routes whenever they change (an outcome, or a failed route no longer
            // wanted).
            if outcomes || self.fib.failed() != failed_listed {
                failed_listed = self.fib.failed();
                self.observer
                    .failures(failed_listed, self.fib.failures(FAILURES_LISTED));
            }
            if stopping && self.fib.is_idle() {
                return Ok(());
            }
            if more {
                continue;
            }
            let mut fds = vec![self.sock.request_fd(), self.wake.as_raw_fd()];
            fds.extend(self.sock.monitor_fd());
            let timeout = self
                .fib
                .poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(1))
                // At least one turn a second: a watchdog may count turns.
                .min(Duration::from_secs(1));
            wait_readable(&fds, Some(timeout))?;
            let mut drain = [0u8; 8];
            // SAFETY: reads 8 bytes from our non-blocking eventfd into a local buffer.
            unsafe {
                libc::read(
                    self.wake.as_raw_fd(),
                    drain.as_mut_ptr() as *mut libc::c_void,
                    8,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair of datagram sockets: (the writer's, the peer's).
    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two new descriptors.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        // SAFETY: fresh descriptors nobody else owns.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[derive(Default)]
    struct Count(usize);

    impl FibObserver for Count {
        fn event(&mut self, _ev: FibEvent) {}
        fn batch_sent(&mut self, _took: Duration) {
            self.0 += 1;
        }
    }

    #[test]
    fn the_writer_sends_in_the_order_handed_over_and_reuses_its_buffers() {
        let (ours, peer) = pair();
        let wake = eventfd().unwrap();
        let mut w = Writer::spawn(ours, wake.try_clone().unwrap(), 2, 64).unwrap();
        let n = 500u32;
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..n {
                // SAFETY: reads into a local buffer of its length.
                let r = unsafe {
                    libc::recv(
                        peer.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                assert!(r >= 0, "{}", io::Error::last_os_error());
                got.push(buf[..r as usize].to_vec());
            }
            got
        });
        let mut obs = Count::default();
        for i in 0..n {
            let mut b = w.buffer(&mut obs).unwrap();
            b.clear();
            b.extend_from_slice(&i.to_be_bytes());
            w.send(b).unwrap();
        }
        let got = reader.join().unwrap();
        let want: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
        assert!(got == want, "batches out of order");
        // Buffers come back: a handful made for hundreds of batches, each reported.
        assert!(w.made <= w.limit, "{} buffers made", w.made);
        assert!(obs.0 + w.made >= n as usize, "{} reported", obs.0);
        w.close().unwrap();
    }

    #[test]
    fn a_send_error_wakes_the_fib_thread_and_comes_out_of_the_writer() {
        let (ours, peer) = pair();
        drop(peer); // every send now fails (ECONNREFUSED)
        let wake = eventfd().unwrap();
        let mut w = Writer::spawn(ours, wake.try_clone().unwrap(), 2, 64).unwrap();
        let mut obs = Count::default();
        let mut b = w.buffer(&mut obs).unwrap();
        b.extend_from_slice(b"batch");
        // Handed over (or the writer already gone: then this is the error).
        let handed = w.send(b);
        let mut fds = [libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: `fds` is a valid array of one pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 1, 30_000) };
        assert_eq!(r, 1, "the writer did not wake the FIB thread");
        let e = match handed {
            Err(e) => e,
            Ok(()) => w.collect(&mut obs).unwrap_err(),
        };
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
        assert_eq!(obs.0, 0);
        // The writer has ended: nothing more is taken, and closing is not an error twice.
        assert!(w.buffer(&mut obs).and_then(|b| w.send(b)).is_err());
        assert!(w.close().is_ok());
    }
}

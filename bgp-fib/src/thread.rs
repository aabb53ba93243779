//! DOC: the FIB thread: the one place a `Fib` and its `FibSocket` run for the daemon. Changes
//! come in through [`FibHandle::try_send`], bounded: at most [`HANDOFF_DEPTH`] hand-offs wait,
//! and the thread takes no further one while more than [`MAX_QUEUED`] changes are queued in the
//! `Fib`, so a full-table load keeps the rest in the caller (who coalesces per prefix) and
//! memory stays bounded; a full channel gives the changes back. Other commands (release the
//! stale routes, new pools, a scan, stop) are never refused and keep their order after the
//! changes sent before them. An eventfd wakes the thread's `poll(2)`. What happens goes out
//! through a [`FibObserver`]: events, the kernel view when it changes, each netlink batch's
//! time, the installed/pending counts every turn (at least once a second), and the refused
//! routes whenever they change.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fib::{Fib, FibStats};
use crate::intent::{KernelView, Pool};
use crate::socket::{wait_readable, FibSocket};
use crate::types::{FailedRoute, FibChange, FibConfig, FibEvent};

/// Changes per hand-off the caller should send (at most; fewer is fine).
pub const HANDOFF_CHUNK: usize = 16 * 1024;
/// Hand-offs waiting for the thread beyond which [`FibHandle::try_send`] gives changes back.
pub const HANDOFF_DEPTH: usize = 4;
/// Changes queued in the `Fib` beyond which the thread takes no further hand-off. The `Fib`
/// sends queued changes from random positions: the more it holds, the more scattered the order
/// the kernel's trie sees (a 1M load's install order: 2,712 against 3,175 distinct /16s per
/// 16,384 routes at 64k and 256k; the baseline's unbounded queue 3,587). At most 8 octets per
/// queued route (24 per queued delete): ~2-6 MB, against the desired state's ~36 MB at 1M.
pub const MAX_QUEUED: usize = 16 * HANDOFF_CHUNK;
/// Refused routes listed to [`FibObserver::failures`] (all are counted).
pub const FAILURES_LISTED: usize = 1000;
/// Netlink batches sent between two looks at the commands.
const BATCHES_PER_TURN: usize = 8;

/// What the FIB thread reports; called on the FIB thread, so each must return quickly.
pub trait FibObserver: Send + 'static {
    /// An event of the `Fib` (forward it to a channel).
    fn event(&mut self, ev: FibEvent);
    /// The links and on-link subnets changed (published before the events of the same turn).
    fn view(&mut self, _view: Arc<KernelView>) {}
    /// One netlink batch was sent and its replies read, in `took`.
    fn batch_sent(&mut self, _took: Duration) {}
    /// End of a loop turn (at least one a second): routes installed (desired, sent and not
    /// refused) and changes waiting to be sent.
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

fn wake(fd: &OwnedFd) {
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
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("FIB thread panicked")),
            None => Ok(()),
        }
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
    // SAFETY: plain eventfd creation; the fd is owned below.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd we own.
    let wake = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Err(e) = sock.ignore_own_route_notifications(cfg.protocol) {
        tracing::warn!(%e, "cannot filter our own route notifications");
    }
    let (tx, rx) = mpsc::channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut fib = Fib::new(cfg, adopt_stale);
    if let Some(d) = desired {
        fib.set_desired_tags(d);
    }
    let mut t = Thread {
        fib,
        sock,
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

struct Thread<O> {
    fib: Fib,
    sock: FibSocket,
    rx: mpsc::Receiver<FibCommand>,
    waiting: Arc<AtomicUsize>,
    wake: OwnedFd,
    observer: O,
}

impl<O: FibObserver> Thread<O> {
    /// Commands in, at most [`BATCHES_PER_TURN`] netlink batches between two looks at them,
    /// reports out.
    fn run(&mut self) -> io::Result<()> {
        let mut stopping = false;
        let mut failed_listed = 0;
        let mut tx = Vec::new();
        loop {
            let now = Instant::now();
            // Commands wait too while the queue is full (a shutdown or release only after the
            // changes before it, which is their order anyway).
            while self.fib.pending() < MAX_QUEUED {
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
                tx.clear();
                more = self.fib.poll_transmit(&mut tx);
                if !more {
                    break;
                }
                let sent = Instant::now();
                self.sock.send_batch(&tx)?;
                self.sock.read_replies(&mut self.fib, now)?;
                self.observer.batch_sent(sent.elapsed());
            }
            let pending = self.fib.pending();
            let installed = self.fib.len().saturating_sub(pending + self.fib.failed());
            self.observer.turn(installed, pending);
            self.observer.stats(self.fib.stats());
            if let Some(v) = self.fib.take_view_update() {
                self.observer.view(Arc::new(v.clone()));
            }
            let mut outcomes = false;
            while let Some(ev) = self.fib.poll_event() {
                outcomes |= matches!(ev, FibEvent::Outcome { .. });
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

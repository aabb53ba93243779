//! DOC: a neighbour's driver without I/O: everything a connection-level driver of a
//! [`Peer`] decides (quinn-proto's `Connection` to quinn's task). The daemon's peer task waits,
//! reads, writes, connects and sends channel messages; [`PeerDriver`] says what follows:
//!
//! * inputs: an administrative request ([`Admin`]), a connection accepted or connected, a
//!   connect that failed, bytes read or the end of a connection ([`PeerDriver::read`]), a
//!   timeout, a change of the BFD session it is bound to ([`PeerDriver::handle_bfd`]: closed
//!   and held down, or started again, unless disabled; bound with [`PeerDriver::bind_bfd`]),
//!   anything else that may have produced output ([`PeerDriver::wake`]);
//! * outputs, polled in order ([`PeerDriver::poll`]): session events to log and show
//!   ([`Output::Event`]), what the RIB must learn ([`ForRib`], with the session epoch it
//!   belongs to), connections to open (with their TTL, [`TtlPolicy`]) or to close after
//!   writing what is left, the state to publish, the end of an administrative sequence;
//! * [`PeerDriver::poll_timeout`]: the session's next timer or the end of a dynamic
//!   neighbour's linger ([`Linger`]), whichever comes first.
//!
//! The process loop, per input: drain the session's events (each one's RIB hand-off,
//! [`Feed`], in order: the event, the UPDATEs batched before it, what it means for the RIB),
//! the batch left, the connection actions, then fill each connection's write buffer
//! ([`TxBuffer`]) from the Adj-RIB-Out ([`Env`]) and write what the sockets take; again while
//! anything happened, at most [`ROUNDS`] times (the session's timer is then due at once, so
//! the driver gets back to its scheduler between rounds of a long transfer). A broken
//! connection found while writing is the session's loss at once (a socket in error is always
//! writable: waiting on it would spin).
//!
//! What follows an administrative request once its NOTIFICATION is on its way
//! ([`PeerDriver::handle_admin`]): a restart starts again; a reconfiguration closes the
//! connections and asks for the new session ([`Output::Reset`]); a removal leaves the RIB; a
//! shutdown, a removal and a forgotten neighbour close their connections and end
//! ([`Output::Done`]).
//!
//! The session epoch (the daemon's, [`Env::epoch`], shared with the RIB): RIB messages carry
//! it; a session that goes down and a neighbour that leaves take the next one before the RIB
//! is told, so what is still queued of the old one is dropped by the RIB. The Adj-RIB-Out is
//! read only once the RIB applied this epoch's session Up ([`Env::rib_epoch`]), and not while
//! our own restart's recovery defers advertisements (RFC 4724 §4.1).
//!
//! Memory: the driver lives in every neighbour's task (issue 19: ≤ 4 KB an idle neighbour),
//! so it keeps no queue: an event's hand-off waits boxed (rare: only an event that changes
//! the session) and everything else is answered as it is polled.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::trim::worth_trimming;
use super::{owes_nothing, Admin, Feed, Handoff, Linger, ReadSize, ToRib, TxBuffer};
use crate::bfd::{Binding, Key, Link, Verdict};
use crate::peer::{ConnId, Peer, PeerAction};
use crate::session::{Command, Event, SourceStatus, StateKind, Stats, TtlPolicy, UpdateSource};
use crate::wire::{EncodeError, Family, Negotiated, Update};

/// The first session epoch of a new neighbour: one no earlier neighbour used (RIB source
/// slots are reused once a neighbour is removed, and a message still queued for the slot's
/// previous owner must not match its new one).
pub fn epoch_base() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1 << 32, std::sync::atomic::Ordering::Relaxed)
}

/// Rounds of the process loop after one input, at most.
pub const ROUNDS: u8 = 64;

/// One open connection: its socket (`S`, opaque here), what waits to be written on it, the
/// size of its next read.
#[derive(Debug)]
pub struct Conn<S> {
    /// The session's id of it.
    pub id: ConnId,
    /// The socket.
    pub stream: S,
    /// What the session produced and the socket has not taken yet.
    pub tx: TxBuffer,
    read_size: ReadSize,
}

/// What the driver reads of the daemon while it works: the peer's settings, its session
/// epoch (shared with the RIB, which drops the messages of older ones), its Adj-RIB-Out and
/// the sockets' writes. (Kept outside the driver: it is in every neighbour's task.)
pub trait Env<S> {
    /// The peer's current session epoch.
    fn epoch(&self) -> u64;
    /// Makes the next epoch the current one.
    fn next_epoch(&mut self);
    /// The session epoch whose session Up the RIB has applied.
    fn rib_epoch(&self) -> u64;
    /// Whether our advertisements are deferred (our restart's recovery, RFC 4724 §4.1).
    fn deferring(&self) -> bool;
    /// Writes the peer's next UPDATE (End-of-RIB markers included); false once in sync.
    fn next_update(&mut self, ctx: &Negotiated, out: &mut BytesMut) -> Result<bool, EncodeError>;
    /// How long a dynamic neighbour ([`PeerDriver::new`]) lingers once it owes nothing
    /// (asked when its wait starts: its range's setting then).
    fn forget_after(&self) -> Duration;
    /// A non-blocking write to `stream`.
    fn write(&mut self, stream: &S, buf: &[u8]) -> io::Result<usize>;
    /// A non-blocking read from `stream`, appended to `buf`.
    fn read(&mut self, stream: &S, buf: &mut Vec<u8>) -> io::Result<usize>;
}

/// What the RIB must learn from a neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForRib {
    /// Decoded UPDATEs.
    Updates(Vec<Update>),
    /// The session is established.
    Up(Arc<Negotiated>),
    /// The established session went down (`graceful`: its routes stay stale); the epoch is
    /// already the next session's.
    Down {
        /// Routes kept stale (RFC 4724 §4.2).
        graceful: bool,
    },
    /// End-of-RIB of a family.
    EndOfRib(Family),
    /// The stale routes go now.
    StaleExpired,
    /// The peer asked for our routes again (ROUTE-REFRESH).
    RefreshOut,
    /// The neighbour leaves: its routes go, its source slot is freed.
    Remove,
}

/// What the driver asks for, in order. Taken apart as it is polled, never kept (and never
/// across an await: an event's room would be in every wake-up's future), so not boxed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Output<S> {
    /// A session event to log and show (UPDATEs are not).
    Event(Event),
    /// A message for the RIB, of session `epoch`.
    Rib {
        /// The session epoch it belongs to.
        epoch: u64,
        /// The message.
        msg: ForRib,
    },
    /// Open a connection; report it with [`PeerDriver::handle_connected`] or
    /// [`PeerDriver::handle_connect_failed`].
    Connect {
        /// Its id.
        id: ConnId,
        /// The TTL to send with and the GTSM minimum (the session's, `SessionConfig::ttl`).
        ttl: TtlPolicy,
    },
    /// Write what is left on this connection (a NOTIFICATION), then close it.
    Close(Conn<S>),
    /// The peer's state changed (publish it).
    State {
        /// Before.
        from: StateKind,
        /// Now.
        to: StateKind,
        /// A session came up or went down: worth giving freed memory back.
        trim: bool,
    },
    /// A reconfiguration closed the old session: start the new one with
    /// [`PeerDriver::replace`].
    Reset,
    /// The driver is done (shut down, removed or forgotten): nothing follows.
    Done,
}

/// What follows the process loop of an administrative request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Start again.
    Restart,
    /// Close every connection, then [`Output::Reset`].
    Reconfigure,
    /// Leave the RIB, then end.
    Remove,
    /// Close every connection, then [`Output::Done`].
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Events,
    Actions,
    Transmit,
    Write,
    Publish,
    After,
    Done,
}

/// One neighbour's driver: its [`Peer`], its connections (`S`), connection attempts (`C`) and
/// attachment to a BFD session (`B`; all three opaque here), and the decisions above.
#[derive(Debug)]
pub struct PeerDriver<S, C = (), B = ()> {
    peer: Peer,
    conns: Vec<Conn<S>>,
    connecting: Vec<(ConnId, C)>,
    feed: Feed,
    linger: Linger,
    /// What the last event hands to the RIB after the event itself.
    handoff: Option<Box<Handoff>>,
    published: StateKind,
    phase: Phase,
    after: Option<After>,
    round: u8,
    progress: bool,
    /// Its routes are kept stale (its graceful restart).
    stale: bool,
    /// Administratively enabled (started, `enable`d; not `disable`d): what BFD may start.
    enabled: bool,
    /// A dynamic neighbour (see [`PeerDriver::new`]).
    dynamic: bool,
    /// The BFD session bound to it (RFC 5882) and the daemon's attachment to it, boxed: most
    /// neighbours have none.
    bfd: Option<Box<(Binding, B)>>,
}

/// The Adj-RIB-Out as the session's [`UpdateSource`].
struct Source<'a, S, E> {
    env: &'a mut E,
    /// The RIB applied this session's Up.
    ready: bool,
    refresh: &'a mut bool,
    _s: PhantomData<fn(&S)>,
}

impl<S, E: Env<S>> UpdateSource for Source<'_, S, E> {
    fn next_update(
        &mut self,
        ctx: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        // While we recover from our own restart, advertisement waits until every peer sent
        // End-of-RIB or the wait ended; the RIB then wakes the peers.
        if !self.ready || self.env.deferring() {
            return Ok(SourceStatus::Pending);
        }
        Ok(match self.env.next_update(ctx, out)? {
            true => SourceStatus::Wrote,
            false => SourceStatus::Synced,
        })
    }

    fn refresh(&mut self, _family: Family) {
        *self.refresh = true;
    }

    /// The RIB writes the End-of-RIB markers itself after its initial feed.
    fn sends_end_of_rib(&self) -> bool {
        true
    }
}

impl<S, C, B> PeerDriver<S, C, B> {
    /// A driver of `peer` (in Idle); `dynamic`: a neighbour accepted from a range, forgotten
    /// once it owes nothing ([`Env::forget_after`]).
    pub fn new(peer: Peer, dynamic: bool) -> Self {
        PeerDriver {
            peer,
            dynamic,
            conns: Vec::new(),
            connecting: Vec::new(),
            feed: Feed::default(),
            linger: Linger::default(),
            handoff: None,
            published: StateKind::Idle,
            phase: Phase::Idle,
            after: None,
            round: 0,
            progress: false,
            stale: false,
            enabled: false,
            bfd: None,
        }
    }

    /// The session (to read, or to command directly: then [`PeerDriver::wake`]).
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Whether the neighbour is administratively enabled (started and not `disable`d).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The peer's state (the most advanced of its sessions).
    pub fn state(&self) -> StateKind {
        self.peer.state()
    }

    /// Its message counters.
    pub fn stats(&self) -> Stats {
        self.peer.stats()
    }

    /// The open connections.
    pub fn conns(&self) -> &[Conn<S>] {
        &self.conns
    }

    /// Whether any connection has something to write.
    pub fn wants_write(&self) -> Option<usize> {
        self.conns.iter().position(|c| !c.tx.is_empty())
    }

    /// Connection attempt `id` ([`Output::Connect`]) is under way.
    pub fn connecting(&mut self, id: ConnId, attempt: C) {
        self.connecting.push((id, attempt));
    }

    /// The first connection attempt that finished (`poll` says so), taken out; report its
    /// result with [`PeerDriver::handle_connected`] or [`PeerDriver::handle_connect_failed`].
    pub fn poll_connecting<R>(
        &mut self,
        mut poll: impl FnMut(&mut C) -> std::task::Poll<R>,
    ) -> std::task::Poll<(ConnId, R)> {
        let done = self
            .connecting
            .iter_mut()
            .enumerate()
            .find_map(|(i, (id, c))| {
                let std::task::Poll::Ready(r) = poll(c) else {
                    return None;
                };
                Some((i, *id, r))
            });
        let Some((i, id, r)) = done else {
            return std::task::Poll::Pending;
        };
        drop(self.connecting.swap_remove(i));
        if self.connecting.is_empty() {
            self.connecting = Vec::new();
        }
        std::task::Poll::Ready((id, r))
    }

    /// The next deadline: the session's timer or the end of the linger.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.peer.poll_timeout(), self.linger.deadline()) {
            (Some(d), Some(f)) => Some(d.min(f)),
            (d, f) => d.or(f),
        }
    }

    /// Whether the driver is done ([`Output::Done`] was polled).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Something may have produced output: process.
    pub fn wake(&mut self) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Events;
            self.round = 0;
            self.progress = false;
        }
    }

    /// Starts the session.
    pub fn start(&mut self, now: Instant) {
        self.enabled = true;
        self.peer.handle_command(now, Command::Start);
        self.wake();
    }

    /// An administrative request, and what follows it once its NOTIFICATION is on its way:
    /// a restart starts again, a reconfiguration closes the connections and asks for the new
    /// session ([`Output::Reset`]), a removal leaves the RIB, a shutdown and a removal close
    /// the connections and end ([`Output::Done`]).
    pub fn handle_admin(&mut self, now: Instant, admin: Admin) {
        self.peer.handle_command(now, admin.command());
        self.enabled = admin.enabled().unwrap_or(self.enabled);
        self.after = match admin {
            Admin::Restart => Some(After::Restart),
            Admin::Reconfigure => Some(After::Reconfigure),
            Admin::Shutdown { .. } => Some(After::End),
            Admin::Remove => Some(After::Remove),
            Admin::Enable | Admin::Disable(_) => None,
        };
        self.wake();
    }

    /// The new session of a reconfiguration ([`Output::Reset`]), started unless `disabled`.
    /// The old session's connection attempts are abandoned (the new one numbers its own).
    pub fn replace(&mut self, now: Instant, peer: Peer, disabled: bool) {
        self.peer = peer;
        self.connecting = Vec::new();
        self.enabled = !disabled;
        if !disabled {
            self.peer.handle_command(now, Command::Start);
        }
        self.wake();
    }

    /// Binds the session to the BFD session of `key` whose link is `link` now, with
    /// `wait_for_up`, through the attachment `B` (kept until the next binding; the previous one
    /// is dropped once the new one is in place), or unbinds it (`None`: BFD no longer
    /// configured). New settings for the same session keep its binding and judge what the
    /// link did since the last look ([`Binding::rebind`]: a change told behind them is not
    /// lost). Otherwise a hold on BGP carries over while the new BFD session is not Up
    /// ([`Binding::replace`]), or BGP is released. The verdict is carried out.
    pub fn bind_bfd(&mut self, now: Instant, new: Option<(Key, Link, bool, B)>) -> Verdict {
        let old = self.bfd.take();
        let was_held = old.as_ref().is_some_and(|b| b.0.held);
        let v = match (old, new) {
            (Some(o), Some((key, link, wait, b))) if *o.0.key() == key => {
                let (mut binding, _previous) = *o;
                let v = binding.rebind(&link, wait);
                self.bfd = Some(Box::new((binding, b)));
                v
            }
            (_, new) => {
                let link = new.as_ref().map(|(_, link, _, _)| *link);
                self.bfd =
                    new.map(|(k, link, wait, b)| Box::new((Binding::new(k, &link, wait), b)));
                let binding = self.bfd.as_deref_mut().map(|(b, _)| b);
                match Binding::replace(was_held, binding.zip(link.as_ref())) {
                    true => Verdict::Release,
                    false => Verdict::Nothing,
                }
            }
        };
        let held = self.bfd.as_ref().is_some_and(|b| b.0.held);
        v.apply(&mut self.peer, now, held, self.enabled);
        self.wake();
        v
    }

    /// Whether the session is bound to a BFD session.
    pub fn bfd_bound(&self) -> bool {
        self.bfd.is_some()
    }

    /// The link of the BFD session of `key` changed: what it means for BGP, if that is the
    /// session bound ([`Binding::verdict`]), carried out ([`Verdict::apply`]: closed with
    /// Cease 10 and held down or restarted; started again when released, unless disabled).
    pub fn handle_bfd(&mut self, now: Instant, key: &Key, link: &Link) -> Verdict {
        let Some((b, _)) = self.bfd.as_deref_mut().filter(|(b, _)| b.key() == key) else {
            return Verdict::Nothing;
        };
        let v = b.verdict(link);
        v.apply(&mut self.peer, now, b.held, self.enabled);
        self.wake();
        v
    }

    /// Asks the peer for its routes again.
    pub fn request_refresh(&mut self, now: Instant) {
        self.peer.request_refresh(now);
        self.wake();
    }

    /// The peer connected to us: the connection, if the session takes it (else it is
    /// dropped).
    pub fn handle_incoming(&mut self, now: Instant, stream: S) -> Option<&S> {
        self.wake();
        let id = self.peer.handle_incoming(now)?;
        self.add(id, stream)
    }

    /// Our connection `id` is up: the connection, if still wanted (else it is dropped).
    pub fn handle_connected(&mut self, now: Instant, id: ConnId, stream: S) -> Option<&S> {
        self.wake();
        if !self.peer.handle_connected(now, id) {
            return None;
        }
        self.add(id, stream)
    }

    /// Our connection attempt `id` failed.
    pub fn handle_connect_failed(&mut self, now: Instant, id: ConnId) {
        self.peer.handle_disconnected(now, id);
        self.wake();
    }

    fn add(&mut self, id: ConnId, stream: S) -> Option<&S> {
        // At most two connections, usually one: no room for four kept (0.36 KB each peer).
        self.conns.reserve_exact(1);
        self.conns.push(Conn {
            id,
            stream,
            tx: TxBuffer::default(),
            read_size: ReadSize::default(),
        });
        self.conns.last().map(|c| &c.stream)
    }

    /// Reads once from connection `i` (found readable) with [`Env::read`]: the bytes go to
    /// the session, the end of the stream or an error to its loss. No buffer is kept between
    /// reads: an established session that only gets a KEEPALIVE now and then holds none.
    pub fn read(&mut self, now: Instant, i: usize, env: &mut impl Env<S>) {
        self.wake();
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        let id = c.id;
        let mut buf = Vec::with_capacity(c.read_size.get());
        match env.read(&c.stream, &mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(0) | Err(_) => self.closed(now, id),
            Ok(n) => {
                c.read_size.read(n);
                self.peer.handle_bytes(now, id, &buf);
            }
        }
    }

    /// The session's timers at `now`. True when the linger of a dynamic neighbour that owes
    /// nothing ended: the driver forgets it ([`PeerDriver::forget`]) unless a request came
    /// meanwhile.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        // Only a dynamic neighbour lingers.
        if self.linger.expired(now) {
            return owes_nothing(self.peer.state(), self.conns.len(), self.stale);
        }
        self.peer.handle_timeout(now);
        self.wake();
        false
    }

    /// The driver stops (its task's handle is gone): its connections close, then it is done.
    pub fn end(&mut self) {
        self.after = Some(After::End);
        self.phase = Phase::After;
    }

    /// The neighbour leaves: it leaves the RIB, then the driver is done.
    pub fn forget(&mut self) {
        self.after = Some(After::Remove);
        self.phase = Phase::After;
    }

    fn closed(&mut self, now: Instant, id: ConnId) {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            drop(self.conns.swap_remove(i));
            self.peer.handle_disconnected(now, id);
        }
    }

    fn rib(msg: ForRib, env: &impl Env<S>) -> Output<S> {
        Output::Rib {
            epoch: env.epoch(),
            msg,
        }
    }

    /// The next output; `None`: nothing until the next input or timeout.
    pub fn poll(&mut self, now: Instant, env: &mut impl Env<S>) -> Option<Output<S>> {
        loop {
            if let Some(o) = self.poll_handoff(env) {
                return Some(o);
            }
            match self.phase {
                Phase::Idle => {
                    let idle = self.dynamic
                        && owes_nothing(self.peer.state(), self.conns.len(), self.stale);
                    self.linger.update(now, idle, || env.forget_after());
                    return None;
                }
                Phase::Done => return None,
                Phase::Events => {
                    if let Some(ev) = self.peer.poll_event() {
                        self.progress = true;
                        match self.event(ev, env) {
                            Some(o) => return Some(o),
                            None => continue,
                        }
                    }
                    self.phase = Phase::Actions;
                    if let Some(u) = self.feed.flush() {
                        return Some(Self::rib(ForRib::Updates(u), env));
                    }
                }
                Phase::Actions => match self.peer.poll_action() {
                    Some(a) => {
                        self.progress = true;
                        if let Some(o) = self.action(a) {
                            return Some(o);
                        }
                    }
                    None => self.phase = Phase::Transmit,
                },
                Phase::Transmit => {
                    let mut refresh = false;
                    self.progress |= self.transmit(now, env, &mut refresh);
                    self.phase = Phase::Write;
                    if refresh {
                        return Some(Self::rib(ForRib::RefreshOut, env));
                    }
                }
                Phase::Write => {
                    self.progress |= self.write(now, env);
                    self.round = self.round.saturating_add(1);
                    self.phase = match self.progress && self.round < ROUNDS {
                        true => Phase::Events,
                        false => Phase::Publish,
                    };
                    self.progress = false;
                }
                Phase::Publish => {
                    self.phase = Phase::After;
                    let to = self.peer.state();
                    if to != self.published {
                        let from = std::mem::replace(&mut self.published, to);
                        let trim = worth_trimming(from, to);
                        return Some(Output::State { from, to, trim });
                    }
                }
                Phase::After => {
                    if let Some(o) = self.after(now, env) {
                        return Some(o);
                    }
                }
            }
        }
    }

    /// An event: UPDATEs go to the batch (a full batch to the RIB); any other is shown first,
    /// then its hand-off follows.
    fn event(&mut self, ev: Event, env: &impl Env<S>) -> Option<Output<S>> {
        if let Event::Update(_) = ev {
            let u = self.feed.handle(ev).updates?;
            return Some(Self::rib(ForRib::Updates(u), env));
        }
        match &ev {
            Event::Down(d) if d.was_established() => self.stale = !d.keep_stale.is_empty(),
            Event::EndOfRib(_) | Event::StaleRoutesExpired(_) => self.stale = false,
            _ => {}
        }
        let h = self.feed.handle(ev.clone());
        if h.updates.is_some() || h.then.is_some() {
            self.handoff = Some(Box::new(h));
        }
        Some(Output::Event(ev))
    }

    /// The rest of an event's hand-off, in order: the UPDATEs before it, then the event's.
    fn poll_handoff(&mut self, env: &mut impl Env<S>) -> Option<Output<S>> {
        let h = self.handoff.as_mut()?;
        if let Some(u) = h.updates.take() {
            return Some(Self::rib(ForRib::Updates(u), env));
        }
        let then = h.then.take();
        self.handoff = None;
        let msg = match then? {
            ToRib::Up(n) => ForRib::Up(n),
            ToRib::Down { graceful } => {
                // Messages of this session still queued are dropped by the RIB from now on.
                env.next_epoch();
                ForRib::Down { graceful }
            }
            ToRib::EndOfRib(f) => ForRib::EndOfRib(f),
            ToRib::StaleExpired => ForRib::StaleExpired,
        };
        Some(Self::rib(msg, env))
    }

    fn action(&mut self, a: PeerAction) -> Option<Output<S>> {
        match a {
            PeerAction::Connect(id) => {
                let ttl = self.peer.config().ttl;
                Some(Output::Connect { id, ttl })
            }
            PeerAction::Close(id) => {
                let i = self.conns.iter().position(|c| c.id == id)?;
                Some(Output::Close(self.conns.swap_remove(i)))
            }
        }
    }

    /// Pulls messages while the write buffers have room; whether anything was produced.
    fn transmit(&mut self, now: Instant, env: &mut impl Env<S>, refresh: &mut bool) -> bool {
        let ready = env.rib_epoch() == env.epoch();
        let mut any = false;
        for c in &mut self.conns {
            let mut src = Source {
                env: &mut *env,
                ready,
                refresh: &mut *refresh,
                _s: PhantomData,
            };
            any |= c.tx.fill(now, &mut self.peer, c.id, &mut src);
        }
        any
    }

    /// Writes what the sockets take; whether a connection was found broken (what is queued
    /// on it can never leave, and the session learns of the loss now).
    fn write(&mut self, now: Instant, env: &mut impl Env<S>) -> bool {
        let mut broken = Vec::new();
        for c in &mut self.conns {
            while !c.tx.is_empty() {
                match env.write(&c.stream, c.tx.pending()) {
                    Ok(0) => break,
                    Ok(n) => c.tx.written(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.tx.discard();
                        broken.push(c.id);
                        break;
                    }
                }
            }
        }
        let any = !broken.is_empty();
        for id in broken {
            self.closed(now, id);
        }
        any
    }

    /// What follows an administrative request's process loop.
    fn after(&mut self, now: Instant, env: &mut impl Env<S>) -> Option<Output<S>> {
        match self.after {
            None => {
                self.phase = Phase::Idle;
                None
            }
            Some(After::Restart) => {
                self.after = None;
                self.peer.handle_command(now, Command::Start);
                self.phase = Phase::Idle;
                self.wake();
                None
            }
            Some(After::Remove) => {
                env.next_epoch();
                self.after = Some(After::End);
                Some(Self::rib(ForRib::Remove, env))
            }
            Some(a @ (After::Reconfigure | After::End)) => {
                if let Some(c) = self.conns.pop() {
                    return Some(Output::Close(c));
                }
                self.after = None;
                if a == After::End {
                    self.phase = Phase::Done;
                    return Some(Output::Done);
                }
                self.phase = Phase::Idle;
                Some(Output::Reset)
            }
        }
    }
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;

//! DOC: one BGP connection's finite state machine (RFC 4271 §8): states with their data, timers
//! as deadlines, OPEN exchange and capability negotiation, UPDATE intake (RFC 7606 outcomes,
//! max-prefix), graceful restart helper and restarting-speaker duties (RFC 4724, RFC 8538),
//! route refresh (RFC 2918, RFC 7313), administrative shutdown (RFC 4486, RFC 9003), and
//! pull-based sending.
//!
//! # The sans-IO contract
//!
//! A [`Session`] owns no socket, no clock and no task. The driver (the `bgpd` peer task, a test,
//! a fuzzer) feeds it inputs and collects its outputs:
//!
//! * **Inputs**, each with the current time `now`: [`Session::handle_command`] (start, stop with
//!   a shutdown communication, route refresh), [`Session::handle_connected`] (a TCP connection,
//!   outgoing or incoming, is up), [`Session::handle_bytes`] (bytes read from it),
//!   [`Session::handle_disconnected`] (it closed or the connection attempt failed) and
//!   [`Session::handle_timeout`] (a deadline may have passed; spurious or repeated calls are
//!   no-ops).
//! * **Outputs**: [`Session::poll_action`] (open or close the connection),
//!   [`Session::poll_event`] (what the owner — the RIB, the CLI — must learn),
//!   [`Session::poll_transmit`] (the next message to write, built only when the driver can
//!   write: NOTIFICATION first, then KEEPALIVE, OPEN, ROUTE-REFRESH, then UPDATEs pulled one at a
//!   time from the owner's [`UpdateSource`], then End-of-RIB) and [`Session::poll_timeout`] (when
//!   to call `handle_timeout` next; `now` while output is pending).
//! * **The driver's loop**: one input, then drain `poll_event` and `poll_action`, then
//!   `poll_transmit` until it returns `false` or the socket is full, then sleep until
//!   `poll_timeout` or the next input. Because UPDATEs are built only inside `poll_transmit`,
//!   a slow peer slows the pull from the Adj-RIB-Out instead of growing a queue: nothing in a
//!   session is unbounded. Events are drained before transmitting so that a route refresh is
//!   seen by the owner before its answer is pulled.
//!
//! State data lives inside the state: the negotiated context ([`Negotiated`]) exists only in
//! OpenConfirm and Established, so nothing can use it before the OPENs were exchanged.
//!
//! Bytes are framed as they arrive; each complete message is copied out of the receive buffer
//! before decoding, so decoded values never pin a large read buffer, and the buffer is released
//! whenever it is empty (an idle session holds no receive memory).
//!
//! Deviations from the letter of RFC 4271 §8, all as BIRD and FRR do it: a failed outgoing
//! connection moves to Active and retries when ConnectRetry expires (rather than to Idle); the
//! first attempt after a start waits `connect_delay` in Active; errors after OpenSent restart
//! automatically after an exponentially growing IdleHold (`error_wait`); any message received in
//! Established restarts the HoldTimer.

mod config;
mod event;
mod timer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use config::{ConfigError, GracefulRestartConfig, MaxPrefix, SessionConfig};
pub use event::{
    Action, Command, Down, DownReason, Event, NoUpdates, SourceStatus, StateKind, UpdateSource,
};
pub use timer::Timer;
use timer::Timers;

use crate::wire::header::MessageType;
use crate::wire::notification::cease;
use crate::wire::{
    encode_keepalive, frame, DecodeError, Family, Message, Negotiated, Nlri, Notification, Open,
    OpenCheck, RefreshSubtype, RouteRefresh, Update, MAX_MESSAGE_LEN,
};

/// A receive buffer larger than this is released once empty.
const RX_KEEP: usize = 8 * 1024;
/// Complete messages are copied out of the input in chunks of about this size.
const COPY_CHUNK: usize = 16 * 1024;

/// Per-state data (RFC 4271 §8.2.2).
#[derive(Debug)]
enum State {
    Idle,
    /// `connected`: a TCP connection is up and DelayOpen is running.
    Connect {
        connected: bool,
    },
    Active {
        connected: bool,
    },
    OpenSent,
    OpenConfirm(Box<OpenConfirm>),
    Established(Box<Established>),
}

#[derive(Debug)]
struct OpenConfirm {
    negotiated: Negotiated,
    keepalive: Option<Duration>,
}

#[derive(Debug)]
struct PrefixLimit {
    limit: MaxPrefix,
    seen: HashSet<Nlri>,
}

#[derive(Debug)]
struct Established {
    negotiated: Negotiated,
    keepalive: Option<Duration>,
    limits: Vec<PrefixLimit>,
    /// Families we owe an End-of-RIB once the source has sent the initial table.
    eor_to_send: Vec<Family>,
    /// ROUTE-REFRESH requests we are to send.
    refresh_requests: Vec<Family>,
    /// The peer's refresh requests we are to answer.
    refresh_answers: Vec<Family>,
    /// Families whose Beginning-of-Route-Refresh went out; End-of-Route-Refresh follows when the
    /// source is synced.
    eorr_to_send: Vec<Family>,
}

/// What outlives one connection: automatic restart, the error back-off, graceful restart stale
/// families.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    /// Restart automatically after errors (set by Start, cleared by Stop).
    auto_start: bool,
    /// One connection only (a [`crate::peer::Peer`]'s second, colliding connection): never
    /// restart, never connect out.
    one_shot: bool,
    /// Consecutive errors, for the IdleHold back-off.
    errors: u32,
    last_error: Option<Instant>,
    /// Graceful restart helper: families whose routes from the peer are kept stale.
    stale: Vec<Family>,
    /// Jittered delays drawn so far.
    jitter_seq: u64,
}

#[derive(Debug, Default)]
struct Pending {
    notification: Option<Notification>,
    open: bool,
    keepalive: bool,
}

enum Restart {
    Backoff,
    /// The peer dropped the session: at once when it is restarting gracefully (the routes are
    /// kept stale, RFC 4724 §4.2), else [`Restart::Backoff`].
    PeerGone,
    /// Start again at once (a restarting peer may reconnect).
    Now,
    After(Duration),
    Never,
}

/// Whether the peer ended the session the way a restarting GR speaker does: its TCP connection
/// closed without NOTIFICATION, or (RFC 8538, N bit) a Cease/Administrative Shutdown or Reset
/// that is not a Hard Reset, as bgpd's own graceful stop sends.
fn peer_restarting(reason: &DownReason) -> bool {
    match reason {
        DownReason::ConnectionClosed => true,
        DownReason::NotificationReceived(n) => {
            n.code == 6 && (n.subcode == cease::ADMIN_SHUTDOWN || n.subcode == cease::ADMIN_RESET)
        }
        DownReason::NotificationSent(_) => false,
    }
}

/// One BGP connection's state machine. See the module documentation for the contract.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    local_open: Open,
    state: State,
    timers: Timers,
    life: Lifecycle,
    rx: BytesMut,
    tx: Pending,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    now: Option<Instant>,
}

impl Session {
    /// A session in Idle. Nothing happens until [`Command::Start`].
    pub fn new(config: SessionConfig) -> Result<Session, ConfigError> {
        config.validate()?;
        Ok(Session::with_config(Arc::new(config)))
    }

    pub(crate) fn with_config(config: Arc<SessionConfig>) -> Session {
        Session {
            local_open: config.open(),
            config,
            state: State::Idle,
            timers: Timers::default(),
            life: Lifecycle::default(),
            rx: BytesMut::new(),
            tx: Pending::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            now: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> StateKind {
        match self.state {
            State::Idle => StateKind::Idle,
            State::Connect { .. } => StateKind::Connect,
            State::Active { .. } => StateKind::Active,
            State::OpenSent => StateKind::OpenSent,
            State::OpenConfirm(_) => StateKind::OpenConfirm,
            State::Established(_) => StateKind::Established,
        }
    }

    /// The negotiated context, in OpenConfirm and Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        match &self.state {
            State::OpenConfirm(o) => Some(&o.negotiated),
            State::Established(e) => Some(&e.negotiated),
            _ => None,
        }
    }

    /// The peer's BGP identifier, once its OPEN was accepted.
    pub fn peer_id(&self) -> Option<Ipv4Addr> {
        self.negotiated().map(|n| n.peer_id)
    }

    /// Whether a TCP connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.state,
            State::Connect { connected: true }
                | State::Active { connected: true }
                | State::OpenSent
                | State::OpenConfirm(_)
                | State::Established(_)
        )
    }

    /// Whether the session waits for a connection (Active, or Connect with an attempt pending)
    /// and would take an incoming one.
    pub fn is_waiting_for_connection(&self) -> bool {
        matches!(
            self.state,
            State::Connect { connected: false } | State::Active { connected: false }
        )
    }

    /// Graceful restart helper: the families whose routes from the peer are currently kept
    /// stale.
    pub fn stale_families(&self) -> &[Family] {
        &self.life.stale
    }

    /// When the given timer fires, if it runs.
    pub fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers.get(t)
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// An administrative command (RFC 4271 §8.1.2).
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        self.now = Some(now);
        match cmd {
            Command::Start => {
                if self.life.one_shot {
                    return;
                }
                self.life.auto_start = true;
                self.life.errors = 0;
                if matches!(self.state, State::Idle) {
                    self.timers.stop(Timer::IdleHold);
                    self.start(now);
                }
            }
            Command::Stop { .. } | Command::GracefulStop { .. } => {
                self.life.auto_start = false;
                self.life.errors = 0;
                self.timers.stop(Timer::IdleHold);
                self.timers.stop(Timer::ConnectRetry);
                self.timers.stop(Timer::DelayOpen);
                match (self.state(), cmd) {
                    (StateKind::Established, Command::GracefulStop { message }) => {
                        if self.n_bit() {
                            let n = Notification::shutdown(cease::ADMIN_SHUTDOWN, &message);
                            self.close(now, DownReason::NotificationSent(n), Restart::Never, true);
                        } else {
                            self.close(now, DownReason::ConnectionClosed, Restart::Never, true);
                        }
                    }
                    (
                        StateKind::OpenSent | StateKind::OpenConfirm | StateKind::Established,
                        Command::Stop { subcode, message },
                    ) => {
                        let n = self.cease(subcode, &message);
                        self.close(now, DownReason::NotificationSent(n), Restart::Never, true);
                    }
                    (
                        StateKind::OpenSent | StateKind::OpenConfirm,
                        Command::GracefulStop { message },
                    ) => {
                        let n = Notification::shutdown(cease::ADMIN_SHUTDOWN, &message);
                        self.close(now, DownReason::NotificationSent(n), Restart::Never, true);
                    }
                    (StateKind::OpenSent | StateKind::OpenConfirm | StateKind::Established, _) => {}
                    (StateKind::Connect | StateKind::Active, _) => {
                        // A pending attempt or a DelayOpen connection is abandoned silently.
                        if self.is_connected() || self.state() == StateKind::Connect {
                            self.actions.push_back(Action::Close);
                        }
                        self.set_state(State::Idle);
                    }
                    (StateKind::Idle, _) => {}
                }
                // Stopped for good: kept stale routes go too.
                self.expire_stale();
            }
            Command::RouteRefresh(family) => {
                if let State::Established(e) = &mut self.state {
                    // RFC 2918 §3: "A BGP speaker may send a ROUTE-REFRESH message to its peer
                    // only if it has received the Route Refresh Capability from its peer."
                    if (e.negotiated.route_refresh || e.negotiated.enhanced_route_refresh)
                        && e.negotiated.has_family(family)
                        && !e.refresh_requests.contains(&family)
                    {
                        e.refresh_requests.push(family);
                    }
                }
            }
        }
    }

    /// A TCP connection is up: ours completed (after [`Action::Connect`]) or the peer's was
    /// accepted. Returns `false` when the session has no use for a connection now (the driver
    /// closes it).
    pub fn handle_connected(&mut self, now: Instant) -> bool {
        self.now = Some(now);
        let (connect, active) = match self.state {
            State::Connect { connected: false } => (true, false),
            State::Active { connected: false } => (false, true),
            _ => return false,
        };
        let _ = active;
        self.timers.stop(Timer::ConnectRetry);
        self.tx = Pending::default();
        self.rx = BytesMut::new();
        match self.config.delay_open {
            // RFC 4271 §8.2.2: "If the DelayOpen attribute is set to TRUE, the local system:
            // - stops the ConnectRetryTimer (if running) and sets the ConnectRetryTimer to
            // zero, - sets the DelayOpenTimer to the initial value".
            Some(d) => {
                self.timers.set(Timer::DelayOpen, now + d);
                self.set_state(if connect {
                    State::Connect { connected: true }
                } else {
                    State::Active { connected: true }
                });
            }
            None => self.send_open(now),
        }
        true
    }

    /// The TCP connection closed, or the connection attempt failed.
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.now = Some(now);
        match self.state() {
            StateKind::Idle => {}
            StateKind::Connect | StateKind::Active => {
                self.timers.stop(Timer::DelayOpen);
                self.rx = BytesMut::new();
                if self.life.one_shot {
                    self.set_state(State::Idle);
                } else {
                    self.enter_active(now);
                }
            }
            StateKind::OpenSent => {
                // RFC 4271 §8.2.2 (OpenSent): "If a TcpConnectionFails event (Event 18) is
                // received, the local system: closes the BGP connection, restarts the
                // ConnectRetryTimer, continues to listen for a connection that may be initiated
                // by the remote BGP peer, and changes its state to Active."
                self.timers.stop(Timer::Hold);
                self.tx = Pending::default();
                self.rx = BytesMut::new();
                self.events.push_back(Event::Down(Down {
                    reason: DownReason::ConnectionClosed,
                    from: StateKind::OpenSent,
                    keep_stale: Vec::new(),
                }));
                if self.life.one_shot {
                    self.set_state(State::Idle);
                } else {
                    self.enter_active(now);
                }
            }
            StateKind::OpenConfirm | StateKind::Established => {
                self.close(now, DownReason::ConnectionClosed, Restart::PeerGone, false);
            }
        }
    }

    /// Bytes read from the connection. Complete messages are handled at once; a partial one is
    /// kept until the rest arrives.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        self.now = Some(now);
        if !self.is_connected() {
            return;
        }
        if self.rx.is_empty() {
            // The common case: frame straight from the caller's buffer, keep only the tail.
            let used = self.process(now, data);
            if self.is_connected() {
                self.rx
                    .extend_from_slice(data.get(used..).unwrap_or_default());
            }
        } else {
            self.rx.extend_from_slice(data);
            let buf = std::mem::take(&mut self.rx);
            let used = self.process(now, &buf);
            if self.is_connected() {
                let rest = buf.get(used..).unwrap_or_default();
                if buf.capacity() > RX_KEEP && rest.len() <= RX_KEEP {
                    self.rx = BytesMut::from(rest);
                } else {
                    let mut buf = buf;
                    let _ = buf.split_to(used.min(buf.len()));
                    self.rx = buf;
                }
            }
        }
        if self.rx.is_empty() && self.rx.capacity() > 0 {
            self.rx = BytesMut::new();
        }
    }

    /// Fires every timer whose deadline is at or before `now`. Calling it early, or twice, does
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        // Bounded: a timer re-armed at `now` fires on the next call, not in a loop here.
        for _ in 0..Timer::ALL.len() {
            let Some(t) = self.timers.take_expired(now) else {
                break;
            };
            self.on_timer(now, t);
        }
    }

    // ---- outputs ---------------------------------------------------------------------------

    /// Appends the next message to send to `out` and returns `true`, or returns `false` when
    /// there is nothing to send now. Call only when the connection can take more bytes; UPDATEs
    /// are pulled from `source` one at a time, only in Established.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut BytesMut,
        source: &mut dyn UpdateSource,
    ) -> bool {
        let start = out.len();
        if let Some(n) = self.tx.notification.take() {
            // RFC 4271 §4.5: "The BGP connection is closed immediately after it is sent."
            if n.encode(out).is_err() {
                out.truncate(start);
            }
            self.actions.push_back(Action::Close);
            return out.len() > start;
        }
        if !self.is_connected() {
            return false;
        }
        let ka = self.keepalive_period();
        // KEEPALIVE has priority over everything but NOTIFICATION, except that it must not
        // overtake our own OPEN (DelayOpen answers with OPEN then KEEPALIVE).
        if self.tx.keepalive && !self.tx.open {
            self.tx.keepalive = false;
            if encode_keepalive(out).is_err() {
                out.truncate(start);
                return false;
            }
            self.rearm_keepalive(now, ka);
            return true;
        }
        if self.tx.open {
            self.tx.open = false;
            if self.local_open.encode(out).is_err() {
                out.truncate(start);
                return false;
            }
            return true;
        }
        let State::Established(est) = &mut self.state else {
            return false;
        };
        if let Some(f) = est.refresh_requests.pop() {
            if RouteRefresh::request(f).encode(out).is_err() {
                out.truncate(start);
            }
            return out.len() > start;
        }
        while let Some(f) = est.refresh_answers.pop() {
            source.refresh(f);
            if est.negotiated.enhanced_route_refresh {
                // RFC 7313 §4: the re-advertisement answering a request is framed by a
                // Beginning-of-RIB-Refresh before it and an End-of-RIB-Refresh after it.
                let borr = RouteRefresh {
                    family: f,
                    subtype: RefreshSubtype::BeginningOfRefresh,
                };
                if !est.eorr_to_send.contains(&f) {
                    est.eorr_to_send.push(f);
                }
                if borr.encode(out).is_err() {
                    out.truncate(start);
                }
                return out.len() > start;
            }
        }
        match source.next_update(&est.negotiated, out) {
            Ok(SourceStatus::Wrote) if out.len() > start => {
                // RFC 4271 §8.2.2: "Each time the local system sends a KEEPALIVE or UPDATE
                // message, it restarts its KeepaliveTimer".
                self.rearm_keepalive(now, ka);
                true
            }
            Ok(SourceStatus::Wrote | SourceStatus::Pending) => {
                out.truncate(start);
                false
            }
            Ok(SourceStatus::Synced) => {
                out.truncate(start);
                if source.sends_end_of_rib() {
                    est.eor_to_send.clear();
                }
                if !est.eor_to_send.is_empty() {
                    // RFC 4724 §2: "the generation of such a marker upon completion of the
                    // initial update would be useful for routing convergence in general, and
                    // thus the practice is recommended."
                    let f = est.eor_to_send.remove(0);
                    if Update::end_of_rib(f).encode(&est.negotiated, out).is_err() {
                        out.truncate(start);
                        return false;
                    }
                    self.rearm_keepalive(now, ka);
                    return true;
                }
                if let Some(f) = est.eorr_to_send.pop() {
                    let eorr = RouteRefresh {
                        family: f,
                        subtype: RefreshSubtype::EndOfRefresh,
                    };
                    if eorr.encode(out).is_err() {
                        out.truncate(start);
                    }
                    return out.len() > start;
                }
                false
            }
            Err(e) => {
                out.truncate(start);
                self.events.push_back(Event::SourceError(e));
                false
            }
        }
    }

    /// The next event for the owner.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next thing the driver must do with the connection.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`Session::handle_timeout`]: the earliest deadline, or the last `now` seen
    /// while events, actions or protocol messages are waiting to be polled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = !self.events.is_empty()
            || !self.actions.is_empty()
            || self.tx.notification.is_some()
            || (self.is_connected() && (self.tx.open || self.tx.keepalive));
        match (pending, self.now) {
            (true, Some(now)) => Some(now),
            _ => self.timers.next(),
        }
    }

    // ---- crate-internal, for Peer -----------------------------------------------------------

    /// Makes this session a single-connection one that never restarts.
    pub(crate) fn set_one_shot(&mut self) {
        self.life.one_shot = true;
        self.life.auto_start = false;
        self.timers.stop(Timer::IdleHold);
        self.timers.stop(Timer::ConnectRetry);
    }

    /// Moves `other`'s lifecycle (automatic restart, back-off, graceful restart stale state)
    /// into this session and makes `other` one-shot.
    pub(crate) fn adopt_lifecycle(&mut self, other: &mut Session) {
        std::mem::swap(&mut self.life, &mut other.life);
        self.life.one_shot = false;
        for t in [Timer::GracefulRestart, Timer::StaleRoutes] {
            match other.timers.get(t) {
                Some(d) => self.timers.set(t, d),
                None => self.timers.stop(t),
            }
            other.timers.stop(t);
        }
        other.life = Lifecycle {
            one_shot: true,
            ..Lifecycle::default()
        };
        other.set_one_shot();
    }

    /// Takes the state machine from Idle to waiting for an incoming connection (Active), for a
    /// one-shot session about to be handed an accepted connection.
    pub(crate) fn accept_mode(&mut self, now: Instant) {
        self.now = Some(now);
        if matches!(self.state, State::Idle) {
            self.set_state(State::Active { connected: false });
        }
    }

    /// Closes with Cease (collision resolution, RFC 4271 §6.8).
    pub(crate) fn cease_now(&mut self, now: Instant, subcode: u8) {
        self.now = Some(now);
        if matches!(
            self.state,
            State::OpenSent | State::OpenConfirm(_) | State::Established(_)
        ) {
            self.close(
                now,
                DownReason::NotificationSent(Notification::cease(subcode)),
                Restart::Backoff,
                true,
            );
        } else if self.is_connected() {
            self.actions.push_back(Action::Close);
            self.set_state(State::Idle);
        }
    }

    /// Drops an Established connection as if its TCP connection had failed (graceful restart
    /// applies), closing it.
    pub(crate) fn reset_connection(&mut self, now: Instant) {
        self.now = Some(now);
        if self.is_connected() {
            self.close(now, DownReason::ConnectionClosed, Restart::Backoff, true);
        }
    }

    /// Gives up whatever connection or attempt this (one-shot) session has, silently.
    pub(crate) fn abandon(&mut self, now: Instant) {
        self.now = Some(now);
        match self.state() {
            StateKind::Idle => {}
            StateKind::Connect | StateKind::Active => {
                if self.is_connected() || self.state() == StateKind::Connect {
                    self.actions.push_back(Action::Close);
                }
                self.timers.stop(Timer::DelayOpen);
                self.set_state(State::Idle);
            }
            _ => self.cease_now(now, cease::COLLISION),
        }
    }

    /// Whether anything is left to poll.
    pub(crate) fn has_output(&self) -> bool {
        !self.events.is_empty() || !self.actions.is_empty() || self.tx.notification.is_some()
    }

    // ---- internals -------------------------------------------------------------------------

    fn set_state(&mut self, new: State) {
        let from = self.state();
        self.state = new;
        let to = self.state();
        if from != to {
            self.events.push_back(Event::StateChanged { from, to });
        }
    }

    /// Automatic or manual start from Idle.
    fn start(&mut self, now: Instant) {
        if self.config.passive {
            // RFC 4271 §8.2.2 (Idle), passive: "changes its state to Active" and listens.
            self.set_state(State::Active { connected: false });
        } else if self.config.connect_delay.is_zero() {
            self.connect_now(now);
        } else {
            self.set_state(State::Active { connected: false });
            let d = self.jittered(self.config.connect_delay);
            self.timers.set(Timer::ConnectRetry, now + d);
        }
    }

    fn connect_now(&mut self, now: Instant) {
        self.set_state(State::Connect { connected: false });
        self.actions.push_back(Action::Connect);
        let d = self.jittered(self.config.connect_retry);
        self.timers.set(Timer::ConnectRetry, now + d);
    }

    fn enter_active(&mut self, now: Instant) {
        self.set_state(State::Active { connected: false });
        if !self.config.passive && !self.life.one_shot {
            let d = self.jittered(self.config.connect_retry);
            self.timers.set(Timer::ConnectRetry, now + d);
        }
    }

    /// `d` scaled by a factor in [0.75, 1] when [`SessionConfig::jitter`] is on (RFC 4271
    /// §10), else `d`. The factor comes from a hash of the local identifier and a counter:
    /// deterministic for one speaker, different between two.
    fn jittered(&mut self, d: Duration) -> Duration {
        if !self.config.jitter {
            return d;
        }
        self.life.jitter_seq = self.life.jitter_seq.wrapping_add(1);
        let mut x = u64::from(u32::from(self.config.local_id))
            ^ self.life.jitter_seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        // 768..=1023 of 1024.
        let k = 768 + (x % 256) as u32;
        d * k / 1024
    }

    fn send_open(&mut self, now: Instant) {
        self.tx.open = true;
        // RFC 4271 §8.2.2: "sets its HoldTimer to a large value" ... "A HoldTimer value of 4
        // minutes is suggested."
        self.timers
            .set(Timer::Hold, now + self.config.open_hold_time);
        self.set_state(State::OpenSent);
    }

    fn keepalive_period(&self) -> Option<Duration> {
        match &self.state {
            State::OpenConfirm(o) => o.keepalive,
            State::Established(e) => e.keepalive,
            _ => None,
        }
    }

    fn rearm_keepalive(&mut self, now: Instant, ka: Option<Duration>) {
        if let Some(ka) = ka {
            self.timers.set(Timer::Keepalive, now + ka);
        }
    }

    /// The keepalive interval for a negotiated hold time, `None` when it is 0.
    fn keepalive_for(&self, hold: u16) -> Option<Duration> {
        // RFC 4271 §4.4: "If the negotiated Hold Time interval is zero, then periodic KEEPALIVE
        // messages MUST NOT be sent." and "A reasonable maximum time between KEEPALIVE messages
        // would be one third of the Hold Time interval."
        if hold == 0 {
            return None;
        }
        let third = (hold / 3).max(1);
        let secs = self
            .config
            .keepalive_time
            .map_or(third, |k| k.clamp(1, third));
        Some(Duration::from_secs(u64::from(secs)))
    }

    fn hold_for(hold: u16) -> Option<Duration> {
        (hold > 0).then(|| Duration::from_secs(u64::from(hold)))
    }

    /// A Cease we send administratively; with the N bit negotiated, as a Hard Reset (RFC 8538
    /// §5: Administrative Shutdown, Peer De-configured, Administrative Reset and Maximum Number
    /// of Prefixes Reached are sent as Hard Reset).
    fn cease(&self, subcode: u8, message: &str) -> Notification {
        let n = match subcode {
            cease::ADMIN_SHUTDOWN | cease::ADMIN_RESET => Notification::shutdown(subcode, message),
            _ => Notification::cease(subcode),
        };
        self.maybe_hard_reset(n)
    }

    /// Both sides announced graceful restart with the N bit (RFC 8538).
    fn n_bit(&self) -> bool {
        self.negotiated().is_some_and(|neg| {
            neg.peer_graceful_restart
                .as_ref()
                .is_some_and(|g| g.notification)
                && neg
                    .local_graceful_restart
                    .as_ref()
                    .is_some_and(|g| g.notification)
        })
    }

    fn maybe_hard_reset(&self, n: Notification) -> Notification {
        if self.n_bit() {
            n.into_hard_reset()
        } else {
            n
        }
    }

    /// Leaves OpenSent/OpenConfirm/Established for Idle.
    fn close(&mut self, now: Instant, reason: DownReason, restart: Restart, connection_open: bool) {
        let from = self.state();
        let old = std::mem::replace(&mut self.state, State::Idle);
        if from != StateKind::Idle {
            self.events.push_back(Event::StateChanged {
                from,
                to: StateKind::Idle,
            });
        }
        self.tx = Pending::default();
        self.rx = BytesMut::new();
        for t in [
            Timer::Hold,
            Timer::Keepalive,
            Timer::DelayOpen,
            Timer::ConnectRetry,
        ] {
            self.timers.stop(t);
        }
        match &reason {
            DownReason::NotificationSent(n) if connection_open => {
                // The Close action follows once poll_transmit has written it.
                self.tx.notification = Some(n.clone());
            }
            _ if connection_open => self.actions.push_back(Action::Close),
            _ => {}
        }
        let keep_stale = match &old {
            State::Established(e) => gr_keep(&e.negotiated, &reason),
            _ => Vec::new(),
        };
        if from == StateKind::Established {
            // RFC 4724 §4.2: "the Receiving Speaker MUST retain the routes received from the
            // peer for all the address families that were previously received in the Graceful
            // Restart Capability and MUST mark them as stale routing information." The stale
            // routes are dropped if the session is not back within the peer's Restart Time.
            self.life.stale.clone_from(&keep_stale);
            self.timers.stop(Timer::StaleRoutes);
            match &old {
                State::Established(e) if !keep_stale.is_empty() => {
                    let secs = e
                        .negotiated
                        .peer_graceful_restart
                        .as_ref()
                        .map_or(0, |g| g.restart_time);
                    self.timers.set(
                        Timer::GracefulRestart,
                        now + Duration::from_secs(u64::from(secs)),
                    );
                }
                _ => self.timers.stop(Timer::GracefulRestart),
            }
        }
        // A restarting GR peer may reconnect at once: the error IdleHold (during which Idle
        // refuses its connection) is for errors, not for a peer's graceful restart.
        let restart = match restart {
            Restart::PeerGone
                if from == StateKind::Established
                    && !keep_stale.is_empty()
                    && peer_restarting(&reason) =>
            {
                Restart::Now
            }
            Restart::PeerGone => Restart::Backoff,
            r => r,
        };
        if from >= StateKind::OpenSent {
            self.events.push_back(Event::Down(Down {
                reason,
                from,
                keep_stale,
            }));
        }
        if self.life.one_shot {
            return;
        }
        match restart {
            Restart::Now if self.life.auto_start => {
                self.timers.stop(Timer::IdleHold);
                self.start(now);
            }
            Restart::Never => self.life.auto_start = false,
            Restart::After(d) => self.timers.set(Timer::IdleHold, now + d),
            Restart::Backoff if self.life.auto_start => {
                let d = self.backoff(now);
                self.timers.set(Timer::IdleHold, now + d);
            }
            Restart::Backoff | Restart::PeerGone | Restart::Now => {}
        }
    }

    /// The IdleHold delay after one more error: `error_wait.0`, doubling per consecutive error up
    /// to `error_wait.1`.
    fn backoff(&mut self, now: Instant) -> Duration {
        let (min, max) = self.config.error_wait;
        if self
            .life
            .last_error
            .is_some_and(|t| now.saturating_duration_since(t) > self.config.error_forget)
        {
            self.life.errors = 0;
        }
        self.life.last_error = Some(now);
        let exp = self.life.errors.min(16);
        self.life.errors = self.life.errors.saturating_add(1);
        let d = min.saturating_mul(1u32 << exp).min(max);
        self.jittered(d)
    }

    fn expire_stale(&mut self) {
        for f in std::mem::take(&mut self.life.stale) {
            self.events.push_back(Event::StaleRoutesExpired(f));
        }
        self.timers.stop(Timer::GracefulRestart);
        self.timers.stop(Timer::StaleRoutes);
    }

    fn on_timer(&mut self, now: Instant, t: Timer) {
        match t {
            Timer::ConnectRetry => match self.state {
                // RFC 4271 §8.2.2 (Active): "In response to a ConnectRetryTimer_Expires event
                // (Event 9), the local system: restarts the ConnectRetryTimer ..., initiates a
                // TCP connection to the other BGP peer, ... changes its state to Connect."
                State::Active { connected: false }
                    if !self.config.passive && !self.life.one_shot =>
                {
                    self.connect_now(now);
                }
                State::Connect { connected: false } => self.connect_now(now),
                _ => {}
            },
            Timer::Hold => {
                if matches!(
                    self.state,
                    State::OpenSent | State::OpenConfirm(_) | State::Established(_)
                ) {
                    // RFC 4271 §8.2.2: "If the HoldTimer_Expires (Event 10), the local system:
                    // - sends a NOTIFICATION message with the error code Hold Timer Expired".
                    self.close(
                        now,
                        DownReason::NotificationSent(Notification::hold_timer_expired()),
                        Restart::Backoff,
                        true,
                    );
                }
            }
            Timer::Keepalive => {
                if matches!(self.state, State::OpenConfirm(_) | State::Established(_)) {
                    self.tx.keepalive = true;
                }
            }
            Timer::DelayOpen => {
                if matches!(
                    self.state,
                    State::Connect { connected: true } | State::Active { connected: true }
                ) {
                    self.send_open(now);
                }
            }
            Timer::IdleHold => {
                if matches!(self.state, State::Idle) && self.life.auto_start {
                    self.start(now);
                }
            }
            Timer::GracefulRestart | Timer::StaleRoutes => {
                // RFC 4724 §4.2: "If the session does not get re-established within the
                // "Restart Time" that the peer advertised previously, the Receiving Speaker MUST
                // delete all the stale routes from the peer that it is retaining."
                self.expire_stale();
            }
        }
    }

    fn max_len(&self) -> usize {
        match &self.state {
            State::Established(e) => e.negotiated.max_message_len(),
            _ => MAX_MESSAGE_LEN,
        }
    }

    /// Handles every complete message at the start of `buf`; returns the octets consumed.
    ///
    /// Messages are copied out of `buf` in chunks of up to [`COPY_CHUNK`] octets (one copy and
    /// one allocation for many small messages) and decoded from slices of the chunk, so what a
    /// decoded value keeps alive is at most one chunk, never the caller's read buffer.
    fn process(&mut self, now: Instant, buf: &[u8]) -> usize {
        let mut pos = 0;
        let mut chunk = Bytes::new();
        let mut chunk_start = 0;
        while self.is_connected() {
            let rest = buf.get(pos..).unwrap_or_default();
            match frame(rest, self.max_len()) {
                Ok(Some(len)) => {
                    let mut off = pos - chunk_start;
                    if off + len > chunk.len() {
                        let take = rest.len().min(len.max(COPY_CHUNK));
                        chunk = Bytes::copy_from_slice(rest.get(..take).unwrap_or_default());
                        chunk_start = pos;
                        off = 0;
                    }
                    let msg = chunk.slice(off..off + len);
                    pos += len;
                    self.on_frame(now, msg);
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(now, &e);
                    break;
                }
            }
        }
        pos
    }

    fn protocol_error(&mut self, now: Instant, e: &DecodeError) {
        // RFC 4271 §6: "When any of the conditions described here are detected, a NOTIFICATION
        // message, with the indicated Error Code, Error Subcode, and Data fields, is sent, and
        // the BGP connection is closed".
        self.close(
            now,
            DownReason::NotificationSent(e.to_notification()),
            Restart::Backoff,
            true,
        );
    }

    fn fsm_error(&mut self, now: Instant) {
        // RFC 6608 §4: subcodes 1, 2 and 3 name the state the unexpected message arrived in.
        let sub = match self.state() {
            StateKind::OpenSent => 1,
            StateKind::OpenConfirm => 2,
            StateKind::Established => 3,
            _ => 0,
        };
        self.close(
            now,
            DownReason::NotificationSent(Notification::fsm_error(sub)),
            Restart::Backoff,
            true,
        );
    }

    fn on_frame(&mut self, now: Instant, msg: Bytes) {
        if let State::Established(e) = &self.state {
            match Message::decode(msg, &e.negotiated) {
                Ok(m) => self.established_message(now, m),
                Err(e) => self.protocol_error(now, &e),
            }
            return;
        }
        // Before Established there is no context to decode UPDATE or ROUTE-REFRESH with, and
        // both are unexpected anyway (RFC 6608).
        let ty = msg.get(18).copied();
        if ty == Some(MessageType::Update.code()) || ty == Some(MessageType::RouteRefresh.code()) {
            self.fsm_error(now);
            return;
        }
        match Message::decode(msg, &Negotiated::pre_open()) {
            Ok(m) => self.opening_message(now, m),
            Err(e) => self.protocol_error(now, &e),
        }
    }

    fn opening_message(&mut self, now: Instant, m: Message) {
        match (&self.state, m) {
            (_, Message::Notification(n)) => {
                self.close(
                    now,
                    DownReason::NotificationReceived(n),
                    Restart::Backoff,
                    true,
                );
            }
            (
                State::OpenSent
                | State::Connect { connected: true }
                | State::Active { connected: true },
                Message::Open(open),
            ) => self.on_open(now, &open),
            (State::OpenConfirm(_), Message::Keepalive) => self.on_keepalive_confirm(now),
            _ => self.fsm_error(now),
        }
    }

    fn on_open(&mut self, now: Instant, open: &Open) {
        let check = OpenCheck {
            peer_as: self.config.peer_as,
            local_as: self.config.local_as,
            local_id: self.config.local_id,
            min_hold_time: self.config.min_hold_time,
            required_capabilities: self.config.required_capabilities.clone(),
        };
        // RFC 4271 §6.2: version, peer AS, BGP identifier, hold time, capabilities, each with
        // its own subcode (2/1, 2/2, 2/3, 2/6, 2/7), checked by the codec.
        if let Err(e) = open.check(&check) {
            self.protocol_error(now, &e);
            return;
        }
        let delayed = !matches!(self.state, State::OpenSent);
        self.timers.stop(Timer::DelayOpen);
        let mut negotiated = Negotiated::new(&self.local_open, open);
        negotiated.enforce_first_as = self.config.enforce_first_as;
        if delayed {
            // RFC 4271 §8.2.2 (Connect, DelayOpen running, OPEN received): "sends an OPEN
            // message, sends a KEEPALIVE message, ... changes its state to OpenConfirm."
            self.tx.open = true;
        }
        // RFC 4271 §8.2.2 (OpenSent): "If there are no errors in the OPEN message, the local
        // system: ... sends a KEEPALIVE message, ... sets the HoldTimer according to the
        // negotiated value, and changes its state to OpenConfirm."
        self.tx.keepalive = true;
        let keepalive = self.keepalive_for(negotiated.hold_time);
        match Self::hold_for(negotiated.hold_time) {
            Some(h) => self.timers.set(Timer::Hold, now + h),
            None => self.timers.stop(Timer::Hold),
        }
        match keepalive {
            Some(k) => self.timers.set(Timer::Keepalive, now + k),
            None => self.timers.stop(Timer::Keepalive),
        }
        self.set_state(State::OpenConfirm(Box::new(OpenConfirm {
            negotiated,
            keepalive,
        })));
    }

    fn on_keepalive_confirm(&mut self, now: Instant) {
        let State::OpenConfirm(oc) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let OpenConfirm {
            negotiated,
            keepalive,
        } = *oc;
        if let Some(h) = Self::hold_for(negotiated.hold_time) {
            self.timers.set(Timer::Hold, now + h);
        }
        let limits = self
            .config
            .max_prefixes
            .iter()
            .filter(|m| negotiated.has_family(m.family))
            .map(|m| PrefixLimit {
                limit: *m,
                seen: HashSet::new(),
            })
            .collect();
        let eor_to_send =
            if negotiated.peer_graceful_restart.is_some() || self.config.always_send_end_of_rib {
                negotiated.families.clone()
            } else {
                Vec::new()
            };
        if !self.life.stale.is_empty() {
            // RFC 4724 §4.2: "If the Forwarding State bit for a specific address family is not
            // set in the newly received Graceful Restart Capability, or if a specific address
            // family is not included in the newly received Graceful Restart Capability, or if
            // the Graceful Restart Capability is not received in the re-established session at
            // all, then the Receiving Speaker MUST immediately remove all the stale routes from
            // the peer that it is retaining for that address family."
            self.timers.stop(Timer::GracefulRestart);
            let preserved: Vec<Family> = negotiated
                .peer_graceful_restart
                .as_ref()
                .map(|g| {
                    g.families
                        .iter()
                        .filter(|(_, fwd)| *fwd)
                        .map(|(f, _)| *f)
                        .collect()
                })
                .unwrap_or_default();
            let (keep, drop): (Vec<Family>, Vec<Family>) = std::mem::take(&mut self.life.stale)
                .into_iter()
                .partition(|f| preserved.contains(f) && negotiated.has_family(*f));
            for f in drop {
                self.events.push_back(Event::StaleRoutesExpired(f));
            }
            if !keep.is_empty() {
                let bound = self
                    .config
                    .graceful_restart
                    .as_ref()
                    .map_or(Duration::from_secs(360), |g| g.stale_time);
                self.timers.set(Timer::StaleRoutes, now + bound);
            }
            self.life.stale = keep;
        }
        let est = Established {
            negotiated: negotiated.clone(),
            keepalive,
            limits,
            eor_to_send,
            refresh_requests: Vec::new(),
            refresh_answers: Vec::new(),
            eorr_to_send: Vec::new(),
        };
        self.state = State::Established(Box::new(est));
        self.events.push_back(Event::StateChanged {
            from: StateKind::OpenConfirm,
            to: StateKind::Established,
        });
        self.events
            .push_back(Event::Established(Box::new(negotiated)));
    }

    fn established_message(&mut self, now: Instant, m: Message) {
        // Any message shows the peer is alive (RFC 4271 names KEEPALIVE and UPDATE; BIRD and
        // FRR count every message).
        if let Some(h) = self.negotiated().and_then(|n| Self::hold_for(n.hold_time)) {
            self.timers.set(Timer::Hold, now + h);
        }
        match m {
            Message::Keepalive => {}
            Message::Update(u) => self.on_update(now, u),
            Message::RouteRefresh(rr) => self.on_route_refresh(rr),
            Message::Notification(n) => {
                self.close(
                    now,
                    DownReason::NotificationReceived(n),
                    Restart::PeerGone,
                    true,
                );
            }
            Message::Open(_) => self.fsm_error(now),
        }
    }

    fn on_update(&mut self, now: Instant, mut u: Update) {
        let State::Established(est) = &mut self.state else {
            return;
        };
        if let Some(f) = u.end_of_rib_family() {
            if est.negotiated.has_family(f) {
                self.events.push_back(Event::EndOfRib(f));
                // RFC 4724 §4.2: "Once the End-of-RIB marker for an address family is received
                // from the peer, it MUST immediately remove any routes from the peer that are
                // still marked as stale for that address family."
                self.life.stale.retain(|s| *s != f);
                if self.life.stale.is_empty() {
                    self.timers.stop(Timer::StaleRoutes);
                }
            }
            return;
        }
        // RFC 4760 §6: routes of a family that was not negotiated are ignored.
        let neg = &est.negotiated;
        if !neg.has_family(Family::IPV4_UNICAST) {
            u.nlri.clear();
            u.withdrawn.clear();
        }
        if u.mp_reach
            .as_ref()
            .is_some_and(|m| !neg.has_family(m.family))
        {
            u.mp_reach = None;
        }
        if u.mp_unreach
            .as_ref()
            .is_some_and(|m| !neg.has_family(m.family))
        {
            u.mp_unreach = None;
        }
        if u.nlri.is_empty()
            && u.withdrawn.is_empty()
            && u.mp_reach.is_none()
            && u.mp_unreach.is_none()
        {
            return;
        }
        let mut exceeded = None;
        for lim in &mut est.limits {
            for (f, n) in u.withdrawn_routes() {
                if f == lim.limit.family {
                    lim.seen.remove(n);
                }
            }
            for a in u.announced().filter(|a| a.family == lim.limit.family) {
                lim.seen.extend(a.nlri.iter().copied());
            }
            if lim.seen.len() > usize::try_from(lim.limit.limit).unwrap_or(usize::MAX) {
                exceeded.get_or_insert(lim.limit);
            }
        }
        match exceeded {
            None => self.events.push_back(Event::Update(u)),
            Some(m) => {
                // RFC 4486 §4: "If a BGP speaker decides to terminate its peering because the
                // number of address prefixes received from the peer exceeds a locally configured
                // upper bound, then the speaker MUST send to the neighbor a NOTIFICATION message
                // with the Error Code Cease and the Error Subcode "Maximum Number of Prefixes
                // Reached"."
                self.events.push_back(Event::MaxPrefixExceeded {
                    family: m.family,
                    limit: m.limit,
                });
                let n = self.maybe_hard_reset(Notification::max_prefixes(m.family, m.limit));
                let restart = m.restart_after.map_or(Restart::Never, Restart::After);
                self.close(now, DownReason::NotificationSent(n), restart, true);
            }
        }
    }

    fn on_route_refresh(&mut self, rr: RouteRefresh) {
        let State::Established(est) = &mut self.state else {
            return;
        };
        // RFC 2918 §4: "If a BGP speaker receives from its peer a ROUTE-REFRESH message with
        // the <AFI, SAFI> that the speaker didn't advertise to the peer at the session
        // establishment time via capability advertisement, the speaker shall ignore such a
        // message."
        if !est.negotiated.has_family(rr.family) {
            return;
        }
        match rr.subtype {
            RefreshSubtype::Normal => {
                if !est.refresh_answers.contains(&rr.family) {
                    est.refresh_answers.push(rr.family);
                }
                self.events.push_back(Event::RouteRefresh(rr));
            }
            RefreshSubtype::BeginningOfRefresh | RefreshSubtype::EndOfRefresh => {
                if est.negotiated.enhanced_route_refresh {
                    self.events.push_back(Event::RouteRefresh(rr));
                }
            }
            // RFC 7313 §5: "When the BGP speaker receives a ROUTE-REFRESH message with a
            // "Message Subtype" field other than 0, 1, or 2, it MUST ignore the received
            // ROUTE-REFRESH message."
            RefreshSubtype::Other(_) => {}
        }
    }
}

/// The families to keep stale when an Established session ends this way (RFC 4724 §4.2,
/// RFC 8538 §4); empty when the routes are to be removed.
fn gr_keep(neg: &Negotiated, reason: &DownReason) -> Vec<Family> {
    let (Some(peer), Some(local)) = (&neg.peer_graceful_restart, &neg.local_graceful_restart)
    else {
        return Vec::new();
    };
    let graceful = match reason {
        DownReason::ConnectionClosed => true,
        // RFC 8538 §4: with the N bit exchanged, graceful restart also applies when a
        // NOTIFICATION other than Cease/Hard Reset is sent or received.
        DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => {
            peer.notification && local.notification && !n.is_hard_reset()
        }
    };
    if !graceful {
        return Vec::new();
    }
    peer.families
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| neg.has_family(*f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::testing::{Pair, VecSource};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn receive_buffer_is_released_when_idle() {
        let mut p = Pair::calico();
        // Pieces that split messages, so partial ones are buffered.
        p.chunk = 1000;
        p.a.source = VecSource::ipv4(5000, Ipv4Addr::new(10, 0, 0, 1));
        p.start();
        assert!(p.run_until(Duration::from_secs(60), |p| p.b.announced == 5000));
        assert_eq!(p.b.session.rx.capacity(), 0);
        assert_eq!(p.a.session.rx.capacity(), 0);
    }

    #[test]
    fn an_idle_session_is_small() {
        // 100 idle peers must fit in a few MB of RSS together with everything else: the
        // session itself stays well under a kilobyte (plus its OPEN's capabilities).
        let size = std::mem::size_of::<super::Session>();
        assert!(size <= 512, "Session is {size} bytes");
    }
}

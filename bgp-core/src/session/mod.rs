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

mod close;
mod config;
mod event;
mod fsm;
mod intake;
mod stats;
mod timer;
mod ttl;

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
pub use stats::{MessageCounts, Stats};
pub use timer::Timer;
use timer::Timers;
pub use ttl::{gtsm_min_ttl, TtlPolicy};

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
    /// Shared with whoever keeps what was negotiated (the RIB, the daemon's status): one copy.
    negotiated: Arc<Negotiated>,
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

/// A validated [`SessionConfig`] and our OPEN built from it, cheap to clone: peers with the
/// same settings (the dynamic neighbours of one range) can share one copy instead of keeping
/// ~0.7 KB each.
#[derive(Debug, Clone)]
pub struct Settings {
    config: Arc<SessionConfig>,
    open: Arc<Open>,
}

impl Settings {
    /// Validates `config` and builds our OPEN.
    pub fn new(config: SessionConfig) -> Result<Settings, ConfigError> {
        config.validate()?;
        Ok(Settings {
            open: Arc::new(config.open()),
            config: Arc::new(config),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Whether a clone of these settings exists besides this one.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.config) > 1
    }
}

/// One BGP connection's state machine. See the module documentation for the contract.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    /// Built from `config`; shared by the sessions that share it (see [`Settings`]).
    local_open: Arc<Open>,
    state: State,
    timers: Timers,
    life: Lifecycle,
    rx: BytesMut,
    tx: Pending,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    now: Option<Instant>,
    stats: Stats,
}

impl Session {
    /// A session in Idle. Nothing happens until [`Command::Start`].
    pub fn new(config: SessionConfig) -> Result<Session, ConfigError> {
        Ok(Session::with_settings(&Settings::new(config)?))
    }

    pub(crate) fn with_settings(s: &Settings) -> Session {
        Session {
            local_open: Arc::clone(&s.open),
            config: Arc::clone(&s.config),
            state: State::Idle,
            timers: Timers::default(),
            life: Lifecycle::default(),
            rx: BytesMut::new(),
            tx: Pending::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            now: None,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Messages received and sent by type, over every connection of this session.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Adds counts of another session (a peer's closed colliding connection).
    pub(crate) fn absorb_stats(&mut self, o: &Stats) {
        self.stats.add(o);
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
        let wrote = self.transmit_next(now, out, source);
        self.stats
            .sent
            .count_framed(out.get(start..).unwrap_or_default());
        wrote
    }

    fn transmit_next(
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
        let e = self.events.pop_front();
        if e.is_none() && self.events.capacity() > 0 {
            // Drained: an event is a few hundred octets (an UPDATE inline), so the queue's
            // smallest capacity costs an idle session ~1.8 KB it would keep for good.
            self.events = VecDeque::new();
        }
        e
    }

    /// The next thing the driver must do with the connection.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether a protocol message other than an UPDATE (NOTIFICATION, OPEN, KEEPALIVE) waits
    /// for [`Session::poll_transmit`]. A driver that stops pulling UPDATEs while its write
    /// buffer is full must still pull these: they are small, and until they are taken
    /// [`Session::poll_timeout`] stays at `now` (a NOTIFICATION waiting behind a peer that
    /// stopped reading would otherwise never be sent, nor the connection closed).
    #[must_use]
    pub fn has_control_message(&self) -> bool {
        self.tx.notification.is_some()
            || (self.is_connected() && (self.tx.open || self.tx.keepalive))
    }

    /// When to call [`Session::handle_timeout`]: the earliest deadline, or the last `now` seen
    /// while events, actions or protocol messages are waiting to be polled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending =
            !self.events.is_empty() || !self.actions.is_empty() || self.has_control_message();
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
}

#[cfg(test)]
mod tests;

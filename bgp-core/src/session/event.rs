//! DOC: the values that cross the session boundary: commands in, events and driver actions out,
//! and the [`UpdateSource`] trait through which the owner supplies UPDATEs to send.

use bytes::BytesMut;

use crate::wire::{EncodeError, Family, Negotiated, Notification, RouteRefresh, Update};

/// The RFC 4271 §8 states, without their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateKind {
    /// Idle: refuses connections; waits for a start (or the IdleHold timer).
    Idle,
    /// Connect: an outgoing connection attempt is under way.
    Connect,
    /// Active: waiting for an incoming connection (and for ConnectRetry to try again).
    Active,
    /// OpenSent: our OPEN is out, waiting for the peer's.
    OpenSent,
    /// OpenConfirm: OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Established: UPDATEs flow.
    Established,
}

impl StateKind {
    /// The name BIRD prints in `show protocols` (and RFC 4271 uses).
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Idle => "Idle",
            StateKind::Connect => "Connect",
            StateKind::Active => "Active",
            StateKind::OpenSent => "OpenSent",
            StateKind::OpenConfirm => "OpenConfirm",
            StateKind::Established => "Established",
        }
    }
}

/// An instruction from the owner (RFC 4271 §8.1.2 administrative events, plus requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// ManualStart (Event 1): start, and restart automatically after errors from now on.
    Start,
    /// ManualStop (Event 2): send Cease with `subcode` (normally 2, Administrative Shutdown, or
    /// 3, Peer De-configured, or 4, Administrative Reset) and the RFC 9003 shutdown
    /// communication `message` (may be empty), close, and stay down until the next start.
    Stop {
        /// Cease subcode (RFC 4486).
        subcode: u8,
        /// Shutdown communication, UTF-8, truncated to 255 octets.
        message: String,
    },
    /// Ask the peer to re-send its routes of a family (RFC 2918).
    RouteRefresh(Family),
    /// We are restarting and want the peer to keep our routes (RFC 4724 as the restarting
    /// speaker): when both sides set the N bit (RFC 8538), send Cease / Administrative
    /// Shutdown with the shutdown communication `message` but *not* wrapped in a Hard Reset,
    /// which the peer's graceful-restart helper survives (RFC 8538 §4); without the N bit,
    /// close the connection without a NOTIFICATION, which the peer treats as a restart. Then
    /// stay down like [`Command::Stop`].
    GracefulStop {
        /// Shutdown communication, UTF-8, truncated to 255 octets.
        message: String,
    },
}

impl Command {
    /// Administrative shutdown (Cease 6/2) with a shutdown communication.
    pub fn shutdown(message: impl Into<String>) -> Command {
        Command::Stop {
            subcode: crate::wire::notification::cease::ADMIN_SHUTDOWN,
            message: message.into(),
        }
    }
}

/// What the driver must do with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open an outgoing TCP connection, abandoning any attempt still pending; report the
    /// outcome with `handle_connected` or `handle_disconnected`.
    Connect,
    /// Close the connection (once everything `poll_transmit` gave has been written).
    Close,
}

/// Why a connection that had started the BGP exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION (an error we detected, a timer, or an administrative stop).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION.
    ConnectionClosed,
}

impl DownReason {
    /// Why, in BIRD's words (`show protocols`' last error): `Error: ...` for a NOTIFICATION
    /// we sent, `Received: ...` for one received, `Connection closed`.
    pub fn bird_text(&self) -> String {
        match self {
            DownReason::NotificationSent(n) => format!("Error: {n}"),
            DownReason::NotificationReceived(n) => format!("Received: {n}"),
            DownReason::ConnectionClosed => "Connection closed".into(),
        }
    }

    /// The NOTIFICATION exchanged, if any.
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => Some(n),
            DownReason::ConnectionClosed => None,
        }
    }
}

/// A session left OpenSent, OpenConfirm or Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// Why.
    pub reason: DownReason,
    /// The state it left.
    pub from: StateKind,
    /// Graceful restart helper (RFC 4724 §4.2): families whose routes from this peer must be
    /// kept, marked stale, until [`Event::EndOfRib`] or [`Event::StaleRoutesExpired`]. Every
    /// other family's routes from the peer are to be removed now, and so are routes still
    /// marked stale from an earlier restart ("To deal with possible consecutive restarts, a
    /// route (from the peer) previously marked as stale MUST be deleted."). Empty unless the
    /// session was Established.
    pub keep_stale: Vec<Family>,
}

impl Down {
    /// Whether routes learned on the session exist (it was Established).
    pub fn was_established(&self) -> bool {
        self.from == StateKind::Established
    }
}

/// What a session tells its owner.
///
/// Events are transient (polled, acted on, dropped), so `Update` stays unboxed: boxing would
/// cost an allocation per UPDATE on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The state changed (for logs and `show protocols`).
    StateChanged {
        /// The state left.
        from: StateKind,
        /// The state entered.
        to: StateKind,
    },
    /// The session reached Established with this context.
    Established(std::sync::Arc<Negotiated>),
    /// A validated UPDATE. Act on [`Update::announced`] and [`Update::withdrawn_routes`], which
    /// apply RFC 7606 treat-as-withdraw; families that were not negotiated have been removed.
    Update(Update),
    /// The peer finished sending its table of this family (RFC 4724 §2): under graceful restart,
    /// its remaining stale routes of the family are to be removed.
    EndOfRib(Family),
    /// The peer sent a ROUTE-REFRESH. `Normal`: it asks for our routes again (the session has
    /// already called [`UpdateSource::refresh`]). `BeginningOfRefresh`: mark its routes of the
    /// family stale. `EndOfRefresh`: remove those still stale (RFC 7313 §4).
    RouteRefresh(RouteRefresh),
    /// The session ended; see [`Down::keep_stale`] for graceful restart.
    Down(Down),
    /// Graceful restart helper: the kept stale routes of this family are to be removed (restart
    /// timer or stale timer expired, or the re-established session no longer preserves the
    /// family).
    StaleRoutesExpired(Family),
    /// The peer exceeded a max-prefix limit; a Cease 6/1 follows (and a [`Event::Down`]).
    MaxPrefixExceeded {
        /// The family.
        family: Family,
        /// The configured limit.
        limit: u32,
    },
    /// The [`UpdateSource`] failed to encode an UPDATE; nothing was sent for it.
    SourceError(EncodeError),
}

/// What [`UpdateSource::next_update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// One UPDATE was appended to `out`.
    Wrote,
    /// Nothing to send now, and the initial table is not complete yet.
    Pending,
    /// Nothing to send now, and everything there was (the initial table, any refresh) has been
    /// sent: the session may send End-of-RIB / End-of-Route-Refresh.
    Synced,
}

/// The owner's outbound routes for one session (in bgpd: the peer's Adj-RIB-Out). The session
/// pulls one UPDATE at a time, only while Established and only when the driver can write, so
/// nothing is ever queued without bound.
pub trait UpdateSource {
    /// Appends at most one whole UPDATE message (header included, encoded under `ctx`, e.g.
    /// with [`crate::wire::encode_announcements`]) to `out`.
    fn next_update(
        &mut self,
        ctx: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError>;

    /// The peer asked for `family` again (route refresh): send every route of it anew. Called
    /// just after the Beginning-of-Route-Refresh went out, when enhanced route refresh is used.
    fn refresh(&mut self, family: Family) {
        let _ = family;
    }

    /// Whether the source writes the End-of-RIB markers itself (as `bgp_core::rib`'s
    /// `Rib::poll_update` does after its initial feed); the session then sends none of its own.
    fn sends_end_of_rib(&self) -> bool {
        false
    }
}

/// A source with nothing to send (a receive-only session).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUpdates;

impl UpdateSource for NoUpdates {
    fn next_update(
        &mut self,
        _: &Negotiated,
        _: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        Ok(SourceStatus::Synced)
    }
}

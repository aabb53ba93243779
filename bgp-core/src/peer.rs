//! DOC: one configured neighbour: at most two sessions (our outgoing connection and the peer's
//! incoming one), connection collision detection (RFC 4271 §6.8), passive mode, and the
//! connection bookkeeping the driver needs ([`ConnId`]s, connect and close actions).
//!
//! A [`Peer`] has a *main* [`Session`] that carries the neighbour's lifecycle: start and stop,
//! automatic restart with the error back-off, connect retries (never for a passive peer), and
//! graceful restart stale routes. When a connection arrives while the main session is busy with
//! another, the peer runs a *second*, single-connection session on it; once both have received
//! an OPEN, one is closed with Cease 6/7 "Connection Collision Resolution":
//!
//! > RFC 4271 §6.8: "If the value of the local BGP Identifier is less than the remote one, the
//! > local system closes the BGP connection that already exists (the one that is already in the
//! > OpenConfirm state), and accepts the BGP connection initiated by the remote system.
//! > Otherwise, the local system closes the newly created BGP connection (the one associated
//! > with the newly received OPEN message), and continues to use the existing one (the one that
//! > is already in the OpenConfirm state)."
//!
//! That is: the connection initiated by the speaker with the higher BGP identifier survives,
//! and both sides pick the same one. "Unless allowed via configuration, a connection collision
//! with an existing BGP connection that is in the Established state causes closing of the newly
//! created connection" — except when the new OPEN carries a graceful restart capability with
//! the Restart State bit: then the peer restarted before we noticed, so the old session is dropped as if its
//! TCP connection had failed (RFC 4724 §4.2 procedures: routes kept stale) and the new one is
//! kept. The surviving session always ends up as the main one, and the driver identifies
//! connections only by [`ConnId`].
//!
//! The contract is the session's (see [`crate::session`]): `handle_*` with `now`, then drain
//! `poll_event`, `poll_action`, `poll_transmit` (per connection) and sleep until
//! `poll_timeout`.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;

use crate::session::{
    Action, Command, ConfigError, Event, Session, SessionConfig, Settings, StateKind, Stats,
    UpdateSource,
};
use crate::wire::notification::cease;
use crate::wire::Negotiated;

/// Identifies one TCP connection of a peer, for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerAction {
    /// Open an outgoing TCP connection to the peer; report it with
    /// [`Peer::handle_connected`] or [`Peer::handle_disconnected`] under this id.
    Connect(ConnId),
    /// Close this connection (after writing what `poll_transmit` gave for it), or abandon the
    /// attempt.
    Close(ConnId),
}

#[derive(Debug)]
struct Slot {
    session: Session,
    conn: Option<ConnId>,
    /// The connection was initiated by the peer.
    incoming: bool,
}

/// One neighbour: up to two sessions and collision resolution. See the module documentation.
#[derive(Debug)]
pub struct Peer {
    settings: Settings,
    main: Slot,
    /// Boxed: it exists only during a collision, and inline it would double the size of
    /// every idle peer.
    second: Option<Box<Slot>>,
    next_conn: u64,
    actions: VecDeque<PeerAction>,
}

impl Peer {
    /// A peer in Idle; nothing happens until [`Command::Start`].
    pub fn new(config: SessionConfig) -> Result<Peer, ConfigError> {
        Ok(Peer::with_settings(&Settings::new(config)?))
    }

    /// A peer in Idle with shared settings (see [`Settings`]).
    pub fn with_settings(settings: &Settings) -> Peer {
        Peer {
            main: Slot {
                session: Session::with_settings(settings),
                conn: None,
                incoming: false,
            },
            settings: settings.clone(),
            second: None,
            next_conn: 0,
            actions: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        self.settings.config()
    }

    /// Messages received and sent by type over all of the peer's connections, those lost in a
    /// collision included.
    pub fn stats(&self) -> Stats {
        let mut s = *self.main.session.stats();
        if let Some(second) = &self.second {
            s.add(second.session.stats());
        }
        s
    }

    /// The main session: the established one when there is one.
    pub fn session(&self) -> &Session {
        &self.main.session
    }

    /// The most advanced state of the peer's sessions (what `show protocols` prints).
    pub fn state(&self) -> StateKind {
        let m = self.main.session.state();
        self.second.as_ref().map_or(m, |s| m.max(s.session.state()))
    }

    /// The negotiated context of the established session.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        match self.main.session.state() {
            StateKind::Established => self.main.session.negotiated(),
            _ => None,
        }
    }

    /// The connections currently open or being opened.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.main
            .conn
            .into_iter()
            .chain(self.second.as_ref().and_then(|s| s.conn))
    }

    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    fn slot_mut(&mut self, id: ConnId) -> Option<&mut Slot> {
        if self.main.conn == Some(id) {
            return Some(&mut self.main);
        }
        self.second.as_deref_mut().filter(|s| s.conn == Some(id))
    }

    /// An administrative command (applies to both sessions for a stop).
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        let stop = matches!(cmd, Command::Stop { .. } | Command::GracefulStop { .. });
        if let (true, Some(s)) = (stop, self.second.as_mut()) {
            s.session.handle_command(now, cmd.clone());
        }
        self.main.session.handle_command(now, cmd);
        self.finish(now);
    }

    /// Asks the peer to send its routes again (ROUTE-REFRESH, RFC 2918) for every family
    /// negotiated on the established session; nothing when none is.
    pub fn request_refresh(&mut self, now: Instant) {
        let families = self
            .negotiated()
            .map(|n| n.families.clone())
            .unwrap_or_default();
        for f in families {
            self.handle_command(now, Command::RouteRefresh(f));
        }
    }

    /// The peer connected to us. Returns the id of the accepted connection, or `None` when it
    /// is refused (the driver closes the socket): while stopped or waiting out an error, or
    /// when two connections are already open.
    pub fn handle_incoming(&mut self, now: Instant) -> Option<ConnId> {
        let id = if self.main.session.state() == StateKind::Active
            && self.main.session.is_waiting_for_connection()
        {
            // RFC 4271 §8.2.2 (Active): "In response to the success of a TCP connection
            // (Event 16 or Event 17), the local system ... sends the OPEN message".
            let id = self.new_conn();
            self.main.conn = Some(id);
            self.main.incoming = true;
            self.main.session.handle_connected(now);
            id
        } else if self.second.is_none() && self.main.session.state() != StateKind::Idle {
            // Our own connection (or attempt) is under way: this one may collide with it.
            let id = self.new_conn();
            let mut s = Session::with_settings(&self.settings);
            s.set_one_shot();
            s.accept_mode(now);
            s.handle_connected(now);
            self.second = Some(Box::new(Slot {
                session: s,
                conn: Some(id),
                incoming: true,
            }));
            id
        } else {
            return None;
        };
        self.finish(now);
        Some(id)
    }

    /// Our outgoing connection `id` is up. Returns `false` if it is no longer wanted (the
    /// driver closes it).
    pub fn handle_connected(&mut self, now: Instant, id: ConnId) -> bool {
        let ok = match self.slot_mut(id) {
            Some(slot) if !slot.incoming => {
                let ok = slot.session.handle_connected(now);
                if !ok {
                    // The driver closes it; it is no longer this slot's connection.
                    slot.conn = None;
                }
                ok
            }
            _ => false,
        };
        self.finish(now);
        ok
    }

    /// Connection `id` closed, or the attempt failed.
    pub fn handle_disconnected(&mut self, now: Instant, id: ConnId) {
        if let Some(slot) = self.slot_mut(id) {
            slot.conn = None;
            slot.session.handle_disconnected(now);
        }
        self.finish(now);
    }

    /// Bytes read from connection `id`.
    pub fn handle_bytes(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        if let Some(slot) = self.slot_mut(id) {
            slot.session.handle_bytes(now, data);
        }
        self.finish(now);
    }

    /// Fires due timers of both sessions.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.main.session.handle_timeout(now);
        if let Some(s) = self.second.as_mut() {
            s.session.handle_timeout(now);
        }
        self.finish(now);
    }

    /// The next message to write on connection `id` (see [`Session::poll_transmit`]).
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        id: ConnId,
        out: &mut BytesMut,
        source: &mut dyn UpdateSource,
    ) -> bool {
        let wrote = match self.slot_mut(id) {
            Some(slot) => slot.session.poll_transmit(now, out, source),
            None => false,
        };
        self.finish(now);
        wrote
    }

    /// Whether the session on connection `id` has a NOTIFICATION, OPEN or KEEPALIVE waiting
    /// (see [`Session::has_control_message`]): pull it even when the write buffer is full.
    #[must_use]
    pub fn has_control_message(&self, id: ConnId) -> bool {
        let slot = if self.main.conn == Some(id) {
            Some(&self.main)
        } else {
            self.second.as_deref().filter(|s| s.conn == Some(id))
        };
        slot.is_some_and(|s| s.session.has_control_message())
    }

    /// The next event of either session.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.main.session.poll_event() {
            return Some(e);
        }
        let e = self.second.as_mut()?.session.poll_event();
        if e.is_none() {
            self.drop_finished_second();
        }
        e
    }

    /// The next connection action.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<PeerAction> {
        self.actions.pop_front()
    }

    /// The earliest deadline of either session (`now` while output is pending).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.main.session.poll_timeout();
        let b = self.second.as_ref().and_then(|s| s.session.poll_timeout());
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Turns session actions into connection actions, resolves collisions, retires a finished
    /// second session.
    fn finish(&mut self, now: Instant) {
        self.collect();
        self.resolve(now);
        self.collect();
        self.drop_finished_second();
    }

    fn collect(&mut self) {
        for i in 0..2 {
            loop {
                let slot = match i {
                    0 => &mut self.main,
                    _ => match self.second.as_mut() {
                        Some(s) => s,
                        None => break,
                    },
                };
                let Some(a) = slot.session.poll_action() else {
                    break;
                };
                let out = match a {
                    Action::Connect => {
                        // A new attempt replaces a pending one.
                        let old = slot.conn.take();
                        self.next_conn += 1;
                        let id = ConnId(self.next_conn);
                        let slot = match i {
                            0 => &mut self.main,
                            _ => match self.second.as_mut() {
                                Some(s) => s,
                                None => break,
                            },
                        };
                        slot.conn = Some(id);
                        slot.incoming = false;
                        if let Some(old) = old {
                            self.actions.push_back(PeerAction::Close(old));
                        }
                        PeerAction::Connect(id)
                    }
                    Action::Close => match slot.conn.take() {
                        Some(id) => PeerAction::Close(id),
                        None => continue,
                    },
                };
                self.actions.push_back(out);
            }
        }
    }

    fn drop_finished_second(&mut self) {
        if self.second.as_ref().is_some_and(|s| {
            s.session.state() == StateKind::Idle && !s.session.has_output() && s.conn.is_none()
        }) {
            if let Some(s) = self.second.take() {
                // Its counts stay the peer's.
                self.main.session.absorb_stats(s.session.stats());
            }
        }
    }

    /// Makes the second session the main one, handing it the lifecycle.
    fn promote_second(&mut self) {
        let Some(mut old) = self.second.take() else {
            return;
        };
        std::mem::swap(&mut self.main, &mut *old);
        self.main.session.adopt_lifecycle(&mut old.session);
        self.second = Some(old);
    }

    fn resolve(&mut self, now: Instant) {
        let Some(sec) = self.second.as_ref() else {
            return;
        };
        let opened = |k: StateKind| matches!(k, StateKind::OpenConfirm | StateKind::Established);
        let (ms, ss) = (self.main.session.state(), sec.session.state());
        if opened(ms) && opened(ss) {
            let peer_restarted = ms == StateKind::Established
                && self
                    .main
                    .session
                    .negotiated()
                    .is_some_and(|n| n.peer_graceful_restart.is_some())
                && sec.session.negotiated().is_some_and(|n| {
                    // RFC 4724 §3: "When set (value 1), this bit indicates that the BGP speaker
                    // has restarted"; without it this is an ordinary collision.
                    n.peer_graceful_restart
                        .as_ref()
                        .is_some_and(|g| g.restart_state)
                });
            if peer_restarted {
                // The peer restarted before we noticed: drop the old session as if its TCP
                // connection had failed (routes kept stale) and keep the new one.
                self.main.session.reset_connection(now);
                self.promote_second();
                return;
            }
            let main_loses = if ms == StateKind::Established {
                false
            } else if ss == StateKind::Established {
                true
            } else if self.main.incoming == sec.incoming {
                // Two connections in the same direction: keep the older.
                false
            } else {
                let local = u32::from(self.settings.config().local_id);
                let remote = sec.session.peer_id().map_or(0, u32::from);
                // Keep the connection initiated by the higher identifier.
                let keep_incoming = local < remote;
                self.main.incoming != keep_incoming
            };
            if main_loses {
                self.promote_second();
            }
            if let Some(s) = self.second.as_mut() {
                s.session.cease_now(now, cease::COLLISION);
            }
        } else if opened(ss) && !self.main.session.is_connected() {
            // Our own attempt failed or is still pending while the peer's connection got
            // through: that one becomes the main session.
            self.promote_second();
            if let Some(s) = self.second.as_mut() {
                s.session.abandon(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_idle_peer_is_one_session_in_size() {
        // A reflector keeps one Peer per neighbour for as long as it is configured or connected
        // (issue 19: an idle neighbour's whole cost ≤ 4 KB): the collision session is boxed,
        // so an idle peer is its main session and little else.
        let peer = std::mem::size_of::<super::Peer>();
        let session = std::mem::size_of::<crate::session::Session>();
        assert!(
            peer <= session + 128,
            "Peer is {peer} bytes, Session {session}"
        );
    }
}

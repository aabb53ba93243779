//! DOC: how a [`Session`] ends: Cease NOTIFICATIONs (RFC 4486, RFC 9003, Hard Reset under
//! RFC 8538), the close itself with its down event and graceful-restart outcome (RFC 4724
//! §4.2), the exponential error back-off, and the stale routes' expiry.

use super::*;

impl Session {
    /// A Cease we send administratively; with the N bit negotiated, as a Hard Reset (RFC 8538
    /// §5: Administrative Shutdown, Peer De-configured, Administrative Reset and Maximum Number
    /// of Prefixes Reached are sent as Hard Reset).
    pub(super) fn cease(&self, subcode: u8, message: &str) -> Notification {
        let n = match subcode {
            cease::ADMIN_SHUTDOWN | cease::ADMIN_RESET => Notification::shutdown(subcode, message),
            _ => Notification::cease(subcode),
        };
        self.maybe_hard_reset(n)
    }

    /// Both sides announced graceful restart with the N bit (RFC 8538).
    pub(super) fn n_bit(&self) -> bool {
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

    pub(super) fn maybe_hard_reset(&self, n: Notification) -> Notification {
        if self.n_bit() {
            n.into_hard_reset()
        } else {
            n
        }
    }

    /// Leaves OpenSent/OpenConfirm/Established for Idle.
    pub(super) fn close(
        &mut self,
        now: Instant,
        reason: DownReason,
        restart: Restart,
        connection_open: bool,
    ) {
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
    pub(super) fn backoff(&mut self, now: Instant) -> Duration {
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

    pub(super) fn expire_stale(&mut self) {
        for f in std::mem::take(&mut self.life.stale) {
            self.events.push_back(Event::StaleRoutesExpired(f));
        }
        self.timers.stop(Timer::GracefulRestart);
        self.timers.stop(Timer::StaleRoutes);
    }
}

/// The families to keep stale when an Established session ends this way (RFC 4724 §4.2,
/// RFC 8538 §4); empty when the routes are to be removed.
pub(super) fn gr_keep(neg: &Negotiated, reason: &DownReason) -> Vec<Family> {
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

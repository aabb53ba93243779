//! DOC: state transitions and timers of a [`Session`]: entering states, the connect and
//! back-off delays with RFC 4271 §10 jitter, OPEN, KEEPALIVE and hold periods, and what each
//! timer's expiry does (RFC 4271 §8.2.2, RFC 4724 for the graceful-restart timers).

use super::*;

impl Session {
    pub(super) fn set_state(&mut self, new: State) {
        let from = self.state();
        self.state = new;
        let to = self.state();
        if from != to {
            self.events.push_back(Event::StateChanged { from, to });
        }
    }

    /// Automatic or manual start from Idle.
    pub(super) fn start(&mut self, now: Instant) {
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

    pub(super) fn connect_now(&mut self, now: Instant) {
        self.set_state(State::Connect { connected: false });
        self.actions.push_back(Action::Connect);
        let d = self.jittered(self.config.connect_retry);
        self.timers.set(Timer::ConnectRetry, now + d);
    }

    pub(super) fn enter_active(&mut self, now: Instant) {
        self.set_state(State::Active { connected: false });
        if !self.config.passive && !self.life.one_shot {
            let d = self.jittered(self.config.connect_retry);
            self.timers.set(Timer::ConnectRetry, now + d);
        }
    }

    /// `d` scaled by a factor in [0.75, 1] when [`SessionConfig::jitter`] is on (RFC 4271
    /// §10), else `d`. The factor comes from a hash of the local identifier and a counter:
    /// deterministic for one speaker, different between two.
    pub(super) fn jittered(&mut self, d: Duration) -> Duration {
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

    pub(super) fn send_open(&mut self, now: Instant) {
        self.tx.open = true;
        // RFC 4271 §8.2.2: "sets its HoldTimer to a large value" ... "A HoldTimer value of 4
        // minutes is suggested."
        self.timers
            .set(Timer::Hold, now + self.config.open_hold_time);
        self.set_state(State::OpenSent);
    }

    pub(super) fn keepalive_period(&self) -> Option<Duration> {
        match &self.state {
            State::OpenConfirm(o) => o.keepalive,
            State::Established(e) => e.keepalive,
            _ => None,
        }
    }

    pub(super) fn rearm_keepalive(&mut self, now: Instant, ka: Option<Duration>) {
        if let Some(ka) = ka {
            self.timers.set(Timer::Keepalive, now + ka);
        }
    }

    /// The keepalive interval for a negotiated hold time, `None` when it is 0.
    pub(super) fn keepalive_for(&self, hold: u16) -> Option<Duration> {
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

    pub(super) fn hold_for(hold: u16) -> Option<Duration> {
        (hold > 0).then(|| Duration::from_secs(u64::from(hold)))
    }

    pub(super) fn on_timer(&mut self, now: Instant, t: Timer) {
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
}

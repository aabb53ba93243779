//! DOC: one BFD session (RFC 5880 §6): the state variables of §6.8.1, the state machine of
//! §6.8.6 (AdminDown, Down, Init, Up), timer negotiation (§6.8.2, §6.8.3 with its Poll
//! Sequence rules: a larger TX interval or a smaller RX interval takes effect only once the
//! peer answered with Final), the Detection Time of §6.8.4 in asynchronous mode, the expiry of
//! §6.8.5 and the jittered periodic transmission of §6.8.7. Times are passed in; nothing here
//! reads a clock.

use std::time::{Duration, Instant};

use super::packet::{Diag, Packet, State};

/// What one session is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionParams {
    /// Desired Min TX Interval once Up.
    pub min_tx: Duration,
    /// Required Min RX Interval.
    pub min_rx: Duration,
    /// Desired Min TX Interval while not Up (RFC 5880 §6.8.3: at least one second is
    /// required there; smaller values are raised to one second).
    pub idle_tx: Duration,
    /// Detect Mult.
    pub detect_mult: u8,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            min_tx: Duration::from_millis(100),
            min_rx: Duration::from_millis(10),
            idle_tx: Duration::from_secs(1),
            detect_mult: 5,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

/// A state change of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State left.
    pub from: State,
    /// State entered.
    pub to: State,
    /// Our diagnostic (why).
    pub diag: Diag,
    /// The peer said AdminDown (RFC 5882 §3.2: its clients should not be taken down).
    pub remote_admin_down: bool,
}

/// One session's protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    params: SessionParams,
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    /// Advertised Desired Min TX Interval, µs.
    desired_min_tx: u32,
    /// Advertised Required Min RX Interval, µs.
    required_min_rx: u32,
    /// The values in effect (differ from the advertised ones during a Poll Sequence).
    eff_tx: u32,
    eff_rx: u32,
    remote_min_rx: u32,
    remote_min_tx: u32,
    remote_detect_mult: u8,
    remote_demand: bool,
    remote_diag: Diag,
    polling: bool,
    send_final: bool,
    /// Send a packet as soon as possible (state change, poll start).
    send_now: bool,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    since: Instant,
    last_rx: Option<Instant>,
    rng: u64,
    /// How early a periodic packet may go to share a wake-up with others (see
    /// [`Session::set_tx_slack`]).
    slack: Duration,
}

impl Session {
    /// A session in Down with `local_discr` (non-zero, unique) and a jitter seed.
    pub fn new(now: Instant, local_discr: u32, params: SessionParams, seed: u64) -> Session {
        let idle = micros(params.idle_tx.max(Duration::from_secs(1)));
        let rx = micros(params.min_rx);
        let mut s = Session {
            params,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diag::NONE,
            desired_min_tx: idle,
            required_min_rx: rx,
            eff_tx: idle,
            eff_rx: rx,
            remote_min_rx: 1,
            remote_min_tx: 0,
            remote_detect_mult: 0,
            remote_demand: false,
            remote_diag: Diag::NONE,
            polling: false,
            send_final: false,
            send_now: true,
            next_tx: None,
            detect_at: None,
            since: now,
            last_rx: None,
            rng: seed | 1,
            slack: Duration::ZERO,
        };
        s.next_tx = Some(now);
        s
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }
    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }
    /// bfd.RemoteDiscr.
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }
    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    /// The diagnostic in the peer's last packet.
    pub fn remote_diag(&self) -> Diag {
        self.remote_diag
    }
    /// The configuration.
    pub fn params(&self) -> SessionParams {
        self.params
    }
    /// When the state last changed.
    pub fn since(&self) -> Instant {
        self.since
    }
    /// When the last valid packet arrived.
    pub fn last_rx(&self) -> Option<Instant> {
        self.last_rx
    }
    /// A Poll Sequence is in progress.
    pub fn polling(&self) -> bool {
        self.polling
    }
    /// The peer's Detect Mult (0 before its first packet).
    pub fn remote_detect_mult(&self) -> u8 {
        self.remote_detect_mult
    }
    /// The peer's Required Min RX Interval.
    pub fn remote_min_rx(&self) -> Duration {
        Duration::from_micros(u64::from(self.remote_min_rx))
    }
    /// The peer's Desired Min TX Interval.
    pub fn remote_min_tx(&self) -> Duration {
        Duration::from_micros(u64::from(self.remote_min_tx))
    }

    /// The negotiated transmit interval before jitter (§6.8.2), or `None` when periodic
    /// transmission is off (the peer's Required Min RX Interval is zero, or it runs Demand
    /// mode with both ends Up).
    pub fn tx_interval(&self) -> Option<Duration> {
        if self.remote_min_rx == 0
            || (self.remote_demand && self.state == State::Up && self.remote_state == State::Up)
        {
            return None;
        }
        Some(Duration::from_micros(u64::from(
            self.eff_tx.max(self.remote_min_rx),
        )))
    }

    /// The Detection Time (§6.8.4, asynchronous mode), once a packet arrived.
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        let us =
            u64::from(self.eff_rx.max(self.remote_min_tx)) * u64::from(self.remote_detect_mult);
        Some(Duration::from_micros(us))
    }

    /// The earliest deadline: `now` when a packet is owed, else the next transmission or
    /// detection.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.send_final || self.send_now {
            return Some(now);
        }
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next timer deadline (transmission or detection), ignoring packets owed at once.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A packet is owed at once (state change, poll start, Final).
    pub fn owes_packet(&self) -> bool {
        self.send_final || self.send_now
    }

    /// Whether a packet is due now (Final owed, state change, periodic timer, which may be up
    /// to the slack early).
    pub fn wants_transmit(&self, now: Instant) -> bool {
        self.send_final || self.send_now || self.periodic_due(now)
    }

    fn periodic_due(&self, now: Instant) -> bool {
        self.next_tx.is_some_and(|t| t <= now + self.tx_slack())
    }

    /// Lets periodic packets go up to `slack` early (at most a tenth of the transmit interval),
    /// so that a driver serving many sessions wakes once for all the packets due within that
    /// window. §6.8.7 still holds: the jittered interval is drawn from [75 % + slack, 100 %]
    /// (90 % with Detect Mult 1), so a packet sent early is never closer than 75 % to the
    /// previous one, nor later than 100 %.
    pub fn set_tx_slack(&mut self, slack: Duration) {
        self.slack = slack;
    }

    /// The slack in effect for the current transmit interval.
    fn tx_slack(&self) -> Duration {
        self.tx_interval()
            .map_or(Duration::ZERO, |i| self.slack.min(i / 10))
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// §6.8.7: the interval reduced by 0–25 % (10–25 % when Detect Mult is 1), drawn
    /// uniformly in microseconds; the lower bound is raised by the slack (a packet may go that
    /// much early).
    fn jittered(&mut self, interval: Duration) -> Duration {
        let i = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX / 2);
        let slack = u64::try_from(self.slack.min(interval / 10).as_micros()).unwrap_or(0);
        let lo = i * 3 / 4 + slack;
        let hi = if self.params.detect_mult == 1 {
            i * 9 / 10
        } else {
            i
        }
        .max(lo);
        Duration::from_micros(lo + self.next_random() % (hi - lo + 1))
    }

    fn schedule_tx(&mut self, now: Instant) {
        self.next_tx = self.tx_interval().map(|i| now + self.jittered(i));
    }

    /// Builds the packet to send now and updates the schedule. Call when
    /// [`Session::wants_transmit`] is true.
    pub fn transmit(&mut self, now: Instant) -> Packet {
        let final_ = std::mem::take(&mut self.send_final);
        let periodic = self.send_now || self.periodic_due(now);
        self.send_now = false;
        if periodic || self.next_tx.is_none() {
            self.schedule_tx(now);
        }
        Packet {
            diag: self.local_diag,
            state: self.state,
            // A Final answer never carries Poll (§6.5).
            poll: self.polling && !final_,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.params.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: self.desired_min_tx,
            required_min_rx: self.required_min_rx,
            required_min_echo_rx: 0,
        }
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag) -> Transition {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        self.since = now;
        self.send_now = true;
        // §6.8.3: the TX interval is the configured one only while Up; a change while Up
        // starts a Poll Sequence.
        let tx = if to == State::Up {
            micros(self.params.min_tx)
        } else {
            micros(self.params.idle_tx.max(Duration::from_secs(1)))
        };
        if to == State::Up {
            self.change_intervals(now, tx, self.required_min_rx);
        } else {
            self.polling = false;
            self.desired_min_tx = tx;
            self.eff_tx = tx;
            self.eff_rx = self.required_min_rx;
            self.schedule_tx(now);
        }
        Transition {
            from,
            to,
            diag,
            remote_admin_down: self.remote_state == State::AdminDown,
        }
    }

    /// Changes the advertised intervals; while Up this starts a Poll Sequence and applies a
    /// longer TX or a shorter RX interval only when it ends (§6.8.3).
    fn change_intervals(&mut self, now: Instant, tx: u32, rx: u32) {
        if tx == self.desired_min_tx && rx == self.required_min_rx {
            return;
        }
        self.desired_min_tx = tx;
        self.required_min_rx = rx;
        if self.state == State::Up {
            self.polling = true;
            self.send_now = true;
            if tx < self.eff_tx {
                self.eff_tx = tx;
            }
            if rx > self.eff_rx {
                self.eff_rx = rx;
            }
        } else {
            self.eff_tx = tx;
            self.eff_rx = rx;
        }
        // A shorter interval must not wait for the old, longer one.
        if let (Some(i), Some(at)) = (self.tx_interval(), self.next_tx) {
            if at > now + i {
                self.schedule_tx(now);
            }
        }
    }

    /// New parameters (a reload, or another client of a shared session).
    pub fn set_params(&mut self, now: Instant, params: SessionParams) {
        self.params = params;
        let tx = if self.state == State::Up {
            micros(params.min_tx)
        } else {
            micros(params.idle_tx.max(Duration::from_secs(1)))
        };
        self.change_intervals(now, tx, micros(params.min_rx));
    }

    /// Administrative control (§6.8.16): AdminDown, or back to Down.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) -> Option<Transition> {
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => None,
            (true, _) => {
                self.detect_at = None;
                Some(self.set_state(now, State::AdminDown, Diag::ADMIN_DOWN))
            }
            (false, State::AdminDown) => Some(self.set_state(now, State::Down, Diag::NONE)),
        }
    }

    /// A Control packet already matched to this session (§6.8.6, from "Set bfd.RemoteDiscr"
    /// on). Returns the state change, if any.
    pub fn handle_packet(&mut self, now: Instant, p: &Packet) -> Option<Transition> {
        self.remote_discr = p.my_discr;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_diag = p.diag;
        self.remote_detect_mult = p.detect_mult;
        self.remote_min_tx = p.desired_min_tx;
        let old_interval = self.tx_interval();
        self.remote_min_rx = p.required_min_rx;
        if p.final_ && self.polling {
            self.polling = false;
            self.eff_tx = self.desired_min_tx;
            self.eff_rx = self.required_min_rx;
        }
        if p.poll {
            self.send_final = true;
        }
        // §6.8.2: a new interval applies from the next transmission on; a shorter one now.
        let new_interval = self.tx_interval();
        if new_interval != old_interval {
            match (new_interval, self.next_tx) {
                (Some(i), Some(at)) if at <= now + i => {}
                _ => self.schedule_tx(now),
            }
        }
        if self.state == State::AdminDown {
            return None;
        }
        self.last_rx = Some(now);
        self.detect_at = self.detection_time().map(|d| now + d);
        let t = if p.state == State::AdminDown {
            (self.state != State::Down)
                .then(|| self.set_state(now, State::Down, Diag::NEIGHBOR_DOWN))
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => Some(self.set_state(now, State::Init, Diag::NONE)),
                (State::Down, State::Init) => Some(self.set_state(now, State::Up, Diag::NONE)),
                (State::Init, State::Init | State::Up) => {
                    Some(self.set_state(now, State::Up, Diag::NONE))
                }
                (State::Up, State::Down) => {
                    Some(self.set_state(now, State::Down, Diag::NEIGHBOR_DOWN))
                }
                _ => None,
            }
        };
        // Demand mode of the peer, once both are Up, stops our periodic packets.
        if self.tx_interval().is_none() {
            self.next_tx = None;
        } else if self.next_tx.is_none() {
            self.schedule_tx(now);
        }
        t
    }

    /// Deadlines (§6.8.5): the Detection Time passed without a packet.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        if self.detect_at.is_none_or(|t| t > now) {
            return None;
        }
        self.detect_at = None;
        // §6.8.1: bfd.RemoteDiscr is zeroed when a Detection Time passes without a packet.
        self.remote_discr = 0;
        self.remote_demand = false;
        match self.state {
            State::Init | State::Up => {
                let t = self.set_state(now, State::Down, Diag::TIME_EXPIRED);
                self.remote_state = State::Down;
                Some(t)
            }
            _ => None,
        }
    }
}

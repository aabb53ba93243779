//! DOC: test support shared by the unit tests, the integration tests (`tests/session_*.rs`) and
//! the benchmark: [`Pair`], two sessions wired back to back on virtual time, and [`VecSource`],
//! an [`UpdateSource`] over a list of prefixes. Built with `cfg(test)` or the `testing` feature.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net};

use super::{
    Action, Command, ConfigError, Event, Session, SessionConfig, SourceStatus, StateKind,
    UpdateSource,
};
use crate::wire::{
    encode_announcements, AsPath, EncodeError, Family, Negotiated, NextHop, Nlri, Origin,
    PathAttributes,
};

/// Routes of one family with one next hop.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The family.
    pub family: Family,
    /// The next hop.
    pub next_hop: NextHop,
    /// The prefixes.
    pub nlri: Vec<Nlri>,
}

/// An [`UpdateSource`] announcing fixed batches of prefixes with one attribute set.
#[derive(Debug, Clone, Default)]
pub struct VecSource {
    /// The attributes of every route (NEXT_HOP is taken from the batch).
    pub attrs: PathAttributes,
    /// What to announce, in order.
    pub batches: Vec<Batch>,
    batch: usize,
    pos: usize,
    /// Families the peer asked to refresh, in order.
    pub refreshed: Vec<Family>,
    /// Report [`SourceStatus::Pending`] instead of `Synced` when done (an initial table that
    /// never completes).
    pub never_synced: bool,
    /// Write End-of-RIB for every negotiated family itself once the batches are out (like the
    /// RIB's Adj-RIB-Out), instead of leaving it to the session.
    pub writes_end_of_rib: bool,
    eor_written: usize,
}

/// `count` distinct IPv4 /24 prefixes from 10.0.0.0 upwards.
pub fn ipv4_prefixes(count: usize) -> Vec<Nlri> {
    (0..count)
        .map(|i| {
            let addr = 0x0a00_0000u32.wrapping_add((i as u32) << 8);
            Nlri::new(IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(addr), 24).unwrap_or_default(),
            ))
        })
        .collect()
}

impl VecSource {
    /// `count` IPv4 /24s with next hop `next_hop`, ORIGIN IGP, an empty AS_PATH and
    /// LOCAL_PREF 100 (iBGP, as between Calico nodes).
    pub fn ipv4(count: usize, next_hop: Ipv4Addr) -> VecSource {
        VecSource {
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::new()),
                local_pref: Some(100),
                ..PathAttributes::default()
            },
            batches: vec![Batch {
                family: Family::IPV4_UNICAST,
                next_hop: NextHop::V4(next_hop),
                nlri: ipv4_prefixes(count),
            }],
            ..VecSource::default()
        }
    }

    /// Starts over from the first prefix (a new session).
    pub fn rewind(&mut self) {
        self.batch = 0;
        self.pos = 0;
        self.eor_written = 0;
    }

    /// Whether everything was pulled.
    pub fn done(&self) -> bool {
        self.batch >= self.batches.len()
    }
}

impl UpdateSource for VecSource {
    fn next_update(
        &mut self,
        ctx: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        while let Some(b) = self.batches.get(self.batch) {
            let rest = b.nlri.get(self.pos..).unwrap_or_default();
            if rest.is_empty() {
                self.batch += 1;
                self.pos = 0;
                continue;
            }
            let n = encode_announcements(ctx, &self.attrs, b.family, &b.next_hop, rest, out)?;
            self.pos += n;
            return Ok(SourceStatus::Wrote);
        }
        if self.writes_end_of_rib {
            if let Some(f) = ctx.families.get(self.eor_written) {
                self.eor_written += 1;
                crate::wire::Update::end_of_rib(*f).encode(ctx, out)?;
                return Ok(SourceStatus::Wrote);
            }
        }
        Ok(if self.never_synced {
            SourceStatus::Pending
        } else {
            SourceStatus::Synced
        })
    }

    fn sends_end_of_rib(&self) -> bool {
        self.writes_end_of_rib
    }

    fn refresh(&mut self, family: Family) {
        self.refreshed.push(family);
        self.batch = 0;
        self.pos = 0;
    }
}

/// One side of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first session.
    A,
    /// The second session.
    B,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// What one side of a [`Pair`] has.
#[derive(Debug)]
pub struct End {
    /// The session.
    pub session: Session,
    /// Its outbound routes.
    pub source: VecSource,
    /// Events it produced (unless [`Pair::keep_events`] is off).
    pub events: Vec<Event>,
    /// Prefixes announced to it, summed over its `Update` events.
    pub announced: usize,
    /// Messages it wrote, with the time, if [`Pair::record`] is on.
    pub sent: Vec<(Instant, Bytes)>,
    /// Drop everything it writes (a peer gone silent).
    pub mute: bool,
    /// Refuse incoming connections (connection refused).
    pub refuse: bool,
}

impl End {
    fn new(session: Session) -> End {
        End {
            session,
            source: VecSource::default(),
            events: Vec::new(),
            announced: 0,
            sent: Vec::new(),
            mute: false,
            refuse: false,
        }
    }
}

/// Two sessions wired back to back through an in-memory "TCP connection", on virtual time:
/// [`Pair::run_for`] and [`Pair::run_until`] jump straight to the next deadline.
#[derive(Debug)]
pub struct Pair {
    /// Side A.
    pub a: End,
    /// Side B.
    pub b: End,
    /// Virtual now.
    pub now: Instant,
    /// When the pair was created.
    pub t0: Instant,
    /// Whether the connection is up.
    pub link_up: bool,
    /// Deliver bytes in pieces of this many octets (0: as written).
    pub chunk: usize,
    /// Keep a copy of every message written.
    pub record: bool,
    /// Keep events (off for benchmarks: only `announced` is counted).
    pub keep_events: bool,
    buf: BytesMut,
}

impl Pair {
    /// Two sessions in Idle.
    pub fn new(a: SessionConfig, b: SessionConfig) -> Result<Pair, ConfigError> {
        let now = Instant::now();
        Ok(Pair {
            a: End::new(Session::new(a)?),
            b: End::new(Session::new(b)?),
            now,
            t0: now,
            link_up: false,
            chunk: 0,
            record: false,
            keep_events: true,
            buf: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// iBGP between 10.0.0.1 and 10.0.0.2 in AS 64512 with Calico's defaults; B is passive.
    pub fn calico() -> Pair {
        let a = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 1), Some(64512));
        let mut b = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 2), Some(64512));
        b.passive = true;
        match Pair::new(a, b) {
            Ok(p) => p,
            Err(_) => unreachable_config(),
        }
    }

    /// One side.
    pub fn end(&mut self, side: Side) -> &mut End {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn ends(&mut self, side: Side) -> (&mut End, &mut End) {
        match side {
            Side::A => (&mut self.a, &mut self.b),
            Side::B => (&mut self.b, &mut self.a),
        }
    }

    /// Time since the pair was created.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.t0)
    }

    /// Starts both sessions.
    pub fn start(&mut self) {
        let now = self.now;
        self.a.session.handle_command(now, Command::Start);
        self.b.session.handle_command(now, Command::Start);
        self.pump();
    }

    /// Gives a command to one side and lets the pair react.
    pub fn command(&mut self, side: Side, cmd: Command) {
        let now = self.now;
        self.end(side).session.handle_command(now, cmd);
        self.pump();
    }

    /// Delivers raw bytes to `side` as if its peer had written them.
    pub fn inject(&mut self, side: Side, bytes: &[u8]) {
        let now = self.now;
        self.end(side).session.handle_bytes(now, bytes);
        self.pump();
    }

    /// Breaks the connection (both sides see it close).
    pub fn cut(&mut self) {
        if self.link_up {
            self.link_up = false;
            let now = self.now;
            self.a.session.handle_disconnected(now);
            self.b.session.handle_disconnected(now);
        }
        self.pump();
    }

    /// Whether both sides are Established.
    pub fn established(&self) -> bool {
        self.a.session.state() == StateKind::Established
            && self.b.session.state() == StateKind::Established
    }

    /// Drains every output of both sessions until neither has anything left; no time passes.
    pub fn pump(&mut self) {
        for _ in 0..1_000_000 {
            let a = self.pump_side(Side::A);
            let b = self.pump_side(Side::B);
            if !a && !b {
                return;
            }
        }
    }

    fn pump_side(&mut self, side: Side) -> bool {
        let now = self.now;
        let mut progress = false;
        let keep = self.keep_events;
        {
            let (me, _) = self.ends(side);
            while let Some(e) = me.session.poll_event() {
                progress = true;
                match &e {
                    Event::Update(u) => {
                        me.announced += u.announced().map(|a| a.nlri.len()).sum::<usize>();
                    }
                    // A new session starts from an empty Adj-RIB-Out on the peer's side.
                    Event::Established(_) => me.source.rewind(),
                    _ => {}
                }
                if keep {
                    me.events.push(e);
                }
            }
        }
        while let Some(action) = self.end(side).session.poll_action() {
            progress = true;
            match action {
                Action::Connect => self.connect_from(side),
                Action::Close => {
                    if self.link_up {
                        self.link_up = false;
                        let (_, other) = self.ends(side);
                        other.session.handle_disconnected(now);
                    }
                }
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let (record, chunk) = (self.record, self.chunk);
        loop {
            let link_up = self.link_up;
            buf.clear();
            let (me, other) = self.ends(side);
            if !me.session.poll_transmit(now, &mut buf, &mut me.source) {
                break;
            }
            progress = true;
            if !link_up || me.mute {
                continue;
            }
            if record {
                me.sent.push((now, Bytes::copy_from_slice(&buf)));
            }
            if chunk == 0 {
                other.session.handle_bytes(now, &buf);
            } else {
                for c in buf.chunks(chunk) {
                    other.session.handle_bytes(now, c);
                }
            }
        }
        self.buf = buf;
        progress
    }

    fn connect_from(&mut self, side: Side) {
        let now = self.now;
        let link_up = self.link_up;
        let (me, other) = self.ends(side);
        if link_up {
            // One connection between the two: a second attempt finds it in use.
            me.session.handle_disconnected(now);
            return;
        }
        if other.refuse || !other.session.is_waiting_for_connection() {
            me.session.handle_disconnected(now);
            return;
        }
        me.session.handle_connected(now);
        other.session.handle_connected(now);
        self.link_up = true;
    }

    /// The earliest deadline of either side.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.a.session.poll_timeout(), self.b.session.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Advances virtual time to `t` (or not at all if `t` is past) and fires due timers.
    pub fn advance_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
        let now = self.now;
        self.a.session.handle_timeout(now);
        self.b.session.handle_timeout(now);
        self.pump();
    }

    /// Runs for `d` of virtual time, jumping from deadline to deadline.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until_instant(end, |_| false);
    }

    /// Runs until `pred` holds (checked after every step) or `limit` of virtual time passed;
    /// returns whether `pred` held.
    pub fn run_until(&mut self, limit: Duration, pred: impl Fn(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        self.run_until_instant(end, pred)
    }

    fn run_until_instant(&mut self, end: Instant, pred: impl Fn(&Pair) -> bool) -> bool {
        self.pump();
        // Bounded so that a misconfigured zero-length timer cannot hang a test.
        for _ in 0..10_000_000 {
            if pred(self) {
                return true;
            }
            match self.next_deadline() {
                Some(t) if t <= end => self.advance_to(t),
                _ => {
                    self.advance_to(end);
                    return pred(self);
                }
            }
        }
        pred(self)
    }
}

fn unreachable_config() -> ! {
    // The fixed configuration above is valid; this is not reachable.
    std::process::abort()
}

//! DOC: Bidirectional Forwarding Detection (RFC 5880), sans-IO, for the transports of
//! RFC 5881 (single hop, UDP 3784, TTL 255 sent and required) and RFC 5883 (multihop, UDP
//! 4784), IPv4 and IPv6. Asynchronous mode only: the Echo function and authentication are not
//! implemented (a packet with the Authentication bit is dropped, as RFC 5880 §6.8.6 requires
//! when none is configured); a peer's Demand mode is honoured.
//!
//! # The sans-IO contract
//!
//! [`Bfd`] is the set of sessions of one speaker. It owns no socket and no clock: the driver
//! passes `now` to every call.
//!
//! * **Inputs**: [`Bfd::add`] / [`Bfd::remove`] (sessions are shared: adding the same
//!   [`Key`] twice returns the same session and counts a reference), [`Bfd::set_params`],
//!   [`Bfd::handle_packet`] (a received datagram with its source, its hop mode (the port it came
//!   to) and its TTL / hop limit: every check of §6.8.6 and RFC 5881 §5 is applied; a dropped
//!   packet is counted by [`DropReason`] and never panics) and [`Bfd::handle_timeout`].
//! * **Outputs**: [`Bfd::poll_transmit`] (the next packet, encoded into the caller's 24-octet
//!   buffer: nothing is allocated per packet), [`Bfd::poll_event`] (state changes with their
//!   diagnostic) and [`Bfd::poll_timeout`] (when to call `handle_timeout` next; `now` while a
//!   packet is owed).
//! * **The driver's loop**: one input, then `poll_transmit` until `None`, drain `poll_event`,
//!   sleep until `poll_timeout` or the next datagram.
//!
//! Local discriminators are random, non-zero and unique; a removed session sends one AdminDown
//! packet (RFC 5880 §6.8.16) before it is forgotten.

mod binding;
mod clients;
mod hub;
mod packet;
mod session;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

pub use binding::{Binding, Link, Verdict};
pub use clients::{Attachment, Client, Clients};
pub use hub::{Hub, Published};
pub use packet::{Diag, DropReason, Packet, State, PACKET_LEN, VERSION};
pub use session::{Session, SessionParams, Transition};

/// UDP port of single-hop BFD (RFC 5881).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP port of multihop BFD (RFC 5883).
pub const PORT_MULTIHOP: u16 = 4784;
/// Where a speaker receives, with the hop mode: single hop and multihop (RFC 5881, RFC 5883),
/// each on the IPv4 and the IPv6 wildcard address.
pub const LISTEN: [(SocketAddr, bool); 4] = {
    let (v4, v6) = (
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    );
    [
        (SocketAddr::new(v4, PORT_SINGLE_HOP), false),
        (SocketAddr::new(v6, PORT_SINGLE_HOP), false),
        (SocketAddr::new(v4, PORT_MULTIHOP), true),
        (SocketAddr::new(v6, PORT_MULTIHOP), true),
    ]
};
/// The source port range (RFC 5881 §4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// What identifies a session: the peer's address, our address (when configured) and the hop
/// mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The peer.
    pub remote: IpAddr,
    /// Our source address, if fixed.
    pub local: Option<IpAddr>,
    /// RFC 5883 multihop (port 4784) rather than single hop (3784).
    pub multihop: bool,
}

impl Key {
    /// The UDP port of the session's hop mode: [`PORT_MULTIHOP`] or [`PORT_SINGLE_HOP`].
    pub fn port(&self) -> u16 {
        if self.multihop {
            PORT_MULTIHOP
        } else {
            PORT_SINGLE_HOP
        }
    }
}

/// A state change to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdEvent {
    /// The session.
    pub key: Key,
    /// Its local discriminator.
    pub discr: u32,
    /// What changed.
    pub transition: Transition,
}

/// A packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// To whom, from where, which port.
    pub key: Key,
    /// The local discriminator of the sending session.
    pub discr: u32,
    /// Octets written into the buffer.
    pub len: usize,
    /// The session's last packet (its AdminDown once removed): it is gone, and so may be the
    /// driver's send path.
    pub last: bool,
}

/// How a received datagram arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Source address.
    pub src: IpAddr,
    /// Destination address, when the driver knows it.
    pub dst: Option<IpAddr>,
    /// It came to the multihop port.
    pub multihop: bool,
    /// IP TTL / IPv6 hop limit, when the driver knows it.
    pub ttl: Option<u8>,
}

/// Counters of the whole set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets accepted.
    pub rx: u64,
    /// Packets built for sending.
    pub tx: u64,
    /// Dropped, per [`DropReason::ALL`] index.
    pub dropped: [u64; 12],
}

impl Counters {
    /// Drops of one reason.
    pub fn dropped(&self, r: DropReason) -> u64 {
        DropReason::ALL
            .iter()
            .position(|x| *x == r)
            .and_then(|i| self.dropped.get(i))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug)]
struct Entry {
    key: Key,
    session: Session,
    refs: u32,
    /// Removed: one AdminDown packet, then gone.
    removing: bool,
    rx: u64,
    tx: u64,
    /// The deadline last pushed on the timer heap (older heap entries are stale).
    pushed: Option<Instant>,
    /// In the transmit queue.
    queued: bool,
}

/// The BFD sessions of one speaker.
#[derive(Debug)]
pub struct Bfd {
    sessions: BTreeMap<u32, Entry>,
    events: VecDeque<BfdEvent>,
    rng: u64,
    counters: Counters,
    /// Deadlines (lazy: an entry is valid while it equals its session's `pushed`), so a
    /// timeout or a transmission costs O(log n), not a scan of every session.
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Sessions with a packet due, in order (served first come, first served).
    due: VecDeque<u32>,
    /// See [`Bfd::set_tx_slack`].
    slack: Duration,
    /// Deadlines met inside the slack window of one `handle_timeout`, pushed back on the heap
    /// after it (kept: its capacity is reused).
    deferred: Vec<(Instant, u32)>,
}

/// A read-only view of one session (for `show bfd sessions`).
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    /// Its key.
    pub key: Key,
    /// Its protocol state.
    pub session: &'a Session,
    /// How many clients share it.
    pub refs: u32,
    /// Packets accepted.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
}

impl Bfd {
    /// An empty set; `seed` feeds the discriminators and the jitter (any value).
    pub fn new(seed: u64) -> Bfd {
        Bfd {
            sessions: BTreeMap::new(),
            events: VecDeque::new(),
            rng: seed ^ 0x9E37_79B9_7F4A_7C15 | 1,
            counters: Counters::default(),
            timers: BinaryHeap::new(),
            due: VecDeque::new(),
            slack: Duration::ZERO,
            deferred: Vec::new(),
        }
    }

    /// Lets periodic packets go up to `slack` early (per session at most a tenth of its
    /// interval; [`Session::set_tx_slack`]): one wake-up then serves every session whose packet
    /// falls due within the window, instead of one wake-up per session. With 200 sessions at
    /// 100 ms and 5 ms of slack, a driver wakes at most ~200 times a second for transmission
    /// instead of ~2,000. Zero (the default) sends each packet at its own deadline.
    pub fn set_tx_slack(&mut self, slack: Duration) {
        self.slack = slack;
        for e in self.sessions.values_mut() {
            e.session.set_tx_slack(slack);
        }
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// After a session changed: queue it if a packet is owed now, push its new deadline.
    fn touch(&mut self, discr: u32, now: Instant) {
        let Some(e) = self.sessions.get_mut(&discr) else {
            return;
        };
        if !e.queued && e.session.wants_transmit(now) {
            e.queued = true;
            self.due.push_back(discr);
        }
        // A queued session's due transmission is the queue's business (its next deadline is
        // pushed once it has sent).
        let d = e.session.next_deadline().filter(|t| !e.queued || *t > now);
        if d != e.pushed {
            e.pushed = d;
            if let Some(t) = d {
                self.timers.push(Reverse((t, discr)));
            }
        }
    }

    /// The session of `key`, if any.
    pub fn find(&self, key: &Key) -> Option<u32> {
        self.sessions
            .iter()
            .find(|(_, e)| e.key == *key && !e.removing)
            .map(|(d, _)| *d)
    }

    /// Adds a client of the session `key` (creating it in Down); returns its discriminator.
    /// An existing session takes the new parameters.
    pub fn add(&mut self, now: Instant, key: Key, params: SessionParams) -> u32 {
        if let Some(d) = self.find(&key) {
            if let Some(e) = self.sessions.get_mut(&d) {
                e.refs += 1;
                if e.session.params() != params {
                    e.session.set_params(now, params);
                }
            }
            self.touch(d, now);
            return d;
        }
        let discr = loop {
            let d = (self.random() >> 32) as u32;
            if d != 0 && !self.sessions.contains_key(&d) {
                break d;
            }
        };
        let seed = self.random();
        let mut session = Session::new(now, discr, params, seed);
        session.set_tx_slack(self.slack);
        self.sessions.insert(
            discr,
            Entry {
                key,
                session,
                refs: 1,
                removing: false,
                rx: 0,
                tx: 0,
                pushed: None,
                queued: false,
            },
        );
        self.touch(discr, now);
        discr
    }

    /// Drops a client; the last one takes the session AdminDown, sends that once, and forgets
    /// it. Returns whether the session is going away.
    pub fn remove(&mut self, now: Instant, discr: u32) -> bool {
        let Some(e) = self.sessions.get_mut(&discr) else {
            return false;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs > 0 {
            return false;
        }
        e.removing = true;
        if let Some(t) = e.session.set_admin_down(now, true) {
            self.events.push_back(BfdEvent {
                key: e.key,
                discr,
                transition: t,
            });
        }
        self.touch(discr, now);
        true
    }

    /// New parameters for a session (a Poll Sequence if it is Up).
    pub fn set_params(&mut self, now: Instant, discr: u32, params: SessionParams) {
        if let Some(e) = self.sessions.get_mut(&discr) {
            e.session.set_params(now, params);
        }
        self.touch(discr, now);
    }

    /// Administratively down (true) or back up (false).
    pub fn set_admin_down(&mut self, now: Instant, discr: u32, down: bool) {
        if let Some(e) = self.sessions.get_mut(&discr) {
            if let Some(t) = e.session.set_admin_down(now, down) {
                self.events.push_back(BfdEvent {
                    key: e.key,
                    discr,
                    transition: t,
                });
            }
        }
        self.touch(discr, now);
    }

    /// Takes every session AdminDown (RFC 5880 §6.8.16: a speaker shutting down, so that
    /// its peers do not count it as a failure).
    pub fn admin_down_all(&mut self, now: Instant) {
        let ds: Vec<u32> = self.sessions().map(|v| v.session.local_discr()).collect();
        for d in ds {
            self.set_admin_down(now, d, true);
        }
    }

    fn drop_packet(&mut self, r: DropReason) -> Result<(), DropReason> {
        if let Some(i) = DropReason::ALL.iter().position(|x| *x == r) {
            if let Some(c) = self.counters.dropped.get_mut(i) {
                *c += 1;
            }
        }
        Err(r)
    }

    /// A received datagram (RFC 5880 §6.8.6, RFC 5881 §5, RFC 5883). `Err` names why it was
    /// dropped (already counted).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        rx: Received,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        if !rx.multihop && rx.ttl.is_some_and(|t| t != 255) {
            return self.drop_packet(DropReason::Ttl);
        }
        let p = match Packet::decode(bytes) {
            Ok(p) => p,
            Err(r) => return self.drop_packet(r),
        };
        let discr = if p.your_discr != 0 {
            match self.sessions.get(&p.your_discr) {
                None => return self.drop_packet(DropReason::UnknownDiscriminator),
                Some(e) if e.key.remote != rx.src || e.key.multihop != rx.multihop => {
                    return self.drop_packet(DropReason::AddressMismatch)
                }
                Some(_) => p.your_discr,
            }
        } else {
            if !matches!(p.state, State::Down | State::AdminDown) {
                return self.drop_packet(DropReason::ZeroDiscriminator);
            }
            let found = self.sessions.iter().find(|(_, e)| {
                !e.removing
                    && e.key.remote == rx.src
                    && e.key.multihop == rx.multihop
                    && match (e.key.local, rx.dst) {
                        (Some(l), Some(d)) => l == d,
                        _ => true,
                    }
            });
            match found {
                Some((d, _)) => *d,
                None => return self.drop_packet(DropReason::NoSession),
            }
        };
        self.counters.rx += 1;
        if let Some(e) = self.sessions.get_mut(&discr) {
            e.rx += 1;
            if let Some(t) = e.session.handle_packet(now, &p) {
                self.events.push_back(BfdEvent {
                    key: e.key,
                    discr,
                    transition: t,
                });
            }
        }
        self.touch(discr, now);
        Ok(())
    }

    /// Deadlines that passed, and periodic packets due within the slack (spurious calls are
    /// no-ops).
    pub fn handle_timeout(&mut self, now: Instant) {
        let horizon = now + self.slack;
        while let Some(Reverse((t, d))) = self.timers.peek().copied() {
            if t > horizon {
                break;
            }
            self.timers.pop();
            let Some(e) = self.sessions.get_mut(&d) else {
                continue;
            };
            if e.pushed != Some(t) {
                continue; // stale
            }
            e.pushed = None;
            if let Some(tr) = e.session.handle_timeout(now) {
                self.events.push_back(BfdEvent {
                    key: e.key,
                    discr: d,
                    transition: tr,
                });
            }
            if !e.queued && e.session.wants_transmit(now) {
                e.queued = true;
                self.due.push_back(d);
            }
            // A queued session pushes its next deadline once it has sent (`poll_transmit`);
            // a deadline still inside the window (a detection time, or a session with less
            // slack) goes back on the heap after the loop.
            let next = e.session.next_deadline().filter(|_| !e.queued);
            if let Some(x) = next {
                e.pushed = Some(x);
                if x <= horizon {
                    self.deferred.push((x, d));
                } else {
                    self.timers.push(Reverse((x, d)));
                }
            }
        }
        for (x, d) in self.deferred.drain(..) {
            self.timers.push(Reverse((x, d)));
        }
    }

    /// The next packet owed, written into `buf`; sessions are served in the order their
    /// packets fell due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; PACKET_LEN]) -> Option<Transmit> {
        while let Some(d) = self.due.pop_front() {
            let Some(e) = self.sessions.get_mut(&d) else {
                continue;
            };
            e.queued = false;
            if !e.session.wants_transmit(now) {
                self.touch(d, now);
                continue;
            }
            let p = e.session.transmit(now);
            p.encode(buf);
            e.tx += 1;
            self.counters.tx += 1;
            let t = Transmit {
                key: e.key,
                discr: d,
                len: PACKET_LEN,
                last: e.removing,
            };
            if e.removing {
                self.sessions.remove(&d);
            } else {
                self.touch(d, now);
            }
            return Some(t);
        }
        None
    }

    /// The next state change.
    pub fn poll_event(&mut self) -> Option<BfdEvent> {
        self.events.pop_front()
    }

    /// When to call [`Bfd::handle_timeout`] / [`Bfd::poll_transmit`] next (may be early:
    /// a spurious call is a no-op).
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if !self.due.is_empty() {
            return Some(now);
        }
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Every session.
    pub fn sessions(&self) -> impl Iterator<Item = SessionView<'_>> {
        self.sessions
            .values()
            .filter(|e| !e.removing)
            .map(|e| SessionView {
                key: e.key,
                session: &e.session,
                refs: e.refs,
                rx: e.rx,
                tx: e.tx,
            })
    }

    /// One session.
    pub fn session(&self, discr: u32) -> Option<&Session> {
        self.sessions.get(&discr).map(|e| &e.session)
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

//! DOC: the BFD side of a BGP speaker, sans-IO: the sessions ([`Bfd`]) and the BGP peers bound
//! to each ([`Clients`]) in one value, so that a driver is a loop of receive, send and sleep.
//!
//! * A peer with BFD attaches ([`Hub::attach`]) to the session of its [`Key`] (address, source
//!   address, hop mode): peers to one key share one session, which is removed (after one
//!   AdminDown packet, [`Transmit::last`]) when its last peer detaches ([`Hub::detach`]).
//!   Each attachment keeps its peer's notifier; attaching returns the [`Link`] the peer sees
//!   now (Up at once when it joins a session that is Up).
//! * Every state change is published ([`Hub::poll_event`]) with the [`Link`] the session's
//!   peers must now see and the notifier of each (what the link means for BGP is
//!   [`super::Binding`]'s), and with the time since the last packet (the detection time, for
//!   the metrics).
//! * [`Hub::transmit`] sends what is owed over each session's send path (`S`: a socket in
//!   the daemon), made at the session's first packet and dropped after its last.
//! * [`Hub::shutdown`] takes every session AdminDown (RFC 5880 §6.8.16) so that the peers do
//!   not count a speaker going away as a failure.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::PACKET_LEN;
use super::{
    Attachment, Bfd, BfdEvent, Clients, DropReason, Key, Link, Received, SessionParams, Transmit,
};

/// The sessions of one speaker and the peers bound to them; `T` tells one peer of a change
/// (the peer's command queue in the daemon), `S` sends a session's packets (its socket).
#[derive(Debug)]
pub struct Hub<T, S = ()> {
    engine: Bfd,
    clients: Clients<T>,
    /// Each session's send path by discriminator (`None`: it could not be made).
    paths: HashMap<u32, Option<S>>,
}

/// A state change to publish.
#[derive(Debug)]
pub struct Published<'a, T> {
    /// The change.
    pub event: BfdEvent,
    /// Time since the session's last accepted packet, if any (how long detection took).
    pub since_rx: Option<Duration>,
    /// The link the session's peers must now see and their attachments, each with its peer's
    /// notifier (`None`: no peer is attached, as after the last one detached).
    pub notify: Option<(Link, &'a [Attachment<T>])>,
}

impl<T, S> Hub<T, S> {
    /// No sessions; `seed` feeds the discriminators and the jitter, `tx_slack` is
    /// [`Bfd::set_tx_slack`]'s.
    pub fn new(seed: u64, tx_slack: Duration) -> Self {
        let mut engine = Bfd::new(seed);
        engine.set_tx_slack(tx_slack);
        Hub {
            engine,
            clients: Clients::default(),
            paths: HashMap::new(),
        }
    }

    /// Attaches `peer`, told of changes by `notify`, to the session of `key` (created in Down
    /// for its first peer; an existing one takes `params`): the attachment's id (to detach it)
    /// and the link the peer sees now ([`Clients::attach`]).
    pub fn attach(
        &mut self,
        now: Instant,
        key: Key,
        peer: &str,
        params: SessionParams,
        notify: T,
    ) -> (u64, Link) {
        self.engine.add(now, key, params);
        self.clients.attach(key, peer, notify)
    }

    /// Detaches the attachment `id` (its notifier goes with it); the session's last peer
    /// removes the session. An unknown attachment is ignored.
    pub fn detach(&mut self, now: Instant, key: &Key, id: u64) {
        if !self.clients.detach(key, id) {
            return;
        }
        if let Some(d) = self.engine.find(key) {
            self.engine.remove(now, d);
        }
    }

    /// A received datagram ([`Bfd::handle_packet`]).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        rx: Received,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        self.engine.handle_packet(now, rx, bytes)
    }

    /// Deadlines that passed ([`Bfd::handle_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    /// When to call [`Hub::handle_timeout`] next.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.engine.poll_timeout(now)
    }

    /// Sends every packet owed ([`Bfd::poll_transmit`]): `send` is given the session's send
    /// path, the packet's [`Transmit`] and its octets. A session's path is made by `open` at
    /// its first packet (`None`: it cannot be; that session's packets are dropped, as on a
    /// lossy link) and dropped after its last ([`Transmit::last`]).
    pub fn transmit(
        &mut self,
        now: Instant,
        mut open: impl FnMut(&Transmit) -> Option<S>,
        mut send: impl FnMut(&S, &Transmit, &[u8]),
    ) {
        let mut buf = [0u8; PACKET_LEN];
        while let Some(t) = self.engine.poll_transmit(now, &mut buf) {
            let path = self.paths.entry(t.discr).or_insert_with(|| open(&t));
            if let Some(p) = path {
                send(p, &t, buf.get(..t.len).unwrap_or(&[]));
            }
            if t.last {
                self.paths.remove(&t.discr);
            }
        }
    }

    /// The next state change, at `now` (`wall`: the same instant on the wall clock, kept for
    /// `show bfd sessions`).
    pub fn poll_event(&mut self, now: Instant, wall: SystemTime) -> Option<Published<'_, T>> {
        let event = self.engine.poll_event()?;
        let since_rx = (self.engine.session(event.discr))
            .and_then(|s| s.last_rx())
            .map(|l| now.saturating_duration_since(l));
        let notify = self.clients.changed(event.key, wall, &event.transition);
        Some(Published {
            event,
            since_rx,
            notify,
        })
    }

    /// The speaker goes away: every session AdminDown (its packets follow).
    pub fn shutdown(&mut self, now: Instant) {
        self.engine.admin_down_all(now);
    }

    /// The sessions.
    pub fn engine(&self) -> &Bfd {
        &self.engine
    }

    /// The peers bound to them.
    pub fn clients(&self) -> &Clients<T> {
        &self.clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::{Packet, State};
    use std::net::IpAddr;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn key(remote: [u8; 4]) -> Key {
        Key {
            remote: IpAddr::from(remote),
            local: None,
            multihop: false,
        }
    }

    fn fast() -> SessionParams {
        SessionParams {
            min_tx: Duration::from_millis(10),
            min_rx: Duration::from_millis(10),
            idle_tx: Duration::from_millis(10),
            detect_mult: 3,
        }
    }

    /// Delivers what `from` owes to `to` (received from `src`); the packets sent.
    fn deliver(
        now: Instant,
        from: &mut Hub<u32>,
        to: &mut Hub<u32>,
        src: [u8; 4],
    ) -> Vec<(Transmit, Packet)> {
        let mut out = Vec::new();
        from.transmit(
            now,
            |_| Some(()),
            |_, t, bytes| {
                let rx = Received {
                    src: IpAddr::from(src),
                    dst: None,
                    multihop: false,
                    ttl: Some(255),
                };
                let _ = to.handle_packet(now, rx, bytes);
                out.push((*t, Packet::decode(bytes).unwrap()));
            },
        );
        out
    }

    /// Every state change of `h`: (notifiers told, link state, link failed), or `None` unbound.
    fn events(h: &mut Hub<u32>, now: Instant) -> Vec<Option<(Vec<u32>, State, bool)>> {
        let mut v = Vec::new();
        while let Some(p) = h.poll_event(now, SystemTime::UNIX_EPOCH) {
            let told = |a: &[Attachment<u32>]| a.iter().map(|a| a.notify).collect();
            v.push(p.notify.map(|(l, a)| (told(a), l.state, l.failed)));
        }
        v
    }

    /// Two hubs with a session Up between them; `a` has peers "p" and "q" on it (told by 7 and
    /// 8; their attachment ids).
    fn up() -> (Instant, Hub<u32>, Hub<u32>, [u64; 2]) {
        let now = Instant::now();
        let (mut a, mut b) = (Hub::new(1, Duration::ZERO), Hub::new(2, Duration::ZERO));
        let (p, l) = a.attach(now, key(B), "p", fast(), 7);
        assert_eq!(l.state, State::Down);
        let (q, _) = a.attach(now, key(B), "q", fast(), 8);
        b.attach(now, key(A), "r", fast(), 9);
        for _ in 0..4 {
            deliver(now, &mut a, &mut b, A);
            deliver(now, &mut b, &mut a, B);
        }
        assert_eq!(a.engine().sessions().count(), 1, "one session per key");
        assert_eq!(a.clients().peers(&key(B)).collect::<Vec<_>>(), ["p", "q"]);
        assert_eq!(
            events(&mut a, now).last(),
            Some(&Some((vec![7, 8], State::Up, false)))
        );
        assert_eq!(
            events(&mut b, now).last(),
            Some(&Some((vec![9], State::Up, false)))
        );
        (now, a, b, [p, q])
    }

    #[test]
    fn a_detection_timeout_is_published_as_a_failure_to_every_bound_peer() {
        let (now, mut a, _b, _) = up();
        let later = now + Duration::from_secs(1);
        a.handle_timeout(later);
        let p = a.poll_event(later, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(p.event.transition.to, State::Down);
        assert_eq!(p.since_rx, Some(Duration::from_secs(1)));
        let (l, told) = p.notify.unwrap();
        assert_eq!((l.state, l.failed), (State::Down, true));
        let told: Vec<u32> = told.iter().map(|a| a.notify).collect();
        assert_eq!(told, [7, 8]);
    }

    #[test]
    fn a_peer_attaching_to_a_session_that_is_up_sees_it_up_at_once() {
        let (now, mut a, _b, _) = up();
        let (_, l) = a.attach(now, key(B), "s", fast(), 10);
        assert_eq!((l.state, l.failed), (State::Up, false));
        assert_eq!(a.engine().sessions().count(), 1, "the same session");
        a.handle_timeout(now + Duration::from_secs(1));
        assert_eq!(
            events(&mut a, now),
            [Some((vec![7, 8, 10], State::Down, true))]
        );
    }

    #[test]
    fn the_last_peer_detaching_sends_one_admin_down_and_removes_the_session() {
        let (now, mut a, mut b, [p, q]) = up();
        a.detach(now, &key(B), p);
        a.detach(now, &key(B), p);
        assert!(deliver(now, &mut a, &mut b, A).is_empty(), "q still bound");
        a.detach(now, &key(B), q);
        let sent = deliver(now, &mut a, &mut b, A);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0.last);
        assert_eq!(sent[0].1.state, State::AdminDown);
        assert_eq!(a.engine().sessions().count(), 0);
        // Unbound now: published without a notifier.
        assert_eq!(events(&mut a, now), [None]);
        // The peer saw AdminDown: no failure for its BGP.
        assert_eq!(events(&mut b, now), [Some((vec![9], State::Down, false))]);
    }

    #[test]
    fn a_send_path_is_made_at_a_sessions_first_packet_and_dropped_after_its_last() {
        use std::rc::Rc;
        let now = Instant::now();
        let mut a: Hub<u32, Rc<()>> = Hub::new(1, Duration::ZERO);
        let path = Rc::new(());
        let (p, _) = a.attach(now, key(B), "p", fast(), 7);
        let (mut opened, mut sent) = (0, 0);
        for t in [now, now + Duration::from_secs(2)] {
            a.handle_timeout(t);
            let open = |_: &Transmit| {
                opened += 1;
                Some(Rc::clone(&path))
            };
            a.transmit(t, open, |_, _, _| sent += 1);
        }
        assert_eq!((opened, sent), (1, 2), "one path for the session's packets");
        assert_eq!(Rc::strong_count(&path), 2);
        a.detach(now, &key(B), p);
        let mut last = Vec::new();
        a.transmit(now, |_| None, |_, t, _| last.push(t.last));
        assert_eq!(last, [true], "the AdminDown goes over the same path");
        assert_eq!(Rc::strong_count(&path), 1, "then the path is dropped");
        // A path that cannot be made: the session's packets are dropped, no retry per packet.
        let (mut tries, mut sent) = (0, 0);
        a.attach(now, key(B), "q", fast(), 8);
        for t in [now, now + Duration::from_secs(2)] {
            a.handle_timeout(t);
            a.transmit(
                t,
                |_| {
                    tries += 1;
                    None
                },
                |_, _, _| sent += 1,
            );
        }
        assert_eq!((tries, sent), (1, 0));
    }

    #[test]
    fn shutdown_takes_every_session_admin_down() {
        let (now, mut a, mut b, _) = up();
        a.shutdown(now);
        let sent = deliver(now, &mut a, &mut b, A);
        assert!(!sent.is_empty());
        assert!(sent
            .iter()
            .all(|(t, p)| p.state == State::AdminDown && !t.last));
        assert_eq!(events(&mut b, now), [Some((vec![9], State::Down, false))]);
    }
}

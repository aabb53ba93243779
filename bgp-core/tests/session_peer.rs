//! `Peer`: collision detection (RFC 4271 §6.8) over two connections, passive mode, and a
//! restarted peer's new connection (RFC 4724), on virtual time with a small in-memory network.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_core::peer::{ConnId, Peer, PeerAction};
use bgp_core::session::testing::VecSource;
use bgp_core::session::{Command, DownReason, Event, NoUpdates, Session, SessionConfig, StateKind};
use bgp_core::wire::{Message, Negotiated, Notification};
use bytes::BytesMut;

struct Conn {
    /// Each peer's id for this connection.
    ends: [Option<ConnId>; 2],
    /// The peer that initiated it.
    initiator: usize,
}

/// Two peers and the TCP connections between them. Connection attempts made in the same
/// instant cross on the wire (both sides see the other's attempt before their own completes).
struct Net {
    now: Instant,
    peers: [Peer; 2],
    sources: [VecSource; 2],
    events: [Vec<Event>; 2],
    conns: Vec<Conn>,
    connects: usize,
}

fn cfg(id: u8) -> SessionConfig {
    let mut c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, id), Some(64512));
    c.connect_delay = Duration::from_secs(2);
    c
}

impl Net {
    fn new(a: SessionConfig, b: SessionConfig) -> Net {
        let now = Instant::now();
        Net {
            now,
            peers: [Peer::new(a).unwrap(), Peer::new(b).unwrap()],
            sources: [
                VecSource::ipv4(5, Ipv4Addr::new(10, 0, 0, 1)),
                VecSource::ipv4(5, Ipv4Addr::new(10, 0, 0, 2)),
            ],
            events: [Vec::new(), Vec::new()],
            conns: Vec::new(),
            connects: 0,
        }
    }

    fn start(&mut self) {
        for p in &mut self.peers {
            p.handle_command(self.now, Command::Start);
        }
        self.pump();
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            let mut attempts = Vec::new();
            for i in 0..2 {
                while let Some(e) = self.peers[i].poll_event() {
                    if matches!(e, Event::Established(_)) {
                        self.sources[i] = VecSource::ipv4(5, Ipv4Addr::new(10, 0, 0, 1 + i as u8));
                    }
                    self.events[i].push(e);
                    progress = true;
                }
                while let Some(a) = self.peers[i].poll_action() {
                    progress = true;
                    match a {
                        PeerAction::Connect(id) => attempts.push((i, id)),
                        PeerAction::Close(id) => self.close(i, id),
                    }
                }
            }
            // Crossing attempts: every listener sees its SYN before any completes.
            let mut accepted = Vec::new();
            for (i, id) in attempts {
                self.connects += 1;
                let j = 1 - i;
                let other = self.peers[j].handle_incoming(self.now);
                accepted.push((i, id, other));
            }
            for (i, id, other) in accepted {
                let j = 1 - i;
                match other {
                    Some(jid) => {
                        let mut ends = [None, None];
                        ends[i] = Some(id);
                        ends[j] = Some(jid);
                        self.conns.push(Conn { ends, initiator: i });
                        if !self.peers[i].handle_connected(self.now, id) {
                            self.close(i, id);
                        }
                    }
                    None => self.peers[i].handle_disconnected(self.now, id),
                }
            }
            for i in 0..2 {
                let j = 1 - i;
                for c in 0..self.conns.len() {
                    let (Some(id), Some(jid)) = (self.conns[c].ends[i], self.conns[c].ends[j])
                    else {
                        continue;
                    };
                    let mut buf = BytesMut::new();
                    while self.peers[i].poll_transmit(self.now, id, &mut buf, &mut self.sources[i])
                    {
                        progress = true;
                        let bytes = buf.split();
                        self.peers[j].handle_bytes(self.now, jid, &bytes);
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn close(&mut self, i: usize, id: ConnId) {
        let j = 1 - i;
        if let Some(pos) = self.conns.iter().position(|c| c.ends[i] == Some(id)) {
            let c = self.conns.remove(pos);
            if let Some(jid) = c.ends[j] {
                self.peers[j].handle_disconnected(self.now, jid);
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.pump();
        loop {
            let next = [self.peers[0].poll_timeout(), self.peers[1].poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for p in &mut self.peers {
                        p.handle_timeout(self.now);
                    }
                    self.pump();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    fn established(&self) -> bool {
        self.peers
            .iter()
            .all(|p| p.state() == StateKind::Established)
    }

    fn count(&self, i: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.events[i].iter().filter(|e| f(e)).count()
    }
}

fn collision_sent(e: &Event) -> bool {
    matches!(e, Event::Down(d) if d.reason == DownReason::NotificationSent(Notification::cease(7)))
}

fn collision_received(e: &Event) -> bool {
    matches!(e, Event::Down(d) if d.reason == DownReason::NotificationReceived(Notification::cease(7)))
}

/// Both peers connect at the same instant; returns the net once settled.
fn collide(id0: u8, id1: u8) -> Net {
    let mut n = Net::new(cfg(id0), cfg(id1));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert_eq!(n.connects, 2, "both sides connected out");
    assert!(n.established());
    // One connection survives, established once on each side, and it carries the routes.
    assert_eq!(n.conns.len(), 1);
    for i in 0..2 {
        assert_eq!(n.count(i, |e| matches!(e, Event::Established(_))), 1);
        assert_eq!(
            n.count(i, |e| matches!(e, Event::Down(d) if d.was_established())),
            0
        );
        assert_eq!(n.peers[i].connections().count(), 1);
    }
    let routes: usize = n.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.announced().map(|a| a.nlri.len()).sum::<usize>()),
            _ => None,
        })
        .sum();
    assert_eq!(routes, 5);
    n
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier_when_we_are_higher() {
    // Peer 0 has the higher identifier: its outgoing connection wins on both sides.
    let n = collide(2, 1);
    assert_eq!(n.conns[0].initiator, 0);
    // Peer 0 writes first in this harness, so peer 1 (the lower identifier) has both OPENs
    // first: it closes its own connection with Cease 6/7 and keeps peer 0's.
    assert_eq!(n.count(1, collision_sent), 1);
    assert_eq!(n.count(0, collision_received), 1);
    assert_eq!(n.count(0, collision_sent), 0);
    stats_cover_both_connections(&n, 1);
}

/// A peer's counters cover the connection lost in the collision too: everything one peer sent
/// on either connection the other received, the OPEN on each, and the Cease that `resolver`
/// sent instead of its second OPEN.
fn stats_cover_both_connections(n: &Net, resolver: usize) {
    let s = [n.peers[0].stats(), n.peers[1].stats()];
    assert_eq!(s[0].sent, s[1].received);
    assert_eq!(s[1].sent, s[0].received);
    let (r, o) = (s[resolver], s[1 - resolver]);
    assert_eq!((o.sent.open, o.received.notification), (2, 1), "{o:?}");
    assert_eq!((r.sent.open, r.sent.notification), (1, 1), "{r:?}");
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier_when_we_are_lower() {
    let n = collide(1, 2);
    assert_eq!(n.conns[0].initiator, 1);
    // Here peer 1, the higher identifier, resolves: it closes the connection peer 0 initiated.
    assert_eq!(n.count(1, collision_sent), 1);
    assert_eq!(n.count(0, collision_received), 1);
    assert_eq!(n.count(0, collision_sent), 0);
    stats_cover_both_connections(&n, 1);
}

#[test]
fn passive_peer_never_connects_but_accepts() {
    let mut a = cfg(1);
    a.passive = true;
    let mut n = Net::new(a, cfg(2));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    assert_eq!(n.connects, 1);
    assert_eq!(n.conns[0].initiator, 1);
    // Both passive: nobody ever connects.
    let mut a = cfg(1);
    a.passive = true;
    let mut b = cfg(2);
    b.passive = true;
    let mut n = Net::new(a, b);
    n.start();
    n.run_for(Duration::from_secs(3600));
    assert_eq!(n.connects, 0);
    assert_eq!(n.peers[0].state(), StateKind::Active);
}

#[test]
fn stopped_peer_refuses_connections() {
    let mut n = Net::new(cfg(1), cfg(2));
    n.peers[1].handle_command(n.now, Command::Start);
    n.run_for(Duration::from_secs(30));
    assert!(n.connects >= 5, "peer 1 kept retrying every 5 s");
    assert!(n.conns.is_empty());
    assert_eq!(n.peers[0].state(), StateKind::Idle);
}

/// A hand-driven session standing in for peer 1 on a second connection to peer 0.
fn intruder(mut c: SessionConfig, n: &mut Net) -> (Session, ConnId, Vec<Message>) {
    c.passive = true;
    let mut s = Session::new(c).unwrap();
    s.handle_command(n.now, Command::Start);
    let id = n.peers[0]
        .handle_incoming(n.now)
        .expect("accepted as a second connection");
    assert!(s.handle_connected(n.now));
    let mut got = Vec::new();
    for _ in 0..10 {
        let mut buf = BytesMut::new();
        while s.poll_transmit(n.now, &mut buf, &mut NoUpdates) {
            let b = buf.split();
            n.peers[0].handle_bytes(n.now, id, &b);
        }
        let mut buf = BytesMut::new();
        while n.peers[0].poll_transmit(n.now, id, &mut buf, &mut NoUpdates) {
            let b = buf.split().freeze();
            got.push(Message::decode(b.clone(), &Negotiated::default()).unwrap());
            s.handle_bytes(n.now, &b);
        }
    }
    (s, id, got)
}

#[test]
fn new_connection_colliding_with_an_established_one_is_closed() {
    let mut n = Net::new(cfg(1), cfg(2));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    let (_, id, got) = intruder(cfg(2), &mut n);
    // RFC 4271 §6.8: the newly created connection is closed with Cease 6/7.
    assert!(got
        .iter()
        .any(|m| matches!(m, Message::Notification(x) if *x == Notification::cease(7))));
    n.pump();
    assert!(n.peers[0].connections().all(|c| c != id));
    assert!(n.established());
    n.run_for(Duration::from_secs(300));
    assert!(n.established());
}

#[test]
fn restarted_peer_replaces_its_established_session_and_routes_stay() {
    let mut n = Net::new(cfg(1), cfg(2));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    let old: Vec<ConnId> = n.peers[0].connections().collect();
    // Peer 1 restarted (R bit set) and connects again before peer 0 saw the old one go.
    let mut restarted = cfg(2);
    if let Some(gr) = restarted.graceful_restart.as_mut() {
        gr.restarting = true;
    }
    n.events[0].clear();
    let (s, id, got) = intruder(restarted, &mut n);
    assert!(
        !got.iter().any(|m| matches!(m, Message::Notification(_))),
        "{got:?}"
    );
    // The old connection is closed; its routes are kept stale; the new one is the session.
    assert!(n.peers[0]
        .poll_action()
        .is_some_and(|a| old.iter().any(|o| a == PeerAction::Close(*o))));
    let rest: Vec<Event> = std::iter::from_fn(|| n.peers[0].poll_event()).collect();
    let all: Vec<&Event> = n.events[0].iter().chain(rest.iter()).collect();
    let downs: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Event::Down(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].reason, DownReason::ConnectionClosed);
    assert!(!downs[0].keep_stale.is_empty());
    assert_eq!(s.state(), StateKind::Established);
    assert_eq!(n.peers[0].state(), StateKind::Established);
    assert_eq!(n.peers[0].connections().collect::<Vec<_>>(), [id]);
    // The restarted peer (sending nothing) ended its table with End-of-RIB: the stale routes
    // were swept by End-of-RIB, not by a timer.
    assert!(
        all.iter().any(|e| matches!(e, Event::EndOfRib(_))),
        "{all:?}"
    );
    assert!(!all
        .iter()
        .any(|e| matches!(e, Event::StaleRoutesExpired(_))));
    assert!(n.peers[0].session().stale_families().is_empty());
}

#[test]
fn a_third_connection_and_unknown_ids_are_refused() {
    let mut n = Net::new(cfg(1), cfg(2));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    let second = n.peers[0].handle_incoming(n.now);
    assert!(second.is_some());
    assert_eq!(n.peers[0].handle_incoming(n.now), None);
    // An id the peer never gave out, or one it gave for an incoming connection, is not ours to
    // complete.
    assert!(!n.peers[0].handle_connected(n.now, ConnId(999)));
    assert!(!n.peers[0].handle_connected(n.now, second.unwrap()));
    assert!(n.peers[0].connections().any(|c| Some(c) == second));
    n.peers[0].handle_bytes(n.now, ConnId(999), &[0xff; 19]);
    assert!(n.established());
}

/// `request_refresh` asks for every negotiated family on the established session, and for
/// nothing before it is established.
#[test]
fn request_refresh_asks_for_each_negotiated_family() {
    let mut n = Net::new(cfg(1), cfg(2));
    n.peers[0].request_refresh(n.now);
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    let refreshes = |n: &Net| n.count(1, |e| matches!(e, Event::RouteRefresh(_)));
    assert_eq!(refreshes(&n), 0, "nothing asked before the session was up");
    let families = n.peers[0].negotiated().unwrap().families.len();
    assert!(families >= 1);
    n.peers[0].request_refresh(n.now);
    n.pump();
    assert_eq!(refreshes(&n), families);
}

/// `TxBuffer::fill` pulls UPDATEs while fewer than `TX_HIGH` octets wait, then stops until
/// the socket took some.
#[test]
fn the_write_buffer_is_filled_up_to_its_bound() {
    use bgp_core::driver::tx::{TxBuffer, TX_HIGH};
    let mut n = Net::new(cfg(1), cfg(2));
    n.start();
    n.run_for(Duration::from_secs(30));
    assert!(n.established());
    let id = n.peers[0].connections().next().unwrap();
    let mut src = VecSource::ipv4(100_000, Ipv4Addr::new(10, 0, 0, 1));
    let mut tx = TxBuffer::default();
    assert!(tx.fill(n.now, &mut n.peers[0], id, &mut src));
    let len = tx.pending().len();
    assert!((TX_HIGH..TX_HIGH + 4096).contains(&len), "{len} octets");
    assert!(!tx.fill(n.now, &mut n.peers[0], id, &mut src), "no room");
    assert_eq!(tx.pending().len(), len);
    tx.written(len);
    assert!(tx.is_empty());
    assert!(tx.fill(n.now, &mut n.peers[0], id, &mut src));
    assert!(tx.pending().len() >= TX_HIGH);
}

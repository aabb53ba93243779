//! Two Calico-like nodes, each a `Session` glued to a `Rib` the way the daemon will do it: the
//! RIB's Adj-RIB-Out is the session's `UpdateSource`, the session's events drive the RIB. Shows
//! the glue and checks that the two APIs fit: routes flow, End-of-RIB is sent once, a graceful
//! restart keeps the routes until the peer is back, and a refresh re-sends them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_core::rib::{LocalRoute, PeerConfig, Rib, RibConfig, RouteType, SourceId, SourceKind};
use bgp_core::session::{
    Action, Command, Event, Session, SessionConfig, SourceStatus, StateKind, UpdateSource,
};
use bgp_core::wire::{EncodeError, Family, Negotiated};
use bytes::BytesMut;

/// The glue: a peer's Adj-RIB-Out as the session's outbound source.
struct AdjRibOut<'a> {
    rib: &'a mut Rib,
    peer: SourceId,
}

impl UpdateSource for AdjRibOut<'_> {
    fn next_update(
        &mut self,
        _: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        Ok(match self.rib.poll_update(self.peer, out)? {
            true => SourceStatus::Wrote,
            false => SourceStatus::Synced,
        })
    }

    fn refresh(&mut self, _: Family) {
        self.rib.refresh_export(self.peer, true);
    }

    fn sends_end_of_rib(&self) -> bool {
        true
    }
}

/// The glue the other way: what a session event means for the RIB.
fn apply(rib: &mut Rib, peer: SourceId, e: &Event) {
    match e {
        Event::Established(n) => rib.peer_up(peer, std::sync::Arc::clone(n)),
        Event::Update(u) => {
            rib.apply_update(peer, u);
        }
        Event::EndOfRib(f) => rib.end_of_rib(peer, *f),
        Event::Down(d) if d.was_established() => rib.peer_down(peer, !d.keep_stale.is_empty()),
        Event::StaleRoutesExpired(_) => rib.stale_timer_expired(peer),
        _ => {}
    }
}

struct Node {
    session: Session,
    rib: Rib,
    peer: SourceId,
    events: Vec<Event>,
}

fn node(id: u8, other: u8, passive: bool, blocks: u8) -> Node {
    let me = Ipv4Addr::new(10, 0, 0, id);
    let mut cfg = SessionConfig::new(64512, me, Some(64512));
    cfg.passive = passive;
    let mut rib = Rib::new(RibConfig::new(64512, me));
    let peer = rib
        .add_peer(PeerConfig::new(
            format!("Mesh_10_0_0_{other}"),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, other)),
        ))
        .unwrap();
    // Calico's IPAM blocks: blackhole statics, exported to the mesh.
    for b in 0..blocks {
        rib.add_local(
            SourceKind::Static,
            format!("10.{id}.{b}.0/26").parse().unwrap(),
            LocalRoute {
                route_type: RouteType::Blackhole,
                ..LocalRoute::default()
            },
        );
    }
    Node {
        session: Session::new(cfg).unwrap(),
        rib,
        peer,
        events: Vec::new(),
    }
}

struct Net {
    n: [Node; 2],
    now: Instant,
    link: bool,
    refuse: [bool; 2],
}

impl Net {
    fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut progress = false;
            for i in 0..2 {
                let j = 1 - i;
                let now = self.now;
                while let Some(e) = self.n[i].session.poll_event() {
                    progress = true;
                    let node = &mut self.n[i];
                    apply(&mut node.rib, node.peer, &e);
                    node.events.push(e);
                }
                while let Some(a) = self.n[i].session.poll_action() {
                    progress = true;
                    match a {
                        Action::Connect => {
                            if !self.link
                                && !self.refuse[j]
                                && self.n[j].session.is_waiting_for_connection()
                            {
                                self.link = true;
                                self.n[i].session.handle_connected(now);
                                self.n[j].session.handle_connected(now);
                            } else {
                                self.n[i].session.handle_disconnected(now);
                            }
                        }
                        Action::Close => {
                            if self.link {
                                self.link = false;
                                self.n[j].session.handle_disconnected(now);
                            }
                        }
                    }
                }
                let mut buf = BytesMut::new();
                loop {
                    let node = &mut self.n[i];
                    let mut src = AdjRibOut {
                        rib: &mut node.rib,
                        peer: node.peer,
                    };
                    if !node.session.poll_transmit(now, &mut buf, &mut src) {
                        break;
                    }
                    progress = true;
                    let bytes = buf.split();
                    if self.link {
                        self.n[j].session.handle_bytes(now, &bytes);
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("no quiescence");
    }

    fn run_until(&mut self, limit: Duration, pred: impl Fn(&Net) -> bool) -> bool {
        let end = self.now + limit;
        self.pump();
        while !pred(self) {
            let next = [
                self.n[0].session.poll_timeout(),
                self.n[1].session.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for n in &mut self.n {
                        n.session.handle_timeout(self.now);
                    }
                    self.pump();
                }
                _ => return false,
            }
        }
        true
    }

    fn cut(&mut self) {
        self.link = false;
        for n in &mut self.n {
            n.session.handle_disconnected(self.now);
        }
        self.pump();
    }
}

fn net(blocks: [u8; 2]) -> Net {
    let mut net = Net {
        n: [node(1, 2, false, blocks[0]), node(2, 1, true, blocks[1])],
        now: Instant::now(),
        link: false,
        refuse: [false; 2],
    };
    for n in &mut net.n {
        n.session.handle_command(net.now, Command::Start);
    }
    net
}

fn bgp_routes(rib: &Rib) -> usize {
    rib.prefixes(Family::IPV4_UNICAST)
        .iter()
        .filter(|p| {
            rib.best(p)
                .is_some_and(|r| r.source_kind == SourceKind::Bgp)
        })
        .count()
}

fn stale_routes(rib: &Rib) -> usize {
    rib.prefixes(Family::IPV4_UNICAST)
        .iter()
        .filter(|p| rib.best(p).is_some_and(|r| r.stale))
        .count()
}

fn eors(events: &[Event], f: Family) -> usize {
    events.iter().filter(|e| **e == Event::EndOfRib(f)).count()
}

#[test]
fn routes_flow_both_ways_with_one_end_of_rib_per_family() {
    let mut net = net([40, 25]);
    assert!(
        net.run_until(Duration::from_secs(60), |n| bgp_routes(&n.n[0].rib) == 25
            && bgp_routes(&n.n[1].rib) == 40)
    );
    net.run_until(Duration::from_secs(5), |_| false);
    for n in &net.n {
        assert_eq!(n.session.state(), StateKind::Established);
        assert_eq!(eors(&n.events, Family::IPV4_UNICAST), 1);
        assert_eq!(eors(&n.events, Family::IPV6_UNICAST), 1);
    }
}

#[test]
fn graceful_restart_keeps_routes_in_the_rib_until_the_peer_is_back() {
    let mut net = net([40, 0]);
    assert!(net.run_until(Duration::from_secs(60), |n| bgp_routes(&n.n[1].rib) == 40));
    // The TCP connection breaks: node 2 keeps node 1's routes (stale) ...
    net.cut();
    assert_eq!(bgp_routes(&net.n[1].rib), 40);
    assert_eq!(stale_routes(&net.n[1].rib), 40);
    // ... through the reconnection and the new End-of-RIB.
    net.n[1].events.clear();
    assert!(net.run_until(Duration::from_secs(60), |n| eors(
        &n.n[1].events,
        Family::IPV4_UNICAST
    ) == 1));
    assert_eq!(bgp_routes(&net.n[1].rib), 40);
    assert_eq!(stale_routes(&net.n[1].rib), 0);
    // Without node 1 coming back, the routes go when its restart time (120 s) ends.
    net.cut();
    net.refuse[1] = true;
    assert_eq!(bgp_routes(&net.n[1].rib), 40);
    let cut = net.now;
    assert!(net.run_until(Duration::from_secs(600), |n| bgp_routes(&n.n[1].rib) == 0));
    assert_eq!(net.now - cut, Duration::from_secs(120));
}

#[test]
fn route_refresh_resends_the_adj_rib_out() {
    let mut net = net([10, 0]);
    assert!(net.run_until(Duration::from_secs(60), |n| bgp_routes(&n.n[1].rib) == 10));
    net.n[1].events.clear();
    net.n[1]
        .session
        .handle_command(net.now, Command::RouteRefresh(Family::IPV4_UNICAST));
    net.pump();
    let announced: usize = net.n[1]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.announced().map(|a| a.nlri.len()).sum::<usize>()),
            _ => None,
        })
        .sum();
    assert_eq!(announced, 10);
    assert_eq!(bgp_routes(&net.n[1].rib), 10);
}

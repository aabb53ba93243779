//! DOC: the `session` fuzz target: one [`Session`] driven by an arbitrary script of byte chunks
//! (raw, or behind a valid header so decoding goes deep), timer jumps, connects and disconnects
//! and administrative commands. It must never panic, every message it writes must frame, and
//! every exit from a connected state must be a NOTIFICATION followed by a close, or a clean
//! close (the peer's NOTIFICATION, the peer closing, or abandoning a connection before OPEN).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bgp_core::session::{
    Action, Command, DownReason, Event, MaxPrefix, Session, SessionConfig, SourceStatus, StateKind,
    UpdateSource,
};
use bgp_core::wire::{
    self, AddPathMode, AsPath, Capability, EncodeError, Family, GracefulRestartCap, Negotiated,
    NextHop, Nlri, Open, Origin, PathAttributes,
};
use bytes::BytesMut;

/// One step of the script.
#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from the peer.
    Bytes(Vec<u8>),
    /// A message with a valid marker and length around an arbitrary type and body.
    Message {
        ty: u8,
        body: Vec<u8>,
    },
    /// Time passes (seconds).
    Advance(u16),
    /// Time jumps to the next deadline.
    ToDeadline,
    /// The pending connection attempt succeeds, or the peer connects.
    Connected,
    /// The connection closes.
    Disconnected,
    /// Administrative commands.
    Start,
    Stop {
        subcode: u8,
        message: String,
    },
    RouteRefresh {
        afi: u16,
        safi: u8,
    },
}

/// A few routes to send, so the UPDATE pull runs too.
struct Routes {
    left: usize,
}

impl UpdateSource for Routes {
    fn next_update(
        &mut self,
        ctx: &Negotiated,
        out: &mut BytesMut,
    ) -> Result<SourceStatus, EncodeError> {
        if self.left == 0 {
            return Ok(SourceStatus::Synced);
        }
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::new()),
            local_pref: Some(100),
            ..PathAttributes::default()
        };
        let n = Nlri::new(format!("10.{}.0.0/16", self.left % 256).parse().unwrap());
        wire::encode_announcements(
            ctx,
            &attrs,
            Family::IPV4_UNICAST,
            &NextHop::V4(Ipv4Addr::new(10, 0, 0, 1)),
            &[n],
            out,
        )?;
        self.left -= 1;
        Ok(SourceStatus::Wrote)
    }

    fn refresh(&mut self, _: Family) {
        self.left = 3;
    }
}

fn peer_open(hold: u16) -> Vec<u8> {
    let open = Open::new(
        64512,
        hold,
        Ipv4Addr::new(10, 0, 0, 2),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs(64512),
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: false,
                notification: true,
                restart_time: 5,
                families: vec![(Family::IPV4_UNICAST, true)],
            }),
            Capability::AddPath(vec![(Family::IPV4_UNICAST, AddPathMode::Both)]),
        ],
    );
    let mut b = BytesMut::new();
    open.encode(&mut b).unwrap();
    wire::encode_keepalive(&mut b).unwrap();
    b.to_vec()
}

fn config(flags: u8) -> SessionConfig {
    let mut c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 1), Some(64512));
    c.passive = flags & 1 != 0;
    c.delay_open = (flags & 2 != 0).then_some(Duration::from_secs(3));
    c.hold_time = if flags & 4 != 0 { 0 } else { 9 };
    if flags & 8 != 0 {
        c.max_prefixes = vec![MaxPrefix {
            family: Family::IPV4_UNICAST,
            limit: 3,
            restart_after: Some(Duration::from_secs(10)),
        }];
    }
    if let Some(gr) = c.graceful_restart.as_mut() {
        gr.notification = flags & 16 != 0;
    }
    c.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Both)];
    c.extended_message = flags & 32 != 0;
    c
}

struct Driver {
    s: Session,
    now: Instant,
    routes: Routes,
    connected: bool,
}

impl Driver {
    /// Drains every output and checks the exit rules. `was` is the state before the input,
    /// `peer_closed` whether the input was the connection closing.
    fn drain(&mut self, was: StateKind, was_connected: bool, peer_closed: bool) {
        let mut notification_due = None;
        let mut notification_received = false;
        while let Some(e) = self.s.poll_event() {
            if let Event::Down(d) = &e {
                assert!(d.from >= StateKind::OpenSent);
                assert!(d.keep_stale.is_empty() || d.was_established());
                match &d.reason {
                    DownReason::NotificationSent(n) => notification_due = Some(n.clone()),
                    DownReason::NotificationReceived(_) => notification_received = true,
                    DownReason::ConnectionClosed => {}
                }
            }
        }
        let mut written = Vec::new();
        let mut out = BytesMut::new();
        for _ in 0..1000 {
            if !self.s.poll_transmit(self.now, &mut out, &mut self.routes) {
                break;
            }
            let msg = out.split().freeze();
            let max = wire::MAX_EXTENDED_MESSAGE_LEN;
            assert_eq!(
                wire::frame(&msg, max),
                Ok(Some(msg.len())),
                "unframable output"
            );
            written.push(msg);
        }
        let mut closed = false;
        while let Some(a) = self.s.poll_action() {
            match a {
                Action::Close => {
                    closed = true;
                    self.connected = false;
                }
                Action::Connect => {}
            }
        }
        let notifications: Vec<_> = written.iter().filter(|m| m.get(18) == Some(&3)).collect();
        if let Some(n) = notification_due {
            // The NOTIFICATION went out, last, and the connection was closed after it.
            let last = written.last().expect("NOTIFICATION written");
            assert_eq!(
                (last.get(19), last.get(20)),
                (Some(&n.code), Some(&n.subcode))
            );
            assert!(closed, "NOTIFICATION without close");
        }
        assert!(notifications.len() <= 1);
        if was_connected && !self.s.is_connected() && !peer_closed {
            assert!(closed, "left {was:?} without closing");
            let pre_open = matches!(was, StateKind::Connect | StateKind::Active);
            assert!(
                !notifications.is_empty() || notification_received || pre_open,
                "left {was:?} without NOTIFICATION"
            );
        }
    }

    fn step(&mut self, op: Op) {
        let was = self.s.state();
        let was_connected = self.s.is_connected();
        let mut peer_closed = false;
        let timer_op = matches!(op, Op::Advance(_) | Op::ToDeadline);
        match op {
            Op::Bytes(b) => self.s.handle_bytes(self.now, &b),
            Op::Message { ty, body } => {
                let body = body.get(..body.len().min(4077)).unwrap_or_default();
                let mut m = vec![0xff; 16];
                m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
                m.push(ty % 6);
                m.extend_from_slice(body);
                self.s.handle_bytes(self.now, &m);
            }
            Op::Advance(secs) => {
                self.now += Duration::from_secs(u64::from(secs));
                self.s.handle_timeout(self.now);
            }
            Op::ToDeadline => {
                if let Some(t) = self.s.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.s.handle_timeout(self.now);
            }
            Op::Connected => {
                if self.s.handle_connected(self.now) {
                    self.connected = true;
                }
            }
            Op::Disconnected => {
                peer_closed = true;
                self.connected = false;
                self.s.handle_disconnected(self.now);
            }
            Op::Start => self.s.handle_command(self.now, Command::Start),
            Op::Stop { subcode, message } => self
                .s
                .handle_command(self.now, Command::Stop { subcode, message }),
            Op::RouteRefresh { afi, safi } => self
                .s
                .handle_command(self.now, Command::RouteRefresh(Family::new(afi, safi))),
        }
        self.drain(was, was_connected, peer_closed);
        // After a timeout and a full drain, nothing is due any more: every deadline is ahead.
        if timer_op {
            if let Some(t) = self.s.poll_timeout() {
                assert!(t > self.now, "deadline {t:?} not after now {:?}", self.now);
            }
        }
    }
}

/// The `session` target.
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let flags: u8 = u.arbitrary().unwrap_or(0);
    let Ok(s) = Session::new(config(flags)) else {
        return;
    };
    let mut d = Driver {
        s,
        now: Instant::now(),
        routes: Routes { left: 5 },
        connected: false,
    };
    d.step(Op::Start);
    if flags & 0x80 != 0 {
        // Jump past the OPEN exchange so the script works on an Established session.
        d.step(Op::ToDeadline);
        d.step(Op::Connected);
        d.step(Op::Bytes(peer_open(if flags & 0x40 != 0 { 0 } else { 9 })));
    }
    for _ in 0..256 {
        let Ok(op) = u.arbitrary::<Op>() else {
            break;
        };
        d.step(op);
    }
}

//! The peer driver's tests: two drivers talking through their write buffers, or one with a
//! test `Env`.

use std::net::Ipv4Addr;
use std::task::Poll;

use super::*;
use crate::session::testing::VecSource;
use crate::session::SessionConfig;

const FORGET: Duration = Duration::from_secs(10);
const TTL: TtlPolicy = TtlPolicy {
    send: 255,
    min_receive: Some(254),
};

/// The daemon around a driver: what it writes goes to `wire`.
#[derive(Default)]
struct TestEnv {
    epoch: u64,
    rib_epoch: u64,
    deferring: bool,
    src: VecSource,
    /// The Adj-RIB-Out starts again once sent (a table that never ends).
    endless: bool,
    wire: Vec<u8>,
    /// What the next read gets (nothing: the end of the stream).
    inbox: Vec<u8>,
    broken: bool,
}

impl Env<u8> for TestEnv {
    fn epoch(&self) -> u64 {
        self.epoch
    }
    fn next_epoch(&mut self) {
        self.epoch += 1;
    }
    fn rib_epoch(&self) -> u64 {
        self.rib_epoch
    }
    fn deferring(&self) -> bool {
        self.deferring
    }
    fn next_update(&mut self, ctx: &Negotiated, out: &mut BytesMut) -> Result<bool, EncodeError> {
        let mut s = self.src.next_update(ctx, out)?;
        if s != SourceStatus::Wrote && self.endless {
            self.src.rewind();
            s = self.src.next_update(ctx, out)?;
        }
        Ok(s == SourceStatus::Wrote)
    }
    fn forget_after(&self) -> Duration {
        FORGET
    }
    fn read(&mut self, _: &u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.inbox.len();
        buf.append(&mut self.inbox);
        Ok(n)
    }
    fn write(&mut self, _: &u8, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // The process loop's bound broken: fail, not hang.
        assert!(self.wire.len() < 64 << 20, "the process loop does not stop");
        self.wire.extend_from_slice(buf);
        Ok(buf.len())
    }
}

struct Side {
    d: PeerDriver<u8>,
    env: TestEnv,
    out: Vec<Output<u8>>,
}

fn side(id: u8, passive: bool) -> Side {
    let mut c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, id), Some(64512));
    c.passive = passive;
    c.ttl = TTL;
    let peer = Peer::new(c).unwrap();
    let env = TestEnv {
        epoch: u64::from(id) << 32,
        ..TestEnv::default()
    };
    Side {
        d: PeerDriver::new(peer, false),
        env,
        out: Vec::new(),
    }
}

impl PeerDriver<u8> {
    fn into_attempts(self) -> PeerDriver<u8, u8> {
        PeerDriver::new(self.peer, self.dynamic)
    }
}

fn drain(s: &mut Side, now: Instant) {
    while let Some(o) = s.d.poll(now, &mut s.env) {
        s.out.push(o);
    }
}

/// What `from` wrote, read by `to`.
fn deliver(from: &mut Side, to: &mut Side, now: Instant) -> bool {
    if from.env.wire.is_empty() || to.d.conns().is_empty() {
        return false;
    }
    to.env.inbox = std::mem::take(&mut from.env.wire);
    to.d.read(now, 0, &mut to.env);
    true
}

fn pump(a: &mut Side, b: &mut Side, now: Instant) {
    for _ in 0..1000 {
        drain(a, now);
        drain(b, now);
        if !deliver(a, b, now) & !deliver(b, a, now) {
            return;
        }
    }
}

fn connect_request(out: &[Output<u8>]) -> Option<(ConnId, TtlPolicy)> {
    out.iter().find_map(|o| match o {
        Output::Connect { id, ttl } => Some((*id, *ttl)),
        _ => None,
    })
}

/// A (active) connected to B (passive), both Established; the RIB "applied" B's Up.
fn established() -> (Side, Side, Instant) {
    let (mut a, mut b) = (side(1, false), side(2, true));
    let mut now = Instant::now();
    a.d.start(now);
    b.d.start(now);
    drain(&mut a, now);
    drain(&mut b, now);
    let mut id = None;
    for _ in 0..10 {
        id = connect_request(&a.out);
        if id.is_some() {
            break;
        }
        now = a.d.poll_timeout().unwrap();
        a.d.handle_timeout(now);
        drain(&mut a, now);
    }
    let (id, ttl) = id.unwrap();
    assert_eq!(
        ttl, TTL,
        "the connect request carries the peer's TTL and GTSM minimum"
    );
    assert!(a.d.handle_connected(now, id, 1).is_some());
    assert!(b.d.handle_incoming(now, 2).is_some());
    pump(&mut a, &mut b, now);
    assert_eq!(a.d.state(), StateKind::Established);
    assert_eq!(b.d.state(), StateKind::Established);
    (a, b, now)
}

fn rib_msgs(out: &[Output<u8>]) -> Vec<(u64, &ForRib)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Rib { epoch, msg } => Some((*epoch, msg)),
            _ => None,
        })
        .collect()
}

fn states(out: &[Output<u8>]) -> Vec<(StateKind, StateKind)> {
    out.iter()
        .filter_map(|o| match o {
            Output::State { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

/// The message types written (the 19th octet of each message).
fn types(mut wire: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    while let (Some(&[h, l]), Some(&ty)) = (wire.get(16..18), wire.get(18)) {
        t.push(ty);
        wire = wire
            .get(usize::from(u16::from_be_bytes([h, l]))..)
            .unwrap_or_default();
    }
    t
}

#[test]
fn an_events_hand_off_follows_it_and_a_session_down_takes_a_new_epoch() {
    let (mut a, mut b, now) = established();
    let e0 = a.env.epoch;
    // The event is shown first, then its hand-off; Up carries the session's epoch.
    let up = a
        .out
        .iter()
        .position(|o| matches!(o, Output::Event(Event::Established(_))));
    let next = up.and_then(|i| a.out.get(i + 1));
    assert!(matches!(next, Some(Output::Rib { epoch, msg: ForRib::Up(_) }) if *epoch == e0));
    assert!(states(&a.out).contains(&(StateKind::OpenConfirm, StateKind::Established)));
    // B's table, once the RIB applied B's Up: UPDATEs, then End-of-RIB after them.
    b.env.src = VecSource::ipv4(3000, Ipv4Addr::new(10, 0, 0, 2));
    b.env.src.writes_end_of_rib = true;
    b.env.rib_epoch = b.env.epoch;
    b.d.wake();
    a.out.clear();
    pump(&mut a, &mut b, now);
    let msgs = rib_msgs(&a.out);
    let routes: usize = msgs
        .iter()
        .map(|(_, m)| match m {
            ForRib::Updates(u) => u.iter().map(|u| u.nlri.len()).sum(),
            _ => 0,
        })
        .sum();
    assert_eq!(routes, 3000);
    let eor = msgs
        .iter()
        .position(|(_, m)| matches!(m, ForRib::EndOfRib(_)));
    let last_updates = msgs
        .iter()
        .rposition(|(_, m)| matches!(m, ForRib::Updates(_)));
    assert!(last_updates < eor, "{msgs:?}");
    assert!(msgs.iter().all(|(e, _)| *e == e0));
    // The connection ends: the loss is shown, the RIB learns it on a new epoch.
    a.out.clear();
    a.d.read(now, 0, &mut a.env);
    drain(&mut a, now);
    assert!(matches!(a.out.first(), Some(Output::Event(_))));
    let msgs = rib_msgs(&a.out);
    assert!(matches!(msgs.as_slice(), [(e, ForRib::Down { .. })] if *e == e0 + 1));
    assert_eq!(a.env.epoch, e0 + 1);
    assert!(a.d.conns().is_empty());
    assert_eq!(
        states(&a.out).first().map(|s| s.0),
        Some(StateKind::Established)
    );
}

#[test]
fn the_adj_rib_out_waits_for_the_ribs_up_and_our_recovery() {
    let (mut a, mut b, now) = established();
    b.env.src = VecSource::ipv4(10, Ipv4Addr::new(10, 0, 0, 2));
    b.env.deferring = true;
    b.env.rib_epoch = b.env.epoch;
    b.d.wake();
    a.out.clear();
    pump(&mut a, &mut b, now);
    assert!(rib_msgs(&a.out).is_empty(), "deferred");
    b.env.deferring = false;
    b.env.rib_epoch = b.env.epoch - 1;
    b.d.wake();
    pump(&mut a, &mut b, now);
    assert!(
        rib_msgs(&a.out).is_empty(),
        "the RIB has not applied this session's Up"
    );
    b.env.rib_epoch = b.env.epoch;
    b.d.wake();
    pump(&mut a, &mut b, now);
    assert!(!rib_msgs(&a.out).is_empty());
}

#[test]
fn a_restart_notifies_closes_and_starts_again() {
    let (mut a, _b, now) = established();
    a.out.clear();
    a.d.handle_admin(now, Admin::Restart);
    drain(&mut a, now);
    assert_eq!(types(&a.env.wire), [3], "a NOTIFICATION");
    assert!(a
        .out
        .iter()
        .any(|o| matches!(o, Output::Close(c) if c.stream == 1)));
    let s = states(&a.out);
    assert_eq!(s.first(), Some(&(StateKind::Established, StateKind::Idle)));
    assert!(
        s.len() == 2 && s.get(1).is_some_and(|s| s.1 != StateKind::Idle),
        "{s:?}"
    );
    assert!(!a
        .out
        .iter()
        .any(|o| matches!(o, Output::Done | Output::Reset)));
    assert!(!a.d.is_done());
}

#[test]
fn a_shutdown_closes_every_connection_and_ends() {
    let (mut a, _b, now) = established();
    a.out.clear();
    a.d.handle_admin(now, Admin::Shutdown { notify: true });
    drain(&mut a, now);
    assert_eq!(types(&a.env.wire), [3]);
    assert!(matches!(a.out.last(), Some(Output::Done)));
    assert!(a.d.is_done() && a.d.conns().is_empty());
    assert!(a.d.poll(now, &mut a.env).is_none());
    // Disabling stops without ending.
    let (mut a, _b, now) = established();
    a.d.handle_admin(now, Admin::Disable("maintenance".into()));
    drain(&mut a, now);
    assert_eq!(a.d.state(), StateKind::Idle);
    assert!(!a.d.is_done());
}

#[test]
fn a_removal_leaves_the_rib_on_a_new_epoch_then_ends() {
    let (mut a, _b, now) = established();
    a.out.clear();
    let e0 = a.env.epoch;
    a.d.handle_admin(now, Admin::Remove);
    drain(&mut a, now);
    assert_eq!(types(&a.env.wire), [3]);
    let msgs = rib_msgs(&a.out);
    assert!(
        matches!(msgs.as_slice(), [(_, ForRib::Down { .. }), (e, ForRib::Remove)] if *e == e0 + 2)
    );
    let remove = a.out.iter().position(|o| {
        matches!(
            o,
            Output::Rib {
                msg: ForRib::Remove,
                ..
            }
        )
    });
    let state = a.out.iter().position(|o| matches!(o, Output::State { .. }));
    assert!(state < remove);
    assert!(matches!(a.out.last(), Some(Output::Done)));
}

#[test]
fn a_reconfiguration_closes_the_old_session_then_asks_for_the_new_one() {
    let (mut a, _b, now) = established();
    a.out.clear();
    a.d.handle_admin(now, Admin::Reconfigure);
    drain(&mut a, now);
    assert_eq!(types(&a.env.wire), [3]);
    assert!(matches!(a.out.last(), Some(Output::Reset)));
    assert!(a.d.conns().is_empty() && !a.d.is_done());
    a.out.clear();
    // An attempt of the old session is abandoned with it.
    a.d.connecting(ConnId(99), ());
    let c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 1), Some(64512));
    a.d.replace(now, Peer::new(c).unwrap(), false);
    assert!(a.d.poll_connecting(|_| Poll::Ready(())).is_pending());
    drain(&mut a, now);
    assert_ne!(a.d.state(), StateKind::Idle, "the new session started");
    // Disabled by the new settings: it stays down.
    a.d.handle_admin(now, Admin::Reconfigure);
    drain(&mut a, now);
    let c = SessionConfig::new(64512, Ipv4Addr::new(10, 0, 0, 1), Some(64512));
    a.d.replace(now, Peer::new(c).unwrap(), true);
    drain(&mut a, now);
    assert_eq!(a.d.state(), StateKind::Idle);
}

#[test]
fn a_dynamic_neighbour_that_owes_nothing_is_forgotten_after_its_linger() {
    let t0 = Instant::now();
    let mut s = side(2, true);
    s.d.dynamic = true;
    s.d.start(t0);
    drain(&mut s, t0);
    assert_eq!(s.d.linger.deadline(), Some(t0 + FORGET));
    assert!(s.d.poll_timeout().is_some_and(|t| t <= t0 + FORGET));
    // A connection cancels the wait; its loss starts a new one.
    assert!(s.d.handle_incoming(t0, 7).is_some());
    drain(&mut s, t0);
    assert_eq!(s.d.linger.deadline(), None);
    let t1 = t0 + Duration::from_secs(1);
    s.d.read(t1, 0, &mut s.env);
    drain(&mut s, t1);
    assert_eq!(s.d.linger.deadline(), Some(t1 + FORGET));
    assert!(!s.d.handle_timeout(t1 + FORGET / 2));
    assert!(s.d.handle_timeout(t1 + FORGET));
    s.out.clear();
    let e0 = s.env.epoch;
    s.d.forget();
    drain(&mut s, t1 + FORGET);
    assert_eq!(rib_msgs(&s.out), [(e0 + 1, &ForRib::Remove)]);
    assert!(matches!(s.out.last(), Some(Output::Done)));
    // A configured neighbour never lingers.
    let mut s = side(2, true);
    s.d.start(t0);
    drain(&mut s, t0);
    assert_eq!(s.d.linger.deadline(), None);
}

#[test]
fn a_finished_connection_attempt_is_taken_out() {
    let mut d: PeerDriver<u8, u8> = side(1, false).d.into_attempts();
    d.connecting(ConnId(1), 1);
    d.connecting(ConnId(2), 2);
    assert!(d.poll_connecting(|_| Poll::<()>::Pending).is_pending());
    assert_eq!(
        d.poll_connecting(|c| Poll::Ready(*c == 2)),
        Poll::Ready((ConnId(1), false))
    );
    assert_eq!(
        d.poll_connecting(|c| Poll::Ready(*c)),
        Poll::Ready((ConnId(2), 2))
    );
    assert!(d.poll_connecting(|c| Poll::Ready(*c)).is_pending());
    assert_eq!(d.connecting.capacity(), 0, "no room kept");
}

#[test]
fn a_broken_connection_is_the_sessions_loss_at_once() {
    let (mut a, _b, now) = established();
    a.out.clear();
    a.env.broken = true;
    a.d.handle_admin(now, Admin::Restart);
    drain(&mut a, now);
    assert!(a.d.conns().is_empty());
    assert!(
        !a.out.iter().any(|o| matches!(o, Output::Close(_))),
        "dropped, not flushed"
    );
}

#[test]
fn the_process_loop_gives_up_after_its_rounds() {
    let (mut a, _b, now) = established();
    a.env.src = VecSource::ipv4(1000, Ipv4Addr::new(10, 0, 0, 1));
    a.env.endless = true;
    a.env.rib_epoch = a.env.epoch;
    a.d.wake();
    drain(&mut a, now);
    let wrote = a.env.wire.len();
    let per_round = super::super::tx::TX_HIGH + 4096;
    assert!(wrote > 8 * per_round, "{wrote}");
    assert!(wrote <= usize::from(ROUNDS) * per_round, "{wrote}");
    // The next wake-up goes on.
    a.env.wire.clear();
    a.d.wake();
    drain(&mut a, now);
    assert!(a.env.wire.len() > 8 * per_round);
}

fn link(state: crate::bfd::State, seq: u64, failed: bool) -> Link {
    Link { state, seq, failed }
}

fn key(last: u8) -> crate::bfd::Key {
    crate::bfd::Key {
        remote: std::net::IpAddr::from([192, 0, 2, last]),
        local: None,
        multihop: false,
    }
}

#[test]
fn a_bfd_failure_closes_and_holds_the_session_until_bfd_is_up() {
    use crate::bfd::State::{Down, Up};
    let now = Instant::now();
    let mut s = side(1, true);
    s.d.start(now);
    assert_eq!(
        s.d.bind_bfd(now, Some((key(1), link(Up, 1, false), true, ()))),
        Verdict::Nothing
    );
    assert_ne!(s.d.state(), StateKind::Idle);
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Down, 2, true)),
        Verdict::Close
    );
    assert_eq!(s.d.state(), StateKind::Idle, "closed and held down");
    // New BFD settings: the hold carries over until the new BFD session is Up.
    assert_eq!(
        s.d.bind_bfd(now, Some((key(2), link(Down, 0, false), true, ()))),
        Verdict::Nothing
    );
    assert_eq!(s.d.state(), StateKind::Idle);
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Up, 3, false)),
        Verdict::Nothing,
        "not its session"
    );
    assert_eq!(
        s.d.handle_bfd(now, &key(2), &link(Up, 1, false)),
        Verdict::Release
    );
    assert_ne!(s.d.state(), StateKind::Idle, "started again");
    // Without wait_for_up, a failure restarts the session at once.
    s.d.bind_bfd(now, Some((key(1), link(Up, 1, false), false, ())));
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Down, 2, true)),
        Verdict::Close
    );
    assert_ne!(s.d.state(), StateKind::Idle);
}

/// New settings for the same BFD session, handled before a failure that was told behind
/// them: the failure is judged at the rebinding, and its late telling means nothing.
#[test]
fn a_bfd_failure_told_behind_new_settings_of_the_same_session_is_not_lost() {
    use crate::bfd::State::{Down, Up};
    let now = Instant::now();
    let mut s = side(1, true);
    s.d.start(now);
    s.d.bind_bfd(now, Some((key(1), link(Up, 1, false), false, ())));
    let failed = link(Down, 2, true);
    assert_eq!(
        s.d.bind_bfd(now, Some((key(1), failed, true, ()))),
        Verdict::Close
    );
    assert_eq!(
        s.d.state(),
        StateKind::Idle,
        "closed and held (the new wait_for_up)"
    );
    assert_eq!(s.d.handle_bfd(now, &key(1), &failed), Verdict::Nothing);
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Up, 3, false)),
        Verdict::Release
    );
    assert_ne!(s.d.state(), StateKind::Idle);
}

#[test]
fn bfd_never_starts_a_disabled_neighbour() {
    use crate::bfd::State::{Down, Up};
    let now = Instant::now();
    let mut s = side(1, true);
    assert!(!s.d.enabled(), "not started yet");
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Up, 1, false)),
        Verdict::Nothing,
        "unbound"
    );
    s.d.bind_bfd(now, Some((key(1), link(Up, 1, false), true, ())));
    assert!(s.d.bfd_bound());
    assert_eq!(
        s.d.handle_bfd(now, &key(1), &link(Down, 2, true)),
        Verdict::Close
    );
    // BFD no longer configured: nothing holds BGP, but it stays disabled.
    assert_eq!(s.d.bind_bfd(now, None), Verdict::Release);
    assert!(!s.d.bfd_bound());
    assert_eq!(s.d.state(), StateKind::Idle);
    s.d.handle_admin(now, Admin::Enable);
    assert!(s.d.enabled());
    s.d.handle_admin(now, Admin::Disable("maintenance".into()));
    assert!(!s.d.enabled());
    s.d.replace(
        now,
        Peer::new(SessionConfig::new(1, Ipv4Addr::LOCALHOST, None)).unwrap(),
        false,
    );
    assert!(s.d.enabled(), "a new session started");
}

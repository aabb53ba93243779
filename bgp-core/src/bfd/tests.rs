//! Virtual-time tests of the engine: codec vectors, every transition of RFC 5880 §6.8.6, the
//! reception checks, poll sequences, detection-time changes and discriminators.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::*;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn params(tx: u64, rx: u64, mult: u8) -> SessionParams {
    SessionParams {
        min_tx: ms(tx),
        min_rx: ms(rx),
        idle_tx: ms(1000),
        detect_mult: mult,
    }
}

fn key(remote: IpAddr) -> Key {
    Key {
        remote,
        local: None,
        multihop: false,
    }
}

fn rx_from(src: IpAddr) -> Received {
    Received {
        src,
        dst: None,
        multihop: false,
        ttl: Some(255),
    }
}

/// Two speakers on a link that can be cut; virtual time advances to the next deadline.
struct Net {
    now: Instant,
    a: Bfd,
    b: Bfd,
    cut: bool,
    /// Every packet sent, with who sent it (true: a).
    log: Vec<(Duration, bool, Packet)>,
    t0: Instant,
}

impl Net {
    fn new(pa: SessionParams, pb: SessionParams) -> Net {
        let now = Instant::now();
        let mut a = Bfd::new(1);
        let mut b = Bfd::new(2);
        a.add(now, key(B), pa);
        b.add(now, key(A), pb);
        Net {
            now,
            a,
            b,
            cut: false,
            log: Vec::new(),
            t0: now,
        }
    }

    /// Delivers everything owed now.
    fn pump(&mut self) {
        let mut buf = [0u8; PACKET_LEN];
        for _ in 0..1000 {
            let mut any = false;
            if let Some(t) = self.a.poll_transmit(self.now, &mut buf) {
                any = true;
                self.log
                    .push((self.now - self.t0, true, Packet::decode(&buf).unwrap()));
                if !self.cut {
                    let _ = self.b.handle_packet(self.now, rx_from(A), &buf[..t.len]);
                }
            }
            if let Some(t) = self.b.poll_transmit(self.now, &mut buf) {
                any = true;
                self.log
                    .push((self.now - self.t0, false, Packet::decode(&buf).unwrap()));
                if !self.cut {
                    let _ = self.a.handle_packet(self.now, rx_from(B), &buf[..t.len]);
                }
            }
            if !any {
                return;
            }
        }
        panic!("transmit loop");
    }

    /// Runs until `until` has passed on virtual time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = [self.a.poll_timeout(self.now), self.b.poll_timeout(self.now)]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
    }

    fn state_a(&self) -> State {
        self.a.sessions().next().unwrap().session.state()
    }
    fn state_b(&self) -> State {
        self.b.sessions().next().unwrap().session.state()
    }
    fn sa(&self) -> &Session {
        self.a.sessions().next().unwrap().session
    }
}

fn events(b: &mut Bfd) -> Vec<(State, State, Diag)> {
    std::iter::from_fn(|| b.poll_event())
        .map(|e| (e.transition.from, e.transition.to, e.transition.diag))
        .collect()
}

#[test]
fn codec_vectors_both_ways() {
    // Version 1, Diag 3, State Up, Poll, Detect Mult 3, length 24, discriminators, 100 ms,
    // 10 ms, no echo.
    let bytes: [u8; 24] = [
        0x23, 0xe0, 0x03, 0x18, 0x00, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x86,
        0xa0, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x00,
    ];
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(
        p,
        Packet {
            diag: Diag::NEIGHBOR_DOWN,
            state: State::Up,
            poll: true,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: 1,
            your_discr: 0xdead_beef,
            desired_min_tx: 100_000,
            required_min_rx: 10_000,
            required_min_echo_rx: 0,
        }
    );
    let mut out = [0u8; PACKET_LEN];
    p.encode(&mut out);
    assert_eq!(out, bytes);
    // Down, Final, C and D bits; no diagnostic.
    let q = Packet {
        diag: Diag::NONE,
        state: State::Down,
        poll: false,
        final_: true,
        cpi: true,
        demand: true,
        detect_mult: 255,
        my_discr: u32::MAX,
        your_discr: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 0,
        required_min_echo_rx: 50_000,
    };
    q.encode(&mut out);
    assert_eq!(&out[..4], &[0x20, 0x5a, 0xff, 0x18]);
    assert_eq!(Packet::decode(&out).unwrap(), q);
    // A longer datagram whose Length says 24 decodes (trailing octets ignored).
    let mut long = bytes.to_vec();
    long.extend_from_slice(&[0; 8]);
    assert_eq!(Packet::decode(&long).unwrap(), p);
}

#[test]
fn codec_rejects_every_malformed_field() {
    let good: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0x86, 0xa0, 0, 0, 0x27, 0x10, 0, 0,
        0, 0,
    ];
    assert!(Packet::decode(&good).is_ok());
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = good.to_vec();
        f(&mut v);
        Packet::decode(&v).unwrap_err()
    };
    assert_eq!(with(&|v| v.truncate(23)), DropReason::Short);
    assert_eq!(with(&|v| v.clear()), DropReason::Short);
    assert_eq!(with(&|v| v[0] = 0x00), DropReason::Version);
    assert_eq!(with(&|v| v[0] = 0x40), DropReason::Version);
    assert_eq!(with(&|v| v[3] = 23), DropReason::Short);
    assert_eq!(with(&|v| v[3] = 25), DropReason::Length);
    assert_eq!(with(&|v| v[2] = 0), DropReason::DetectMult);
    assert_eq!(with(&|v| v[1] |= 0x01), DropReason::Multipoint);
    assert_eq!(
        with(&|v| v[4..8].copy_from_slice(&[0; 4])),
        DropReason::MyDiscriminator
    );
    // A bit: 24 octets is too short for an authentication section; with one, dropped as Auth.
    assert_eq!(with(&|v| v[1] |= 0x04), DropReason::Short);
    assert_eq!(
        with(&|v| {
            v[1] |= 0x04;
            v[3] = 28;
            v.extend_from_slice(&[1, 4, 0, 0]);
        }),
        DropReason::Auth
    );
}

#[test]
fn three_way_handshake_down_init_up() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.run(ms(1));
    assert_eq!((n.state_a(), n.state_b()), (State::Up, State::Up));
    // a speaks first: b goes Down -> Init (got Down), a Down -> Up (got Init), b Init -> Up.
    assert_eq!(events(&mut n.a), vec![(State::Down, State::Up, Diag::NONE)]);
    assert_eq!(
        events(&mut n.b),
        vec![
            (State::Down, State::Init, Diag::NONE),
            (State::Init, State::Up, Diag::NONE)
        ]
    );
    // Discriminators were learnt both ways.
    let (da, db) = (
        n.sa().local_discr(),
        n.b.sessions().next().unwrap().session.local_discr(),
    );
    assert_eq!(n.sa().remote_discr(), db);
    assert_eq!(n.b.sessions().next().unwrap().session.remote_discr(), da);
    assert_ne!(da, 0);
}

#[test]
fn init_goes_up_on_up() {
    // §6.8.6: Init + received Up -> Up.
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    let mut p = peer_packet(State::Down, 0);
    assert_eq!(s.handle_packet(now, &p).map(|t| t.to), Some(State::Init));
    p.state = State::Up;
    p.your_discr = 7;
    assert_eq!(s.handle_packet(now, &p).map(|t| t.to), Some(State::Up));
    // Up + received Init or Up: stays Up.
    p.state = State::Init;
    assert_eq!(s.handle_packet(now, &p), None);
    // Down + received Up: stays Down (the peer must see us first).
    let mut s = Session::new(now, 8, params(100, 100, 3), 1);
    p.state = State::Up;
    assert_eq!(s.handle_packet(now, &p), None);
    assert_eq!(s.state(), State::Down);
    // Init + received Down: stays Init.
    let mut s = Session::new(now, 9, params(100, 100, 3), 1);
    p.state = State::Down;
    s.handle_packet(now, &p);
    assert_eq!(s.handle_packet(now, &p), None);
    assert_eq!(s.state(), State::Init);
}

fn peer_packet(state: State, your: u32) -> Packet {
    Packet {
        diag: Diag::NONE,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 42,
        your_discr: your,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
    }
}

#[test]
fn up_goes_down_when_the_peer_says_down_or_admin_down() {
    let now = Instant::now();
    let up = || {
        let mut s = Session::new(now, 7, params(100, 100, 3), 1);
        s.handle_packet(now, &peer_packet(State::Init, 7));
        assert_eq!(s.state(), State::Up);
        s
    };
    let mut s = up();
    let t = s.handle_packet(now, &peer_packet(State::Down, 7)).unwrap();
    assert_eq!(
        (t.to, t.diag, t.remote_admin_down),
        (State::Down, Diag::NEIGHBOR_DOWN, false)
    );
    let mut s = up();
    let t = s
        .handle_packet(now, &peer_packet(State::AdminDown, 7))
        .unwrap();
    assert_eq!(
        (t.to, t.diag, t.remote_admin_down),
        (State::Down, Diag::NEIGHBOR_DOWN, true)
    );
    // AdminDown received while Down: no change.
    assert_eq!(
        s.handle_packet(now, &peer_packet(State::AdminDown, 7)),
        None
    );
    // Init + AdminDown -> Down.
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    s.handle_packet(now, &peer_packet(State::Down, 0));
    let t = s
        .handle_packet(now, &peer_packet(State::AdminDown, 7))
        .unwrap();
    assert_eq!((t.from, t.to), (State::Init, State::Down));
}

#[test]
fn local_admin_down_ignores_packets_and_comes_back_down() {
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    s.handle_packet(now, &peer_packet(State::Init, 7));
    let t = s.set_admin_down(now, true).unwrap();
    assert_eq!((t.to, t.diag), (State::AdminDown, Diag::ADMIN_DOWN));
    assert!(s.wants_transmit(now));
    assert_eq!(s.transmit(now).state, State::AdminDown);
    // §6.8.6: in AdminDown received packets change nothing.
    assert_eq!(s.handle_packet(now, &peer_packet(State::Init, 7)), None);
    assert_eq!(s.handle_timeout(now + ms(10_000)), None);
    let t = s.set_admin_down(now, false).unwrap();
    assert_eq!((t.from, t.to), (State::AdminDown, State::Down));
}

#[test]
fn detection_time_expiry_takes_up_and_init_down_and_clears_the_remote_discriminator() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.run(ms(2000));
    assert_eq!(n.state_a(), State::Up);
    events(&mut n.a);
    // Detection time: remote mult 3 × max(our 100 ms RX, its 100 ms TX).
    assert_eq!(n.sa().detection_time(), Some(ms(300)));
    n.cut = true;
    // Down exactly one detection time after the last packet (which came before the cut).
    let last = n.sa().last_rx().unwrap();
    n.run(last + ms(299) - n.now);
    assert_eq!(n.state_a(), State::Up, "before the detection time");
    n.run(ms(200));
    assert_eq!(n.state_a(), State::Down);
    assert_eq!(
        events(&mut n.a),
        vec![(State::Up, State::Down, Diag::TIME_EXPIRED)]
    );
    assert_eq!(n.sa().remote_discr(), 0);
    assert_eq!(n.sa().since() - last, ms(300));
    // Init also expires.
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    s.handle_packet(now, &peer_packet(State::Down, 0));
    assert_eq!(s.state(), State::Init);
    let t = s.handle_timeout(now + ms(300)).unwrap();
    assert_eq!(
        (t.from, t.to, t.diag),
        (State::Init, State::Down, Diag::TIME_EXPIRED)
    );
    // Restored: comes back Up.
    n.cut = false;
    n.run(ms(3000));
    assert_eq!((n.state_a(), n.state_b()), (State::Up, State::Up));
}

#[test]
fn down_session_sends_at_one_second_or_slower_and_up_at_the_negotiated_interval() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.cut = true;
    n.run(ms(5000));
    let gaps: Vec<Duration> = n
        .log
        .iter()
        .filter(|(_, from_a, _)| *from_a)
        .map(|(t, _, _)| *t)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert!(gaps.len() >= 4);
    assert!(
        gaps.iter().all(|g| *g >= ms(750) && *g <= ms(1000)),
        "{gaps:?}"
    );
    assert!(n.log.iter().all(|(_, _, p)| p.desired_min_tx == 1_000_000));
    n.cut = false;
    n.run(ms(2000));
    n.log.clear();
    n.run(ms(2000));
    let times: Vec<Duration> = n
        .log
        .iter()
        .filter(|(_, a, _)| *a)
        .map(|(t, _, _)| *t)
        .collect();
    // 2 s at 100 ms minus 0..25 % jitter: between 20 and 27 packets.
    assert!((20..=27).contains(&times.len()), "{}", times.len());
    for w in times.windows(2) {
        let g = w[1] - w[0];
        assert!(g >= ms(75) && g <= ms(100), "{g:?}");
    }
}

#[test]
fn jitter_with_detect_mult_one_is_ten_to_twenty_five_percent() {
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 1), 99);
    s.handle_packet(now, &peer_packet(State::Init, 7));
    let mut t = now;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let _ = s.transmit(t);
        let next = s.poll_timeout(t).unwrap();
        seen.push(next - t);
        t = next;
        let mut p = peer_packet(State::Up, 7);
        p.final_ = true;
        s.handle_packet(t, &p);
    }
    let tail = &seen[5..];
    assert!(
        tail.iter().all(|g| *g >= ms(75) && *g <= ms(90)),
        "{tail:?}"
    );
    assert!(tail.iter().any(|g| *g < ms(80)) && tail.iter().any(|g| *g > ms(85)));
}

#[test]
fn poll_sequence_on_going_up_and_final_answers() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.run(ms(1500));
    // Going Up switched 1 s -> 100 ms: a Poll Sequence, answered with Final, never both.
    assert!(n.log.iter().any(|(_, a, p)| *a && p.poll));
    assert!(n.log.iter().any(|(_, a, p)| !*a && p.final_));
    assert!(n.log.iter().all(|(_, _, p)| !(p.poll && p.final_)));
    assert!(!n.sa().polling());
    // Once done, packets carry neither bit.
    let last = n.log.iter().rev().find(|(_, a, _)| *a).unwrap();
    assert!(!last.2.poll && !last.2.final_);
}

#[test]
fn slower_tx_waits_for_final_and_detection_time_follows() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.run(ms(2000));
    let da = n.a.find(&key(B)).unwrap();
    // a slows down to 300 ms: until b's Final, a keeps sending at 100 ms.
    n.cut = true; // hold the poll open
    n.a.set_params(n.now, da, params(300, 100, 3));
    assert!(n.sa().polling());
    assert_eq!(n.sa().tx_interval(), Some(ms(100)));
    n.log.clear();
    n.run(ms(50));
    assert!(n
        .log
        .iter()
        .any(|(_, a, p)| *a && p.poll && p.desired_min_tx == 300_000));
    n.cut = false;
    n.run(ms(500));
    assert!(!n.sa().polling());
    assert_eq!(n.sa().tx_interval(), Some(ms(300)));
    // b's detection time now follows a's 300 ms TX: 3 × 300 ms.
    let sb = n.b.sessions().next().unwrap().session;
    assert_eq!(sb.detection_time(), Some(ms(900)));
    // And b notices a cut only after that.
    n.cut = true;
    n.run(ms(600));
    assert_eq!(n.state_b(), State::Up);
    n.run(ms(400));
    assert_eq!(n.state_b(), State::Down);
}

#[test]
fn smaller_rx_applies_after_final_larger_rx_at_once() {
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 500, 3), 1);
    s.handle_packet(now, &peer_packet(State::Init, 7));
    let mut fin = peer_packet(State::Up, 7);
    fin.final_ = true;
    s.handle_packet(now, &fin);
    assert_eq!(s.detection_time(), Some(ms(1500)));
    // Lower RX 500 -> 50 ms: detection stays on 500 ms until Final.
    s.set_params(now, params(100, 50, 3));
    assert!(s.polling());
    s.handle_packet(now, &peer_packet(State::Up, 7));
    assert_eq!(s.detection_time(), Some(ms(1500)));
    s.handle_packet(now, &fin);
    // max(50 ms, peer's 100 ms TX) × 3.
    assert_eq!(s.detection_time(), Some(ms(300)));
    // Raise RX to 1 s: applies at once.
    s.set_params(now, params(100, 1000, 3));
    assert_eq!(s.detection_time(), Some(ms(3000)));
    // The peer's multiplier and TX enter the detection time from its next packet.
    let mut p = peer_packet(State::Up, 7);
    p.detect_mult = 5;
    p.desired_min_tx = 2_000_000;
    s.handle_packet(now, &p);
    assert_eq!(s.detection_time(), Some(ms(10_000)));
}

#[test]
fn poll_from_peer_gets_a_final_at_once() {
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    s.handle_packet(now, &peer_packet(State::Init, 7));
    while s.wants_transmit(now) {
        s.transmit(now);
    }
    let mut p = peer_packet(State::Up, 7);
    p.poll = true;
    s.handle_packet(now, &p);
    assert!(s.wants_transmit(now));
    let f = s.transmit(now);
    assert!(f.final_ && !f.poll);
}

#[test]
fn peer_rx_zero_stops_periodic_packets_and_demand_mode_is_honoured() {
    let now = Instant::now();
    let mut s = Session::new(now, 7, params(100, 100, 3), 1);
    s.handle_packet(now, &peer_packet(State::Init, 7));
    let mut p = peer_packet(State::Up, 7);
    p.required_min_rx = 0;
    p.final_ = true;
    s.handle_packet(now, &p);
    assert_eq!(s.tx_interval(), None);
    let mut p = peer_packet(State::Up, 7);
    p.demand = true;
    s.handle_packet(now, &p);
    assert_eq!(s.tx_interval(), None);
    p.demand = false;
    s.handle_packet(now, &p);
    assert_eq!(s.tx_interval(), Some(ms(100)));
}

#[test]
fn reception_checks_drop_and_count() {
    let now = Instant::now();
    let mut b = Bfd::new(5);
    let d = b.add(now, key(A), params(100, 100, 3));
    let mut buf = [0u8; PACKET_LEN];
    let mut p = peer_packet(State::Down, 0);
    p.encode(&mut buf);
    // Single-hop TTL must be 255.
    let mut rx = rx_from(A);
    rx.ttl = Some(254);
    assert_eq!(b.handle_packet(now, rx, &buf), Err(DropReason::Ttl));
    // Multihop does not check it (RFC 5883) but needs a multihop session.
    rx.multihop = true;
    assert_eq!(b.handle_packet(now, rx, &buf), Err(DropReason::NoSession));
    // Unknown source.
    assert_eq!(
        b.handle_packet(now, rx_from(B), &buf),
        Err(DropReason::NoSession)
    );
    // Your Discriminator zero with State Init/Up.
    p.state = State::Up;
    p.encode(&mut buf);
    assert_eq!(
        b.handle_packet(now, rx_from(A), &buf),
        Err(DropReason::ZeroDiscriminator)
    );
    // Discriminator mismatch: a Your Discriminator we never handed out.
    p.your_discr = d.wrapping_add(1);
    p.encode(&mut buf);
    assert_eq!(
        b.handle_packet(now, rx_from(A), &buf),
        Err(DropReason::UnknownDiscriminator)
    );
    // Ours, but from another address.
    p.your_discr = d;
    p.encode(&mut buf);
    assert_eq!(
        b.handle_packet(now, rx_from(B), &buf),
        Err(DropReason::AddressMismatch)
    );
    // Malformed.
    assert_eq!(
        b.handle_packet(now, rx_from(A), &buf[..10]),
        Err(DropReason::Short)
    );
    let c = b.counters();
    assert_eq!(c.rx, 0);
    for (r, n) in [
        (DropReason::Ttl, 1),
        (DropReason::NoSession, 2),
        (DropReason::ZeroDiscriminator, 1),
        (DropReason::UnknownDiscriminator, 1),
        (DropReason::AddressMismatch, 1),
        (DropReason::Short, 1),
    ] {
        assert_eq!(c.dropped(r), n, "{r}");
    }
    assert_eq!(b.session(d).unwrap().state(), State::Down);
    // A good one with our discriminator is accepted.
    p.state = State::Init;
    p.encode(&mut buf);
    assert_eq!(b.handle_packet(now, rx_from(A), &buf), Ok(()));
    assert_eq!(b.session(d).unwrap().state(), State::Up);
}

#[test]
fn peer_restart_with_a_new_discriminator_is_detected() {
    let mut n = Net::new(params(100, 100, 3), params(100, 100, 3));
    n.run(ms(2000));
    let old = n.sa().remote_discr();
    // b forgets everything (a restart): a new set with a new discriminator.
    n.b = Bfd::new(77);
    n.b.add(n.now, key(A), params(100, 100, 3));
    events(&mut n.a);
    n.run(ms(3000));
    let ev = events(&mut n.a);
    assert_eq!(
        ev.first(),
        Some(&(State::Up, State::Down, Diag::NEIGHBOR_DOWN))
    );
    assert_eq!(n.state_a(), State::Up);
    assert_ne!(n.sa().remote_discr(), old);
}

#[test]
fn shared_sessions_count_references_and_removal_sends_admin_down() {
    let now = Instant::now();
    let mut b = Bfd::new(5);
    let d1 = b.add(now, key(A), params(100, 100, 3));
    let d2 = b.add(now, key(A), params(100, 100, 3));
    assert_eq!(d1, d2);
    let d3 = b.add(
        now,
        Key {
            multihop: true,
            ..key(A)
        },
        params(100, 100, 3),
    );
    assert_ne!(d1, d3);
    let v6 = b.add(
        now,
        key(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        params(100, 100, 3),
    );
    assert_ne!(v6, d1);
    assert_eq!(b.sessions().count(), 3);
    assert!(!b.remove(now, d1));
    assert!(b.remove(now, d1));
    let mut buf = [0u8; PACKET_LEN];
    let mut admin = false;
    while let Some(t) = b.poll_transmit(now, &mut buf) {
        if t.discr == d1 {
            admin = Packet::decode(&buf).unwrap().state == State::AdminDown;
        }
    }
    assert!(admin);
    assert!(b.session(d1).is_none());
    assert_eq!(b.sessions().count(), 2);
}

#[test]
fn many_sessions_are_served_round_robin_without_starvation() {
    let now = Instant::now();
    let mut b = Bfd::new(5);
    for i in 0..200u8 {
        b.add(
            now,
            key(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i))),
            params(100, 100, 3),
        );
    }
    let mut buf = [0u8; PACKET_LEN];
    let mut seen = std::collections::HashSet::new();
    while let Some(t) = b.poll_transmit(now, &mut buf) {
        seen.insert(t.discr);
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(b.poll_timeout(now).map(|t| t > now), Some(true));
}

#[test]
fn a_key_names_the_port_of_its_hop_mode() {
    let single = key(IpAddr::from([192, 0, 2, 1]));
    assert_eq!(single.port(), 3784);
    let multi = Key {
        multihop: true,
        ..single
    };
    assert_eq!(multi.port(), 4784);
    // A speaker listens on both ports of both families, each with its hop mode.
    let listen: Vec<(String, bool)> = LISTEN.iter().map(|(a, m)| (a.to_string(), *m)).collect();
    let want = [
        ("0.0.0.0:3784", false),
        ("[::]:3784", false),
        ("0.0.0.0:4784", true),
        ("[::]:4784", true),
    ];
    assert_eq!(listen, want.map(|(a, m)| (a.to_string(), m)));
}

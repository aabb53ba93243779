//! DOC: `show bfd sessions` as BIRD 2 prints it (one `bfd1` block: address, interface,
//! state, since, the negotiated transmit interval and the detection timeout, in seconds), its
//! JSON form, the BFD lines of `show protocols all` for BGP peers bound to a session, and the
//! status values of the BFD engine's sessions and counters.

use std::time::{Duration, Instant, SystemTime};

use bgp_core::bfd::{Bfd, Clients, Counters, DropReason, SessionView};

use crate::bird::TimeFmt;
use crate::status::{BfdCounters, BfdSessionStatus};
use crate::wire::ReplyWriter;

/// BIRD's reply code for BFD listings.
const CODE: u16 = 1020;

/// Seconds with three decimals, as BIRD's `%t`.
fn secs(ms: Option<f64>) -> String {
    match ms {
        Some(ms) => format!("{:.3}", ms / 1000.0),
        None => "0.000".into(),
    }
}

/// The BIRD 2 table (without the final line).
pub fn sessions(w: &mut ReplyWriter, list: &[BfdSessionStatus], tf: &TimeFmt) {
    w.cont(CODE, "bfd1:");
    w.cont(
        CODE,
        &format!(
            "{:<25} {:<10} {:<10} {:<12}  {:>8} {:>8}",
            "IP address", "Interface", "State", "Since", "Interval", "Timeout"
        ),
    );
    for s in list {
        w.cont(
            CODE,
            &format!(
                "{:<25} {:<10} {:<10} {:<12}  {:>8} {:>8}",
                s.address.to_string(),
                "---",
                s.state,
                tf.short(s.since),
                secs(s.tx_interval_ms),
                secs(s.detection_time_ms),
            ),
        );
    }
}

/// `show protocols all NAME`: the BFD session of a BGP peer, if it has one.
pub fn protocol_lines(w: &mut ReplyWriter, name: &str, list: &[BfdSessionStatus]) {
    for s in list.iter().filter(|s| s.peers.iter().any(|p| p == name)) {
        w.cont(
            1006,
            &format!(
                "    BFD session:      {} ({}), interval {} s, timeout {} s, {}",
                s.state,
                if s.multihop { "multihop" } else { "single hop" },
                secs(s.tx_interval_ms),
                secs(s.detection_time_ms),
                s.local_diagnostic,
            ),
        );
    }
}

/// The status of one BFD session of the engine. `since`: when the daemon saw it enter its
/// state (wall clock), if it did; else it is reckoned from the session's own monotonic
/// `since` with `now` and `wall` (the same instant on both clocks). `peers`: the BGP peers
/// bound to it.
pub fn session_status(
    v: &SessionView<'_>,
    since: Option<SystemTime>,
    now: Instant,
    wall: SystemTime,
    peers: Vec<String>,
) -> BfdSessionStatus {
    let s = v.session;
    let p = s.params();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    BfdSessionStatus {
        address: v.key.remote,
        local: v.key.local,
        multihop: v.key.multihop,
        state: s.state().name().to_string(),
        remote_state: s.remote_state().name().to_string(),
        since: since.unwrap_or_else(|| wall - now.saturating_duration_since(s.since())),
        local_discriminator: s.local_discr(),
        remote_discriminator: s.remote_discr(),
        local_diagnostic: s.local_diag().text().to_string(),
        remote_diagnostic: s.remote_diag().text().to_string(),
        min_tx_ms: ms(p.min_tx),
        min_rx_ms: ms(p.min_rx),
        idle_tx_ms: ms(p.idle_tx),
        multiplier: p.detect_mult,
        remote_multiplier: s.remote_detect_mult(),
        remote_min_rx_ms: ms(s.remote_min_rx()),
        remote_min_tx_ms: ms(s.remote_min_tx()),
        tx_interval_ms: s.tx_interval().map(ms),
        detection_time_ms: s.detection_time().map(ms),
        packets_in: v.rx,
        packets_out: v.tx,
        peers,
    }
}

/// Every session of the engine `e` with the peers bound to it and when it entered its state
/// as `clients` saw it (`show bfd sessions`, the metrics).
pub fn sessions_status<T>(
    e: &Bfd,
    clients: &Clients<T>,
    now: Instant,
    wall: SystemTime,
) -> Vec<BfdSessionStatus> {
    e.sessions()
        .map(|v| {
            let since = clients.since(&v.key);
            let peers = clients.peers(&v.key).map(String::from).collect();
            session_status(&v, since, now, wall, peers)
        })
        .collect()
}

/// The engine's packet counters, drops by reason's label.
pub fn counters_status(c: &Counters) -> BfdCounters {
    BfdCounters {
        packets_in: c.rx,
        packets_out: c.tx,
        dropped: DropReason::ALL
            .iter()
            .map(|r| (r.label().to_string(), c.dropped(*r)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_layout() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 365);
        let tf = TimeFmt {
            now,
            utc_offset: Some(0),
        };
        let s = BfdSessionStatus {
            address: "10.0.0.2".parse().unwrap(),
            local: None,
            multihop: false,
            state: "Up".into(),
            remote_state: "Up".into(),
            since: now - Duration::from_secs(61),
            local_discriminator: 1,
            remote_discriminator: 2,
            local_diagnostic: "No diagnostic".into(),
            remote_diagnostic: "No diagnostic".into(),
            min_tx_ms: 100.0,
            min_rx_ms: 100.0,
            idle_tx_ms: 1000.0,
            multiplier: 3,
            remote_multiplier: 3,
            remote_min_rx_ms: 100.0,
            remote_min_tx_ms: 100.0,
            tx_interval_ms: Some(100.0),
            detection_time_ms: Some(300.0),
            packets_in: 5,
            packets_out: 5,
            peers: vec!["peer1".into()],
        };
        let mut w = ReplyWriter::new();
        sessions(&mut w, std::slice::from_ref(&s), &tf);
        protocol_lines(&mut w, "peer1", &[s]);
        w.last(0, "");
        let text = String::from_utf8(w.take()).unwrap();
        assert!(text.starts_with("1020-bfd1:\n"), "{text}");
        assert!(text.contains(
            "IP address                Interface  State      Since         Interval  Timeout\n"
        ));
        assert!(
            text.contains(
                "10.0.0.2                  ---        Up         23:58:59         0.100    0.300\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("BFD session:      Up (single hop), interval 0.100 s, timeout 0.300 s")
        );
    }

    #[test]
    fn an_engine_session_as_status() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut e = bgp_core::bfd::Bfd::new(7);
        let key = bgp_core::bfd::Key {
            remote: "10.0.0.2".parse().unwrap(),
            local: None,
            multihop: true,
        };
        let d = e.add(t0, key, bgp_core::bfd::SessionParams::default());
        let v = e.sessions().next().unwrap();
        let later = t0 + Duration::from_secs(5);
        let s = session_status(&v, None, later, wall, vec!["p".into()]);
        assert_eq!(
            (s.address, s.multihop, s.local_discriminator),
            (key.remote, true, d)
        );
        assert_eq!(
            (s.state.as_str(), s.min_tx_ms, s.multiplier),
            ("Down", 100.0, 5)
        );
        // Reckoned from the session's own clock: down for the 5 s since it was added.
        assert_eq!(s.since, wall - Duration::from_secs(5));
        let seen = wall - Duration::from_secs(1);
        assert_eq!(
            session_status(&v, Some(seen), later, wall, Vec::new()).since,
            seen
        );
        assert_eq!(s.peers, ["p"]);
        let c = counters_status(e.counters());
        assert_eq!(c.dropped.len(), DropReason::ALL.len());
    }

    #[test]
    fn every_session_with_its_clients() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut e = Bfd::new(7);
        let key = |a: &str| bgp_core::bfd::Key {
            remote: a.parse().unwrap(),
            local: None,
            multihop: false,
        };
        let (a, b) = (key("10.0.0.2"), key("10.0.0.3"));
        e.add(t0, a, bgp_core::bfd::SessionParams::default());
        e.add(t0, b, bgp_core::bfd::SessionParams::default());
        let mut clients: Clients<()> = Clients::default();
        clients.attach(a, "p1", ());
        clients.attach(a, "p2", ());
        let seen = wall - Duration::from_secs(1);
        let up = bgp_core::bfd::Transition {
            from: bgp_core::bfd::State::Init,
            to: bgp_core::bfd::State::Up,
            diag: bgp_core::bfd::Diag::NONE,
            remote_admin_down: false,
        };
        clients.changed(a, seen, &up);
        let mut v = sessions_status(&e, &clients, t0 + Duration::from_secs(5), wall);
        v.sort_by_key(|s| s.address);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].address, v[0].peers.clone()),
            (a.remote, vec!["p1".into(), "p2".into()])
        );
        assert_eq!(v[0].since, seen);
        // No client: no peers, and since the engine's own clock.
        assert_eq!((v[1].address, v[1].peers.len()), (b.remote, 0));
        assert_eq!(v[1].since, wall - Duration::from_secs(5));
    }
}

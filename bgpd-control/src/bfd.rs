//! DOC: `show bfd sessions` as BIRD 2 prints it (one `bfd1` block: address, interface,
//! state, since, the negotiated transmit interval and the detection timeout, in seconds), its
//! JSON form, and the BFD lines of `show protocols all` for BGP peers bound to a session.

use crate::bird::TimeFmt;
use crate::status::BfdSessionStatus;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

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
}

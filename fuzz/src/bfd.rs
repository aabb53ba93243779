//! `bfd`: any datagram through the BFD Control packet decoder and a speaker's session set
//! never panics; a packet that decodes re-encodes to the same mandatory section; the engine's
//! counters account for every datagram (accepted or dropped by one reason).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp_core::bfd::{Bfd, Key, Packet, Received, SessionParams, PACKET_LEN};

/// The first octet chooses how the datagram arrives (hop mode, TTL 255 or not, which source);
/// the rest is the datagram, possibly several 24-octet packets in a row.
pub fn bfd(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    if let Ok(p) = Packet::decode(rest) {
        let mut out = [0u8; PACKET_LEN];
        p.encode(&mut out);
        assert_eq!(Packet::decode(&out), Ok(p));
    }
    let now = Instant::now();
    let mut b = Bfd::new(u64::from(how));
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let multihop = how & 1 != 0;
    let key = Key {
        remote: peer,
        local: None,
        multihop,
    };
    let params = SessionParams {
        min_tx: Duration::from_millis(u64::from(how >> 4) + 1),
        min_rx: Duration::from_millis(10),
        idle_tx: Duration::from_secs(1),
        detect_mult: (how >> 5).max(1),
    };
    let d = b.add(now, key, params);
    let src = if how & 4 != 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))
    } else {
        peer
    };
    let rx = Received {
        src,
        dst: None,
        multihop: how & 8 != 0,
        ttl: Some(if how & 2 != 0 { 255 } else { 64 }),
    };
    let mut buf = [0u8; PACKET_LEN];
    let mut t = now;
    let mut fed = 0u64;
    for (i, chunk) in rest.chunks(PACKET_LEN).enumerate() {
        // The discriminator of our session lets the fuzzer reach the state machine.
        let mut pkt = chunk.to_vec();
        if i % 2 == 1 && pkt.len() >= 12 {
            pkt[8..12].copy_from_slice(&d.to_be_bytes());
        }
        let _ = b.handle_packet(t, rx, &pkt);
        fed += 1;
        t += Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(0)) * 4);
        b.handle_timeout(t);
        while b.poll_transmit(t, &mut buf).is_some() {}
        while b.poll_event().is_some() {}
        if let Some(next) = b.poll_timeout(t) {
            assert!(next >= t || next == t);
        }
    }
    let c = b.counters();
    assert_eq!(c.rx + c.dropped.iter().sum::<u64>(), fed);
}

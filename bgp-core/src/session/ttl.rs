//! DOC: the IP TTL a BGP connection is sent and checked with: a single hop for eBGP, BIRD's 64
//! for iBGP, `multihop N`, and the Generalized TTL Security Mechanism (RFC 5082). The driver
//! sets the result on its sockets (`IP_TTL` / `IPV6_UNICAST_HOPS`, `IP_MINTTL` /
//! `IPV6_MINHOPCOUNT`).

/// What a session's socket sends with and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// TTL (hop limit) of the packets we send.
    pub send: u8,
    /// The lowest TTL accepted from the peer (GTSM), if any.
    pub min_receive: Option<u8>,
}

impl TtlPolicy {
    /// The policy for a peer: eBGP is one hop away unless `multihop` says otherwise, iBGP 64
    /// (BIRD's default); with `ttl_security` (GTSM) we send 255 and accept no less than
    /// [`gtsm_min_ttl`] of the same hop count.
    pub fn for_peer(ebgp: bool, multihop: Option<u8>, ttl_security: bool) -> TtlPolicy {
        let hops = multihop.unwrap_or(if ebgp { 1 } else { 64 });
        if ttl_security {
            // RFC 5082 §3: "Sending protocol packets with a TTL of 255" and "the receiver
            // ... checks the TTL of the received packet against the lower bound" of
            // 255 - hops + 1.
            TtlPolicy {
                send: 255,
                min_receive: Some(gtsm_min_ttl(hops)),
            }
        } else {
            TtlPolicy {
                send: hops,
                min_receive: None,
            }
        }
    }
}

/// The GTSM minimum TTL (RFC 5082) for a peer `hops` hops away: `255 - hops + 1` (255 for a
/// directly connected peer; `hops` 0 counts as 1).
pub fn gtsm_min_ttl(hops: u8) -> u8 {
    255u8.saturating_sub(hops.max(1) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtsm_minimum_is_255_minus_hops_plus_one() {
        assert_eq!(gtsm_min_ttl(1), 255);
        assert_eq!(gtsm_min_ttl(0), 255);
        assert_eq!(gtsm_min_ttl(2), 254);
        assert_eq!(gtsm_min_ttl(64), 192);
        assert_eq!(gtsm_min_ttl(255), 1);
    }

    #[test]
    fn defaults_multihop_and_gtsm() {
        let p = |send, min_receive| TtlPolicy { send, min_receive };
        assert_eq!(TtlPolicy::for_peer(true, None, false), p(1, None));
        assert_eq!(TtlPolicy::for_peer(false, None, false), p(64, None));
        assert_eq!(TtlPolicy::for_peer(true, Some(3), false), p(3, None));
        assert_eq!(TtlPolicy::for_peer(true, None, true), p(255, Some(255)));
        assert_eq!(TtlPolicy::for_peer(true, Some(2), true), p(255, Some(254)));
        assert_eq!(TtlPolicy::for_peer(false, None, true), p(255, Some(192)));
    }
}

//! DOC: the session context both OPENs agree on, which decoding and encoding depend on.

use std::net::Ipv4Addr;

use super::capability::{AddPathMode, Capability, GracefulRestartCap};
use super::family::{Afi, Family};
use super::header::{MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use super::open::Open;

/// What a session negotiated: produced once from the local and the remote OPEN and handed to
/// every decode and encode call. Seen from the local side: `rx` is what we receive, `tx` what we
/// send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Negotiated {
    /// Both sides announced 4-octet AS support (RFC 6793).
    pub four_octet_as: bool,
    /// Both sides announced extended messages (RFC 8654).
    pub extended_message: bool,
    /// Families for which the peer sends us path identifiers (RFC 7911).
    pub add_path_rx: Vec<Family>,
    /// Families for which we send the peer path identifiers.
    pub add_path_tx: Vec<Family>,
    /// Families both sides announced (IPv4 unicast when neither announced any, RFC 4760 §8).
    pub families: Vec<Family>,
    /// NLRI families for which both sides accept a next hop of another AFI (RFC 8950).
    pub extended_next_hop: Vec<(Family, Afi)>,
    /// Both sides support route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Both sides support enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<GracefulRestartCap>,
    /// Our own graceful restart capability, if we sent one.
    pub local_graceful_restart: Option<GracefulRestartCap>,
    /// Our AS.
    pub local_as: u32,
    /// The peer's AS.
    pub peer_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// The negotiated hold time: the smaller of the two proposals (RFC 4271 §4.2).
    pub hold_time: u16,
    /// The peer's host name from the FQDN capability, for display.
    pub peer_hostname: Option<String>,
    /// Check that an external peer's AS_PATH starts with its AS (RFC 4271 §6.3); on by default,
    /// off for route servers that do not prepend their AS (RFC 7947).
    pub enforce_first_as: bool,
}

impl Default for Negotiated {
    /// A context for tests and tools: iBGP, 4-octet AS, IPv4 and IPv6 unicast, no ADD-PATH.
    fn default() -> Self {
        Negotiated {
            four_octet_as: true,
            extended_message: false,
            add_path_rx: Vec::new(),
            add_path_tx: Vec::new(),
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            extended_next_hop: Vec::new(),
            route_refresh: true,
            enhanced_route_refresh: false,
            peer_graceful_restart: None,
            local_graceful_restart: None,
            local_as: 0,
            peer_as: 0,
            local_id: Ipv4Addr::UNSPECIFIED,
            peer_id: Ipv4Addr::UNSPECIFIED,
            hold_time: 90,
            peer_hostname: None,
            enforce_first_as: true,
        }
    }
}

impl Negotiated {
    /// The context before OPENs are exchanged (only OPEN, KEEPALIVE and NOTIFICATION can be
    /// decoded then): nothing negotiated, no allocation.
    pub fn pre_open() -> Negotiated {
        Negotiated {
            four_octet_as: false,
            extended_message: false,
            add_path_rx: Vec::new(),
            add_path_tx: Vec::new(),
            families: Vec::new(),
            extended_next_hop: Vec::new(),
            route_refresh: false,
            enhanced_route_refresh: false,
            peer_graceful_restart: None,
            local_graceful_restart: None,
            local_as: 0,
            peer_as: 0,
            local_id: Ipv4Addr::UNSPECIFIED,
            peer_id: Ipv4Addr::UNSPECIFIED,
            hold_time: 0,
            peer_hostname: None,
            enforce_first_as: true,
        }
    }
}

fn families(open: &Open) -> Vec<Family> {
    let mp: Vec<Family> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
        .collect();
    if mp.is_empty() {
        vec![Family::IPV4_UNICAST]
    } else {
        mp
    }
}

fn add_path(open: &Open, f: Family) -> Option<AddPathMode> {
    open.capabilities.iter().find_map(|c| match c {
        Capability::AddPath(v) => v.iter().find(|(fam, _)| *fam == f).map(|(_, m)| *m),
        _ => None,
    })
}

fn has(open: &Open, code: u8) -> bool {
    open.capabilities.iter().any(|c| c.code() == code)
}

fn graceful_restart(open: &Open) -> Option<GracefulRestartCap> {
    open.find_capability(|c| match c {
        Capability::GracefulRestart(g) => Some(g.clone()),
        _ => None,
    })
}

fn ext_next_hop(open: &Open) -> Vec<(Family, Afi)> {
    open.find_capability(|c| match c {
        Capability::ExtendedNextHop(v) => Some(v.clone()),
        _ => None,
    })
    .unwrap_or_default()
}

impl Negotiated {
    /// The context of a session where we sent `local` and received `remote`.
    pub fn new(local: &Open, remote: &Open) -> Negotiated {
        use super::capability::code;
        let local_f = families(local);
        let remote_f = families(remote);
        let families: Vec<Family> = local_f
            .iter()
            .copied()
            .filter(|f| remote_f.contains(f))
            .collect();
        // RFC 7911 §4: we receive path identifiers where we can receive and the peer can
        // send, and send them where we can send and the peer can receive.
        let add_path_where = |ours: fn(AddPathMode) -> bool, theirs: fn(AddPathMode) -> bool| {
            families
                .iter()
                .copied()
                .filter(|&f| {
                    add_path(local, f).is_some_and(ours) && add_path(remote, f).is_some_and(theirs)
                })
                .collect::<Vec<Family>>()
        };
        let add_path_rx = add_path_where(AddPathMode::can_receive, AddPathMode::can_send);
        let add_path_tx = add_path_where(AddPathMode::can_send, AddPathMode::can_receive);
        let remote_enh = ext_next_hop(remote);
        let extended_next_hop = ext_next_hop(local)
            .into_iter()
            .filter(|p| remote_enh.contains(p))
            .collect();
        Negotiated {
            four_octet_as: has(local, code::FOUR_OCTET_AS) && has(remote, code::FOUR_OCTET_AS),
            extended_message: has(local, code::EXTENDED_MESSAGE)
                && has(remote, code::EXTENDED_MESSAGE),
            add_path_rx,
            add_path_tx,
            families,
            extended_next_hop,
            route_refresh: has(remote, code::ROUTE_REFRESH) && has(local, code::ROUTE_REFRESH),
            enhanced_route_refresh: has(remote, code::ENHANCED_ROUTE_REFRESH)
                && has(local, code::ENHANCED_ROUTE_REFRESH),
            peer_graceful_restart: graceful_restart(remote),
            local_graceful_restart: graceful_restart(local),
            local_as: local.asn(),
            peer_as: remote.asn(),
            local_id: local.bgp_id,
            peer_id: remote.bgp_id,
            hold_time: local.hold_time.min(remote.hold_time),
            peer_hostname: remote.find_capability(|c| match c {
                Capability::Fqdn { hostname, .. } => Some(hostname.clone()),
                _ => None,
            }),
            enforce_first_as: true,
        }
    }

    /// Whether the peer is external (a different AS).
    pub fn is_ebgp(&self) -> bool {
        self.local_as != self.peer_as
    }

    /// The largest message either side may send: 4096, or 65535 with extended messages.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// Whether UPDATEs we receive carry path identifiers for `family`.
    pub fn add_path_rx(&self, family: Family) -> bool {
        self.add_path_rx.contains(&family)
    }

    /// Whether UPDATEs we send carry path identifiers for `family`.
    pub fn add_path_tx(&self, family: Family) -> bool {
        self.add_path_tx.contains(&family)
    }

    /// Whether `family` was negotiated.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }

    /// The same session seen from the other side (swaps rx/tx and local/peer): what the peer
    /// uses to decode what we encode. Handy for tests.
    pub fn mirror(&self) -> Negotiated {
        Negotiated {
            add_path_rx: self.add_path_tx.clone(),
            add_path_tx: self.add_path_rx.clone(),
            peer_graceful_restart: self.local_graceful_restart.clone(),
            local_graceful_restart: self.peer_graceful_restart.clone(),
            local_as: self.peer_as,
            peer_as: self.local_as,
            local_id: self.peer_id,
            peer_id: self.local_id,
            peer_hostname: None,
            ..self.clone()
        }
    }
}

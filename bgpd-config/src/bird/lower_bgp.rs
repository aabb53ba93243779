//! DOC: a `protocol bgp` onto a `[[peers]]` entry: every option of Calico's templates mapped
//! (see `docs/bird-config.md` for the table), BIRD 1.6's defaults where bgpd's differ
//! (`export none`, `multihop` alone = 64, graceful restart `aware`, `gateway direct` for a
//! single-hop eBGP neighbor), the family checked against the daemon's.

use std::net::{IpAddr, Ipv4Addr};

use serde_spanned::Spanned;

use super::ast::*;
use super::lower::{opt_word, Lower, NONE};
use super::{BirdError, Pos};
use crate::schema::*;

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T, BirdError> {
    Err(BirdError::new(pos, msg))
}

/// A lowered `protocol bgp`: the peer, its `local as`, its `rr cluster id` and where.
pub(super) type BgpOut = (Peer, Option<u32>, Option<(Pos, Ipv4Addr)>);

impl Lower<'_> {
    /// The peer, its `local as`, and its `rr cluster id` (with where it was set).
    pub(super) fn bgp(
        &mut self,
        p: &ProtoDef,
        name: &str,
        opts: &[At<Opt>],
    ) -> Result<BgpOut, BirdError> {
        let mut neighbor: Option<(IpAddr, Option<u64>, Option<u64>)> = None;
        let mut local_as = None;
        let mut local_addr = None;
        let mut cluster = None;
        let mut multihop: Option<Option<u64>> = None;
        let mut import = None;
        let mut export = Some(sp(NONE.to_string()));
        let mut peer = Peer {
            name: sp(name.to_string()),
            address: sp(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            asn: sp(0),
            port: 179,
            passive: false,
            password: None,
            multihop: None,
            ttl_security: false,
            source_address: None,
            hold_time: None,
            keepalive_time: None,
            next_hop: NextHopSetting::Default,
            rr_client: false,
            add_path: AddPathSetting::Off,
            graceful_restart_time: None,
            // BIRD 1.6's default: `graceful restart aware`.
            graceful_restart: Some(PeerGracefulRestart::Aware),
            gateway: GatewayMode::Recursive,
            import: None,
            export: None,
            max_prefixes: MaxPrefixes::default(),
            families: sp(vec![self.family]),
            description: None,
            disabled: false,
            next_hop_v6: None,
            local_asn: None,
            allow_local_as: 0,
            preference: None,
            connect_delay_time: None,
            connect_retry_time: None,
            error_wait_time: None,
            bfd: None,
        };
        let mut next_hop_self = false;
        let mut next_hop_keep = false;
        let mut gateway: Option<(Pos, GatewayMode)> = None;
        for o in opts {
            let pos = o.pos;
            match &o.v {
                Opt::Description(d) => peer.description = Some(d.clone()),
                Opt::Debug => {}
                Opt::Disabled(b) => peer.disabled = *b,
                Opt::Preference(n) => peer.preference = Some(*n as u16),
                Opt::Import(r) => {
                    import = match r {
                        FilterRef::All => None,
                        r => Some(sp(self.filter(name, "import", r)?)),
                    }
                }
                Opt::Export(r) => export = Some(sp(self.filter(name, "export", r)?)),
                Opt::RouterId(_) => return err(pos, "a per-protocol `router id` is not supported"),
                Opt::LocalAs { address, asn } => {
                    if let Some(a) = asn {
                        local_as = Some(*a as u32);
                    }
                    if let Some(a) = address {
                        local_addr = Some((pos, *a));
                    }
                }
                Opt::Neighbor { address, port, asn } => {
                    let (pport, pasn) = neighbor.map_or((None, None), |n| (n.1, n.2));
                    neighbor = Some((*address, port.or(pport), asn.or(pasn)));
                    if !super::lower::same_family(*address, self.family) {
                        return err(
                            pos,
                            format!(
                                "neighbor {address} is not of this daemon's family, {}",
                                super::lower::family_word(self.family)
                            ),
                        );
                    }
                }
                Opt::SourceAddress(a) => {
                    if !super::lower::same_family(*a, self.family) {
                        return err(
                            pos,
                            format!("source address {a} is not of the neighbor's family"),
                        );
                    }
                    peer.source_address = Some(*a);
                }
                Opt::Multihop(n) => multihop = Some(*n),
                Opt::Direct => multihop = None,
                Opt::TtlSecurity(b) => peer.ttl_security = *b,
                Opt::Password(s) => peer.password = Some(s.clone()),
                Opt::Passive(b) => peer.passive = *b,
                Opt::RrClient(b) => peer.rr_client = *b,
                Opt::RrClusterId(id) => cluster = Some((pos, *id)),
                Opt::NextHopSelf(b) => next_hop_self = *b,
                Opt::NextHopKeep(b) => next_hop_keep = *b,
                Opt::AllowLocalAs(n) => peer.allow_local_as = n.map_or(1, |n| n as u8),
                Opt::AddPaths(a) => {
                    peer.add_path = match a {
                        AddPaths::Off => AddPathSetting::Off,
                        AddPaths::Rx => AddPathSetting::Receive,
                        AddPaths::Tx => AddPathSetting::Send,
                        AddPaths::On => AddPathSetting::Both,
                    }
                }
                Opt::GracefulRestart(m) => {
                    peer.graceful_restart = Some(match m {
                        GrMode::On => PeerGracefulRestart::On,
                        GrMode::Aware => PeerGracefulRestart::Aware,
                        GrMode::Off => PeerGracefulRestart::Off,
                    })
                }
                Opt::GracefulRestartTime(t) => peer.graceful_restart_time = Some(sp(*t as u32)),
                Opt::KeepaliveTime(t) => peer.keepalive_time = Some(*t as u16),
                Opt::HoldTime(t) => {
                    if *t == 1 || *t == 2 {
                        return err(pos, "hold time must be 0 or at least 3");
                    }
                    peer.hold_time = Some(sp(*t as u16));
                }
                Opt::StartupHoldTime(_) => return err(pos, "`startup hold time` is not supported"),
                Opt::ConnectDelayTime(t) => peer.connect_delay_time = Some(*t as u16),
                Opt::ConnectRetryTime(t) => peer.connect_retry_time = Some(*t as u16),
                Opt::ErrorWaitTime(a, b) => peer.error_wait_time = Some([*a as u16, *b as u16]),
                Opt::ErrorForgetTime(_) => return err(pos, "`error forget time` is not supported"),
                Opt::Gateway { recursive } => {
                    gateway = Some((
                        pos,
                        if *recursive {
                            GatewayMode::Recursive
                        } else {
                            GatewayMode::Direct
                        },
                    ))
                }
                Opt::Bfd(b) => {
                    peer.bfd = Some(crate::bfd::BfdSetting::Enabled(*b));
                }
                Opt::EnableRouteRefresh(true) | Opt::EnableAs4(true) => {}
                Opt::EnableRouteRefresh(false) | Opt::EnableAs4(false) => {
                    return err(
                        pos,
                        "disabling route refresh or 4-octet AS numbers is not supported",
                    )
                }
                other => {
                    return err(
                        pos,
                        format!("option {} is not valid in a bgp protocol", opt_word(other)),
                    )
                }
            }
        }
        let Some((address, port, asn)) = neighbor else {
            return err(p.pos, format!("BGP protocol `{name}` has no `neighbor`"));
        };
        let Some(asn) = asn else {
            return err(
                p.pos,
                format!("BGP protocol `{name}` has no neighbor AS (`neighbor ... as N`)"),
            );
        };
        peer.address = sp(address);
        peer.asn = sp(asn as u32);
        peer.port = port.map_or(179, |p| p as u16);
        if let Some((pos, a)) = local_addr {
            match peer.source_address {
                Some(s) if s != a => {
                    return err(
                        pos,
                        format!("`local {a}` differs from `source address {s}`"),
                    )
                }
                _ => peer.source_address = Some(a),
            }
        }
        peer.multihop = match multihop {
            Some(Some(n)) => Some(sp(n as u8)),
            // `multihop;` alone: BIRD 1.6 uses TTL 64.
            Some(None) => Some(sp(64)),
            None => None,
        };
        // BIRD 1.6 (`bgp_check_config`): direct mode for a single-hop eBGP neighbor unless set;
        // a multihop session cannot use it.
        peer.gateway = match gateway {
            Some((pos, GatewayMode::Direct)) if peer.multihop.is_some() => {
                return err(pos, "Multihop BGP cannot use direct gateway mode")
            }
            Some((_, g)) => g,
            None if peer.multihop.is_none() && local_as.is_some_and(|l| l != asn as u32) => {
                GatewayMode::Direct
            }
            None => GatewayMode::Recursive,
        };
        peer.next_hop = match (next_hop_self, next_hop_keep) {
            (true, true) => {
                return err(
                    p.pos,
                    format!("BGP protocol `{name}` has both `next hop self` and `next hop keep`"),
                )
            }
            (true, false) => NextHopSetting::SelfAlways,
            (false, true) => NextHopSetting::Keep,
            _ => NextHopSetting::Default,
        };
        peer.import = import;
        peer.export = export;
        Ok((peer, local_as, cluster))
    }
}

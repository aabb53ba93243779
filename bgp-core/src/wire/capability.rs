//! DOC: BGP capabilities (RFC 5492) carried in OPEN's optional parameter 2.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//! Known: 1 multiprotocol (RFC 4760), 2 route refresh (RFC 2918), 5 extended next hop
//! (RFC 8950), 6 extended message (RFC 8654), 64 graceful restart (RFC 4724, RFC 8538),
//! 65 4-octet AS (RFC 6793), 69 ADD-PATH (RFC 7911), 70 enhanced route refresh (RFC 7313),
//! 73 FQDN (draft-walton-bgp-hostname-capability). Anything else is kept as received.

use bytes::{BufMut, Bytes};

use super::family::{Afi, Family};

/// Capability codes.
pub mod code {
    /// Multiprotocol extensions.
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route refresh.
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended next hop encoding.
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended messages.
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// Graceful restart.
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS numbers.
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH.
    pub const ADD_PATH: u8 = 69;
    /// Enhanced route refresh.
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Hostname (FQDN).
    pub const FQDN: u8 = 73;
}

/// ADD-PATH send/receive mode for a family (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathMode {
    fn code(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
        }
    }

    fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            _ => return None,
        })
    }

    /// Whether the speaker that advertised this mode can receive multiple paths.
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// Whether the speaker that advertised this mode can send multiple paths.
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// The graceful restart capability (RFC 4724 §3, with the N bit of RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GracefulRestartCap {
    /// R bit: the sender has restarted and its forwarding state may be preserved.
    pub restart_state: bool,
    /// N bit (RFC 8538): the sender supports graceful restart for NOTIFICATIONs too.
    pub notification: bool,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Families and whether forwarding state was preserved for each (F bit).
    pub families: Vec<(Family, bool)>,
}

/// One capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol extensions for one family (RFC 4760).
    Multiprotocol(Family),
    /// Route refresh (RFC 2918).
    RouteRefresh,
    /// Enhanced route refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// 4-octet AS numbers, with the speaker's AS (RFC 6793).
    FourOctetAs(u32),
    /// Graceful restart (RFC 4724).
    GracefulRestart(GracefulRestartCap),
    /// ADD-PATH per family (RFC 7911).
    AddPath(Vec<(Family, AddPathMode)>),
    /// Extended messages up to 65535 octets (RFC 8654).
    ExtendedMessage,
    /// Extended next hop: (NLRI family, next hop AFI) pairs (RFC 8950).
    ExtendedNextHop(Vec<(Family, Afi)>),
    /// Host and domain name (draft-walton-bgp-hostname-capability), for display.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name.
        domain: String,
    },
    /// A capability this codec does not interpret, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Value octets.
        value: Bytes,
    },
}

/// Why a capability is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedCapability(pub &'static str);

fn family(b: &[u8]) -> Option<Family> {
    match b {
        [a0, a1, _reserved, safi] => Some(Family::new(u16::from_be_bytes([*a0, *a1]), *safi)),
        _ => None,
    }
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Whether this capability meets `required`: the same code, and for multiprotocol the
    /// same family (requiring "graceful restart" or "ADD-PATH" accepts any settings of it).
    pub fn satisfies(&self, required: &Capability) -> bool {
        match (self, required) {
            (Capability::Multiprotocol(a), Capability::Multiprotocol(b)) => a == b,
            _ => self.code() == required.code(),
        }
    }

    /// Decodes one capability value.
    pub fn decode(code: u8, value: Bytes) -> Result<Capability, MalformedCapability> {
        let v = value.as_ref();
        Ok(match code {
            code::MULTIPROTOCOL => Capability::Multiprotocol(
                family(v).ok_or(MalformedCapability("multiprotocol length is not 4"))?,
            ),
            code::ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            code::ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
            code::EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
            code::ROUTE_REFRESH | code::ENHANCED_ROUTE_REFRESH | code::EXTENDED_MESSAGE => {
                return Err(MalformedCapability("capability must be empty"))
            }
            code::FOUR_OCTET_AS => Capability::FourOctetAs(
                <[u8; 4]>::try_from(v)
                    .map(u32::from_be_bytes)
                    .map_err(|_| MalformedCapability("4-octet AS length is not 4"))?,
            ),
            code::GRACEFUL_RESTART => {
                let Some((&[h, l], rest)) = v.split_first_chunk::<2>() else {
                    return Err(MalformedCapability("graceful restart too short"));
                };
                if !rest.len().is_multiple_of(4) {
                    return Err(MalformedCapability("graceful restart length"));
                }
                let families = rest
                    .as_chunks::<4>()
                    .0
                    .iter()
                    .map(|&[a0, a1, safi, flags]| {
                        (
                            Family::new(u16::from_be_bytes([a0, a1]), safi),
                            flags & 0x80 != 0,
                        )
                    })
                    .collect();
                Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: h & 0x80 != 0,
                    notification: h & 0x40 != 0,
                    restart_time: u16::from_be_bytes([h & 0x0f, l]),
                    families,
                })
            }
            code::ADD_PATH => {
                if v.is_empty() || !v.len().is_multiple_of(4) {
                    return Err(MalformedCapability(
                        "ADD-PATH length is not a multiple of 4",
                    ));
                }
                let mut fams = Vec::with_capacity(v.len() / 4);
                for &[a0, a1, safi, mode] in v.as_chunks::<4>().0 {
                    let mode =
                        AddPathMode::from_code(mode).ok_or(MalformedCapability("ADD-PATH mode"))?;
                    fams.push((Family::new(u16::from_be_bytes([a0, a1]), safi), mode));
                }
                Capability::AddPath(fams)
            }
            code::EXTENDED_NEXT_HOP => {
                if v.is_empty() || !v.len().is_multiple_of(6) {
                    return Err(MalformedCapability(
                        "extended next hop length is not a multiple of 6",
                    ));
                }
                Capability::ExtendedNextHop(
                    v.as_chunks::<6>()
                        .0
                        .iter()
                        .map(|&[a0, a1, s0, s1, n0, n1]| {
                            // NLRI SAFI is carried in 2 octets here.
                            let safi = u16::from_be_bytes([s0, s1]) as u8;
                            (
                                Family::new(u16::from_be_bytes([a0, a1]), safi),
                                Afi(u16::from_be_bytes([n0, n1])),
                            )
                        })
                        .collect(),
                )
            }
            code::FQDN => {
                let (&hl, rest) = v
                    .split_first()
                    .ok_or(MalformedCapability("FQDN too short"))?;
                let (host, rest) = rest
                    .split_at_checked(usize::from(hl))
                    .ok_or(MalformedCapability("FQDN host overruns"))?;
                let (&dl, rest) = rest
                    .split_first()
                    .ok_or(MalformedCapability("FQDN too short"))?;
                let domain = rest
                    .get(..usize::from(dl))
                    .ok_or(MalformedCapability("FQDN domain overruns"))?;
                Capability::Fqdn {
                    hostname: String::from_utf8_lossy(host).into_owned(),
                    domain: String::from_utf8_lossy(domain).into_owned(),
                }
            }
            _ => Capability::Unknown { code, value },
        })
    }

    /// Appends the capability (code, length, value).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        let mut v: Vec<u8> = Vec::new();
        match self {
            Capability::Multiprotocol(f) => {
                v.extend_from_slice(&f.afi.0.to_be_bytes());
                v.push(0);
                v.push(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => v.extend_from_slice(&asn.to_be_bytes()),
            Capability::GracefulRestart(gr) => {
                let mut h = ((gr.restart_time >> 8) & 0x0f) as u8;
                if gr.restart_state {
                    h |= 0x80;
                }
                if gr.notification {
                    h |= 0x40;
                }
                v.push(h);
                v.push(gr.restart_time as u8);
                for (f, fwd) in &gr.families {
                    v.extend_from_slice(&f.afi.0.to_be_bytes());
                    v.push(f.safi.0);
                    v.push(if *fwd { 0x80 } else { 0 });
                }
            }
            Capability::AddPath(fams) => {
                for (f, mode) in fams {
                    v.extend_from_slice(&f.afi.0.to_be_bytes());
                    v.push(f.safi.0);
                    v.push(mode.code());
                }
            }
            Capability::ExtendedNextHop(fams) => {
                for (f, nh) in fams {
                    v.extend_from_slice(&f.afi.0.to_be_bytes());
                    v.extend_from_slice(&u16::from(f.safi.0).to_be_bytes());
                    v.extend_from_slice(&nh.0.to_be_bytes());
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let b = s.as_bytes();
                    let b = b.get(..b.len().min(255)).unwrap_or_default();
                    v.push(b.len() as u8);
                    v.extend_from_slice(b);
                }
            }
            Capability::Unknown { value, .. } => v.extend_from_slice(value),
        }
        out.put_u8(self.code());
        out.put_u8(v.len().min(255) as u8);
        out.put_slice(v.get(..v.len().min(255)).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(cap: Capability, bytes: &[u8]) {
        let mut out = Vec::new();
        cap.encode(&mut out);
        assert_eq!(out, bytes, "{cap:?}");
        let decoded = Capability::decode(bytes[0], Bytes::copy_from_slice(&bytes[2..])).unwrap();
        assert_eq!(decoded, cap);
    }

    #[test]
    fn vectors_both_ways() {
        roundtrip(
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            &[1, 4, 0, 2, 0, 1],
        );
        roundtrip(Capability::RouteRefresh, &[2, 0]);
        roundtrip(Capability::EnhancedRouteRefresh, &[70, 0]);
        roundtrip(Capability::ExtendedMessage, &[6, 0]);
        roundtrip(
            Capability::FourOctetAs(4_200_000_000),
            &[65, 4, 0xfa, 0x56, 0xea, 0x00],
        );
        roundtrip(
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: true,
                notification: true,
                restart_time: 120,
                families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, false)],
            }),
            &[64, 10, 0xc0, 120, 0, 1, 1, 0x80, 0, 2, 1, 0],
        );
        roundtrip(
            Capability::AddPath(vec![(Family::IPV4_UNICAST, AddPathMode::Both)]),
            &[69, 4, 0, 1, 1, 3],
        );
        roundtrip(
            Capability::ExtendedNextHop(vec![(Family::IPV4_UNICAST, Afi::IPV6)]),
            &[5, 6, 0, 1, 0, 1, 0, 2],
        );
        roundtrip(
            Capability::Fqdn {
                hostname: "node1".into(),
                domain: String::new(),
            },
            &[73, 7, 5, b'n', b'o', b'd', b'e', b'1', 0],
        );
        roundtrip(
            Capability::Unknown {
                code: 71,
                value: Bytes::from_static(&[1, 2]),
            },
            &[71, 2, 1, 2],
        );
    }

    #[test]
    fn malformed() {
        assert!(Capability::decode(1, Bytes::from_static(&[0, 1, 0])).is_err());
        assert!(Capability::decode(65, Bytes::from_static(&[0, 1])).is_err());
        assert!(Capability::decode(69, Bytes::from_static(&[0, 1, 1, 9])).is_err());
        assert!(Capability::decode(64, Bytes::from_static(&[0])).is_err());
        assert!(Capability::decode(2, Bytes::from_static(&[0])).is_err());
        assert!(Capability::decode(73, Bytes::from_static(&[9, 1])).is_err());
    }
}

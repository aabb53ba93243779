//! DOC: COMMUNITIES (RFC 1997), EXTENDED_COMMUNITIES (RFC 4360) and LARGE_COMMUNITY (RFC 8092).

use std::fmt;

/// A standard community: `asn:value` in 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997): not advertised outside the AS (or confederation).
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    /// NO_ADVERTISE (RFC 1997): not advertised to any peer.
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);

    /// `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Community {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The high 16 bits.
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low 16 bits.
    pub fn value(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.asn(), self.value())
    }
}

/// An extended community: 8 opaque octets (type, subtype, value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    /// Whether the community may cross AS boundaries (the IANA-authority "transitive" bit clear).
    pub fn is_transitive(self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

/// A large community: `global:local1:local2`, 3 × 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS number).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl LargeCommunity {
    /// `global:local1:local2`.
    pub const fn new(global: u32, local1: u32, local2: u32) -> Self {
        LargeCommunity {
            global,
            local1,
            local2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {})", self.global, self.local1, self.local2)
    }
}

pub(super) fn decode_communities(buf: &[u8]) -> Option<Vec<Community>> {
    if buf.is_empty() || !buf.len().is_multiple_of(4) {
        return None;
    }
    Some(
        buf.as_chunks::<4>()
            .0
            .iter()
            .map(|c| Community(u32::from_be_bytes(*c)))
            .collect(),
    )
}

pub(super) fn decode_ext_communities(buf: &[u8]) -> Option<Vec<ExtCommunity>> {
    if buf.is_empty() || !buf.len().is_multiple_of(8) {
        return None;
    }
    Some(
        buf.as_chunks::<8>()
            .0
            .iter()
            .map(|c| ExtCommunity(*c))
            .collect(),
    )
}

pub(super) fn decode_large_communities(buf: &[u8]) -> Option<Vec<LargeCommunity>> {
    if buf.is_empty() || !buf.len().is_multiple_of(12) {
        return None;
    }
    Some(
        buf.as_chunks::<12>()
            .0
            .iter()
            .map(|c| {
                let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3] = *c;
                LargeCommunity {
                    global: u32::from_be_bytes([a0, a1, a2, a3]),
                    local1: u32::from_be_bytes([b0, b1, b2, b3]),
                    local2: u32::from_be_bytes([c0, c1, c2, c3]),
                }
            })
            .collect(),
    )
}

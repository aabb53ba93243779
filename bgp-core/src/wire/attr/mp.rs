//! DOC: MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4), next hops of RFC 2545 and RFC 8950.
//!
//! ```text
//! MP_REACH_NLRI (type 14)                 MP_UNREACH_NLRI (type 15)
//! +---------------------------------+     +---------------------------------+
//! | AFI (2) | SAFI (1)              |     | AFI (2) | SAFI (1)              |
//! | Length of Next Hop (1)          |     | Withdrawn Routes (variable)     |
//! | Next Hop (variable)             |     +---------------------------------+
//! | Reserved (1)                    |
//! | NLRI (variable)                 |
//! +---------------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};

use crate::wire::family::{Afi, Family};
use crate::wire::nlri::{decode_prefixes, Nlri};

/// The next hop of an MP_REACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// An IPv4 next hop (IPv4 NLRI).
    V4(Ipv4Addr),
    /// An IPv6 next hop: a global address and, on a shared link, a link-local one (RFC 2545).
    /// Also used for IPv4 NLRI with an IPv6 next hop (RFC 8950).
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, if sent.
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family this codec does not parse.
    Opaque(Bytes),
}

impl NextHop {
    /// Octets of the next hop field.
    pub fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 {
                link_local: None, ..
            } => 16,
            NextHop::V6 {
                link_local: Some(_),
                ..
            } => 32,
            NextHop::Opaque(b) => b.len(),
        }
    }
}

/// MP_REACH_NLRI: routes of one family announced with one next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    /// The family of the routes.
    pub family: Family,
    /// Their next hop.
    pub next_hop: NextHop,
    /// The prefixes (IP families).
    pub nlri: Vec<Nlri>,
    /// The NLRI of a family this codec does not parse, as received.
    pub opaque_nlri: Bytes,
}

/// MP_UNREACH_NLRI: routes of one family withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    /// The family of the routes.
    pub family: Family,
    /// The prefixes (IP families).
    pub withdrawn: Vec<Nlri>,
    /// The withdrawn NLRI of a family this codec does not parse, as received.
    pub opaque_nlri: Bytes,
}

/// Why an MP attribute is malformed; RFC 7606 §7.11 makes this a session reset.
pub(crate) struct MalformedMp(pub &'static str);

fn family_of(buf: &[u8]) -> Option<(Family, &[u8])> {
    let (&[a0, a1, safi], rest) = buf.split_first_chunk::<3>()?;
    Some((Family::new(u16::from_be_bytes([a0, a1]), safi), rest))
}

fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from)
}

pub(crate) fn decode_mp_reach(
    root: &Bytes,
    value: &[u8],
    add_path: impl Fn(Family) -> bool,
) -> Result<MpReach, MalformedMp> {
    let (family, rest) = family_of(value).ok_or(MalformedMp("MP_REACH_NLRI too short"))?;
    let (&nh_len, rest) = rest
        .split_first()
        .ok_or(MalformedMp("MP_REACH_NLRI too short"))?;
    let (nh, rest) = rest
        .split_at_checked(usize::from(nh_len))
        .ok_or(MalformedMp("next hop overruns MP_REACH_NLRI"))?;
    // One reserved octet (formerly the SNPA count) follows the next hop.
    let (_reserved, nlri) = rest
        .split_first()
        .ok_or(MalformedMp("MP_REACH_NLRI too short"))?;
    if !family.is_ip() {
        return Ok(MpReach {
            family,
            next_hop: NextHop::Opaque(root.slice_ref(nh)),
            nlri: Vec::new(),
            opaque_nlri: root.slice_ref(nlri),
        });
    }
    let next_hop = match (nh.len(), family.afi) {
        (4, Afi::IPV4) => NextHop::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(nh).map_err(|_| MalformedMp("next hop"))?,
        )),
        (16, _) => NextHop::V6 {
            global: ipv6(nh).ok_or(MalformedMp("next hop"))?,
            link_local: None,
        },
        (32, _) => {
            let (g, ll) = nh.split_at(16);
            NextHop::V6 {
                global: ipv6(g).ok_or(MalformedMp("next hop"))?,
                link_local: Some(ipv6(ll).ok_or(MalformedMp("next hop"))?),
            }
        }
        _ => {
            return Err(MalformedMp(
                "next hop length invalid for the address family",
            ))
        }
    };
    let mut prefixes = Vec::new();
    decode_prefixes(nlri, family.afi, add_path(family), &mut prefixes)
        .map_err(|e| MalformedMp(e.0))?;
    Ok(MpReach {
        family,
        next_hop,
        nlri: prefixes,
        opaque_nlri: Bytes::new(),
    })
}

pub(crate) fn decode_mp_unreach(
    root: &Bytes,
    value: &[u8],
    add_path: impl Fn(Family) -> bool,
) -> Result<MpUnreach, MalformedMp> {
    let (family, rest) = family_of(value).ok_or(MalformedMp("MP_UNREACH_NLRI too short"))?;
    if !family.is_ip() {
        return Ok(MpUnreach {
            family,
            withdrawn: Vec::new(),
            opaque_nlri: root.slice_ref(rest),
        });
    }
    let mut withdrawn = Vec::new();
    decode_prefixes(rest, family.afi, add_path(family), &mut withdrawn)
        .map_err(|e| MalformedMp(e.0))?;
    Ok(MpUnreach {
        family,
        withdrawn,
        opaque_nlri: Bytes::new(),
    })
}

impl MpReach {
    /// Length of the attribute value.
    pub(crate) fn value_len(&self, add_path: bool) -> usize {
        let nlri: usize = if self.family.is_ip() {
            self.nlri.iter().map(|n| n.encoded_len(add_path)).sum()
        } else {
            self.opaque_nlri.len()
        };
        3 + 1 + self.next_hop.encoded_len() + 1 + nlri
    }

    pub(crate) fn encode_value<B: BufMut>(&self, add_path: bool, out: &mut B) {
        encode_reach_value(&self.family, &self.next_hop, out);
        if self.family.is_ip() {
            crate::wire::nlri::encode_prefixes(&self.nlri, add_path, out);
        } else {
            out.put_slice(&self.opaque_nlri);
        }
    }
}

/// AFI, SAFI, next hop length, next hop and the reserved octet of an MP_REACH_NLRI value.
pub(crate) fn encode_reach_value<B: BufMut>(family: &Family, next_hop: &NextHop, out: &mut B) {
    out.put_u16(family.afi.0);
    out.put_u8(family.safi.0);
    out.put_u8(next_hop.encoded_len() as u8);
    match next_hop {
        NextHop::V4(a) => out.put_slice(&a.octets()),
        NextHop::V6 { global, link_local } => {
            out.put_slice(&global.octets());
            if let Some(ll) = link_local {
                out.put_slice(&ll.octets());
            }
        }
        NextHop::Opaque(b) => out.put_slice(b),
    }
    out.put_u8(0);
}

impl MpUnreach {
    pub(crate) fn value_len(&self, add_path: bool) -> usize {
        let nlri: usize = if self.family.is_ip() {
            self.withdrawn.iter().map(|n| n.encoded_len(add_path)).sum()
        } else {
            self.opaque_nlri.len()
        };
        3 + nlri
    }

    pub(crate) fn encode_value<B: BufMut>(&self, add_path: bool, out: &mut B) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.family.safi.0);
        if self.family.is_ip() {
            crate::wire::nlri::encode_prefixes(&self.withdrawn, add_path, out);
        } else {
            out.put_slice(&self.opaque_nlri);
        }
    }
}

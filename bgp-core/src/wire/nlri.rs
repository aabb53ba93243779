//! DOC: NLRI prefixes (RFC 4271 §4.3) with optional ADD-PATH identifiers (RFC 7911).
//!
//! ```text
//! +---------------------------+
//! | Path Identifier (4 octets)|   only where ADD-PATH is negotiated for the family
//! +---------------------------+
//! | Length (1 octet)          |   prefix length in bits
//! +---------------------------+
//! | Prefix (variable)         |   ceil(length / 8) octets; trailing bits are irrelevant
//! +---------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::family::Afi;

/// One prefix of an UPDATE, with its ADD-PATH path identifier when the family uses ADD-PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The prefix, host bits cleared.
    pub prefix: IpNet,
    /// The path identifier (RFC 7911), present exactly when ADD-PATH applies.
    pub path_id: Option<u32>,
}

impl Nlri {
    /// A prefix without a path identifier.
    pub fn new(prefix: IpNet) -> Self {
        Nlri {
            prefix,
            path_id: None,
        }
    }

    /// A prefix with a path identifier.
    pub fn with_path_id(prefix: IpNet, path_id: u32) -> Self {
        Nlri {
            prefix,
            path_id: Some(path_id),
        }
    }

    /// Octets this prefix takes on the wire, with or without an ADD-PATH identifier.
    pub fn encoded_len(&self, add_path: bool) -> usize {
        let id = if add_path { 4 } else { 0 };
        id + 1 + usize::from(self.prefix.prefix_len()).div_ceil(8)
    }

    /// Appends the wire form. The path identifier is written when `add_path` is set (0 if the
    /// value has none), and never otherwise.
    pub fn encode<B: BufMut>(&self, add_path: bool, out: &mut B) {
        if add_path {
            out.put_u32(self.path_id.unwrap_or(0));
        }
        let len = self.prefix.prefix_len();
        out.put_u8(len);
        let n = usize::from(len).div_ceil(8);
        match self.prefix {
            IpNet::V4(p) => out.put_slice(p.addr().octets().get(..n).unwrap_or_default()),
            IpNet::V6(p) => out.put_slice(p.addr().octets().get(..n).unwrap_or_default()),
        }
    }
}

/// Appends many prefixes. The hot encode loop: each prefix is written as a fixed-size chunk into
/// a stack buffer (so no per-prefix length-dependent copy or capacity check happens) and the
/// buffer is flushed to `out` in large pieces.
pub fn encode_prefixes<B: BufMut>(nlri: &[Nlri], add_path: bool, out: &mut B) {
    const CHUNK: usize = 1024;
    let mut buf = [0u8; CHUNK + 21];
    let mut pos = 0usize;
    for n in nlri {
        if pos >= CHUNK {
            out.put_slice(buf.get(..pos).unwrap_or_default());
            pos = 0;
        }
        let Some(slot) = buf.get_mut(pos..pos + 21) else {
            break;
        };
        let mut w = 0;
        if add_path {
            if let Some(d) = slot.get_mut(..4) {
                d.copy_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
            }
            w = 4;
        }
        let len = n.prefix.prefix_len();
        let bytes = usize::from(len).div_ceil(8);
        match n.prefix {
            IpNet::V4(p) => {
                let o = p.addr().octets();
                if let Some(d) = slot.get_mut(w..w + 5) {
                    d.copy_from_slice(&[len, o[0], o[1], o[2], o[3]]);
                }
            }
            IpNet::V6(p) => {
                if let Some(d) = slot.get_mut(w..w + 17) {
                    let mut v = [0u8; 17];
                    v[0] = len;
                    v[1..].copy_from_slice(&p.addr().octets());
                    d.copy_from_slice(&v);
                }
            }
        }
        pos += w + 1 + bytes;
    }
    out.put_slice(buf.get(..pos).unwrap_or_default());
}

/// Why an NLRI field cannot be parsed (RFC 4271 §6.3 "Invalid Network Field").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidNlri(pub &'static str);

/// Decodes a whole NLRI (or withdrawn-routes) field of prefixes of `afi`, appending to `out`.
///
/// The field must be consumed exactly: a prefix longer than the address, or one that overruns
/// the field, makes the whole field invalid.
pub fn decode_prefixes(
    mut buf: &[u8],
    afi: Afi,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), InvalidNlri> {
    // Smallest prefix: 1 octet (or 5 with a path id); reserve for the common case without
    // over-allocating for hostile input.
    out.reserve(buf.len() / if add_path { 8 } else { 4 });
    if afi == Afi::IPV4 && !add_path {
        return decode_ipv4(buf, out);
    }
    while !buf.is_empty() {
        let path_id = if add_path {
            let Some((id, rest)) = buf.split_first_chunk::<4>() else {
                return Err(InvalidNlri("truncated path identifier"));
            };
            buf = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let Some((&len, rest)) = buf.split_first() else {
            return Err(InvalidNlri("missing prefix length"));
        };
        let n = usize::from(len).div_ceil(8);
        let Some((bits, rest)) = rest.split_at_checked(n) else {
            return Err(InvalidNlri("prefix overruns the field"));
        };
        buf = rest;
        let prefix = match afi {
            Afi::IPV4 => IpNet::V4(ipv4_prefix(bits, len)?),
            Afi::IPV6 => {
                if len > 128 {
                    return Err(InvalidNlri("IPv6 prefix longer than 128 bits"));
                }
                let mut o = [0u8; 16];
                if let Some(dst) = o.get_mut(..n) {
                    dst.copy_from_slice(bits);
                }
                let addr = u128::from_be_bytes(o) & mask128(len);
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(addr), len)
                        .map_err(|_| InvalidNlri("bad length"))?,
                )
            }
            _ => return Err(InvalidNlri("not an IP address family")),
        };
        out.push(Nlri { prefix, path_id });
    }
    Ok(())
}

/// An IPv4 prefix from its 0..=4 significant octets.
fn ipv4_prefix(bits: &[u8], len: u8) -> Result<Ipv4Net, InvalidNlri> {
    let raw = match *bits {
        [] => 0,
        [a] => u32::from(a) << 24,
        [a, b] => u32::from_be_bytes([a, b, 0, 0]),
        [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => return Err(InvalidNlri("IPv4 prefix longer than 32 bits")),
    };
    Ipv4Net::new(Ipv4Addr::from(raw & mask32(len)), len)
        .map_err(|_| InvalidNlri("IPv4 prefix longer than 32 bits"))
}

/// The hot loop for plain IPv4 NLRI: while at least five octets remain, read the length and a
/// whole 4-octet word and mask it, so no per-length branching or copying happens; the octets
/// beyond the prefix belong to the next one and are masked off.
fn decode_ipv4(mut buf: &[u8], out: &mut Vec<Nlri>) -> Result<(), InvalidNlri> {
    while let Some((&[len, a, b, c, d], _)) = buf.split_first_chunk::<5>() {
        if len > 32 {
            return Err(InvalidNlri("IPv4 prefix longer than 32 bits"));
        }
        let n = usize::from(len).div_ceil(8);
        let addr = u32::from_be_bytes([a, b, c, d]) & mask32(len);
        let net = Ipv4Net::new(Ipv4Addr::from(addr), len)
            .map_err(|_| InvalidNlri("IPv4 prefix longer than 32 bits"))?;
        out.push(Nlri {
            prefix: IpNet::V4(net),
            path_id: None,
        });
        buf = buf.get(1 + n..).unwrap_or_default();
    }
    while let Some((&len, rest)) = buf.split_first() {
        let n = usize::from(len).div_ceil(8);
        let Some((bits, rest)) = rest.split_at_checked(n) else {
            return Err(InvalidNlri("prefix overruns the field"));
        };
        out.push(Nlri {
            prefix: IpNet::V4(ipv4_prefix(bits, len)?),
            path_id: None,
        });
        buf = rest;
    }
    Ok(())
}

fn mask32(len: u8) -> u32 {
    // len <= 32: a 64-bit shift never overflows.
    (u64::from(u32::MAX) << (32 - u32::from(len).min(32))) as u32
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn vectors_both_ways() {
        let cases: &[(&[u8], Afi, bool, Vec<Nlri>)] = &[
            (
                &[24, 10, 1, 2],
                Afi::IPV4,
                false,
                vec![Nlri::new(p("10.1.2.0/24"))],
            ),
            (&[0], Afi::IPV4, false, vec![Nlri::new(p("0.0.0.0/0"))]),
            (
                &[32, 1, 2, 3, 4, 26, 10, 244, 1, 64],
                Afi::IPV4,
                false,
                vec![Nlri::new(p("1.2.3.4/32")), Nlri::new(p("10.244.1.64/26"))],
            ),
            (
                &[0, 0, 0, 7, 24, 10, 1, 2],
                Afi::IPV4,
                true,
                vec![Nlri::with_path_id(p("10.1.2.0/24"), 7)],
            ),
            (
                &[48, 0x20, 0x01, 0x0d, 0xb8, 0, 1],
                Afi::IPV6,
                false,
                vec![Nlri::new(p("2001:db8:1::/48"))],
            ),
        ];
        for (bytes, afi, add_path, want) in cases {
            let mut got = Vec::new();
            decode_prefixes(bytes, *afi, *add_path, &mut got).unwrap();
            assert_eq!(&got, want);
            let mut enc = Vec::new();
            for n in want {
                enc.extend_from_slice(&{
                    let mut v = Vec::new();
                    n.encode(*add_path, &mut v);
                    assert_eq!(v.len(), n.encoded_len(*add_path));
                    v
                });
            }
            assert_eq!(&enc[..], *bytes);
        }
    }

    #[test]
    fn host_bits_are_cleared() {
        let mut got = Vec::new();
        decode_prefixes(&[23, 10, 1, 3], Afi::IPV4, false, &mut got).unwrap();
        assert_eq!(got, vec![Nlri::new(p("10.1.2.0/23"))]);
    }

    #[test]
    fn invalid_fields() {
        let mut v = Vec::new();
        assert!(decode_prefixes(&[33, 1, 2, 3, 4, 5], Afi::IPV4, false, &mut v).is_err());
        assert!(decode_prefixes(&[24, 10, 1], Afi::IPV4, false, &mut v).is_err());
        assert!(decode_prefixes(&[0, 0, 1], Afi::IPV4, true, &mut v).is_err());
        assert!(decode_prefixes(&[129], Afi::IPV6, false, &mut v).is_err());
    }
}

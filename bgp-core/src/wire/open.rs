//! DOC: the OPEN message (RFC 4271 §4.2), optional parameters (RFC 5492, RFC 9072) and the
//! checks of RFC 4271 §6.2.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use super::attr::AS_TRANS;
use super::capability::Capability;
use super::error::{open_subcode, DecodeError, EncodeError};
use super::header::{finish_message, start_message, MessageType};

/// The BGP version this codec speaks.
pub const BGP_VERSION: u8 = 4;
/// Optional parameter type of capabilities (RFC 5492).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: the non-extended length and first type octet that announce extended parameters.
const EXTENDED_PARAMS: u8 = 255;

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Protocol version; 4.
    pub version: u8,
    /// The sender's AS, or AS_TRANS when it does not fit in two octets.
    pub my_as: u16,
    /// Proposed hold time in seconds (0, or at least 3).
    pub hold_time: u16,
    /// The sender's BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order received.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for a speaker of `asn` (2-octet field filled with AS_TRANS when needed; the
    /// caller adds the 4-octet AS capability to `capabilities`).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Open {
        Open {
            version: BGP_VERSION,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS as u16),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's real AS: from the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// The first capability matching `f`.
    pub fn find_capability<T>(&self, f: impl Fn(&Capability) -> Option<T>) -> Option<T> {
        self.capabilities.iter().find_map(f)
    }

    /// Decodes the body of an OPEN (after the header).
    pub fn decode(body: &Bytes) -> Result<Open, DecodeError> {
        let b = body.as_ref();
        let Some((&[version, a0, a1, h0, h1, i0, i1, i2, i3, plen], params)) =
            b.split_first_chunk::<10>()
        else {
            return Err(DecodeError::header(2, &[], "OPEN too short"));
        };
        if version != BGP_VERSION {
            // RFC 4271 §6.2: data is the largest locally supported version number.
            return Err(DecodeError::open(
                open_subcode::UNSUPPORTED_VERSION,
                &u16::from(BGP_VERSION).to_be_bytes(),
                "unsupported BGP version",
            ));
        }
        let hold_time = u16::from_be_bytes([h0, h1]);
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::open(
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                &[],
                "hold time of 1 or 2 seconds",
            ));
        }
        let bgp_id = Ipv4Addr::new(i0, i1, i2, i3);
        if bgp_id.is_unspecified() {
            return Err(DecodeError::open(
                open_subcode::BAD_BGP_ID,
                &[],
                "BGP identifier is zero",
            ));
        }
        let base = 10;
        let params_off;
        let extended;
        let plen = match params {
            // RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, then a 2-octet length.
            [EXTENDED_PARAMS, l0, l1, ..] if plen == EXTENDED_PARAMS => {
                params_off = base + 3;
                extended = true;
                usize::from(u16::from_be_bytes([*l0, *l1]))
            }
            _ => {
                params_off = base;
                extended = false;
                usize::from(plen)
            }
        };
        if params_off + plen != b.len() {
            return Err(DecodeError::open(
                0,
                &[],
                "optional parameter length disagrees with message length",
            ));
        }
        let mut capabilities = Vec::new();
        let mut pos = params_off;
        while pos < b.len() {
            let (ptype, len, hdr) = if extended {
                match b.get(pos..pos + 3) {
                    Some(&[t, l0, l1]) => (t, usize::from(u16::from_be_bytes([l0, l1])), 3),
                    _ => return Err(DecodeError::open(0, &[], "truncated optional parameter")),
                }
            } else {
                match b.get(pos..pos + 2) {
                    Some(&[t, l]) => (t, usize::from(l), 2),
                    _ => return Err(DecodeError::open(0, &[], "truncated optional parameter")),
                }
            };
            let start = pos + hdr;
            let end = start + len;
            if end > b.len() {
                return Err(DecodeError::open(
                    0,
                    &[],
                    "optional parameter overruns the message",
                ));
            }
            if ptype != PARAM_CAPABILITIES {
                return Err(DecodeError::open(
                    open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                    &[],
                    "unsupported optional parameter",
                ));
            }
            decode_capabilities(&body.slice(start..end), &mut capabilities)?;
            pos = end;
        }
        Ok(Open {
            version,
            my_as: u16::from_be_bytes([a0, a1]),
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    /// Encodes the whole message, header included. Capabilities go in one optional parameter
    /// (RFC 5492), or in RFC 9072 extended form when they exceed 255 octets.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = start_message(out, MessageType::Open);
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_slice(&self.bgp_id.octets());
        let mut caps = Vec::new();
        for c in &self.capabilities {
            c.encode(&mut caps);
        }
        if caps.is_empty() {
            out.put_u8(0);
        } else if caps.len() + 2 <= 255 {
            out.put_u8((caps.len() + 2) as u8);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        } else {
            let len = u16::try_from(caps.len() + 3)
                .map_err(|_| EncodeError::Invalid("capabilities too long"))?;
            out.put_u8(EXTENDED_PARAMS);
            out.put_u8(EXTENDED_PARAMS);
            out.put_u16(len);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u16(len - 3);
            out.put_slice(&caps);
        }
        let len = out.len() - start;
        if len > super::MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong(len));
        }
        finish_message(out, start)
    }
}

fn decode_capabilities(buf: &Bytes, out: &mut Vec<Capability>) -> Result<(), DecodeError> {
    let mut pos = 0;
    while pos < buf.len() {
        let (Some(&code), Some(&len)) = (buf.get(pos), buf.get(pos + 1)) else {
            return Err(DecodeError::open(0, &[], "truncated capability"));
        };
        let start = pos + 2;
        let end = start + usize::from(len);
        if end > buf.len() {
            return Err(DecodeError::open(
                0,
                &[],
                "capability overruns its parameter",
            ));
        }
        let cap = Capability::decode(code, buf.slice(start..end))
            .map_err(|e| DecodeError::open(0, &buf.slice(pos..end), e.0))?;
        out.push(cap);
        pos = end;
    }
    Ok(())
}

/// What the local side expects of a peer's OPEN (RFC 4271 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCheck {
    /// The peer's configured AS; `None` accepts any (dynamic neighbours with an AS range are
    /// checked by the caller).
    pub peer_as: Option<u32>,
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The smallest non-zero hold time we accept (3 per RFC 4271).
    pub min_hold_time: u16,
    /// Capabilities the peer must announce; missing ones give 2/7. A requirement is met by a
    /// capability of the same code (any settings), except multiprotocol, which must name the
    /// same family (see [`Capability::satisfies`]).
    pub required_capabilities: Vec<Capability>,
}

impl Open {
    /// Checks a received OPEN against local expectations, giving the exact NOTIFICATION of
    /// RFC 4271 §6.2 (and RFC 6793, RFC 6286, RFC 5492) when it is unacceptable.
    pub fn check(&self, want: &OpenCheck) -> Result<(), DecodeError> {
        let asn = self.asn();
        // RFC 6793 §4.2.1: a 4-octet capability with a 2-octet-able AS must match My AS; a
        // 4-octet AS must come with AS_TRANS in My AS.
        let four = self.find_capability(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        });
        if let Some(a) = four {
            let consistent = if a > 0xffff {
                u32::from(self.my_as) == AS_TRANS
            } else {
                u32::from(self.my_as) == a
            };
            if !consistent && u32::from(self.my_as) != AS_TRANS {
                return Err(DecodeError::open(
                    open_subcode::BAD_PEER_AS,
                    &[],
                    "My AS disagrees with the 4-octet AS capability",
                ));
            }
        }
        if asn == 0 || want.peer_as.is_some_and(|p| p != asn) {
            return Err(DecodeError::open(
                open_subcode::BAD_PEER_AS,
                &[],
                "peer AS is not the configured one",
            ));
        }
        // RFC 6286 §2.2: within an AS the identifiers must differ.
        if asn == want.local_as && self.bgp_id == want.local_id {
            return Err(DecodeError::open(
                open_subcode::BAD_BGP_ID,
                &[],
                "peer uses our BGP identifier",
            ));
        }
        if self.hold_time != 0 && self.hold_time < want.min_hold_time.max(3) {
            return Err(DecodeError::open(
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                &[],
                "hold time too small",
            ));
        }
        let missing: Vec<&Capability> = want
            .required_capabilities
            .iter()
            .filter(|r| !self.capabilities.iter().any(|c| c.satisfies(r)))
            .collect();
        if !missing.is_empty() {
            // RFC 5492 §3: the data lists the capabilities that caused the error.
            let mut data = Vec::new();
            for c in missing {
                c.encode(&mut data);
            }
            return Err(DecodeError::open(
                open_subcode::UNSUPPORTED_CAPABILITY,
                &data,
                "required capability missing",
            ));
        }
        Ok(())
    }
}

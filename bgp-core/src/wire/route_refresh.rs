//! DOC: ROUTE-REFRESH (RFC 2918) with the enhanced route refresh subtypes (RFC 7313).
//!
//! ```text
//! 0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtyp| SAFI  |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, BytesMut};

use super::error::{code, DecodeError, EncodeError};
use super::family::Family;
use super::header::{finish_message, start_message, MessageType};

/// The message subtype (RFC 7313 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshSubtype {
    /// 0: a plain route refresh request.
    Normal,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// Reserved values; RFC 7313 §5 says to ignore such messages.
    Other(u8),
}

impl RefreshSubtype {
    fn code(self) -> u8 {
        match self {
            RefreshSubtype::Normal => 0,
            RefreshSubtype::BeginningOfRefresh => 1,
            RefreshSubtype::EndOfRefresh => 2,
            RefreshSubtype::Other(v) => v,
        }
    }

    fn from_code(v: u8) -> Self {
        match v {
            0 => RefreshSubtype::Normal,
            1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh,
            v => RefreshSubtype::Other(v),
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Plain request, or the beginning or end of a refresh (enhanced route refresh).
    pub subtype: RefreshSubtype,
}

impl RouteRefresh {
    /// A plain request for `family`.
    pub fn request(family: Family) -> Self {
        RouteRefresh {
            family,
            subtype: RefreshSubtype::Normal,
        }
    }

    /// Decodes the body (after the header). `whole` is the complete message, the data of the
    /// 7/1 NOTIFICATION (RFC 7313 §5) when the length is wrong.
    pub fn decode(body: &[u8], whole: &[u8]) -> Result<RouteRefresh, DecodeError> {
        match body {
            &[a0, a1, sub, safi] => Ok(RouteRefresh {
                family: Family::new(u16::from_be_bytes([a0, a1]), safi),
                subtype: RefreshSubtype::from_code(sub),
            }),
            _ => Err(DecodeError::new(
                code::ROUTE_REFRESH,
                1,
                whole,
                "ROUTE-REFRESH length is not 23",
            )),
        }
    }

    /// Encodes the whole message, header included.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = start_message(out, MessageType::RouteRefresh);
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype.code());
        out.put_u8(self.family.safi.0);
        finish_message(out, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(rr: &RouteRefresh) -> bytes::Bytes {
        let mut out = BytesMut::new();
        rr.encode(&mut out).unwrap();
        out.freeze()
    }

    #[test]
    fn vectors_both_ways() {
        for (rr, tail) in [
            (RouteRefresh::request(Family::IPV4_UNICAST), [0u8, 1, 0, 1]),
            (
                RouteRefresh {
                    family: Family::IPV6_UNICAST,
                    subtype: RefreshSubtype::BeginningOfRefresh,
                },
                [0, 2, 1, 1],
            ),
            (
                RouteRefresh {
                    family: Family::IPV6_UNICAST,
                    subtype: RefreshSubtype::EndOfRefresh,
                },
                [0, 2, 2, 1],
            ),
        ] {
            let bytes = encoded(&rr);
            assert_eq!(
                &bytes[..19],
                &[
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0xff, 0xff, 0, 23, 5
                ]
            );
            assert_eq!(&bytes[19..], &tail);
            assert_eq!(RouteRefresh::decode(&bytes[19..], &bytes).unwrap(), rr);
        }
    }

    #[test]
    fn bad_length_is_7_1_with_message() {
        let whole = [0u8; 24];
        let e = RouteRefresh::decode(&whole[19..], &whole).unwrap_err();
        assert_eq!((e.code, e.subcode, e.data.len()), (7, 1, 24));
    }
}

//! DOC: NOTIFICATION (RFC 4271 §4.5), Cease subcodes (RFC 4486, RFC 8538, RFC 9384) and the shutdown
//! communication (RFC 9003).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{code, EncodeError};
use super::header::{finish_message, start_message, MessageType};

/// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMIN_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMIN_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIG_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const COLLISION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
    /// BFD Down (RFC 9384).
    pub const BFD_DOWN: u8 = 10;
}

/// The longest shutdown communication (RFC 9003 §2).
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Bytes,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification {
            code,
            subcode,
            data: Bytes::new(),
        }
    }

    /// Hold Timer Expired (4/0).
    pub fn hold_timer_expired() -> Self {
        Self::new(code::HOLD_TIMER, 0)
    }

    /// Finite State Machine Error (5/x; RFC 6608 subcodes: 1 OpenSent, 2 OpenConfirm,
    /// 3 Established).
    pub fn fsm_error(subcode: u8) -> Self {
        Self::new(code::FSM, subcode)
    }

    /// Cease with a subcode and no data.
    pub fn cease(subcode: u8) -> Self {
        Self::new(code::CEASE, subcode)
    }

    /// Cease / Administrative Shutdown (6/2) or Reset (6/4) with a shutdown communication
    /// (RFC 9003), truncated to 255 octets on a character boundary.
    pub fn shutdown(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = message.get(..end).unwrap_or_default();
        let mut data = BytesMut::with_capacity(1 + text.len());
        if !text.is_empty() {
            data.put_u8(text.len() as u8);
            data.put_slice(text.as_bytes());
        }
        Notification {
            code: code::CEASE,
            subcode,
            data: data.freeze(),
        }
    }

    /// Cease / Maximum Number of Prefixes Reached (6/1) with the data of RFC 4486 §4:
    /// AFI, SAFI and the configured upper bound.
    pub fn max_prefixes(family: super::Family, limit: u32) -> Self {
        let mut data = BytesMut::with_capacity(7);
        data.put_u16(family.afi.0);
        data.put_u8(family.safi.0);
        data.put_u32(limit);
        Notification {
            code: code::CEASE,
            subcode: cease::MAX_PREFIXES,
            data: data.freeze(),
        }
    }

    /// The shutdown communication of a Cease 6/2 or 6/4 — also inside a Hard Reset that wraps
    /// one (RFC 8538 §3) — if one was sent and is valid UTF-8 (RFC 9003 §2: length octet, then
    /// that many octets of UTF-8).
    pub fn shutdown_communication(&self) -> Option<&str> {
        let (c, s, data) = if self.is_hard_reset() {
            let (&[c, s], data) = self.data.split_first_chunk::<2>()?;
            (c, s, data)
        } else {
            (self.code, self.subcode, self.data.as_ref())
        };
        if c != code::CEASE || !matches!(s, cease::ADMIN_SHUTDOWN | cease::ADMIN_RESET) {
            return None;
        }
        let (&len, rest) = data.split_first()?;
        std::str::from_utf8(rest.get(..usize::from(len))?).ok()
    }

    /// This NOTIFICATION wrapped in a Cease / Hard Reset (RFC 8538 §3: the data is the error
    /// code and subcode of the NOTIFICATION that would have been sent, followed by its data).
    /// Used where graceful restart with the N bit would otherwise let the peer keep our routes.
    pub fn into_hard_reset(self) -> Notification {
        let mut data = BytesMut::with_capacity(2 + self.data.len());
        data.put_u8(self.code);
        data.put_u8(self.subcode);
        data.put_slice(&self.data);
        Notification {
            code: code::CEASE,
            subcode: cease::HARD_RESET,
            data: data.freeze(),
        }
    }

    /// The NOTIFICATION a Hard Reset carries, or `self` when this is not a Hard Reset.
    pub fn unwrap_hard_reset(&self) -> Notification {
        if self.is_hard_reset() {
            if let Some((&[c, s], _)) = self.data.split_first_chunk::<2>() {
                return Notification {
                    code: c,
                    subcode: s,
                    data: self.data.slice(2..),
                };
            }
        }
        self.clone()
    }

    /// Whether the peer asks for its routes to be dropped even under graceful restart: every
    /// NOTIFICATION except those the N bit protects (RFC 8538 §3: all but Cease/Hard Reset).
    pub fn is_hard_reset(&self) -> bool {
        self.code == code::CEASE && self.subcode == cease::HARD_RESET
    }

    /// Decodes the body of a NOTIFICATION (after the header).
    pub fn decode(body: &Bytes) -> Option<Notification> {
        let (&c, rest) = body.split_first()?;
        let (&s, _) = rest.split_first()?;
        Some(Notification {
            code: c,
            subcode: s,
            data: body.slice(2..),
        })
    }

    /// Encodes the whole message, header included; data that would not fit is truncated.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = start_message(out, MessageType::Notification);
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        let room = super::MAX_MESSAGE_LEN - 21;
        out.put_slice(
            self.data
                .get(..self.data.len().min(room))
                .unwrap_or_default(),
        );
        finish_message(out, start)
    }

    /// The name of the error code and subcode, as RFC 4271 and its successors spell them.
    pub fn describe(&self) -> (&'static str, &'static str) {
        let c = match self.code {
            code::HEADER => "Message Header Error",
            code::OPEN => "OPEN Message Error",
            code::UPDATE => "UPDATE Message Error",
            code::HOLD_TIMER => "Hold Timer Expired",
            code::FSM => "Finite State Machine Error",
            code::CEASE => "Cease",
            code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
            _ => "Unknown error",
        };
        let s = match (self.code, self.subcode) {
            (code::HEADER, 1) => "Connection Not Synchronized",
            (code::HEADER, 2) => "Bad Message Length",
            (code::HEADER, 3) => "Bad Message Type",
            (code::OPEN, 1) => "Unsupported Version Number",
            (code::OPEN, 2) => "Bad Peer AS",
            (code::OPEN, 3) => "Bad BGP Identifier",
            (code::OPEN, 4) => "Unsupported Optional Parameter",
            (code::OPEN, 6) => "Unacceptable Hold Time",
            (code::OPEN, 7) => "Unsupported Capability",
            (code::UPDATE, 1) => "Malformed Attribute List",
            (code::UPDATE, 2) => "Unrecognized Well-known Attribute",
            (code::UPDATE, 3) => "Missing Well-known Attribute",
            (code::UPDATE, 4) => "Attribute Flags Error",
            (code::UPDATE, 5) => "Attribute Length Error",
            (code::UPDATE, 6) => "Invalid ORIGIN Attribute",
            (code::UPDATE, 8) => "Invalid NEXT_HOP Attribute",
            (code::UPDATE, 9) => "Optional Attribute Error",
            (code::UPDATE, 10) => "Invalid Network Field",
            (code::UPDATE, 11) => "Malformed AS_PATH",
            (code::FSM, 1) => "Unexpected Message in OpenSent State",
            (code::FSM, 2) => "Unexpected Message in OpenConfirm State",
            (code::FSM, 3) => "Unexpected Message in Established State",
            (code::CEASE, 1) => "Maximum Number of Prefixes Reached",
            (code::CEASE, 2) => "Administrative Shutdown",
            (code::CEASE, 3) => "Peer De-configured",
            (code::CEASE, 4) => "Administrative Reset",
            (code::CEASE, 5) => "Connection Rejected",
            (code::CEASE, 6) => "Other Configuration Change",
            (code::CEASE, 7) => "Connection Collision Resolution",
            (code::CEASE, 8) => "Out of Resources",
            (code::CEASE, 9) => "Hard Reset",
            (code::CEASE, 10) => "BFD Down",
            (code::ROUTE_REFRESH, 1) => "Invalid Message Length",
            (_, 0) => "Unspecific",
            _ => "Unknown subcode",
        };
        (c, s)
    }
}

impl fmt::Display for Notification {
    /// e.g. `Cease/Administrative Shutdown (6/2): "maintenance"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, s) = self.describe();
        write!(f, "{c}/{s} ({}/{})", self.code, self.subcode)?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": {text:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_communication_both_ways() {
        let n = Notification::shutdown(cease::ADMIN_SHUTDOWN, "maintenance");
        let mut out = BytesMut::new();
        n.encode(&mut out).unwrap();
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 33, 3, 6, 2, 11]);
        want.extend_from_slice(b"maintenance");
        assert_eq!(&out[..], &want[..]);
        let back = Notification::decode(&out.freeze().slice(19..)).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.shutdown_communication(), Some("maintenance"));
        assert_eq!(
            back.to_string(),
            "Cease/Administrative Shutdown (6/2): \"maintenance\""
        );
    }

    #[test]
    fn long_message_truncated_on_char_boundary() {
        let text = "é".repeat(200); // 400 octets
        let n = Notification::shutdown(cease::ADMIN_RESET, &text);
        let s = n.shutdown_communication().unwrap();
        assert!(s.len() <= 255 && s.chars().all(|c| c == 'é'));
        assert_eq!(s.len(), 254);
    }

    #[test]
    fn malformed_communication_is_none() {
        let n = Notification {
            code: 6,
            subcode: 2,
            data: Bytes::from_static(&[10, b'a']),
        };
        assert_eq!(n.shutdown_communication(), None);
        let n = Notification {
            code: 6,
            subcode: 2,
            data: Bytes::from_static(&[2, 0xff, 0xfe]),
        };
        assert_eq!(n.shutdown_communication(), None);
    }

    #[test]
    fn bfd_down_is_named() {
        let n = Notification::new(code::CEASE, cease::BFD_DOWN);
        assert_eq!(n.subcode, 10);
        assert_eq!(n.describe(), ("Cease", "BFD Down"));
    }

    #[test]
    fn hard_reset_wraps_and_unwraps() {
        let inner = Notification::shutdown(cease::ADMIN_SHUTDOWN, "bye");
        let hr = inner.clone().into_hard_reset();
        assert_eq!((hr.code, hr.subcode), (6, 9));
        assert!(hr.is_hard_reset());
        assert_eq!(&hr.data[..2], &[6, 2]);
        assert_eq!(hr.shutdown_communication(), Some("bye"));
        assert_eq!(hr.unwrap_hard_reset(), inner);
        assert_eq!(inner.unwrap_hard_reset(), inner);
        let empty = Notification {
            code: 6,
            subcode: 9,
            data: Bytes::new(),
        };
        assert_eq!(empty.shutdown_communication(), None);
    }

    #[test]
    fn max_prefix_data() {
        let n = Notification::max_prefixes(super::super::Family::IPV6_UNICAST, 1000);
        assert_eq!(&n.data[..], &[0, 2, 1, 0, 0, 3, 0xe8]);
    }
}

//! DOC: codec errors: what a decoding failure means on the wire.
//!
//! A [`DecodeError`] carries the NOTIFICATION code, subcode and data that RFC 4271 §6 (as amended
//! by RFC 7606) prescribes, plus a static reason for logs. Errors in path attributes that RFC 7606
//! lets a session survive are not errors here: they are [`AttrError`]s recorded on the decoded
//! UPDATE with their [`Disposition`].

use bytes::Bytes;

use super::notification::Notification;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313).
pub mod code {
    /// Message Header Error.
    pub const HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update_subcode {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492).
pub mod open_subcode {
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_ID: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// A message that cannot be accepted, and the NOTIFICATION that answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (NOTIFICATION {code}/{subcode})")]
pub struct DecodeError {
    /// NOTIFICATION error code.
    pub code: u8,
    /// NOTIFICATION error subcode.
    pub subcode: u8,
    /// NOTIFICATION data, as the RFC prescribes for this error.
    pub data: Bytes,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

impl DecodeError {
    pub(crate) fn new(code: u8, subcode: u8, data: &[u8], reason: &'static str) -> Self {
        DecodeError {
            code,
            subcode,
            data: Bytes::copy_from_slice(data),
            reason,
        }
    }

    pub(crate) fn header(subcode: u8, data: &[u8], reason: &'static str) -> Self {
        Self::new(code::HEADER, subcode, data, reason)
    }

    pub(crate) fn open(subcode: u8, data: &[u8], reason: &'static str) -> Self {
        Self::new(code::OPEN, subcode, data, reason)
    }

    pub(crate) fn update(subcode: u8, data: &[u8], reason: &'static str) -> Self {
        Self::new(code::UPDATE, subcode, data, reason)
    }

    /// The NOTIFICATION to send for this error.
    pub fn to_notification(&self) -> Notification {
        Notification {
            code: self.code,
            subcode: self.subcode,
            data: self.data.clone(),
        }
    }
}

/// How an UPDATE with a malformed attribute is handled (RFC 7606 §2), weakest first: the
/// disposition of a whole UPDATE is the strongest of its attributes' dispositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Disposition {
    /// The attribute is dropped and the UPDATE is otherwise processed normally.
    AttributeDiscard,
    /// Every route the UPDATE announces is handled as withdrawn.
    TreatAsWithdraw,
}

/// One malformed path attribute the session survived (RFC 7606), kept for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrError {
    /// The attribute type code.
    pub type_code: u8,
    /// What was done about it.
    pub disposition: Disposition,
    /// What was wrong.
    pub reason: &'static str,
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed the largest length the session allows.
    #[error("message of {0} octets exceeds the negotiated maximum")]
    TooLong(usize),
    /// A value cannot be represented on the wire (for example a path attribute over 65535 octets).
    #[error("cannot encode: {0}")]
    Invalid(&'static str),
}

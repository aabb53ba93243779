//! DOC: the BGP-4 wire codec (RFC 4271 §4 and the extensions negotiated in OPEN).

pub mod error;
pub mod family;
pub mod header;

pub use error::{AttrError, DecodeError, Disposition, EncodeError};
pub use family::{Afi, Family, Safi};
pub use header::{frame, MessageType, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};

//! DOC: the BGP-4 wire codec (RFC 4271 §4 and the extensions negotiated in OPEN).
//!
//! Layout, one file per message or attribute family:
//! * [`header`]: the 19-octet header and [`frame`], which finds message boundaries in a stream;
//! * [`open`] and [`capability`]: OPEN, its optional parameters and capabilities, validation;
//! * [`negotiated`]: the [`Negotiated`] context derived from both OPENs that drives decode/encode;
//! * [`update`], [`attr`], [`nlri`]: UPDATE, path attributes (with RFC 7606 error handling),
//!   prefixes with and without ADD-PATH identifiers;
//! * [`notification`], [`route_refresh`]: the remaining messages;
//! * [`error`]: [`DecodeError`] (what NOTIFICATION a decoding failure calls for).
//!
//! Decoding is zero-copy where it pays: the input is a [`bytes::Bytes`] and opaque values (unknown
//! attributes, unknown capabilities, NOTIFICATION data) are slices of it. Every field is parsed
//! inside a slice bounded by its declared length, so no read can run past its field.

pub mod attr;
pub mod capability;
pub mod error;
pub mod family;
pub mod header;
pub mod message;
pub mod negotiated;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

pub use attr::{
    Aggregator, AsPath, AsSegment, Community, ExtCommunity, LargeCommunity, Origin, PathAttributes,
    RawAttribute, SegmentKind,
};
pub use capability::{AddPathMode, Capability, GracefulRestartCap};
pub use error::{AttrError, DecodeError, Disposition, EncodeError};
pub use family::{Afi, Family, Safi};
pub use header::{frame, MessageType, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
pub use message::encode_keepalive;
pub use message::Message;
pub use negotiated::Negotiated;
pub use nlri::Nlri;
pub use notification::Notification;
pub use open::Open;
pub use open::OpenCheck;
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::{
    encode_announcements, encode_withdrawals, Announced, MpReach, MpUnreach, NextHop, NextHopRef,
    Update,
};

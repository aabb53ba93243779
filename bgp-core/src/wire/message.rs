//! DOC: a whole BGP message, decoded from or encoded to one frame.

use bytes::{Bytes, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::header::{finish_message, frame, start_message, MessageType, HEADER_LEN};
use super::negotiated::Negotiated;
use super::notification::Notification;
use super::open::Open;
use super::route_refresh::RouteRefresh;
use super::update::Update;

/// Any BGP message.
///
/// Messages are transient (decoded, acted on, dropped), so the UPDATE variant stays unboxed:
/// boxing would cost an allocation per UPDATE on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes one whole message (header included), as delimited by [`frame`].
    ///
    /// The header is checked again, so any buffer is safe to pass.
    pub fn decode(msg: Bytes, ctx: &Negotiated) -> Result<Message, DecodeError> {
        let len = match frame(&msg, ctx.max_message_len())? {
            Some(len) if len == msg.len() => len,
            _ => {
                let field = msg.get(16..18).unwrap_or_default();
                return Err(DecodeError::header(
                    2,
                    field,
                    "buffer is not exactly one message",
                ));
            }
        };
        let ty = msg.get(18).copied().and_then(MessageType::from_code);
        if ty == Some(MessageType::Update) {
            // The hot path: decode in place, no re-slicing of the shared buffer.
            let body = msg.get(HEADER_LEN..len).unwrap_or_default();
            return Update::decode_in(&msg, body, ctx).map(Message::Update);
        }
        let body = msg.slice(HEADER_LEN..len);
        match ty {
            Some(MessageType::Open) => Open::decode(&body).map(Message::Open),
            Some(MessageType::Update) => Update::decode(&body, ctx).map(Message::Update),
            Some(MessageType::Notification) => Notification::decode(&body)
                .map(Message::Notification)
                .ok_or_else(|| DecodeError::header(2, &[], "NOTIFICATION too short")),
            Some(MessageType::Keepalive) => Ok(Message::Keepalive),
            Some(MessageType::RouteRefresh) => {
                RouteRefresh::decode(&body, &msg).map(Message::RouteRefresh)
            }
            None => Err(DecodeError::header(
                3,
                msg.get(18..19).unwrap_or_default(),
                "unknown message type",
            )),
        }
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, ctx: &Negotiated, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Message::Open(o) => o.encode(out),
            Message::Update(u) => u.encode(ctx, out),
            Message::Notification(n) => n.encode(out),
            Message::Keepalive => encode_keepalive(out),
            Message::RouteRefresh(r) => r.encode(out),
        }
    }
}

/// Appends a KEEPALIVE: just the header (RFC 4271 §4.4).
pub fn encode_keepalive(out: &mut BytesMut) -> Result<(), EncodeError> {
    let start = start_message(out, MessageType::Keepalive);
    finish_message(out, start)
}

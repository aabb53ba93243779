//! DOC: the BGP message header (RFC 4271 §4.1) and stream framing.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};

use super::error::DecodeError;

/// Length of the fixed header: 16 marker octets, 2 length octets, 1 type octet.
pub const HEADER_LEN: usize = 19;
/// The largest message without the extended message capability (RFC 4271 §4).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The largest message once extended messages are negotiated (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// The marker: all ones.
pub const MARKER: [u8; 16] = [0xff; 16];

/// The message types this codec knows (RFC 4271 §4.1, RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1
    Open,
    /// 2
    Update,
    /// 3
    Notification,
    /// 4
    Keepalive,
    /// 5 (RFC 2918)
    RouteRefresh,
}

impl MessageType {
    /// The type octet.
    pub fn code(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
        }
    }

    /// The type for a type octet, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }

    /// The smallest legal length of a message of this type, header included.
    fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => HEADER_LEN,
            MessageType::RouteRefresh => 23,
        }
    }
}

/// Finds the first message in `buf`.
///
/// Returns `Ok(Some(len))` when a whole message of `len` octets is at the start of `buf`,
/// `Ok(None)` when more bytes are needed, and an error as soon as the header is known to be bad —
/// a wrong marker or a length outside `19..=max_len` is never "wait for more" (RFC 4271 §6.1):
/// * marker not all ones: NOTIFICATION 1/1 (Connection Not Synchronized);
/// * length out of range, or below the minimum for the type: 1/2 (Bad Message Length), with the
///   erroneous length field as data;
/// * unknown type: 1/3 (Bad Message Type), with the type octet as data.
///
/// `max_len` is 4096, or 65535 once extended messages are negotiated.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<usize>, DecodeError> {
    let marker_seen = buf.len().min(MARKER.len());
    if buf.get(..marker_seen) != MARKER.get(..marker_seen) {
        return Err(DecodeError::header(1, &[], "marker is not all ones"));
    }
    let (Some(&hi), Some(&lo), Some(&ty)) = (buf.get(16), buf.get(17), buf.get(18)) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if !(HEADER_LEN..=max_len).contains(&len) {
        return Err(DecodeError::header(
            2,
            &[hi, lo],
            "message length out of range",
        ));
    }
    let Some(mtype) = MessageType::from_code(ty) else {
        return Err(DecodeError::header(3, &[ty], "unknown message type"));
    };
    // OPEN and KEEPALIVE are never longer than 4096 octets, even with extended messages
    // (RFC 8654 §4); KEEPALIVE is exactly the header (RFC 4271 §4.4).
    let too_long = match mtype {
        MessageType::Keepalive => len != HEADER_LEN,
        MessageType::Open => len > MAX_MESSAGE_LEN,
        _ => false,
    };
    if len < mtype.min_len() || too_long {
        return Err(DecodeError::header(
            2,
            &[hi, lo],
            "message length invalid for its type",
        ));
    }
    Ok((buf.len() >= len).then_some(len))
}

/// Writes a header with a zero length; [`finish_message`] fills the length in.
pub(crate) fn start_message(out: &mut BytesMut, mtype: MessageType) -> usize {
    let start = out.len();
    out.put_slice(&MARKER);
    out.put_u16(0);
    out.put_u8(mtype.code());
    start
}

/// Fills in the length of the message that began at `start`.
pub(crate) fn finish_message(out: &mut BytesMut, start: usize) -> Result<(), super::EncodeError> {
    let len = out.len().saturating_sub(start);
    let len16 = u16::try_from(len).map_err(|_| super::EncodeError::TooLong(len))?;
    if let Some(field) = out.get_mut(start + 16..start + 18) {
        field.copy_from_slice(&len16.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16, ty: u8) -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v
    }

    #[test]
    fn keepalive_frames() {
        assert_eq!(frame(&header(19, 4), 4096), Ok(Some(19)));
    }

    #[test]
    fn partial_header_waits() {
        assert_eq!(frame(&[0xff; 10], 4096), Ok(None));
        assert_eq!(frame(&[], 4096), Ok(None));
    }

    #[test]
    fn partial_body_waits() {
        let mut m = header(30, 2);
        m.extend_from_slice(&[0; 5]);
        assert_eq!(frame(&m, 4096), Ok(None));
    }

    #[test]
    fn bad_marker_is_immediate() {
        let e = frame(&[0xff, 0xff, 0x00], 4096).unwrap_err();
        assert_eq!((e.code, e.subcode), (1, 1));
    }

    #[test]
    fn bad_lengths() {
        for (len, ty) in [(18u16, 2u8), (4097, 2), (20, 4), (22, 2), (28, 1), (20, 3)] {
            let e = frame(&header(len, ty), 4096).unwrap_err();
            assert_eq!((e.code, e.subcode), (1, 2), "len {len} type {ty}");
            assert_eq!(&e.data[..], &len.to_be_bytes());
        }
        // Extended messages allow long UPDATEs but never long OPENs.
        assert_eq!(frame(&header(5000, 2), 65535), Ok(None));
        assert_eq!(frame(&header(5000, 1), 65535).unwrap_err().subcode, 2);
    }

    #[test]
    fn bad_type() {
        let e = frame(&header(19, 9), 4096).unwrap_err();
        assert_eq!((e.code, e.subcode, &e.data[..]), (1, 3, &[9u8][..]));
    }
}

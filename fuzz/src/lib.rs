//! The bodies of the fuzz targets, shared by the libFuzzer binaries (`fuzz_targets/`) and by the
//! corpus replay test (`tests/corpus.rs`), which runs on stable Rust in CI.

use arbitrary::{Arbitrary, Unstructured};
use bgp_core::wire::{self, Message, Negotiated};
use bytes::{Bytes, BytesMut};

pub mod bfd;
pub mod bird_config;
pub mod session;
pub use bfd::bfd;
pub use bird_config::bird_config;
pub use session::session;

/// `frame`: splitting an arbitrary stream into messages never panics, and every length it returns
/// is within the buffer and the allowed range.
pub fn frame(data: &[u8]) {
    for max in [wire::MAX_MESSAGE_LEN, wire::MAX_EXTENDED_MESSAGE_LEN] {
        let mut rest = data;
        while let Ok(Some(len)) = wire::frame(rest, max) {
            assert!((wire::HEADER_LEN..=max).contains(&len) && len <= rest.len());
            rest = &rest[len..];
        }
    }
}

/// The input's first bytes choose a negotiated context (4-octet AS, ADD-PATH families,
/// extended messages, iBGP or eBGP...), the rest is one message. The header is made valid so
/// the fuzzer spends its time in the body decoders.
fn context_and_message(data: &[u8]) -> Option<(Negotiated, Bytes)> {
    let mut u = Unstructured::new(data);
    let ctx = Negotiated::arbitrary(&mut u).ok()?;
    let ty = u.int_in_range(1u8..=5).ok()?;
    let body = u.take_rest();
    let len = wire::HEADER_LEN + body.len();
    if len > ctx.max_message_len() {
        return None;
    }
    let mut msg = BytesMut::with_capacity(len);
    msg.extend_from_slice(&[0xff; 16]);
    msg.extend_from_slice(&(len as u16).to_be_bytes());
    msg.extend_from_slice(&[ty]);
    msg.extend_from_slice(body);
    Some((ctx, msg.freeze()))
}

/// `message`: decoding any message under any context never panics; an error always names a
/// NOTIFICATION code of RFC 4271 (1..=7 with RFC 7313).
pub fn message(data: &[u8]) {
    let Some((ctx, msg)) = context_and_message(data) else {
        return;
    };
    if let Err(e) = Message::decode(msg, &ctx) {
        assert!((1..=7).contains(&e.code), "{e:?}");
    }
}

/// `roundtrip`: whatever decodes re-encodes, and decode → encode is stable: decoding the
/// encoding gives a message that encodes to the same bytes again. A message decoded without
/// RFC 7606 errors comes back equal.
pub fn roundtrip(data: &[u8]) {
    let Some((ctx, msg)) = context_and_message(data) else {
        return;
    };
    let Ok(m) = Message::decode(msg, &ctx) else {
        return;
    };
    // What we send is decoded by the peer with the mirrored context; to re-read our own bytes
    // we encode with the mirror of the context we decoded with.
    let tx = ctx.mirror();
    let mut first = BytesMut::new();
    if m.encode(&tx, &mut first).is_err() {
        return; // e.g. grew beyond the size limit through AS4_PATH on a 2-octet session
    }
    let m2 = Message::decode(first.clone().freeze(), &ctx).expect("our own encoding decodes");
    let mut second = BytesMut::new();
    m2.encode(&tx, &mut second).expect("re-encoding succeeds");
    assert_eq!(
        first, second,
        "encode(decode(encode(m))) differs from encode(m)"
    );
    let clean = match &m {
        Message::Update(u) => u.errors.is_empty(),
        _ => true,
    };
    if clean {
        assert_eq!(m, m2);
    }
}

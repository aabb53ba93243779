//! The bodies of the fuzz targets, shared by the libFuzzer binaries (`fuzz_targets/`) and by the
//! corpus replay test (`tests/corpus.rs`), which runs on stable Rust in CI.

use bgp_core::wire;

pub mod session;
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

//! DOC: the `json` answers: the status snapshots serialised with serde as `status.rs` defines
//! them, each wrapped in a one-key envelope object. Documented in `docs/cli.md`.
//!
//! On the wire a JSON answer is one compact JSON document (no newline inside) cut into `1200`
//! continuation lines of at most 511 bytes; the client concatenates the line texts. The reply
//! ends with `0000 ` like any BIRD table reply; an error ends it with the usual 8xxx/9xxx line
//! instead (the client turns it into `{"error":{"code":N,"message":"..."}}`).

use serde::Serialize;

/// Code of the lines that carry a JSON document (bgpd extension).
pub const JSON_CODE: u16 = 1200;

/// Serialises a value compactly. Serialisation of the status types cannot fail (no maps with
/// non-string keys); should it, an error document is produced instead of a panic.
pub fn to_string<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| {
        serde_json::json!({ "error": { "code": 8000, "message": e.to_string() } }).to_string()
    })
}

/// Serialises a value through a `serde_json::Value`, so object keys come sorted: the form of
/// the documents built whole with `serde_json::json!`, kept by answers written piece by piece
/// (`show fib`'s rows).
pub fn to_sorted_string<T: Serialize + ?Sized>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(v) => v.to_string(),
        Err(e) => {
            serde_json::json!({ "error": { "code": 8000, "message": e.to_string() } }).to_string()
        }
    }
}

/// `{"KEY":VALUE}`.
pub fn envelope<T: Serialize + ?Sized>(key: &str, v: &T) -> String {
    format!("{{{}:{}}}", to_string(key), to_string(v))
}

/// The document for an error reply line (`code`, `message`), as the CLI prints it.
pub fn error(code: u16, message: &str) -> String {
    envelope(
        "error",
        &serde_json::json!({ "code": code, "message": message }),
    )
}

//! Replays every file of `fuzz/corpus/<target>/` through its target, so CI exercises what the
//! fuzzers found on stable Rust without running libFuzzer.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
}

#[test]
fn frame_corpus() {
    replay("frame", bgp_fuzz::frame);
}

#[test]
fn message_corpus() {
    replay("message", bgp_fuzz::message);
}

#[test]
fn roundtrip_corpus() {
    replay("roundtrip", bgp_fuzz::roundtrip);
}

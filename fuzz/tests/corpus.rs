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

#[test]
fn bfd_corpus() {
    replay("bfd", bgp_fuzz::bfd);
}

/// Deterministic pseudo-random datagrams on top of the corpus (stable Rust, no libFuzzer).
#[test]
fn bfd_random_datagrams() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = (next() % 120) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly well-formed headers, so the state machine is reached.
        for c in data.iter_mut().skip(1).step_by(24) {
            *c = 0x20 | (*c & 0x1f);
        }
        bgp_fuzz::bfd(&data);
    }
}

#[test]
fn session_corpus() {
    replay("session", bgp_fuzz::session);
}

/// A few thousand deterministic pseudo-random scripts on top of the corpus, so the session
/// target is exercised on stable Rust even without libFuzzer.
#[test]
fn session_random_scripts() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = (next() % 600) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        bgp_fuzz::session(&data);
    }
}

#[test]
fn bird_config_corpus() {
    replay("bird_config", bgp_fuzz::bird_config);
}

/// Every fixture tree, then each with bytes cut, doubled or swapped at many places: the
/// front-end answers every variant without panicking.
#[test]
fn bird_config_mutations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/bird_config");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let step = (data.len() / 300).max(1);
        for i in (0..data.len()).step_by(step) {
            let mut cut = data.clone();
            cut.truncate(i);
            bgp_fuzz::bird_config(&cut);
            let mut d = data.clone();
            d.insert(i, data[i]);
            bgp_fuzz::bird_config(&d);
            let mut s = data.clone();
            s[i] = b"{}();\"'[=]/*#\0"[i % 14];
            bgp_fuzz::bird_config(&s);
        }
    }
}

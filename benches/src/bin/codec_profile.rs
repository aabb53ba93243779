//! Runs one codec operation in a loop, for profilers (`valgrind --tool=callgrind`, perf), and
//! prints the thread CPU time per operation (CPU time, not wall time, so a loaded machine that
//! deschedules the thread does not inflate it; the median of 15 rounds is printed):
//! `codec_profile decode1|decode500|decode6|decodeopen|encode1|encode500|encode6|encodeopen [iterations]`.

use std::hint::black_box;

use bgp_core::wire::Message;
use bgpd_benches::clock::thread_cpu_ns;
use bgpd_benches::{ebgp_ctx, ipv4_update, ipv6_update};
use bytes::{Bytes, BytesMut};

fn run(what: &str, msg: &Bytes, n: usize) {
    let ctx = ebgp_ctx();
    if what.starts_with("encode") {
        let m = Message::decode(msg.clone(), &ctx).unwrap();
        let mut out = BytesMut::with_capacity(4096);
        for _ in 0..n {
            out.clear();
            black_box(&m).encode(&ctx, &mut out).unwrap();
        }
    } else {
        for _ in 0..n {
            black_box(Message::decode(black_box(msg.clone()), &ctx).unwrap());
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "decode1".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let msg = match what.as_str() {
        "decode1" | "encode1" => ipv4_update(1),
        "decode6" | "encode6" => ipv6_update(100),
        "decodeopen" | "encodeopen" => {
            let mut b = BytesMut::new();
            bgpd_benches::typical_open().encode(&mut b).unwrap();
            b.freeze()
        }
        _ => ipv4_update(500),
    };
    if n == 0 {
        return;
    }
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let t0 = thread_cpu_ns();
            run(&what, &msg, n);
            (thread_cpu_ns() - t0) as f64 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!(
        "{what}: {:.1} ns CPU per operation (median of 15 rounds of {n})",
        rounds[7]
    );
}

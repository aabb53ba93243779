//! Runs one codec operation in a loop, for profilers (`valgrind --tool=callgrind`, perf):
//! `codec_profile decode1|decode500|decode6|decodeopen|encode1|encode500|encode6|encodeopen [iterations]`.

use std::hint::black_box;

use bgp_core::wire::Message;
use bgpd_benches::{ebgp_ctx, ipv4_update, ipv6_update};
use bytes::BytesMut;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "decode1".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let ctx = ebgp_ctx();
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
    if what.starts_with("encode") {
        let m = Message::decode(msg, &ctx).unwrap();
        let mut out = BytesMut::with_capacity(4096);
        for _ in 0..n {
            out.clear();
            black_box(&m).encode(&ctx, &mut out).unwrap();
        }
        return;
    }
    if what == "never" {
        let Message::Update(u) = Message::decode(msg, &ctx).unwrap() else {
            return;
        };
        let mut out = BytesMut::with_capacity(4096);
        for _ in 0..n {
            out.clear();
            black_box(&u).encode(&ctx, &mut out).unwrap();
        }
        return;
    }
    for _ in 0..n {
        black_box(Message::decode(black_box(msg.clone()), &ctx).unwrap());
    }
}

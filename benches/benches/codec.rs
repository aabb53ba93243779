//! Codec micro-benchmarks: decode and encode of typical messages (see benches/README.md).

use std::hint::black_box;

use bgp_core::wire::{frame, Message, Update};
use bgpd_benches::{ebgp_ctx, ipv4_update, ipv6_update, typical_open};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn decode(c: &mut Criterion) {
    let ctx = ebgp_ctx();
    let mut g = c.benchmark_group("decode");
    for (name, msg, prefixes) in [
        ("update_ipv4_1", ipv4_update(1), 1u64),
        ("update_ipv4_500", ipv4_update(500), 500),
        ("update_ipv6_mp_100_communities", ipv6_update(100), 100),
    ] {
        g.throughput(Throughput::Elements(prefixes));
        g.bench_function(name, |b| {
            b.iter(|| {
                let m = Message::decode(black_box(msg.clone()), &ctx).unwrap();
                black_box(m)
            })
        });
    }
    let mut open = BytesMut::new();
    typical_open().encode(&mut open).unwrap();
    let open = open.freeze();
    g.throughput(Throughput::Elements(1));
    g.bench_function("open", |b| {
        b.iter(|| black_box(Message::decode(black_box(open.clone()), &ctx).unwrap()))
    });
    g.bench_function("frame", |b| b.iter(|| frame(black_box(&open), 4096)));
    g.finish();
}

fn encode(c: &mut Criterion) {
    let ctx = ebgp_ctx();
    let mut g = c.benchmark_group("encode");
    for (name, msg, prefixes) in [
        ("update_ipv4_1", ipv4_update(1), 1u64),
        ("update_ipv4_500", ipv4_update(500), 500),
        ("update_ipv6_mp_100_communities", ipv6_update(100), 100),
    ] {
        let Message::Update(u) = Message::decode(msg, &ctx).unwrap() else {
            unreachable!()
        };
        let u: Update = u;
        let mut out = BytesMut::with_capacity(4096);
        g.throughput(Throughput::Elements(prefixes));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(&u).encode(&ctx, &mut out).unwrap();
            })
        });
    }
    let open = typical_open();
    let mut out = BytesMut::with_capacity(4096);
    g.throughput(Throughput::Elements(1));
    g.bench_function("open", |b| {
        b.iter(|| {
            out.clear();
            black_box(&open).encode(&mut out).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);

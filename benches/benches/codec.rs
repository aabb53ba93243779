//! Codec micro-benchmarks (filled in with the codec).
use criterion::{criterion_group, criterion_main, Criterion};

fn frame(c: &mut Criterion) {
    let mut ka = vec![0xffu8; 16];
    ka.extend_from_slice(&[0, 19, 4]);
    c.bench_function("frame/keepalive", |b| {
        b.iter(|| bgp_core::wire::frame(std::hint::black_box(&ka), 4096))
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);

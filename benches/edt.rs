//! Euclidean distance transform: the two workloads of issue 5, to compare with
//! `scipy.ndimage.distance_transform_edt` on the same machine.
//!
//! - `ellipse_512x512_both_sides`: a 512 × 512 mask holding a filled ellipse (semi-axes
//!   0.35·512 and 0.22·512, centred), transformed twice (the mask and its inverse), as an SDF
//!   needs both sides;
//! - `volume_128x128x128_1pct`: a 128³ volume with 1 % random foreground (seeded).
//!
//! Run with `cargo bench --bench edt`; throughput is in mask elements per second.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medgen_sdf::{EdtOptions, distance_transform_edt};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A row-major `n × n` mask, `true` inside the centred ellipse with semi-axes `0.35·n`
/// (along x) and `0.22·n` (along y).
fn ellipse_mask(n: usize) -> Vec<bool> {
    let centre = n as f64 / 2.0;
    let (a, b) = (0.35 * n as f64, 0.22 * n as f64);
    (0..n * n)
        .map(|i| {
            let y = (i / n) as f64 - centre;
            let x = (i % n) as f64 - centre;
            (x / a).powi(2) + (y / b).powi(2) <= 1.0
        })
        .collect()
}

fn bench_edt(c: &mut Criterion) {
    let options = EdtOptions::new();
    let mut group = c.benchmark_group("edt");

    let n = 512;
    let mask = ellipse_mask(n);
    let inverted: Vec<bool> = mask.iter().map(|m| !m).collect();
    group.throughput(Throughput::Elements(2 * (n * n) as u64));
    group.bench_function("ellipse_512x512_both_sides", |bench| {
        bench.iter(|| {
            let inside = distance_transform_edt(black_box(&mask), &[n, n], &options).unwrap();
            let outside = distance_transform_edt(black_box(&inverted), &[n, n], &options).unwrap();
            black_box((inside, outside))
        });
    });

    let side = 128;
    let mut rng = StdRng::seed_from_u64(5);
    let volume: Vec<bool> = (0..side * side * side).map(|_| rng.random_bool(0.01)).collect();
    group.throughput(Throughput::Elements(volume.len() as u64));
    group.bench_function("volume_128x128x128_1pct", |bench| {
        bench.iter(|| {
            black_box(
                distance_transform_edt(black_box(&volume), &[side, side, side], &options).unwrap(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, bench_edt);
criterion_main!(benches);

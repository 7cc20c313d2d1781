//! Metrics: the workloads of issue 5, to compare with pytorch-fid/torchmetrics and
//! scikit-image on the same machine.
//!
//! - `frechet_d512`, `frechet_d2048`: the Fréchet distance between two Gaussians given by
//!   their means and covariances (covariances of seeded random features, `n = d + 64`
//!   samples, so both are full rank), the step pytorch-fid runs through `scipy.linalg.sqrtm`;
//!   `frechet_d512_previous_route`, `frechet_d2048_previous_route`: the same through the
//!   previous, copy-heavier route, for the old/new ratio in one run;
//! - `ssim_gaussian_512x512`: SSIM of two 512 × 512 images with the Gaussian window
//!   (σ = 1.5, population covariance), as `structural_similarity(gaussian_weights=True)`.
//!
//! Run with `cargo bench --bench metrics`; throughput is in covariance entries or pixels per
//! second.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medgen_metrics::frechet::frechet_trace_sqrt_baseline;
use medgen_metrics::{
    FeatureMatrix, FrechetOptions, GaussianStats, SsimConfig, frechet_distance, ssim,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Gaussian statistics of `n` seeded uniform feature vectors of dimension `d`, with a
/// per-dimension scale so the covariance is not close to a multiple of the identity.
fn stats(d: usize, n: usize, seed: u64) -> GaussianStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let values: Vec<f64> =
        (0..n * d).map(|k| rng.random::<f64>() * (1.0 + (k % d) as f64 / d as f64)).collect();
    GaussianStats::from_features(FeatureMatrix::new(&values, n, d, "features").unwrap()).unwrap()
}

fn bench_frechet(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics");
    group.sample_size(10);
    for d in [512, 2048] {
        let (a, b) = (stats(d, d + 64, 1), stats(d, d + 64, 2));
        let options = FrechetOptions::new();
        group.throughput(Throughput::Elements((d * d) as u64));
        group.bench_function(format!("frechet_d{d}"), |bench| {
            bench.iter(|| {
                black_box(frechet_distance(black_box(&a), black_box(&b), &options).unwrap())
            });
        });
        // The previous route (three covariance copies, the Cholesky factor copied out),
        // measured in the same run so that the speed-up survives a noisy machine.
        group.bench_function(format!("frechet_d{d}_previous_route"), |bench| {
            bench.iter(|| {
                black_box(frechet_trace_sqrt_baseline(black_box(&a), black_box(&b)).unwrap())
            });
        });
    }
    group.finish();
}

fn bench_ssim(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics");
    let n = 512;
    let mut rng = StdRng::seed_from_u64(3);
    let a: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>()).collect();
    let b: Vec<f64> = a.iter().map(|v| (0.8 * v + 0.2 * rng.random::<f64>()).min(1.0)).collect();
    let config = SsimConfig::gaussian(1.0);
    group.throughput(Throughput::Elements((n * n) as u64));
    group.bench_function("ssim_gaussian_512x512", |bench| {
        bench.iter(|| black_box(ssim(black_box(&a), black_box(&b), &[n, n], &config).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, bench_frechet, bench_ssim);
criterion_main!(benches);

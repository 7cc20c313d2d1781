//! Reconstruction operators (medgen-recon), the workloads `benches/peers/recon.py` times in
//! numpy and scikit-image:
//!
//! - `fft2c_64x64_b4`: the centred orthonormal 2D FFT of 4 complex 64 × 64 images on the
//!   device (dense DFT matrices), and `fft2c_64x64_b4_host` with rustfft;
//! - `radon_64_60views_b4` / `backproject_64_60views_b4`: the parallel-beam projector and its
//!   exact adjoint for 4 images of 64 × 64 at 60 views;
//! - `fbp_64_60views_b4`: Ram-Lak filtered back-projection of those sinograms.
//!
//! Run with `cargo bench --bench recon`; flex backend on the CPU.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use burn::tensor::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use medgen_core::noise::gaussian_noise;
use medgen_core::seeded_rng;
use medgen_recon::ct::evenly_spaced_angles;
use medgen_recon::fourier::host::fft2c;
use medgen_recon::{CenteredFft, FbpFilter, MeasurementOperator, ParallelBeamProjector};
use rustfft::num_complex::Complex;

fn bench_fft(c: &mut Criterion) {
    let device = Device::default();
    let mut group = c.benchmark_group("recon");
    group.sample_size(20);
    let fft = CenteredFft::new(&[64, 64], &device).unwrap();
    let x: Tensor<4> = gaussian_noise([4, 2, 64, 64], &mut seeded_rng(0), &device).unwrap();
    group.bench_function("fft2c_64x64_b4", |bench| {
        bench.iter(|| {
            let k = fft.forward(black_box(x.clone())).unwrap();
            black_box(k.into_data())
        });
    });
    let image: Vec<Complex<f64>> =
        (0..64 * 64).map(|i| Complex::new((i % 7) as f64, (i % 5) as f64)).collect();
    group.bench_function("fft2c_64x64_b4_host", |bench| {
        bench.iter(|| {
            for _ in 0..4 {
                black_box(fft2c(black_box(&image), [64, 64], false).unwrap());
            }
        });
    });
    group.finish();
}

fn bench_ct(c: &mut Criterion) {
    let device = Device::default();
    let mut group = c.benchmark_group("recon");
    group.sample_size(20);
    let angles = evenly_spaced_angles(60);
    let op = ParallelBeamProjector::new(64, &angles, FbpFilter::Ramp, &device).unwrap();
    let x: Tensor<4> = gaussian_noise([4, 1, 64, 64], &mut seeded_rng(1), &device).unwrap();
    let y = op.forward(x.clone()).unwrap();
    group.bench_function("radon_64_60views_b4", |bench| {
        bench.iter(|| black_box(op.forward(black_box(x.clone())).unwrap().into_data()));
    });
    group.bench_function("backproject_64_60views_b4", |bench| {
        bench.iter(|| black_box(op.adjoint(black_box(y.clone())).unwrap().into_data()));
    });
    group.bench_function("fbp_64_60views_b4", |bench| {
        bench.iter(|| black_box(op.baseline(black_box(y.clone())).unwrap().into_data()));
    });
    group.finish();
}

criterion_group!(benches, bench_fft, bench_ct);
criterion_main!(benches);

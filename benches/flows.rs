//! Flow benchmarks on Burn's `flex` CPU backend (`Device::flex()`):
//!
//! - `flow_matching_sampling/euler_4_steps_8x1x32x32`: sampling 8 images from Gaussian noise
//!   by integrating `dx/dt = v_θ(x, t)` with 4 Euler steps (NFE 4) of the benchmark U-Net
//!   (`UNetConfig::benchmark()`); throughput in images per second.
//! - `ot_coupling/<coupling>_64x1x32x32`: pairing a batch of 64 noise images with 64 data
//!   images by exact minibatch optimal transport (host cost matrix and assignment) and by
//!   Sinkhorn (ε = 0.5 of the mean cost, 200 iterations), the per-step overhead of OT-CFM and
//!   SB-CFM over I-CFM.
//! - `coupling_flow_log_prob/realnvp_8_layers_1024x16`: the exact `log p(x)` of a RealNVP
//!   flow (8 affine couplings with ActNorm, hidden width 64) on a batch of 1024 vectors;
//!   throughput in vectors per second.
//!
//! ```sh
//! cargo bench --bench flows
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medgen::burn::tensor::{Device, Tensor};
use medgen::core::noise::gaussian_noise;
use medgen::core::ode::OdeSolver;
use medgen::core::{Condition, seeded_rng};
use medgen::flow::discrete::RealNvpConfig;
use medgen::flow::matching::{CostMatrix, Coupling, SinkhornConfig, integrate_flow};
use medgen::nn::UNetConfig;

/// Reads one element so that lazy backends finish the work.
fn first<const D: usize>(x: Tensor<D>) -> f32 {
    x.flatten::<1>(0, D - 1).slice(0..1).into_scalar::<f32>()
}

fn flow_matching_sampling(c: &mut Criterion) {
    let device = Device::flex();
    let unet = UNetConfig::benchmark().init(&device).expect("benchmark U-Net");
    let x0 = gaussian_noise([8, 1, 32, 32], &mut seeded_rng(0), &device).expect("noise");
    let solver = OdeSolver::Euler { steps: 4 };
    let mut group = c.benchmark_group("flow_matching_sampling");
    group.throughput(Throughput::Elements(8));
    group.bench_function("euler_4_steps_8x1x32x32", |b| {
        b.iter(|| {
            let out = integrate_flow(&unet, x0.clone(), &Condition::none(), &solver, (0.0, 1.0))
                .expect("sampling");
            black_box(first(out.sample))
        });
    });
    group.finish();
}

fn ot_coupling(c: &mut Criterion) {
    let device = Device::flex();
    let mut rng = seeded_rng(1);
    let x0 = gaussian_noise([64, 1, 32, 32], &mut rng, &device).expect("noise");
    let x1 = gaussian_noise([64, 1, 32, 32], &mut rng, &device).expect("data");
    let costs = CostMatrix::squared_euclidean(&x0, &x1).expect("costs");
    let mean_cost = costs.values().iter().sum::<f64>() / costs.values().len() as f64;
    let sinkhorn = Coupling::Sinkhorn(
        SinkhornConfig::new(0.5 * mean_cost).with_max_iterations(200).with_tolerance(0.0),
    );
    let mut group = c.benchmark_group("ot_coupling");
    group.throughput(Throughput::Elements(64));
    for (name, coupling) in [("exact", Coupling::ExactOptimalTransport), ("sinkhorn", sinkhorn)] {
        group.bench_function(format!("{name}_64x1x32x32"), |b| {
            b.iter(|| {
                let pairs = coupling.pair_indices(&x0, &x1, &mut rng).expect("coupling");
                black_box(pairs.target[0])
            });
        });
    }
    group.finish();
}

fn coupling_flow_log_prob(c: &mut Criterion) {
    let device = Device::flex();
    let flow = RealNvpConfig::new(16, 8, 64).init(&device).expect("RealNVP");
    let x = gaussian_noise([1024, 16], &mut seeded_rng(2), &device).expect("data");
    let mut group = c.benchmark_group("coupling_flow_log_prob");
    group.throughput(Throughput::Elements(1024));
    group.bench_function("realnvp_8_layers_1024x16", |b| {
        b.iter(|| black_box(first(flow.log_prob(x.clone()).expect("log_prob"))));
    });
    group.finish();
}

criterion_group! {
    name = flows;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = flow_matching_sampling, ot_coupling, coupling_flow_log_prob
}

criterion_main!(flows);

//! Diffusion benchmarks on Burn's `flex` CPU backend (`Device::flex()`):
//!
//! - `scheduler_step/<sampler>/<shape>`: the scheduler-only cost of one step of DDPM, DDIM,
//!   Euler, Heun and DPM-Solver++ 2M (the "model" is a precomputed output), on 16×1×32×32
//!   and 1×4×64×64. One iteration runs every step of a 10-step schedule; the reported
//!   throughput is steps per second.
//! - `ddim_sampling/10_steps_8x1x32x32`: a full 10-step DDIM sampling run of 8 images with
//!   `UNetConfig::benchmark()`.
//! - `unet/*`: one AdamW training step (batch 16, 1×32×32) of the benchmark U-Net through
//!   medgen's `Trainer` and `DenoisingLoss`, and, to see where its time goes, a forward pass
//!   of the same batch without autodiff and a forward pass of 64 images.
//!
//! ```sh
//! cargo bench --bench samplers
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Device, Tensor};
use medgen::core::noise::gaussian_noise;
use medgen::core::{Condition, TimeConditionedNetwork, seeded_rng};
use medgen::diffusion::{
    DdimSchedulerConfig, DenoisingLossConfig, GuidanceConfig, ScheduleConfig, Scheduler,
    SchedulerConfig, sample,
};
use medgen::nn::{UNet, UNetConfig};
use medgen::train::{Trainer, TrainerConfig, TrainingObjective, WarmupCosineConfig};

/// Sampler steps per scheduler-only iteration.
const STEPS: usize = 10;

/// Sets [`STEPS`] steps (restarting the multistep schedulers' memory), runs every step of
/// `scheduler` on `sample` with the fixed model output `output`, and reads one value back so
/// that the work is done.
fn run_schedule(scheduler: &mut dyn Scheduler<4>, output: &Tensor<4>, sample: &Tensor<4>) -> f32 {
    scheduler.set_timesteps(STEPS).expect("scheduler steps");
    let mut rng = seeded_rng(0);
    let timesteps = scheduler.timesteps();
    let mut x = sample.clone();
    for t in timesteps {
        x = scheduler.step(output.clone(), t, x, &mut rng).expect("scheduler step").prev_sample;
    }
    x.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>()
}

fn bench_one(c: &mut Criterion, name: &str, shape: [usize; 4], device: &Device) {
    let config = SchedulerConfig::from_name(name).expect("scheduler name");
    let mut scheduler = config.build::<4>(STEPS).expect("scheduler");
    let evaluations = scheduler.timesteps().len() as u64;
    let mut rng = seeded_rng(1);
    let sample = gaussian_noise(shape, &mut rng, device).expect("noise");
    let output = gaussian_noise(shape, &mut rng, device).expect("noise");
    let label = format!("{}x{}x{}x{}", shape[0], shape[1], shape[2], shape[3]);
    let mut group = c.benchmark_group("scheduler_step");
    group.throughput(Throughput::Elements(evaluations));
    group.bench_function(BenchmarkId::new(name, label), |b| {
        b.iter(|| black_box(run_schedule(scheduler.as_mut(), &output, &sample)));
    });
    group.finish();
}

fn scheduler_steps(c: &mut Criterion) {
    let device = Device::flex();
    for shape in [[16, 1, 32, 32], [1, 4, 64, 64]] {
        for name in [
            "ddpm",
            "ddim",
            "euler",
            "heun",
            "k-dpm++2m",
            "dpm++2m",
            "dpm++3m",
            "dpm++2m-sde",
            "euler-ancestral",
            "pndm",
            "rflow",
        ] {
            bench_one(c, name, shape, &device);
        }
    }
}

fn benchmark_unet(device: &Device) -> UNet {
    UNetConfig::benchmark().init(device).expect("benchmark U-Net")
}

fn ddim_sampling(c: &mut Criterion) {
    let device = Device::flex();
    let unet = benchmark_unet(&device);
    let mut scheduler = DdimSchedulerConfig::new().init().expect("ddim");
    scheduler.set_timesteps(10).expect("set_timesteps");
    let x_t = gaussian_noise([8, 1, 32, 32], &mut seeded_rng(2), &device).expect("noise");
    let mut group = c.benchmark_group("ddim_sampling");
    group.throughput(Throughput::Elements(8));
    group.bench_function("10_steps_8x1x32x32", |b| {
        b.iter(|| {
            let out = sample(
                &unet,
                &mut scheduler,
                x_t.clone(),
                &Condition::none(),
                &GuidanceConfig::new(),
                &mut seeded_rng(3),
            )
            .expect("sampling");
            black_box(out.sample.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>())
        });
    });
    group.finish();
}

fn unet_training(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("unet");

    // Forward passes without autodiff: 16 images (the training batch) and 64 images.
    let unet = benchmark_unet(&device);
    for n in [16usize, 64] {
        let x = gaussian_noise([n, 1, 32, 32], &mut seeded_rng(4), &device).expect("noise");
        let t = Tensor::<1>::full([n], 500.0, &device);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("forward_{n}x1x32x32"), |b| {
            b.iter(|| {
                let y = unet.evaluate(x.clone(), t.clone(), &Condition::none()).expect("forward");
                black_box(y.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>())
            });
        });
    }

    // One AdamW step: denoising loss, backward, optimiser update (no clipping, no EMA).
    let train_device = device.clone().autodiff();
    let loss = DenoisingLossConfig::new()
        .init(ScheduleConfig::new().init().expect("schedule"))
        .expect("loss");
    let config = TrainerConfig::new(WarmupCosineConfig::new(1e-4, usize::MAX / 2));
    let mut trainer = Trainer::new(
        &config,
        benchmark_unet(&train_device),
        AdamWConfig::new().init(),
        seeded_rng(5),
        &(),
    )
    .expect("trainer");
    let x0 = gaussian_noise([16, 1, 32, 32], &mut seeded_rng(6), &train_device).expect("data");
    group.throughput(Throughput::Elements(16));
    group.bench_function("adamw_step_16x1x32x32", |b| {
        b.iter(|| {
            let report =
                loss.train_step(&mut trainer, &x0, &Condition::none()).expect("training step");
            black_box(report.loss)
        });
    });
    group.finish();
}

criterion_group! {
    name = schedulers;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = scheduler_steps
}

criterion_group! {
    name = networks;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    targets = ddim_sampling, unet_training
}

criterion_main!(schedulers, networks);

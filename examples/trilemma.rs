//! # The generative learning trilemma, measured: quality, speed and likelihood side by side
//!
//! No generative family is at once good at sample quality, fast at sampling and able to give
//! likelihoods (Xiao et al., 2022). This example puts numbers on it: five families are
//! trained on the same brain phantoms with the same budget (`--steps` optimiser steps of
//! `--batch` images each), then measured on the same held-out images.
//!
//! 1. generate 512 training and 128 held-out phantoms (32x32, in [-1, 1]; or load `--data`)
//!    and quantise them to 8 bits, so that every likelihood is in bits/dim of the same
//!    discrete data (the families with a continuous density see and are scored on
//!    uniformly dequantised images);
//! 2. train the five families:
//!    - a DDPM (ε-prediction U-Net, the shared [`DiffusionRecipe`]),
//!    - flow matching (OT-CFM, the same U-Net as a velocity field),
//!    - Glow (a multi-scale normalizing flow, maximum likelihood),
//!    - a VAE (convolutional, Gaussian decoder σ = 0.1, ELBO),
//!    - a DCGAN (hinge loss, spectrally normalised discriminator, EMA generator);
//! 3. measure each one:
//!    - quality: Fréchet distance and precision/recall/density/coverage of `--samples`
//!      samples against the held-out images in one fixed feature space (8x8 average-pooled
//!      pixels), next to a real-vs-real baseline (training images against held-out ones);
//!    - speed: network evaluations per batch (NFE) and images per second, sampling the whole
//!      batch at once;
//!    - likelihood in bits/dim on held-out images where tractable: exact for Glow, an
//!      unbiased (Hutchinson) estimate of the exact flow-matching likelihood through the
//!      instantaneous change of variables, the ELBO for the VAE, the variational bound for
//!      the DDPM (estimated from a subset of its timesteps), none for the GAN;
//! 4. print the table and write `trilemma.md`, `trilemma.png` (one panel per axis) and
//!    `samples.png` (row 1: held-out images, then one row per family) into `--out`.
//!
//! ```sh
//! cargo run --release --example trilemma -- --out out/trilemma    # about 13 minutes on 2 cores
//! # your own images (square PNGs of a power-of-two size >= 8; the last fifth is held out):
//! cargo run --release --example trilemma -- --data DIR
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::apps::features::PooledFeatures;
use medgen::apps::recipe::DiffusionRecipe;
use medgen::apps::trilemma::{Likelihood, TrilemmaEntry, TrilemmaReport, measure_sampler};
use medgen::burn::module::Module;
use medgen::burn::optim::{AdamConfig, AdamWConfig};
use medgen::burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use medgen::core::ode::OdeSolver;
use medgen::core::{
    Condition, DensityKind, DeviceChoice, LogDensity, Sample, SeededRng, TimeConditionedNetwork,
    init_seeded, seeded_rng,
};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::diffusion::{DiffusionPipeline, SchedulerConfig, variational_bound};
use medgen::flow::continuous::{ContinuousFlowConfig, DivergenceMethod};
use medgen::flow::matching::{FlowMatchingLossConfig, FlowMatchingModel, flow_log_likelihood};
use medgen::flow::{FlowError, Glow, GlowConfig};
use medgen::gan::{
    DcganDiscriminatorConfig, DcganGeneratorConfig, GanBatch, GanLoss, GanSampler, GanTrainer,
    GanTrainerConfig,
};
use medgen::metrics::{SampleQuality, extract_features};
use medgen::nn::UNet;
use medgen::train::viz::GridBuilder;
use medgen::train::{
    EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
};
use medgen::vae::{BackboneConfig, Vae, VaeConfig, VaeError, VaeLossConfig};
use rand::RngExt;

/// Five generative families trained alike, measured on quality, speed and likelihood.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/trilemma")]
    out: PathBuf,
    /// A folder of your own PNG images (default: phantoms).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Optimiser steps of every family (generator steps for the GAN).
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// Mini-batch size of every family.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Samples drawn (in one batch) from each family to measure quality and speed.
    #[arg(long, default_value_t = 128)]
    samples: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Phantom size, training and held-out phantoms.
const SIZE: usize = 32;
const TRAIN: usize = 512;
const HELD_OUT: usize = 128;
/// The fixed feature space: images average-pooled to an 8 x 8 grid.
const FEATURE_GRID: usize = 8;
/// Neighbours of the PRDC balls (`--samples` must exceed it).
const PRDC_NEIGHBOURS: usize = 5;
/// Held-out images whose likelihood is evaluated (the same ones for every family).
const LIKELIHOOD_IMAGES: usize = 32;
/// Timesteps of the DDPM's variational bound evaluated (besides the decoder term).
const BOUND_TIMESTEPS: usize = 32;
/// Steps of the DDPM's ancestral sampler.
const DDPM_STEPS: usize = 100;
/// The flow-matching sampler and the solver of its likelihood.
const FM_SAMPLER: OdeSolver = OdeSolver::Midpoint { steps: 10 };
const FM_LIKELIHOOD_SOLVER: OdeSolver = OdeSolver::Rk4 { steps: 8 };
/// The U-Net's sinusoidal time features are laid out for diffusion timesteps `0..1000`; flow
/// time `t ∈ [0, 1]` is shown to it as `1000 t`.
const TIME_SCALE: f64 = 1000.0;
/// Latent width of the GAN generator.
const LATENT: usize = 64;
/// 8-bit data: a dequantised image `y = (x₈ + u) / 128 − 1` lives in bins of width
/// `2/256`, so `P(x₈) ≥ E_u p(y) · (2/256)^D` and `bits/dim = −log₂ p(y) / D + log₂ 128`.
const BIN_BITS: f64 = 7.0;

/// The U-Net as a velocity field of flow time `t ∈ [0, 1]`.
#[derive(Module, Debug)]
struct VelocityUNet {
    unet: UNet,
}

impl TimeConditionedNetwork<4> for VelocityUNet {
    fn evaluate(
        &self,
        x_t: Tensor<4>,
        t: Tensor<1>,
        condition: &Condition<4>,
    ) -> medgen::core::Result<Tensor<4>> {
        self.unet.evaluate(x_t, t.mul_scalar(TIME_SCALE), condition)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let (steps, batch, samples, seed) = (args.steps, args.batch, args.samples, args.seed);
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    if steps == 0 || batch == 0 || samples <= PRDC_NEIGHBOURS {
        return Err(format!(
            "--steps and --batch must be positive, --samples above {PRDC_NEIGHBOURS}; see --help"
        )
        .into());
    }
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();

    // 1. The data: training and held-out images in [-1, 1], quantised to 8 bits.
    let (train, held_out) = match &args.data {
        Some(dir) => {
            let all = load_png_folder(dir, &PngFolderConfig::new())?
                .dataset
                .images_tensor::<4>(&device)?;
            let n = all.dims()[0];
            let held = (n / 5).max(PRDC_NEIGHBOURS + 1);
            if n <= held {
                return Err(format!("{} holds {n} images; too few", dir.display()).into());
            }
            (all.clone().narrow(0, 0, n - held), all.narrow(0, n - held, held))
        }
        None => {
            let phantoms = PhantomConfig::new(SIZE);
            let mut rng = seeded_rng(seed);
            let train = phantoms.generate_batch(TRAIN, &mut rng)?.to_tensors::<4>(&device)?;
            let held = phantoms.generate_batch(HELD_OUT, &mut rng)?.to_tensors::<4>(&device)?;
            (train.images, held.images)
        }
    };
    let [n_train, channels, height, width] = train.dims();
    if height != width || !height.is_power_of_two() || height < FEATURE_GRID {
        return Err(format!(
            "images must be square with a power-of-two size >= {FEATURE_GRID}, got {height}x{width}"
        )
        .into());
    }
    let (train, held_out) = (quantise(train), quantise(held_out));
    let item = [channels, height, width];
    let dims = channels * height * width;
    println!(
        "{n_train} training and {} held-out images of {channels}x{height}x{width}; \
         every family: {steps} steps of {batch} images",
        held_out.dims()[0]
    );
    let train_ad = Tensor::<4>::from_data(train.to_data(), &train_device);

    // The fixed feature space, the held-out features and the real-vs-real baseline: as many
    // training images as samples, measured against the held-out ones.
    let features = PooledFeatures::new(item, FEATURE_GRID)?;
    let (real_features, _, dim) = extract_features(&features, held_out.clone(), 64)?;
    let picks = strided(n_train, samples.min(n_train), &device);
    let (baseline_features, _, _) =
        extract_features(&features, train.clone().select(0, picks), 64)?;
    let baseline =
        SampleQuality::measure(&real_features, &baseline_features, dim, PRDC_NEIGHBOURS)?;
    let n_likelihood = LIKELIHOOD_IMAGES.min(held_out.dims()[0]);
    let scored = held_out.clone().narrow(0, 0, n_likelihood);
    // One dequantisation of the scored images, shared by the continuous densities.
    let scored_dequantised = dequantise(scored.clone(), &mut seeded_rng(seed + 50));
    let to_bits = |nats: Tensor<1>| -> f64 {
        let nats = nats.mean().into_scalar::<f32>() as f64;
        -nats / (dims as f64 * std::f64::consts::LN_2) + BIN_BITS
    };

    let mut entries = Vec::new();
    let mut rows = vec![held_out.clone().narrow(0, 0, 8.min(held_out.dims()[0]))];
    let mut timings = Vec::new();
    let mut measure = |family: &str,
                       model: &dyn Sampler,
                       likelihood: Option<Likelihood>,
                       offset: u64|
     -> Result<(), Box<dyn Error>> {
        let (quality, nfe, images_per_second, drawn) = model.measure(
            &features,
            &real_features,
            samples,
            &mut seeded_rng(seed + 100 + offset),
            &device,
        )?;
        rows.push(drawn.narrow(0, 0, 8.min(samples)).clamp(-1.0, 1.0));
        entries.push(TrilemmaEntry {
            family: family.into(),
            quality,
            nfe,
            images_per_second,
            likelihood,
        });
        Ok(())
    };

    // 2a. DDPM: the shared recipe (U-Net, min-SNR-5, AdamW, warm-up + cosine, EMA).
    let recipe = DiffusionRecipe::new().with_channels(channels).with_steps(steps).with_batch(batch);
    let family_started = Instant::now();
    let ddpm_network = recipe.train(&train_ad, None, seed + 1, "DDPM")?;
    timings.push(("DDPM", family_started.elapsed().as_secs_f64()));
    // 3a. Its variational bound on a subset S of evenly spaced timesteps t ≥ 1 (plus the
    //     decoder term L₀, evaluated exactly): the sum over all T − 1 KL terms is estimated as
    //     (T − 1)/|S| · Σ_{t∈S} L_t, so the value is an estimate of the bound
    //     L_T + L₀ + Σ_{t≥1} L_t ≥ −log₂ p(x), in bits/dim of the 8-bit data.
    let scheduler = recipe.ddpm().init()?;
    let total = recipe.ddpm().num_train_timesteps;
    let subset: Vec<usize> = std::iter::once(0)
        .chain((0..BOUND_TIMESTEPS).map(|i| 1 + (2 * i + 1) * (total - 1) / (2 * BOUND_TIMESTEPS)))
        .collect();
    let bound = variational_bound(
        &ddpm_network,
        &scheduler,
        scored.clone(),
        &Condition::none(),
        &subset,
        false,
        &mut seeded_rng(seed + 51),
    )?;
    let mean = |t: &Tensor<1>| t.clone().mean().into_scalar::<f32>() as f64;
    let kl_sum: f64 = bound.terms[1..].iter().map(mean).sum();
    let ddpm_bits = mean(&bound.prior)
        + mean(&bound.terms[0])
        + (total - 1) as f64 / BOUND_TIMESTEPS as f64 * kl_sum;
    let ddpm = DiffusionPipeline::new(
        ddpm_network,
        SchedulerConfig::Ddpm(recipe.ddpm()),
        DDPM_STEPS,
        &item,
    )?;
    measure(
        "DDPM",
        &ddpm,
        Some(Likelihood { bits_per_dim: ddpm_bits, kind: DensityKind::LowerBound }),
        1,
    )?;

    // 2b. Flow matching: the same U-Net as a velocity field, OT-CFM (σ = 0) on dequantised
    //     images, the same optimiser settings.
    let family_started = Instant::now();
    let unet = recipe.unet();
    let model = VelocityUNet {
        unet: init_seeded(&train_device, &mut seeded_rng(seed + 2), |d| unet.init(d))?,
    };
    let loss = FlowMatchingLossConfig::exact_optimal_transport(0.0);
    let mut trainer = Trainer::new(
        &warmup_cosine(steps, 2e-3)
            .with_max_grad_norm(Some(1.0))
            .with_ema(Some(EmaConfig::new().with_decay(0.995))),
        model,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(seed + 12),
        &(&unet, &loss, (steps, batch, seed)),
    )?
    .with_progress(TrainingProgress::new("flow matching", steps));
    loss.init()?.fit(&mut trainer, |_step, rng| {
        Ok((dequantise(random_batch(&train_ad, batch, rng), rng), Condition::none()))
    })?;
    let velocity = trainer.inference_model();
    timings.push(("flow matching", family_started.elapsed().as_secs_f64()));
    // 3b. Its likelihood by the instantaneous change of variables: one Rademacher probe per
    //     step (the exact trace would need one backward pass per pixel, D = 1024 of them).
    let density = flow_log_likelihood(
        &velocity,
        scored_dequantised.clone(),
        &Condition::none(),
        &ContinuousFlowConfig::new()
            .with_solver(FM_LIKELIHOOD_SOLVER)
            .with_divergence(DivergenceMethod::hutchinson(1)),
        &mut seeded_rng(seed + 52),
    )?;
    let fm_likelihood = Likelihood { bits_per_dim: to_bits(density.log_prob), kind: density.kind };
    let flow_matching = FlowMatchingModel::new(velocity, FM_SAMPLER, &item)?;
    measure("flow matching", &flow_matching, Some(fm_likelihood), 2)?;

    // 2c. Glow: 3 scales of 4 steps each (ActNorm, invertible 1x1 convolution, affine
    //     coupling), maximum likelihood on dequantised images, ActNorm initialised from data.
    let family_started = Instant::now();
    let glow_config = GlowConfig::new(channels, height, width, 3, 4, 32);
    let glow = init_seeded(&train_device, &mut seeded_rng(seed + 3), |d| glow_config.init(d))?
        .initialize(dequantise(
            random_batch(&train_ad, 64.min(n_train), &mut seeded_rng(seed + 13)),
            &mut seeded_rng(seed + 14),
        ))?;
    let mut trainer = Trainer::new(
        &warmup_cosine(steps, 1e-3).with_max_grad_norm(Some(1.0)),
        glow,
        AdamConfig::new().init(),
        seeded_rng(seed + 23),
        &(&glow_config, (steps, batch, seed)),
    )?
    .with_progress(TrainingProgress::new("Glow (nats/dim)", steps));
    trainer.fit(|m: &Glow, _step, rng| -> Result<Tensor<1>, FlowError> {
        Ok(m.nll(dequantise(random_batch(&train_ad, batch, rng), rng))?.div_scalar(dims as f64))
    })?;
    let glow = trainer.inference_model();
    timings.push(("Glow", family_started.elapsed().as_secs_f64()));
    // 3c. Its exact log-density of the dequantised images.
    let value = glow.log_density(
        scored_dequantised.clone(),
        &Condition::none(),
        &mut seeded_rng(seed + 53),
    )?;
    let glow_likelihood = Likelihood { bits_per_dim: to_bits(value.nats), kind: value.kind };
    measure("Glow", &glow, Some(glow_likelihood), 3)?;

    // 2d. The VAE: 32x32 → 4 x 8 x 8 latents, Gaussian decoder σ = 0.1, KL warm-up over the
    //     first quarter, on dequantised images.
    let family_started = Instant::now();
    let vae_config =
        VaeConfig::new(BackboneConfig::new(2, channels, 4).with_hidden(vec![16, 32, 64]))
            .with_likelihood(medgen::vae::Likelihood::Gaussian { std: 0.1 })
            .with_sample_size(vec![height, width]);
    let vae = init_seeded(&train_device, &mut seeded_rng(seed + 4), |d| vae_config.init(d))?;
    let vae_loss = VaeLossConfig::new().with_warmup_steps(steps / 4).init()?;
    let mut trainer = Trainer::new(
        &warmup_cosine(steps, 2e-3).with_max_grad_norm(Some(5.0)),
        vae,
        AdamConfig::new().init(),
        seeded_rng(seed + 24),
        &(&vae_config, (steps, batch, seed)),
    )?
    .with_progress(TrainingProgress::new("VAE", steps));
    trainer.fit(|m: &Vae, step, rng| -> Result<Tensor<1>, VaeError> {
        let x = dequantise(random_batch(&train_ad, batch, rng), rng);
        Ok(vae_loss.loss(m, x, &Condition::none(), step, rng)?.loss)
    })?;
    let vae = trainer.inference_model();
    timings.push(("VAE", family_started.elapsed().as_secs_f64()));
    // 3d. Its single-sample ELBO, a lower bound on log p.
    let value = vae.log_density(
        scored_dequantised.clone(),
        &Condition::none(),
        &mut seeded_rng(seed + 54),
    )?;
    let vae_likelihood = Likelihood { bits_per_dim: to_bits(value.nats), kind: value.kind };
    measure("VAE", &vae, Some(vae_likelihood), 4)?;

    // 2e. The GAN: DCGAN generator and spectrally normalised discriminator, hinge loss,
    //     Adam 2e-4 (β₁ = 0.5), an EMA of the generator; no likelihood.
    let family_started = Instant::now();
    let upsamplings = (height / 4).trailing_zeros() as usize;
    let generator = DcganGeneratorConfig::new(2, LATENT, channels, height)
        .with_num_upsamplings(upsamplings)
        .with_base_channels(16);
    let discriminator = DcganDiscriminatorConfig::new(2, channels, height)
        .with_num_downsamplings(upsamplings)
        .with_base_channels(16);
    let gan_config = GanTrainerConfig::new(steps)
        .with_lr_generator(2e-4)
        .with_lr_discriminator(2e-4)
        .with_ema(Some(EmaConfig::new().with_decay(0.999)));
    let mut init_rng = seeded_rng(seed + 5);
    let mut trainer = GanTrainer::new(
        &gan_config,
        init_seeded(&train_device, &mut init_rng, |d| generator.init(d))?,
        init_seeded(&train_device, &mut init_rng, |d| discriminator.init(d))?,
        GanLoss::Hinge,
        seeded_rng(seed + 25),
        &(&generator, &discriminator, (steps, batch, seed)),
    )?
    .with_progress(TrainingProgress::new("GAN", steps));
    trainer.fit(
        |_step, rng| {
            let z = Tensor::<2>::from_data(
                TensorData::random::<f32, _, _>(
                    [batch, LATENT],
                    Distribution::Normal(0.0, 1.0),
                    rng,
                ),
                &train_device,
            );
            Ok(GanBatch::new(random_batch(&train_ad, batch, rng), z))
        },
        |_, _| Ok(()),
    )?;
    let gan = GanSampler::new(trainer.inference_generator(), LATENT)?;
    timings.push(("GAN", family_started.elapsed().as_secs_f64()));
    measure("GAN", &gan, None, 5)?;

    // 4. The table, the plot and the samples.
    let report = TrilemmaReport { baseline, entries };
    let table = report.to_markdown();
    let trained: Vec<String> =
        timings.iter().map(|(family, seconds)| format!("{family} {seconds:.0} s")).collect();
    let notes = format!(
        "\n{n_train} training / {} held-out images of {channels}x{height}x{width}; every family \
         trained {steps} steps of {batch} images (training time: {}). Quality: {samples} \
         samples against the held-out images in {FEATURE_GRID}x{FEATURE_GRID} average-pooled \
         pixels, PRDC with k = {PRDC_NEIGHBOURS}; the baseline row is {} training images. \
         Speed: the {samples} samples drawn in one batch on this machine. Likelihood: bits/dim \
         of {n_likelihood} held-out images quantised to 8 bits (dequantised for the \
         continuous densities); DDPM: its variational bound estimated from {BOUND_TIMESTEPS} \
         of {total} timesteps; flow matching: the exact likelihood's unbiased Hutchinson \
         estimate; VAE: the ELBO.\n",
        held_out.dims()[0],
        trained.join(", "),
        samples.min(n_train),
    );
    println!("\n{table}{notes}");
    std::fs::write(out.join("trilemma.md"), format!("{table}{notes}"))?;
    report.save_plot(out.join("trilemma.png"))?;
    let mut grid = GridBuilder::new().scale(2);
    for row in rows {
        grid = grid.image_row(row, (-1.0, 1.0))?;
    }
    grid.save(out.join("samples.png"))?;
    println!(
        "wrote trilemma.md, trilemma.png and samples.png (rows: held-out, DDPM, flow matching, \
         Glow, VAE, GAN) to {} (total {:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Any family's sampler behind one object-safe interface for [`measure_sampler`].
trait Sampler {
    fn measure(
        &self,
        features: &PooledFeatures,
        real_features: &[f64],
        n: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> medgen::apps::Result<(SampleQuality, usize, f64, Tensor<4>)>;
}

impl<S> Sampler for S
where
    S: Sample<4>,
    S::Error: Error + Send + Sync + 'static,
{
    fn measure(
        &self,
        features: &PooledFeatures,
        real_features: &[f64],
        n: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> medgen::apps::Result<(SampleQuality, usize, f64, Tensor<4>)> {
        measure_sampler(self, features, real_features, n, PRDC_NEIGHBOURS, rng, device)
    }
}

/// A trainer with a linear warm-up (a tenth of the run) and a cosine decay of the learning
/// rate from the peak `lr` down to `lr / 20`.
fn warmup_cosine(steps: usize, lr: f64) -> TrainerConfig {
    TrainerConfig::new(
        WarmupCosineConfig::new(lr, steps)
            .with_warmup_steps((steps / 10).min(200))
            .with_min_lr(lr / 20.0),
    )
}

/// Images in [-1, 1] rounded to the 256 levels `x₈ / 127.5 − 1`, `x₈ ∈ {0, …, 255}`.
fn quantise(images: Tensor<4>) -> Tensor<4> {
    images
        .clamp(-1.0, 1.0)
        .add_scalar(1.0)
        .mul_scalar(127.5)
        .round()
        .div_scalar(127.5)
        .sub_scalar(1.0)
}

/// Uniform dequantisation of quantised images: `y = (x₈ + u) / 128 − 1`, `u ~ U[0, 1)` per
/// value (drawn on the host from `rng`), `y ∈ [−1, 1)`.
fn dequantise(images: Tensor<4>, rng: &mut SeededRng) -> Tensor<4> {
    let dims = images.dims();
    let u = Tensor::<4>::from_data(
        TensorData::random::<f32, _, _>(dims, Distribution::Uniform(0.0, 1.0), rng),
        &images.device(),
    );
    images.add_scalar(1.0).mul_scalar(127.5).add(u).div_scalar(128.0).sub_scalar(1.0)
}

/// `batch` images drawn uniformly with replacement.
fn random_batch(images: &Tensor<4>, batch: usize, rng: &mut SeededRng) -> Tensor<4> {
    let n = images.dims()[0];
    let picks: Vec<i64> = (0..batch).map(|_| rng.random_range(0..n) as i64).collect();
    let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [batch]), &images.device());
    images.clone().select(0, picks)
}

/// `count` indices spread evenly over `0..n`.
fn strided(n: usize, count: usize, device: &Device) -> Tensor<1, Int> {
    let picks: Vec<i64> = (0..count).map(|i| (i * n / count) as i64).collect();
    Tensor::from_data(TensorData::new(picks, [count]), device)
}

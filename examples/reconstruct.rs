//! # Reconstruction: accelerated MRI and sparse-view CT with a diffusion prior
//!
//! Inverse problems solved by sampling a diffusion prior while keeping the measured data:
//!
//! 1. train a small DDPM on phantoms (or load it from `--checkpoint`, which a first run
//!    writes);
//! 2. measure held-out phantoms four ways: single-coil k-space at 4× (fastMRI random mask,
//!    centre fraction 0.08) and 8× (0.04), and parallel-beam sinograms with 60 and 30 views;
//! 3. reconstruct each with the classical baseline (zero-filled inverse FFT, filtered
//!    back-projection) and three samplers: DDIM with hard data consistency on `x̂₀`, the
//!    score-SDE predictor–corrector with data consistency (Chung & Ye), and diffusion posterior
//!    sampling (DPS);
//! 4. print PSNR / SSIM, network evaluations and time per method, and write
//!    `reconstruct.png`: per problem, truth, baseline, the three reconstructions, the error of
//!    the best one and the pixelwise variance of an ensemble.
//!
//! ```sh
//! cargo run --release --example reconstruct -- --out out/reconstruct   # about 9 minutes on 2 cores
//! # again, reusing the trained prior (about 2 minutes):
//! cargo run --release --example reconstruct -- --checkpoint out/reconstruct/prior.ckpt
//! # your own images: DIR/train/*.png and DIR/test/*.png (square, the same size)
//! cargo run --release --example reconstruct -- --data DIR --out out/mine
//! ```

use clap::Parser;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use medgen::apps::recipe::DiffusionRecipe;
use medgen::burn::module::Module;
use medgen::burn::tensor::{Device, Tensor};
use medgen::core::{DeviceChoice, init_seeded, seeded_rng};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::diffusion::{
    DdimSchedulerConfig, DdpmSchedulerConfig, LangevinCorrectorConfig, SchedulerConfig, ScoreSde,
    SdeSamplerConfig,
};
use medgen::metrics::{SsimConfig, psnr_batch, ssim_batch};
use medgen::nn::UNet;
use medgen::recon::{
    DataConsistency, DiffusionReconstruction, FbpFilter, IntensityMap, KSpaceOperator, MaskKind,
    MeasurementOperator, ParallelBeamProjector, PosteriorSampling, Reconstruct,
    ScoreReconstruction, ct::evenly_spaced_angles, reconstruct_ensemble,
};
use medgen::train::Checkpoint;
use medgen::train::viz::{GridBuilder, heat_map_to_rgb};

/// Accelerated MRI and sparse-view CT with a diffusion prior, against the classical baselines.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/reconstruct")]
    out: PathBuf,
    /// Your own images: DIR/train/*.png to learn the prior from and DIR/test/*.png to
    /// reconstruct (square, one size). Default: brain phantoms.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Load the prior from this checkpoint if it exists; otherwise train and write it there
    /// (default: OUT/prior.ckpt).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Phantom size in pixels (a multiple of 4).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Training phantoms.
    #[arg(long, default_value_t = 512)]
    train: usize,
    /// Held-out phantoms to reconstruct.
    #[arg(long, default_value_t = 4)]
    test: usize,
    /// Training steps of the prior.
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// U-Net base channels (a multiple of 8).
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// Steps of the DDIM and DPS samplers.
    #[arg(long, default_value_t = 50)]
    sampler_steps: usize,
    /// Predictor steps of the score-SDE sampler (each with one corrector step; more than 21).
    #[arg(long, default_value_t = 50)]
    score_steps: usize,
    /// η of the DDIM + DC sampler (0: deterministic; 1: DDPM-like fresh noise each step).
    #[arg(long, default_value_t = 1.0)]
    ddim_eta: f64,
    /// DPS step size ζ'.
    #[arg(long, default_value_t = 1.0)]
    dps_step: f64,
    /// Ensemble members for the variance maps.
    #[arg(long, default_value_t = 4)]
    members: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// One measurement setting: a name and its operator.
struct Problem {
    name: String,
    operator: Box<dyn MeasurementOperator<4>>,
    /// The data-consistency step of the DDIM and score samplers for this operator.
    consistency: DataConsistency,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();

    // 1. Data: images to learn the prior from, held-out images to reconstruct.
    let (train, test) = match &args.data {
        Some(dir) => load_user_data(dir, &device)?,
        None => phantom_data(&args, &device)?,
    };
    let [n_test, _, size, width] = test.dims();
    if size != width {
        return Err(format!("the projector needs square images, got {size}x{width}").into());
    }
    println!(
        "{} training images, {n_test} held-out images of {size}x{size} ({:.1} s)",
        train.dims()[0],
        started.elapsed().as_secs_f64()
    );

    // 2. The prior: a DDPM of the training images (ε-prediction, 1000 linear-β timesteps).
    let recipe = DiffusionRecipe::new()
        .with_base_channels(args.channels)
        .with_steps(args.steps)
        .with_batch(args.batch);
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| args.out.join("prior.ckpt"));
    let prior = load_or_train(&recipe, &train, &checkpoint, args.seed, &device)?;

    // 3. The four problems and the samplers.
    let mut rng = seeded_rng(args.seed + 100);
    let mut problems = Vec::new();
    for (acceleration, center_fraction) in [(4.0, 0.08), (8.0, 0.04)] {
        let mask =
            MaskKind::Random { acceleration, center_fraction }.sample(size, size, &mut rng)?;
        problems.push(Problem {
            name: format!("MRI {acceleration}x ({:.1}% sampled)", 100.0 * mask.sampled_fraction()),
            operator: Box::new(KSpaceOperator::new(&[size, size], 1, mask, &device)?),
            consistency: DataConsistency::hard(),
        });
    }
    for views in [60, 30] {
        problems.push(Problem {
            name: format!("CT {views} views"),
            operator: Box::new(ParallelBeamProjector::new(
                size,
                &evenly_spaced_angles(views),
                FbpFilter::Ramp,
                &device,
            )?),
            // A → Aᴴ is no projection for CT: a few conjugate-gradient steps approximate one.
            consistency: DataConsistency::hard().with_iterations(5),
        });
    }
    let ddim = SchedulerConfig::Ddim(
        DdimSchedulerConfig::new().with_clip_sample(false).with_eta(args.ddim_eta),
    );
    let ddpm = SchedulerConfig::Ddpm(DdpmSchedulerConfig::new());
    let score = SdeSamplerConfig::new(ScoreSde::vp())
        .with_steps(args.score_steps)
        .with_corrector(Some(LangevinCorrectorConfig::new()));

    // 4. Reconstruct, score and draw.
    let ssim_config = SsimConfig::new(2.0);
    let mut table = String::from(
        "| problem | method | PSNR (dB) | SSIM | NFE | s |\n|---|---|---|---|---|---|\n",
    );
    println!("\n{table}");
    let mut grid = GridBuilder::new().scale(if size >= 64 { 2 } else { 4 });
    for problem in &problems {
        let operator = problem.operator.as_ref();
        // The scanner measures the physical image (attenuation in [0, 1], zero in air); the
        // samplers see the same data as a linear measurement of the prior's [-1, 1] image.
        let physical = IntensityMap::UNIT_RANGE;
        let measured = operator.forward(physical.to_physical(test.clone()))?;
        let y = physical.prior_measurement(operator, measured.clone())?;
        let samplers: Vec<Box<dyn Reconstruct<4>>> = vec![
            Box::new(
                DiffusionReconstruction::new(ddim.clone(), args.sampler_steps)
                    .with_consistency(problem.consistency.clone()),
            ),
            Box::new(
                ScoreReconstruction::new(score.clone())
                    .with_consistency(problem.consistency.clone()),
            ),
            Box::new(PosteriorSampling::new(ddpm.clone(), args.sampler_steps, args.dps_step)),
        ];
        let clock = Instant::now();
        let baseline = physical.to_prior(operator.baseline(measured)?);
        let baseline_name =
            if operator.name() == "k-space" { "zero-filled" } else { "FBP (Ram-Lak)" };
        let baseline_psnr = report(
            &mut table,
            &problem.name,
            baseline_name,
            &baseline,
            &test,
            &ssim_config,
            0,
            clock,
        )?;
        let mut cells = vec![test.clone().narrow(0, 0, 1), baseline.clone().narrow(0, 0, 1)];
        let mut best: Option<(f64, Tensor<4>)> = None;
        for sampler in &samplers {
            let clock = Instant::now();
            let out = sampler.reconstruct(&prior, operator, y.clone(), &mut rng)?;
            let image = out.image.clamp(-1.0, 1.0);
            let psnr = report(
                &mut table,
                &problem.name,
                &sampler.name(),
                &image,
                &test,
                &ssim_config,
                out.nfe,
                clock,
            )?;
            cells.push(image.clone().narrow(0, 0, 1));
            if best.as_ref().is_none_or(|(p, _)| psnr > *p) {
                best = Some((psnr, image));
            }
        }
        let (best_psnr, best_image) = best.expect("three samplers ran");
        println!(
            "  {}: best sampler {:+.1} dB over the baseline",
            problem.name,
            best_psnr - baseline_psnr
        );
        // The uncertainty of the first held-out image: an ensemble of DDIM + DC runs.
        let ensemble = reconstruct_ensemble(
            &DiffusionReconstruction::new(ddim.clone(), args.sampler_steps)
                .with_consistency(problem.consistency.clone()),
            args.members,
            &prior,
            operator,
            y.narrow(0, 0, 1),
            &mut rng,
        )?;
        let error = best_image.narrow(0, 0, 1).sub(test.clone().narrow(0, 0, 1)).abs();
        let gray: Vec<Tensor<4>> = cells.into_iter().map(gray_to_rgb).collect();
        let mut row = gray;
        row.push(heat_map_to_rgb(error, (0.0, 0.5))?);
        let variance = ensemble.variance;
        let top = variance.clone().max().into_scalar::<f32>().max(1e-12);
        println!(
            "  {}: ensemble of {} (DDIM + DC): mean pixel std {:.4}, largest {:.4}",
            problem.name,
            args.members,
            variance.clone().sqrt().mean().into_scalar::<f32>(),
            top.sqrt()
        );
        row.push(heat_map_to_rgb(variance, (0.0, top))?);
        let ncols = row.len();
        grid = grid.images(Tensor::cat(row, 0), (0.0, 1.0), ncols)?;
    }
    let png = args.out.join("reconstruct.png");
    grid.save(&png)?;
    std::fs::write(args.out.join("reconstruct.md"), &table)?;
    println!(
        "\n{}: one row per problem: truth, baseline, DDIM + DC, score PC + DC, DPS, |error| of \
         the best (0 to 0.5), ensemble variance",
        png.display()
    );
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Prints and appends one table row; returns the mean PSNR.
#[allow(clippy::too_many_arguments)]
fn report(
    table: &mut String,
    problem: &str,
    method: &str,
    image: &Tensor<4>,
    truth: &Tensor<4>,
    ssim_config: &SsimConfig,
    nfe: usize,
    clock: Instant,
) -> Result<f64, Box<dyn Error>> {
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let psnr = mean(psnr_batch(image.clone(), truth.clone(), 2.0)?);
    let ssim = mean(ssim_batch(image.clone(), truth.clone(), ssim_config)?);
    let line = format!(
        "| {problem} | {method} | {psnr:.2} | {ssim:.3} | {nfe} | {:.1} |\n",
        clock.elapsed().as_secs_f64()
    );
    print!("{line}");
    table.push_str(&line);
    Ok(psnr)
}

/// `[1, 1, H, W]` in [-1, 1] as `[1, 3, H, W]` in [0, 1].
fn gray_to_rgb(image: Tensor<4>) -> Tensor<4> {
    image.clamp(-1.0, 1.0).add_scalar(1.0).div_scalar(2.0).repeat_dim(1, 3)
}

/// The prior from `path` if it exists, else trained on `train` and saved there.
fn load_or_train(
    recipe: &DiffusionRecipe,
    train: &Tensor<4>,
    path: &Path,
    seed: u64,
    device: &Device,
) -> Result<UNet, Box<dyn Error>> {
    let run = (recipe, seed);
    if path.exists() {
        let clock = Instant::now();
        let checkpoint = Checkpoint::load(path, &run)?;
        // The seeded initialisation is overwritten by the stored weights.
        let unet = recipe.unet();
        let fresh = init_seeded(device, &mut seeded_rng(seed), |d| unet.init(d))?;
        let prior = checkpoint.load_module("prior", fresh)?;
        println!("prior loaded from {} ({:.1} s)", path.display(), clock.elapsed().as_secs_f64());
        return Ok(prior);
    }
    let train = train.clone().autodiff();
    let prior = recipe.train(&train, None, seed + 1, "prior (DDPM)")?;
    Checkpoint::new(recipe.steps, &seeded_rng(seed), &run)?
        .with_module("prior", &prior)?
        .save(path)?;
    println!("prior saved to {}", path.display());
    Ok(prior.fork(device))
}

/// Training and held-out phantoms in [-1, 1], from different seeds.
fn phantom_data(args: &Args, device: &Device) -> Result<(Tensor<4>, Tensor<4>), Box<dyn Error>> {
    let config = PhantomConfig::new(args.size);
    let train = config.generate_batch(args.train, &mut seeded_rng(args.seed))?;
    let test = config.generate_batch(args.test, &mut seeded_rng(args.seed + 1_000_003))?;
    Ok((train.to_tensors::<4>(device)?.images, test.to_tensors::<4>(device)?.images))
}

/// `DIR/train` and `DIR/test` as tensors in [-1, 1].
fn load_user_data(dir: &Path, device: &Device) -> Result<(Tensor<4>, Tensor<4>), Box<dyn Error>> {
    let config = PngFolderConfig::new();
    let load = |name: &str| -> Result<Tensor<4>, Box<dyn Error>> {
        Ok(load_png_folder(dir.join(name), &config)?.dataset.images_tensor::<4>(device)?)
    };
    Ok((load("train")?, load("test")?))
}

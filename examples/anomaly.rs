//! # Anomaly detection: find lesions with models that have only seen healthy brains
//!
//! Unsupervised anomaly detection as AnoDDPM does it, compared with its relatives in one
//! table:
//!
//! 1. train two small DDPMs on **healthy** phantoms only, one with Gaussian noise and one
//!    with multi-octave simplex noise (AnoDDPM's choice), and a VAE as the reconstruction
//!    baseline;
//! 2. on test phantoms with lesions of random size and contrast (never seen in training),
//!    noise each image part of the way (to `t_λ`), denoise it back, and take the residual
//!    `|x − x̂|` as the anomaly map; also the variational-bound map, and with `--multiscale`
//!    several `t_λ` combined and patch-level reconstruction from healthy context;
//! 3. score every map against the lesion masks: pixel AUROC, AUPRC, best Dice, image AUROC
//!    and the same per lesion size, and write `anomaly.png` (images, truth, maps).
//!
//! ```sh
//! cargo run --release --example anomaly -- --out out/anomaly        # about 14 minutes on 2 cores
//! # add the multi-level and patch-level detectors (about 3 more minutes):
//! cargo run --release --example anomaly -- --out out/anomaly --multiscale
//! # your own data: DIR/train/*.png (healthy), DIR/test/*.png and DIR/masks/*.png (same names)
//! cargo run --release --example anomaly -- --data DIR --out out/mine
//! ```

use clap::Parser;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use medgen::apps::anomaly::{
    AnomalyDetector, AnomalyEvaluation, AnomalyEvaluationConfig, CombinedDetector,
    LikelihoodDetector, PartialDiffusionConfig, PartialDiffusionDetector, PatchConfig,
    PatchDetector, ReconstructionDetector,
};
use medgen::apps::recipe::DiffusionRecipe;
use medgen::burn::module::Module;
use medgen::burn::optim::AdamConfig;
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::noise::{NoiseKind, SimplexNoiseConfig};
use medgen::core::{Condition, DeviceChoice, SeededRng, init_seeded, seeded_rng};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::train::viz::{GridBuilder, heat_map_to_rgb};
use medgen::train::{Trainer, TrainerConfig, TrainingProgress, WarmupCosineConfig};
use medgen::vae::{BackboneConfig, Likelihood, Vae, VaeConfig, VaeError, VaeLossConfig};
use rand::RngExt;

/// Unsupervised anomaly detection on brain phantoms: Gaussian vs simplex DDPM vs VAE.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/anomaly")]
    out: PathBuf,
    /// Your own images: DIR/train/*.png (healthy only), DIR/test/*.png and DIR/masks/*.png
    /// (lesion masks with the test images' names, lesion > 0). Default: phantoms.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Phantom size in pixels (a multiple of 4).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Healthy training phantoms.
    #[arg(long, default_value_t = 512)]
    train: usize,
    /// Test phantoms (three in four with lesions).
    #[arg(long, default_value_t = 48)]
    test: usize,
    /// Training steps of each DDPM and of the VAE.
    #[arg(long, default_value_t = 450)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// U-Net base channels (a multiple of 8).
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// The noise level t_λ of partial diffusion (of 1000 training timesteps).
    #[arg(long, default_value_t = 200)]
    t_lambda: usize,
    /// Octaves of the simplex noise (AnoDDPM: 6); its base frequency is 4 / image side.
    #[arg(long, default_value_t = 6)]
    octaves: usize,
    /// Reverse steps from t_λ to 0.
    #[arg(long, default_value_t = 20)]
    inference_steps: usize,
    /// Also run the multi-level (t_λ/2, t_λ, 3t_λ/2) and patch-level detectors (about 3 more
    /// minutes).
    #[arg(long)]
    multiscale: bool,
    /// Gaussian smoothing of every map, in pixels.
    #[arg(long, default_value_t = 1.0)]
    smoothing: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// The probability that a test phantom has lesions.
const TEST_LESION_PROBABILITY: f64 = 0.75;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(args.seed);

    // 1. Data: healthy images to learn from; test images with lesion masks to score.
    let (train, test, masks) = match &args.data {
        Some(dir) => load_user_data(dir, &train_device, &device)?,
        None => phantom_data(&args, &mut rng, &train_device, &device)?,
    };
    let [_, channels, height, width] = test.dims();
    let item = [channels, height, width];
    println!(
        "{} healthy training images, {} test images of {height}x{width} ({:.1} s)",
        train.dims()[0],
        test.dims()[0],
        started.elapsed().as_secs_f64()
    );

    // 2. Models of healthy anatomy: two DDPMs (Gaussian and simplex noise) and a VAE.
    let simplex = NoiseKind::Simplex(
        SimplexNoiseConfig::new()
            .with_frequency(4.0 / height.max(width) as f64)
            .with_octaves(args.octaves),
    );
    let recipe = DiffusionRecipe::new()
        .with_channels(channels)
        .with_base_channels(args.channels)
        .with_steps(args.steps)
        .with_batch(args.batch);
    let gaussian_model = recipe.train(&train, None, args.seed + 1, "DDPM (Gaussian)")?;
    let simplex_model = recipe.clone().with_noise(simplex.clone()).train(
        &train,
        None,
        args.seed + 2,
        "DDPM (simplex)",
    )?;
    let vae = train_vae(&train, &args, [height, width])?;
    println!("trained three models ({:.0} s)", started.elapsed().as_secs_f64());

    // 3. The detectors, all behind one trait.
    let ddpm = recipe.ddpm();
    let partial = |t_lambda: usize, noise: &NoiseKind| {
        PartialDiffusionConfig::new()
            .with_t_lambda(t_lambda)
            .with_noise(noise.clone())
            .with_num_inference_steps(Some(args.inference_steps))
            .with_smoothing_sigma(args.smoothing)
    };
    let simplex_at = |t: usize| {
        PartialDiffusionDetector::new(simplex_model.clone(), &ddpm, partial(t, &simplex), &item)
    };
    let t = args.t_lambda;
    let mut detectors: Vec<Box<dyn AnomalyDetector<4>>> = vec![
        Box::new(PartialDiffusionDetector::new(
            gaussian_model.clone(),
            &ddpm,
            partial(t, &NoiseKind::Gaussian),
            &item,
        )?),
        Box::new(simplex_at(t)?),
    ];
    if args.multiscale {
        detectors.push(Box::new(CombinedDetector::new(
            format!("ddpm-simplex t={},{},{}", t / 2, t, 3 * t / 2),
            vec![
                Box::new(simplex_at(t / 2)?),
                Box::new(simplex_at(t)?),
                Box::new(simplex_at(3 * t / 2)?),
            ],
        )?));
        detectors.push(Box::new(PatchDetector::new(
            simplex_at(t)?,
            PatchConfig::new(height / 2, height / 2),
        )?));
    }
    detectors.push(Box::new(LikelihoodDetector::new(
        gaussian_model,
        ddpm.clone(),
        vec![0, 1, 2, 5, 10, 20, 50, 100],
        args.smoothing,
        &item,
    )?));
    detectors.push(Box::new(ReconstructionDetector::new("vae", vae, args.smoothing, &item)?));

    // 4. Detect and score.
    let evaluation = AnomalyEvaluationConfig::new();
    let shown = test.dims()[0].min(8);
    let mut grid = GridBuilder::new()
        .scale(if height >= 64 { 1 } else { 2 })
        .image_row(test.clone().narrow(0, 0, shown), (-1.0, 1.0))?
        .image_row(
            masks.clone().narrow(0, 0, shown).mul_scalar(2.0).sub_scalar(1.0),
            (-1.0, 1.0),
        )?;
    let mut table = String::from(
        "| method | pixel AUROC | pixel AUPRC | best Dice | image AUROC | AUROC small / medium / large | NFE / image | s |\n|---|---|---|---|---|---|---|---|\n",
    );
    println!("\n{table}");
    for detector in &detectors {
        let clock = Instant::now();
        let mut detect_rng = seeded_rng(args.seed + 100);
        let maps = detect_in_batches(detector.as_ref(), &test, &mut detect_rng)?;
        let report = medgen::apps::anomaly::evaluate_anomaly_maps(
            maps.0.clone(),
            masks.clone(),
            &evaluation,
        )?;
        let line = row(&detector.name(), &report, maps.1, clock.elapsed().as_secs_f64());
        print!("{line}");
        table.push_str(&line);
        let shown_maps = maps.0.narrow(0, 0, shown);
        let top = shown_maps.clone().max().into_scalar::<f32>().max(1e-6);
        grid = grid.image_row(heat_map_to_rgb(shown_maps, (0.0, top))?, (0.0, 1.0))?;
    }
    let png = args.out.join("anomaly.png");
    grid.save(&png)?;
    std::fs::write(args.out.join("anomaly.md"), &table)?;
    println!(
        "\nrows of {}: images, lesion masks, then one map per method in the table's order",
        png.display()
    );
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Healthy training phantoms and test phantoms (with lesions, and their masks).
fn phantom_data(
    args: &Args,
    rng: &mut SeededRng,
    train_device: &Device,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<4>, Tensor<4>), Box<dyn Error>> {
    let healthy = PhantomConfig::new(args.size).with_lesion_probability(0.0);
    let train = healthy.generate_batch(args.train, rng)?.to_tensors::<4>(train_device)?.images;
    let with_lesions = PhantomConfig::new(args.size)
        .with_lesion_probability(TEST_LESION_PROBABILITY)
        .with_lesion_radius_min(0.04)
        .with_lesion_contrast_min(0.1);
    let test = with_lesions.generate_batch(args.test, rng)?.to_tensors::<4>(device)?;
    Ok((train, test.images, test.lesion_masks))
}

/// `DIR/train`, `DIR/test` and `DIR/masks` as tensors in [-1, 1] (masks in {0, 1}).
fn load_user_data(
    dir: &Path,
    train_device: &Device,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<4>, Tensor<4>), Box<dyn Error>> {
    let config = PngFolderConfig::new();
    let load = |name: &str, on: &Device| -> Result<Tensor<4>, Box<dyn Error>> {
        Ok(load_png_folder(dir.join(name), &config)?.dataset.images_tensor::<4>(on)?)
    };
    let masks = load("masks", device)?.greater_elem(-1.0 + 1e-3).float();
    Ok((load("train", train_device)?, load("test", device)?, masks))
}

/// A VAE with a Gaussian likelihood (σ = 0.1) trained on the healthy images.
fn train_vae(train: &Tensor<4>, args: &Args, size: [usize; 2]) -> Result<Vae, Box<dyn Error>> {
    let device = train.device();
    let n = train.dims()[0];
    let channels = train.dims()[1];
    let mut rng = seeded_rng(args.seed + 3);
    let backbone = BackboneConfig::new(2, channels, 4).with_hidden(vec![16, 32, 64]);
    let vae = init_seeded(&device, &mut rng, |d| {
        VaeConfig::new(backbone.clone())
            .with_likelihood(Likelihood::Gaussian { std: 0.1 })
            .with_sample_size(size.to_vec())
            .init(d)
    })?;
    let loss = VaeLossConfig::new().with_warmup_steps(args.steps / 4).init()?;
    let config = TrainerConfig::new(
        WarmupCosineConfig::new(2e-3, args.steps)
            .with_warmup_steps(args.steps / 20)
            .with_min_lr(1e-4),
    )
    .with_max_grad_norm(Some(5.0));
    let mut trainer = Trainer::new(&config, vae, AdamConfig::new().init(), rng, &())?
        .with_progress(TrainingProgress::new("VAE", args.steps));
    let batch = args.batch.max(16);
    trainer.fit(|m: &Vae, step, rng| -> Result<Tensor<1>, VaeError> {
        let picks: Vec<i64> = (0..batch).map(|_| rng.random_range(0..n) as i64).collect();
        let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [batch]), &device);
        let x = train.clone().select(0, picks);
        Ok(loss.loss(m, x, &Condition::none(), step, rng)?.loss)
    })?;
    Ok(trainer.into_model().valid())
}

/// The maps of all test images, 16 at a time, and the network evaluations per image.
fn detect_in_batches(
    detector: &dyn AnomalyDetector<4>,
    images: &Tensor<4>,
    rng: &mut SeededRng,
) -> Result<(Tensor<4>, usize), Box<dyn Error>> {
    let n = images.dims()[0];
    let mut maps = Vec::new();
    let mut nfe = 0;
    for start in (0..n).step_by(16) {
        let len = 16.min(n - start);
        let out = detector.detect(images.clone().narrow(0, start, len), rng)?;
        nfe = out.nfe;
        maps.push(out.maps);
    }
    Ok((Tensor::cat(maps, 0), nfe))
}

/// One Markdown table row.
fn row(name: &str, r: &AnomalyEvaluation, nfe: usize, seconds: f64) -> String {
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    let sizes: Vec<String> = r.per_size.iter().map(|b| opt(b.pixel_auroc)).collect();
    format!(
        "| {name} | {:.3} | {:.3} | {:.3} | {} | {} | {nfe} | {seconds:.0} |\n",
        r.pixel_auroc,
        r.pixel_auprc,
        r.best_dice,
        opt(r.image_auroc),
        sizes.join(" / ")
    )
}

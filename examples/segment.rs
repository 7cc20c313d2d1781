//! # Segmentation by flow matching over signed distance maps (FlowSDF), with uncertainty
//!
//! 1. generate 2D brain phantoms with lesions, each annotated by several simulated annotators
//!    who draw the lesion boundary a pixel outside or inside the true one (ambiguous labels);
//! 2. train an image-conditioned U-Net on (image, annotation) pairs, masks represented by
//!    truncated, normalised SDFs, with flow matching (default: straight path, independent noise) or diffusion
//!    (`--generator diffusion`, DDIM sampling), seeded flips and rotations, an EMA of the
//!    weights, gradient clipping and checkpoints;
//! 3. on held-out phantoms, sample K segmentations per image with N ODE steps and report
//!    Dice / IoU / HD95 against the true mask and the generalised energy distance (GED)
//!    against the annotations, for N = 1, 3, 10 and for ensembles of K = 1, 4, 16;
//! 4. measure how the ensemble's uncertainty (entropy) relates to its errors, and write one
//!    PNG panel per test image (image, reference, samples, mean, uncertainty).
//!
//! ```sh
//! cargo run --release --example segment -- --out out/segment
//! cargo run --release --example segment -- --out out/segment-ddim --generator diffusion
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Device, Tensor, TensorData};
use medgen::core::{DeviceChoice, init_seeded, seeded_rng};
use medgen::data::PhantomConfig;
use medgen::metrics::{
    SurfaceDistanceConfig, dice, generalized_energy_distance, iou, surface_distances,
};
use medgen::sdf::SdfConfig;
use medgen::seg::{
    AmbiguousPhantoms, AugmentConfig, DiffusionSdfConfig, EnsembleStats, SdfGeneratorConfig,
    SdfSegmenter, SdfSegmenterConfig, Segmentation, SegmentationTrainingConfig,
    boundary_uncertainty, segmentation_step, uncertainty_error_correlation,
};
use medgen::train::viz::GridBuilder;
use medgen::train::{EmaConfig, Trainer, TrainerConfig, TrainingProgress, WarmupCosineConfig};

/// FlowSDF segmentation of phantom lesions with uncertainty.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/segment")]
    out: PathBuf,
    /// Image size, a multiple of 4.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Training steps.
    #[arg(long, default_value_t = 800)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// U-Net base channels, a multiple of 8.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// flow | diffusion.
    #[arg(long, default_value = "flow")]
    generator: String,
    /// Training phantoms.
    #[arg(long, default_value_t = 256)]
    train: usize,
    /// Test phantoms.
    #[arg(long, default_value_t = 16)]
    test: usize,
    /// Annotations per phantom.
    #[arg(long, default_value_t = 4)]
    annotators: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Truncation of the SDFs in pixels.
const TAU: f64 = 4.0;
/// The largest ensemble drawn per test image.
const MAX_SAMPLES: usize = 16;
/// Ensemble sizes reported.
const ENSEMBLES: [usize; 3] = [1, 4, 16];
/// ODE (or DDIM) step counts reported.
const STEP_COUNTS: [usize; 3] = [1, 3, 10];

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let size = args.size;
    let steps = args.steps;
    let batch = args.batch;
    let channels = args.channels;
    let generator = args.generator.clone();
    let n_train = args.train;
    let n_test = args.test;
    let annotators = args.annotators;
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    if steps == 0 || batch == 0 || n_train == 0 || n_test == 0 || annotators < 2 {
        return Err(
            "--steps, --batch, --train, --test must be positive, --annotators >= 2; see --help"
                .to_string()
                .into(),
        );
    }
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    // 1. Phantoms with large-ish lesions, each annotated by `annotators` simulated raters.
    let phantoms = PhantomConfig::new(size)
        .with_lesion_probability(1.0)
        .with_max_lesions(2)
        .with_lesion_radius_min(0.2)
        .with_lesion_radius_max(0.3)
        .with_lesion_contrast_min(0.3)
        .with_lesion_contrast_max(0.5);
    let train = AmbiguousPhantoms::generate(&phantoms, n_train, annotators, 1, &mut rng)?;
    let test = AmbiguousPhantoms::generate(&phantoms, n_test, annotators, 1, &mut rng)?;
    let sdf = SdfConfig::truncated_normalized(TAU);
    let data = train.training_set(&sdf)?;
    println!(
        "{n_train} training phantoms × {annotators} annotations, {n_test} test phantoms, {size}x{size}"
    );

    // 2. The segmenter: a small U-Net over one SDF channel, conditioned on the image.
    let generator_config = match generator.as_str() {
        "flow" => SdfGeneratorConfig::default(),
        "diffusion" => SdfGeneratorConfig::Diffusion(DiffusionSdfConfig::new()),
        other => return Err(format!("unknown --generator {other}; see --help").into()),
    };
    let config = SdfSegmenterConfig::new(1, 1)
        .with_sdf(sdf)
        .with_generator(generator_config)
        .with_base_channels(channels)
        .with_channel_mults(vec![1, 2, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_groups(8);
    let network =
        init_seeded(&train_device, &mut seeded_rng(seed + 10), |d| config.init_network(d))?;
    println!("U-Net with {} parameters, generator: {generator}", network.num_params());
    let trainer_config = TrainerConfig::new(
        WarmupCosineConfig::new(2e-3, steps)
            .with_warmup_steps((steps / 10).min(100))
            .with_min_lr(1e-4),
    )
    .with_max_grad_norm(Some(1.0))
    .with_ema(Some(EmaConfig::new().with_decay(0.99)))
    .with_checkpoint_every(steps.div_ceil(2));
    let training = SegmentationTrainingConfig::new()
        .with_batch_size(batch)
        .with_augment(Some(AugmentConfig::new().with_max_rotation_degrees(10.0)));
    let run = (&config, &training, (size, n_train, annotators, seed));
    let mut trainer = Trainer::new(
        &trainer_config,
        network,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(seed + 1),
        &run,
    )?
    .with_checkpoints(out.join("checkpoints"))?
    .with_progress(TrainingProgress::new("train", steps));
    let generator = config.generator.init()?;
    while !trainer.is_finished() {
        segmentation_step::<4, _>(&mut trainer, &generator, &data, &training)?;
    }
    let losses = trainer.history().losses();
    let tail = &losses[losses.len().saturating_sub(50)..];
    println!(
        "trained {steps} steps in {:.0} s (loss first 50: {:.4}, last 50: {:.4})",
        started.elapsed().as_secs_f64(),
        mean(&losses[..losses.len().min(50)].iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
        mean(&tail.iter().map(|&v| f64::from(v)).collect::<Vec<_>>())
    );

    // 3. Evaluation with the EMA weights.
    let segmenter = SdfSegmenter::new(trainer.inference_model(), &config)?;
    let images = test.images_tensor(&device);
    let shape = [size, size];
    println!(
        "\n| ODE steps | NFE/sample | Dice (sample) | IoU (sample) | HD95 (sample) | Dice (mean of 16) | GED (16) | time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut last = None;
    for &n_steps in &STEP_COUNTS {
        let t0 = Instant::now();
        let seg =
            segmenter.segment(images.clone(), MAX_SAMPLES, n_steps, &mut seeded_rng(seed + 7))?;
        let samples = host_masks(&seg.masks)?;
        let per_sample =
            Scores::of(samples.iter().flat_map(|s| s.iter().enumerate()), &test, &shape)?;
        let ensemble =
            Scores::of(ensemble_masks(&seg, MAX_SAMPLES)?.iter().enumerate(), &test, &shape)?;
        let ged = mean_ged(&samples, MAX_SAMPLES, &test)?;
        println!(
            "| {n_steps} | {} | {:.3} | {:.3} | {} | {:.3} | {ged:.3} | {:.1} |",
            seg.nfe,
            per_sample.dice,
            per_sample.iou,
            per_sample.hd95_text(),
            ensemble.dice,
            t0.elapsed().as_secs_f64()
        );
        last = Some((seg, samples));
    }
    let (seg, samples) = last.ok_or("no evaluation ran")?;
    let n_final = STEP_COUNTS[STEP_COUNTS.len() - 1];
    println!(
        "\n| samples K ({n_final} steps) | Dice (mean mask) | IoU (mean mask) | HD95 (mean mask) | GED | sample diversity |"
    );
    println!("|---|---|---|---|---|---|");
    for &k in &ENSEMBLES {
        let masks = ensemble_masks(&seg, k)?;
        let scores = Scores::of(masks.iter().enumerate(), &test, &shape)?;
        let (ged, diversity) = ged_and_diversity(&samples, k, &test)?;
        println!(
            "| {k} | {:.3} | {:.3} | {} | {ged:.3} | {diversity:.3} |",
            scores.dice,
            scores.iou,
            scores.hd95_text()
        );
    }

    // 4. Uncertainty vs error (K = 16, majority mask vs the true mask), and near the boundary.
    let entropy = host_values(seg.stats.entropy.clone())?;
    let majority = host_masks(std::slice::from_ref(&seg.stats.majority))?.remove(0);
    let len = size * size;
    let mut errors = Vec::with_capacity(entropy.len());
    let (mut near, mut far) = (Vec::new(), Vec::new());
    for i in 0..n_test {
        let truth = test.truth(i);
        errors.extend(majority[i].iter().zip(truth).map(|(m, t)| m != t));
        let b = boundary_uncertainty(&entropy[i * len..(i + 1) * len], truth, &shape, 1.5)?;
        near.push(b.near);
        far.push(b.far);
    }
    let r = uncertainty_error_correlation(&entropy, &errors)?;
    let wrong: Vec<f64> =
        entropy.iter().zip(&errors).filter(|(_, e)| **e).map(|(u, _)| *u).collect();
    let right: Vec<f64> =
        entropy.iter().zip(&errors).filter(|(_, e)| !**e).map(|(u, _)| *u).collect();
    println!("\nuncertainty (entropy of K = 16, nats) vs error of the majority mask:");
    println!(
        "  Pearson correlation {r:.3}; mean entropy on wrong pixels {:.3}, on right pixels {:.3}",
        mean(&wrong),
        mean(&right)
    );
    println!(
        "  mean entropy within 1.5 px of the true boundary {:.3}, elsewhere {:.4}",
        mean(&near),
        mean(&far)
    );

    // 5. One panel per test image: image, reference, 4 samples, mean, entropy.
    for i in 0..n_test {
        let path = out.join(format!("panel_{i:03}.png"));
        panel(&test, &seg, i, &device)?.save(&path)?;
    }
    println!(
        "\nwrote {n_test} panels to {} in {:.0} s total",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Mean Dice, IoU and HD95 of masks against the true masks of their test images.
struct Scores {
    dice: f64,
    iou: f64,
    hd95: f64,
    /// Pairs without a surface (an empty mask), left out of HD95.
    empty: usize,
}

impl Scores {
    /// Scores `(image index, mask)` pairs.
    fn of<'a, I>(
        masks: I,
        test: &AmbiguousPhantoms,
        shape: &[usize],
    ) -> Result<Self, Box<dyn Error>>
    where
        I: Iterator<Item = (usize, &'a Vec<bool>)>,
    {
        let (mut d, mut j, mut h, mut empty) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for (i, mask) in masks {
            let truth = test.truth(i);
            d.push(dice(mask, truth)?);
            j.push(iou(mask, truth)?);
            match surface_distances(mask, truth, shape, &SurfaceDistanceConfig::new()) {
                Ok(s) => h.push(s.percentile_hausdorff),
                Err(_) => empty += 1,
            }
        }
        Ok(Self { dice: mean(&d), iou: mean(&j), hd95: mean(&h), empty })
    }

    fn hd95_text(&self) -> String {
        if self.empty == 0 {
            format!("{:.2}", self.hd95)
        } else {
            format!("{:.2} ({} empty)", self.hd95, self.empty)
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// Reads tensors `[N, 1, H, W]` of 0/1 back as `N` boolean masks each.
fn host_masks(masks: &[Tensor<4>]) -> Result<Vec<Vec<Vec<bool>>>, Box<dyn Error>> {
    masks
        .iter()
        .map(|m| {
            let [n, _, h, w] = m.dims();
            let v = m.clone().try_into_vec_as::<f32>().map_err(|e| format!("{e:?}"))?;
            Ok(v.chunks(h * w).take(n).map(|c| c.iter().map(|&x| x > 0.5).collect()).collect())
        })
        .collect()
}

fn host_values(t: Tensor<4>) -> Result<Vec<f64>, Box<dyn Error>> {
    Ok(t.try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))?
        .into_iter()
        .map(f64::from)
        .collect())
}

/// The majority masks of the first `k` samples of `seg`, one per test image.
fn ensemble_masks(seg: &Segmentation<4>, k: usize) -> Result<Vec<Vec<bool>>, Box<dyn Error>> {
    let stats = EnsembleStats::from_masks(&seg.masks[..k])?;
    Ok(host_masks(&[stats.majority])?.remove(0))
}

/// GED and sample diversity of the first `k` samples against the annotations, averaged
/// over test images.
fn ged_and_diversity(
    samples: &[Vec<Vec<bool>>],
    k: usize,
    test: &AmbiguousPhantoms,
) -> Result<(f64, f64), Box<dyn Error>> {
    let (mut geds, mut diversity) = (Vec::new(), Vec::new());
    for i in 0..test.len() {
        let drawn: Vec<&[bool]> = samples[..k].iter().map(|s| s[i].as_slice()).collect();
        let e = generalized_energy_distance(&drawn, &test.annotations(i))?;
        geds.push(e.ged);
        diversity.push(e.sample_diversity);
    }
    Ok((mean(&geds), mean(&diversity)))
}

fn mean_ged(
    samples: &[Vec<Vec<bool>>],
    k: usize,
    test: &AmbiguousPhantoms,
) -> Result<f64, Box<dyn Error>> {
    Ok(ged_and_diversity(samples, k, test)?.0)
}

/// One row: image, true mask, 4 samples, mean mask, entropy / ln 2, all in [0, 1].
fn panel(
    test: &AmbiguousPhantoms,
    seg: &Segmentation<4>,
    i: usize,
    device: &Device,
) -> Result<GridBuilder, Box<dyn Error>> {
    let [h, w] = [test.spatial[0], test.spatial[1]];
    let item = |t: &Tensor<4>| t.clone().narrow(0, i, 1);
    let image = test.images_tensor(device).narrow(0, i, 1).add_scalar(1.0).div_scalar(2.0);
    let truth: Vec<f32> = test.truth(i).iter().map(|&m| f32::from(u8::from(m))).collect();
    let truth = Tensor::<4>::from_data(TensorData::new(truth, [1, 1, h, w]), device);
    let mut cells = vec![image, truth];
    cells.extend(seg.masks.iter().take(4).map(item));
    cells.push(item(&seg.stats.mean));
    cells.push(item(&seg.stats.entropy).div_scalar(std::f32::consts::LN_2));
    Ok(GridBuilder::new().scale(4).image_row(Tensor::cat(cells, 0), (0.0, 1.0))?)
}

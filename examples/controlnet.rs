//! # ControlNet: brain phantoms drawn to follow a given tissue label map
//!
//! A diffusion model trained without labels draws plausible phantoms, but not *the* phantom a
//! label map describes. ControlNet (Zhang et al., 2023; MONAI's `ControlNet`) adds that control
//! afterwards, without retraining the model:
//!
//! 1. train a small unconditional U-Net denoiser on 32x32 phantoms (DDPM ε-prediction) — the
//!    *base* model;
//! 2. copy its encoder into a ControlNet (`ControlNetConfig::init_from_unet`), freeze the base
//!    (`ControlledUNet::new`) and train only the ControlNet on pairs (image, tissue label map).
//!    The label map is the *hint*: one channel per tissue (one-hot, 7 channels). The
//!    ControlNet's zero convolutions start at zero, so training starts from the base model
//!    exactly and only learns how the hint should move it;
//! 3. for label maps of held-out subjects, sample with DDIM at conditioning scales 1, 0.5 and 0
//!    (scale 0 *is* the base model: same noise, no control), segment every sample with fixed
//!    intensity thresholds and print the mean Dice of the white-matter and head masks against
//!    the given label map. The same thresholds on the real phantoms give the upper bound of
//!    this simple segmentation; scale 0 gives the agreement of an unrelated phantom (all
//!    heads are roughly the same ellipse, so it is far from zero).
//!
//! It writes `controlnet.png`: two subjects per row, each as label map | ControlNet sample
//! (scale 1) | base sample (scale 0, same noise) | real phantom of that label map.
//!
//! Default run: about 8 minutes on 2 CPU cores (7 min 42 s measured on a shared 2-core machine;
//! the numbers it printed are in docs/conditioning.md).
//! The (image, label map) pairs come from the seeded phantom generator; this example takes no
//! `--data` folder, since a user's own data would need paired label maps of the same tissues.
//!
//! ```sh
//! cargo run --release --example controlnet -- --out out/controlnet
//! # a shorter smoke run:
//! cargo run --release --example controlnet -- --out out/cn --steps 100 --control-steps 100
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Int, Tensor};
use medgen::core::{Condition, DeviceChoice, Sample, init_seeded, seeded_rng};
use medgen::data::{PhantomConfig, tissue};
use medgen::diffusion::{
    DdimSchedulerConfig, DenoisingLossConfig, DiffusionPipeline, ScheduleConfig, SchedulerConfig,
};
use medgen::metrics::dice;
use medgen::nn::{ControlNetConfig, ControlledUNet, UNet, UNetConfig};
use medgen::train::viz::{GridBuilder, label_map_to_rgb};
use medgen::train::{
    EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
    on_autodiff,
};

/// Label map → phantom with a ControlNet on a frozen diffusion model.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/controlnet")]
    out: PathBuf,
    /// Training steps of the base (unconditional) U-Net.
    #[arg(long, default_value_t = 800)]
    steps: usize,
    /// Training steps of the ControlNet (the base stays frozen).
    #[arg(long, default_value_t = 600)]
    control_steps: usize,
    /// DDIM steps.
    #[arg(long, default_value_t = 50)]
    sampling_steps: usize,
    /// Held-out label maps to sample and score.
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

const SIZE: usize = 32;
const TRAIN: usize = 1024;
const BATCH: usize = 16;
/// Hint channels: one per tissue label (background, skull, CSF, grey, white, ventricle, lesion).
const HINT_CHANNELS: usize = tissue::COUNT;
/// Subjects shown in the PNG, two per row.
const SHOWN: usize = 6;
/// Conditioning scales sampled, strongest first; the last one (0) is the base model.
const SCALES: [f64; 3] = [1.0, 0.5, 0.0];

/// Intensity thresholds in [-1, 1] (phantom tissue means in [0, 1]: background 0, ventricle
/// 0.12, CSF 0.22, grey 0.5, white 0.72, skull 0.9; [-1, 1] is `2u − 1`). White matter lies
/// between the grey/white and the white/skull midpoints (0.61 and 0.81 → 0.22 and 0.62); the
/// background is whatever is darker than −0.6 (u = 0.2, just below CSF) and connected to the
/// image border; the bright skull ring walls it off, so the dark CSF and ventricles inside
/// count as head (see [`Masks::of_images`]).
const WHITE_LOW: f32 = 0.22;
const WHITE_HIGH: f32 = 0.62;
const BACKGROUND_HIGH: f32 = -0.6;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if args.steps == 0 || args.control_steps == 0 || args.samples == 0 {
        return Err("--steps, --control-steps and --samples must be positive".into());
    }
    let shown = SHOWN.min(args.samples);
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    // The training pairs: phantoms in [-1, 1] and their tissue label maps.
    let phantoms = PhantomConfig::new(SIZE);
    let data = phantoms.generate_batch(TRAIN, &mut rng)?.to_tensors::<4>(&train_device)?;
    println!("generated {TRAIN} phantoms of {SIZE}x{SIZE} with their label maps");
    let loss = DenoisingLossConfig::new()
        .with_min_snr_gamma(Some(5.0))
        .init(ScheduleConfig::new().init()?)?;
    let trainer_config = |steps: usize, lr: f64, ema: f64| {
        TrainerConfig::new(
            WarmupCosineConfig::new(lr, steps)
                .with_warmup_steps((steps / 10).min(100))
                .with_min_lr(lr / 20.0),
        )
        .with_max_grad_norm(Some(1.0))
        .with_ema(Some(EmaConfig::new().with_decay(ema)))
    };

    // 1. The base model: an unconditional U-Net denoiser (quickstart's layout).
    let unet = UNetConfig::new(1, 1)
        .with_base_channels(16)
        .with_channel_mults(vec![1, 2, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(8);
    let model = init_seeded(&train_device, &mut rng, |d| unet.init(d))?;
    println!("base U-Net: {} parameters", model.num_params());
    let mut trainer = Trainer::new(
        &trainer_config(args.steps, 2e-3, 0.995),
        model,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(seed + 1),
        &(),
    )?
    .with_progress(TrainingProgress::new("base U-Net", args.steps));
    loss.fit(&mut trainer, |_step, rng| {
        Ok((data.random_batch(BATCH, rng)?.images, Condition::none()))
    })?;
    // The EMA weights, put back on the autodiff device: the base stays frozen, but the
    // ControlNet's gradients flow through it.
    let base: UNet = on_autodiff(trainer.inference_model());
    println!("base trained in {:.0} s", started.elapsed().as_secs_f64());

    // 2. The ControlNet: the base's encoder, copied, reading the one-hot label map. The base
    //    inside `ControlledUNet` is frozen, so the optimiser updates the ControlNet only.
    let controlnet = ControlNetConfig::new(HINT_CHANNELS).init_from_unet(&base, &train_device)?;
    let controlled = ControlledUNet::new(base, controlnet)?;
    println!(
        "ControlNet: {} trainable parameters beside the frozen base",
        controlled.controlnet().num_params()
    );
    let stage = Instant::now();
    let mut trainer = Trainer::new(
        &trainer_config(args.control_steps, 1e-3, 0.99),
        controlled,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(seed + 2),
        &(),
    )?
    .with_progress(TrainingProgress::new("ControlNet", args.control_steps));
    loss.fit(&mut trainer, |_step, rng| {
        let drawn = data.random_batch(BATCH, rng)?;
        Ok((drawn.images, Condition::none().with_control(one_hot(&drawn.labels))))
    })?;
    let controlled = trainer.inference_model().valid();
    println!("ControlNet trained in {:.0} s", stage.elapsed().as_secs_f64());

    // 3. Held-out label maps → samples at each conditioning scale, from the same noise.
    let held_out = phantoms.generate_batch(args.samples, &mut seeded_rng(seed + 3))?;
    let real = held_out.to_tensors::<4>(&device)?;
    let condition = Condition::none().with_control(one_hot(&real.labels));
    let scheduler = SchedulerConfig::Ddim(DdimSchedulerConfig::new());
    let reference = Masks::of_labels(&held_out.labels);
    let real_scores = reference.dice(&Masks::of_images(&host(real.images.clone())?));
    let mut rows = Vec::new();
    let mut samples_by_scale = Vec::new();
    for scale in SCALES {
        let network = controlled.clone().with_conditioning_scale(scale)?;
        let pipeline = DiffusionPipeline::new(
            network,
            scheduler.clone(),
            args.sampling_steps,
            &[1, SIZE, SIZE],
        )?;
        let stage = Instant::now();
        let samples = pipeline
            .sample(args.samples, &condition, &mut seeded_rng(seed + 4), &device)?
            .samples
            .clamp(-1.0, 1.0);
        let scores = reference.dice(&Masks::of_images(&host(samples.clone())?));
        println!(
            "sampled {} images at conditioning scale {scale} in {:.1} s",
            args.samples,
            stage.elapsed().as_secs_f64()
        );
        rows.push((scale, scores));
        samples_by_scale.push(samples);
    }

    println!(
        "\nmean Dice of the threshold segmentation against the given label maps ({} held-out maps):",
        args.samples
    );
    println!("  {:<32} {:>12} {:>8}", "images", "white matter", "head");
    println!(
        "  {:<32} {:>12.3} {:>8.3}",
        "real phantoms (upper bound)", real_scores.0, real_scores.1
    );
    for (scale, (white, head)) in &rows {
        let name = if *scale == 0.0 {
            "base U-Net (scale 0)".to_string()
        } else {
            format!("ControlNet, scale {scale}")
        };
        println!("  {name:<32} {white:>12.3} {head:>8.3}");
    }

    // The picture: per subject, label map | scale 1 | scale 0 | real, two subjects per row.
    let to_rgb =
        |images: &Tensor<4>| images.clone().add_scalar(1.0).div_scalar(2.0).repeat_dim(1, 3);
    let labels = label_map_to_rgb(real.labels.clone())?;
    let controlled_samples = &samples_by_scale[0];
    let base_samples = &samples_by_scale[SCALES.len() - 1];
    let mut cells = Vec::new();
    for i in 0..shown {
        cells.push(labels.clone().narrow(0, i, 1));
        for images in [controlled_samples, base_samples, &real.images] {
            cells.push(to_rgb(images).narrow(0, i, 1));
        }
    }
    let grid = args.out.join("controlnet.png");
    GridBuilder::new().scale(2).images(Tensor::cat(cells, 0), (0.0, 1.0), 8)?.save(&grid)?;
    println!(
        "\nwrote {} (label map | scale 1 | scale 0 | real, two subjects per row) in {:.0} s total",
        grid.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The hint: a label map `[N, 1, H, W]` as one-hot tissue channels `[N, 7, H, W]` in {0, 1}.
fn one_hot(labels: &Tensor<4, Int>) -> Tensor<4> {
    let channels =
        (0..HINT_CHANNELS).map(|k| labels.clone().equal_elem(k as i64).float()).collect();
    Tensor::cat(channels, 1)
}

/// The complement of the background: the pixels off in `mask` that are 4-connected to the
/// image border through pixels off in `mask` (`SIZE x SIZE`); everything else is on.
fn fill_holes(mask: &[bool]) -> Vec<bool> {
    let mut background = vec![false; SIZE * SIZE];
    let border = (0..SIZE * SIZE).filter(|&i| {
        let (y, x) = (i / SIZE, i % SIZE);
        y == 0 || x == 0 || y == SIZE - 1 || x == SIZE - 1
    });
    let mut stack: Vec<usize> = border.filter(|&i| !mask[i]).collect();
    while let Some(i) = stack.pop() {
        if background[i] || mask[i] {
            continue;
        }
        background[i] = true;
        let (y, x) = (i / SIZE, i % SIZE);
        if y > 0 {
            stack.push(i - SIZE);
        }
        if y + 1 < SIZE {
            stack.push(i + SIZE);
        }
        if x > 0 {
            stack.push(i - 1);
        }
        if x + 1 < SIZE {
            stack.push(i + 1);
        }
    }
    background.iter().map(|&b| !b).collect()
}

/// A `SIZE x SIZE` mask after a 3x3 majority vote (pixels outside the image count as off).
fn majority_3x3(mask: &[bool]) -> Vec<bool> {
    let on = |y: isize, x: isize| {
        let inside = (0..SIZE as isize).contains(&y) && (0..SIZE as isize).contains(&x);
        inside && mask[y as usize * SIZE + x as usize]
    };
    (0..SIZE * SIZE)
        .map(|i| {
            let (y, x) = ((i / SIZE) as isize, (i % SIZE) as isize);
            let votes = (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx)));
            votes.filter(|&(dy, dx)| on(y + dy, x + dx)).count() >= 5
        })
        .collect()
}

/// Reads images `[N, 1, H, W]` back to the host.
fn host(images: Tensor<4>) -> Result<Vec<f32>, Box<dyn Error>> {
    Ok(images.into_data().try_to_vec::<f32>()?)
}

/// White-matter and head masks of a set of images, one `Vec<bool>` per image.
struct Masks {
    white: Vec<Vec<bool>>,
    head: Vec<Vec<bool>>,
}

impl Masks {
    /// From label maps (`N · H · W` labels): white matter is `WHITE`, the head is not
    /// `BACKGROUND`.
    fn of_labels(labels: &[u8]) -> Self {
        Self::per_image(labels, |&l| l == tissue::WHITE, |&l| l != tissue::BACKGROUND)
    }

    /// From images in [-1, 1] by the intensity thresholds above. The head is what the
    /// background, flooded in from the border, does not reach, after a 3x3 majority vote
    /// (a pixel stays when at least 5 of its 9 neighbours are head): a briefly trained model
    /// leaves isolated specks in the black background, which would otherwise count as head.
    fn of_images(images: &[f32]) -> Self {
        let mut masks =
            Self::per_image(images, |&v| WHITE_LOW < v && v < WHITE_HIGH, |&v| v > BACKGROUND_HIGH);
        masks.head = masks.head.iter().map(|mask| majority_3x3(&fill_holes(mask))).collect();
        masks
    }

    fn per_image<T>(values: &[T], white: impl Fn(&T) -> bool, head: impl Fn(&T) -> bool) -> Self {
        let split = |f: &dyn Fn(&T) -> bool| {
            values.chunks_exact(SIZE * SIZE).map(|image| image.iter().map(f).collect()).collect()
        };
        Self { white: split(&white), head: split(&head) }
    }

    /// Mean Dice of `prediction`'s masks against these: `(white matter, head)`.
    fn dice(&self, prediction: &Masks) -> (f64, f64) {
        let mean = |a: &[Vec<bool>], b: &[Vec<bool>]| {
            let scores: Vec<f64> =
                a.iter().zip(b).map(|(a, b)| dice(a, b).unwrap_or(0.0)).collect();
            scores.iter().sum::<f64>() / scores.len() as f64
        };
        (mean(&self.white, &prediction.white), mean(&self.head, &prediction.head))
    }
}

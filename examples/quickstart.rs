//! # Quickstart: train a diffusion model on brain phantoms, then sample from it
//!
//! The whole medgen loop in one file, on the CPU in a few minutes:
//!
//! 1. generate a data set of synthetic brain phantoms (medgen downloads nothing);
//! 2. train a small U-Net as a DDPM noise predictor (ε-prediction, min-SNR-5 weighting) with
//!    AdamW, warm-up + cosine learning rate, gradient clipping, an EMA of the weights and a
//!    resumable checkpoint;
//! 3. sample new phantoms from the EMA weights with DDIM (or any scheduler by name: `ddpm`,
//!    `euler`, `heun`, `dpm++2m`, `dpm++3m`, `dpm++2m-sde`, each also with `-karras`,
//!    `euler-ancestral`, `pndm`, `plms`; see docs/schedulers.md);
//! 4. write `samples.png`, `loss.png` and `checkpoints/step-*.ckpt` into `--out`.
//!
//! ```sh
//! cargo run --release --example quickstart -- --out out/quickstart
//! # class-conditional phantoms (0: healthy, 1: dark lesions, 2: bright lesions), guidance 3:
//! cargo run --release --example quickstart -- --out out/cfg --guidance 3
//! # continue an interrupted run:
//! cargo run --release --example quickstart -- --out out/quickstart --resume out/quickstart/checkpoints
//! ```

use clap::Parser;
use std::error::Error;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Tensor, TensorData};
use medgen::core::{Condition, DeviceChoice, Sample, init_seeded, seeded_rng};
use medgen::data::PhantomConfig;
use medgen::diffusion::{
    DenoisingLossConfig, DiffusionPipeline, GuidanceConfig, ScheduleConfig, SchedulerConfig,
};
use medgen::nn::UNetConfig;
use medgen::train::viz::{GridBuilder, LossPlotConfig, save_loss_plot};
use medgen::train::{
    Checkpoint, EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress,
    WarmupCosineConfig, latest_checkpoint,
};

/// Train a DDPM on brain phantoms and sample from it.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/quickstart")]
    out: PathBuf,
    /// Image size in pixels, a multiple of 4.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Training steps.
    #[arg(long, default_value_t = 1200)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// U-Net base channels, a multiple of 8.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// ddpm | ddim | euler | heun | dpm++2m | dpm++3m | dpm++2m-sde (each also -karras) |
    /// euler-ancestral | pndm | plms, or a JSON object naming one and overriding fields, e.g.
    /// `{"scheduler": "dpm++2m", "thresholding": true}` (see docs/schedulers.md).
    #[arg(long, default_value = "ddim")]
    sampler: String,
    /// Sampler steps.
    #[arg(long, default_value_t = 50)]
    sampling_steps: usize,
    /// Images to draw.
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// Class-conditional model sampled with guidance scale W (W >= 1; default 0: unconditional).
    #[arg(long, default_value_t = 0.0)]
    guidance: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Continue from a checkpoint file or a checkpoint folder.
    #[arg(long)]
    resume: Option<PathBuf>,
}

/// Number of phantoms in the training set.
const DATASET_SIZE: usize = 1024;
/// Pathology classes of the phantoms (healthy, hypo-intense lesions, hyper-intense lesions).
const NUM_CLASSES: usize = 3;
/// Classifier-free-guidance training: probability of dropping the class label.
const CONDITION_DROP_PROB: f64 = 0.1;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let size = args.size;
    let steps = args.steps;
    let batch = args.batch;
    let channels = args.channels;
    let sampler = args.sampler.clone();
    let sampling_steps = args.sampling_steps;
    let samples = args.samples;
    let guidance = args.guidance;
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    if batch == 0 || samples == 0 || steps == 0 || !(guidance == 0.0 || guidance >= 1.0) {
        return Err(
            "--batch, --samples and --steps must be positive, --guidance 0 or >= 1; see --help"
                .to_string()
                .into(),
        );
    }
    let conditional = guidance >= 1.0;
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    // 1. The training set: phantoms in [-1, 1] with their pathology class.
    let data = PhantomConfig::new(size)
        .generate_batch(DATASET_SIZE, &mut rng)?
        .to_tensors::<4>(&train_device)?;
    println!("generated {DATASET_SIZE} phantoms of {size}x{size}");

    // 2. The model: a small U-Net (no attention at this size), class-conditional on demand.
    let unet = UNetConfig::new(1, 1)
        .with_base_channels(channels)
        .with_channel_mults(vec![1, 2, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(8)
        .with_num_classes(conditional.then_some(NUM_CLASSES));
    let schedule = ScheduleConfig::new();
    let loss = DenoisingLossConfig::new()
        .with_min_snr_gamma(Some(5.0))
        .with_condition_drop_prob(if conditional { CONDITION_DROP_PROB } else { 0.0 });
    let trainer_config = TrainerConfig::new(
        WarmupCosineConfig::new(2e-3, steps)
            .with_warmup_steps((steps / 10).min(200))
            .with_min_lr(1e-4),
    )
    .with_max_grad_norm(Some(1.0))
    .with_ema(Some(EmaConfig::new().with_decay(0.995)))
    .with_checkpoint_every(500);
    // Everything that shapes the run; a resume must present the same.
    let run = (&unet, &schedule, &loss, (size, batch, seed, DATASET_SIZE));
    // Initial weights from the seeded generator: the same seed gives the same run.
    let model = init_seeded(&train_device, &mut rng, |d| unet.init(d))?;
    println!("U-Net with {} parameters", model.num_params());
    let optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
    let trainer = match args.resume.as_deref() {
        Some(path) => {
            let checkpoint = Checkpoint::read(resolve_checkpoint(path)?)?;
            println!("resuming from step {}", checkpoint.step());
            Trainer::resume(&trainer_config, model, optimizer, &checkpoint, &run)?
        }
        None => Trainer::new(&trainer_config, model, optimizer, seeded_rng(seed + 1), &run)?,
    };
    let mut trainer = trainer
        .with_checkpoints(out.join("checkpoints"))?
        .with_progress(TrainingProgress::new("train", steps));

    // 3. Training: each step draws a random mini-batch, then the denoising loss.
    let loss = loss.init(schedule.init()?)?;
    loss.fit(&mut trainer, |_step, rng| {
        let drawn = data.random_batch(batch, rng)?;
        let condition = if conditional {
            Condition::none().with_class(drawn.classes)
        } else {
            Condition::none()
        };
        Ok((drawn.images, condition))
    })?;
    let train_time = started.elapsed();
    save_loss_plot(out.join("loss.png"), trainer.history(), &LossPlotConfig::new())?;
    println!(
        "trained {steps} steps in {:.0} s; wrote {}",
        train_time.as_secs_f64(),
        out.join("loss.png").display()
    );

    // 4. Sampling from the EMA weights.
    let network = trainer.inference_model();
    let condition = if conditional {
        let classes: Vec<i32> = (0..samples).map(|i| (i % NUM_CLASSES) as i32).collect();
        Condition::none()
            .with_class(Tensor::from_data(TensorData::new(classes, [samples]), &device))
    } else {
        Condition::none()
    };
    let guidance = GuidanceConfig::new().with_scale(guidance.max(1.0));
    let scheduler: SchedulerConfig = sampler.parse()?;
    // DDPM's ancestral steps need many more evaluations than the ODE samplers.
    let steps = match scheduler {
        SchedulerConfig::Ddpm(_) => sampling_steps.max(100),
        _ => sampling_steps,
    };
    let pipeline = DiffusionPipeline::new(network, scheduler, steps, &[1, size, size])?
        .with_guidance(guidance);
    let sampling_started = Instant::now();
    let output = pipeline.sample(samples, &condition, trainer.rng_mut(), &device)?;
    println!("  {} network evaluations", output.nfe);
    let images = output.samples;
    println!(
        "sampled {samples} images with {sampler} in {:.1} s",
        sampling_started.elapsed().as_secs_f64()
    );
    let grid = out.join("samples.png");
    GridBuilder::new().scale(2).images(images.clamp(-1.0, 1.0), (-1.0, 1.0), 8)?.save(&grid)?;
    println!("wrote {} (total {:.0} s)", grid.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// A checkpoint file, or the newest checkpoint in a folder.
fn resolve_checkpoint(path: &Path) -> Result<std::path::PathBuf, Box<dyn Error>> {
    if path.is_dir() {
        return latest_checkpoint(path)?
            .ok_or_else(|| format!("no checkpoint in {}", path.display()).into());
    }
    Ok(path.to_path_buf())
}

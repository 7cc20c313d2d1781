//! # Flow matching on brain phantoms: class-conditional OT-CFM, sampled with few or many steps
//!
//! 1. generate synthetic brain phantoms with their pathology class (0: healthy, 1: dark
//!    lesions, 2: bright lesions);
//! 2. train a small class-conditional U-Net as a velocity field `v_θ(x, t, c)` with the
//!    conditional flow-matching loss `½‖v_θ(x_t, t, c) − u_t‖²` (straight paths from Gaussian
//!    noise, minibatch optimal-transport coupling by default, 10 % label dropout for
//!    classifier-free guidance), AdamW, warm-up + cosine learning rate and an EMA;
//! 3. draw the same noise once and integrate `dx/dt = v_θ` from `t = 0` to `t = 1` with Euler
//!    in 1, 2, 4, 8 and 32 steps and with adaptive Dopri5, printing the number of network
//!    evaluations (NFE) and the Fréchet distance to held-out phantoms in a simple feature
//!    space (8 × 8 average-pooled pixels) for each;
//! 4. write `samples_<setting>.png` per setting and `grid.png` (one row per setting, held-out
//!    phantoms in the first row) into `--out`.
//!
//! ```sh
//! cargo run --release --example flow_matching -- --out out/flow_matching
//! # independent coupling (I-CFM) and guidance scale 2:
//! cargo run --release --example flow_matching -- --coupling independent --guidance 2
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Int, Tensor, TensorData};
use medgen::core::noise::gaussian_noise;
use medgen::core::ode::{Dopri5Config, OdeSolver};
use medgen::core::{Condition, DeviceChoice, TimeConditionedNetwork, init_seeded, seeded_rng};
use medgen::data::PhantomConfig;
use medgen::flow::matching::{
    ClassifierFreeGuidance, Coupling, FlowMatchingLossConfig, GuidanceConfig, ProbabilityPath,
    SinkhornConfig, integrate_flow,
};
use medgen::metrics::{FeatureMatrix, FrechetOptions, frechet_distance_from_features};
use medgen::nn::{UNet, UNetConfig};
use medgen::train::viz::{GridBuilder, LossPlotConfig, save_loss_plot};
use medgen::train::{
    EmaConfig, Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
};
use rand::RngExt;

/// Class-conditional flow matching on brain phantoms.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/flow_matching")]
    out: PathBuf,
    /// Image size in pixels, a multiple of 8.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Training steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// U-Net base channels, a multiple of 8.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// independent | ot | sinkhorn.
    #[arg(long, default_value = "ot")]
    coupling: String,
    /// Path noise σ >= 0.
    #[arg(long, default_value_t = 0.0)]
    sigma: f64,
    /// Classifier-free guidance scale W >= 0.
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// Images per setting and held-out phantoms for the distance.
    #[arg(long, default_value_t = 128)]
    samples: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Number of phantoms in the training set.
const DATASET_SIZE: usize = 1024;
/// Pathology classes of the phantoms.
const NUM_CLASSES: usize = 3;
/// Classifier-free-guidance training: probability of dropping the class label.
const CONDITION_DROP_PROB: f64 = 0.1;
/// The U-Net's sinusoidal time features are laid out for diffusion timesteps `0..1000`; flow
/// time `t ∈ [0, 1]` is shown to it as `1000 t`.
const TIME_SCALE: f64 = 1000.0;
/// Side of the average-pooled feature image (features: `POOLED² = 64` pooled pixels).
const POOLED: usize = 8;

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
    let size = args.size;
    let steps = args.steps;
    let batch = args.batch;
    let channels = args.channels;
    let coupling = args.coupling.clone();
    let sigma = args.sigma;
    let guidance = args.guidance;
    let samples = args.samples;
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    if batch == 0 || samples < 2 || steps == 0 || !size.is_multiple_of(POOLED) {
        return Err(format!(
            "--batch, --steps must be positive, --samples >= 2, --size a multiple of {POOLED}; see --help"
        )
        .into());
    }
    let coupling = match coupling.as_str() {
        "independent" => Coupling::Independent,
        "ot" => Coupling::ExactOptimalTransport,
        "sinkhorn" => Coupling::Sinkhorn(SinkhornConfig::new(2.0 * sigma.max(0.1).powi(2))),
        other => return Err(format!("unknown --coupling {other}; see --help").into()),
    };
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    // 1. Training phantoms, and held-out phantoms for the distance (with their classes, which
    //    the generated samples are conditioned on, so that both sets have one class mix).
    let data = PhantomConfig::new(size)
        .generate_batch(DATASET_SIZE, &mut rng)?
        .to_tensors::<4>(&train_device)?;
    let held_out =
        PhantomConfig::new(size).generate_batch(samples, &mut rng)?.to_tensors::<4>(&device)?;
    let second_held_out =
        PhantomConfig::new(size).generate_batch(samples, &mut rng)?.to_tensors::<4>(&device)?;
    println!("generated {DATASET_SIZE} training phantoms of {size}x{size}");

    // 2. A small class-conditional U-Net trained by conditional flow matching.
    let unet = UNetConfig::new(1, 1)
        .with_base_channels(channels)
        .with_channel_mults(vec![1, 2, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(8)
        .with_num_classes(Some(NUM_CLASSES));
    let loss = FlowMatchingLossConfig::new()
        .with_path(ProbabilityPath::Linear { sigma })
        .with_coupling(coupling)
        .with_condition_drop_prob(CONDITION_DROP_PROB);
    let trainer_config = TrainerConfig::new(
        WarmupCosineConfig::new(2e-3, steps)
            .with_warmup_steps((steps / 10).min(200))
            .with_min_lr(1e-4),
    )
    .with_max_grad_norm(Some(1.0))
    .with_ema(Some(EmaConfig::new().with_decay(0.995)));
    let run = (&unet, &loss, (size, batch, seed, DATASET_SIZE));
    let model = VelocityUNet { unet: init_seeded(&train_device, &mut rng, |d| unet.init(d))? };
    println!("U-Net with {} parameters", model.num_params());
    let optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut trainer = Trainer::new(&trainer_config, model, optimizer, seeded_rng(seed + 1), &run)?
        .with_progress(TrainingProgress::new("train", steps));
    let loss = loss.init()?;
    loss.fit(&mut trainer, |_step, rng| {
        let indices: Vec<i32> =
            (0..batch).map(|_| rng.random_range(0..DATASET_SIZE) as i32).collect();
        let indices =
            Tensor::<1, Int>::from_data(TensorData::new(indices, [batch]), &data.images.device());
        let x1 = data.images.clone().select(0, indices.clone());
        let condition = Condition::none().with_class(data.classes.clone().select(0, indices));
        Ok((x1, condition))
    })?;
    save_loss_plot(out.join("loss.png"), trainer.history(), &LossPlotConfig::new())?;
    println!(
        "trained {steps} steps in {:.0} s; wrote {}",
        started.elapsed().as_secs_f64(),
        out.join("loss.png").display()
    );

    // 3. Sampling: one noise draw, integrated by each solver.
    let network = trainer.inference_model();
    let guided = ClassifierFreeGuidance::new(&network, GuidanceConfig::new().with_scale(guidance))?;
    let condition = Condition::none().with_class(held_out.classes.clone());
    let x0 = gaussian_noise([samples, 1, size, size], trainer.rng_mut(), &device)?;
    let reference = pooled_features(held_out.images.clone())?;
    let floor = frechet(&reference, &pooled_features(second_held_out.images)?, samples)?;
    println!("Fréchet distance (8x8 pooled pixels) between two held-out sets: {floor:.4}");
    let shown = 8.min(samples);
    let mut grid =
        GridBuilder::new().scale(2).image_row(held_out.images.narrow(0, 0, shown), (-1.0, 1.0))?;
    let settings = [1, 2, 4, 8, 32]
        .map(|steps| (format!("euler_{steps}"), OdeSolver::Euler { steps }))
        .into_iter()
        .chain([("dopri5".to_string(), OdeSolver::Dopri5(Dopri5Config::new(1e-4, 1e-4)))]);
    println!("setting    NFE   Fréchet distance   seconds");
    for (name, solver) in settings {
        let sampling_started = Instant::now();
        let flow = integrate_flow(&guided, x0.clone(), &condition, &solver, (0.0, 1.0))?;
        let images = flow.sample.clamp(-1.0, 1.0);
        let distance = frechet(&reference, &pooled_features(images.clone())?, samples)?;
        println!(
            "{name:<9} {:>4}   {distance:>16.4}   {:>7.1}",
            flow.nfe,
            sampling_started.elapsed().as_secs_f64()
        );
        GridBuilder::new()
            .scale(2)
            .images(images.clone(), (-1.0, 1.0), 16)?
            .save(out.join(format!("samples_{name}.png")))?;
        grid = grid.image_row(images.narrow(0, 0, shown), (-1.0, 1.0))?;
    }
    grid.save(out.join("grid.png"))?;
    println!(
        "wrote {} (rows: held-out phantoms, Euler 1/2/4/8/32 steps, Dopri5; total {:.0} s)",
        out.join("grid.png").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Simple image features: `[N, 1, S, S]` average-pooled to `[N, 8·8]`, read to the host.
fn pooled_features(images: Tensor<4>) -> Result<Vec<f64>, Box<dyn Error>> {
    let [n, c, h, w] = images.dims();
    let (ph, pw) = (h / POOLED, w / POOLED);
    let pooled = images
        .reshape([n * c, POOLED, ph, POOLED, pw])
        .mean_dim(4)
        .mean_dim(2)
        .reshape([n, c * POOLED * POOLED]);
    let values = pooled.try_into_vec_as::<f32>().map_err(|e| e.to_string())?;
    Ok(values.into_iter().map(f64::from).collect())
}

/// The Fréchet distance between Gaussians fitted to two feature sets of `n` rows each.
fn frechet(a: &[f64], b: &[f64], n: usize) -> Result<f64, Box<dyn Error>> {
    let d = a.len() / n;
    let distance = frechet_distance_from_features(
        FeatureMatrix::new(a, n, d, "held-out features")?,
        FeatureMatrix::new(b, n, d, "sample features")?,
        &FrechetOptions::new(),
    )?;
    Ok(distance.distance)
}

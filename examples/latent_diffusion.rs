//! # Latent diffusion: brain phantoms conditioned on age, sex and brain volume
//!
//! The two-stage recipe of Stable Diffusion / MONAI's `LatentDiffusionInferer` and of the
//! brain-imaging latent diffusion models conditioned on subject covariates, on the CPU:
//!
//! 1. train a convolutional VAE (32×32 phantoms → 4×8×8 latents; with `--dims 3`, 16×16×16
//!    phantom volumes → 4×4×4×4 latents);
//! 2. encode the training set (posterior means), estimate the scale factor `s = 1/std(z)`;
//! 3. train a small U-Net denoiser (ε-prediction, DDPM schedule) on `s·z`, conditioned on the
//!    covariate vector `[age, sex, brain volume]` (each mapped to [-1, 1]), dropped 10% of
//!    the time for classifier-free guidance;
//! 4. sample latents for the covariates of held-out subjects with DDIM and guidance, decode
//!    `D(ẑ / s)`;
//! 5. measure each covariate on the samples (ventricle size for age, head size for sex,
//!    brain size for brain volume: pixel or voxel counts) and print its correlation with the
//!    requested value; the same measures on real phantoms are printed as the reference.
//!
//! The same code runs in 2D and 3D: every step is generic over the tensor rank `D`.
//!
//! Default run: about 6 minutes on 2 CPU cores in 2D (6 min 15 s measured, with other work
//! running); see `docs/vae.md` for the 3D run.
//!
//! ```sh
//! cargo run --release --example latent_diffusion -- --out out/latent_diffusion
//! cargo run --release --example latent_diffusion -- --dims 3 --out out/latent_diffusion_3d
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::{AdamConfig, AdamWConfig};
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::{Condition, DeviceChoice, SeededRng, init_seeded, seeded_rng};
use medgen::data::{PhantomConfig, PhantomCovariates};
use medgen::diffusion::{DdimSchedulerConfig, DenoisingLossConfig, GuidanceConfig, ScheduleConfig};
use medgen::nn::UNetConfig;
use medgen::train::viz::GridBuilder;
use medgen::train::{
    Trainer, TrainerConfig, TrainingObjective, TrainingProgress, WarmupCosineConfig,
};
use medgen::vae::{
    BackboneConfig, LatentScale, Likelihood, Vae, VaeConfig, VaeError, VaeLossConfig,
    encode_dataset, latent_diffusion_sample,
};
use rand::RngExt;

/// Covariate-conditional phantoms by latent diffusion.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/latent_diffusion")]
    out: PathBuf,
    /// VAE training steps.
    #[arg(long, default_value_t = 600)]
    vae_steps: usize,
    /// Diffusion training steps.
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 3.0)]
    guidance: f64,
    /// DDIM steps.
    #[arg(long, default_value_t = 50)]
    sampling_steps: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Spatial dimensions: 2 (32×32 images) or 3 (16×16×16 volumes).
    #[arg(long, default_value_t = 2)]
    dims: usize,
}

/// Image side in 2D and volume side in 3D.
const SIZE_2D: usize = 32;
const SIZE_3D: usize = 16;
const TRAIN: usize = 1024;
/// Training batch in 2D; volumes train on half of it.
const BATCH: usize = 32;
/// Samples (the covariates of this many held-out subjects), shown in rows of [`COLUMNS`].
const SAMPLES: usize = 48;
const COLUMNS: usize = 8;
/// Relative head-size difference between the sexes in the phantoms.
const SEX_HEAD_DIFFERENCE: f64 = 0.08;
/// The covariates the network is conditioned on: columns of `PhantomCovariates::vector`.
const AGE: usize = 0;
const SEX: usize = 3;
const BRAIN: usize = 4;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    match args.dims {
        2 => run::<4>(&args, SIZE_2D),
        3 => run::<5>(&args, SIZE_3D),
        other => Err(format!("--dims must be 2 or 3, got {other}").into()),
    }
}

/// The whole recipe on tensors of rank `D` (4: images, 5: volumes) of side `size`.
fn run<const D: usize>(args: &Args, size: usize) -> Result<(), Box<dyn Error>> {
    let spatial_dims = D - 2;
    // A 3×3×3 convolution costs three times a 3×3 one per voxel: volumes get half the batch
    // and half the VAE widths, so that a 3D run costs about what a 2D run does.
    let (batch_size, vae_hidden) = match spatial_dims {
        2 => (BATCH, vec![16, 32, 64]),
        _ => (BATCH / 2, vec![8, 16, 32]),
    };
    let out = args.out.clone();
    let vae_steps = args.vae_steps;
    let steps = args.steps;
    let guidance = args.guidance;
    let sampling_steps = args.sampling_steps;
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    // The data: phantoms in [-1, 1] with their covariates.
    let phantoms = PhantomConfig::new(size).with_sex_head_difference(SEX_HEAD_DIFFERENCE);
    let generate = |n: usize, rng: &mut SeededRng| match spatial_dims {
        2 => phantoms.generate_batch(n, rng),
        _ => phantoms.generate_volume_batch(n, rng),
    };
    let batch = generate(TRAIN, &mut rng)?;
    let covariates = Covariates::of(&batch.covariates);
    let data = batch.to_tensors::<D>(&train_device)?;
    let embeddings = covariates.embedding(&train_device);
    let real = Measures::of(&data.images.clone().inner())?;
    println!("{TRAIN} phantoms of side {size} in {spatial_dims}D; on real data:");
    real.report(&covariates);
    let trainer_config = |steps: usize, lr: f64| {
        TrainerConfig::new(
            WarmupCosineConfig::new(lr, steps).with_warmup_steps(steps / 20).with_min_lr(lr / 20.0),
        )
        .with_max_grad_norm(Some(5.0))
    };
    let pick = |rng: &mut SeededRng| {
        let idx: Vec<i32> = (0..batch_size).map(|_| rng.random_range(0..TRAIN) as i32).collect();
        Tensor::<1, Int>::from_data(TensorData::new(idx, [batch_size]), &train_device)
    };

    // 1. The autoencoder, its initial weights drawn from a seeded generator.
    let mut init_rng = seeded_rng(seed + 10);
    let vae = init_seeded(&train_device, &mut init_rng, |d| {
        VaeConfig::new(BackboneConfig::new(spatial_dims, 1, 4).with_hidden(vae_hidden.clone()))
            .with_likelihood(Likelihood::Gaussian { std: 0.1 })
            .init(d)
    })?;
    let vae_loss = VaeLossConfig::new().with_warmup_steps(vae_steps / 4).init()?;
    let mut trainer = Trainer::new(
        &trainer_config(vae_steps, 2e-3),
        vae,
        AdamConfig::new().init(),
        seeded_rng(seed + 1),
        &(),
    )?
    .with_progress(TrainingProgress::new("VAE", vae_steps));
    trainer.fit(|m: &Vae, step, rng| -> Result<Tensor<1>, VaeError> {
        let x = data.images.clone().select(0, pick(rng));
        Ok(vae_loss.loss(m, x, &Condition::none(), step, rng)?.loss)
    })?;
    let vae = trainer.into_model().valid();

    // 2. Latents and their scale factor.
    let latents = encode_dataset(&vae, &data.images.clone().inner(), 128)?;
    let scale = LatentScale::estimate(&latents)?;
    println!("latents {:?}, scale factor s = 1/std = {:.4}", latents.dims(), scale.factor);
    let latents = scale.scale(latents).autodiff();

    // 3. The latent denoiser, conditioned on the covariates with CFG dropout.
    let unet = UNetConfig::new(4, 4)
        .with_spatial_dims(spatial_dims)
        .with_base_channels(32)
        .with_channel_mults(vec![1, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(8)
        .with_embedding_dim(Some(Covariates::DIM));
    let loss = DenoisingLossConfig::new()
        .with_min_snr_gamma(Some(5.0))
        .with_condition_drop_prob(0.1)
        .init(ScheduleConfig::new().init()?)?;
    let mut trainer = Trainer::new(
        &trainer_config(steps, 2e-3),
        init_seeded(&train_device, &mut init_rng, |d| unet.init(d))?,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(seed + 2),
        &(),
    )?
    .with_progress(TrainingProgress::new("latent U-Net", steps));
    loss.fit(&mut trainer, |_step, rng| {
        let idx = pick(rng);
        let z = latents.clone().select(0, idx.clone());
        Ok((z, Condition::none().with_embedding(embeddings.clone().select(0, idx))))
    })?;
    let network = trainer.into_model().valid();
    println!("trained in {:.0} s", started.elapsed().as_secs_f64());

    // 4. Samples for the covariates of held-out subjects, ordered by age (rows of COLUMNS).
    let held_out = generate(SAMPLES, &mut seeded_rng(seed + 4))?;
    let mut subjects = held_out.covariates.clone();
    subjects.sort_by(|a, b| a.age.total_cmp(&b.age));
    let requested = Covariates::of(&subjects);
    let condition = Condition::none().with_embedding(requested.embedding(&device));
    let mut scheduler = DdimSchedulerConfig::new().init()?;
    scheduler.set_timesteps(sampling_steps)?;
    let mut sample_rng = seeded_rng(seed + 3);
    let mut latent_shape = [size / 4; D];
    latent_shape[0] = SAMPLES;
    latent_shape[1] = 4;
    let samples = latent_diffusion_sample(
        &vae,
        &network,
        &mut scheduler,
        scale,
        latent_shape,
        &condition,
        &GuidanceConfig::new().with_scale(guidance),
        &mut sample_rng,
        &device,
    )?
    .clamp(-1.0, 1.0);
    // Volumes are shown by their middle axial slice.
    let shown: Tensor<4> = match spatial_dims {
        2 => samples.clone().reshape([SAMPLES, 1, size, size]),
        _ => samples.clone().narrow(2, size / 2, 1).reshape([SAMPLES, 1, size, size]),
    };
    GridBuilder::new()
        .scale(if spatial_dims == 2 { 2 } else { 4 })
        .images(shown, (-1.0, 1.0), COLUMNS)?
        .save(out.join("samples_by_covariates.png"))?;

    // 5. Does each measure follow its requested covariate?
    println!("\n{SAMPLES} samples for held-out covariates:");
    Measures::of(&samples)?.report(&requested);
    println!(
        "wrote {} (rows left to right, top to bottom by increasing age) in {:.0} s",
        out.join("samples_by_covariates.png").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The conditioning covariates of a set of subjects, as host vectors.
struct Covariates {
    age: Vec<f32>,
    sex: Vec<f32>,
    brain: Vec<f32>,
}

impl Covariates {
    /// Width of the embedding: age, sex, brain volume.
    const DIM: usize = 3;

    fn of(subjects: &[PhantomCovariates]) -> Self {
        let column = |k: usize| subjects.iter().map(|c| c.vector()[k]).collect();
        Self { age: column(AGE), sex: column(SEX), brain: column(BRAIN) }
    }

    /// `[N, 3]` with each covariate mapped to [-1, 1]: age and sex from [0, 1], brain volume
    /// from the phantoms' range [0.35, 0.65].
    fn embedding(&self, device: &Device) -> Tensor<2> {
        let n = self.age.len();
        let values: Vec<f32> = (0..n)
            .flat_map(|i| {
                [2.0 * self.age[i] - 1.0, 2.0 * self.sex[i] - 1.0, (self.brain[i] - 0.5) / 0.15]
            })
            .collect();
        Tensor::from_data(TensorData::new(values, [n, Self::DIM]), device)
    }
}

/// The three measures taken on images `[N, 1, H, W]` or volumes `[N, 1, D, H, W]` in [-1, 1].
struct Measures {
    ventricles: Vec<f32>,
    head: Vec<f32>,
    brain: Vec<f32>,
}

impl Measures {
    fn of<const D: usize>(images: &Tensor<D>) -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            ventricles: ventricle_size(images)?,
            head: pixels_between(images, -0.8, 1.01)?,
            brain: pixels_between(images, -0.85, 0.62)?,
        })
    }

    /// Prints the correlation of each measure with its covariate.
    fn report(&self, covariates: &Covariates) {
        println!(
            "  r(age, ventricle size) = {:.3}   r(sex, head size) = {:.3}   \
             r(brain volume, brain size) = {:.3}",
            pearson(&covariates.age, &self.ventricles),
            pearson(&covariates.sex, &self.head),
            pearson(&covariates.brain, &self.brain)
        );
    }
}

/// The number of pixels (voxels) of each image with `low < v < high`: the head (everything
/// brighter than the background) or the brain (darker than the skull, brighter than the
/// background; the dark ventricles count, the bright skull ring does not).
fn pixels_between<const D: usize>(
    images: &Tensor<D>,
    low: f32,
    high: f32,
) -> Result<Vec<f32>, Box<dyn Error>> {
    let n = images.dims()[0];
    let inside = images
        .clone()
        .greater_elem(low)
        .float()
        .mul(images.clone().lower_elem(high).float())
        .reshape([n as i32, -1])
        .sum_dim(1);
    Ok(inside.into_data().try_to_vec::<f32>()?)
}

/// The ventricle measure of each image `[N, 1, S, ..., S]` in [-1, 1]: the number of dark
/// pixels or voxels (below −0.4) in the central box `[S/4, 3S/4)` along every axis (the
/// ventricles are the dark CSF in the middle of the head; the dark background and outer CSF
/// lie outside that box).
fn ventricle_size<const D: usize>(images: &Tensor<D>) -> Result<Vec<f32>, Box<dyn Error>> {
    let dims = images.dims();
    let spatial = &dims[2..];
    let values: Vec<f32> = images.clone().into_data().convert::<f32>().try_to_vec()?;
    let per_image: usize = spatial.iter().product();
    let central = |mut index: usize| {
        spatial.iter().rev().all(|&side| {
            let coordinate = index % side;
            index /= side;
            coordinate >= side / 4 && coordinate < 3 * side / 4
        })
    };
    Ok(values
        .chunks_exact(per_image)
        .map(|image| {
            image.iter().enumerate().filter(|&(i, &v)| v < -0.4 && central(i)).count() as f32
        })
        .collect())
}

/// Pearson's correlation coefficient of two equally long samples.
fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt().max(f64::MIN_POSITIVE)
}

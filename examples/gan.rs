//! # GANs on brain phantoms: an unconditional DCGAN and a class-conditional GAN, monitored
//!
//! 1. generate phantoms with lesions (class 0 healthy, 1 dark lesions, 2 bright lesions);
//! 2. train an unconditional DCGAN (hinge loss, spectrally normalised discriminator, EMA of
//!    the generator) and a class-conditional GAN (class-embedding generator + projection
//!    discriminator) with `medgen_gan::GanTrainer`;
//! 3. every `--check-every` steps, measure the EMA generator's samples against held-out
//!    phantoms in a pooled-pixel feature space (precision/recall/density/coverage, Fréchet
//!    distance, diversity ratio) and print the monitor's warnings (D saturation, mode
//!    collapse);
//! 4. write `samples.png` (row 1: real; rows 2–3: DCGAN; rows 4–6: conditional GAN, one class
//!    per row) and the monitoring curves `dcgan/*.png`, `conditional/*.png` into `--out`.
//!
//! ```sh
//! cargo run --release --example gan -- --out out/gan
//! ```

use clap::Parser;
use std::error::Error;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use medgen::core::{Condition, DeviceChoice, SeededRng, init_seeded, seeded_rng};
use medgen::data::PhantomConfig;
use medgen::gan::monitor::pooled_pixel_features;
use medgen::gan::{
    ConditionalGeneratorConfig, DcganDiscriminatorConfig, DcganGeneratorConfig, Discriminator,
    GanBatch, GanLoss, GanTrainer, GanTrainerConfig, Generator, ProjectionDiscriminatorConfig,
};
use medgen::metrics::SampleQuality;
use medgen::train::viz::GridBuilder;
use medgen::train::{EmaConfig, TrainingProgress};
use rand::RngExt;

/// Train an unconditional DCGAN and a class-conditional GAN on phantoms.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/gan")]
    out: PathBuf,
    /// Image size, a multiple of 8.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Generator steps per model.
    #[arg(long, default_value_t = 1200)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Base channels of both networks.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// Sample-quality check every K steps.
    #[arg(long, default_value_t = 250)]
    check_every: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Phantoms in the training set and in the held-out monitoring set.
const TRAIN_SIZE: usize = 1024;
const HELD_OUT: usize = 256;
/// Latent width and classes (healthy, dark lesions, bright lesions).
const LATENT: usize = 64;
const CLASSES: usize = 3;
/// Feature space of the monitor: images average-pooled to 8 × 8.
const FEATURE_GRID: usize = 8;
/// Neighbours of the PRDC balls when measuring sample coverage.
const PRDC_NEIGHBOURS: usize = 5;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let size = args.size;
    let steps = args.steps;
    let batch = args.batch;
    let channels = args.channels;
    let check_every = args.check_every;
    let seed = args.seed;
    let device = args.device.device()?;
    if !size.is_multiple_of(8) || batch == 0 || steps == 0 || check_every == 0 {
        return Err("--size must be a multiple of 8, the rest positive; see --help".into());
    }
    std::fs::create_dir_all(&out)?;
    let train_device = device.clone().autodiff();
    let started = Instant::now();

    // 1. Phantoms with large, contrasted lesions so that the classes are visible at 32 px.
    let phantoms = PhantomConfig::new(size)
        .with_lesion_probability(0.67)
        .with_lesion_radius_min(0.14)
        .with_lesion_radius_max(0.22)
        .with_lesion_contrast_min(0.3)
        .with_lesion_contrast_max(0.45);
    let mut rng = seeded_rng(seed);
    let train = phantoms.generate_batch(TRAIN_SIZE, &mut rng)?.to_tensors::<4>(&train_device)?;
    let held_out = phantoms.generate_batch(HELD_OUT, &mut rng)?.to_tensors::<4>(&device)?;
    let real_features = host(pooled_pixel_features(held_out.images.clone(), FEATURE_GRID)?)?;
    let dim = FEATURE_GRID * FEATURE_GRID;
    println!("{TRAIN_SIZE} training and {HELD_OUT} held-out phantoms of {size}x{size}");

    let config = GanTrainerConfig::new(steps)
        .with_lr_generator(2e-4)
        .with_lr_discriminator(2e-4)
        .with_ema(Some(EmaConfig::new().with_decay(0.999)));
    let upsamplings = (size / 4).trailing_zeros() as usize;
    let generator = DcganGeneratorConfig::new(2, LATENT, 1, size)
        .with_num_upsamplings(upsamplings)
        .with_base_channels(channels);
    let discriminator = DcganDiscriminatorConfig::new(2, 1, size)
        .with_num_downsamplings(upsamplings)
        .with_base_channels(channels);
    let draw = |n: usize, indices: Vec<i64>, dev: &Device, rng: &mut SeededRng| {
        let z = Tensor::<2>::from_data(
            TensorData::random::<f32, _, _>([n, LATENT], Distribution::Normal(0.0, 1.0), rng),
            dev,
        );
        let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [n]), dev);
        let x = train.images.clone().select(0, indices.clone());
        let y = train.classes.clone().select(0, indices);
        (x, z, y)
    };
    let indices = |rng: &mut SeededRng| -> Vec<i64> {
        (0..batch).map(|_| rng.random_range(0..TRAIN_SIZE as i64)).collect()
    };

    // 2a. Unconditional DCGAN.
    let dev = train_device.clone();
    let dcgan = train_and_monitor(
        "dcgan",
        &config,
        init_seeded(&train_device, &mut rng, |d| generator.init(d))?,
        init_seeded(&train_device, &mut rng, |d| discriminator.init(d))?,
        |_, rng| {
            let (x, z, _) = draw(batch, indices(rng), &dev, rng);
            Ok(GanBatch::new(x, z))
        },
        &Condition::none(),
        &device,
        &real_features,
        dim,
        check_every,
        &out,
        seed,
    )?;

    // 2b. Class-conditional GAN: projection discriminator, class-embedding generator.
    let dev = train_device.clone();
    let labels = Condition::none().with_class(held_out.classes.clone());
    let conditional = train_and_monitor(
        "conditional",
        &config,
        init_seeded(&train_device, &mut rng, |d| {
            ConditionalGeneratorConfig::new(generator.clone())
                .with_num_classes(Some(CLASSES))
                .init(d)
        })?,
        init_seeded(&train_device, &mut rng, |d| {
            ProjectionDiscriminatorConfig::new(discriminator.clone(), CLASSES).init(d)
        })?,
        |_, rng| {
            let (x, z, y) = draw(batch, indices(rng), &dev, rng);
            Ok(GanBatch::new(x, z).with_condition(Condition::none().with_class(y)))
        },
        &labels,
        &device,
        &real_features,
        dim,
        check_every,
        &out,
        seed,
    )?;

    // 3. One picture: real phantoms, DCGAN samples, conditional samples by class.
    let mut sample_rng = seeded_rng(seed + 7);
    let z = |n: usize, rng: &mut SeededRng| {
        Tensor::<2>::from_data(
            TensorData::random::<f32, _, _>([n, LATENT], Distribution::Normal(0.0, 1.0), rng),
            &device,
        )
    };
    let mut grid = GridBuilder::new()
        .scale(2)
        .image_row(train.images.clone().narrow(0, 0, 8), (-1.0, 1.0))?
        .images(dcgan.generate(z(16, &mut sample_rng), &Condition::none())?, (-1.0, 1.0), 8)?;
    for class in 0..CLASSES {
        let y = Tensor::<1, Int>::full([8], class as i64, &device);
        let images =
            conditional.generate(z(8, &mut sample_rng), &Condition::none().with_class(y))?;
        grid = grid.image_row(images, (-1.0, 1.0))?;
    }
    let path = out.join("samples.png");
    grid.save(&path)?;
    println!("wrote {} (total {:.0} s)", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Trains one GAN, checks its samples every `check_every` steps and at the end, writes its
/// curves into `out/name/`, and returns the EMA generator.
#[allow(clippy::too_many_arguments)]
fn train_and_monitor<G, Dn>(
    name: &str,
    config: &GanTrainerConfig,
    generator: G,
    discriminator: Dn,
    mut data: impl FnMut(usize, &mut SeededRng) -> medgen::gan::Result<GanBatch<2, 4>>,
    monitor_condition: &Condition<4>,
    device: &Device,
    real_features: &[f64],
    dim: usize,
    check_every: usize,
    out: &Path,
    seed: u64,
) -> Result<G, Box<dyn Error>>
where
    G: Module + Generator<2, 4>,
    Dn: Module + Discriminator<4>,
{
    println!(
        "{name}: generator {} parameters, discriminator {}",
        generator.num_params(),
        discriminator.num_params()
    );
    let started = Instant::now();
    let mut trainer = GanTrainer::new(
        config,
        generator,
        discriminator,
        GanLoss::Hinge,
        seeded_rng(seed + 1),
        &name,
    )?
    .with_progress(TrainingProgress::new(name, config.total_steps));
    let mut check_rng = seeded_rng(seed + 2);
    let n = real_features.len() / dim;
    // Every `check_every` steps: draw samples from the EMA generator, pool them to a small
    // feature grid, measure PRDC coverage, Fréchet distance and diversity against held-out
    // phantoms, and let the trainer's monitor turn those numbers into warnings.
    let mut check =
        |trainer: &mut GanTrainer<G, Dn, 2, 4>| -> Result<SampleQuality, Box<dyn Error>> {
            let z = Tensor::<2>::from_data(
                TensorData::random::<f32, _, _>(
                    [n, LATENT],
                    Distribution::Normal(0.0, 1.0),
                    &mut check_rng,
                ),
                device,
            );
            let images = trainer.inference_generator().generate(z, monitor_condition)?;
            let fake = host(pooled_pixel_features(images, FEATURE_GRID)?)?;
            let quality = SampleQuality::measure(real_features, &fake, dim, PRDC_NEIGHBOURS)?;
            let (_, events) = trainer.observe_samples(quality.prdc.coverage, quality.diversity)?;
            println!("{name}: step {:>5}: {}", trainer.current_step(), describe(&quality));
            for event in events {
                println!("{name}: warning: {event}");
            }
            Ok(quality)
        };
    while !trainer.is_finished() {
        let report = trainer.step(&mut data)?;
        for event in &report.events {
            println!("{name}: warning: {event}");
        }
        if report.stats.step % check_every == 0 && !trainer.is_finished() {
            check(&mut trainer)?;
        }
    }
    let last = trainer.history().clone();
    let tail = |curve: &medgen::train::LossHistory| {
        let values = curve.losses();
        let k = values.len().min(100);
        values[values.len() - k..].iter().sum::<f32>() / k as f32
    };
    println!(
        "{name}: trained {} steps in {:.0} s; last-100 means: D loss {:.3}, G loss {:.3}, \
         D accuracy real {:.2} / fake {:.2}",
        config.total_steps,
        started.elapsed().as_secs_f64(),
        tail(&last.d_loss),
        tail(&last.g_loss),
        tail(&last.real_accuracy),
        tail(&last.fake_accuracy),
    );
    check(&mut trainer)?;
    let plots = trainer.history().save_plots(out.join(name))?;
    println!("{name}: wrote {} curves into {}", plots.len(), out.join(name).display());
    Ok(trainer.inference_generator())
}

fn describe(q: &SampleQuality) -> String {
    format!(
        "precision {:.3} recall {:.3} density {:.3} coverage {:.3} Fréchet {:.4} diversity {:.3}",
        q.prdc.precision, q.prdc.recall, q.prdc.density, q.prdc.coverage, q.frechet, q.diversity
    )
}

fn host(features: Tensor<2>) -> medgen::core::Result<Vec<f64>> {
    medgen::core::read_values::<f64, 2, _>(features, "features")
}

//! # Privacy filter: don't hand out copies of your training patients
//!
//! A generative model can memorise training images and reproduce them: a privacy leak when
//! the images are patients. Two-stage sampling screens every sample: embed it, find its
//! nearest training image, and reject it if that neighbour is closer than real, never-seen
//! images typically are (the threshold is the 5th percentile of held-out images' nearest
//! training distances).
//!
//! 1. train two DDPMs: one on a full phantom set (generalises), one deliberately overfitted
//!    on a handful of images (memorises);
//! 2. calibrate a filter for each training set on held-out phantoms;
//! 3. screen samples of both: rejection rate and distances against the threshold;
//! 4. two-stage sampling from the memorising model, and `privacy.png`: rejected samples next
//!    to the training images they copy.
//!
//! ```sh
//! cargo run --release --example privacy -- --out out/privacy     # about 6 minutes on 2 cores
//! # your own images (a folder of PNGs; the last fifth is held out for calibration):
//! cargo run --release --example privacy -- --data DIR
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::apps::privacy::{
    PixelFeatures, PrivacyFilter, PrivacyFilterConfig, PrivacyScreen, PrivateSamplingConfig,
    sample_private,
};
use medgen::apps::recipe::DiffusionRecipe;
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::{Condition, DeviceChoice, Sample, seeded_rng};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::diffusion::{DiffusionPipeline, SchedulerConfig};
use medgen::nn::UNet;
use medgen::train::viz::GridBuilder;

/// Two-stage sampling with a nearest-neighbour privacy filter.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/privacy")]
    out: PathBuf,
    /// A folder of your own PNG images (default: phantoms).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Phantom size in pixels (a multiple of 4).
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Training phantoms of the generalising model.
    #[arg(long, default_value_t = 512)]
    train: usize,
    /// Training images the memorising model overfits.
    #[arg(long, default_value_t = 4)]
    few: usize,
    /// Held-out real images for calibration.
    #[arg(long, default_value_t = 64)]
    held_out: usize,
    /// Training steps of the generalising model.
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// Training steps of the memorising model (more steps, more copies).
    #[arg(long, default_value_t = 600)]
    memoriser_steps: usize,
    /// Samples screened per model.
    #[arg(long, default_value_t = 48)]
    samples: usize,
    /// The calibration percentile q.
    #[arg(long, default_value_t = 5.0)]
    percentile: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();

    // 1. Images: a training set, its first few images for the memoriser, held-out images.
    let (train, held_out) = match &args.data {
        Some(dir) => {
            let all = load_png_folder(dir, &PngFolderConfig::new())?
                .dataset
                .images_tensor::<4>(&device)?;
            let n = all.dims()[0];
            let held = (n / 5).max(2);
            (all.clone().narrow(0, 0, n - held), all.narrow(0, n - held, held))
        }
        None => {
            let phantoms = PhantomConfig::new(args.size);
            let mut rng = seeded_rng(args.seed);
            let train =
                phantoms.generate_batch(args.train, &mut rng)?.to_tensors::<4>(&device)?.images;
            let held =
                phantoms.generate_batch(args.held_out, &mut rng)?.to_tensors::<4>(&device)?.images;
            (train, held)
        }
    };
    let few = train.clone().narrow(0, 0, args.few.min(train.dims()[0]));
    let [_, channels, height, width] = train.dims();
    println!(
        "{} training images, {} of them for the memorising model, {} held out ({height}x{width})",
        train.dims()[0],
        few.dims()[0],
        held_out.dims()[0]
    );

    // 2. Two models on the same recipe: one sees many images, one sees a handful, as often.
    let recipe = DiffusionRecipe::new().with_channels(channels).with_steps(args.steps);
    let on_train = |x: &Tensor<4>| Tensor::<4>::from_data(x.to_data(), &train_device);
    let general = recipe.train(&on_train(&train), None, args.seed + 1, "generalising DDPM")?;
    let memoriser = recipe.clone().with_batch(8).with_steps(args.memoriser_steps).train(
        &on_train(&few),
        None,
        args.seed + 2,
        "memorising DDPM",
    )?;
    println!("trained both in {:.0} s", started.elapsed().as_secs_f64());

    // 3. One filter per training set, calibrated on the same held-out images.
    let features = PixelFeatures::new([channels, height, width]);
    let config = PrivacyFilterConfig::new().with_percentile(args.percentile);
    let general_filter =
        PrivacyFilter::calibrate(&features, train.clone(), held_out.clone(), config.clone())?;
    let memoriser_filter = PrivacyFilter::calibrate(&features, few.clone(), held_out, config)?;

    let sampler = |network: &UNet| {
        DiffusionPipeline::new(
            network.clone(),
            "ddim".parse::<SchedulerConfig>()?,
            50,
            &[channels, height, width],
        )
    };
    let mut table = String::from(
        "| model | threshold τ | rejected | min distance | median distance | held-out median |\n|---|---|---|---|---|---|\n",
    );
    let mut rejected_pictures = None;
    for (name, network, filter, training) in [
        ("generalising", &general, &general_filter, &train),
        ("memorising", &memoriser, &memoriser_filter, &few),
    ] {
        let samples = sampler(network)?
            .sample(args.samples, &Condition::none(), &mut seeded_rng(args.seed + 5), &device)?
            .samples;
        let screen = filter.screen(&features, samples.clone())?;
        let line = format!(
            "| {name} | {:.3} | {}/{} ({:.0} %) | {:.3} | {:.3} | {:.3} |\n",
            filter.threshold(),
            screen.rejected().len(),
            args.samples,
            100.0 * screen.rejection_rate(),
            min(&screen.distances),
            median(&screen.distances),
            median(filter.calibration_distances()),
        );
        print!("{line}");
        table.push_str(&line);
        if name == "memorising" {
            rejected_pictures = Some(pairs(&screen, &samples, training, &device));
        }
    }
    std::fs::write(args.out.join("privacy.md"), &table)?;

    // 4. Two-stage sampling: keep drawing until enough samples pass the filter.
    let request = PrivateSamplingConfig::new(16).with_max_rounds(4);
    match sample_private(
        &sampler(&memoriser)?,
        &features,
        &memoriser_filter,
        &request,
        &Condition::none(),
        &mut seeded_rng(args.seed + 6),
        &device,
    ) {
        Ok(kept) => println!(
            "two-stage sampling from the memorising model: kept {} of {} drawn ({} rejected)",
            kept.samples.dims()[0],
            kept.drawn,
            kept.rejected
        ),
        Err(e) => println!("two-stage sampling from the memorising model kept nothing: {e}"),
    }
    if let Some((rejected, nearest)) = rejected_pictures.flatten() {
        let png = args.out.join("privacy.png");
        GridBuilder::new()
            .scale(3)
            .image_row(rejected, (-1.0, 1.0))?
            .image_row(nearest, (-1.0, 1.0))?
            .save(&png)?;
        println!(
            "wrote {} (top: rejected samples, bottom: their nearest training images)",
            png.display()
        );
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Up to 8 rejected samples and their nearest training images.
fn pairs(
    screen: &PrivacyScreen,
    samples: &Tensor<4>,
    training: &Tensor<4>,
    device: &Device,
) -> Option<(Tensor<4>, Tensor<4>)> {
    let rejected: Vec<usize> = screen.rejected().into_iter().take(8).collect();
    if rejected.is_empty() {
        return None;
    }
    let index = |values: Vec<i64>| {
        Tensor::<1, Int>::from_data(TensorData::new(values.clone(), [values.len()]), device)
    };
    let nearest: Vec<i64> = rejected.iter().map(|&i| screen.nearest[i] as i64).collect();
    let rejected: Vec<i64> = rejected.into_iter().map(|i| i as i64).collect();
    Some((
        samples.clone().select(0, index(rejected)).clamp(-1.0, 1.0),
        training.clone().select(0, index(nearest)),
    ))
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(values: &[f64]) -> f64 {
    medgen::core::stats::percentile(values, 50.0, "distances").unwrap_or(f64::NAN)
}

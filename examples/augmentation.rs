//! # Augmentation: do synthetic images help a classifier that has few real ones?
//!
//! A downstream classifier (lesion vs healthy) is trained on a small real set plus 0×, 1×,
//! 2×, 5× and 10× as many synthetic images from a class-conditional DDPM sampled with
//! classifier-free guidance; the rare class (lesions) is oversampled by asking the generator
//! for more of it, until the classes balance. Held-out accuracy and AUROC per ratio show
//! whether, and where, the gain plateaus.
//!
//! 1. train the conditional DDPM on a labelled phantom set;
//! 2. draw the synthetic images once (the smaller ratios use a prefix);
//! 3. train one classifier per ratio from the same seed and score it on held-out phantoms;
//! 4. `augmentation.png`: synthetic healthy (top) and lesion (bottom) images.
//!
//! ```sh
//! cargo run --release --example augmentation -- --out out/augmentation   # about 13 minutes on 2 cores
//! # your own data: DIR/healthy/*.png and DIR/lesion/*.png (the first --real images of the
//! # shuffled union are the classifier's real set, the last fifth is held out)
//! cargo run --release --example augmentation -- --data DIR
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::apps::AppsError;
use medgen::apps::augmentation::{
    AugmentationStudyConfig, ClassifierTrainingConfig, LesionClassifierConfig,
    run_augmentation_study,
};
use medgen::apps::recipe::DiffusionRecipe;
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::{Condition, DeviceChoice, GuidanceConfig, Sample, seeded_rng};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::diffusion::{DiffusionPipeline, SchedulerConfig};
use medgen::train::viz::GridBuilder;

/// Synthetic-to-real augmentation study with a class-conditional DDPM.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/augmentation")]
    out: PathBuf,
    /// Your own images: DIR/healthy/*.png and DIR/lesion/*.png.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Phantom size in pixels (a multiple of 4).
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Labelled phantoms the generator learns from.
    #[arg(long, default_value_t = 512)]
    generator_train: usize,
    /// Real images of the classifier's training set (a quarter with lesions).
    #[arg(long, default_value_t = 48)]
    real: usize,
    /// Held-out test phantoms (half with lesions).
    #[arg(long, default_value_t = 256)]
    test: usize,
    /// Training steps of the generator.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Training steps of each classifier.
    #[arg(long, default_value_t = 400)]
    classifier_steps: usize,
    /// Guidance scale of the synthetic images.
    #[arg(long, default_value_t = 2.0)]
    guidance: f64,
    /// DDIM steps per synthetic image.
    #[arg(long, default_value_t = 25)]
    ddim_steps: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Healthy (0) and lesion (1).
const CLASSES: usize = 2;

/// A labelled image set.
struct Labelled {
    images: Tensor<4>,
    labels: Vec<usize>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();

    // 1. Data: the generator's set, the classifier's small real set, a held-out test set.
    let (generator_set, real, test) = match &args.data {
        Some(dir) => user_data(dir, args.real, &device)?,
        None => phantom_data(&args, &device)?,
    };
    let [_, channels, height, width] = real.images.dims();
    let lesions = real.labels.iter().filter(|&&l| l == 1).count();
    println!(
        "generator: {} labelled images; classifier: {} real images ({lesions} with lesions); test: {}",
        generator_set.labels.len(),
        real.labels.len(),
        test.labels.len()
    );
    let to_train = |x: &Tensor<4>| Tensor::<4>::from_data(x.to_data(), &train_device);

    // 2. The class-conditional generator.
    let recipe = DiffusionRecipe::new()
        .with_channels(channels)
        .with_steps(args.steps)
        .with_num_classes(Some(CLASSES));
    let classes = class_tensor(&generator_set.labels, &train_device);
    let network = recipe.train(
        &to_train(&generator_set.images),
        Some(&classes),
        args.seed + 1,
        "conditional DDPM",
    )?;
    let pipeline = DiffusionPipeline::new(
        network,
        "ddim".parse::<SchedulerConfig>()?,
        args.ddim_steps,
        &[channels, height, width],
    )?
    .with_guidance(GuidanceConfig::new().with_scale(args.guidance));
    println!("generator trained ({:.0} s)", started.elapsed().as_secs_f64());

    // 3. The study: synthetic images on demand, one classifier per ratio.
    let mut sample_rng = seeded_rng(args.seed + 2);
    let mut examples = Vec::new();
    let clock = Instant::now();
    let generate = |class: usize, count: usize| -> Result<Tensor<4>, AppsError> {
        let mut parts = Vec::new();
        for start in (0..count).step_by(64) {
            let n = 64.min(count - start);
            let condition = Condition::none().with_class(class_tensor(&vec![class; n], &device));
            let drawn = pipeline
                .sample(n, &condition, &mut sample_rng, &device)
                .map_err(|e| AppsError::model("generator", e))?;
            parts.push(drawn.samples.clamp(-1.0, 1.0));
        }
        let images = Tensor::cat(parts, 0);
        examples.push(images.clone().narrow(0, 0, count.min(8)));
        println!("  drew {count} synthetic images of class {class}");
        Ok(to_train(&images))
    };
    let classifier =
        ClassifierTrainingConfig::new(LesionClassifierConfig::new(2, channels, CLASSES))
            .with_steps(args.classifier_steps);
    let config = AugmentationStudyConfig::new(classifier).with_seed(args.seed + 3);
    let rows = run_augmentation_study(
        &config,
        to_train(&real.images),
        &real.labels,
        test.images,
        &test.labels,
        generate,
    )?;
    println!("study done ({:.0} s)", clock.elapsed().as_secs_f64());

    let mut table = String::from(
        "| synthetic : real | real | synthetic | accuracy | AUROC |\n|---|---|---|---|---|\n",
    );
    for row in &rows {
        table.push_str(&format!(
            "| {}:1 | {} | {} | {:.3} | {:.3} |\n",
            row.ratio, row.real, row.synthetic, row.scores.accuracy, row.scores.auroc
        ));
    }
    println!("\n{table}");
    std::fs::write(args.out.join("augmentation.md"), &table)?;
    let png = args.out.join("augmentation.png");
    let mut grid = GridBuilder::new().scale(3);
    for row in examples {
        grid = grid.image_row(row, (-1.0, 1.0))?;
    }
    grid.save(&png)?;
    println!(
        "wrote {} (one row of synthetic images per class); total {:.0} s",
        png.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn class_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

/// Phantoms whose lesions are large and contrasted enough to be seen at 32x32 (as in the GAN
/// example).
fn lesion_phantoms(size: usize) -> PhantomConfig {
    PhantomConfig::new(size)
        .with_lesion_radius_min(0.12)
        .with_lesion_radius_max(0.22)
        .with_lesion_contrast_min(0.3)
        .with_lesion_contrast_max(0.45)
}

/// Phantoms labelled by whether they have lesions.
fn phantom_data(
    args: &Args,
    device: &Device,
) -> Result<(Labelled, Labelled, Labelled), Box<dyn Error>> {
    let mut rng = seeded_rng(args.seed);
    let mut set = |n: usize, lesion_probability: f64| -> Result<Labelled, Box<dyn Error>> {
        let batch = lesion_phantoms(args.size)
            .with_lesion_probability(lesion_probability)
            .generate_batch(n, &mut rng)?;
        let labels = batch.covariates.iter().map(|c| usize::from(c.class > 0)).collect();
        Ok(Labelled { images: batch.to_tensors::<4>(device)?.images, labels })
    };
    Ok((set(args.generator_train, 0.5)?, set(args.real, 0.25)?, set(args.test, 0.5)?))
}

/// `DIR/healthy` and `DIR/lesion`, shuffled: the first `real` images are the classifier's real
/// set, the last fifth the test set, and everything but the test set trains the generator.
fn user_data(
    dir: &std::path::Path,
    real: usize,
    device: &Device,
) -> Result<(Labelled, Labelled, Labelled), Box<dyn Error>> {
    let load = |name: &str| -> Result<Tensor<4>, Box<dyn Error>> {
        Ok(load_png_folder(dir.join(name), &PngFolderConfig::new())?
            .dataset
            .images_tensor::<4>(device)?)
    };
    let (healthy, lesion) = (load("healthy")?, load("lesion")?);
    let (h, l) = (healthy.dims()[0], lesion.dims()[0]);
    let all = Tensor::cat(vec![healthy, lesion], 0);
    let order = medgen::data::permutation(h + l, &mut seeded_rng(0));
    let labels: Vec<usize> = order.iter().map(|&i| usize::from(i >= h)).collect();
    let index: Vec<i64> = order.iter().map(|&i| i as i64).collect();
    let all = all.select(0, Tensor::<1, Int>::from_data(TensorData::new(index, [h + l]), device));
    let n = h + l;
    let test = (n / 5).max(2);
    let take = |from: usize, len: usize| Labelled {
        images: all.clone().narrow(0, from, len),
        labels: labels[from..from + len].to_vec(),
    };
    Ok((take(0, n - test), take(0, real.min(n - test)), take(n - test, test)))
}

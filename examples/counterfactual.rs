//! # Counterfactuals: where is the lesion, if all we know is *that* there is one?
//!
//! Weakly supervised lesion localisation. A class-conditional DDPM learns from image-level
//! labels only (healthy / lesion, no masks) with classifier-free guidance. For a patient
//! image, DDIM inversion under its own label gives a latent; decoding that latent as
//! "healthy" with guidance scale `w` gives the counterfactual: the same anatomy without the
//! lesion. The difference map is the lesion evidence, scored here against masks the model
//! never saw.
//!
//! 1. train the conditional DDPM on phantoms labelled healthy / lesion;
//! 2. counterfactuals of held-out lesion phantoms: pixel AUROC and Dice of the difference map,
//!    and how much healthy images change (fidelity);
//! 3. a sweep over the noise level and `w`, which trade fidelity against change;
//! 4. `counterfactual.png`: image / counterfactual / difference map / truth.
//!
//! ```sh
//! cargo run --release --example counterfactual -- --out out/counterfactual   # about 9 minutes on 2 cores
//! # your own data: DIR/healthy/*.png and DIR/lesion/*.png to train on, DIR/test/*.png with
//! # DIR/masks/*.png (same names, lesion > 0) to score
//! cargo run --release --example counterfactual -- --data DIR
//! ```

use clap::Parser;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use medgen::apps::anomaly::{AnomalyEvaluationConfig, evaluate_anomaly_maps};
use medgen::apps::counterfactual::{CounterfactualConfig, CounterfactualExplainer};
use medgen::apps::recipe::DiffusionRecipe;
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::{DeviceChoice, seeded_rng};
use medgen::data::{PhantomConfig, PngFolderConfig, load_png_folder};
use medgen::train::viz::{GridBuilder, heat_map_to_rgb};

/// Lesion localisation from image-level labels by diffusion counterfactuals.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/counterfactual")]
    out: PathBuf,
    /// Your own images: DIR/healthy, DIR/lesion (training), DIR/test and DIR/masks (scoring).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Phantom size in pixels (a multiple of 4).
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Labelled training phantoms (half of them with lesions).
    #[arg(long, default_value_t = 768)]
    train: usize,
    /// Held-out phantoms with lesions to localise (and as many healthy ones).
    #[arg(long, default_value_t = 32)]
    test: usize,
    /// Training steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// DDIM steps over the whole schedule.
    #[arg(long, default_value_t = 50)]
    ddim_steps: usize,
    /// Noise level: the fraction of the DDIM steps encoded and decoded.
    #[arg(long, default_value_t = 0.3)]
    strength: f64,
    /// Guidance scale w of the healthy decoding (1: the conditional model alone, which
    /// localised best on phantoms; larger w removes more and changes healthy tissue more).
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

/// Image-level classes: 0 healthy, 1 lesion.
const CLASSES: usize = 2;

/// Training images with their labels, lesion test images with masks, healthy test images.
struct Data {
    train: Tensor<4>,
    labels: Tensor<1, Int>,
    lesion: Tensor<4>,
    masks: Tensor<4>,
    healthy: Tensor<4>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();

    // 1. Data with image-level labels only.
    let data = match &args.data {
        Some(dir) => user_data(dir, &train_device, &device)?,
        None => phantom_data(&args, &train_device, &device)?,
    };
    let [_, channels, height, width] = data.lesion.dims();
    println!(
        "{} labelled training images, {} lesion and {} healthy test images of {height}x{width}",
        data.train.dims()[0],
        data.lesion.dims()[0],
        data.healthy.dims()[0]
    );

    // 2. The class-conditional DDPM with condition dropout (for classifier-free guidance).
    let recipe = DiffusionRecipe::new()
        .with_channels(channels)
        .with_steps(args.steps)
        .with_batch(args.batch)
        .with_num_classes(Some(CLASSES));
    let model = recipe.train(&data.train, Some(&data.labels), args.seed + 1, "conditional DDPM")?;
    println!("trained in {:.0} s", started.elapsed().as_secs_f64());

    // 3. Counterfactuals at the chosen setting.
    let item = [channels, height, width];
    let explain = |strength: f64, guidance: f64, images: &Tensor<4>, label: usize| {
        let config = CounterfactualConfig::new()
            .with_num_inference_steps(args.ddim_steps)
            .with_strength(strength)
            .with_guidance_scale(guidance)
            .with_smoothing_sigma(1.0);
        let explainer =
            CounterfactualExplainer::new(model.clone(), recipe.ddim(), config, CLASSES, &item)?;
        let labels = vec![label; images.dims()[0]];
        explainer.explain(images.clone(), &labels, &mut seeded_rng(args.seed + 7))
    };
    let clock = Instant::now();
    let out = explain(args.strength, args.guidance, &data.lesion, 1)?;
    let report = evaluate_anomaly_maps(
        out.maps.clone(),
        data.masks.clone(),
        &AnomalyEvaluationConfig::new(),
    )?;
    let healthy_change = mean_abs_change(
        &data.healthy,
        &explain(args.strength, args.guidance, &data.healthy, 0)?.counterfactuals,
    );
    println!(
        "\nstrength {}, w {}: pixel AUROC {:.3}, AUPRC {:.3}, best Dice {:.3}; mean |change| on healthy images {:.4} ({} NFE/image, {:.0} s)",
        args.strength,
        args.guidance,
        report.pixel_auroc,
        report.pixel_auprc,
        report.best_dice,
        healthy_change,
        out.nfe,
        clock.elapsed().as_secs_f64()
    );

    // 4. The trade-off: more noise or more guidance removes more, and changes more.
    let mut table = String::from(
        "| strength | w | pixel AUROC | best Dice | mean abs change, lesion images | mean abs change, healthy images |\n|---|---|---|---|---|---|\n",
    );
    for strength in [0.3, 0.6] {
        for guidance in [1.0, 3.0, 5.0] {
            let lesion = explain(strength, guidance, &data.lesion, 1)?;
            let r = evaluate_anomaly_maps(
                lesion.maps,
                data.masks.clone(),
                &AnomalyEvaluationConfig::new(),
            )?;
            let healthy = explain(strength, guidance, &data.healthy, 0)?;
            table.push_str(&format!(
                "| {strength} | {guidance} | {:.3} | {:.3} | {:.4} | {:.4} |\n",
                r.pixel_auroc,
                r.best_dice,
                mean_abs_change(&data.lesion, &lesion.counterfactuals),
                mean_abs_change(&data.healthy, &healthy.counterfactuals),
            ));
        }
    }
    println!("\n{table}");
    std::fs::write(args.out.join("counterfactual.md"), &table)?;

    // 5. The picture: image, counterfactual, difference map, truth.
    let shown = data.lesion.dims()[0].min(8);
    let maps = out.maps.narrow(0, 0, shown);
    let top = maps.clone().max().into_scalar::<f32>().max(1e-6);
    let png = args.out.join("counterfactual.png");
    GridBuilder::new()
        .scale(3)
        .image_row(data.lesion.clone().narrow(0, 0, shown), (-1.0, 1.0))?
        .image_row(out.counterfactuals.narrow(0, 0, shown).clamp(-1.0, 1.0), (-1.0, 1.0))?
        .image_row(heat_map_to_rgb(maps, (0.0, top))?, (0.0, 1.0))?
        .image_row(data.masks.narrow(0, 0, shown), (0.0, 1.0))?
        .save(&png)?;
    println!("wrote {} (rows: image, healthy counterfactual, difference, truth)", png.display());
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `mean |x − x̃|` over all pixels.
fn mean_abs_change(x: &Tensor<4>, counterfactual: &Tensor<4>) -> f32 {
    x.clone().sub(counterfactual.clone()).abs().mean().into_scalar::<f32>()
}

/// Phantoms: half with lesions (label 1), half healthy (label 0); held-out sets of each.
fn phantom_data(
    args: &Args,
    train_device: &Device,
    device: &Device,
) -> Result<Data, Box<dyn Error>> {
    let mut rng = seeded_rng(args.seed);
    let phantoms = PhantomConfig::new(args.size).with_lesion_probability(0.5);
    let train = phantoms.generate_batch(args.train, &mut rng)?;
    let labels: Vec<i64> = train.covariates.iter().map(|c| i64::from(c.class > 0)).collect();
    let labels = Tensor::from_data(TensorData::new(labels, [args.train]), train_device);
    let lesion = phantoms
        .clone()
        .with_lesion_probability(1.0)
        .generate_batch(args.test, &mut rng)?
        .to_tensors::<4>(device)?;
    let healthy = phantoms
        .with_lesion_probability(0.0)
        .generate_batch(args.test, &mut rng)?
        .to_tensors::<4>(device)?;
    Ok(Data {
        train: train.to_tensors::<4>(train_device)?.images,
        labels,
        lesion: lesion.images,
        masks: lesion.lesion_masks,
        healthy: healthy.images,
    })
}

/// `DIR/healthy`, `DIR/lesion`, `DIR/test` and `DIR/masks` (test images double as the
/// healthy-change check's inputs only when they are healthy, so the healthy training images
/// are used for it).
fn user_data(dir: &Path, train_device: &Device, device: &Device) -> Result<Data, Box<dyn Error>> {
    let config = PngFolderConfig::new();
    let load = |name: &str, on: &Device| -> Result<Tensor<4>, Box<dyn Error>> {
        Ok(load_png_folder(dir.join(name), &config)?.dataset.images_tensor::<4>(on)?)
    };
    let healthy = load("healthy", train_device)?;
    let lesion = load("lesion", train_device)?;
    let (h, l) = (healthy.dims()[0], lesion.dims()[0]);
    let labels: Vec<i64> = (0..h + l).map(|i| i64::from(i >= h)).collect();
    Ok(Data {
        train: Tensor::cat(vec![healthy, lesion], 0),
        labels: Tensor::from_data(TensorData::new(labels, [h + l]), train_device),
        lesion: load("test", device)?,
        masks: load("masks", device)?.greater_elem(-1.0 + 1e-3).float(),
        healthy: load("healthy", device)?,
    })
}

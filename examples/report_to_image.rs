//! # From a structured report to an image: cross-attention on report tokens
//!
//! Text-to-image diffusion (Stable Diffusion's text hook, RoentGen's report-to-X-ray) on the
//! phantoms: every training phantom carries one lesion, described by a three-part report such
//! as `"large lesion, left, hyperintense"`. The recipe:
//!
//! 1. generate phantoms with exactly one lesion and write each one's report from its label
//!    map (side of the lesion centroid, size against the median area, polarity);
//! 2. train, jointly, a small report encoder (token + position embeddings, two transformer
//!    layers over a seven-word vocabulary) and a U-Net denoiser whose spatial-transformer blocks
//!    cross-attend to the report tokens (10% of reports dropped to the learned null context,
//!    for classifier-free guidance);
//! 3. build the measuring instrument, a normative model: the per-pixel mean and standard
//!    deviation of lesion-free phantoms. A lesion is where an image departs from that norm by
//!    more than three standard deviations: the sign of the departure is its polarity, and the
//!    largest connected region of that sign gives its side (centroid column) and its size
//!    (pixel count, split at the median measured on the training phantoms). Its agreement with the truth on held-out real
//!    phantoms is the upper bound of what the samples can score;
//! 4. sample four images for each of the eight reports with DDIM and guidance, and
//!    print how often the instrument reads back the requested side, size and polarity.
//!
//! Default run: about 20 minutes on 2 CPU cores (22 min measured, the cores shared with a
//! second run; see docs/conditioning.md for what it measured).
//!
//! ```sh
//! cargo run --release --example report_to_image -- --out out/report_to_image
//! ```
//!
//! `--data` is not offered: a user's reports would need a vocabulary and paired images; the
//! building blocks (`ReportVocabulary`, `ReportEncoder`, a U-Net with `cross_attention_dim`) are
//! the same.

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamWConfig;
use medgen::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen::core::noise::gaussian_noise;
use medgen::core::{Condition, DeviceChoice, SeededRng, init_seeded, seeded_rng};
use medgen::data::{PhantomConfig, tissue};
use medgen::diffusion::{
    DenoisingLossConfig, DiffusionError, GuidanceConfig, ScheduleConfig, SchedulerConfig, sample,
};
use medgen::nn::{ReportEncoder, ReportEncoderConfig, ReportVocabulary, UNet, UNetConfig};
use medgen::train::viz::GridBuilder;
use medgen::train::{Trainer, TrainerConfig, TrainingProgress, WarmupCosineConfig};
use rand::RngExt;

/// Images from structured reports by cross-attention.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/report_to_image")]
    out: PathBuf,
    /// Denoiser training steps.
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// Lesion-free phantoms in the normative model (the measuring instrument).
    #[arg(long, default_value_t = 2048)]
    norm_phantoms: usize,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 3.0)]
    guidance: f64,
    /// Sampler: a name, or a JSON object naming one and overriding fields, e.g.
    /// `{"scheduler": "dpm++2m-karras", "thresholding": true}` (see docs/schedulers.md).
    #[arg(long, default_value = "ddim")]
    sampler: String,
    /// Sampling steps.
    #[arg(long, default_value_t = 50)]
    sampling_steps: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

const SIZE: usize = 32;
const TRAIN: usize = 1536;
const HELD_OUT: usize = 256;
const BATCH: usize = 16;
const MAX_TOKENS: usize = 4;
const PER_REPORT: usize = 4;
/// Width of the report tokens (the U-Net's `cross_attention_dim`).
const CONTEXT_DIM: usize = 32;
const WORDS: [&str; 7] =
    ["small", "large", "lesion", "left", "right", "hypointense", "hyperintense"];

/// One lesion's attributes; the combination index is `4 side + 2 size + polarity`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Finding {
    right: bool,
    large: bool,
    hyper: bool,
}

impl Finding {
    fn from_index(k: usize) -> Self {
        Self { right: k & 4 != 0, large: k & 2 != 0, hyper: k & 1 != 0 }
    }
    fn report(self) -> String {
        format!(
            "{} lesion, {}, {}",
            if self.large { "large" } else { "small" },
            if self.right { "right" } else { "left" },
            if self.hyper { "hyperintense" } else { "hypointense" }
        )
    }
}

/// The report encoder and the denoiser, trained together.
#[derive(Module, Debug)]
struct ReportToImage {
    encoder: ReportEncoder,
    unet: UNet,
}

/// Phantoms with one lesion each, their findings and tokenised reports.
struct Cohort {
    images: Tensor<4>,
    findings: Vec<Finding>,
    ids: Tensor<2, Int>,
    /// The key-padding mask as 0/1 integers (selected per batch, then compared to 1).
    mask: Tensor<2, Int>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&args.out)?;
    let started = Instant::now();
    let vocabulary = ReportVocabulary::new(&WORDS)?;

    // 1. One-lesion phantoms and their reports.
    let phantoms = PhantomConfig::new(SIZE)
        .with_lesion_probability(1.0)
        .with_max_lesions(1)
        .with_lesion_radius_min(0.15)
        .with_lesion_radius_max(0.3)
        .with_lesion_contrast_min(0.35)
        .with_lesion_contrast_max(0.5);
    let mut rng = seeded_rng(args.seed);
    let (train, median_area) =
        cohort(&phantoms, TRAIN, None, &vocabulary, &mut rng, &train_device)?;
    let (held_out, _) =
        cohort(&phantoms, HELD_OUT, Some(median_area), &vocabulary, &mut rng, &device)?;
    println!(
        "{} training phantoms with one lesion each (median lesion area {median_area} pixels); \
         e.g. \"{}\"",
        train.findings.len(),
        train.findings[0].report()
    );

    // The measuring instrument: a normative model of lesion-free phantoms, checked on the
    // held-out real phantoms before any training.
    let reader = LesionReader::fit(
        &phantoms.clone().with_lesion_probability(0.0),
        args.norm_phantoms,
        &train.images,
        &mut seeded_rng(args.seed + 20),
    )?;
    let real = reader.read(&held_out.images)?;
    let real_scores = Scores::of(&real, &held_out.findings);
    println!(
        "normative lesion reader on {} held-out real phantoms: {real_scores}",
        held_out.findings.len()
    );

    // 2. Report encoder + cross-attention U-Net, trained jointly on the denoising loss.
    let mut init_rng = seeded_rng(args.seed + 10);
    let model = init_seeded(&train_device, &mut init_rng, |d| {
        Ok::<_, medgen::core::CoreError>(ReportToImage {
            encoder: ReportEncoderConfig::new(vocabulary.size(), MAX_TOKENS, CONTEXT_DIM)
                .init(d)?,
            unet: UNetConfig::new(1, 1)
                .with_base_channels(16)
                .with_channel_mults(vec![1, 2, 2])
                .with_num_res_blocks(1)
                .with_attention_resolutions(vec![2, 4])
                .with_groups(8)
                .with_cross_attention_dim(Some(CONTEXT_DIM))
                .with_num_head_channels(Some(16))
                .init(d)?,
        })
    })?;
    let loss = DenoisingLossConfig::new()
        .with_min_snr_gamma(Some(5.0))
        .with_condition_drop_prob(0.1)
        .init(ScheduleConfig::new().init()?)?;
    let schedule = |steps: usize, lr: f64| {
        TrainerConfig::new(
            WarmupCosineConfig::new(lr, steps).with_warmup_steps(steps / 20).with_min_lr(lr / 20.0),
        )
        .with_max_grad_norm(Some(5.0))
    };
    let mut trainer = Trainer::new(
        &schedule(args.steps, 2e-3),
        model,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        seeded_rng(args.seed + 1),
        &(),
    )?
    .with_progress(TrainingProgress::new("report-to-image U-Net", args.steps));
    let count = train.findings.len();
    trainer.fit(|m: &ReportToImage, _step, rng| -> Result<Tensor<1>, DiffusionError> {
        let idx = pick(count, rng, &train_device);
        let x0 = train.images.clone().select(0, idx.clone());
        let mask = train.mask.clone().select(0, idx.clone()).equal_elem(1);
        let context = m.encoder.forward(train.ids.clone().select(0, idx), mask.clone())?;
        let condition = Condition::none().with_context(context).with_context_mask(mask);
        loss.training_loss(&m.unet, x0, &condition, rng)
    })?;
    let model = trainer.into_model().valid();
    println!("denoiser trained in {:.0} s", started.elapsed().as_secs_f64());

    // Does the denoiser use the report? Its loss on held-out phantoms with their own reports
    // against the same noise and times with another phantom's report.
    let held_out_loss =
        |ids: Tensor<2, Int>, mask: Tensor<2, Int>| -> Result<f32, DiffusionError> {
            let mask = mask.equal_elem(1);
            let context = model.encoder.forward(ids, mask.clone())?;
            let condition = Condition::none().with_context(context).with_context_mask(mask);
            let loss = loss.training_loss(
                &model.unet,
                held_out.images.clone(),
                &condition,
                &mut seeded_rng(7),
            )?;
            Ok(loss.into_scalar::<f32>())
        };
    let n = held_out.findings.len();
    let shift: Vec<i32> = (0..n).map(|i| ((i + 1) % n) as i32).collect();
    let shift = Tensor::<1, Int>::from_data(TensorData::new(shift, [n]), &device);
    let own = held_out_loss(held_out.ids.clone(), held_out.mask.clone())?;
    let other = held_out_loss(
        held_out.ids.clone().select(0, shift.clone()),
        held_out.mask.clone().select(0, shift),
    )?;
    println!(
        "held-out denoising loss: {own:.5} with each phantom's own report, {other:.5} with \
         another phantom's (the report helps when the first is lower)"
    );

    // 3. Four samples per report, read back by the normative reader.
    let requested: Vec<Finding> = (0..8 * PER_REPORT).map(|i| Finding::from_index(i % 8)).collect();
    let reports: Vec<String> = requested.iter().map(|f| f.report()).collect();
    let (ids, mask) = vocabulary.encode_batch(&reports, MAX_TOKENS, &device)?;
    let context = model.encoder.forward(ids, mask.clone())?;
    let condition = Condition::none().with_context(context).with_context_mask(mask);
    let mut scheduler = args.sampler.parse::<SchedulerConfig>()?.build::<4>(args.sampling_steps)?;
    let mut sample_rng = seeded_rng(args.seed + 3);
    let noise = gaussian_noise([requested.len(), 1, SIZE, SIZE], &mut sample_rng, &device)?
        .mul_scalar(scheduler.init_noise_sigma());
    let out = sample(
        &model.unet,
        scheduler.as_mut(),
        noise,
        &condition,
        &GuidanceConfig::new().with_scale(args.guidance),
        &mut sample_rng,
    )?;
    let samples = out.sample.clamp(-1.0, 1.0);
    let read_back = reader.read(&samples)?;
    let scores = Scores::of(&read_back, &requested);
    println!(
        "\n{} samples ({} with {} network evaluations each), read back: {}",
        requested.len(),
        args.sampler,
        out.nfe,
        scores
    );
    println!("(held-out real phantoms: {real_scores}; chance: 50% per attribute, 12.5% all three)");
    for k in 0..8 {
        let finding = Finding::from_index(k);
        let hits = (0..PER_REPORT).filter(|r| read_back[r * 8 + k] == finding).count();
        println!("  \"{}\": {hits}/{PER_REPORT} read back exactly", finding.report());
    }
    GridBuilder::new()
        .scale(3)
        .images(samples, (-1.0, 1.0), 8)?
        .save(args.out.join("samples_by_report.png"))?;
    println!(
        "wrote {} (columns: the eight reports in the order printed above) in {:.0} s",
        args.out.join("samples_by_report.png").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `n` phantoms with one visible lesion each (images in [-1, 1] on `device`), their findings,
/// and the median lesion area that splits small from large (measured on this cohort unless
/// given).
fn cohort(
    phantoms: &PhantomConfig,
    n: usize,
    median_area: Option<usize>,
    vocabulary: &ReportVocabulary,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<(Cohort, usize), Box<dyn Error>> {
    let batch = phantoms.generate_batch(n, rng)?;
    let pixels = SIZE * SIZE;
    let mut keep = Vec::new();
    let mut lesions = Vec::new();
    for i in 0..n {
        let labels = &batch.labels[i * pixels..(i + 1) * pixels];
        let columns: Vec<usize> =
            (0..pixels).filter(|&p| labels[p] == tissue::LESION).map(|p| p % SIZE).collect();
        if columns.is_empty() {
            continue;
        }
        let centroid = columns.iter().sum::<usize>() as f64 / columns.len() as f64;
        keep.push(i);
        lesions.push((
            centroid >= SIZE as f64 / 2.0,
            columns.len(),
            batch.covariates[i].class == 2,
        ));
    }
    let median = median_area.unwrap_or_else(|| {
        let mut areas: Vec<usize> = lesions.iter().map(|l| l.1).collect();
        areas.sort_unstable();
        areas[areas.len() / 2]
    });
    let findings: Vec<Finding> = lesions
        .iter()
        .map(|&(right, area, hyper)| Finding { right, large: area >= median, hyper })
        .collect();
    let images: Vec<f32> = keep
        .iter()
        .flat_map(|&i| batch.images[i * pixels..(i + 1) * pixels].iter().map(|v| 2.0 * v - 1.0))
        .collect();
    let images =
        Tensor::<4>::from_data(TensorData::new(images, [keep.len(), 1, SIZE, SIZE]), device);
    let reports: Vec<String> = findings.iter().map(|f| f.report()).collect();
    let (ids, mask) = vocabulary.encode_batch(&reports, MAX_TOKENS, device)?;
    Ok((Cohort { images, findings, ids, mask: mask.int() }, median))
}

/// `BATCH` random indices below `count`.
fn pick(count: usize, rng: &mut SeededRng, device: &Device) -> Tensor<1, Int> {
    let idx: Vec<i32> = (0..BATCH).map(|_| rng.random_range(0..count) as i32).collect();
    Tensor::from_data(TensorData::new(idx, [BATCH]), device)
}

/// The measuring instrument: a per-pixel normative model of lesion-free phantoms.
///
/// With μ(p), σ(p) the mean and standard deviation of pixel p over lesion-free phantoms,
/// an image's departure is z(p) = (x(p) − μ(p)) / max(σ(p), σ_min). The pixels with
/// |z| > `Z_THRESHOLD` vote on the polarity (sign of Σ z); the connected region of the
/// winning sign with the largest excess mass is the lesion, whose weighted centroid column
/// gives the side and whose pixel count, against the median count on the training phantoms,
/// the size.
struct LesionReader {
    mean: Vec<f32>,
    std: Vec<f32>,
    median_area: usize,
}

/// Departure (in standard deviations) beyond which a pixel counts as lesion.
const Z_THRESHOLD: f32 = 3.0;
/// Floor of the per-pixel standard deviation (images in [-1, 1]), so that pixels that barely
/// vary in healthy phantoms (the background) do not flag every small deviation.
const MIN_STD: f32 = 0.05;

/// The departing pixels of one image: polarity, weighted centroid column and area.
struct Departure {
    hyper: bool,
    centroid: f64,
    area: usize,
}

impl LesionReader {
    /// Fits μ and σ on `count` phantoms of `healthy` (which must draw no lesions), then sets
    /// the size split at the median area the reader measures on `training` images.
    fn fit(
        healthy: &PhantomConfig,
        count: usize,
        training: &Tensor<4>,
        rng: &mut SeededRng,
    ) -> Result<Self, Box<dyn Error>> {
        let batch = healthy.generate_batch(count, rng)?;
        let pixels = SIZE * SIZE;
        let mut mean = vec![0.0f64; pixels];
        let mut square = vec![0.0f64; pixels];
        for image in batch.images.chunks_exact(pixels) {
            for (p, &v) in image.iter().enumerate() {
                let v = f64::from(2.0 * v - 1.0);
                mean[p] += v;
                square[p] += v * v;
            }
        }
        let n = count as f64;
        let std = mean
            .iter()
            .zip(&square)
            .map(|(&s, &q)| ((q / n - (s / n).powi(2)).max(0.0).sqrt() as f32).max(MIN_STD))
            .collect();
        let mean = mean.iter().map(|&s| (s / n) as f32).collect();
        let mut reader = Self { mean, std, median_area: 0 };
        let mut areas: Vec<usize> =
            host_images(training)?.iter().map(|image| reader.departure(image).area).collect();
        areas.sort_unstable();
        reader.median_area = areas[areas.len() / 2];
        Ok(reader)
    }

    /// The departure of one image (`SIZE²` values in [-1, 1]) from the norm: the polarity
    /// voted by all pixels beyond the threshold, then the 4-connected region of that sign with
    /// the largest excess mass `Σ (|z| − Z_THRESHOLD)` (scattered departures elsewhere, such
    /// as a sample's slightly different skull outline, do not move the lesion's centroid).
    fn departure(&self, image: &[f32]) -> Departure {
        let z: Vec<f32> =
            image.iter().zip(&self.mean).zip(&self.std).map(|((x, m), s)| (x - m) / s).collect();
        let vote: f32 = z.iter().filter(|v| v.abs() > Z_THRESHOLD).sum();
        let hyper = vote > 0.0;
        let excess: Vec<f32> =
            z.iter().map(|&v| if hyper { v } else { -v } - Z_THRESHOLD).collect();
        let mut seen = vec![false; excess.len()];
        let mut best = Departure { hyper, centroid: SIZE as f64 / 2.0, area: 0 };
        let mut best_mass = 0.0f64;
        for start in 0..excess.len() {
            if seen[start] || excess[start] <= 0.0 {
                continue;
            }
            let (mut mass, mut column, mut area) = (0.0f64, 0.0f64, 0usize);
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(p) = stack.pop() {
                let w = f64::from(excess[p]);
                mass += w;
                column += w * (p % SIZE) as f64;
                area += 1;
                let (row, col) = (p / SIZE, p % SIZE);
                let neighbours = [
                    (row > 0).then(|| p - SIZE),
                    (row + 1 < SIZE).then(|| p + SIZE),
                    (col > 0).then(|| p - 1),
                    (col + 1 < SIZE).then(|| p + 1),
                ];
                for q in neighbours.into_iter().flatten() {
                    if !seen[q] && excess[q] > 0.0 {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
            if mass > best_mass {
                best_mass = mass;
                best = Departure { hyper, centroid: column / mass, area };
            }
        }
        best
    }

    /// The reader's finding for every image of `[N, 1, SIZE, SIZE]` (values in [-1, 1]).
    fn read(&self, images: &Tensor<4>) -> Result<Vec<Finding>, Box<dyn Error>> {
        Ok(host_images(images)?
            .iter()
            .map(|image| {
                let d = self.departure(image);
                Finding {
                    right: d.centroid + 0.5 >= SIZE as f64 / 2.0,
                    large: d.area >= self.median_area,
                    hyper: d.hyper,
                }
            })
            .collect())
    }
}

/// The images of `[N, 1, SIZE, SIZE]` as one host vector each.
fn host_images(images: &Tensor<4>) -> Result<Vec<Vec<f32>>, Box<dyn Error>> {
    let values: Vec<f32> = images.clone().into_data().convert::<f32>().try_to_vec()?;
    Ok(values.chunks_exact(SIZE * SIZE).map(<[f32]>::to_vec).collect())
}

/// Per-attribute and exact agreement of readings with requested findings.
struct Scores {
    side: f64,
    size: f64,
    polarity: f64,
    all: f64,
}

impl Scores {
    fn of(read: &[Finding], wanted: &[Finding]) -> Self {
        let n = read.len() as f64;
        let rate = |f: &dyn Fn(&Finding, &Finding) -> bool| {
            read.iter().zip(wanted).filter(|(r, w)| f(r, w)).count() as f64 / n
        };
        Self {
            side: rate(&|r, w| r.right == w.right),
            size: rate(&|r, w| r.large == w.large),
            polarity: rate(&|r, w| r.hyper == w.hyper),
            all: rate(&|r, w| r == w),
        }
    }
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "side {:.0}%, size {:.0}%, polarity {:.0}%, all three {:.0}%",
            100.0 * self.side,
            100.0 * self.size,
            100.0 * self.polarity,
            100.0 * self.all
        )
    }
}

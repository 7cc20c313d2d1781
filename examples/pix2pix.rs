//! # pix2pix on paired phantoms: low-dose denoising and T1 → T2 synthesis
//!
//! 1. build paired data from the synthetic phantoms: (a) clean phantoms and a simulated
//!    low-dose CT scan of them: parallel-beam projections, Poisson photon counts
//!    `n ~ Poisson(I₀ e^{−p})` per detector bin and filtered back-projection
//!    (`medgen_recon::LowDoseConfig::acquire`; `--dose-model image` draws the counts per pixel
//!    instead, the older image-domain approximation), (b) the T1-like phantom and a T2-like
//!    rendering of the same anatomy;
//! 2. train a U-Net generator against a conditional PatchGAN with `λ·L1` (`λ = 100`) for each
//!    task with `medgen_gan::Pix2PixConfig`; the denoiser predicts a residual,
//!    `ŷ = clamp(x + G(x), −1, 1)` (residual learning as in DnCNN/RED-CNN: it starts as the
//!    identity, so a short CPU run already improves on its input);
//! 3. on held-out pairs, print PSNR and SSIM of the input and of the output against the target
//!    (the output must beat the input), and write `pix2pix.png`: for each task, rows input /
//!    output / target.
//!
//! ```sh
//! cargo run --release --example pix2pix -- --out out/pix2pix
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::tensor::TensorData;
use medgen::burn::tensor::{Device, Tensor};
use medgen::core::Condition;
use medgen::core::{DeviceChoice, init_seeded, seeded_rng};
use medgen::core::{SeededRng, read_values};
use medgen::data::{
    LowDoseNoise, PairedImages, PhantomBatch, PhantomConfig, TissueContrast, contrast_pairs,
    low_dose_pairs,
};
use medgen::gan::{
    GanTrainerConfig, Generator, NormKind, PairedSet, PatchGanConfig, Pix2PixConfig, UNetGenerator,
    UNetGeneratorConfig, translate,
};
use medgen::metrics::{SsimConfig, psnr_batch, ssim_batch};
use medgen::recon::ct::evenly_spaced_angles;
use medgen::recon::{FbpFilter, LowDoseConfig, ParallelBeamProjector};
use medgen::train::TrainingProgress;
use medgen::train::viz::GridBuilder;

/// Paired translation on phantoms (low-dose denoising, T1 -> T2).
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/pix2pix")]
    out: PathBuf,
    /// Image size, a power of two >= 32.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Training steps per task.
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Base channels of the U-Net and the PatchGAN.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// Weight of the L1 term.
    #[arg(long, default_value_t = 100.0)]
    lambda: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Where the low-dose noise is drawn: `sinogram` (photon counts per detector bin, then
    /// filtered back-projection) or `image` (photon counts per pixel).
    #[arg(long, default_value = "sinogram")]
    dose_model: DoseModel,
    /// Incident photons per detector bin of the sinogram model.
    #[arg(long, default_value_t = 2e4)]
    incident_photons: f64,
}

/// Where the low-dose acquisition adds its noise.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DoseModel {
    /// Poisson counts per detector bin of a parallel-beam scan, reconstructed by FBP.
    Sinogram,
    /// Poisson counts per pixel of the image (the image-domain approximation).
    Image,
}

/// Pairs for training and for the held-out evaluation.
const TRAIN_PAIRS: usize = 512;
const TEST_PAIRS: usize = 64;
/// Images per row of the panel.
const PANEL: usize = 8;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let size = args.size;
    let steps = args.steps;
    let batch = args.batch;
    let channels = args.channels;
    let lambda = args.lambda;
    let seed = args.seed;
    let device = args.device.device()?;
    if !size.is_power_of_two() || size < 32 || steps == 0 || batch == 0 {
        return Err("--size must be a power of two >= 32; see --help".into());
    }
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);
    let n = TRAIN_PAIRS + TEST_PAIRS;

    // 1. Paired data. Denoising targets are noise-free phantoms.
    let clean = PhantomConfig::new(size).with_noise_std(0.0).generate_batch(n, &mut rng)?;
    let denoising = match args.dose_model {
        DoseModel::Image => low_dose_pairs(&clean, &LowDoseNoise::low_dose_ct(), &mut rng)?,
        DoseModel::Sinogram => {
            sinogram_low_dose_pairs(&clean, args.incident_photons, &device, &mut rng)?
        }
    };
    let t1 = PhantomConfig::new(size).generate_batch(n, &mut rng)?;
    let synthesis = contrast_pairs(&t1, &TissueContrast::new(), &mut rng)?;
    println!(
        "{n} pairs of {size}x{size} per task ({TEST_PAIRS} held out); low-dose model {:?}",
        args.dose_model
    );

    let config = Pix2PixConfig::new(GanTrainerConfig::new(steps))
        .with_lambda_l1(lambda)
        .with_batch_size(batch);
    let mut panel = GridBuilder::new().scale(2);
    let unet = UNetGeneratorConfig::new(2, 1, 1)
        .with_num_downs(size.trailing_zeros() as usize)
        .with_base_channels(channels);
    let train_device = device.clone().autodiff();
    // Denoising is local: a shallower U-Net with instance norm and no dropout (so training
    // and evaluation compute the same function) around a residual connection.
    // Initial weights from a seeded generator, so that a seed reproduces the run.
    let mut init_rng = seeded_rng(seed + 10);
    let denoiser = ResidualUNet {
        unet: init_seeded(&train_device, &mut init_rng, |d| {
            unet.clone()
                .with_num_downs(3)
                .with_norm(NormKind::Instance)
                .with_dropout_blocks(0)
                .init(d)
        })?,
    };
    let task = Task { config: &config, channels, seed, device: &device };
    let rows = task.run("denoising", denoiser, &denoising)?;
    let rows = rows.into_iter().chain(task.run(
        "T1 -> T2",
        init_seeded(&train_device, &mut init_rng, |d| unet.init(d))?,
        &synthesis,
    )?);
    for row in rows {
        panel = panel.image_row(row, (-1.0, 1.0))?;
    }
    let path = out.join("pix2pix.png");
    panel.save(&path)?;
    println!("wrote {} (total {:.0} s)", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// A residual translator `ŷ = clamp(x + G(x), −1, 1)` around the pix2pix U-Net.
#[derive(Module, Debug)]
struct ResidualUNet {
    unet: UNetGenerator,
}

impl Generator<4, 4> for ResidualUNet {
    fn generate(
        &self,
        input: Tensor<4>,
        condition: &Condition<4>,
    ) -> medgen::gan::Result<Tensor<4>> {
        let residual = self.unet.generate(input.clone(), condition)?;
        Ok(input.add(residual).clamp(-1.0, 1.0))
    }
}

/// What the two tasks share.
struct Task<'a> {
    config: &'a Pix2PixConfig,
    channels: usize,
    seed: u64,
    device: &'a Device,
}

impl Task<'_> {
    /// Trains `generator` on one translation task, prints the held-out metrics and returns
    /// the panel rows (input, output, target).
    fn run<G: Module + Generator<4, 4>>(
        &self,
        task: &str,
        generator: G,
        pairs: &PairedImages,
    ) -> Result<[Tensor<4>; 3], Box<dyn Error>> {
        let Self { config, channels, seed, device } = *self;
        let train_device = device.clone().autodiff();
        let (source, target) = pairs.to_tensors::<4>(&train_device)?;
        let train = PairedSet::new(
            source.clone().narrow(0, 0, TRAIN_PAIRS),
            target.clone().narrow(0, 0, TRAIN_PAIRS),
        )?;
        let test_source = source.narrow(0, TRAIN_PAIRS, TEST_PAIRS).inner();
        let test_target = target.narrow(0, TRAIN_PAIRS, TEST_PAIRS).inner();

        let discriminator = init_seeded(&train_device, &mut seeded_rng(seed + 2), |d| {
            PatchGanConfig::new(2, 1)
                .with_condition_channels(1)
                .with_num_layers(2)
                .with_base_channels(channels)
                .with_norm(NormKind::Batch)
                .init(d)
        })?;
        println!(
            "{task}: U-Net {} parameters, PatchGAN {}",
            generator.num_params(),
            discriminator.num_params()
        );
        let started = Instant::now();
        let mut trainer = config
            .trainer(generator, discriminator, seeded_rng(seed + 1), &task)?
            .with_progress(TrainingProgress::new(task, config.trainer.total_steps));
        trainer.fit(
            |_, rng| train.sample(config.batch_size, rng, &train_device),
            |_, report| {
                for event in &report.events {
                    println!("{task}: warning: {event}");
                }
                Ok(())
            },
        )?;
        let history = trainer.history();
        println!(
            "{task}: trained {} steps in {:.0} s; final D loss {:.3}, G loss (adv. + λ·L1) {:.3}",
            config.trainer.total_steps,
            started.elapsed().as_secs_f64(),
            history.d_loss.last().map_or(f32::NAN, |(_, l)| l),
            history.g_loss.last().map_or(f32::NAN, |(_, l)| l),
        );

        let output =
            translate(&trainer.inference_generator(), test_source.clone())?.clamp(-1.0, 1.0);
        let ssim = SsimConfig::gaussian(2.0);
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let psnr_in = mean(psnr_batch(test_source.clone(), test_target.clone(), 2.0)?);
        let psnr_out = mean(psnr_batch(output.clone(), test_target.clone(), 2.0)?);
        let ssim_in = mean(ssim_batch(test_source.clone(), test_target.clone(), &ssim)?);
        let ssim_out = mean(ssim_batch(output.clone(), test_target.clone(), &ssim)?);
        let beats = psnr_out > psnr_in && ssim_out > ssim_in;
        println!(
            "{task}: held-out {TEST_PAIRS} pairs vs target: input PSNR {psnr_in:.2} dB SSIM \
         {ssim_in:.4} | output PSNR {psnr_out:.2} dB SSIM {ssim_out:.4} | output beats input: {}",
            if beats { "yes" } else { "NO" }
        );
        let rows = |t: Tensor<4>| t.narrow(0, 0, PANEL);
        Ok([rows(test_source), rows(output), rows(test_target)])
    }
}

/// Low-dose CT pairs simulated where the noise arises: each clean phantom (attenuation in
/// [0, 1]) is projected over `2 S` views, photon counts are drawn per detector bin with
/// `incident_photons` and the noisy sinogram is reconstructed by Shepp-Logan FBP.
fn sinogram_low_dose_pairs(
    clean: &PhantomBatch,
    incident_photons: f64,
    device: &Device,
    rng: &mut SeededRng,
) -> Result<PairedImages, Box<dyn Error>> {
    let size = clean.spatial[0];
    let projector = ParallelBeamProjector::new(
        size,
        &evenly_spaced_angles(2 * size),
        FbpFilter::SheppLogan,
        device,
    )?;
    let dose = LowDoseConfig::new(incident_photons);
    let item = size * size;
    let mut source = Vec::with_capacity(clean.images.len());
    // In chunks, to bound the projector's gather buffers.
    for chunk in clean.images.chunks(64 * item) {
        let n = chunk.len() / item;
        let images =
            Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [n, 1, size, size]), device);
        let noisy = dose.acquire(&projector, images, rng)?.clamp(0.0, 1.0);
        source.extend(read_values::<f32, 4, _>(noisy, "low-dose images")?);
    }
    Ok(PairedImages { spatial: clean.spatial.clone(), source, target: clean.images.clone() })
}

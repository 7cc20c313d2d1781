//! # Autoencoders side by side: AE, denoising AE, VAE and adversarial AE on brain phantoms
//!
//! Trains four convolutional autoencoders of the same architecture (32x32 phantoms →
//! 4 x 8 x 8 latents) on the CPU, then reports on held-out phantoms:
//!
//! - the reconstruction error (MSE) of each model;
//! - for the VAE, the ELBO and the importance-weighted bound (IWAE, k samples) in bits/dim of
//!   the continuous density on `[-1, 1]` intensities (lower is better; the bound tightens
//!   with k);
//!
//! and writes `reconstructions.png` (rows: held-out phantoms, AE, DAE, VAE, AAE),
//! `samples.png` (decoded `z ~ N(0, I)`: four rows from the VAE, then four from the AAE,
//! whose latent discriminator made its codes match the same prior) and `vae_interpolations.png` (spherical
//! interpolation between the codes of two held-out phantoms, one row per pair).
//!
//! ```sh
//! cargo run --release --example vae -- --out out/vae
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use medgen::burn::module::Module;
use medgen::burn::optim::AdamConfig;
use medgen::burn::tensor::{Int, Tensor, TensorData};
use medgen::core::{
    Autoencoder, Condition, DeviceChoice, Sample, SeededRng, init_seeded, seeded_rng,
};
use medgen::data::PhantomConfig;
use medgen::train::viz::GridBuilder;
use medgen::train::{Trainer, TrainerConfig, TrainingProgress, WarmupCosineConfig};
use medgen::vae::{
    AdversarialAeConfig, Ae, AeConfig, BackboneConfig, Corruption, LatentDiscriminator,
    LatentDiscriminatorConfig, Likelihood, Vae, VaeConfig, VaeError, VaeLossConfig,
    interpolate_latents,
};
use rand::RngExt;

/// AE, denoising AE, VAE and adversarial AE on brain phantoms, side by side.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/vae")]
    out: PathBuf,
    /// Training steps per model.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Importance samples of the IWAE bound.
    #[arg(long, default_value_t = 64)]
    k: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

const SIZE: usize = 32;
const TRAIN: usize = 768;
const TEST: usize = 64;

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let steps = args.steps;
    let batch = args.batch;
    let k = args.k;
    let seed = args.seed;
    let device = args.device.device()?;
    let train_device = device.clone().autodiff();
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut rng = seeded_rng(seed);

    let phantoms = PhantomConfig::new(SIZE);
    let train = phantoms.generate_batch(TRAIN, &mut rng)?.to_tensors::<4>(&train_device)?.images;
    let test = phantoms.generate_batch(TEST, &mut rng)?.to_tensors::<4>(&device)?.images;
    println!("{TRAIN} training and {TEST} held-out phantoms of {SIZE}x{SIZE}");

    let backbone = BackboneConfig::new(2, 1, 4).with_hidden(vec![16, 32, 64]);
    let fit = |name: &str| -> (TrainerConfig, TrainingProgress) {
        let config = TrainerConfig::new(
            WarmupCosineConfig::new(2e-3, steps).with_warmup_steps(steps / 20).with_min_lr(1e-4),
        )
        .with_max_grad_norm(Some(5.0));
        (config, TrainingProgress::new(name, steps))
    };
    let draw_batch = |rng: &mut SeededRng| {
        let idx: Vec<i32> = (0..batch).map(|_| rng.random_range(0..TRAIN) as i32).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [batch]), &train_device);
        train.clone().select(0, idx)
    };

    // 1. Plain and denoising autoencoders (salt-and-pepper corruption of 20% of the pixels).
    let mut autoencoders = Vec::new();
    // Initial weights of every model from one seeded generator.
    let mut init_rng = seeded_rng(seed + 10);
    for (name, corruption) in
        [("AE", None), ("DAE", Some(Corruption::SaltAndPepper { p: 0.2, low: -1.0, high: 1.0 }))]
    {
        let model = init_seeded(&train_device, &mut init_rng, |d| {
            AeConfig::new(backbone.clone()).with_corruption(corruption).init(d)
        })?;
        let (config, progress) = fit(name);
        let mut trainer =
            Trainer::new(&config, model, AdamConfig::new().init(), seeded_rng(seed + 1), &())?
                .with_progress(progress);
        trainer.fit(|m: &Ae, _step, rng| -> Result<Tensor<1>, VaeError> {
            let x = draw_batch(rng);
            m.loss(x, rng)
        })?;
        autoencoders.push((name, trainer.into_model().valid()));
    }

    // 2. The VAE: Gaussian likelihood σ = 0.1, KL warm-up over the first quarter.
    let vae = init_seeded(&train_device, &mut init_rng, |d| {
        VaeConfig::new(backbone.clone())
            .with_likelihood(Likelihood::Gaussian { std: 0.1 })
            .with_sample_size(vec![SIZE, SIZE])
            .init(d)
    })?;
    let loss = VaeLossConfig::new().with_warmup_steps(steps / 4).init()?;
    let (config, progress) = fit("VAE");
    let mut trainer =
        Trainer::new(&config, vae, AdamConfig::new().init(), seeded_rng(seed + 2), &())?
            .with_progress(progress);
    trainer.fit(|m: &Vae, step, rng| -> Result<Tensor<1>, VaeError> {
        let x = draw_batch(rng);
        Ok(loss.loss(m, x, &Condition::none(), step, rng)?.loss)
    })?;
    let vae = trainer.into_model().valid();

    // 3. The adversarial autoencoder: an MLP discriminator on the 4x8x8 codes against N(0, I)
    //    (non-saturating GAN loss, weight 0.05), alternating with the autoencoder.
    let ae =
        init_seeded(&train_device, &mut init_rng, |d| AeConfig::new(backbone.clone()).init(d))?;
    let latent_size = 4 * (SIZE / 4) * (SIZE / 4);
    let disc = init_seeded(&train_device, &mut init_rng, |d| {
        LatentDiscriminatorConfig::new(latent_size).with_hidden(vec![128, 64]).init(d)
    })?;
    let aae = AdversarialAeConfig::new().with_adversarial_weight(0.05).init()?;
    let (config, progress) = fit("AAE");
    let mut ae_trainer =
        Trainer::new(&config, ae, AdamConfig::new().init(), seeded_rng(seed + 4), &())?
            .with_progress(progress);
    let (d_config, _) = fit("AAE discriminator");
    let mut d_trainer = Trainer::new(
        &d_config,
        disc,
        AdamConfig::new().with_beta_1(0.5).init(),
        seeded_rng(seed + 5),
        &(),
    )?;
    while !ae_trainer.is_finished() {
        d_trainer.step(|d: &LatentDiscriminator, _, rng| -> Result<Tensor<1>, VaeError> {
            aae.discriminator_loss(ae_trainer.model(), d, draw_batch(rng), rng)
        })?;
        let d = d_trainer.model();
        ae_trainer.step(|m: &Ae, _, rng| -> Result<Tensor<1>, VaeError> {
            aae.autoencoder_loss(m, d, draw_batch(rng), rng)
        })?;
    }
    let aae_model = ae_trainer.into_model().valid();
    println!("trained in {:.0} s", started.elapsed().as_secs_f64());

    // 4. Held-out numbers.
    let dims = (SIZE * SIZE) as f64;
    let bpd = |nats: Tensor<1>| {
        -(nats.mean().into_scalar::<f32>() as f64) / (dims * std::f64::consts::LN_2)
    };
    let mse = |x_hat: Tensor<4>| x_hat.sub(test.clone()).square().mean().into_scalar::<f32>();
    println!("\nheld-out ({TEST} phantoms)      MSE    ELBO bpd   IWAE bpd (k={k})");
    let mut rows = vec![test.clone().slice(0..8)];
    for (name, model) in &autoencoders {
        let x_hat = model.reconstruct(test.clone())?;
        println!("{name:<28} {:.4}   n/a        n/a", mse(x_hat.clone()));
        rows.push(x_hat.slice(0..8));
    }
    let none = Condition::none();
    let mut eval_rng = seeded_rng(seed + 3);
    let elbo = vae.elbo(test.clone(), &none, &mut eval_rng)?;
    let iwae = vae.iwae(test.clone(), &none, k, &mut eval_rng)?;
    let iwae_small = vae.iwae(test.clone(), &none, 4, &mut eval_rng)?;
    let x_hat = Autoencoder::decode(&vae, Autoencoder::encode(&vae, test.clone())?)?;
    println!(
        "{:<28} {:.4}   {:.4}     {:.4}   (k=4: {:.4})",
        "VAE (σ=0.1)",
        mse(x_hat.clone()),
        bpd(elbo),
        bpd(iwae),
        bpd(iwae_small)
    );
    rows.push(x_hat.slice(0..8));
    let x_hat = aae_model.reconstruct(test.clone())?;
    println!("{:<28} {:.4}   n/a        n/a", "AAE", mse(x_hat.clone()));
    rows.push(x_hat.slice(0..8));

    // 5. Pictures.
    let mut grid = GridBuilder::new().scale(2);
    for row in rows {
        grid = grid.image_row(row.clamp(-1.0, 1.0), (-1.0, 1.0))?;
    }
    grid.save(out.join("reconstructions.png"))?;
    let vae_samples = Sample::<4>::sample(&vae, 32, &none, &mut eval_rng, &device)?.samples;
    let prior = vae.sample_prior::<4>(32, &mut eval_rng, &device)?;
    let aae_samples = Autoencoder::decode(&aae_model, prior)?;
    GridBuilder::new()
        .scale(2)
        .images(Tensor::cat(vec![vae_samples, aae_samples], 0).clamp(-1.0, 1.0), (-1.0, 1.0), 8)?
        .save(out.join("samples.png"))?;
    let codes = Autoencoder::encode(&vae, test.clone().slice(0..8))?;
    let mut grid = GridBuilder::new().scale(2);
    for pair in 0..4 {
        let path = interpolate_latents(
            codes.clone().slice(2 * pair..2 * pair + 1),
            codes.clone().slice(2 * pair + 1..2 * pair + 2),
            8,
            true,
        )?;
        let images = Autoencoder::decode(&vae, path)?;
        grid = grid.image_row(images.clamp(-1.0, 1.0), (-1.0, 1.0))?;
    }
    grid.save(out.join("vae_interpolations.png"))?;
    println!(
        "\nwrote reconstructions.png, samples.png, vae_interpolations.png to {} (total {:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

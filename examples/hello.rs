//! Hello, medgen: train a small diffusion model on brain phantoms for 300 steps, then write 16
//! samples to `hello.png`. About 1.5 minutes on 2 CPU cores (release build):
//! `cargo run --release --example hello`.
use medgen::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (device, mut rng) = (Device::flex().autodiff(), seeded_rng(0));
    let data = PhantomConfig::new(32).generate_batch(512, &mut rng)?.to_tensors::<4>(&device)?;
    let unet = init_seeded(&device, &mut rng, |d| UNetConfig::small(1).init(d))?;
    let config = TrainerConfig::new(WarmupCosineConfig::new(2e-3, 300));
    let mut trainer = Trainer::new(&config, unet, AdamWConfig::new().init(), rng, &())?
        .with_progress(TrainingProgress::new("hello", 300));
    let loss = DenoisingLossConfig::new().init(ScheduleConfig::new().init()?)?;
    loss.fit(&mut trainer, |_, rng| Ok((data.random_batch(16, rng)?.images, Condition::none())))?;
    let ddim: SchedulerConfig = "ddim".parse()?;
    let model = DiffusionPipeline::new(trainer.inference_model(), ddim, 50, &[1, 32, 32])?;
    let samples = model.sample(16, &Condition::<4>::none(), &mut seeded_rng(1), &Device::flex())?;
    save_image_grid("hello.png", samples.samples.clamp(-1.0, 1.0), 4, (-1.0, 1.0), 2)?;
    Ok(())
}

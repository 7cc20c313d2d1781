//! The same seed gives bit-identical losses and samples for every family on the same device,
//! through the public API only: initial weights from `init_seeded`, every other draw from the
//! caller's `SeededRng`. A different seed must give different numbers, so that the tests
//! cannot pass by accident.
//!
//! Every model here is built through `init_seeded`, which serialises the use of Burn's global
//! weight generator, so the tests may run in parallel threads.

use medgen::burn::tensor::{Device, Tensor};
use medgen::core::ode::OdeSolver;
use medgen::core::{Condition, Sample, init_seeded, seeded_rng};
use medgen::data::PhantomConfig;
use medgen::diffusion::{DenoisingLossConfig, DiffusionPipeline, ScheduleConfig, SchedulerConfig};
use medgen::flow::RealNvpConfig;
use medgen::flow::continuous::MlpVectorFieldConfig;
use medgen::flow::matching::{FlowMatchingLossConfig, FlowMatchingModel};
use medgen::gan::{
    DcganDiscriminatorConfig, DcganGeneratorConfig, GanBatch, GanLoss, GanSampler, GanTrainer,
    GanTrainerConfig,
};
use medgen::nn::UNetConfig;
use medgen::train::{Trainer, TrainerConfig, TrainingObjective, WarmupCosineConfig};
use medgen::vae::{BackboneConfig, VaeConfig, VaeLossConfig};
use medgen_testing::test_device;

/// The training losses of a short run and the host values of the samples drawn after it.
type Run = (Vec<f32>, Vec<f32>);

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("read back")
}

fn short_run(steps: usize) -> TrainerConfig {
    TrainerConfig::new(WarmupCosineConfig::new(1e-2, steps).with_warmup_steps(0))
}

/// Runs `run` twice with `seed` and once with `seed + 1`: the first two must agree bit for
/// bit, the third must differ.
fn assert_reproducible(run: impl Fn(u64) -> Run) {
    let (a, b, other) = (run(7), run(7), run(8));
    assert!(a.0.iter().chain(&a.1).all(|v| v.is_finite()), "{a:?}");
    assert_eq!(a, b, "the same seed gave different numbers");
    assert_ne!(a.1, other.1, "another seed gave the same samples");
}

#[test]
fn diffusion_training_and_sampling_are_reproducible() {
    assert_reproducible(|seed| {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(seed);
        let phantoms = PhantomConfig::new(8)
            .generate_batch(8, &mut rng)
            .unwrap()
            .to_tensors::<4>(&device)
            .unwrap();
        let unet = UNetConfig::new(1, 1)
            .with_base_channels(8)
            .with_channel_mults(vec![1])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(4);
        let unet = init_seeded(&device, &mut rng, |d| unet.init(d)).unwrap();
        let mut trainer = Trainer::new(
            &short_run(3),
            unet,
            medgen::burn::optim::AdamWConfig::new().init(),
            rng,
            &(),
        )
        .unwrap();
        let loss = DenoisingLossConfig::new().init(ScheduleConfig::new().init().unwrap()).unwrap();
        loss.fit(&mut trainer, |_, rng| {
            Ok((phantoms.random_batch(4, rng)?.images, Condition::none()))
        })
        .unwrap();
        let losses = trainer.history().losses().to_vec();
        let ddim: SchedulerConfig = "ddim".parse().unwrap();
        let pipeline =
            DiffusionPipeline::new(trainer.inference_model(), ddim, 3, &[1, 8, 8]).unwrap();
        let samples = pipeline
            .sample(2, &Condition::<4>::none(), &mut seeded_rng(seed), &test_device())
            .unwrap();
        assert_eq!(samples.nfe, 3);
        (losses, host(samples.samples))
    });
}

#[test]
fn flow_matching_training_and_sampling_are_reproducible() {
    assert_reproducible(|seed| {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(seed);
        let data = medgen::core::noise::gaussian_noise([16, 2], &mut rng, &device)
            .unwrap()
            .add_scalar(1.0);
        let field = init_seeded(&device, &mut rng, |d| {
            MlpVectorFieldConfig::new(2).with_hidden(vec![16]).init(d)
        })
        .unwrap();
        let mut trainer = Trainer::new(
            &short_run(3),
            field,
            medgen::burn::optim::AdamWConfig::new().init(),
            rng,
            &(),
        )
        .unwrap();
        let loss = FlowMatchingLossConfig::conditional(0.0).init().unwrap();
        loss.fit(&mut trainer, |_, _| Ok((data.clone(), Condition::none()))).unwrap();
        let losses = trainer.history().losses().to_vec();
        let model =
            FlowMatchingModel::new(trainer.inference_model(), OdeSolver::Euler { steps: 4 }, &[2])
                .unwrap();
        let samples =
            model.sample(3, &Condition::none(), &mut seeded_rng(seed), &test_device()).unwrap();
        assert_eq!(samples.nfe, 4);
        (losses, host(samples.samples))
    });
}

#[test]
fn normalizing_flow_training_and_sampling_are_reproducible() {
    assert_reproducible(|seed| {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(seed);
        let data = medgen::core::noise::gaussian_noise([16, 2], &mut rng, &device)
            .unwrap()
            .mul_scalar(0.5);
        let flow = init_seeded(&device, &mut rng, |d| RealNvpConfig::new(2, 2, 8).init(d)).unwrap();
        let mut trainer = Trainer::new(
            &short_run(3),
            flow,
            medgen::burn::optim::AdamWConfig::new().init(),
            rng,
            &(),
        )
        .unwrap();
        trainer.fit(|flow: &medgen::flow::Flow, _, _| flow.nll(data.clone())).unwrap();
        let losses = trainer.history().losses().to_vec();
        let flow = trainer.inference_model();
        let samples =
            Sample::sample(&flow, 3, &Condition::none(), &mut seeded_rng(seed), &test_device())
                .unwrap();
        (losses, host(samples.samples))
    });
}

#[test]
fn vae_training_and_sampling_are_reproducible() {
    assert_reproducible(|seed| {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(seed);
        let images = PhantomConfig::new(8)
            .generate_batch(4, &mut rng)
            .unwrap()
            .to_tensors::<4>(&device)
            .unwrap()
            .images;
        let vae = init_seeded(&device, &mut rng, |d| {
            VaeConfig::new(BackboneConfig::new(2, 1, 2).with_hidden(vec![4]))
                .with_sample_size(vec![8, 8])
                .init(d)
        })
        .unwrap();
        let mut trainer = Trainer::new(
            &short_run(3),
            vae,
            medgen::burn::optim::AdamWConfig::new().init(),
            rng,
            &(),
        )
        .unwrap();
        let loss = VaeLossConfig::new().init().unwrap();
        trainer
            .fit(|vae: &medgen::vae::Vae, step, rng| {
                Ok::<_, medgen::vae::VaeError>(
                    loss.loss(vae, images.clone(), &Condition::none(), step, rng)?.loss,
                )
            })
            .unwrap();
        let losses = trainer.history().losses().to_vec();
        let samples = trainer
            .inference_model()
            .sample(2, &Condition::<4>::none(), &mut seeded_rng(seed), &test_device())
            .unwrap();
        (losses, host(samples.samples))
    });
}

#[test]
fn gan_training_and_sampling_are_reproducible() {
    assert_reproducible(|seed| {
        let device = test_device().autodiff();
        let mut rng = seeded_rng(seed);
        let generator = init_seeded(&device, &mut rng, |d| {
            DcganGeneratorConfig::new(2, 4, 1, 8)
                .with_num_upsamplings(2)
                .with_base_channels(4)
                .init(d)
        })
        .unwrap();
        let discriminator = init_seeded(&device, &mut rng, |d| {
            DcganDiscriminatorConfig::new(2, 1, 8)
                .with_num_downsamplings(2)
                .with_base_channels(4)
                .init(d)
        })
        .unwrap();
        let config = GanTrainerConfig::new(2);
        let mut trainer =
            GanTrainer::new(&config, generator, discriminator, GanLoss::Hinge, rng, &()).unwrap();
        let mut losses = Vec::new();
        while !trainer.is_finished() {
            let report = trainer
                .step(|_, rng| {
                    let batch = PhantomConfig::new(8).generate_batch(4, rng)?;
                    let real = batch.to_tensors::<4>(&device)?.images;
                    let z = medgen::core::noise::gaussian_noise([4, 4], rng, &device)?;
                    Ok(GanBatch::new(real, z))
                })
                .unwrap();
            losses.extend([report.stats.d_loss, report.stats.g_loss]);
        }
        let sampler = GanSampler::new(trainer.inference_generator(), 4).unwrap();
        let samples = sampler
            .sample(
                2,
                &Condition::<4>::none(),
                &mut seeded_rng(seed),
                &Device::clone(&test_device()),
            )
            .unwrap();
        (losses, host(samples.samples))
    });
}

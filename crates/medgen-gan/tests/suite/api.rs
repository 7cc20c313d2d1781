//! The public API of `medgen-gan`, used as a dependent crate would use it: `GanSampler` behind
//! medgen-core's `Sample` verb (against a generator whose output is a known function of the
//! seeded latent codes, and a DCGAN generator), the adversarial losses against their closed
//! forms, one `GanTrainer` step whose discriminator and generator losses are recomputed from
//! the networks before the update, a discriminator trained by the generic
//! `medgen_train::Trainer` on `GanLoss`, a save/load round trip of a generator, and the typed
//! error every bad input produces (variant, and the offending argument in the message).

use medgen_core::burn::module::Module;
use medgen_core::burn::optim::AdamWConfig;
use medgen_core::burn::tensor::{Device, Int, Tensor};
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, CoreError, Sample, init_seeded, seeded_rng};
use medgen_gan::{
    DcganDiscriminator, DcganGenerator, DcganGeneratorConfig, Discriminator, GanBatch, GanError,
    GanLoss, GanSampler, GanTrainer, GanTrainerConfig, Generator, auxiliary_classifier_loss,
};
use medgen_testing::assert_error;
use medgen_testing::{host, max_abs_diff, test_device};
use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};

/// `G(z) = reshape(2z + 1, [N, 1, 2, 2])` for `z ∈ ℝ^{N×4}`: an oracle generator whose
/// samples are a known function of the latent codes.
#[derive(Debug)]
struct AffineReshape;

impl Generator<2, 4> for AffineReshape {
    fn generate(&self, z: Tensor<2>, condition: &Condition<4>) -> medgen_gan::Result<Tensor<4>> {
        assert!(condition.is_empty(), "the oracle is unconditional");
        let n = z.dims()[0];
        Ok(z.mul_scalar(2.0).add_scalar(1.0).reshape([n, 1, 2, 2]))
    }
}

use crate::common::{LATENT, discriminator_config, generator_config};

fn networks(device: &Device, seed: u64) -> (DcganGenerator, DcganDiscriminator) {
    let mut rng = seeded_rng(seed);
    let g = init_seeded(device, &mut rng, |d| generator_config().init(d)).unwrap();
    let d = init_seeded(device, &mut rng, |d| discriminator_config().init(d)).unwrap();
    (g, d)
}

fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(host::<f32, 1, _>(t)[0])
}

#[test]
fn the_sampler_maps_the_seeded_latent_codes_through_the_generator() {
    let device = test_device();
    let sampler = GanSampler::new(AffineReshape, LATENT).unwrap();
    assert_eq!(sampler.latent_dim(), LATENT);
    let out = sampler.sample(3, &Condition::<4>::none(), &mut seeded_rng(9), &device).unwrap();
    assert_eq!(out.nfe, 1);
    assert_eq!(out.samples.dims(), [3, 1, 2, 2]);
    let z = gaussian_noise([3, LATENT], &mut seeded_rng(9), &device).unwrap();
    let expected = z.mul_scalar(2.0).add_scalar(1.0).reshape([3, 1, 2, 2]);
    assert_eq!(max_abs_diff(out.samples, expected), 0.0);
}

#[test]
fn a_dcgan_generator_samples_bounded_images_reproducibly() {
    let device = test_device();
    let (generator, _) = networks(&device, 1);
    let sampler = GanSampler::new(generator, LATENT).unwrap();
    let draw =
        |seed| sampler.sample(2, &Condition::<4>::none(), &mut seeded_rng(seed), &device).unwrap();
    let a = draw(4);
    assert_eq!((a.samples.dims(), a.nfe), ([2, 1, 8, 8], 1));
    let values = host::<f32, 4, _>(a.samples);
    // The last activation is tanh.
    assert!(values.iter().all(|v| v.abs() <= 1.0), "{values:?}");
    assert_eq!(values, host::<f32, 4, _>(draw(4).samples));
    assert_ne!(values, host::<f32, 4, _>(draw(5).samples));
}

#[test]
fn the_losses_match_their_closed_forms() {
    let device = test_device();
    let (r, f) = ([2.0, -0.5], [-1.0, 0.5]);
    let real = || Tensor::<2>::from_floats([[r[0] as f32], [r[1] as f32]], &device);
    let fake = || Tensor::<2>::from_floats([[f[0] as f32], [f[1] as f32]], &device);
    let mean = |v: [f64; 2]| (v[0] + v[1]) / 2.0;
    let bce = mean(r.map(|t| softplus(-t))) + mean(f.map(softplus));
    let cases = [
        (GanLoss::Hinge, 0.75 + 0.75, 0.25),
        (GanLoss::Wasserstein, -0.25 - 0.75, 0.25),
        (
            GanLoss::least_squares(),
            0.5 * (1.0 + 2.25) / 2.0 + 0.5 * (1.0 + 0.25) / 2.0,
            0.5 * 4.25 / 2.0,
        ),
        (GanLoss::NonSaturating, bce, mean(f.map(|t| softplus(-t)))),
        (GanLoss::Minimax, bce, -mean(f.map(softplus))),
    ];
    for (loss, d, g) in cases {
        let got_d = scalar(loss.discriminator_loss(real(), fake()).unwrap());
        let got_g = scalar(loss.generator_loss(fake()).unwrap());
        assert!((got_d - d).abs() < 1e-5, "{loss:?}: D loss {got_d} vs {d}");
        assert!((got_g - g).abs() < 1e-5, "{loss:?}: G loss {got_g} vs {g}");
    }
    assert_eq!(GanLoss::least_squares().decision_threshold(), 0.5);
    assert_eq!(GanLoss::default(), GanLoss::NonSaturating);
    // Batches of real and fake patch logits may differ in size, not in patch count.
    let patches = GanLoss::Hinge
        .discriminator_loss(
            Tensor::ones([2, 3], &device),
            Tensor::zeros([4, 3], &device).sub_scalar(1.0),
        )
        .unwrap();
    assert_eq!(scalar(patches), 0.0);
    // AC-GAN cross-entropy: uniform logits over K classes cost ln K.
    let ce = auxiliary_classifier_loss(
        Tensor::<2>::zeros([2, 3], &device),
        Tensor::<1, Int>::from_ints([0, 2], &device),
    )
    .unwrap();
    assert!((scalar(ce) - 3f64.ln()).abs() < 1e-6);
}

#[test]
fn a_gan_trainer_step_reports_the_losses_of_the_networks_it_updates() {
    let device = test_device().autodiff();
    let (generator, discriminator) = networks(&device, 2);
    let none = Condition::<4>::none();
    let mut rng = seeded_rng(3);
    let real = gaussian_noise([4, 1, 8, 8], &mut rng, &device).unwrap().tanh();
    let z = gaussian_noise([4, LATENT], &mut rng, &device).unwrap();
    let batch = GanBatch::new(real.clone(), z.clone());
    let config = GanTrainerConfig::new(3);
    let loss = GanLoss::NonSaturating;
    let mut trainer =
        GanTrainer::new(&config, generator, discriminator, loss, seeded_rng(4), &()).unwrap();
    // The discriminator update reports L_D of the current networks and its accuracies.
    let fake = trainer.generator().generate(z.clone(), &none).unwrap().detach();
    let real_logits = trainer.discriminator().discriminate(real.clone(), &none).unwrap().logits;
    let fake_logits = trainer.discriminator().discriminate(fake, &none).unwrap().logits;
    let real_accuracy = host::<f32, 2, _>(real_logits.clone()).iter().filter(|&&l| l > 0.0).count();
    let fake_accuracy = host::<f32, 2, _>(fake_logits.clone()).iter().filter(|&&l| l < 0.0).count();
    let expected_d = scalar(loss.discriminator_loss(real_logits, fake_logits).unwrap());
    let stats = trainer.discriminator_step(&batch).unwrap();
    assert!((f64::from(stats.loss) - expected_d).abs() < 1e-5, "{} vs {expected_d}", stats.loss);
    assert_eq!(stats.real_accuracy, real_accuracy as f32 / 4.0);
    assert_eq!(stats.fake_accuracy, fake_accuracy as f32 / 4.0);
    // The generator update reports L_G of its samples under the updated discriminator.
    let fake = trainer.generator().generate(z.clone(), &none).unwrap();
    let logits = trainer.discriminator().discriminate(fake, &none).unwrap().logits;
    let expected_g = scalar(loss.generator_loss(logits).unwrap());
    let g_loss = trainer.generator_step(&batch).unwrap();
    assert!((f64::from(g_loss) - expected_g).abs() < 1e-5, "{g_loss} vs {expected_g}");
    // The same two updates as one counted step, then the rest of the run.
    let report = trainer.step(|_, _| Ok(batch.clone())).unwrap();
    assert_eq!(report.stats.step, 1);
    assert!(report.stats.d_loss.is_finite() && report.stats.g_loss.is_finite());
    assert_eq!(trainer.current_step(), 1);
    trainer.fit(|_, _| Ok(batch.clone()), |_, _| Ok(())).unwrap();
    assert!(trainer.is_finished());
    assert_eq!(trainer.history().len(), 3);
    assert_error!(
        trainer.step(|_, _| Ok(batch.clone())).unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "step"
    );
    let sampler = GanSampler::new(trainer.inference_generator(), LATENT).unwrap();
    let out =
        sampler.sample(2, &Condition::<4>::none(), &mut seeded_rng(0), &test_device()).unwrap();
    assert_eq!((out.samples.dims(), out.nfe), ([2, 1, 8, 8], 1));
    assert!(host::<f32, 4, _>(out.samples).iter().all(|v| v.is_finite()));
}

#[test]
fn the_generic_trainer_trains_a_discriminator_on_a_gan_loss() {
    let device = test_device().autodiff();
    let (_, discriminator) = networks(&device, 5);
    let none = Condition::<4>::none();
    let mut rng = seeded_rng(6);
    let real = gaussian_noise([4, 1, 8, 8], &mut rng, &device).unwrap().tanh();
    let fake = gaussian_noise([4, 1, 8, 8], &mut rng, &device).unwrap().tanh().neg();
    let loss = |d: &DcganDiscriminator| -> medgen_gan::Result<Tensor<1>> {
        let real = d.discriminate(real.clone(), &none)?.logits;
        let fake = d.discriminate(fake.clone(), &none)?.logits;
        GanLoss::Hinge.discriminator_loss(real, fake)
    };
    let before = scalar(loss(&discriminator).unwrap());
    let config = TrainerConfig::new(WarmupCosineConfig::new(1e-2, 2).with_warmup_steps(0));
    let mut trainer =
        Trainer::new(&config, discriminator, AdamWConfig::new().init(), seeded_rng(0), &())
            .unwrap();
    let report = trainer.step(|d: &DcganDiscriminator, _, _| loss(d)).unwrap();
    assert_eq!(report.step, 1);
    assert!((f64::from(report.loss) - before).abs() < 1e-5, "{} vs {before}", report.loss);
    trainer.fit(|d: &DcganDiscriminator, _, _| loss(d)).unwrap();
    assert_eq!(trainer.history().len(), 2);
    let after = scalar(loss(trainer.model()).unwrap());
    assert!(after < before, "two steps did not lower the hinge loss: {before} → {after}");
}

#[test]
fn a_generator_survives_a_save_load_round_trip() {
    let device = test_device();
    let (generator, _) = networks(&device, 7);
    let (other, _) = networks(&device, 8);
    let z = gaussian_noise([2, LATENT], &mut seeded_rng(1), &device).unwrap();
    let none = Condition::<4>::none();
    let reference = generator.generate(z.clone(), &none).unwrap();
    assert!(max_abs_diff(reference.clone(), other.generate(z.clone(), &none).unwrap()) > 1e-4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generator.bpk");
    generator.save_file(&path).unwrap();
    let loaded = other.load_file(&path);
    assert_eq!(max_abs_diff(reference, loaded.generate(z, &none).unwrap()), 0.0);
}

#[test]
fn bad_network_and_sampler_inputs_are_typed_errors() {
    let device = test_device();
    assert_error!(
        GanSampler::new(AffineReshape, 0).unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "latent_dim"
    );
    assert_error!(
        DcganGeneratorConfig::new(2, LATENT, 1, 10)
            .with_num_upsamplings(2)
            .init(&device)
            .unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "image_size"
    );
    assert_error!(
        DcganGeneratorConfig::new(4, LATENT, 1, 8).init(&device).unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "spatial_dims"
    );
    assert_error!(
        DcganGeneratorConfig::new(2, 0, 1, 8).init(&device).unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "latent_dim"
    );
    assert_error!(
        discriminator_config().with_base_channels(0).init(&device).unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "base_channels"
    );
    let (generator, discriminator) = networks(&device, 1);
    // Latent codes of the wrong width.
    let narrow = GanSampler::new(generator.clone(), 3).unwrap();
    assert_error!(
        narrow.sample(2, &Condition::<4>::none(), &mut seeded_rng(0), &device).unwrap_err(),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "latent code"
    );
    // Volumes from a 2D generator.
    let sampler = GanSampler::new(generator, LATENT).unwrap();
    assert_error!(
        Sample::<5>::sample(&sampler, 1, &Condition::none(), &mut seeded_rng(0), &device)
            .unwrap_err(),
        GanError::Core(CoreError::InvalidRank { expected: 4, got: 5, .. }),
        "generated image"
    );
    // The DCGAN networks are unconditional.
    let labelled = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
    assert_error!(
        sampler.sample(2, &labelled, &mut seeded_rng(0), &device).unwrap_err(),
        GanError::ConditionMismatch { network: "DcganGenerator", .. },
        "DcganGenerator"
    );
    assert_error!(
        discriminator
            .discriminate(Tensor::<4>::zeros([1, 1, 16, 16], &device), &Condition::none())
            .unwrap_err(),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "discriminator input"
    );
    assert_error!(
        discriminator
            .discriminate(Tensor::<5>::zeros([1, 1, 8, 8, 8], &device), &Condition::none())
            .unwrap_err(),
        GanError::Core(CoreError::InvalidRank { .. }),
        "discriminator input"
    );
}

#[test]
fn bad_loss_and_trainer_inputs_are_typed_errors() {
    let device = test_device();
    assert_error!(
        GanLoss::LeastSquares { a: 0.0, b: f64::NAN, c: 1.0 }.validate().unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "GanLoss::LeastSquares"
    );
    assert_error!(
        GanLoss::Hinge
            .discriminator_loss(Tensor::zeros([2, 1], &device), Tensor::zeros([2, 3], &device))
            .unwrap_err(),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "fake logits"
    );
    assert_error!(
        GanLoss::Hinge.generator_loss(Tensor::zeros([0, 1], &device)).unwrap_err(),
        GanError::Core(CoreError::Empty { .. }),
        "fake logits"
    );
    assert_error!(
        auxiliary_classifier_loss(
            Tensor::zeros([2, 3], &device),
            Tensor::from_ints([0, 3], &device)
        )
        .unwrap_err(),
        GanError::LabelOutOfRange { label: 3, num_classes: 3, .. },
        "class labels"
    );
    for (config, name) in [
        (GanTrainerConfig::new(0), "total_steps"),
        (GanTrainerConfig::new(2).with_n_critic(0), "n_critic"),
        (GanTrainerConfig::new(2).with_beta_1(1.0), "beta_1"),
        (GanTrainerConfig::new(2).with_lr_generator(0.0), "lr_generator"),
    ] {
        assert_error!(
            config.validate().unwrap_err(),
            GanError::Core(CoreError::InvalidConfig { .. }),
            name
        );
    }
    // Training needs an autodiff device.
    let (generator, discriminator) = networks(&device, 1);
    let config = GanTrainerConfig::new(1);
    assert_error!(
        GanTrainer::<_, _, 2, 4>::new(
            &config,
            generator,
            discriminator,
            GanLoss::Hinge,
            seeded_rng(0),
            &()
        )
        .unwrap_err(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "generator"
    );
    // A batch whose latent codes do not match the real images.
    let device = device.autodiff();
    let (generator, discriminator) = networks(&device, 1);
    let mut trainer =
        GanTrainer::new(&config, generator, discriminator, GanLoss::Hinge, seeded_rng(0), &())
            .unwrap();
    let batch = GanBatch::new(
        Tensor::<4>::zeros([4, 1, 8, 8], &device),
        Tensor::<2>::zeros([3, LATENT], &device),
    );
    assert_error!(
        trainer.step(|_, _| Ok(batch.clone())).unwrap_err(),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "generator input"
    );
    assert_eq!(trainer.current_step(), 0, "a failed step is not counted");
}

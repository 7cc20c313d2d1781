//! Bad inputs to the public API of `medgen-gan`, beyond those of `tests/suite/api.rs`: conditional
//! generators configured without any condition or with zero classes, labels out of range,
//! covariates of the wrong width and missing condition parts; class-conditional discriminators
//! without labels or with zero classes; PatchGAN and U-Net inputs of the wrong size or channel
//! count and conditioning images of the wrong shape; pix2pix pairs that do not align, empty
//! paired sets, empty draws and generators that change the image size; gradient-penalty,
//! spectral-norm and monitor settings out of range, observed coverage and diversity that are
//! not numbers in range, pooled-feature grids that do not fit the image, batches whose
//! condition belongs to another batch size, and a training step on NaN images. Each case
//! asserts the exact `GanError` variant and that the message names the offending argument.

use medgen_core::burn::tensor::{Device, Int, Tensor};
use medgen_core::{Condition, CoreError, init_seeded, seeded_rng};
use medgen_gan::monitor::pooled_pixel_features;
use medgen_gan::{
    AcganDiscriminatorConfig, ConditionalGeneratorConfig, Discriminator, DiscriminatorOutput,
    GanBatch, GanError, GanLoss, GanMonitor, GanMonitorConfig, GanTrainer, GanTrainerConfig,
    Generator, GradientPenaltyConfig, GradientPenaltyKind, NormKind, PairedSet, PatchGanConfig,
    Pix2PixConfig, ProjectionDiscriminatorConfig, SampleQuality, SpectralNormConfig,
    UNetGeneratorConfig, pix2pix_batch, translate,
};
use medgen_testing::{assert_err, test_device};

use crate::common::{LATENT, discriminator_config, generator_config};

fn labels(values: [i32; 2], device: &Device) -> Tensor<1, Int> {
    Tensor::from_ints(values, device)
}

/// A generator that drops the last image column: its output no longer fits its input.
#[derive(Debug)]
struct CropColumn;

impl Generator<4, 4> for CropColumn {
    fn generate(&self, x: Tensor<4>, _condition: &Condition<4>) -> medgen_gan::Result<Tensor<4>> {
        let width = x.dims()[3];
        Ok(x.narrow(3, 0, width - 1))
    }
}

/// A discriminator whose logit is the mean of each item (the penalty's checks come first).
#[derive(Debug)]
struct MeanCritic;

impl Discriminator<4> for MeanCritic {
    fn discriminate(
        &self,
        x: Tensor<4>,
        _condition: &Condition<4>,
    ) -> medgen_gan::Result<DiscriminatorOutput> {
        let n = x.dims()[0];
        Ok(DiscriminatorOutput {
            logits: x.reshape([n as i64, -1]).mean_dim(1),
            class_logits: None,
        })
    }
}

/// A conditional generator needs classes or covariates and at least one class; it refuses a
/// label out of range, covariates of the wrong width and a missing covariate part.
#[test]
fn conditional_generators_reject_bad_configs_and_conditions() {
    let device = test_device();
    assert_err!(
        ConditionalGeneratorConfig::new(generator_config()).init(&device),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "num_classes/covariate_dim"
    );
    assert_err!(
        ConditionalGeneratorConfig::new(generator_config()).with_num_classes(Some(0)).init(&device),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "num_classes"
    );
    let generator = ConditionalGeneratorConfig::new(generator_config())
        .with_num_classes(Some(3))
        .with_class_embed_dim(2)
        .with_covariate_dim(Some(2))
        .init(&device)
        .unwrap();
    let z = || Tensor::<2>::zeros([2, LATENT], &device);
    let condition = |classes: [i32; 2], width: usize| {
        Condition::<4>::none()
            .with_class(labels(classes, &device))
            .with_embedding(Tensor::zeros([2, width], &device))
    };
    assert_err!(
        generator.generate(z(), &condition([0, 3], 2)),
        GanError::LabelOutOfRange { label: 3, num_classes: 3, .. },
        "condition.class"
    );
    assert_err!(
        generator.generate(z(), &condition([0, 2], 3)),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "condition.embedding"
    );
    let class_only = Condition::<4>::none().with_class(labels([0, 1], &device));
    assert_err!(
        generator.generate(z(), &class_only),
        GanError::ConditionMismatch { network: "ConditionalGenerator", .. },
        "ConditionalGenerator"
    );
}

/// Class-conditional discriminators need at least one class; the projection discriminator
/// needs labels, and the AC-GAN discriminator checks the labels it is given.
#[test]
fn class_conditional_discriminators_reject_bad_classes_and_labels() {
    let device = test_device();
    assert_err!(
        AcganDiscriminatorConfig::new(discriminator_config(), 0).init(&device),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "num_classes"
    );
    let x = || Tensor::<4>::zeros([2, 1, 8, 8], &device);
    let projection =
        ProjectionDiscriminatorConfig::new(discriminator_config(), 3).init(&device).unwrap();
    assert_err!(
        projection.discriminate(x(), &Condition::none()),
        GanError::ConditionMismatch { network: "ProjectionDiscriminator", .. },
        "ProjectionDiscriminator"
    );
    let acgan = AcganDiscriminatorConfig::new(discriminator_config(), 3).init(&device).unwrap();
    let negative = Condition::none().with_class(labels([-1, 0], &device));
    assert_err!(
        acgan.discriminate(x(), &negative),
        GanError::LabelOutOfRange { label: -1, num_classes: 3, .. },
        "condition.class"
    );
}

/// A PatchGAN refuses sides off its stride product, a conditioning image with the wrong
/// channel count and a missing conditioning image; a U-Net refuses the wrong channel count.
#[test]
fn image_to_image_networks_reject_misfitting_images() {
    let device = test_device();
    let patch_gan = PatchGanConfig::new(2, 1)
        .with_condition_channels(1)
        .with_base_channels(4)
        .with_num_layers(1)
        .with_norm(NormKind::None)
        .init(&device)
        .unwrap();
    let image = |c: usize, side: usize| Tensor::<4>::zeros([1, c, side, side], &device);
    let conditioned = |c: Tensor<4>| Condition::none().with_image(c);
    assert_err!(
        patch_gan.discriminate(image(1, 7), &conditioned(image(1, 7))),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "PatchGAN input"
    );
    assert_err!(
        patch_gan.discriminate(image(1, 8), &conditioned(image(2, 8))),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "condition.image"
    );
    assert_err!(
        patch_gan.discriminate(image(1, 8), &Condition::none()),
        GanError::ConditionMismatch { network: "PatchGan", .. },
        "PatchGan"
    );
    let unet = UNetGeneratorConfig::new(2, 1, 1)
        .with_num_downs(2)
        .with_base_channels(4)
        .with_norm(NormKind::None)
        .init(&device)
        .unwrap();
    assert_err!(
        unet.forward(image(2, 8)),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "U-Net input"
    );
}

/// pix2pix refuses pairs of different spatial size, an empty paired set, a draw of zero
/// pairs, a generator whose output does not fit its input, and a NaN L1 weight.
#[test]
fn pix2pix_rejects_misaligned_pairs_and_generators() {
    let device = test_device();
    let image = |n: usize, side: usize| Tensor::<4>::zeros([n, 1, side, side], &device);
    assert_err!(
        pix2pix_batch(image(2, 8), image(2, 4)),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "target"
    );
    assert_err!(
        PairedSet::new(image(0, 8), image(0, 8)),
        GanError::Core(CoreError::Empty { .. }),
        "source images"
    );
    let pairs = PairedSet::new(image(2, 4), image(2, 4)).unwrap();
    assert_err!(
        pairs.sample(0, &mut seeded_rng(0), &device),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "batch size"
    );
    assert_err!(
        translate(&CropColumn, image(1, 4)),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "translated images"
    );
    assert_err!(
        Pix2PixConfig::new(GanTrainerConfig::new(1)).with_lambda_l1(f64::NAN).validate(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "lambda_l1"
    );
}

/// Gradient penalties refuse a NaN step, zero directions, a fake batch of another shape and
/// an empty real batch; spectral normalisation refuses zero power iterations and a NaN `eps`,
/// also inside a discriminator configuration.
#[test]
fn penalty_and_spectral_norm_settings_out_of_range_are_refused() {
    let device = test_device();
    let r1 = GradientPenaltyConfig::new(GradientPenaltyKind::R1);
    let real = || Tensor::<4>::zeros([2, 1, 4, 4], &device);
    let none = Condition::none();
    assert_err!(
        r1.clone().with_step(f64::NAN).penalty(
            &MeanCritic,
            real(),
            real(),
            &none,
            &mut seeded_rng(0)
        ),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "step"
    );
    assert_err!(
        r1.clone().with_directions(0).validate(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "directions"
    );
    let wgan = GradientPenaltyConfig::new(GradientPenaltyKind::WganGp);
    let fake = Tensor::<4>::zeros([3, 1, 4, 4], &device);
    assert_err!(
        wgan.penalty(&MeanCritic, real(), fake, &none, &mut seeded_rng(0)),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "fake batch"
    );
    let empty = || Tensor::<4>::zeros([0, 1, 4, 4], &device);
    assert_err!(
        r1.penalty(&MeanCritic, empty(), empty(), &none, &mut seeded_rng(0)),
        GanError::Core(CoreError::Empty { .. }),
        "real batch"
    );
    let no_iterations = SpectralNormConfig::new().with_n_power_iterations(0);
    assert_err!(
        discriminator_config().with_spectral_norm(Some(no_iterations)).init(&device),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "n_power_iterations"
    );
    assert_err!(
        SpectralNormConfig::new().with_eps(f64::NAN).validate(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "eps"
    );
}

/// The monitor refuses a window of one, a NaN saturation threshold (also through the trainer
/// configuration), a coverage outside `[0, 1]`, a NaN diversity and a pooling grid of zero
/// or finer than the image.
#[test]
fn monitor_settings_and_observations_out_of_range_are_refused() {
    let device = test_device();
    assert_err!(
        GanMonitorConfig::new().with_window(1).validate(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "monitor.window"
    );
    let nan_saturation = GanMonitorConfig::new().with_saturation_accuracy(f64::NAN);
    assert_err!(
        GanTrainerConfig::new(2).with_monitor(nan_saturation).validate(),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "monitor.saturation_accuracy"
    );
    let mut monitor = GanMonitor::new(GanMonitorConfig::new()).unwrap();
    assert_err!(
        monitor.observe_samples(SampleQuality { step: 1, coverage: 1.5, diversity: 1.0 }),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "coverage"
    );
    assert_err!(
        monitor.observe_samples(SampleQuality { step: 1, coverage: 0.5, diversity: f64::NAN }),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "diversity"
    );
    let images = || Tensor::<4>::zeros([2, 1, 4, 4], &device);
    assert_err!(
        pooled_pixel_features(images(), 0),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "grid"
    );
    assert_err!(
        pooled_pixel_features(images(), 5),
        GanError::Core(CoreError::InvalidConfig { .. }),
        "grid"
    );
}

/// A batch whose discriminator condition holds labels for another batch size, or with no
/// real images, is refused; a training step on NaN images stops with a divergence that names
/// the discriminator and leaves the step count alone.
#[test]
fn bad_batches_and_nan_images_stop_training_with_typed_errors() {
    let device = test_device().autodiff();
    let real = |n: usize| Tensor::<4>::zeros([n, 1, 8, 8], &device);
    let z = |n: usize| Tensor::<2>::zeros([n, LATENT], &device);
    let three = Condition::none().with_class(Tensor::<1, Int>::zeros([3], &device));
    let mismatched = GanBatch::new(real(2), z(2)).with_discriminator_condition(three);
    assert_err!(
        mismatched.batch_size(),
        GanError::Core(CoreError::ShapeMismatch { .. }),
        "discriminator condition"
    );
    assert_err!(
        GanBatch::new(real(0), z(0)).batch_size(),
        GanError::Core(CoreError::Empty { .. }),
        "real batch"
    );
    let mut rng = seeded_rng(1);
    let generator = init_seeded(&device, &mut rng, |d| generator_config().init(d)).unwrap();
    let discriminator = init_seeded(&device, &mut rng, |d| discriminator_config().init(d)).unwrap();
    let mut trainer = GanTrainer::new(
        &GanTrainerConfig::new(1),
        generator,
        discriminator,
        GanLoss::Hinge,
        seeded_rng(0),
        &(),
    )
    .unwrap();
    let nan = GanBatch::new(real(2).add_scalar(f32::NAN), z(2));
    assert_err!(
        trainer.step(|_, _| Ok(nan.clone())),
        GanError::Core(CoreError::Diverged { step: 0, .. }),
        "discriminator"
    );
    assert_eq!(trainer.current_step(), 0, "a diverged step is not counted");
}

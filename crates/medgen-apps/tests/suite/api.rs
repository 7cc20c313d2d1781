//! The public API of medgen-apps against closed forms and invariants.

use crate::common::{oracle, phantoms};
use burn::tensor::{Tensor, TensorData};
use medgen_apps::anomaly::{
    AnomalyDetector, AnomalyEvaluationConfig, LikelihoodDetector, PartialDiffusionConfig,
    PartialDiffusionDetector, PatchConfig, PatchDetector, ReconstructionDetector, ScorePooling,
    evaluate_anomaly_maps, image_scores,
};
use medgen_apps::counterfactual::{CounterfactualConfig, CounterfactualExplainer};
use medgen_apps::privacy::{
    PixelFeatures, PrivacyFilter, PrivacyFilterConfig, PrivateSamplingConfig, sample_private,
};
use medgen_core::noise::{NoiseKind, SimplexNoiseConfig};
use medgen_core::{Autoencoder, Condition, CoreError, Sample, Samples, SeededRng, seeded_rng};
use medgen_diffusion::variational_bound::variational_bound;
use medgen_diffusion::{DdimSchedulerConfig, DdpmSchedulerConfig};
use medgen_testing::{host, max_abs_diff, test_device, testing_on_wgpu};

const SIZE: usize = 16;

fn detector_config(noise: NoiseKind, steps: Option<usize>) -> PartialDiffusionConfig {
    PartialDiffusionConfig::new()
        .with_t_lambda(120)
        .with_noise(noise)
        .with_num_inference_steps(steps)
}

#[test]
fn an_oracle_denoiser_gives_a_zero_map_on_healthy_images_for_both_noises() {
    let device = test_device();
    let (healthy, _) = phantoms(3, SIZE, false, 1, &device);
    let scheduler = DdpmSchedulerConfig::new();
    let schedule = scheduler.init().unwrap().schedule().clone();
    for noise in
        [NoiseKind::Gaussian, NoiseKind::Simplex(SimplexNoiseConfig::new().with_frequency(0.125))]
    {
        let detector = PartialDiffusionDetector::new(
            oracle(healthy.clone(), schedule.clone()),
            &scheduler,
            detector_config(noise, Some(12)),
            &[1, SIZE, SIZE],
        )
        .unwrap();
        assert_eq!(detector.timesteps().first(), Some(&120));
        assert_eq!(detector.timesteps().last(), Some(&0));
        let maps = detector.detect(healthy.clone(), &mut seeded_rng(0)).unwrap();
        assert_eq!(maps.maps.dims(), [3, 1, SIZE, SIZE]);
        assert_eq!(maps.nfe, 12);
        let largest = host::<f32, 4, _>(maps.maps).into_iter().fold(0.0, f32::max);
        assert!(largest < 1e-4, "{largest}");
    }
}

#[test]
fn an_oracle_of_the_healthy_anatomy_maps_exactly_the_lesion_and_scores_perfectly() {
    let device = test_device();
    let (with_lesions, masks) = phantoms(2, SIZE, true, 5, &device);
    // The same subjects without lesions: lesion pixels restored to a healthy value.
    let healthy = with_lesions
        .clone()
        .mul(masks.clone().neg().add_scalar(1.0))
        .add(masks.clone().mul_scalar(0.4));
    let scheduler = DdpmSchedulerConfig::new();
    let schedule = scheduler.init().unwrap().schedule().clone();
    let partial = PartialDiffusionDetector::new(
        oracle(healthy.clone(), schedule),
        &scheduler,
        detector_config(NoiseKind::Gaussian, None),
        &[1, SIZE, SIZE],
    )
    .unwrap();
    assert_eq!(partial.timesteps().len(), 121);
    let maps = partial.detect(with_lesions.clone(), &mut seeded_rng(2)).unwrap();
    let expected = with_lesions.clone().sub(healthy.clone()).abs();
    assert!(max_abs_diff(maps.maps.clone(), expected.clone()) < 1e-4);
    let report =
        evaluate_anomaly_maps(maps.maps, masks.clone(), &AnomalyEvaluationConfig::new()).unwrap();
    assert!(report.pixel_auroc > 0.99, "{report:?}");
    assert!(report.best_dice > 0.95, "{report:?}");
    // Patch-level detection: each patch is reconstructed from context, same closed form.
    let patches = PatchDetector::new(partial, PatchConfig::new(8, 8)).unwrap();
    let maps = patches.detect(with_lesions, &mut seeded_rng(3)).unwrap();
    assert!(max_abs_diff(maps.maps, expected) < 1e-4);
}

#[test]
fn likelihood_maps_average_to_the_variational_bound_terms() {
    let device = test_device();
    let (images, _) = phantoms(2, 8, false, 9, &device);
    let scheduler = DdpmSchedulerConfig::new();
    let network =
        |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x.mul_scalar(0.3));
    let timesteps = vec![0, 10, 500];
    let detector =
        LikelihoodDetector::new(network, scheduler.clone(), timesteps.clone(), 0.0, &[1, 8, 8])
            .unwrap();
    let maps = detector.detect(images.clone(), &mut seeded_rng(4)).unwrap();
    let bound = variational_bound(
        &network,
        &scheduler.init().unwrap(),
        images,
        &Condition::none(),
        &timesteps,
        false,
        &mut seeded_rng(4),
    )
    .unwrap();
    let terms = bound.terms.into_iter().reduce(Tensor::add).unwrap();
    let per_image = image_scores(maps.maps, &ScorePooling::Mean).unwrap();
    for (a, b) in per_image.iter().zip(host::<f32, 1, _>(terms)) {
        assert!((a - f64::from(b)).abs() < 1e-3 * f64::from(b).abs().max(1.0), "{a} vs {b}");
    }
}

/// An autoencoder whose decoder returns a fixed image, whatever the latent.
struct Constant(Tensor<4>);

impl Autoencoder<4, 2> for Constant {
    type Error = CoreError;

    fn encode(&self, x: Tensor<4>) -> Result<Tensor<2>, CoreError> {
        let n = x.dims()[0];
        Ok(x.reshape([n as i32, -1]))
    }

    fn decode(&self, z: Tensor<2>) -> Result<Tensor<4>, CoreError> {
        Ok(self.0.clone().repeat_dim(0, z.dims()[0]))
    }
}

#[test]
fn reconstruction_maps_are_the_residual_of_the_autoencoder() {
    let device = test_device();
    let (images, _) = phantoms(2, 8, false, 3, &device);
    let background = Tensor::<4>::full([1, 1, 8, 8], -1.0, &device);
    let detector =
        ReconstructionDetector::new("constant", Constant(background), 0.0, &[1, 8, 8]).unwrap();
    let maps = detector.detect(images.clone(), &mut seeded_rng(0)).unwrap();
    assert!(max_abs_diff(maps.maps, images.add_scalar(1.0).abs()) < 1e-6);
}

#[test]
fn counterfactuals_of_a_label_blind_model_reproduce_the_image() {
    // A model whose prediction ignores the class: guidance changes nothing and DDIM
    // inversion is undone exactly, so the difference map vanishes.
    let device = test_device();
    let (images, _) = phantoms(2, 8, false, 4, &device);
    let noise =
        Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    // Guided steps evaluate the conditional and null halves in one batch of 2N.
    let network = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| {
        Ok::<_, CoreError>(noise.clone().repeat_dim(0, x.dims()[0] / 2))
    };
    let config = CounterfactualConfig::new().with_num_inference_steps(20).with_strength(0.6);
    let explainer = CounterfactualExplainer::new(
        network,
        DdimSchedulerConfig::new().with_clip_sample(false),
        config,
        2,
        &[1, 8, 8],
    )
    .unwrap();
    let out = explainer.explain(images.clone(), &[1, 0], &mut seeded_rng(0)).unwrap();
    assert_eq!(out.nfe, 12 + 12);
    assert!(max_abs_diff(out.counterfactuals, images) < 1e-3);
    assert!(host::<f32, 4, _>(out.maps).into_iter().all(|v| v < 1e-3));
}

/// A model that memorised its training set: it returns copies of training images.
struct Memoriser(Tensor<4>);

impl Sample<4> for Memoriser {
    type Error = CoreError;

    fn sample(
        &self,
        n: usize,
        _c: &Condition<4>,
        rng: &mut SeededRng,
        _d: &burn::tensor::Device,
    ) -> Result<Samples<4>, CoreError> {
        use rand::RngExt;
        let count = self.0.dims()[0];
        let picks: Vec<i64> = (0..n).map(|_| rng.random_range(0..count) as i64).collect();
        let index = Tensor::from_data(TensorData::new(picks, [n]), &self.0.device());
        Ok(Samples { samples: self.0.clone().select(0, index), nfe: 1 })
    }
}

#[test]
fn memorised_copies_are_always_rejected_and_fresh_images_mostly_kept() {
    let device = test_device();
    let (training, _) = phantoms(24, SIZE, false, 10, &device);
    let (held_out, _) = phantoms(24, SIZE, false, 11, &device);
    let (fresh, _) = phantoms(40, SIZE, false, 12, &device);
    let features = PixelFeatures::new([1, SIZE, SIZE]);
    let filter =
        PrivacyFilter::calibrate(&features, training.clone(), held_out, PrivacyFilterConfig::new())
            .unwrap();
    assert!(filter.threshold() > 0.0);
    let copies = training.clone().add(Tensor::random(
        training.dims(),
        burn::tensor::Distribution::Normal(0.0, 1e-3),
        &device,
    ));
    let screen = filter.screen(&features, copies).unwrap();
    assert_eq!(screen.rejection_rate(), 1.0);
    assert_eq!(screen.nearest, (0..24).collect::<Vec<_>>());
    let screen = filter.screen(&features, fresh).unwrap();
    assert!(screen.rejection_rate() <= 0.2, "{}", screen.rejection_rate());
    // Two-stage sampling from a pure memoriser keeps nothing.
    let request = PrivateSamplingConfig::new(4).with_max_rounds(2);
    let result = sample_private(
        &Memoriser(training),
        &features,
        &filter,
        &request,
        &Condition::none(),
        &mut seeded_rng(0),
        &device,
    );
    assert!(matches!(result, Err(medgen_apps::AppsError::Core(CoreError::Empty { .. }))));
}

#[test]
fn the_augmentation_study_trains_one_classifier_per_ratio_on_the_allocated_images() {
    use medgen_apps::augmentation::LesionClassifierConfig;
    use medgen_apps::augmentation::{
        AugmentationStudyConfig, ClassifierTrainingConfig, run_augmentation_study,
    };
    let plain = test_device();
    let device = plain.clone().autodiff();
    // Bright versus dark 8×8 images: separable, so every ratio reaches a perfect AUROC.
    let on = |n: usize, class: usize, device: &burn::tensor::Device| {
        Tensor::<4>::full([n, 1, 8, 8], if class == 0 { -0.5 } else { 0.5 }, device)
    };
    let images = |n: usize, class: usize| on(n, class, &device);
    let real = Tensor::cat(vec![images(6, 0), images(2, 1)], 0);
    let labels = [0, 0, 0, 0, 0, 0, 1, 1];
    let test = Tensor::cat(vec![on(3, 0, &plain), on(3, 1, &plain)], 0);
    let classifier =
        ClassifierTrainingConfig::new(LesionClassifierConfig::new(2, 1, 2).with_width(8))
            .with_steps(40)
            .with_batch(8);
    let config = AugmentationStudyConfig::new(classifier).with_ratios(vec![0.0, 1.0]);
    let mut requests = Vec::new();
    let rows =
        run_augmentation_study(&config, real, &labels, test, &[0, 0, 0, 1, 1, 1], |class, n| {
            requests.push((class, n));
            Ok(images(n, class))
        })
        .unwrap();
    // 8 synthetic images for ratio 1: 4 fill the rare class up to 6, the other 4 split evenly.
    assert_eq!(requests, vec![(0, 2), (1, 6)]);
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].synthetic, rows[1].synthetic), (0, 8));
    for row in rows {
        assert_eq!(row.scores.auroc, 1.0, "{row:?}");
    }
}

#[test]
fn the_recipe_trains_the_same_network_from_the_same_seed() {
    use medgen_apps::recipe::DiffusionRecipe;
    use medgen_core::TimeConditionedNetwork;
    let device = test_device().autodiff();
    let (images, _) = phantoms(4, 8, false, 1, &device);
    let recipe = DiffusionRecipe::new()
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_steps(3)
        .with_batch(2);
    let plain = test_device();
    let probe = Tensor::<4>::ones([1, 1, 8, 8], &plain);
    let t = Tensor::<1>::full([1], 10.0, &plain);
    let output = |seed: u64| {
        let network = recipe.train(&images, None, seed, "test").unwrap();
        network.evaluate(probe.clone(), t.clone(), &Condition::none()).unwrap()
    };
    let (first, again, other) = (output(5), output(5), output(6));
    // Bit for bit on the CPU; wgpu's autotuned kernels may sum in another order per run.
    let tolerance = if testing_on_wgpu() { 1e-4 } else { 0.0 };
    assert!(max_abs_diff(first.clone(), again) <= tolerance);
    assert!(max_abs_diff(first, other) > 1e-3);
    assert!(recipe.train(&images, Some(&Tensor::zeros([4], &device)), 5, "test").is_err());
}

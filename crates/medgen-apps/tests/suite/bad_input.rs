//! Bad input at medgen-apps' public API: typed errors naming the argument, never a panic.

use crate::common::{oracle, phantoms};
use burn::tensor::Tensor;
use medgen_apps::AppsError;
use medgen_apps::anomaly::{
    AnomalyDetector, AnomalyEvaluationConfig, PartialDiffusionConfig, PartialDiffusionDetector,
    PatchConfig, PatchDetector, evaluate_anomaly_maps,
};
use medgen_apps::counterfactual::{CounterfactualConfig, CounterfactualExplainer};
use medgen_apps::privacy::{PixelFeatures, PrivacyFilter, PrivacyFilterConfig};
use medgen_core::noise::{NoiseKind, SimplexNoiseConfig};
use medgen_core::{Condition, CoreError, TimeConditionedNetwork, seeded_rng};
use medgen_diffusion::{DdimSchedulerConfig, DdpmSchedulerConfig, DiffusionError};
use medgen_testing::{assert_err, test_device};

fn detector(
    config: PartialDiffusionConfig,
) -> Result<PartialDiffusionDetector<impl TimeConditionedNetwork<4>>, AppsError> {
    let device = test_device();
    let scheduler = DdpmSchedulerConfig::new();
    let schedule = scheduler.init().unwrap().schedule().clone();
    let x0 = Tensor::<4>::zeros([1, 1, 8, 8], &device);
    PartialDiffusionDetector::new(oracle(x0, schedule), &scheduler, config, &[1, 8, 8])
}

#[test]
fn detector_settings_outside_the_schedule_are_typed() {
    let base = PartialDiffusionConfig::new();
    assert_err!(
        detector(base.clone().with_t_lambda(1000)),
        AppsError::Diffusion(DiffusionError::TimestepOutOfRange { timestep: 1000, .. }),
        "1000"
    );
    assert_err!(
        detector(base.clone().with_t_lambda(0)),
        AppsError::Diffusion(DiffusionError::TimestepOutOfRange { .. }),
        "0"
    );
    assert_err!(
        detector(base.clone().with_num_inference_steps(Some(0))),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "num_inference_steps"
    );
    assert_err!(
        detector(base.clone().with_num_inference_steps(Some(500))),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "num_inference_steps"
    );
    assert_err!(
        detector(base.clone().with_smoothing_sigma(f64::NAN)),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "smoothing_sigma"
    );
    assert_err!(
        detector(base.with_noise(NoiseKind::Simplex(SimplexNoiseConfig::new().with_octaves(0)))),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "octaves"
    );
    let ok = || detector(PartialDiffusionConfig::new().with_num_inference_steps(Some(4))).unwrap();
    assert_err!(
        PatchDetector::new(ok(), PatchConfig::new(9, 4)),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "size"
    );
    assert_err!(
        PatchDetector::new(ok(), PatchConfig::new(4, 5)),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "stride"
    );
}

#[test]
fn images_of_the_wrong_shape_or_with_nan_are_typed() {
    let device = test_device();
    let detector =
        detector(PartialDiffusionConfig::new().with_num_inference_steps(Some(4))).unwrap();
    let mut rng = seeded_rng(0);
    assert_err!(
        detector.detect(Tensor::<4>::zeros([1, 1, 16, 16], &device), &mut rng),
        AppsError::Core(CoreError::ShapeMismatch { .. }),
        "images"
    );
    assert_err!(
        detector.detect(Tensor::<4>::zeros([1, 3, 8, 8], &device), &mut rng),
        AppsError::Core(CoreError::ShapeMismatch { .. }),
        "images"
    );
    let nan = Tensor::<4>::zeros([1, 1, 8, 8], &device).div_scalar(0.0);
    assert_err!(
        detector.detect(nan, &mut rng),
        AppsError::Core(CoreError::NonFinite { .. }),
        "images"
    );
    let network = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x);
    let explainer = CounterfactualExplainer::new(
        network,
        DdimSchedulerConfig::new(),
        CounterfactualConfig::new(),
        2,
        &[1, 8, 8],
    )
    .unwrap();
    let images = Tensor::<4>::zeros([2, 1, 8, 8], &device);
    assert_err!(
        explainer.explain(images.clone(), &[0], &mut rng),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "labels"
    );
    assert_err!(
        explainer.explain(images, &[0, 2], &mut rng),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "labels"
    );
    let new = |config: CounterfactualConfig| {
        CounterfactualExplainer::new(network, DdimSchedulerConfig::new(), config, 2, &[1, 8, 8])
            .map(|_| ())
    };
    assert_err!(
        new(CounterfactualConfig::new().with_guidance_scale(0.5)),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "guidance_scale"
    );
    assert_err!(
        new(CounterfactualConfig::new().with_target_class(2)),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "target_class"
    );
    assert_err!(
        new(CounterfactualConfig::new().with_strength(1.5)),
        AppsError::Diffusion(DiffusionError::InvalidStrength { .. }),
        "strength"
    );
}

#[test]
fn evaluation_of_mismatched_or_lesion_free_masks_is_typed() {
    let device = test_device();
    let (_, masks) = phantoms(2, 8, true, 1, &device);
    let maps = Tensor::<4>::zeros([2, 1, 8, 8], &device);
    let config = AnomalyEvaluationConfig::new();
    assert_err!(
        evaluate_anomaly_maps(maps.clone(), Tensor::<4>::zeros([2, 1, 8, 9], &device), &config),
        AppsError::Core(CoreError::ShapeMismatch { .. }),
        "masks"
    );
    assert_err!(
        evaluate_anomaly_maps(
            maps.clone(),
            masks.clone(),
            &config.clone().with_size_edges(vec![0.5, 0.2])
        ),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "size_edges"
    );
    assert_err!(
        evaluate_anomaly_maps(maps.clone().div_scalar(0.0), masks, &config),
        AppsError::Core(CoreError::NonFinite { .. }),
        "anomaly maps"
    );
    assert_err!(
        evaluate_anomaly_maps(maps, Tensor::<4>::zeros([2, 1, 8, 8], &device), &config),
        AppsError::Metrics(_),
        "both classes"
    );
}

#[test]
fn privacy_filters_need_training_images_two_held_out_and_a_valid_percentile() {
    let device = test_device();
    let (images, _) = phantoms(4, 8, false, 2, &device);
    let features = PixelFeatures::new([1, 8, 8]);
    let calibrate = |training: Tensor<4>, held: Tensor<4>, q: f64| {
        PrivacyFilter::calibrate(
            &features,
            training,
            held,
            PrivacyFilterConfig::new().with_percentile(q),
        )
    };
    let none = Tensor::<4>::zeros([0, 1, 8, 8], &device);
    assert_err!(
        calibrate(none, images.clone(), 5.0),
        AppsError::Core(CoreError::Empty { .. }),
        "training set"
    );
    assert_err!(
        calibrate(images.clone(), images.clone().narrow(0, 0, 1), 5.0),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "held_out"
    );
    assert_err!(
        calibrate(images.clone(), images.clone(), 101.0),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "percentile"
    );
    assert_err!(
        calibrate(images.clone(), images.clone(), -1.0),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "percentile"
    );
    let filter = calibrate(images.clone(), images, 5.0).unwrap();
    assert_err!(
        filter.screen(&features, Tensor::<4>::zeros([2, 1, 4, 4], &device)),
        AppsError::Metrics(_),
        "images"
    );
}

#[test]
fn empty_combinations_bad_grids_and_zero_requests_are_typed() {
    use medgen_apps::anomaly::CombinedDetector;
    use medgen_apps::privacy::{PooledFeatures, PrivateSamplingConfig, sample_private};
    assert_err!(
        CombinedDetector::<4>::new("none", Vec::new()),
        AppsError::Core(CoreError::InvalidConfig { .. }),
        "detectors"
    );
    assert!(matches!(PooledFeatures::new([1, 8, 8], 3), Err(CoreError::InvalidConfig { .. })));
    let device = test_device();
    let (images, _) = phantoms(4, 8, false, 2, &device);
    let features = PooledFeatures::new([1, 8, 8], 4).unwrap();
    let filter =
        PrivacyFilter::calibrate(&features, images.clone(), images, PrivacyFilterConfig::new())
            .unwrap();
    let pipeline = medgen_diffusion::DiffusionPipeline::new(
        |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x.zeros_like()),
        "ddim".parse().unwrap(),
        2,
        &[1, 8, 8],
    )
    .unwrap();
    for request in [PrivateSamplingConfig::new(0), PrivateSamplingConfig::new(2).with_max_rounds(0)]
    {
        assert_err!(
            sample_private(
                &pipeline,
                &features,
                &filter,
                &request,
                &Condition::none(),
                &mut seeded_rng(0),
                &device
            ),
            AppsError::Core(CoreError::InvalidConfig { .. }),
            if request.n == 0 { "n" } else { "max_rounds" }
        );
    }
}

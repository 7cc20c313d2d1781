//! Bad inputs to the public API of `medgen-metrics`, beyond those of `tests/suite/api.rs`: image
//! batches of the wrong rank, images too small for MS-SSIM's coarsest scale, NaN percentiles,
//! NaN or empty ensembles for uncertainty maps, masks of different lengths for diversity,
//! neighbour counts of zero and feature matrices of different widths for PRDC and
//! nearest-neighbour distances, KID without subsets, Gaussian statistics of different
//! dimensions or holding NaN, NaN logits and too many splits for the Inception Score, feature
//! extractors (models) that return the wrong width or NaN, Inception settings out of range and
//! a truncated weight file. Each case asserts the exact `MetricsError` variant and that the
//! message names the offending argument.

use medgen_core::burn::tensor::Tensor;
use medgen_core::{CoreError, seeded_rng};
use medgen_metrics::{
    FeatureExtractor, FeatureMatrix, FrechetOptions, GaussianStats, InceptionV3Config, KidConfig,
    MetricsError, SsimConfig, SurfaceDistanceConfig, extract_features, fid, frechet_distance,
    inception_score, inception_score_tensor, kid, ms_ssim, mse_batch, nearest_neighbour_distances,
    prdc, sample_diversity, ssim_batch, surface_distances, uncertainty_maps,
    uncertainty_maps_tensor,
};
use medgen_testing::{assert_err, test_device};

/// An extractor that promises two features per image but returns three.
struct TooWide;

impl FeatureExtractor for TooWide {
    fn feature_dim(&self) -> usize {
        2
    }

    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        Ok(Tensor::zeros([images.dims()[0], 3], &images.device()))
    }
}

/// An extractor (a diverged network) whose features are NaN.
struct NanFeatures;

impl FeatureExtractor for NanFeatures {
    fn feature_dim(&self) -> usize {
        2
    }

    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        Ok(Tensor::full([images.dims()[0], 2], f32::NAN, &images.device()))
    }
}

/// Five rows of one feature.
const ROWS: [f64; 5] = [0.0, 1.0, 2.0, 3.0, 4.0];

/// Image metrics of batches refuse tensors that are not `[N, C, H, W]` or `[N, C, D, H, W]`,
/// and MS-SSIM refuses images whose coarsest scale is smaller than the window.
#[test]
fn image_batches_need_an_image_rank_and_ms_ssim_a_large_enough_image() {
    let device = test_device();
    let rows = || Tensor::<2>::zeros([2, 16], &device);
    assert_err!(
        mse_batch(rows(), rows()),
        MetricsError::Core(CoreError::InvalidRank { expected: 4, got: 2, .. }),
        "first images"
    );
    let small = vec![0.5; 16 * 16];
    assert_err!(
        ms_ssim(&small, &small, &[16, 16], &SsimConfig::uniform(1.0)),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "window"
    );
    let images = || Tensor::<4>::zeros([1, 1, 4, 4], &device);
    assert_err!(
        ssim_batch(images(), images(), &SsimConfig::gaussian(1.0)),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "window"
    );
}

/// A NaN percentile is refused by the surface distances; NaN probabilities and empty
/// ensembles by the uncertainty maps; masks of different lengths by the sample diversity.
#[test]
fn segmentation_metrics_reject_nan_settings_and_ensembles() {
    let device = test_device();
    let square: Vec<bool> = (0..16).map(|i| [5, 6, 9, 10].contains(&i)).collect();
    let nan_percentile = SurfaceDistanceConfig::new().with_percentile(f64::NAN);
    assert_err!(
        surface_distances(&square, &square, &[4, 4], &nan_percentile),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "percentile"
    );
    assert_err!(
        uncertainty_maps(&[0.5, f64::NAN], 2),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "samples"
    );
    let nan = Tensor::<3>::from_floats([[[0.5, f32::NAN]]], &device);
    assert_err!(
        uncertainty_maps_tensor(nan),
        MetricsError::Core(CoreError::NonFinite { .. }),
        "samples"
    );
    assert_err!(
        uncertainty_maps_tensor(Tensor::<3>::zeros([0, 2, 2], &device)),
        MetricsError::Core(CoreError::Empty { .. }),
        "samples"
    );
    assert_err!(
        sample_diversity(&[vec![true, false], vec![true, false, true]]),
        MetricsError::Core(CoreError::ShapeMismatch { .. }),
        "second mask"
    );
}

/// PRDC refuses zero neighbours and fake features of another width; nearest-neighbour
/// distances refuse queries of another width; KID refuses zero subsets.
#[test]
fn feature_metrics_reject_zero_counts_and_mismatched_widths() {
    let real = FeatureMatrix::new(&ROWS, 5, 1, "real").unwrap();
    let wide = FeatureMatrix::new(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3, 2, "wide").unwrap();
    assert_err!(prdc(real, real, 0), MetricsError::Core(CoreError::InvalidConfig { .. }), "k");
    assert_err!(
        prdc(real, wide, 1),
        MetricsError::Core(CoreError::ShapeMismatch { .. }),
        "fake features"
    );
    assert_err!(
        nearest_neighbour_distances(wide, real),
        MetricsError::Core(CoreError::ShapeMismatch { .. }),
        "query features"
    );
    let no_subsets = KidConfig::new().with_subsets(0).with_subset_size(2);
    assert_err!(
        kid(real, real, &no_subsets, &mut seeded_rng(0)),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "subsets"
    );
}

/// The Fréchet distance refuses Gaussians of different dimensions, Gaussian statistics refuse
/// NaN, and the Inception Score refuses NaN logits and more splits than rows.
#[test]
fn distribution_statistics_reject_mismatched_dimensions_and_nan() {
    let device = test_device();
    let plane = GaussianStats::new(vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0], None).unwrap();
    let line = GaussianStats::new(vec![0.0], vec![1.0], None).unwrap();
    assert_err!(
        frechet_distance(&plane, &line, &FrechetOptions::new()),
        MetricsError::Core(CoreError::ShapeMismatch { .. }),
        "second Gaussian's mean"
    );
    assert_err!(
        GaussianStats::new(vec![0.0], vec![f64::NAN], None),
        MetricsError::Core(CoreError::NonFinite { .. }),
        "Gaussian statistics"
    );
    let logits = Tensor::<2>::from_floats([[0.0, f32::NAN], [1.0, 0.0]], &device);
    assert_err!(
        inception_score_tensor(logits, 1),
        MetricsError::Core(CoreError::NonFinite { .. }),
        "logits"
    );
    let two_rows = FeatureMatrix::new(&[0.0, 1.0, 1.0, 0.0], 2, 2, "logits").unwrap();
    assert_err!(
        inception_score(two_rows, 3),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "splits"
    );
}

/// A feature extractor whose output has the wrong width, or holds NaN (a diverged network),
/// gives a typed error instead of a silently wrong distance.
#[test]
fn misbehaving_feature_extractors_are_typed_errors() {
    let device = test_device();
    let images = || Tensor::<4>::zeros([3, 1, 2, 2], &device);
    assert_err!(
        extract_features(&TooWide, images(), 2),
        MetricsError::Core(CoreError::ShapeMismatch { .. }),
        "extracted features"
    );
    assert_err!(
        fid(&NanFeatures, images(), images(), 2, &FrechetOptions::new()),
        MetricsError::Core(CoreError::NonFinite { .. }),
        "real features"
    );
}

/// Inception settings below the network's minimum input are refused, and a truncated weight
/// file is a typed weights error naming the file.
#[test]
fn inception_rejects_small_inputs_and_truncated_weights() {
    let device = test_device();
    assert_err!(
        InceptionV3Config::new().with_input_size(32).init(&device),
        MetricsError::Core(CoreError::InvalidConfig { .. }),
        "input_size"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.pth");
    // The first bytes of a zip archive (PyTorch's format), cut off.
    std::fs::write(&path, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
    assert_err!(
        InceptionV3Config::new().with_feature_dim(64).init_pretrained(&path, &device),
        MetricsError::Weights { .. },
        "truncated.pth"
    );
}

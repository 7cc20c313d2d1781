//! The public API of `medgen-metrics`, used as a dependent crate would use it: overlap,
//! image-quality, detection, distribution and surface-distance metrics on tiny inputs whose
//! values are worked out by hand or follow from a closed form, the tensor entry points
//! against the host ones, and bad inputs that must fail with the exact error variant and a
//! message naming the offending argument.

use medgen_core::CoreError;
use medgen_core::burn::tensor::{Tensor, TensorData};
use medgen_metrics::{
    FeatureExtractor, FeatureMatrix, FrechetOptions, GaussianStats, KidConfig, MetricsError,
    SampleQuality, SsimConfig, SurfaceDistanceConfig, SurfaceDistances, auroc, average_precision,
    best_dice_threshold, dice, dice_batch, extract_features, fid, frechet_distance,
    frechet_distance_from_features, generalized_energy_distance, inception_score, iou, iou_batch,
    kid, mae, mse, nearest_neighbour_distances, prdc, precision_recall_curve, psnr, psnr_batch,
    roc_curve, sample_diversity, ssim, ssim_batch, surface_distances, surface_distances_batch,
    uncertainty_maps, uncertainty_maps_tensor,
};
use medgen_testing::{host, test_device};

/// A `size × size` row-major mask with the square `[r0, r0 + side) × [c0, c0 + side)` set.
fn square(size: usize, r0: usize, c0: usize, side: usize) -> Vec<bool> {
    (0..size * size)
        .map(|k| (r0..r0 + side).contains(&(k / size)) && (c0..c0 + side).contains(&(k % size)))
        .collect()
}

/// A `[1, 1, H, W]` tensor of 0/1 values from a boolean mask.
fn mask_tensor(mask: &[bool], h: usize, w: usize) -> Tensor<4> {
    let values: Vec<f32> = mask.iter().map(|&m| f32::from(u8::from(m))).collect();
    Tensor::from_data(TensorData::new(values, [1, 1, h, w]), &test_device())
}

/// The shared error inside a `MetricsError`.
fn core_error<T: std::fmt::Debug>(result: Result<T, MetricsError>) -> CoreError {
    match result {
        Err(MetricsError::Core(err)) => err,
        other => panic!("expected a MetricsError::Core, got {other:?}"),
    }
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

#[test]
fn dice_and_iou_of_tiny_masks() {
    // |A| = 3, |B| = 3, |A ∩ B| = 2, |A ∪ B| = 4.
    let a = [true, true, false, false, true];
    let b = [true, false, true, false, true];
    assert_eq!(dice(&a, &b).unwrap(), 2.0 / 3.0);
    assert_eq!(iou(&a, &b).unwrap(), 0.5);
    assert_eq!(dice(&a, &a).unwrap(), 1.0);
    // Disjoint masks do not overlap at all; two empty masks agree perfectly.
    let c = [false, false, false, true, false];
    assert_eq!(dice(&a, &c).unwrap(), 0.0);
    assert_eq!(iou(&a, &c).unwrap(), 0.0);
    assert_eq!(dice(&[false; 3], &[false; 3]).unwrap(), 1.0);
    assert_eq!(iou(&[false; 3], &[false; 3]).unwrap(), 1.0);
}

#[test]
fn overlap_of_batched_shifted_squares() {
    // 4 × 4 squares in 12 × 12, shifted by 3 columns: they share one column of 4 pixels.
    let a = square(12, 2, 2, 4);
    let b = square(12, 2, 5, 4);
    assert_eq!(dice(&a, &b).unwrap(), 8.0 / 32.0);
    assert_eq!(iou(&a, &b).unwrap(), 4.0 / 28.0);
    let d = dice_batch(mask_tensor(&a, 12, 12), mask_tensor(&b, 12, 12)).unwrap();
    let j = iou_batch(mask_tensor(&a, 12, 12), mask_tensor(&b, 12, 12)).unwrap();
    assert_eq!(d, vec![0.25]);
    assert_eq!(j, vec![1.0 / 7.0]);
}

#[test]
fn surface_distances_of_two_shifted_squares() {
    // Each surface has 12 pixels; the directed distances to the other surface are, in both
    // directions, 0, 1, 2, 3 along the top and bottom rows and 3, 0 on the side columns:
    // sorted 0 0 0 0 1 1 2 2 3 3 3 3.
    let a = square(12, 2, 2, 4);
    let b = square(12, 2, 5, 4);
    let d = surface_distances(&a, &b, &[12, 12], &SurfaceDistanceConfig::new()).unwrap();
    assert_eq!(d.hausdorff, 3.0);
    // HD95: position 0.95 · 11 = 10.45 between two 3s.
    assert_close(d.percentile_hausdorff, 3.0, 1e-12, "HD95");
    // ASSD: (4·0 + 2·1 + 2·2 + 4·3) / 12 = 1.5 in both directions.
    assert_close(d.average_symmetric, 1.5, 1e-12, "ASSD");
    // The median: position 5.5 between 1 and 2.
    let median = SurfaceDistanceConfig::new().with_percentile(50.0);
    let d50 = surface_distances(&a, &b, &[12, 12], &median).unwrap();
    assert_close(d50.percentile_hausdorff, 1.5, 1e-12, "HD50");
    // Columns half as wide halve every distance (the shift is along columns only).
    let spaced = SurfaceDistanceConfig::new().with_spacing(Some(vec![1.0, 0.5]));
    let half = surface_distances(&a, &b, &[12, 12], &spaced).unwrap();
    assert_eq!(half.hausdorff, 1.5);
    assert_close(half.average_symmetric, 0.75, 1e-12, "spaced ASSD");
    // A mask against itself: all zero.
    let same = surface_distances(&a, &a, &[12, 12], &SurfaceDistanceConfig::new()).unwrap();
    assert_eq!(
        same,
        SurfaceDistances { hausdorff: 0.0, percentile_hausdorff: 0.0, average_symmetric: 0.0 }
    );
    // The batched version reads the masks from tensors and gives the same numbers.
    let config = SurfaceDistanceConfig::new();
    let batch =
        surface_distances_batch(mask_tensor(&a, 12, 12), mask_tensor(&b, 12, 12), &config).unwrap();
    assert_eq!(batch, vec![d]);
}

#[test]
fn pixel_errors_and_psnr_follow_their_definitions() {
    let a = [0.0, 0.0, 0.0, 0.0];
    let b = [0.5, 0.0, 0.0, 0.0];
    assert_eq!(mse(&a, &b).unwrap(), 0.0625);
    assert_eq!(mae(&a, &b).unwrap(), 0.125);
    // 10 · log10(1 / 0.0625) = 10 · log10(16).
    assert_close(psnr(&a, &b, 1.0).unwrap(), 10.0 * 16f64.log10(), 1e-12, "psnr");
    assert_close(psnr(&a, &b, 2.0).unwrap(), 10.0 * 64f64.log10(), 1e-12, "psnr R = 2");
    assert_eq!(psnr(&a, &a, 1.0).unwrap(), f64::INFINITY);

    let device = test_device();
    let ta = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 8], [2, 1, 2, 2]), &device);
    let tb = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32, 0.0, 0.0, 0.0, 0.25, 0.25, 0.25, 0.25], [2, 1, 2, 2]),
        &device,
    );
    let values = psnr_batch(ta, tb, 1.0).unwrap();
    assert_eq!(values.len(), 2);
    assert_close(values[0], 10.0 * 16f64.log10(), 1e-12, "batch psnr 0");
    assert_close(values[1], 10.0 * 16f64.log10(), 1e-12, "batch psnr 1");
}

#[test]
fn ssim_with_a_window_covering_the_whole_image_is_the_global_formula() {
    // A 3 × 3 image and a 3-sample uniform window with population covariance: one window
    // position, so SSIM is the global formula on means, variances and covariance.
    let x = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    let y: Vec<f64> = x.iter().map(|v| 1.0 - v).collect();
    let config = SsimConfig::uniform(1.0).with_win_size(3).with_sample_covariance(false);
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    // μx = 4/9, μy = 5/9, σx² = σy² = 4/9 − 16/81 = 20/81, σxy = 0 − 20/81.
    let (mx, my, var, cov) = (4.0 / 9.0, 5.0 / 9.0, 20.0 / 81.0, -20.0 / 81.0);
    let want =
        (2.0 * mx * my + c1) * (2.0 * cov + c2) / ((mx * mx + my * my + c1) * (2.0 * var + c2));
    let got = ssim(&x, &y, &[3, 3], &config).unwrap();
    assert_close(got, want, 1e-12, "ssim of complementary images");
    assert!(got < 0.0, "anti-correlated images have negative SSIM, got {got}");
    assert_close(ssim(&x, &x, &[3, 3], &config).unwrap(), 1.0, 1e-12, "ssim with itself");

    // Constant images: σ = 0 and SSIM is the luminance term alone (Gaussian window, 12 × 12).
    let (p, q) = ([0.2; 144], [0.7; 144]);
    let want = (2.0 * 0.2 * 0.7 + c1) / (0.04 + 0.49 + c1);
    let got = ssim(&p, &q, &[12, 12], &SsimConfig::gaussian(1.0)).unwrap();
    assert_close(got, want, 1e-12, "ssim of constant images");

    // The batched version averages over channels: channel 0 identical (1), channel 1 the
    // complementary pair.
    let device = test_device();
    let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let first = [to_f32(&x), to_f32(&x)].concat();
    let second = [to_f32(&x), to_f32(&y)].concat();
    let ta = Tensor::<4>::from_data(TensorData::new(first, [1, 2, 3, 3]), &device);
    let tb = Tensor::<4>::from_data(TensorData::new(second, [1, 2, 3, 3]), &device);
    let batch = ssim_batch(ta, tb, &config).unwrap();
    let complementary = ssim(&x, &y, &[3, 3], &config).unwrap();
    assert_eq!(batch.len(), 1);
    assert_close(batch[0], (1.0 + complementary) / 2.0, 1e-9, "ssim batch");
}

#[test]
fn detection_metrics_of_four_scores() {
    // Negatives score 0.1 and 0.4, positives 0.35 and 0.8: 3 of the 4 (positive, negative)
    // pairs are ordered correctly.
    let labels = [false, false, true, true];
    let scores = [0.1, 0.4, 0.35, 0.8];
    assert_eq!(auroc(&labels, &scores).unwrap(), 0.75);
    // Decreasing thresholds: 0.8 (P 1, R ½), 0.4 (P ½, R ½), 0.35 (P ⅔, R 1), 0.1 (P ½, R 1):
    // AP = ½ · 1 + ½ · ⅔.
    assert_close(average_precision(&labels, &scores).unwrap(), 5.0 / 6.0, 1e-15, "AP");
    let roc = roc_curve(&labels, &scores, false).unwrap();
    assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
    assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
    assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
    let pr = precision_recall_curve(&labels, &scores).unwrap();
    assert_eq!(pr.precision, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
    assert_eq!(pr.recall, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
    assert_eq!(pr.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
    // Ties count one half; a perfect ranking gives 1.
    assert_eq!(auroc(&[true, false], &[0.5, 0.5]).unwrap(), 0.5);
    assert_eq!(auroc(&[false, true, true], &[0.1, 0.2, 0.9]).unwrap(), 1.0);
    assert_eq!(average_precision(&[false, true, true], &[0.1, 0.2, 0.9]).unwrap(), 1.0);
}

#[test]
fn best_dice_threshold_searches_every_distinct_score() {
    // Dice(t) = 2TP / (TP + FP + P) with P = 2: t = 0.9 → 2/3, 0.8 → 1/2, 0.7 → 4/5,
    // 0.1 → 2/3.
    let labels = [false, true, true, false];
    let scores = [0.1, 0.9, 0.7, 0.8];
    let best = best_dice_threshold(&labels, &scores).unwrap();
    assert_eq!(best.threshold, 0.7);
    assert_close(best.dice, 0.8, 1e-15, "best dice");
}

#[test]
fn frechet_distance_closed_forms() {
    // Identical features: distance 0.
    let real = [0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 1.0];
    let features = FeatureMatrix::new(&real, 4, 2, "real").unwrap();
    let same = frechet_distance_from_features(features, features, &FrechetOptions::new()).unwrap();
    assert!(same.distance.abs() < 1e-9, "{same:?}");
    assert_eq!(same.mean_term, 0.0);
    assert!(!same.rank_deficient);
    // Shifting every feature by (3, 4) keeps the covariance: the distance is ‖(3, 4)‖² = 25.
    let shifted: Vec<f64> = real.chunks(2).flat_map(|r| [r[0] + 3.0, r[1] + 4.0]).collect();
    let fake = FeatureMatrix::new(&shifted, 4, 2, "fake").unwrap();
    let d = frechet_distance_from_features(features, fake, &FrechetOptions::new()).unwrap();
    assert_close(d.distance, 25.0, 1e-9, "shifted features");
    assert_close(d.mean_term, 25.0, 1e-12, "mean term");
    // Two rows in two dimensions: a singular covariance, flagged.
    let few = FeatureMatrix::new(&real[..4], 2, 2, "few").unwrap();
    let flagged = frechet_distance_from_features(few, few, &FrechetOptions::new()).unwrap();
    assert!(flagged.rank_deficient);
    assert!(flagged.distance.abs() < 1e-9, "{flagged:?}");

    // Diagonal Gaussians: d² = ‖μ₁ − μ₂‖² + Σ_i (√a_i − √b_i)².
    let a = GaussianStats::new(vec![0.0, 1.0], vec![1.0, 0.0, 0.0, 4.0], None).unwrap();
    let b = GaussianStats::new(vec![1.0, 1.0], vec![9.0, 0.0, 0.0, 16.0], Some(100)).unwrap();
    let d = frechet_distance(&a, &b, &FrechetOptions::new()).unwrap();
    assert_close(d.distance, 1.0 + 4.0 + 4.0, 1e-9, "diagonal Gaussians");
    assert_close(d.trace_sqrt, 3.0 + 8.0, 1e-9, "tr √(Σ₁Σ₂)");

    // Fitting: the mean and the unbiased (ddof = 1) covariance.
    let corners = [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0];
    let stats =
        GaussianStats::from_features(FeatureMatrix::new(&corners, 4, 2, "x").unwrap()).unwrap();
    assert_eq!(stats.mean(), &[1.0, 1.0]);
    assert_eq!(stats.dim(), 2);
    assert_eq!(stats.count(), Some(4));
    let cov = stats.covariance();
    assert_close(cov[0], 4.0 / 3.0, 1e-12, "var x");
    assert_close(cov[1], 0.0, 1e-12, "cov xy");
    assert_close(cov[3], 4.0 / 3.0, 1e-12, "var y");
}

#[test]
fn sample_quality_of_a_perfect_generator() {
    // Real = generated = the points 0, 1, 2, 3, 4 on a line, k = 2. The k-NN radii are
    // 2, 1, 1, 1, 2, so the strict balls hold: 0 → {0, 1}, 1 → {1}, 2 → {2}, 3 → {3},
    // 4 → {3, 4}: density = 7 / (2 · 5).
    let points = [0.0, 1.0, 2.0, 3.0, 4.0];
    let quality = SampleQuality::measure(&points, &points, 1, 2).unwrap();
    assert_eq!(quality.prdc.precision, 1.0);
    assert_eq!(quality.prdc.recall, 1.0);
    assert_eq!(quality.prdc.coverage, 1.0);
    assert_close(quality.prdc.density, 0.7, 1e-15, "density");
    assert!(quality.frechet.abs() < 1e-9, "{quality:?}");
    assert_eq!(quality.diversity, 1.0);

    // A collapsed generator: every sample the same point.
    let collapsed = [2.0; 5];
    let quality = SampleQuality::measure(&points, &collapsed, 1, 2).unwrap();
    assert_eq!(quality.diversity, 0.0);
    // Only the real point 2 has the collapsed samples inside its (strict) ball.
    assert_eq!(quality.prdc.coverage, 1.0 / 5.0);

    // The same numbers from the parts.
    let real = FeatureMatrix::new(&points, 5, 1, "real").unwrap();
    let p = prdc(real, real, 2).unwrap();
    assert_close(p.density, 0.7, 1e-15, "prdc density");
    let nn = nearest_neighbour_distances(
        FeatureMatrix::new(&[0.4, 3.9], 2, 1, "queries").unwrap(),
        real,
    )
    .unwrap();
    assert_eq!(nn.indices, vec![0, 4]);
    assert_close(nn.distances[0], 0.4, 1e-12, "nn 0");
    assert_close(nn.distances[1], 0.1, 1e-12, "nn 1");
}

#[test]
fn kid_and_inception_score_closed_forms() {
    // Two points 0 and 1 in one dimension on both sides, subsets of 2: k(x, y) = (xy + 1)³,
    // within-set off-diagonal sums 2 · 1, cross sum 1 + 1 + 1 + 8 = 11:
    // MMD² = 1 + 1 − 2 · 11 / 4 = −3.5 for every subset.
    let x = FeatureMatrix::new(&[0.0, 1.0], 2, 1, "x").unwrap();
    let config = KidConfig::new().with_subsets(3).with_subset_size(2);
    let value = kid(x, x, &config, &mut medgen_core::seeded_rng(0)).unwrap();
    assert_close(value.mean, -3.5, 1e-12, "kid mean");
    assert_close(value.std, 0.0, 1e-12, "kid std");

    // Logits giving p = (¼, ¾) and (¾, ¼): marginal (½, ½), so
    // IS = exp(¼ ln ½ + ¾ ln (3/2)).
    let l3 = 3f64.ln();
    let values = [0.0, l3, l3, 0.0];
    let logits = FeatureMatrix::new(&values, 2, 2, "logits").unwrap();
    let score = inception_score(logits, 1).unwrap();
    let want = (0.25 * 0.5f64.ln() + 0.75 * 1.5f64.ln()).exp();
    assert_close(score.mean, want, 1e-12, "inception score");
    assert_eq!(score.std, 0.0);
    // Identical rows: no information, IS = 1.
    let flat = FeatureMatrix::new(&[0.3, 0.1, 0.3, 0.1], 2, 2, "flat").unwrap();
    assert_close(inception_score(flat, 1).unwrap().mean, 1.0, 1e-12, "IS of identical rows");
}

/// A feature extractor that averages every channel: `[N, C, H, W] → [N, C]`.
struct ChannelMeans;

impl FeatureExtractor for ChannelMeans {
    fn feature_dim(&self) -> usize {
        2
    }

    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
        let [n, c, h, w] = images.dims();
        Ok(images.reshape([n, c, h * w]).mean_dim(2).reshape([n, c]))
    }
}

#[test]
fn fid_through_a_custom_extractor() {
    let device = test_device();
    // Five 2-channel 2 × 2 images with distinct channel means.
    let values: Vec<f32> = (0..5 * 2 * 4).map(|i| ((i * 7) % 11) as f32 / 4.0).collect();
    let real = Tensor::<4>::from_data(TensorData::new(values, [5, 2, 2, 2]), &device);
    let (features, n, d) = extract_features(&ChannelMeans, real.clone(), 2).unwrap();
    assert_eq!((n, d), (5, 2));
    assert_eq!(features.len(), 10);
    let same = fid(&ChannelMeans, real.clone(), real.clone(), 3, &FrechetOptions::new()).unwrap();
    assert!(same.distance.abs() < 1e-9, "{same:?}");
    // Adding 1 to every pixel moves both feature means by 1: d² = 1 + 1.
    let brighter = real.clone().add_scalar(1.0);
    let shifted = fid(&ChannelMeans, real, brighter, 5, &FrechetOptions::new()).unwrap();
    assert_close(shifted.distance, 2.0, 1e-6, "fid of shifted images");
}

#[test]
fn energy_distance_and_uncertainty_of_tiny_ensembles() {
    // S = {A}, Y = {A, B} with IoU(A, B) = 1/3: cross 1/3, sample diversity 0, annotation
    // diversity 1/3, GED = 2/3 − 1/3.
    let a = vec![true, true, false];
    let b = vec![false, true, true];
    let e = generalized_energy_distance(std::slice::from_ref(&a), &[a.clone(), b.clone()]).unwrap();
    assert_close(e.cross, 1.0 / 3.0, 1e-15, "cross");
    assert_eq!(e.sample_diversity, 0.0);
    assert_close(e.ged, 1.0 / 3.0, 1e-15, "GED");
    assert_close(sample_diversity(&[a, b]).unwrap(), 2.0 / 3.0, 1e-15, "diversity");

    // Three samples of two pixels: pixel 0 on in all, pixel 1 in one of three.
    let samples = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    let maps = uncertainty_maps(&samples, 3).unwrap();
    assert_eq!(maps.mean[0], 1.0);
    assert_close(maps.mean[1], 1.0 / 3.0, 1e-15, "mean");
    assert_eq!(maps.variance[0], 0.0);
    assert_close(maps.variance[1], 2.0 / 9.0, 1e-15, "variance");
    assert_eq!(maps.entropy[0], 0.0);
    let h = -(1.0f64 / 3.0) * (1.0f64 / 3.0).ln() - (2.0f64 / 3.0) * (2.0f64 / 3.0).ln();
    assert_close(maps.entropy[1], h, 1e-15, "entropy");
    let tensor = Tensor::<2>::from_data(
        TensorData::new(samples.iter().map(|&v| v as f32).collect::<Vec<_>>(), [3, 2]),
        &test_device(),
    );
    let (mean, variance, entropy) = uncertainty_maps_tensor(tensor).unwrap();
    assert_eq!(mean.dims(), [1, 2]);
    let mean = host::<f64, 2, _>(mean);
    let variance = host::<f64, 2, _>(variance);
    let entropy = host::<f64, 2, _>(entropy);
    assert_close(mean[1], 1.0 / 3.0, 1e-6, "device mean");
    assert_close(variance[1], 2.0 / 9.0, 1e-6, "device variance");
    assert_close(entropy[1], h, 1e-5, "device entropy");
}

#[test]
fn overlap_and_surface_metrics_reject_bad_masks() {
    let err = core_error(dice(&[true, false, true], &[true, false]));
    assert!(matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[2]), "{err:?}");
    assert!(err.to_string().contains("second mask"), "{err}");

    let err = core_error(iou(&[], &[]));
    assert!(matches!(&err, CoreError::Empty { what } if what == "mask"), "{err:?}");
    assert!(err.to_string().contains("mask"), "{err}");

    let a = square(6, 1, 1, 2);
    let empty = [false; 36];
    let err = surface_distances(&a, &empty, &[6, 6], &SurfaceDistanceConfig::new()).unwrap_err();
    assert!(
        matches!(&err, MetricsError::Undefined { metric, .. } if *metric == "surface distance"),
        "{err:?}"
    );
    assert!(err.to_string().contains("surface distance"), "{err}");

    let bad = SurfaceDistanceConfig::new().with_percentile(101.0);
    let err = core_error(surface_distances(&a, &a, &[6, 6], &bad));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "percentile"),
        "{err:?}"
    );
    assert!(err.to_string().contains("percentile"), "{err}");

    let err = core_error(surface_distances(&a, &a, &[6, 5], &SurfaceDistanceConfig::new()));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    // A zero spacing is refused (the message names medgen-sdf's `sampling`, not `spacing`).
    let spaced = SurfaceDistanceConfig::new().with_spacing(Some(vec![0.0, 1.0]));
    let err = core_error(surface_distances(&a, &a, &[6, 6], &spaced));
    assert!(matches!(err, CoreError::InvalidConfig { .. }), "{err:?}");

    let device = test_device();
    let half = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
    let ones = Tensor::<4>::ones([1, 1, 2, 2], &device);
    let err = core_error(dice_batch(half, ones.clone()));
    assert!(
        matches!(&err, CoreError::NonBinaryMask { what, index: 0, value } if what == "prediction" && *value == 0.5),
        "{err:?}"
    );
    assert!(err.to_string().contains("prediction"), "{err}");

    let soft = Tensor::<4>::from_floats([[[[1.0, 0.0], [0.0, 0.3]]]], &device);
    let err = core_error(iou_batch(ones.clone(), soft));
    assert!(
        matches!(&err, CoreError::NonBinaryMask { what, index: 3, .. } if what == "reference"),
        "{err:?}"
    );
    assert!(err.to_string().contains("reference"), "{err}");

    let wider = Tensor::<4>::ones([1, 1, 2, 3], &device);
    let err = core_error(dice_batch(ones.clone(), wider));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[1, 1, 2, 3]),
        "{err:?}"
    );
    assert!(err.to_string().contains("reference"), "{err}");

    let two_channels = Tensor::<4>::ones([1, 2, 2, 2], &device);
    let config = SurfaceDistanceConfig::new();
    let err = core_error(surface_distances_batch(two_channels.clone(), two_channels, &config));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    let empty_batch = Tensor::<4>::zeros([0, 1, 2, 2], &device);
    let err = core_error(dice_batch(empty_batch.clone(), empty_batch));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("prediction"), "{err}");
}

#[test]
fn image_metrics_reject_bad_images_and_options() {
    let a = vec![0.5; 100];

    let err = core_error(mse(&a, &a[..99]));
    assert!(matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[99]), "{err:?}");
    assert!(err.to_string().contains("second image"), "{err}");

    let err = core_error(mae(&[], &[]));
    assert!(matches!(&err, CoreError::Empty { what } if what == "image"), "{err:?}");

    let mut nan = a.clone();
    nan[7] = f64::NAN;
    let err = core_error(psnr(&a, &nan, 1.0));
    assert!(matches!(&err, CoreError::NonFinite { what } if what == "image"), "{err:?}");
    assert!(err.to_string().contains("image"), "{err}");

    for range in [0.0, -1.0, f64::INFINITY] {
        let err = core_error(psnr(&a, &a, range));
        assert!(
            matches!(&err, CoreError::InvalidConfig { name, .. } if name == "data_range"),
            "{err:?}"
        );
        assert!(err.to_string().contains("data_range"), "{err}");
    }

    // An 11-tap Gaussian window does not fit a 10 × 10 image.
    let err = core_error(ssim(&a, &a, &[10, 10], &SsimConfig::gaussian(1.0)));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "window"), "{err:?}");
    assert!(err.to_string().contains("window"), "{err}");

    let even = SsimConfig::uniform(1.0).with_win_size(4);
    let err = core_error(ssim(&a, &a, &[10, 10], &even));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "win_size"), "{err:?}");
    assert!(err.to_string().contains("win_size"), "{err}");

    let err = core_error(ssim(&a, &a, &[100], &SsimConfig::uniform(1.0)));
    assert!(matches!(err, CoreError::InvalidRank { got: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("image shape"), "{err}");

    let err = core_error(ssim(&a, &a, &[10, 9], &SsimConfig::uniform(1.0)));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");

    let bad_sigma = SsimConfig::gaussian(1.0).with_sigma(0.0);
    let err = core_error(ssim(&a, &a, &[10, 10], &bad_sigma));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "sigma"), "{err:?}");

    let device = test_device();
    let x = Tensor::<4>::zeros([1, 1, 4, 4], &device);
    let y = Tensor::<4>::zeros([1, 1, 4, 5], &device);
    let err = core_error(psnr_batch(x, y, 1.0));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("second images"), "{err}");
}

#[test]
fn detection_metrics_reject_bad_labels_and_scores() {
    let err = auroc(&[true, true], &[0.1, 0.2]).unwrap_err();
    assert!(
        matches!(&err, MetricsError::Undefined { metric, .. } if *metric == "ROC curve"),
        "{err:?}"
    );
    assert!(err.to_string().contains("ROC curve"), "{err}");

    let err = average_precision(&[false, false], &[0.1, 0.2]).unwrap_err();
    assert!(matches!(err, MetricsError::Undefined { .. }), "{err:?}");
    assert!(err.to_string().contains("precision-recall"), "{err}");

    let err = core_error(auroc(&[true, false], &[0.1, f64::NAN]));
    assert!(matches!(&err, CoreError::NonFinite { what } if what == "scores"), "{err:?}");
    assert!(err.to_string().contains("scores"), "{err}");

    let err = core_error(auroc(&[true, false], &[0.1]));
    assert!(matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[1]), "{err:?}");
    assert!(err.to_string().contains("scores"), "{err}");

    let err = core_error(average_precision(&[], &[]));
    assert!(matches!(&err, CoreError::Empty { what } if what == "labels"), "{err:?}");
    assert!(err.to_string().contains("labels"), "{err}");

    let err = best_dice_threshold(&[false, false], &[0.5, 0.6]).unwrap_err();
    assert!(matches!(err, MetricsError::Undefined { .. }), "{err:?}");
}

#[test]
fn distribution_metrics_reject_bad_features_and_options() {
    let err = core_error(FeatureMatrix::new(&[1.0, 2.0, 3.0], 2, 2, "real features"));
    assert!(matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[3]), "{err:?}");
    assert!(err.to_string().contains("real features"), "{err}");

    let err = core_error(FeatureMatrix::new(&[], 0, 2, "real features"));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("real features"), "{err}");

    let err = core_error(FeatureMatrix::new(&[1.0, f64::INFINITY], 1, 2, "fake features"));
    assert!(matches!(err, CoreError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("fake features"), "{err}");

    // Generated features with a NaN: named as generated features.
    let real = [0.0, 1.0, 2.0, 3.0, 4.0];
    let err = core_error(SampleQuality::measure(&real, &[0.0, f64::NAN, 1.0], 1, 1));
    assert!(matches!(err, CoreError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("generated features"), "{err}");

    // Every real row equal: the diversity ratio is undefined.
    let err = core_error(SampleQuality::measure(&[1.0; 5], &real, 1, 2));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "real"), "{err:?}");
    assert!(err.to_string().contains("real"), "{err}");

    // k must be below the number of rows of each set.
    let err = core_error(SampleQuality::measure(&real, &real, 1, 5));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "k"), "{err:?}");
    assert!(err.to_string().contains("`k`"), "{err}");

    let x = FeatureMatrix::new(&real, 5, 1, "x").unwrap();
    let wide = FeatureMatrix::new(&[0.0, 1.0, 2.0, 3.0], 2, 2, "wide").unwrap();
    let err = core_error(frechet_distance_from_features(x, wide, &FrechetOptions::new()));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("second feature matrix"), "{err}");

    let negative = FrechetOptions::new().with_offset(-1.0);
    let err = core_error(frechet_distance_from_features(x, x, &negative));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "offset"), "{err:?}");
    assert!(err.to_string().contains("offset"), "{err}");

    let one_row = FeatureMatrix::new(&[1.0], 1, 1, "one").unwrap();
    let err = frechet_distance_from_features(one_row, one_row, &FrechetOptions::new()).unwrap_err();
    assert!(
        matches!(&err, MetricsError::Undefined { metric, .. } if *metric == "covariance"),
        "{err:?}"
    );

    let err = core_error(GaussianStats::new(vec![0.0, 0.0], vec![1.0, 0.0, 0.0], None));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("covariance"), "{err}");

    let err = core_error(GaussianStats::new(vec![], vec![], None));
    assert!(matches!(&err, CoreError::Empty { what } if what == "mean"), "{err:?}");

    let too_big = KidConfig::new().with_subsets(1).with_subset_size(6);
    let err = core_error(kid(x, x, &too_big, &mut medgen_core::seeded_rng(0)));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "subset_size"),
        "{err:?}"
    );
    assert!(err.to_string().contains("subset_size"), "{err}");

    let err = core_error(inception_score(x, 0));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "splits"), "{err:?}");
    assert!(err.to_string().contains("splits"), "{err}");

    let device = test_device();
    let images = Tensor::<4>::zeros([2, 2, 2, 2], &device);
    let err = core_error(extract_features(&ChannelMeans, images, 0));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "batch_size"),
        "{err:?}"
    );
    assert!(err.to_string().contains("batch_size"), "{err}");

    let err = core_error(uncertainty_maps(&[0.5, 1.5], 1));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "samples"), "{err:?}");
    assert!(err.to_string().contains("samples"), "{err}");

    let err = core_error(uncertainty_maps(&[0.5, 0.5, 0.5], 2));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "count"), "{err:?}");

    let err = core_error(sample_diversity(&[vec![true, false]]));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "samples"), "{err:?}");

    let none: Vec<Vec<bool>> = Vec::new();
    let err = core_error(generalized_energy_distance(&none, &[vec![true]]));
    assert!(matches!(&err, CoreError::Empty { what } if what == "samples"), "{err:?}");
    assert!(err.to_string().contains("samples"), "{err}");
}

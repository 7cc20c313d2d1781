//! Pluggable feature extractors and the FID/KID entry points that take any of them.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::ensure_batch;
use rand::Rng;

use crate::error::Result;
use crate::features::{FeatureMatrix, features_to_host};
use crate::frechet::{FrechetDistance, FrechetOptions, frechet_distance_from_features};
use crate::kid::{KidConfig, kid};
use crate::summary::MeanStd;

/// A network (or any map) from images to feature vectors, e.g. InceptionV3's pool features
/// for FID.
pub trait FeatureExtractor {
    /// The feature dimension `d`.
    fn feature_dim(&self) -> usize;

    /// Features of a batch: `images [N, C, H, W]` → `[N, d]`, on the images' device.
    ///
    /// # Errors
    /// Whatever the extractor rejects (e.g. wrong channel count), as [`CoreError`].
    fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>>;
}

/// The features of `images [N, C, H, W]`, computed `batch_size` images at a time and read
/// back to the host as `f64` (one read per batch): row-major values with their shape
/// `(N, d)`.
///
/// # Errors
/// [`CoreError::InvalidConfig`] for `batch_size = 0`, [`CoreError::Empty`] for no images,
/// [`CoreError::ShapeMismatch`] if the extractor returns a shape other than
/// `[batch, feature_dim]`, and the extractor's own errors.
pub fn extract_features<E: FeatureExtractor + ?Sized>(
    extractor: &E,
    images: Tensor<4>,
    batch_size: usize,
) -> Result<(Vec<f64>, usize, usize)> {
    if batch_size == 0 {
        return Err(CoreError::config("batch_size", "must be at least 1").into());
    }
    ensure_batch(&images, "images")?;
    let n = images.dims()[0];
    let d = extractor.feature_dim();
    let mut values = Vec::with_capacity(n * d);
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let features = extractor.extract(images.clone().narrow(0, start, len))?;
        if features.dims() != [len, d] {
            return Err(CoreError::shape(
                "extracted features",
                format!("[{len}, {d}]"),
                &features.dims(),
            )
            .into());
        }
        values.extend(features_to_host(features)?.0);
    }
    Ok((values, n, d))
}

/// Fréchet Inception Distance with any extractor: [`frechet_distance_from_features`] of the
/// features of `real` and `fake` (`[N, C, H, W]` each), extracted `batch_size` at a time.
///
/// # Errors
/// Those of [`extract_features`] and [`frechet_distance_from_features`] (NaN features give
/// [`CoreError::NonFinite`]).
pub fn fid<E: FeatureExtractor + ?Sized>(
    extractor: &E,
    real: Tensor<4>,
    fake: Tensor<4>,
    batch_size: usize,
    options: &FrechetOptions,
) -> Result<FrechetDistance> {
    let (a, n_a, d) = extract_features(extractor, real, batch_size)?;
    let (b, n_b, _) = extract_features(extractor, fake, batch_size)?;
    frechet_distance_from_features(
        FeatureMatrix::new(&a, n_a, d, "real features")?,
        FeatureMatrix::new(&b, n_b, d, "fake features")?,
        options,
    )
}

/// Kernel Inception Distance with any extractor: [`kid`] of the features of `real` and
/// `fake` (`[N, C, H, W]` each), extracted `batch_size` at a time.
///
/// # Errors
/// Those of [`extract_features`] and [`kid`].
pub fn kid_with_extractor<E: FeatureExtractor + ?Sized, R: Rng + ?Sized>(
    extractor: &E,
    real: Tensor<4>,
    fake: Tensor<4>,
    batch_size: usize,
    config: &KidConfig,
    rng: &mut R,
) -> Result<MeanStd> {
    let (a, n_a, d) = extract_features(extractor, real, batch_size)?;
    let (b, n_b, _) = extract_features(extractor, fake, batch_size)?;
    kid(
        FeatureMatrix::new(&a, n_a, d, "real features")?,
        FeatureMatrix::new(&b, n_b, d, "fake features")?,
        config,
        rng,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// Per-channel mean and mean of squares: `[N, C, H, W]` → `[N, 2C]`.
    struct Moments {
        channels: usize,
    }

    impl FeatureExtractor for Moments {
        fn feature_dim(&self) -> usize {
            2 * self.channels
        }

        fn extract(&self, images: Tensor<4>) -> medgen_core::Result<Tensor<2>> {
            let [n, c, h, w] = images.dims();
            let flat = images.reshape([n, c, h * w]);
            let mean = flat.clone().mean_dim(2).reshape([n, c]);
            let square = flat.powi_scalar(2).mean_dim(2).reshape([n, c]);
            Ok(Tensor::cat(vec![mean, square], 1))
        }
    }

    fn images(values: &[f32], n: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), [n, 1, 2, 2]), &test_device())
    }

    /// Host features of `Moments` for single-channel 2 × 2 images.
    fn host_moments(values: &[f32]) -> Vec<f64> {
        values
            .chunks(4)
            .flat_map(|p| {
                let mean = p.iter().map(|v| *v as f64).sum::<f64>() / 4.0;
                let square = p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 4.0;
                [mean, square]
            })
            .collect()
    }

    #[test]
    fn fid_and_kid_equal_the_metrics_of_the_extracted_features() {
        let real: Vec<f32> = (0..20).map(|i| ((i * 7) % 9) as f32 / 9.0).collect();
        let fake: Vec<f32> = (0..20).map(|i| ((i * 5) % 11) as f32 / 8.0).collect();
        let extractor = Moments { channels: 1 };
        let value =
            fid(&extractor, images(&real, 5), images(&fake, 5), 2, &FrechetOptions::new()).unwrap();
        let (a, b) = (host_moments(&real), host_moments(&fake));
        let (fa, fb) = (
            FeatureMatrix::new(&a, 5, 2, "a").unwrap(),
            FeatureMatrix::new(&b, 5, 2, "b").unwrap(),
        );
        let expected = frechet_distance_from_features(fa, fb, &FrechetOptions::new()).unwrap();
        assert!((value.distance - expected.distance).abs() < 1e-5 * expected.distance.max(1.0));
        let config = KidConfig::new().with_subsets(1).with_subset_size(5);
        let k = kid_with_extractor(
            &extractor,
            images(&real, 5),
            images(&fake, 5),
            3,
            &config,
            &mut seeded_rng(1),
        )
        .unwrap();
        let expected = kid(fa, fb, &config, &mut seeded_rng(1)).unwrap();
        assert!((k.mean - expected.mean).abs() < 1e-5 * expected.mean.abs().max(1.0));
    }

    #[test]
    fn non_finite_features_and_bad_batch_size_are_errors() {
        let mut real = [0.5f32; 12];
        real[3] = f32::NAN;
        let extractor = Moments { channels: 1 };
        let fake = [0.25f32; 12];
        assert!(matches!(
            fid(&extractor, images(&real, 3), images(&fake, 3), 2, &FrechetOptions::new()),
            Err(crate::MetricsError::Core(CoreError::NonFinite { .. }))
        ));
        assert!(matches!(
            extract_features(&extractor, images(&fake, 3), 0),
            Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
    }
}

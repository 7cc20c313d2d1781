//! Anomaly maps from reconstructions, their smoothing, and pooling a map into an image score.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use medgen_core::CoreError;

use crate::error::{AppsError, Result};
use crate::images::host_values;

/// How an anomaly map `a` (one value per pixel or voxel) is pooled into one image score `s`.
#[derive(Config, Debug, PartialEq)]
pub enum ScorePooling {
    /// `s = mean_p a_p`.
    Mean,
    /// `s = max_p a_p`: sensitive to one bright spot, hence to noise.
    Max,
    /// `s` = the mean of the largest `⌈f · P⌉` of the `P` values, `f ∈ (0, 1]` (e.g. 0.01):
    /// as focal as `Max`, as stable as `Mean`.
    TopFraction(f64),
}

impl ScorePooling {
    /// Checks the fraction of [`ScorePooling::TopFraction`].
    pub fn validate(&self) -> Result<()> {
        if let Self::TopFraction(f) = self
            && !(*f > 0.0 && *f <= 1.0)
        {
            return Err(AppsError::config(
                "pooling",
                format!("the top fraction must lie in (0, 1], got {f}"),
            ));
        }
        Ok(())
    }

    /// Pools the values of one map (see the variants). An empty map pools to 0.
    pub fn pool(&self, values: &[f64]) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        match self {
            Self::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Self::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::TopFraction(f) => {
                let k = ((f * values.len() as f64).ceil() as usize).clamp(1, values.len());
                let mut sorted = values.to_vec();
                sorted.sort_by(|a, b| b.total_cmp(a));
                sorted[..k].iter().sum::<f64>() / k as f64
            }
        }
    }
}

/// The residual anomaly map `a = mean_c |x − x̂|` of images `x` and their reconstructions
/// `x̂` (`[N, C, ...]`, same shape): one channel, `[N, 1, ...]`.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the shapes differ.
pub fn residual_map<const D: usize>(
    images: Tensor<D>,
    reconstructions: Tensor<D>,
) -> Result<Tensor<D>> {
    medgen_core::check::ensure_shape(&reconstructions.dims(), &images.dims(), "reconstructions")?;
    Ok(images.sub(reconstructions).abs().mean_dim(1))
}

/// Fails with a configuration error naming `smoothing_sigma` unless `σ` is finite and `≥ 0`.
pub fn check_smoothing(sigma: f64) -> Result<()> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(AppsError::config(
            "smoothing_sigma",
            format!("must be finite and >= 0, got {sigma}"),
        ));
    }
    Ok(())
}

/// Smooths each map of `maps` (`[N, 1, ...]`, any spatial rank) with a Gaussian of standard
/// deviation `sigma` pixels along every spatial axis (separable, truncated at `⌈3σ⌉`, edge
/// values repeated beyond the border, weights normalised to sum 1): small, isolated residuals
/// of a reconstruction fade while lesion-sized ones remain. `sigma = 0` returns the maps
/// unchanged.
///
/// Runs on the host (one read-back and one upload): maps are evaluated once per image, not in
/// a loop.
///
/// # Errors
/// A configuration error naming `smoothing_sigma` unless `σ` is finite and `≥ 0`, and
/// [`CoreError::Empty`] for empty maps.
pub fn smooth_maps<const D: usize>(maps: Tensor<D>, sigma: f64) -> Result<Tensor<D>> {
    check_smoothing(sigma)?;
    let dims = maps.dims();
    medgen_core::check::ensure_non_empty(&dims, "anomaly maps")?;
    if sigma == 0.0 || D < 3 {
        return Ok(maps);
    }
    let device = maps.device();
    let mut values = host_values(maps, "anomaly maps")?;
    let kernel = gaussian_kernel(sigma);
    let spatial = &dims[2..];
    let field: usize = spatial.iter().product();
    for map in values.chunks_mut(field) {
        for axis in 0..spatial.len() {
            convolve_axis(map, spatial, axis, &kernel);
        }
    }
    let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    Ok(Tensor::from_data(TensorData::new(values, dims), &device))
}

/// The normalised Gaussian weights `w_k ∝ exp(−k²/(2σ²))`, `k = −r..=r`, `r = ⌈3σ⌉`.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (3.0 * sigma).ceil() as i64;
    let weights: Vec<f64> =
        (-radius..=radius).map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// Convolves a row-major field of shape `spatial` along `axis` with `kernel` (odd length),
/// repeating edge values.
fn convolve_axis(field: &mut [f64], spatial: &[usize], axis: usize, kernel: &[f64]) {
    let len = spatial[axis];
    let stride: usize = spatial[axis + 1..].iter().product();
    let radius = (kernel.len() / 2) as i64;
    let mut line = vec![0.0; len];
    let outer: usize = spatial[..axis].iter().product();
    for o in 0..outer {
        for inner in 0..stride {
            let base = o * len * stride + inner;
            for (i, value) in line.iter_mut().enumerate() {
                *value = field[base + i * stride];
            }
            for i in 0..len {
                let mut acc = 0.0;
                for (k, w) in kernel.iter().enumerate() {
                    let j = (i as i64 + k as i64 - radius).clamp(0, len as i64 - 1) as usize;
                    acc += w * line[j];
                }
                field[base + i * stride] = acc;
            }
        }
    }
}

/// One score per map of `maps` (`[N, ...]`), pooled with `pooling`.
///
/// # Errors
/// An invalid pooling fraction, [`CoreError::Empty`] for empty maps, and read-back errors.
pub fn image_scores<const D: usize>(maps: Tensor<D>, pooling: &ScorePooling) -> Result<Vec<f64>> {
    pooling.validate()?;
    let dims = maps.dims();
    medgen_core::check::ensure_non_empty(&dims, "anomaly maps")?;
    let per_item: usize = dims[1..].iter().product();
    let values = host_values(maps, "anomaly maps")?;
    Ok(values.chunks(per_item).map(|map| pooling.pool(map)).collect())
}

/// Fails with a shape error unless `mask` has the shape of `maps`.
pub(crate) fn ensure_same_map_shape(maps: &[usize], mask: &[usize], what: &str) -> Result<()> {
    if maps != mask {
        return Err(
            CoreError::shape(what, format!("the anomaly maps' shape {maps:?}"), mask).into()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn pooling_matches_hand_computed_values() {
        let values = [0.0, 4.0, 1.0, 3.0];
        assert_eq!(ScorePooling::Mean.pool(&values), 2.0);
        assert_eq!(ScorePooling::Max.pool(&values), 4.0);
        assert_eq!(ScorePooling::TopFraction(0.5).pool(&values), 3.5);
        assert_eq!(ScorePooling::TopFraction(0.01).pool(&values), 4.0);
        assert!(ScorePooling::TopFraction(0.0).validate().is_err());
        assert!(ScorePooling::TopFraction(1.5).validate().is_err());
    }

    #[test]
    fn smoothing_preserves_mass_of_a_centred_impulse_and_constants() {
        let device = test_device();
        let mut values = vec![0.0f32; 15 * 15];
        values[7 * 15 + 7] = 1.0;
        let impulse = Tensor::<4>::from_data(TensorData::new(values, [1, 1, 15, 15]), &device);
        let smoothed = smooth_maps(impulse, 1.0).unwrap();
        let v = host_values(smoothed, "s").unwrap();
        let total: f64 = v.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Separable Gaussian: the centre weight is g(0)², g(0) = 1 / Σ_k exp(−k²/2).
        let g0 = 1.0 / (-3i32..=3).map(|k| (-(k * k) as f64 / 2.0).exp()).sum::<f64>();
        assert!((v[7 * 15 + 7] - g0 * g0).abs() < 1e-6);
        assert!((v[7 * 15 + 8] - v[8 * 15 + 7]).abs() < 1e-7);
        let constant = Tensor::<4>::ones([2, 1, 5, 6], &device).mul_scalar(0.3);
        let v = host_values(smooth_maps(constant, 2.0).unwrap(), "c").unwrap();
        assert!(v.iter().all(|x| (x - 0.3).abs() < 1e-6));
        assert!(smooth_maps(Tensor::<4>::ones([1, 1, 2, 2], &device), f64::NAN).is_err());
    }

    #[test]
    fn residual_maps_average_channels() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0]], [[3.0, 0.0]]]], &device);
        let y = Tensor::<4>::zeros([1, 2, 1, 2], &device);
        let map = residual_map(x, y).unwrap();
        assert_eq!(map.dims(), [1, 1, 1, 2]);
        assert_eq!(host_values(map, "m").unwrap(), vec![2.0, 1.0]);
    }
}

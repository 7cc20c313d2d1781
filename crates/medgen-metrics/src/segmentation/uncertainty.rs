//! Pixel-wise uncertainty maps from an ensemble of sampled segmentations.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::ensure_finite;

use crate::error::Result;

/// Pixel-wise statistics of an ensemble of `S` foreground probability maps (or binary
/// masks as 0/1), from [`uncertainty_maps`].
#[derive(Clone, Debug, PartialEq)]
pub struct UncertaintyMaps {
    /// `p̄ = (1/S) Σ_s p_s`, the mean foreground probability.
    pub mean: Vec<f64>,
    /// `(1/S) Σ_s (p_s − p̄)²`, the population variance over the ensemble.
    pub variance: Vec<f64>,
    /// The binary entropy of the mean in nats, `−p̄ ln p̄ − (1 − p̄) ln(1 − p̄)` (`0 ln 0 = 0`):
    /// the predictive (total) uncertainty.
    pub entropy: Vec<f64>,
}

/// Uncertainty maps of `S` samples stored one after another in `samples` (`S · n` values
/// in `[0, 1]`, each map `n` values of any shape, flattened).
///
/// # Errors
/// [`CoreError::InvalidConfig`] for `count = 0` or a length that is not a multiple of
/// `count` or for values outside `[0, 1]` (NaN included), [`CoreError::Empty`] for no
/// values.
pub fn uncertainty_maps(samples: &[f64], count: usize) -> Result<UncertaintyMaps> {
    if count == 0 || !samples.len().is_multiple_of(count) {
        return Err(CoreError::config(
            "count",
            format!("must be >= 1 and divide the {} values", samples.len()),
        )
        .into());
    }
    if samples.is_empty() {
        return Err(CoreError::Empty { what: "samples".into() }.into());
    }
    if !samples.iter().all(|p| (0.0..=1.0).contains(p)) {
        return Err(
            CoreError::config("samples", "every value must be a probability in [0, 1]").into()
        );
    }
    let n = samples.len() / count;
    let s = count as f64;
    let mut mean = vec![0.0; n];
    for map in samples.chunks_exact(n) {
        for (m, p) in mean.iter_mut().zip(map) {
            *m += p / s;
        }
    }
    let mut variance = vec![0.0; n];
    for map in samples.chunks_exact(n) {
        for ((v, p), m) in variance.iter_mut().zip(map).zip(&mean) {
            *v += (p - m) * (p - m) / s;
        }
    }
    let entropy = mean.iter().map(|&p| binary_entropy(p)).collect();
    Ok(UncertaintyMaps { mean, variance, entropy })
}

/// [`uncertainty_maps`] on the device for an ensemble tensor `[S, ...]` (samples along the
/// first axis): returns `(mean, variance, entropy)`, each of shape `[1, ...]`, computed
/// without reading the data back (except one finiteness probe). Entropy uses
/// `p̄` clamped to `[1e-7, 1 − 1e-7]` in `f32`, so it is exact to about `1e-6` nats.
///
/// # Errors
/// [`CoreError::Empty`] for an empty tensor, [`CoreError::NonFinite`] for NaN or ±∞.
pub fn uncertainty_maps_tensor<const D: usize>(
    samples: Tensor<D>,
) -> Result<(Tensor<D>, Tensor<D>, Tensor<D>)> {
    medgen_core::check::ensure_non_empty(&samples.dims(), "samples")?;
    ensure_finite(&samples, "samples")?;
    let mean = samples.clone().mean_dim(0);
    let variance = (samples - mean.clone()).powi_scalar(2).mean_dim(0);
    let p = mean.clone().clamp(1e-7, 1.0 - 1e-7);
    let q = p.clone().neg().add_scalar(1.0);
    let entropy = (p.clone() * p.log() + q.clone() * q.log()).neg();
    Ok((mean, variance, entropy))
}

/// `−p ln p − (1 − p) ln(1 − p)` with `0 ln 0 = 0`.
fn binary_entropy(p: f64) -> f64 {
    let term = |x: f64| if x > 0.0 { -x * x.ln() } else { 0.0 };
    term(p) + term(1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    #[test]
    fn maps_match_closed_forms_on_host_and_device() {
        // Three binary samples of 4 pixels: agreement, a 2:1 split, all-ones, all-zeros.
        let samples = [
            1.0, 1.0, 1.0, 0.0, //
            1.0, 0.0, 1.0, 0.0, //
            1.0, 0.0, 1.0, 0.0,
        ];
        let maps = uncertainty_maps(&samples, 3).unwrap();
        assert_eq!(maps.mean, vec![1.0, 1.0 / 3.0, 1.0, 0.0]);
        assert!((maps.variance[1] - 2.0 / 9.0).abs() < 1e-15);
        assert_eq!(maps.variance[0], 0.0);
        let h = -(1.0f64 / 3.0) * (1.0f64 / 3.0).ln() - (2.0f64 / 3.0) * (2.0f64 / 3.0).ln();
        assert!((maps.entropy[1] - h).abs() < 1e-15);
        assert_eq!(maps.entropy[0], 0.0);
        let tensor = Tensor::<2>::from_data(
            TensorData::new(samples.map(|v| v as f32).to_vec(), [3, 4]),
            &test_device(),
        );
        let (mean, variance, entropy) = uncertainty_maps_tensor(tensor).unwrap();
        let read = |t: Tensor<2>| t.try_into_vec_as::<f64>().unwrap();
        for (got, want) in [
            (read(mean), maps.mean),
            (read(variance), maps.variance),
            (read(entropy), maps.entropy),
        ] {
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        assert!(uncertainty_maps(&samples, 5).is_err());
        assert!(uncertainty_maps(&[0.5, 1.5], 1).is_err());
    }
}

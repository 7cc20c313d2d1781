//! Pixel-wise error metrics: MSE, MAE and PSNR.

use super::pair::{check_data_range, check_pair};
use crate::error::Result;

/// Mean squared error `(1/n) Σ (a_i − b_i)²` of two images of any shape (same length).
///
/// # Errors
/// [`CoreError::ShapeMismatch`](medgen_core::CoreError::ShapeMismatch) for different
/// lengths, [`CoreError::Empty`](medgen_core::CoreError::Empty),
/// [`CoreError::NonFinite`](medgen_core::CoreError::NonFinite).
pub fn mse(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    Ok(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64)
}

/// Mean absolute error `(1/n) Σ |a_i − b_i|`; errors as [`mse`].
pub fn mae(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    Ok(a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64)
}

/// Peak signal-to-noise ratio in dB, as scikit-image's `peak_signal_noise_ratio`:
/// `PSNR = 10 · log₁₀(R² / MSE(a, b))` with the data range `R`; `+∞` for identical images.
///
/// # Errors
/// As [`mse`], and [`CoreError::InvalidConfig`](medgen_core::CoreError::InvalidConfig)
/// unless `R` is finite and `> 0`.
pub fn psnr(a: &[f64], b: &[f64], data_range: f64) -> Result<f64> {
    check_data_range(data_range)?;
    let error = mse(a, b)?;
    Ok(10.0 * (data_range * data_range / error).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{floats, load};

    #[test]
    fn psnr_matches_scikit_image() {
        let refs = load("image_metrics.json");
        for case in refs["images"].as_array().unwrap() {
            let (a, b) = (floats(&case["a"]), floats(&case["b"]));
            let expected = case["psnr"].as_f64().unwrap();
            let value = psnr(&a, &b, 1.0).unwrap();
            assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
        }
    }

    #[test]
    fn closed_forms() {
        let (a, b) = ([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 0.0, 3.0]);
        assert_eq!(mse(&a, &b).unwrap(), 5.0 / 4.0);
        assert_eq!(mae(&a, &b).unwrap(), 3.0 / 4.0);
        assert!((psnr(&a, &b, 2.0).unwrap() - 10.0 * (4.0f64 / 1.25).log10()).abs() < 1e-14);
        assert_eq!(psnr(&a, &a, 1.0).unwrap(), f64::INFINITY);
        assert!(psnr(&a, &b, -1.0).is_err());
        assert!(mse(&a, &b[..3]).is_err());
    }
}

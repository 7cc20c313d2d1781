//! The SSIM windows: Gaussian (scipy's truncated kernel) and uniform.

use burn::config::Config;

/// The local window SSIM averages over.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SsimWindow {
    /// Gaussian weights `exp(−x²/(2σ²))`, normalised, on `x ∈ [−r, r]` with
    /// `r = ⌊truncate·σ + ½⌋` (scipy's `gaussian_filter`; σ = 1.5, truncate = 3.5 give the
    /// 11-tap window of Wang et al. 2004 and scikit-image's `gaussian_weights=True`).
    Gaussian,
    /// Equal weights `1/k` over `k` samples per axis (scipy's `uniform_filter`,
    /// scikit-image's default window with `win_size = 7`).
    Uniform,
}

/// The 1-D Gaussian kernel of scipy's `gaussian_filter`: `r = ⌊truncate·σ + ½⌋`,
/// `w_x ∝ exp(−x²/(2σ²))` for `x = −r..=r`, normalised to sum 1.
pub(crate) fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let radius = (truncate * sigma + 0.5).floor() as i64;
    let raw: Vec<f64> =
        (-radius..=radius).map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp()).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / total).collect()
}

/// The 1-D uniform kernel of length `size`: every weight `1/size`.
pub(crate) fn uniform_kernel(size: usize) -> Vec<f64> {
    vec![1.0 / size as f64; size]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_kernel_has_eleven_symmetric_taps_for_sigma_one_and_a_half() {
        let k = gaussian_kernel(1.5, 3.5);
        assert_eq!(k.len(), 11);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(k[0], k[10]);
        assert!((k[5] / k[6] - (0.5 / 2.25f64).exp()).abs() < 1e-14);
    }
}

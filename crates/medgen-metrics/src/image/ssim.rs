//! Structural similarity (SSIM) with scikit-image semantics, 2-D and 3-D.

use burn::config::Config;
use medgen_core::CoreError;

use super::pair::{check_data_range, check_pair, check_shape};
use super::separable::filter_valid;
use super::ssim_2d::{SsimTerms, ssim_sums_2d};
use super::window::{SsimWindow, gaussian_kernel, uniform_kernel};
use crate::error::Result;

/// Options of [`ssim`], named as scikit-image's `structural_similarity`.
#[derive(Config, Debug, PartialEq)]
pub struct SsimConfig {
    /// The dynamic range `R` of the images (max − min possible value, e.g. 1 or 255), finite
    /// and `> 0`; scikit-image requires it for float images too.
    pub data_range: f64,
    /// The window: Gaussian (default, σ = [`sigma`](Self::sigma)) or uniform
    /// ([`win_size`](Self::win_size) samples per axis).
    #[config(default = "SsimWindow::Gaussian")]
    pub window: SsimWindow,
    /// Standard deviation of the Gaussian window, finite and `> 0`.
    #[config(default = 1.5)]
    pub sigma: f64,
    /// The Gaussian window is cut at `truncate·σ` (scikit-image fixes 3.5).
    #[config(default = 3.5)]
    pub truncate: f64,
    /// Side of the uniform window, odd and `>= 3`.
    #[config(default = 7)]
    pub win_size: usize,
    /// Scale (co)variances by `N/(N−1)` with `N = win_sizeⁿᵈⁱᵐ` (scikit-image's
    /// `use_sample_covariance`; `false` for the Gaussian window as Wang et al.).
    #[config(default = false)]
    pub sample_covariance: bool,
    /// `K₁` in `C₁ = (K₁R)²`.
    #[config(default = 0.01)]
    pub k1: f64,
    /// `K₂` in `C₂ = (K₂R)²`.
    #[config(default = 0.03)]
    pub k2: f64,
}

impl SsimConfig {
    /// The Gaussian window of Wang et al. (σ = 1.5, 11 taps, population covariance): as
    /// `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`.
    pub fn gaussian(data_range: f64) -> Self {
        Self::new(data_range)
    }

    /// scikit-image's default uniform 7 × 7 window with sample covariance.
    pub fn uniform(data_range: f64) -> Self {
        Self::new(data_range).with_window(SsimWindow::Uniform).with_sample_covariance(true)
    }

    /// The 1-D window weights after validation.
    pub(crate) fn kernel(&self) -> Result<Vec<f64>> {
        check_data_range(self.data_range)?;
        for (name, k) in [("k1", self.k1), ("k2", self.k2)] {
            if !(k.is_finite() && k > 0.0) {
                return Err(
                    CoreError::config(name, format!("must be finite and > 0, got {k}")).into()
                );
            }
        }
        match self.window {
            SsimWindow::Gaussian => {
                if !(self.sigma.is_finite() && self.sigma > 0.0) {
                    return Err(CoreError::config(
                        "sigma",
                        format!("must be finite and > 0, got {}", self.sigma),
                    )
                    .into());
                }
                if !(self.truncate.is_finite() && self.truncate > 0.0) {
                    return Err(CoreError::config(
                        "truncate",
                        format!("must be finite and > 0, got {}", self.truncate),
                    )
                    .into());
                }
                Ok(gaussian_kernel(self.sigma, self.truncate))
            }
            SsimWindow::Uniform => {
                if self.win_size < 3 || self.win_size.is_multiple_of(2) {
                    return Err(CoreError::config(
                        "win_size",
                        format!("must be odd and >= 3, got {}", self.win_size),
                    )
                    .into());
                }
                Ok(uniform_kernel(self.win_size))
            }
        }
    }
}

/// The mean SSIM and the mean contrast-structure term of one image pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SsimParts {
    /// Mean of the SSIM map.
    pub ssim: f64,
    /// Mean of `cs = (2σ_xy + C₂)/(σ_x² + σ_y² + C₂)` (for MS-SSIM).
    pub contrast_structure: f64,
}

/// Mean structural similarity of `a` and `b` (row-major, `shape` = `[H, W]` or
/// `[D, H, W]`), exactly as scikit-image's `structural_similarity`:
///
/// with local means `μ`, variances `σ²` and covariance `σ_xy` from the window `w`
/// (`μ_x = w ⋆ x`, `σ_x² = c·(w ⋆ x² − μ_x²)`, `σ_xy = c·(w ⋆ xy − μ_x μ_y)`,
/// `c = N/(N−1)` with sample covariance, else 1), `C₁ = (K₁R)²`, `C₂ = (K₂R)²`,
///
/// `SSIM = mean over the interior of ((2μ_xμ_y + C₁)(2σ_xy + C₂)) / ((μ_x² + μ_y² + C₁)(σ_x² + σ_y² + C₂))`,
///
/// the interior being every position at least `(k − 1)/2` samples from the border (where
/// the `k`-sample window fits; scikit-image's `crop(S, pad)`). Separable filtering over the
/// interior only, in `f64`.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] / [`CoreError::InvalidRank`] for a shape that is not 2-D or
/// 3-D or does not match the data, [`CoreError::Empty`], [`CoreError::NonFinite`],
/// [`CoreError::InvalidConfig`] for invalid options or a side shorter than the window.
pub fn ssim(a: &[f64], b: &[f64], shape: &[usize], config: &SsimConfig) -> Result<f64> {
    Ok(ssim_parts(a, b, shape, config)?.ssim)
}

/// [`ssim`] and the mean contrast-structure term, with validation.
pub(crate) fn ssim_parts(
    a: &[f64],
    b: &[f64],
    shape: &[usize],
    config: &SsimConfig,
) -> Result<SsimParts> {
    check_pair(a, b)?;
    check_shape(shape, a.len())?;
    let kernel = config.kernel()?;
    if let Some(side) = shape.iter().find(|&&s| s < kernel.len()) {
        return Err(CoreError::config(
            "window",
            format!("the {}-sample window does not fit an image side of {side}", kernel.len()),
        )
        .into());
    }
    Ok(ssim_parts_unchecked(a, b, shape, &kernel, config))
}

/// The constants of the per-position SSIM formula.
struct SsimConstants {
    /// `N/(N−1)` with sample covariance, else 1.
    cov_norm: f64,
    /// `(K₁R)²`.
    c1: f64,
    /// `(K₂R)²`.
    c2: f64,
}

impl SsimTerms for SsimConstants {
    fn terms(&self, mx: f64, my: f64, sxx: f64, syy: f64, sxy: f64) -> (f64, f64) {
        let vx = self.cov_norm * (sxx - mx * mx);
        let vy = self.cov_norm * (syy - my * my);
        let vxy = self.cov_norm * (sxy - mx * my);
        let luminance_num = 2.0 * mx * my + self.c1;
        let luminance_den = mx * mx + my * my + self.c1;
        let cs = (2.0 * vxy + self.c2) / (vx + vy + self.c2);
        let ssim = (luminance_num * (2.0 * vxy + self.c2)) / (luminance_den * (vx + vy + self.c2));
        (ssim, cs)
    }
}

/// The SSIM computation on validated input: the fused row pass for 2-D images, five
/// filtered moment maps otherwise.
pub(crate) fn ssim_parts_unchecked(
    a: &[f64],
    b: &[f64],
    shape: &[usize],
    kernel: &[f64],
    config: &SsimConfig,
) -> SsimParts {
    let window_size = kernel.len().pow(shape.len() as u32) as f64;
    let constants = SsimConstants {
        cov_norm: if config.sample_covariance { window_size / (window_size - 1.0) } else { 1.0 },
        c1: (config.k1 * config.data_range).powi(2),
        c2: (config.k2 * config.data_range).powi(2),
    };
    let (ssim_sum, cs_sum, count) = match *shape {
        [rows, cols] => ssim_sums_2d(a, b, rows, cols, kernel, &constants),
        _ => ssim_sums_from_maps(a, b, shape, kernel, &constants),
    };
    SsimParts { ssim: ssim_sum / count as f64, contrast_structure: cs_sum / count as f64 }
}

/// Sums of the SSIM and cs maps and their size, from five full filtered moment maps (any
/// rank).
fn ssim_sums_from_maps(
    a: &[f64],
    b: &[f64],
    shape: &[usize],
    kernel: &[f64],
    constants: &SsimConstants,
) -> (f64, f64, usize) {
    let [ux, uy, uxx, uyy, uxy] = local_moments(a, b, shape, kernel);
    let (mut ssim_sum, mut cs_sum) = (0.0, 0.0);
    let moments = ux.iter().zip(&uy).zip(uxx.iter().zip(&uyy).zip(&uxy));
    for ((&mx, &my), ((&sxx, &syy), &sxy)) in moments {
        let (ssim, cs) = constants.terms(mx, my, sxx, syy, sxy);
        ssim_sum += ssim;
        cs_sum += cs;
    }
    (ssim_sum, cs_sum, ux.len())
}

/// Volumes at least this large filter their five moment maps on two threads.
const PARALLEL_MIN_LEN: usize = 1 << 16;

/// The window averages `w ⋆ x`, `w ⋆ y`, `w ⋆ x²`, `w ⋆ y²`, `w ⋆ xy` over the interior.
fn local_moments(a: &[f64], b: &[f64], shape: &[usize], kernel: &[f64]) -> [Vec<f64>; 5] {
    let filter = |values: &[f64]| filter_valid(values, shape, kernel).0;
    let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(x, y)| x * y).collect::<Vec<f64>>();
    let first = || [filter(a), filter(b), filter(&product(a, a))];
    let second = || [filter(&product(b, b)), filter(&product(a, b))];
    let ([ux, uy, uxx], [uyy, uxy]) = if a.len() >= PARALLEL_MIN_LEN {
        std::thread::scope(|scope| {
            let helper = scope.spawn(second);
            let mine = first();
            (mine, helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        })
    } else {
        (first(), second())
    };
    [ux, uy, uxx, uyy, uxy]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{floats, load, size};

    #[test]
    fn matches_scikit_image_for_both_windows() {
        let refs = load("image_metrics.json");
        for case in refs["images"].as_array().unwrap() {
            let shape = [size(&case["shape"][0]), size(&case["shape"][1])];
            let (a, b) = (floats(&case["a"]), floats(&case["b"]));
            let gaussian = ssim(&a, &b, &shape, &SsimConfig::gaussian(1.0)).unwrap();
            let expected = case["ssim_gaussian_sigma1.5"].as_f64().unwrap();
            assert!((gaussian - expected).abs() < 1e-6, "{gaussian} vs {expected}");
            let uniform = ssim(&a, &b, &shape, &SsimConfig::uniform(1.0)).unwrap();
            let expected = case["ssim_uniform_win7"].as_f64().unwrap();
            assert!((uniform - expected).abs() < 1e-6, "{uniform} vs {expected}");
        }
    }

    /// Direct 3-D SSIM with a uniform `k`-sample window and sample covariance: window sums
    /// at every interior position, no separable filtering.
    fn naive_uniform_ssim_3d(a: &[f64], b: &[f64], shape: [usize; 3], k: usize) -> f64 {
        let [d, h, w] = shape;
        let count = (k * k * k) as f64;
        let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
        let mut total = 0.0;
        let mut positions = 0.0;
        for z in 0..=d - k {
            for y in 0..=h - k {
                for x in 0..=w - k {
                    let mut s = [0.0; 5];
                    for (dz, dy, dx) in (0..k)
                        .flat_map(|i| (0..k).flat_map(move |j| (0..k).map(move |l| (i, j, l))))
                    {
                        let idx = ((z + dz) * h + y + dy) * w + x + dx;
                        let (p, q) = (a[idx], b[idx]);
                        for (acc, v) in s.iter_mut().zip([p, q, p * p, q * q, p * q]) {
                            *acc += v / count;
                        }
                    }
                    let norm = count / (count - 1.0);
                    let (vx, vy, vxy) = (
                        norm * (s[2] - s[0] * s[0]),
                        norm * (s[3] - s[1] * s[1]),
                        norm * (s[4] - s[0] * s[1]),
                    );
                    total += (2.0 * s[0] * s[1] + c1) * (2.0 * vxy + c2)
                        / ((s[0] * s[0] + s[1] * s[1] + c1) * (vx + vy + c2));
                    positions += 1.0;
                }
            }
        }
        total / positions
    }

    #[test]
    fn three_dimensional_ssim_matches_direct_window_sums() {
        let shape = [4, 6, 7];
        let a: Vec<f64> = (0..4 * 6 * 7).map(|i| ((i * 31) % 17) as f64 / 17.0).collect();
        let b: Vec<f64> = (0..4 * 6 * 7).map(|i| ((i * 13) % 19) as f64 / 19.0).collect();
        let config = SsimConfig::uniform(1.0).with_win_size(3);
        let value = ssim(&a, &b, &shape, &config).unwrap();
        let expected = naive_uniform_ssim_3d(&a, &b, shape, 3);
        assert!((value - expected).abs() < 1e-12, "{value} vs {expected}");
        assert!((ssim(&a, &a, &shape, &config).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fused_two_dimensional_pass_equals_the_moment_maps() {
        // Large enough for the two-thread split of both routes.
        let (rows, cols) = (263, 257);
        let a: Vec<f64> = (0..rows * cols).map(|i| ((i * 7919) % 1009) as f64 / 1009.0).collect();
        let b: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| (x + 0.2 * (((i * 104_729) % 97) as f64 / 97.0 - 0.5)).clamp(0.0, 1.0))
            .collect();
        for config in [SsimConfig::gaussian(1.0), SsimConfig::uniform(1.0)] {
            let kernel = config.kernel().unwrap();
            let constants = SsimConstants { cov_norm: 1.3, c1: 1e-4, c2: 9e-4 };
            let fused = ssim_sums_2d(&a, &b, rows, cols, &kernel, &constants);
            let maps = ssim_sums_from_maps(&a, &b, &[rows, cols], &kernel, &constants);
            assert_eq!(fused.2, maps.2);
            assert!((fused.0 - maps.0).abs() <= 1e-9 * maps.0.abs(), "{fused:?} {maps:?}");
            assert!((fused.1 - maps.1).abs() <= 1e-9 * maps.1.abs(), "{fused:?} {maps:?}");
        }
    }

    #[test]
    fn constant_images_follow_the_luminance_term() {
        // σ = 0, so SSIM = (2μ_xμ_y + C₁)/(μ_x² + μ_y² + C₁).
        let (x, y) = (0.2, 0.7);
        let (ca, cb) = ([x; 12 * 13], [y; 12 * 13]);
        let c1 = 0.01f64.powi(2);
        let expected = (2.0 * x * y + c1) / (x * x + y * y + c1);
        let value = ssim(&ca, &cb, &[12, 13], &SsimConfig::gaussian(1.0)).unwrap();
        assert!((value - expected).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let a = vec![0.5; 100];
        let small = SsimConfig::gaussian(1.0);
        assert!(matches!(
            ssim(&a, &a, &[10, 10], &small),
            Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
        assert!(ssim(&a, &a, &[10, 10], &SsimConfig::uniform(1.0)).is_ok());
        assert!(matches!(
            ssim(&a, &a, &[10, 10], &SsimConfig::uniform(0.0)),
            Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
        assert!(matches!(
            ssim(&a, &a, &[10, 10], &SsimConfig::uniform(1.0).with_win_size(4)),
            Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
        assert!(matches!(
            ssim(&a, &a[..99], &[10, 10], &SsimConfig::uniform(1.0)),
            Err(crate::MetricsError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let mut nan = a.clone();
        nan[3] = f64::NAN;
        assert!(matches!(
            ssim(&a, &nan, &[10, 10], &SsimConfig::uniform(1.0)),
            Err(crate::MetricsError::Core(CoreError::NonFinite { .. }))
        ));
    }
}

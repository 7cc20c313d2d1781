//! Kernel Inception Distance: the unbiased squared MMD with a cubic polynomial kernel.

use burn::config::Config;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, get_global_parallelism};
use medgen_core::CoreError;
use rand::Rng;

use crate::error::Result;
use crate::features::FeatureMatrix;
use crate::summary::MeanStd;

/// Options of [`kid`] (the defaults are torchmetrics' and clean-fid's).
#[derive(Config, Debug, PartialEq)]
pub struct KidConfig {
    /// Number of random subsets `s >= 1` the estimate is averaged over.
    #[config(default = 100)]
    pub subsets: usize,
    /// Size `m >= 2` of every subset, drawn without replacement from each set; at most the
    /// number of rows of either set.
    #[config(default = 1000)]
    pub subset_size: usize,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Kernel Inception Distance (Bińkowski et al. 2018) between the rows of `real` (`n₁ × d`)
/// and `fake` (`n₂ × d`): for each of [`KidConfig::subsets`] subsets of `m` rows drawn
/// without replacement from each set, the unbiased estimate
///
/// `MMD² = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/m² Σ_{i,j} k(x_i, y_j)`
///
/// with the cubic polynomial kernel `k(x, y) = (xᵀy / d + 1)³`; returns the mean and the
/// population standard deviation over subsets (torchmetrics' `std(unbiased=False)`). The
/// subsets are drawn from `rng`, so a seeded generator gives a reproducible result.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the feature dimensions differ,
/// [`CoreError::InvalidConfig`] for `subsets = 0`, `subset_size < 2` or a subset size
/// larger than either set.
pub fn kid<R: Rng + ?Sized>(
    real: FeatureMatrix<'_>,
    fake: FeatureMatrix<'_>,
    config: &KidConfig,
    rng: &mut R,
) -> Result<MeanStd> {
    real.ensure_same_cols(&fake, "fake features")?;
    let m = config.subset_size;
    if config.subsets == 0 {
        return Err(CoreError::config("subsets", "must be at least 1").into());
    }
    if m < 2 || m > real.rows().min(fake.rows()) {
        return Err(CoreError::config(
            "subset_size",
            format!(
                "must be in [2, min(n_real, n_fake) = {}], got {m}",
                real.rows().min(fake.rows())
            ),
        )
        .into());
    }
    let estimates: Vec<f64> = (0..config.subsets)
        .map(|_| {
            let x = subset(real, m, rng);
            let y = subset(fake, m, rng);
            unbiased_mmd2(&x, &y)
        })
        .collect();
    Ok(MeanStd::of(&estimates))
}

/// `m` rows of `features` drawn without replacement, as an `m × d` matrix.
fn subset<R: Rng + ?Sized>(features: FeatureMatrix<'_>, m: usize, rng: &mut R) -> Mat<f64> {
    let rows: Vec<usize> = rand::seq::index::sample(rng, features.rows(), m).into_vec();
    Mat::from_fn(m, features.cols(), |i, j| features.row(rows[i])[j])
}

/// The unbiased MMD² between the rows of `x` and `y` (both `m × d`) with the cubic
/// polynomial kernel.
fn unbiased_mmd2(x: &Mat<f64>, y: &Mat<f64>) -> f64 {
    let m = x.nrows() as f64;
    let (sum_xx, diagonal_xx) = kernel_sums(x, x);
    let (sum_yy, diagonal_yy) = kernel_sums(y, y);
    let (sum_xy, _) = kernel_sums(x, y);
    let within = (sum_xx - diagonal_xx + sum_yy - diagonal_yy) / (m * (m - 1.0));
    within - 2.0 * sum_xy / (m * m)
}

/// `(Σ_{i,j} k(a_i, b_j), Σ_i k(a_i, b_i))` over the kernel Gram matrix of the rows of `a`
/// with the rows of `b` (same number of columns `d`).
fn kernel_sums(a: &Mat<f64>, b: &Mat<f64>) -> (f64, f64) {
    let d = a.ncols() as f64;
    let mut gram = Mat::<f64>::zeros(a.nrows(), b.nrows());
    matmul(
        gram.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.transpose(),
        1.0 / d,
        get_global_parallelism(),
    );
    let kernel = |g: f64| (g + 1.0).powi(3);
    let total =
        (0..gram.ncols()).map(|j| gram.col(j).iter().map(|&g| kernel(g)).sum::<f64>()).sum();
    let diagonal = (0..gram.nrows().min(gram.ncols())).map(|i| kernel(gram[(i, i)])).sum();
    (total, diagonal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;

    fn cubic(x: &[f64], y: &[f64]) -> f64 {
        let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
        (dot / x.len() as f64 + 1.0).powi(3)
    }

    /// Direct O(m²d) evaluation of the unbiased MMD² on whole sets.
    fn naive_mmd2(x: FeatureMatrix<'_>, y: FeatureMatrix<'_>) -> f64 {
        let m = x.rows();
        let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    xx += cubic(x.row(i), x.row(j));
                    yy += cubic(y.row(i), y.row(j));
                }
                xy += cubic(x.row(i), y.row(j));
            }
        }
        let m = m as f64;
        (xx + yy) / (m * (m - 1.0)) - 2.0 * xy / (m * m)
    }

    fn data(seed: usize, len: usize) -> Vec<f64> {
        (0..len).map(|i| (((i * 37 + seed * 11) % 23) as f64 - 11.0) / 7.0).collect()
    }

    #[test]
    fn whole_set_subset_matches_direct_formula() {
        let (a, b) = (data(1, 6 * 3), data(2, 6 * 3));
        let x = FeatureMatrix::new(&a, 6, 3, "x").unwrap();
        let y = FeatureMatrix::new(&b, 6, 3, "y").unwrap();
        let config = KidConfig::new().with_subsets(3).with_subset_size(6);
        let result = kid(x, y, &config, &mut seeded_rng(0)).unwrap();
        let expected = naive_mmd2(x, y);
        assert!((result.mean - expected).abs() < 1e-12 * expected.abs().max(1.0));
        // Every subset is a permutation of the whole set: no spread.
        assert!(result.std < 1e-12);
    }

    #[test]
    fn subsets_are_seeded_and_unbiased_near_zero_for_one_distribution() {
        let a = data(3, 40 * 2);
        let x = FeatureMatrix::new(&a, 40, 2, "x").unwrap();
        let config = KidConfig::new().with_subsets(20).with_subset_size(10);
        let first = kid(x, x, &config, &mut seeded_rng(7)).unwrap();
        let second = kid(x, x, &config, &mut seeded_rng(7)).unwrap();
        assert_eq!(first, second);
        assert!(first.std > 0.0);
        // Shifting one set makes the distance grow well above the same-set spread.
        let shifted: Vec<f64> = a.iter().map(|v| v + 3.0).collect();
        let y = FeatureMatrix::new(&shifted, 40, 2, "y").unwrap();
        let far = kid(x, y, &config, &mut seeded_rng(7)).unwrap();
        assert!(far.mean > first.mean.abs() + 10.0 * first.std);
    }

    #[test]
    fn invalid_subsets_are_config_errors() {
        let a = data(4, 5 * 2);
        let x = FeatureMatrix::new(&a, 5, 2, "x").unwrap();
        for config in [
            KidConfig::new().with_subsets(0).with_subset_size(2),
            KidConfig::new().with_subset_size(1),
            KidConfig::new().with_subset_size(6),
        ] {
            assert!(matches!(
                kid(x, x, &config, &mut seeded_rng(0)),
                Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
            ));
        }
    }
}

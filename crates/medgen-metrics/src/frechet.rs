//! The Fréchet distance between two Gaussians (the distance behind FID).

use burn::config::Config;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Side, get_global_parallelism};
use medgen_core::CoreError;

use crate::error::{MetricsError, Result};
use crate::features::FeatureMatrix;
use crate::gaussian::GaussianStats;

/// Options of [`frechet_distance`].
#[derive(Config, Debug, PartialEq)]
pub struct FrechetOptions {
    /// Regulariser `ε ≥ 0` added to both covariances (`Σ + ε·I`), like pytorch-fid's
    /// `offset`. pytorch-fid adds it only inside the square root and only when `sqrtm`
    /// fails; here, whenever `ε > 0`, the result is the exact distance between the two
    /// regularised Gaussians (so it stays `≥ 0`). The default 0 computes the exact distance,
    /// which the route of [`frechet_distance`] computes without trouble even for singular
    /// covariances.
    #[config(default = 0.0)]
    pub offset: f64,
}

impl Default for FrechetOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The Fréchet distance and its parts, as returned by [`frechet_distance`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrechetDistance {
    /// `d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁^{½} Σ₂ Σ₁^{½})`, clamped at 0 against
    /// round-off.
    pub distance: f64,
    /// `‖μ₁ − μ₂‖²`.
    pub mean_term: f64,
    /// `tr √(Σ₁^{½} Σ₂ Σ₁^{½})`.
    pub trace_sqrt: f64,
    /// A warning: one of the covariances was estimated from no more samples than dimensions
    /// (`n ≤ d`), so it is singular (rank ≤ n − 1) and the distance is a poor, biased
    /// estimate. The value is still the exact distance between the two given Gaussians.
    pub rank_deficient: bool,
}

/// The squared Fréchet (2-Wasserstein) distance between `N(μ₁, Σ₁)` and `N(μ₂, Σ₂)`, the
/// quantity reported as FID:
///
/// `d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁^{½} Σ₂ Σ₁^{½})`,
///
/// computed in `f64` as pytorch-fid defines it (its `sqrtm(Σ₁Σ₂)` has the same trace), but
/// through a symmetric eigenvalue problem instead of a general matrix square root: with a
/// factor `F Fᵀ = Σ₁`, `tr √(Σ₁^{½} Σ₂ Σ₁^{½}) = Σ_i √max(0, ν_i)` for the eigenvalues
/// `ν_i` of the symmetric positive semi-definite `Fᵀ Σ₂ F`, which has the eigenvalues of
/// `Σ₁^{½} Σ₂ Σ₁^{½}`. `F` is the Cholesky factor of `Σ₁` when it is positive definite, else
/// `U Λ^{½}` from the eigendecomposition `Σ₁ = U Λ Uᵀ` (eigenvalues clamped at 0 against
/// round-off), so singular covariances need no regularisation (see
/// [`FrechetOptions::offset`] to add one anyway). Only the lower triangles of the
/// covariances are read.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the dimensions differ, [`CoreError::InvalidConfig`] for a
/// negative or non-finite offset, [`MetricsError::Linalg`] if an eigendecomposition does not
/// converge.
///
/// # Example
/// ```
/// use medgen_metrics::{FrechetOptions, GaussianStats, frechet_distance};
/// let a = GaussianStats::new(vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0], None).unwrap();
/// let b = GaussianStats::new(vec![3.0, 4.0], vec![1.0, 0.0, 0.0, 1.0], None).unwrap();
/// let fd = frechet_distance(&a, &b, &FrechetOptions::new()).unwrap();
/// assert!((fd.distance - 25.0).abs() < 1e-12);
/// ```
pub fn frechet_distance(
    a: &GaussianStats,
    b: &GaussianStats,
    options: &FrechetOptions,
) -> Result<FrechetDistance> {
    let d = a.dim();
    if b.dim() != d {
        return Err(
            CoreError::shape("second Gaussian's mean", format!("[{d}]"), &[b.dim()]).into(),
        );
    }
    let offset = options.offset;
    if !(offset.is_finite() && offset >= 0.0) {
        return Err(
            CoreError::config("offset", format!("must be finite and >= 0, got {offset}")).into(),
        );
    }
    let mean_term: f64 = a
        .mean()
        .iter()
        .zip(b.mean())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let sigma1 = a.covariance_faer(offset);
    let sigma2 = b.covariance_faer(offset);
    let trace: f64 = (0..d).map(|i| sigma1[(i, i)] + sigma2[(i, i)]).sum();
    let trace_sqrt = trace_sqrt_product(&sigma1, &sigma2)?;
    let rank_deficient = [a.count(), b.count()].into_iter().flatten().any(|n| n <= d);
    Ok(FrechetDistance {
        distance: (mean_term + trace - 2.0 * trace_sqrt).max(0.0),
        mean_term,
        trace_sqrt,
        rank_deficient,
    })
}

/// [`frechet_distance`] between Gaussians fitted to the rows of `a` (`n₁ × d`) and `b`
/// (`n₂ × d`) by [`GaussianStats::from_features`] (covariances with `ddof = 1`), as
/// pytorch-fid's `calculate_frechet_distance` on `np.cov(features, rowvar=False)`.
///
/// With `n ≤ d` samples a covariance is singular: the result is still computed and flagged
/// by [`FrechetDistance::rank_deficient`].
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the feature dimensions differ,
/// [`MetricsError::Undefined`] for fewer than 2 rows, and the errors of
/// [`frechet_distance`].
pub fn frechet_distance_from_features(
    a: FeatureMatrix<'_>,
    b: FeatureMatrix<'_>,
    options: &FrechetOptions,
) -> Result<FrechetDistance> {
    a.ensure_same_cols(&b, "second feature matrix")?;
    let stats_a = GaussianStats::from_features(a)?;
    let stats_b = GaussianStats::from_features(b)?;
    frechet_distance(&stats_a, &stats_b, options)
}

/// `tr √(Σ₁^{½} Σ₂ Σ₁^{½})` for symmetric positive semi-definite `Σ₁`, `Σ₂` (lower
/// triangles read).
///
/// For any factor `F` with `F Fᵀ = Σ₁`, `Fᵀ Σ₂ F` is symmetric positive semi-definite and has
/// the eigenvalues of `Σ₁ Σ₂`, hence of `Σ₁^{½} Σ₂ Σ₁^{½}`; the trace of the square root is
/// `Σ_i √max(0, ν_i)` over its eigenvalues `ν_i`. `F` is the Cholesky factor `L` when `Σ₁`
/// is positive definite (a third of the cost of an eigendecomposition), and otherwise
/// `F = U Λ^{½}` from the eigendecomposition `Σ₁ = U Λ Uᵀ` with negative round-off
/// eigenvalues clamped to 0, which handles singular covariances.
fn trace_sqrt_product(sigma1: &Mat<f64>, sigma2: &Mat<f64>) -> Result<f64> {
    let (factor, structure) = match sigma1.llt(Side::Lower) {
        Ok(cholesky) => (cholesky.L().to_owned(), BlockStructure::TriangularLower),
        Err(_) => (eigen_factor(sigma1)?, BlockStructure::Rectangular),
    };
    trace_sqrt_with_factor(&factor, structure, sigma2)
}

/// `F = U Λ^{½}` from `Σ = U Λ Uᵀ`, eigenvalues clamped at 0: `F Fᵀ = Σ` for positive
/// semi-definite `Σ` (lower triangle read).
fn eigen_factor(sigma: &Mat<f64>) -> Result<Mat<f64>> {
    let eigen = sigma.self_adjoint_eigen(Side::Lower).map_err(eigen_error)?;
    let (u, lambda) = (eigen.U(), eigen.S());
    let root: Vec<f64> = (0..sigma.nrows())
        .map(|i| lambda[i].max(0.0).sqrt())
        .collect();
    Ok(Mat::from_fn(sigma.nrows(), sigma.ncols(), |i, j| {
        u[(i, j)] * root[j]
    }))
}

/// [`MetricsError::Linalg`] from a failed eigendecomposition.
fn eigen_error(e: faer::linalg::evd::EvdError) -> MetricsError {
    MetricsError::Linalg {
        what: "symmetric eigendecomposition",
        reason: format!("{e:?}"),
    }
}

/// `Σ_i √max(0, ν_i)` over the eigenvalues of `Fᵀ Σ₂ F`, for a factor `F` with the given
/// block structure (lower triangular or full).
fn trace_sqrt_with_factor(
    factor: &Mat<f64>,
    structure: BlockStructure,
    sigma2: &Mat<f64>,
) -> Result<f64> {
    let d = factor.nrows();
    let par = get_global_parallelism();
    let sigma2 = symmetric_from_lower(sigma2);
    // T = Σ₂ F, then the lower triangle of M = Fᵀ T (all the eigensolver reads).
    let mut t = Mat::<f64>::zeros(d, d);
    triangular::matmul(
        t.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        sigma2.as_ref(),
        BlockStructure::Rectangular,
        factor.as_ref(),
        structure,
        1.0,
        par,
    );
    let transposed = match structure {
        BlockStructure::TriangularLower => BlockStructure::TriangularUpper,
        other => other,
    };
    let mut m = Mat::<f64>::zeros(d, d);
    triangular::matmul(
        m.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        factor.transpose(),
        transposed,
        t.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    let nu = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(eigen_error)?;
    Ok(nu.iter().map(|v| v.max(0.0).sqrt()).sum())
}

/// The symmetric matrix whose lower triangle is that of `a`.
fn symmetric_from_lower(a: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| {
        if i >= j { a[(i, j)] } else { a[(j, i)] }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{floats, load, size};

    fn diagonal(values: &[f64]) -> Vec<f64> {
        let d = values.len();
        let mut m = vec![0.0; d * d];
        for (i, v) in values.iter().enumerate() {
            m[i * d + i] = *v;
        }
        m
    }

    #[test]
    fn matches_pytorch_fid_reference() {
        let refs = load("frechet.json");
        for case in refs["cases"].as_array().unwrap() {
            let (n, d) = (size(&case["n"]), size(&case["d"]));
            let (a, b) = (floats(&case["a"]), floats(&case["b"]));
            let expected = case["frechet_distance"].as_f64().unwrap();
            let fd = frechet_distance_from_features(
                FeatureMatrix::new(&a, n, d, "a").unwrap(),
                FeatureMatrix::new(&b, n, d, "b").unwrap(),
                &FrechetOptions::new(),
            )
            .unwrap();
            assert!(
                ((fd.distance - expected) / expected).abs() < 1e-6,
                "{} vs {expected}",
                fd.distance
            );
            assert!(!fd.rank_deficient);
        }
    }

    #[test]
    fn cholesky_and_eigen_factors_give_the_same_trace() {
        let refs = load("frechet.json");
        let case = &refs["cases"][1];
        let (n, d) = (size(&case["n"]), size(&case["d"]));
        let (a, b) = (floats(&case["a"]), floats(&case["b"]));
        let sa = GaussianStats::from_features(FeatureMatrix::new(&a, n, d, "a").unwrap()).unwrap();
        let sb = GaussianStats::from_features(FeatureMatrix::new(&b, n, d, "b").unwrap()).unwrap();
        let (s1, s2) = (sa.covariance_faer(0.0), sb.covariance_faer(0.0));
        let cholesky = s1.llt(Side::Lower).unwrap().L().to_owned();
        let via_cholesky =
            trace_sqrt_with_factor(&cholesky, BlockStructure::TriangularLower, &s2).unwrap();
        let via_eigen = trace_sqrt_with_factor(
            &eigen_factor(&s1).unwrap(),
            BlockStructure::Rectangular,
            &s2,
        )
        .unwrap();
        assert!(((via_cholesky - via_eigen) / via_eigen).abs() < 1e-12);
    }

    #[test]
    fn identical_gaussians_are_at_distance_zero() {
        let refs = load("frechet.json");
        let case = &refs["cases"][0];
        let (n, d) = (size(&case["n"]), size(&case["d"]));
        let a = floats(&case["a"]);
        let m = FeatureMatrix::new(&a, n, d, "a").unwrap();
        let stats = GaussianStats::from_features(m).unwrap();
        let fd = frechet_distance(&stats, &stats, &FrechetOptions::new()).unwrap();
        assert!(fd.distance.abs() < 1e-9, "{}", fd.distance);
    }

    #[test]
    fn shifted_isotropic_gaussians_give_squared_mean_distance() {
        let cov = diagonal(&[2.5; 4]);
        let a = GaussianStats::new(vec![1.0, -2.0, 0.5, 0.0], cov.clone(), None).unwrap();
        let b = GaussianStats::new(vec![0.0, 1.0, 0.5, 2.0], cov, None).unwrap();
        let fd = frechet_distance(&a, &b, &FrechetOptions::new()).unwrap();
        assert!((fd.distance - 14.0).abs() < 1e-12, "{}", fd.distance);
        assert!((fd.mean_term - 14.0).abs() < 1e-15);
    }

    #[test]
    fn diagonal_covariances_match_closed_form() {
        // tr √(Σ₁Σ₂) = Σ √(a_i b_i), so d² = Σ (√a_i − √b_i)² for equal means.
        let (sa, sb) = ([1.0, 4.0, 0.0, 9.0], [4.0, 1.0, 2.0, 0.0]);
        let a = GaussianStats::new(vec![0.0; 4], diagonal(&sa), None).unwrap();
        let b = GaussianStats::new(vec![0.0; 4], diagonal(&sb), None).unwrap();
        let fd = frechet_distance(&a, &b, &FrechetOptions::new()).unwrap();
        let expected: f64 = sa
            .iter()
            .zip(&sb)
            .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
            .sum();
        assert!(
            (fd.distance - expected).abs() < 1e-12,
            "{} vs {expected}",
            fd.distance
        );
    }

    #[test]
    fn offset_regularises_both_covariances() {
        // With Σ₁ = 0, Σ₂ = diag(b): d² = Σ (√ε − √(b+ε))² + 0 for equal means.
        let b_diag = [1.0, 3.0];
        let a = GaussianStats::new(vec![0.0; 2], vec![0.0; 4], None).unwrap();
        let b = GaussianStats::new(vec![0.0; 2], diagonal(&b_diag), None).unwrap();
        let eps = 0.25;
        let fd = frechet_distance(&a, &b, &FrechetOptions::new().with_offset(eps)).unwrap();
        let expected: f64 = b_diag
            .iter()
            .map(|v| (eps.sqrt() - (v + eps).sqrt()).powi(2))
            .sum();
        assert!((fd.distance - expected).abs() < 1e-12);
    }

    #[test]
    fn fewer_samples_than_dimensions_is_flagged_not_failed() {
        // 3 samples in 5 dimensions: both covariances singular, equal sets → distance 0.
        let x: Vec<f64> = (0..15).map(|i| ((i * 7) % 11) as f64 * 0.3).collect();
        let m = FeatureMatrix::new(&x, 3, 5, "x").unwrap();
        let fd = frechet_distance_from_features(m, m, &FrechetOptions::new()).unwrap();
        assert!(fd.rank_deficient);
        assert!(fd.distance.abs() < 1e-9, "{}", fd.distance);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let a = FeatureMatrix::new(&x, 3, 2, "a").unwrap();
        let b = FeatureMatrix::new(&x, 2, 3, "b").unwrap();
        assert!(matches!(
            frechet_distance_from_features(a, b, &FrechetOptions::new()),
            Err(MetricsError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let nan = [0.0, f64::NAN];
        assert!(matches!(
            FeatureMatrix::new(&nan, 1, 2, "nan"),
            Err(MetricsError::Core(CoreError::NonFinite { .. }))
        ));
        assert!(matches!(
            FeatureMatrix::new(&[], 0, 2, "empty"),
            Err(MetricsError::Core(CoreError::Empty { .. }))
        ));
        let one = FeatureMatrix::new(&x[..2], 1, 2, "one").unwrap();
        assert!(matches!(
            frechet_distance_from_features(one, a, &FrechetOptions::new()),
            Err(MetricsError::Undefined { .. })
        ));
        let g = GaussianStats::new(vec![0.0], vec![1.0], None).unwrap();
        assert!(matches!(
            frechet_distance(&g, &g, &FrechetOptions::new().with_offset(-1.0)),
            Err(MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
    }
}

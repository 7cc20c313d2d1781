//! Gaussian statistics (mean and covariance) of a set of feature vectors.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, get_global_parallelism};
use medgen_core::CoreError;

use crate::error::Result;
use crate::features::FeatureMatrix;

/// The mean `μ` (length `d`) and covariance `Σ` (`d × d`, row-major) of a Gaussian fitted to
/// `count` feature vectors, as pytorch-fid stores them (`mu`, `sigma`).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianStats {
    mean: Vec<f64>,
    covariance: Vec<f64>,
    count: Option<usize>,
}

impl GaussianStats {
    /// Wraps a mean `μ` (length `d`) and a covariance `Σ` (`d · d` values, row-major,
    /// symmetric positive semi-definite; only its lower triangle is read by the Fréchet
    /// distance). `count` is the number of samples the estimate came from, if known (used only
    /// to flag rank-deficient estimates).
    ///
    /// # Errors
    /// [`CoreError::Empty`] for `d = 0`, [`CoreError::ShapeMismatch`] if `covariance` does not
    /// hold `d²` values, [`CoreError::NonFinite`] for NaN or ±∞.
    pub fn new(mean: Vec<f64>, covariance: Vec<f64>, count: Option<usize>) -> Result<Self> {
        let d = mean.len();
        if d == 0 {
            return Err(CoreError::Empty { what: "mean".into() }.into());
        }
        if covariance.len() != d * d {
            return Err(
                CoreError::shape("covariance", format!("[{d}, {d}]"), &[covariance.len()]).into()
            );
        }
        if !mean.iter().chain(&covariance).all(|v| v.is_finite()) {
            return Err(CoreError::NonFinite { what: "Gaussian statistics".into() }.into());
        }
        Ok(Self { mean, covariance, count })
    }

    /// Fits a Gaussian to the rows of `features` (`n × d`): the sample mean
    /// `μ = (1/n) Σ_i x_i` and the unbiased covariance `Σ = (1/(n−1)) Σ_i (x_i − μ)(x_i − μ)ᵀ`
    /// (`ddof = 1`, as `numpy.cov` and pytorch-fid), computed in `f64`.
    ///
    /// # Errors
    /// [`MetricsError::Undefined`](crate::MetricsError::Undefined) for fewer than 2 rows.
    pub fn from_features(features: FeatureMatrix<'_>) -> Result<Self> {
        let (n, d) = (features.rows(), features.cols());
        if n < 2 {
            return Err(crate::MetricsError::undefined(
                "covariance",
                format!("needs at least 2 samples, got {n}"),
            ));
        }
        let mut mean = vec![0.0; d];
        for i in 0..n {
            for (m, x) in mean.iter_mut().zip(features.row(i)) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred = Mat::from_fn(n, d, |i, j| features.data()[i * d + j] - mean[j]);
        let mut cov = Mat::<f64>::zeros(d, d);
        matmul(
            cov.as_mut(),
            Accum::Replace,
            centred.transpose(),
            centred.as_ref(),
            1.0 / (n - 1) as f64,
            get_global_parallelism(),
        );
        let covariance = (0..d * d).map(|k| cov[(k / d, k % d)]).collect();
        Ok(Self { mean, covariance, count: Some(n) })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean `μ` (length `d`).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance `Σ` (`d × d`, row-major).
    pub fn covariance(&self) -> &[f64] {
        &self.covariance
    }

    /// The number of samples the statistics were estimated from, if known.
    pub fn count(&self) -> Option<usize> {
        self.count
    }

    /// `Σ + ε·I` as a `faer` matrix.
    pub(crate) fn covariance_faer(&self, offset: f64) -> Mat<f64> {
        let d = self.dim();
        Mat::from_fn(d, d, |i, j| self.covariance[i * d + j] + if i == j { offset } else { 0.0 })
    }
}

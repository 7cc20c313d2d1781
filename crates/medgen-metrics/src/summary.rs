//! Mean and standard deviation over repeated estimates (subsets, splits).

/// The mean and population standard deviation `√((1/k) Σ (x_i − mean)²)` of `k` estimates of
/// a metric (KID over subsets, Inception Score over splits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanStd {
    /// `(1/k) Σ x_i`.
    pub mean: f64,
    /// `√((1/k) Σ (x_i − mean)²)` (`ddof = 0`, as `numpy.std`).
    pub std: f64,
}

impl MeanStd {
    /// Summarises `values` (non-empty; checked by the callers).
    pub(crate) fn of(values: &[f64]) -> Self {
        let k = values.len() as f64;
        let mean = values.iter().sum::<f64>() / k;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / k;
        Self { mean, std: var.sqrt() }
    }
}

//! Inception Score from classifier logits.

use burn::tensor::Tensor;
use medgen_core::CoreError;

use crate::error::Result;
use crate::features::{FeatureMatrix, features_to_host};
use crate::summary::MeanStd;

/// Inception Score (Salimans et al. 2016) of `logits` (`N × K`, one row of class logits per
/// generated image): with `p(y|x) = softmax(logits)`, the rows are cut into `splits`
/// contiguous parts (rows `⌊iN/s⌋ .. ⌊(i+1)N/s⌋`, as the original implementation), and for
/// each part `IS = exp(E_x[KL(p(y|x) ‖ p(y))])` with `p(y)` the part's mean of `p(y|x)`.
/// Returns the mean and population standard deviation over parts. Computed in `f64` with
/// `0 · log 0 = 0`.
///
/// # Errors
/// [`CoreError::InvalidConfig`] unless `1 <= splits <= N`.
pub fn inception_score(logits: FeatureMatrix<'_>, splits: usize) -> Result<MeanStd> {
    let (n, k) = (logits.rows(), logits.cols());
    if splits == 0 || splits > n {
        return Err(
            CoreError::config("splits", format!("must be in [1, N = {n}], got {splits}")).into()
        );
    }
    let probs: Vec<f64> = (0..n).flat_map(|i| softmax(logits.row(i))).collect();
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let rows = (s * n / splits)..((s + 1) * n / splits);
            let count = rows.len() as f64;
            let mut marginal = vec![0.0; k];
            for i in rows.clone() {
                for (m, p) in marginal.iter_mut().zip(&probs[i * k..(i + 1) * k]) {
                    *m += p / count;
                }
            }
            let mean_kl = rows
                .map(|i| {
                    probs[i * k..(i + 1) * k]
                        .iter()
                        .zip(&marginal)
                        .filter(|(p, _)| **p > 0.0)
                        .map(|(p, m)| p * (p.ln() - m.ln()))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / count;
            mean_kl.exp()
        })
        .collect();
    Ok(MeanStd::of(&scores))
}

/// [`inception_score`] of a logit tensor `[N, K]` (read back to the host once).
///
/// # Errors
/// As [`inception_score`], and [`CoreError::NonFinite`] / [`CoreError::Empty`] for NaN or
/// empty logits.
pub fn inception_score_tensor(logits: Tensor<2>, splits: usize) -> Result<MeanStd> {
    let (values, rows, cols) = features_to_host(logits)?;
    inception_score(FeatureMatrix::new(&values, rows, cols, "logits")?, splits)
}

/// `softmax(z)_j = exp(z_j − max z) / Σ_l exp(z_l − max z)`.
fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.into_iter().map(|v| v / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_distinct_classes_score_the_number_of_classes() {
        // Each row is (almost) one-hot on a different class: IS → K.
        let k = 4;
        let logits: Vec<f64> =
            (0..k * k).map(|i| if i % (k + 1) == 0 { 60.0 } else { 0.0 }).collect();
        let m = FeatureMatrix::new(&logits, k, k, "logits").unwrap();
        let score = inception_score(m, 1).unwrap();
        assert!((score.mean - k as f64).abs() < 1e-9, "{}", score.mean);
        assert_eq!(score.std, 0.0);
    }

    #[test]
    fn uniform_predictions_score_one_and_matches_closed_form() {
        let logits = [0.5; 6 * 3];
        let m = FeatureMatrix::new(&logits, 6, 3, "logits").unwrap();
        let score = inception_score(m, 2).unwrap();
        assert!((score.mean - 1.0).abs() < 1e-15);
        // Two rows p = (1/(1+e), e/(1+e)) and its mirror: p(y) = (1/2, 1/2),
        // KL = Σ p ln(2p), the same for both rows.
        let logits = [0.0, 1.0, 1.0, 0.0];
        let m = FeatureMatrix::new(&logits, 2, 2, "logits").unwrap();
        let p = 1.0 / (1.0 + 1f64.exp());
        let kl = p * (2.0 * p).ln() + (1.0 - p) * (2.0 * (1.0 - p)).ln();
        let score = inception_score(m, 1).unwrap();
        assert!((score.mean - kl.exp()).abs() < 1e-14);
        let tensor = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(vec![0.0f32, 1.0, 1.0, 0.0], [2, 2]),
            &medgen_testing::test_device(),
        );
        let from_tensor = inception_score_tensor(tensor, 1).unwrap();
        assert!((from_tensor.mean - kl.exp()).abs() < 1e-7);
    }

    #[test]
    fn invalid_splits_are_config_errors() {
        let logits = [0.0; 4];
        let m = FeatureMatrix::new(&logits, 2, 2, "logits").unwrap();
        for splits in [0, 3] {
            assert!(matches!(
                inception_score(m, splits),
                Err(crate::MetricsError::Core(CoreError::InvalidConfig { .. }))
            ));
        }
    }
}

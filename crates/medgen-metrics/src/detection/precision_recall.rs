//! The precision-recall curve and average precision, with scikit-learn semantics.

use super::curve::ClassificationCurve;
use crate::error::{MetricsError, Result};

/// A precision-recall curve, as scikit-learn's `precision_recall_curve`.
#[derive(Clone, Debug, PartialEq)]
pub struct PrecisionRecallCurve {
    /// `TP(t)/(TP(t) + FP(t))` for increasing thresholds, then a final 1.
    pub precision: Vec<f64>,
    /// `TP(t)/P` for increasing thresholds (decreasing recall), then a final 0.
    pub recall: Vec<f64>,
    /// The distinct scores, increasing (one fewer than `precision`).
    pub thresholds: Vec<f64>,
}

/// The precision-recall curve of `scores` against binary `labels`, as scikit-learn's
/// `precision_recall_curve(labels, scores)`: one point per distinct score (ties share one),
/// ordered by increasing threshold, followed by the point `(recall 0, precision 1)`.
///
/// # Errors
/// [`MetricsError::Undefined`] without positive labels (recall undefined); shape, emptiness
/// and NaN errors as [`CoreError`](medgen_core::CoreError).
pub fn precision_recall_curve(labels: &[bool], scores: &[f64]) -> Result<PrecisionRecallCurve> {
    let curve = ClassificationCurve::new(labels, scores)?;
    let p = curve.positives();
    if p == 0.0 {
        return Err(MetricsError::undefined("precision-recall curve", "no positive labels"));
    }
    let precision = curve.tps.iter().zip(&curve.fps).rev().map(|(tp, fp)| tp / (tp + fp));
    let recall = curve.tps.iter().rev().map(|tp| tp / p);
    Ok(PrecisionRecallCurve {
        precision: precision.chain(std::iter::once(1.0)).collect(),
        recall: recall.chain(std::iter::once(0.0)).collect(),
        thresholds: curve.thresholds.into_iter().rev().collect(),
    })
}

/// Average precision, as scikit-learn's `average_precision_score` for binary labels:
/// `AP = Σ_n (R_n − R_{n−1}) P_n` over the distinct thresholds in decreasing order
/// (`R_0 = 0`), with recall `R_n` and precision `P_n` at the `n`-th threshold (a step
/// function, no interpolation).
///
/// # Errors
/// As [`precision_recall_curve`].
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64> {
    let curve = precision_recall_curve(labels, scores)?;
    Ok(curve.recall.windows(2).zip(&curve.precision).map(|(r, p)| (r[0] - r[1]) * p).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::reference::ranking;

    #[test]
    fn matches_scikit_learn_with_ties() {
        let (labels, scores, _, expected) = ranking();
        let value = average_precision(&labels, &scores).unwrap();
        assert!((value - expected).abs() < 1e-12, "{value} vs {expected}");
    }

    #[test]
    fn small_curve_is_sklearns() {
        // sklearn: precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        // precision [0.5, 2/3, 0.5, 1, 1], recall [1, 1, 0.5, 0.5, 0], thresholds [0.1, 0.35, 0.4, 0.8]
        // average_precision_score = 0.8333…
        let (labels, scores) = ([false, false, true, true], [0.1, 0.4, 0.35, 0.8]);
        let curve = precision_recall_curve(&labels, &scores).unwrap();
        assert_eq!(curve.precision, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
        assert_eq!(curve.recall, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
        assert_eq!(curve.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
        let ap = average_precision(&labels, &scores).unwrap();
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-15);
        // All scores tied: one threshold, AP = prevalence.
        assert_eq!(average_precision(&labels, &[0.3; 4]).unwrap(), 0.5);
        assert!(matches!(
            average_precision(&[false, false], &[0.1, 0.2]),
            Err(MetricsError::Undefined { .. })
        ));
    }
}

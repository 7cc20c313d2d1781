//! The ROC curve and the area under it, with scikit-learn semantics.

use super::curve::ClassificationCurve;
use crate::error::{MetricsError, Result};

/// A receiver operating characteristic curve, as scikit-learn's `roc_curve`.
#[derive(Clone, Debug, PartialEq)]
pub struct RocCurve {
    /// False positive rates `FP(t)/N`, increasing, starting at 0.
    pub fpr: Vec<f64>,
    /// True positive rates `TP(t)/P`, increasing, starting at 0.
    pub tpr: Vec<f64>,
    /// The thresholds `t` (predict positive for `score >= t`), decreasing; the first is `+∞`.
    pub thresholds: Vec<f64>,
}

/// The ROC curve of `scores` against binary `labels` (`true` = positive), as
/// scikit-learn's `roc_curve(labels, scores, drop_intermediate)`: one point per distinct
/// score (ties share a point), preceded by `(0, 0)` at threshold `+∞`; with
/// `drop_intermediate`, points collinear with their neighbours (zero second difference of
/// both counts) are dropped, which leaves the area unchanged.
///
/// # Errors
/// [`MetricsError::Undefined`] unless both classes occur; shape, emptiness and NaN errors as
/// [`CoreError`](medgen_core::CoreError).
pub fn roc_curve(labels: &[bool], scores: &[f64], drop_intermediate: bool) -> Result<RocCurve> {
    let mut curve = ClassificationCurve::new(labels, scores)?;
    let (p, n) = (curve.positives(), curve.negatives());
    if p == 0.0 || n == 0.0 {
        return Err(MetricsError::undefined(
            "ROC curve",
            format!("needs both classes, got {p} positives and {n} negatives"),
        ));
    }
    if drop_intermediate && curve.tps.len() > 2 {
        let last = curve.tps.len() - 1;
        let keep: Vec<usize> = (0..=last)
            .filter(|&i| {
                i == 0 || i == last || {
                    let second = |v: &[f64]| v[i + 1] - 2.0 * v[i] + v[i - 1];
                    second(&curve.fps) != 0.0 || second(&curve.tps) != 0.0
                }
            })
            .collect();
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        curve = ClassificationCurve {
            thresholds: pick(&curve.thresholds),
            tps: pick(&curve.tps),
            fps: pick(&curve.fps),
        };
    }
    let with_origin =
        |v: &[f64], scale: f64| std::iter::once(0.0).chain(v.iter().map(|x| x / scale)).collect();
    Ok(RocCurve {
        fpr: with_origin(&curve.fps, n),
        tpr: with_origin(&curve.tps, p),
        thresholds: std::iter::once(f64::INFINITY).chain(curve.thresholds).collect(),
    })
}

/// Area under the ROC curve, as scikit-learn's `roc_auc_score` for binary labels: the
/// trapezoidal rule `Σ_k (fpr_{k+1} − fpr_k)(tpr_{k+1} + tpr_k)/2` over
/// [`roc_curve`]`(labels, scores, true)`. Equals the probability that a random positive
/// scores above a random negative, ties counting ½.
///
/// # Errors
/// As [`roc_curve`].
pub fn auroc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    let roc = roc_curve(labels, scores, true)?;
    Ok(roc
        .fpr
        .windows(2)
        .zip(roc.tpr.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::reference::ranking;

    /// `P(score⁺ > score⁻) + ½ P(score⁺ = score⁻)` over all pairs.
    fn pairwise_auroc(labels: &[bool], scores: &[f64]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li && !lj {
                    pairs += 1.0;
                    wins += match scores[i].total_cmp(&scores[j]) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn matches_scikit_learn_with_ties() {
        let (labels, scores, expected, _) = ranking();
        let value = auroc(&labels, &scores).unwrap();
        assert!((value - expected).abs() < 1e-12, "{value} vs {expected}");
        assert!((value - pairwise_auroc(&labels, &scores)).abs() < 1e-12);
        // Dropping collinear points keeps the area.
        let full = roc_curve(&labels, &scores, false).unwrap();
        let area: f64 = full
            .fpr
            .windows(2)
            .zip(full.tpr.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
            .sum();
        assert!((area - expected).abs() < 1e-12);
    }

    #[test]
    fn small_curve_is_sklearns() {
        // sklearn: roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        // fpr [0, 0, 0.5, 0.5, 1], tpr [0, 0.5, 0.5, 1, 1], thresholds [inf, 0.8, 0.4, 0.35, 0.1]
        let roc = roc_curve(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8], true).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert_eq!(auroc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap(), 0.75);
    }

    #[test]
    fn one_class_or_bad_scores_are_errors() {
        assert!(matches!(auroc(&[true, true], &[0.1, 0.2]), Err(MetricsError::Undefined { .. })));
        assert!(matches!(auroc(&[true, false], &[0.1, f64::NAN]), Err(MetricsError::Core(_))));
        assert!(matches!(auroc(&[true, false], &[0.1]), Err(MetricsError::Core(_))));
        assert!(matches!(auroc(&[], &[]), Err(MetricsError::Core(_))));
    }
}

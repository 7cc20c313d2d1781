//! Cumulative true/false positive counts at every distinct score (scikit-learn's
//! `_binary_clf_curve`).

use medgen_core::CoreError;

use crate::error::Result;

/// True and false positive counts when predicting "positive" for `score >= threshold`, at
/// every distinct score in decreasing order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClassificationCurve {
    /// The distinct scores, decreasing.
    pub thresholds: Vec<f64>,
    /// `TP(t)`: positives with `score >= t`.
    pub tps: Vec<f64>,
    /// `FP(t)`: negatives with `score >= t`.
    pub fps: Vec<f64>,
}

impl ClassificationCurve {
    /// Sorts by decreasing score; ties share one threshold, so they are counted together
    /// exactly as scikit-learn does.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] for different lengths, [`CoreError::Empty`],
    /// [`CoreError::NonFinite`] for a NaN or infinite score.
    pub(super) fn new(labels: &[bool], scores: &[f64]) -> Result<Self> {
        if labels.len() != scores.len() {
            return Err(CoreError::shape(
                "scores",
                format!("{} values (one per label)", labels.len()),
                &[scores.len()],
            )
            .into());
        }
        if labels.is_empty() {
            return Err(CoreError::Empty { what: "labels".into() }.into());
        }
        if !scores.iter().all(|s| s.is_finite()) {
            return Err(CoreError::NonFinite { what: "scores".into() }.into());
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
        let mut curve = Self { thresholds: Vec::new(), tps: Vec::new(), fps: Vec::new() };
        let (mut tp, mut fp) = (0.0, 0.0);
        for (k, &i) in order.iter().enumerate() {
            if labels[i] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            let last_of_group = order.get(k + 1).is_none_or(|&next| scores[next] != scores[i]);
            if last_of_group {
                curve.thresholds.push(scores[i]);
                curve.tps.push(tp);
                curve.fps.push(fp);
            }
        }
        Ok(curve)
    }

    /// The number of positive labels.
    pub(super) fn positives(&self) -> f64 {
        self.tps.last().copied().unwrap_or(0.0)
    }

    /// The number of negative labels.
    pub(super) fn negatives(&self) -> f64 {
        self.fps.last().copied().unwrap_or(0.0)
    }
}

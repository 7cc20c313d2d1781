//! The recorded loss of a training run, with an exponentially smoothed view.

use serde::{Deserialize, Serialize};

/// `(step, loss)` pairs in the order they were recorded.
///
/// Serialises as `{"steps": [...], "losses": [...]}` (non-finite losses as `null`), so it can
/// travel in a checkpoint's metadata and be plotted with
/// [`save_loss_plot`](crate::viz::save_loss_plot).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHistory", into = "RawHistory")]
pub struct LossHistory {
    steps: Vec<usize>,
    losses: Vec<f32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct RawHistory {
    steps: Vec<usize>,
    losses: Vec<Option<f32>>,
}

impl From<LossHistory> for RawHistory {
    fn from(history: LossHistory) -> Self {
        Self {
            steps: history.steps,
            losses: history.losses.into_iter().map(|l| l.is_finite().then_some(l)).collect(),
        }
    }
}

impl TryFrom<RawHistory> for LossHistory {
    type Error = String;

    fn try_from(raw: RawHistory) -> Result<Self, String> {
        if raw.steps.len() != raw.losses.len() {
            return Err(format!("{} steps but {} losses", raw.steps.len(), raw.losses.len()));
        }
        Ok(Self {
            steps: raw.steps,
            losses: raw.losses.into_iter().map(|l| l.unwrap_or(f32::NAN)).collect(),
        })
    }
}

impl FromIterator<(usize, f32)> for LossHistory {
    fn from_iter<I: IntoIterator<Item = (usize, f32)>>(iter: I) -> Self {
        let (steps, losses) = iter.into_iter().unzip();
        Self { steps, losses }
    }
}

impl LossHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `loss` at `step`.
    pub fn push(&mut self, step: usize, loss: f32) {
        self.steps.push(step);
        self.losses.push(loss);
    }

    /// The number of recorded points.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The recorded steps.
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }

    /// The recorded losses.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// The `(step, loss)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.steps.iter().copied().zip(self.losses.iter().copied())
    }

    /// The last recorded pair.
    pub fn last(&self) -> Option<(usize, f32)> {
        self.iter().last()
    }

    /// Drops every point at or after `step` (when a run resumes from the checkpoint of
    /// `step`, the points it recorded after saving are recorded again).
    pub fn truncate_from(&mut self, step: usize) {
        let keep = self.steps.iter().take_while(|&&s| s < step).count();
        self.steps.truncate(keep);
        self.losses.truncate(keep);
    }

    /// The losses smoothed by a debiased exponential moving average with factor
    /// `beta ∈ [0, 1)` (clamped into that range), as TensorBoard's smoothing slider:
    ///
    /// ```text
    /// m_i = β m_{i−1} + (1 − β) x_i,   m_{−1} = 0,   s_i = m_i / (1 − β^(n_i))
    /// ```
    ///
    /// where `n_i` counts the finite losses up to `i`. Non-finite losses are skipped (their
    /// smoothed value repeats the previous one; NaN before the first finite loss).
    pub fn smoothed(&self, beta: f32) -> Vec<f32> {
        let beta = f64::from(beta.clamp(0.0, 0.999_999));
        let mut mean = 0.0f64;
        let mut weight = 1.0f64;
        let mut current = f32::NAN;
        self.losses
            .iter()
            .map(|&loss| {
                if loss.is_finite() {
                    mean = beta * mean + (1.0 - beta) * f64::from(loss);
                    weight *= beta;
                    current = (mean / (1.0 - weight)) as f32;
                }
                current
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_matches_the_closed_form() {
        let history: LossHistory =
            [(0, 4.0), (1, 2.0), (2, f32::NAN), (3, 1.0)].into_iter().collect();
        let s = history.smoothed(0.5);
        // m = 2 → s = 2/0.5 = 4; m = 1 + 1 = 2 → s = 2/0.75; NaN skipped;
        // m = 1 + 0.5 = 1.5 → s = 1.5/0.875.
        let expected = [4.0, 2.0 / 0.75, 2.0 / 0.75, 1.5 / 0.875];
        for (got, want) in s.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
        assert_eq!(history.smoothed(0.0)[1], 2.0);
        assert!(LossHistory::new().smoothed(0.9).is_empty());
    }

    #[test]
    fn json_round_trip_keeps_nan_and_checks_lengths() {
        let mut history = LossHistory::new();
        history.push(10, 0.5);
        history.push(20, f32::INFINITY);
        let json = serde_json::to_string(&history).unwrap();
        assert_eq!(json, r#"{"steps":[10,20],"losses":[0.5,null]}"#);
        let back: LossHistory = serde_json::from_str(&json).unwrap();
        assert_eq!(back.steps(), [10, 20]);
        assert!(back.losses()[1].is_nan());
        assert!(serde_json::from_str::<LossHistory>(r#"{"steps":[1],"losses":[]}"#).is_err());
    }

    #[test]
    fn truncation_for_resume() {
        let mut history: LossHistory = (0..10).map(|s| (s * 10, s as f32)).collect();
        history.truncate_from(45);
        assert_eq!(history.last(), Some((40, 4.0)));
        assert_eq!(history.len(), 5);
    }
}

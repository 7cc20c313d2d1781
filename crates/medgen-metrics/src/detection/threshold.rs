//! The threshold of an anomaly map that maximises the Dice score.

use super::curve::ClassificationCurve;
use crate::error::{MetricsError, Result};

/// The best threshold found by [`best_dice_threshold`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiceThreshold {
    /// The threshold `t`: a pixel is predicted anomalous when its score is `>= t`.
    pub threshold: f64,
    /// The Dice score `2TP/(2TP + FP + FN)` at `t`.
    pub dice: f64,
}

/// The threshold of an anomaly map (`scores`, one per pixel or voxel, any shape flattened)
/// that maximises the Dice score against the ground-truth mask `labels`, searched exactly
/// over every distinct score: `Dice(t) = 2 TP(t) / (TP(t) + FP(t) + P)`. Ties go to the
/// highest threshold.
///
/// # Errors
/// [`MetricsError::Undefined`] if the mask has no positive pixel; shape, emptiness and NaN
/// errors as [`CoreError`](medgen_core::CoreError).
pub fn best_dice_threshold(labels: &[bool], scores: &[f64]) -> Result<DiceThreshold> {
    let curve = ClassificationCurve::new(labels, scores)?;
    let p = curve.positives();
    if p == 0.0 {
        return Err(MetricsError::undefined(
            "best Dice threshold",
            "the mask has no positive element",
        ));
    }
    let mut best = DiceThreshold { threshold: f64::INFINITY, dice: 0.0 };
    for ((&threshold, tp), fp) in curve.thresholds.iter().zip(&curve.tps).zip(&curve.fps) {
        let dice = 2.0 * tp / (tp + fp + p);
        if dice > best.dice {
            best = DiceThreshold { threshold, dice };
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dice_maximum_by_brute_force() {
        let labels = [false, true, true, false, true, false, false, true];
        let scores = [0.1, 0.9, 0.7, 0.7, 0.3, 0.2, 0.8, 0.6];
        let best = best_dice_threshold(&labels, &scores).unwrap();
        let dice_at = |t: f64| {
            let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
            for (&l, &s) in labels.iter().zip(&scores) {
                match (l, s >= t) {
                    (true, true) => tp += 1.0,
                    (false, true) => fp += 1.0,
                    (true, false) => fn_ += 1.0,
                    _ => {}
                }
            }
            2.0 * tp / (2.0 * tp + fp + fn_)
        };
        let brute = scores.iter().map(|&t| dice_at(t)).fold(0.0, f64::max);
        assert_eq!(best.dice, brute);
        assert_eq!(dice_at(best.threshold), best.dice);
        assert!(matches!(
            best_dice_threshold(&[false], &[0.5]),
            Err(MetricsError::Undefined { .. })
        ));
    }
}

//! Metrics of stochastic segmentation: a set of sampled masks against a set of annotations.

use medgen_core::CoreError;

use super::overlap::iou;
use crate::error::Result;

/// The generalised energy distance and its three expectations, from
/// [`generalized_energy_distance`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnergyDistance {
    /// `GED = 2 E[d(S, Y)] − E[d(S, S')] − E[d(Y, Y')]`.
    pub ged: f64,
    /// `E[d(S, Y)]`: mean distance over all (sample, annotation) pairs.
    pub cross: f64,
    /// `E[d(S, S')]`: mean distance over all ordered pairs of samples, self-pairs included.
    pub sample_diversity: f64,
    /// `E[d(Y, Y')]`: mean distance over all ordered pairs of annotations, self-pairs
    /// included.
    pub annotation_diversity: f64,
}

/// The generalised energy distance (Kohl et al. 2018) between sampled masks `samples` and
/// annotations `annotations` (each a flattened binary mask, all of the same length):
///
/// `GED = 2 E[d(S, Y)] − E[d(S, S')] − E[d(Y, Y')]`, `d(A, B) = 1 − IoU(A, B)`,
///
/// with IoU of two empty masks defined as 1 (`d = 0`), and every expectation the mean over
/// all ordered pairs of independent draws from the empirical sets (V-statistics: pairs of a
/// mask with itself are included, contributing 0). GED of a set with itself is 0.
///
/// # Errors
/// [`CoreError::Empty`] for an empty set, [`CoreError::ShapeMismatch`] for masks of
/// different lengths.
pub fn generalized_energy_distance<M: AsRef<[bool]>>(
    samples: &[M],
    annotations: &[M],
) -> Result<EnergyDistance> {
    let cross = mean_distance(samples, annotations, "samples", "annotations")?;
    let sample_diversity = mean_distance(samples, samples, "samples", "samples")?;
    let annotation_diversity =
        mean_distance(annotations, annotations, "annotations", "annotations")?;
    Ok(EnergyDistance {
        ged: 2.0 * cross - sample_diversity - annotation_diversity,
        cross,
        sample_diversity,
        annotation_diversity,
    })
}

/// Sample diversity: the mean `d(S_i, S_j) = 1 − IoU(S_i, S_j)` over all pairs of distinct
/// samples `i ≠ j` (0 when all samples agree). Note that [`EnergyDistance::sample_diversity`]
/// also counts self-pairs; the two differ by the factor `(n − 1)/n`.
///
/// # Errors
/// [`CoreError::InvalidConfig`] for fewer than 2 samples, [`CoreError::ShapeMismatch`] for
/// masks of different lengths.
pub fn sample_diversity<M: AsRef<[bool]>>(samples: &[M]) -> Result<f64> {
    let n = samples.len();
    if n < 2 {
        return Err(CoreError::config("samples", format!("needs at least 2 masks, got {n}")).into());
    }
    let all_pairs = mean_distance(samples, samples, "samples", "samples")?;
    Ok(all_pairs * n as f64 / (n - 1) as f64)
}

/// `(1/(|a||b|)) Σ_{i,j} (1 − IoU(a_i, b_j))`.
fn mean_distance<M: AsRef<[bool]>>(a: &[M], b: &[M], what_a: &str, what_b: &str) -> Result<f64> {
    for (set, what) in [(a, what_a), (b, what_b)] {
        if set.is_empty() {
            return Err(CoreError::Empty { what: what.into() }.into());
        }
    }
    let mut total = 0.0;
    for x in a {
        for y in b {
            total += 1.0 - iou(x.as_ref(), y.as_ref())?;
        }
    }
    Ok(total / (a.len() * b.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sets_have_zero_energy_distance() {
        let masks = [
            vec![true, true, false, false],
            vec![false, true, true, false],
            vec![false, false, false, false],
        ];
        let e = generalized_energy_distance(&masks, &masks).unwrap();
        assert!(e.ged.abs() < 1e-15);
        assert!(e.sample_diversity > 0.0);
    }

    #[test]
    fn two_point_sets_match_hand_computation() {
        // S = {A}, Y = {A, B} with IoU(A, B) = 1/3: cross = (0 + 2/3)/2 = 1/3,
        // E d(S,S') = 0, E d(Y,Y') = (0 + 2/3 + 2/3 + 0)/4 = 1/3 → GED = 2/3 − 0 − 1/3 = 1/3.
        let a = vec![true, true, false];
        let b = vec![false, true, true];
        let e =
            generalized_energy_distance(std::slice::from_ref(&a), &[a.clone(), b.clone()]).unwrap();
        assert!((e.cross - 1.0 / 3.0).abs() < 1e-15);
        assert!((e.annotation_diversity - 1.0 / 3.0).abs() < 1e-15);
        assert!((e.ged - 1.0 / 3.0).abs() < 1e-15);
        assert!((sample_diversity(&[a.clone(), b]).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        assert!(sample_diversity(std::slice::from_ref(&a)).is_err());
        let empty: Vec<Vec<bool>> = Vec::new();
        assert!(generalized_energy_distance(&empty, &[a]).is_err());
    }
}

//! A discrete transport plan and sampling of coupled pairs from it.

use medgen_core::CoreError;
use rand::{Rng, RngExt};

use super::cost::CostMatrix;
use crate::error::Result;

/// A transport plan `π` (`rows × cols`, row-major, non-negative entries) between a source
/// and a target batch: `π_ij` is the mass moved from source item `i` to target item `j`.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportPlan {
    rows: usize,
    cols: usize,
    weights: Vec<f64>,
}

impl TransportPlan {
    /// Wraps non-negative, finite `weights` (row-major, `rows · cols`) with a positive sum.
    ///
    /// # Errors
    /// [`CoreError::Empty`], [`CoreError::ShapeMismatch`] or [`CoreError::InvalidConfig`]
    /// for an empty, mis-sized, negative, non-finite or all-zero plan.
    pub fn new(rows: usize, cols: usize, weights: Vec<f64>) -> Result<Self> {
        medgen_core::check::ensure_non_empty(&[rows, cols], "transport plan")?;
        if weights.len() != rows * cols {
            return Err(CoreError::shape(
                "transport plan",
                format!("{rows} × {cols} = {} entries", rows * cols),
                &[weights.len()],
            )
            .into());
        }
        let valid = weights.iter().all(|w| w.is_finite() && *w >= 0.0);
        if !valid || weights.iter().sum::<f64>() <= 0.0 {
            return Err(CoreError::config(
                "transport plan",
                "entries must be finite, non-negative and not all zero",
            )
            .into());
        }
        Ok(Self { rows, cols, weights })
    }

    /// The plan of a one-to-one assignment `j = assignment[i]` with mass `1/rows` per row.
    pub fn from_assignment(cols: usize, assignment: &[usize]) -> Result<Self> {
        let rows = assignment.len();
        let mut weights = vec![0.0; rows * cols];
        for (i, &j) in assignment.iter().enumerate() {
            if j >= cols {
                return Err(CoreError::config(
                    "assignment",
                    format!("column {j} out of range 0..{cols}"),
                )
                .into());
            }
            weights[i * cols + j] = 1.0 / rows as f64;
        }
        Self::new(rows, cols, weights)
    }

    /// The number of source items.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of target items.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `π_ij`, or `None` outside the `rows × cols` plan.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        (i < self.rows && j < self.cols).then(|| self.weights[i * self.cols + j])
    }

    /// The row-major entries.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The source marginal `aᵢ = Σ_j π_ij`.
    pub fn row_marginals(&self) -> Vec<f64> {
        self.weights.chunks_exact(self.cols).map(|row| row.iter().sum()).collect()
    }

    /// The target marginal `b_j = Σᵢ π_ij`.
    pub fn col_marginals(&self) -> Vec<f64> {
        let mut sums = vec![0.0; self.cols];
        for row in self.weights.chunks_exact(self.cols) {
            for (sum, w) in sums.iter_mut().zip(row) {
                *sum += w;
            }
        }
        sums
    }

    /// The transport cost `⟨π, C⟩ = Σᵢⱼ π_ij C_ij`.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] if `cost` has another size.
    pub fn cost(&self, cost: &CostMatrix) -> Result<f64> {
        if (cost.rows(), cost.cols()) != (self.rows, self.cols) {
            return Err(CoreError::shape(
                "cost matrix",
                format!("[{}, {}] (the plan's size)", self.rows, self.cols),
                &[cost.rows(), cost.cols()],
            )
            .into());
        }
        Ok(self.weights.iter().zip(cost.values()).map(|(w, c)| w * c).sum())
    }

    /// Draws `count` index pairs `(i, j)` independently with probability `π_ij / Σπ`
    /// (with replacement, as torchcfm's `OTPlanSampler.sample_map`), from `rng`.
    /// Returns the source indices and the target indices.
    pub fn sample_pairs<R: Rng + ?Sized>(
        &self,
        count: usize,
        rng: &mut R,
    ) -> (Vec<usize>, Vec<usize>) {
        let mut cumulative = Vec::with_capacity(self.weights.len());
        let mut total = 0.0;
        for w in &self.weights {
            total += w;
            cumulative.push(total);
        }
        let last_positive = self.weights.iter().rposition(|w| *w > 0.0).unwrap_or(0);
        (0..count)
            .map(|_| {
                let u = rng.random::<f64>() * total;
                let k = cumulative.partition_point(|&c| c <= u).min(last_positive);
                (k / self.cols, k % self.cols)
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;

    #[test]
    fn sampled_pairs_follow_the_plan() {
        let plan = TransportPlan::new(2, 2, vec![0.1, 0.4, 0.0, 0.5]).unwrap();
        let draws = 20_000;
        let (rows, cols) = plan.sample_pairs(draws, &mut seeded_rng(4));
        let mut counts = [0usize; 4];
        for (i, j) in rows.into_iter().zip(cols) {
            counts[i * 2 + j] += 1;
        }
        assert_eq!(counts[2], 0, "a zero-mass pair was drawn");
        for (count, p) in counts.iter().zip(plan.weights()) {
            let freq = *count as f64 / draws as f64;
            // 4 standard errors of a binomial proportion.
            let tolerance = 4.0 * (p * (1.0 - p) / draws as f64).sqrt() + 1e-12;
            assert!((freq - p).abs() <= tolerance, "{freq} vs {p}");
        }
    }

    #[test]
    fn assignment_plans_and_bad_plans() {
        let plan = TransportPlan::from_assignment(3, &[2, 0, 1]).unwrap();
        assert_eq!(plan.row_marginals(), vec![1.0 / 3.0; 3]);
        assert_eq!(plan.col_marginals(), vec![1.0 / 3.0; 3]);
        assert_eq!(plan.get(0, 2), Some(1.0 / 3.0));
        assert_eq!(plan.get(0, 3), None);
        assert_eq!(plan.get(3, 0), None);
        assert!(TransportPlan::from_assignment(2, &[2]).is_err());
        assert!(TransportPlan::new(1, 2, vec![0.5, -0.1]).is_err());
        assert!(TransportPlan::new(1, 2, vec![0.0, 0.0]).is_err());
        assert!(TransportPlan::new(1, 2, vec![1.0]).is_err());
        assert!(TransportPlan::new(0, 2, vec![]).is_err());
    }
}

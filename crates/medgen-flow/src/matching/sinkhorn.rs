//! Entropic optimal transport by log-domain Sinkhorn iterations.

use burn::config::Config;
use medgen_core::CoreError;

use super::cost::CostMatrix;
use super::transport_plan::TransportPlan;
use crate::error::Result;

/// Settings of entropic optimal transport between uniform marginals
/// `a = 1/N₀`, `b = 1/N₁` (POT's `ot.sinkhorn` with `reg = ε`):
///
/// ```text
/// π* = argmin_{π ∈ Π(a, b)} ⟨π, C⟩ − ε H(π),      H(π) = −Σ π_ij (log π_ij − 1).
/// ```
///
/// Solved in the log domain with dual potentials `f`, `g` (stable for small `ε`):
///
/// ```text
/// fᵢ ← ε log aᵢ − ε log Σ_j exp((g_j − C_ij)/ε),   g_j ← ε log b_j − ε log Σᵢ exp((fᵢ − C_ij)/ε),
/// π_ij = exp((fᵢ + g_j − C_ij)/ε),
/// ```
///
/// stopping when the source marginal's L1 error `Σᵢ |Σ_j π_ij − aᵢ|` falls below
/// `tolerance` (the target marginal is exact after each `g` update) or after
/// `max_iterations`. As `ε → 0` the plan tends to an exact optimal-transport plan; SB-CFM uses
/// `ε = 2σ²`.
#[derive(Config, Debug, PartialEq)]
pub struct SinkhornConfig {
    /// The entropic regularisation `ε > 0`, in the units of the cost.
    pub epsilon: f64,
    /// The most Sinkhorn iterations (one `f` and one `g` update each), `≥ 1`.
    #[config(default = 1000)]
    pub max_iterations: usize,
    /// Stop when the source marginal's L1 error is below this (`≥ 0`).
    #[config(default = 1e-9)]
    pub tolerance: f64,
}

impl SinkhornConfig {
    /// Checks `ε > 0` (finite), `max_iterations ≥ 1` and `tolerance ≥ 0`.
    pub fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(CoreError::config(
                "epsilon",
                format!("must be finite and > 0, got {}", self.epsilon),
            )
            .into());
        }
        if self.max_iterations == 0 {
            return Err(CoreError::config("max_iterations", "must be at least 1").into());
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(CoreError::config(
                "tolerance",
                format!("must be finite and >= 0, got {}", self.tolerance),
            )
            .into());
        }
        Ok(())
    }

    /// The entropic transport plan for `cost` (see the [type documentation](Self)).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for invalid settings.
    pub fn plan(&self, cost: &CostMatrix) -> Result<TransportPlan> {
        self.validate()?;
        let (n, m) = (cost.rows(), cost.cols());
        let eps = self.epsilon;
        let log_a = -(n as f64).ln();
        let log_b = -(m as f64).ln();
        let mut f = vec![0.0f64; n];
        let mut g = vec![0.0f64; m];
        let mut scratch = vec![0.0f64; n.max(m)];
        for _ in 0..self.max_iterations {
            for (i, fi) in f.iter_mut().enumerate() {
                for (j, s) in scratch[..m].iter_mut().enumerate() {
                    *s = (g[j] - cost.at(i, j)) / eps;
                }
                *fi = eps * (log_a - log_sum_exp(&scratch[..m]));
            }
            for (j, gj) in g.iter_mut().enumerate() {
                for (i, s) in scratch[..n].iter_mut().enumerate() {
                    *s = (f[i] - cost.at(i, j)) / eps;
                }
                *gj = eps * (log_b - log_sum_exp(&scratch[..n]));
            }
            let error: f64 = (0..n)
                .map(|i| {
                    let row: f64 =
                        (0..m).map(|j| ((f[i] + g[j] - cost.at(i, j)) / eps).exp()).sum();
                    (row - log_a.exp()).abs()
                })
                .sum();
            if error <= self.tolerance {
                break;
            }
        }
        let weights = (0..n)
            .flat_map(|i| {
                let (f, g) = (&f, &g);
                (0..m).map(move |j| ((f[i] + g[j] - cost.at(i, j)) / eps).exp())
            })
            .collect();
        TransportPlan::new(n, m, weights)
    }
}

/// `log Σ exp(xₖ)`, shifted by the maximum for stability.
fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::assignment::{assignment_cost, linear_sum_assignment};
    use medgen_core::seeded_rng;
    use rand::RngExt;

    fn random_points_cost(n: usize, seed: u64) -> CostMatrix {
        let mut rng = seeded_rng(seed);
        let points: Vec<[f64; 2]> = (0..2 * n)
            .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
            .collect();
        let (a, b) = points.split_at(n);
        let values = a
            .iter()
            .flat_map(|p| b.iter().map(move |q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)))
            .collect();
        CostMatrix::new(n, n, values).unwrap()
    }

    #[test]
    fn plan_has_uniform_marginals() {
        let cost = random_points_cost(5, 1);
        let plan = SinkhornConfig::new(0.2).plan(&cost).unwrap();
        for a in plan.row_marginals() {
            assert!((a - 0.2).abs() < 1e-8, "row marginal {a}");
        }
        for b in plan.col_marginals() {
            assert!((b - 0.2).abs() < 1e-12, "column marginal {b}");
        }
    }

    #[test]
    fn cost_approaches_exact_transport_as_epsilon_vanishes() {
        for seed in 0..3 {
            let cost = random_points_cost(5, 10 + seed);
            let exact =
                assignment_cost(&cost, &linear_sum_assignment(&cost).unwrap()).unwrap() / 5.0;
            let mut previous_gap = f64::INFINITY;
            for epsilon in [1.0, 0.1, 0.01, 0.001] {
                let plan =
                    SinkhornConfig::new(epsilon).with_max_iterations(20_000).plan(&cost).unwrap();
                let gap = plan.cost(&cost).unwrap() - exact;
                // Unconverged marginals at the smallest ε allow a sliver below the optimum.
                assert!(gap >= -1e-4, "entropic plan beats exact OT: {gap}");
                assert!(gap <= previous_gap + 1e-4, "gap grew at ε = {epsilon}");
                previous_gap = gap;
            }
            assert!(previous_gap < 1e-3, "gap {previous_gap} at ε = 1e-3");
        }
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let cost = random_points_cost(2, 0);
        for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(SinkhornConfig::new(epsilon).plan(&cost).is_err());
        }
        assert!(SinkhornConfig::new(0.1).with_max_iterations(0).plan(&cost).is_err());
    }
}

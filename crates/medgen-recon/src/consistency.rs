//! Data consistency: pulling an image estimate towards `{x : A x = y}`.

use burn::tensor::Tensor;

use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;

/// How the correction `d` towards the measurement is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyMethod {
    /// Gradient steps on `½‖A x − y‖²`: `x ← x − (λ/‖A‖²) Aᴴ(A x − y)`, `iterations` times
    /// (Landweber; the soft data consistency of Chung & Ye).
    Gradient,
    /// Conjugate gradients on the normal equations (CGLS) for the smallest correction `d` with
    /// `A (x + d) ≈ y`, `iterations` steps from `d = 0`, then `x ← x + λ d`. For a masked
    /// unitary transform (k-space) one step is the exact projection: hard data consistency.
    ConjugateGradient,
}

/// A data-consistency step `x ↦ x'` with weight `λ ∈ (0, 1]`, made noise-aware for
/// measurements with noise of standard deviation `σ_y`:
///
/// `λ_t = λ · ρ_t² / (ρ_t² + σ_y²)`,
///
/// where `ρ_t²` is the error variance of the estimate being corrected (the samplers pass
/// `(1 − ᾱ_t)/ᾱ_t` for `x̂₀` at timestep `t`): the Gaussian posterior-mean weight between an
/// estimate with error `ρ_t²` and a measurement with noise `σ_y²` along each measured
/// direction of a unitary `A`. With `σ_y = 0` the step is the full `λ`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataConsistency {
    /// How the correction is computed.
    pub method: ConsistencyMethod,
    /// The weight `λ ∈ (0, 1]`.
    pub weight: f64,
    /// Gradient or CG iterations, `≥ 1`.
    pub iterations: usize,
    /// The measurement noise standard deviation `σ_y ≥ 0` (in the measurement's units).
    pub noise_std: f64,
}

impl DataConsistency {
    /// Hard consistency: one conjugate-gradient step with `λ = 1` (the exact projection for
    /// k-space; raise `iterations` for CT, where `A Aᴴ ≠ I`).
    pub fn hard() -> Self {
        Self {
            method: ConsistencyMethod::ConjugateGradient,
            weight: 1.0,
            iterations: 1,
            noise_std: 0.0,
        }
    }

    /// Soft consistency: one gradient step `x ← x − (λ/‖A‖²) Aᴴ(A x − y)`.
    pub fn soft(weight: f64) -> Self {
        Self { method: ConsistencyMethod::Gradient, weight, iterations: 1, noise_std: 0.0 }
    }

    /// The same step with `iterations` iterations.
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.iterations = iterations;
        self
    }

    /// The same step made noise-aware for measurement noise `σ_y = noise_std`.
    pub fn with_noise_std(mut self, noise_std: f64) -> Self {
        self.noise_std = noise_std;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// `InvalidConfig` naming `weight` (outside `(0, 1]`), `iterations` (0) or `noise_std`
    /// (negative or not finite).
    pub fn validate(&self) -> Result<()> {
        if !(self.weight > 0.0 && self.weight <= 1.0) {
            return Err(ReconError::config(
                "weight",
                format!("must lie in (0, 1], got {}", self.weight),
            ));
        }
        if self.iterations == 0 {
            return Err(ReconError::config("iterations", "must be at least 1"));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(ReconError::config(
                "noise_std",
                format!("must be finite and non-negative, got {}", self.noise_std),
            ));
        }
        Ok(())
    }

    /// The noise-aware weight `λ_t` for an estimate with error variance `error_variance`.
    pub fn effective_weight(&self, error_variance: f64) -> f64 {
        if self.noise_std == 0.0 {
            return self.weight;
        }
        let noise = self.noise_std * self.noise_std;
        self.weight * error_variance / (error_variance + noise)
    }

    /// Applies the step to `x` (`[N, C, *S]`) for the measurement `y`, with `error_variance`
    /// the estimate's error variance `ρ_t²` (ignored when `σ_y = 0`).
    ///
    /// # Errors
    /// The operator's shape errors.
    pub fn apply<const D: usize>(
        &self,
        operator: &dyn MeasurementOperator<D>,
        x: Tensor<D>,
        y: &Tensor<D>,
        error_variance: f64,
    ) -> Result<Tensor<D>> {
        let weight = self.effective_weight(error_variance);
        match self.method {
            ConsistencyMethod::Gradient => {
                let step = weight / operator.norm_squared();
                let mut x = x;
                for _ in 0..self.iterations {
                    let residual = operator.forward(x.clone())?.sub(y.clone());
                    x = x.sub(operator.adjoint(residual)?.mul_scalar(step));
                }
                Ok(x)
            }
            ConsistencyMethod::ConjugateGradient => {
                let residual = y.clone().sub(operator.forward(x.clone())?);
                let correction = cgls(operator, residual, self.iterations)?;
                Ok(x.add(correction.mul_scalar(weight)))
            }
        }
    }
}

/// `iterations` steps of CGLS for `min_d ‖A d − r‖²` from `d = 0`, per batch item:
/// `g = Aᴴ s`, `p = g`; repeat `q = A p`, `α = ‖g‖²/‖q‖²`, `d += α p`, `s −= α q`,
/// `g' = Aᴴ s`, `p = g' + (‖g'‖²/‖g‖²) p`. The scalars stay on the device.
fn cgls<const D: usize>(
    operator: &dyn MeasurementOperator<D>,
    residual: Tensor<D>,
    iterations: usize,
) -> Result<Tensor<D>> {
    let mut s = residual;
    let mut g = operator.adjoint(s.clone())?;
    let mut d = g.zeros_like();
    let mut p = g.clone();
    let mut gamma = per_item_squared_norm(&g);
    for iteration in 0..iterations {
        let q = operator.forward(p.clone())?;
        let alpha = gamma.clone().div(per_item_squared_norm(&q).clamp_min(1e-30));
        d = d.add(p.clone().mul(alpha.clone()));
        if iteration + 1 == iterations {
            break;
        }
        s = s.sub(q.mul(alpha));
        g = operator.adjoint(s.clone())?;
        let gamma_next = per_item_squared_norm(&g);
        let beta = gamma_next.clone().div(gamma.clamp_min(1e-30));
        p = g.add(p.mul(beta));
        gamma = gamma_next;
    }
    Ok(d)
}

/// `‖x_n‖²` of each batch item, shaped `[N, 1, …, 1]` to broadcast against `x`.
pub(crate) fn per_item_squared_norm<const D: usize>(x: &Tensor<D>) -> Tensor<D> {
    let batch = x.dims()[0];
    let mut shape = [1usize; D];
    shape[0] = batch;
    x.clone().reshape([batch as i32, -1]).powi_scalar(2).sum_dim(1).reshape(shape)
}

//! What an ODE integration returns.

use burn::tensor::Tensor;

use crate::check::ensure_finite;
use crate::error::{CoreError, Result};

/// The result of integrating `dx/dt = f(t, x)` from `t0` to `t1`.
#[derive(Clone, Debug)]
pub struct OdeSolution<const D: usize> {
    /// The state `x(t1)`, with the initial state's shape.
    pub state: Tensor<D>,
    /// The final time `t1`.
    pub t: f64,
    /// The number of evaluations of `f` (NFE), the cost measure samplers are compared by.
    pub nfe: usize,
    /// Steps taken (fixed-step methods) or accepted (adaptive methods).
    pub accepted_steps: usize,
    /// Steps rejected by the adaptive error control (always 0 for fixed-step methods).
    pub rejected_steps: usize,
    /// `(t_i, x(t_i))` at the initial time and after every (accepted) step, when requested.
    pub trajectory: Option<Vec<(f64, Tensor<D>)>>,
}

impl<const D: usize> OdeSolution<D> {
    /// Fails with [`CoreError::NonFinite`] if the final state holds NaN or ±Inf (one scalar
    /// read back to the host). The error names the final time or, when a trajectory was
    /// recorded, the first recorded time at which the state stopped being finite.
    pub(crate) fn ensure_finite(self) -> Result<Self> {
        if ensure_finite(&self.state, "ODE state").is_ok() {
            return Ok(self);
        }
        let first_bad = self
            .trajectory
            .iter()
            .flatten()
            .find(|(_, x)| ensure_finite(x, "ODE state").is_err())
            .map_or(self.t, |(t, _)| *t);
        Err(CoreError::NonFinite { what: format!("ODE state at t = {first_bad}") })
    }
}

/// Records `(t, x)` into an optional trajectory.
pub(crate) fn record<const D: usize>(
    trajectory: &mut Option<Vec<(f64, Tensor<D>)>>,
    t: f64,
    x: &Tensor<D>,
) {
    if let Some(points) = trajectory {
        points.push((t, x.clone()));
    }
}

/// Checks the initial state of an integration: non-empty and finite (one scalar read).
pub(crate) fn check_initial_state<const D: usize>(x0: &Tensor<D>, t0: f64) -> Result<()> {
    crate::check::ensure_non_empty(&x0.dims(), "ODE initial state")?;
    ensure_finite(x0, &format!("ODE initial state at t = {t0}"))
}

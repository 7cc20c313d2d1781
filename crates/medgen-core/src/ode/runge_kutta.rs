//! One step of an explicit Runge–Kutta method, for any [`ButcherTableau`].

use burn::tensor::Tensor;

use super::function::{CountedFunction, OdeFunction};
use super::tableau::ButcherTableau;
use crate::error::{CoreError, Result};

/// The outcome of one explicit Runge–Kutta step.
pub(crate) struct RungeKuttaStep<const D: usize> {
    /// The new state `x' = x + h Σ b_i k_i`.
    pub(crate) state: Tensor<D>,
    /// The stages `k_1..k_s`.
    pub(crate) stages: Vec<Tensor<D>>,
}

/// Takes one step of size `h` (negative to integrate backwards) from `(t, x)`:
/// `k_i = f(t + c_i h, x + h Σ_{j<i} a_ij k_j)`, `x' = x + h Σ b_i k_i`.
///
/// `first_stage`, when given, is `k_1 = f(t, x)` already known (first-same-as-last reuse) and
/// is not re-evaluated. For an FSAL tableau the input of the last stage *is* `x'`, so `x'` is
/// not recomputed either.
pub(crate) fn runge_kutta_step<E, F, const D: usize>(
    tableau: &ButcherTableau,
    f: &mut CountedFunction<'_, F, D, E>,
    t: f64,
    x: &Tensor<D>,
    h: f64,
    first_stage: Option<Tensor<D>>,
) -> Result<RungeKuttaStep<D>, E>
where
    E: From<CoreError>,
    F: OdeFunction<D, E>,
{
    let mut stages = Vec::with_capacity(tableau.stages());
    stages.push(match first_stage {
        Some(k1) => k1,
        None => f.eval(t, x.clone())?,
    });
    let mut last_input = None;
    for i in 1..tableau.stages() {
        let input = offset(x, h, tableau.row(i), &stages);
        let t_i = t + tableau.nodes()[i] * h;
        stages.push(f.eval(t_i, input.clone())?);
        last_input = Some(input);
    }
    let state = match last_input {
        Some(input) if tableau.is_fsal() => input,
        _ => offset(x, h, tableau.weights(), &stages),
    };
    Ok(RungeKuttaStep { state, stages })
}

/// `h Σ_i w_i k_i` over the non-zero weights, or `None` if every weight is zero.
pub(crate) fn weighted_sum<const D: usize>(
    h: f64,
    weights: &[f64],
    stages: &[Tensor<D>],
) -> Option<Tensor<D>> {
    weights
        .iter()
        .zip(stages)
        .filter(|(w, _)| **w != 0.0)
        .map(|(w, k)| k.clone().mul_scalar(h * w))
        .reduce(|acc, term| acc.add(term))
}

/// `x + h Σ_i w_i k_i`.
fn offset<const D: usize>(
    x: &Tensor<D>,
    h: f64,
    weights: &[f64],
    stages: &[Tensor<D>],
) -> Tensor<D> {
    match weighted_sum(h, weights, stages) {
        Some(increment) => x.clone().add(increment),
        None => x.clone(),
    }
}

//! Step-size selection for adaptive integrators: the scaled RMS error norm, the initial-step
//! heuristic and the step-size controller.

use burn::tensor::Tensor;

use super::function::{CountedFunction, OdeFunction};
use crate::error::{CoreError, Result};

/// The smallest factor by which an accepted error ratio counts in the PI controller's memory
/// (as in Hairer's DOPRI5 code), so that a near-zero error does not explode the next step.
const MIN_REMEMBERED_RATIO: f64 = 1e-4;

/// `sqrt(mean(v²))` as a rank-1, one-element tensor (no host read).
fn rms<const D: usize>(v: Tensor<D>) -> Tensor<1> {
    v.square().mean().sqrt()
}

/// Reads a small tensor of norms back to the host.
fn read_norms(norms: Tensor<1>) -> Result<Vec<f64>> {
    let values = crate::readback::read_values::<f32, 1, _>(norms, "ODE error norm")?;
    Ok(values.into_iter().map(f64::from).collect())
}

/// The error ratio of a step from `x0` to `x1` with local error estimate `err`:
/// `sqrt(mean((err / (atol + rtol · max(|x0|, |x1|)))²))`, the RMS norm used by torchdiffeq.
/// A step is acceptable when the ratio is at most 1.
///
/// This reads one scalar back to the host (a synchronisation point per step, which adaptive
/// step-size control cannot avoid).
pub(crate) fn error_ratio<const D: usize>(
    err: Tensor<D>,
    x0: &Tensor<D>,
    x1: &Tensor<D>,
    rtol: f64,
    atol: f64,
) -> Result<f64> {
    let scale = x0.clone().abs().max_pair(x1.clone().abs()).mul_scalar(rtol).add_scalar(atol);
    Ok(read_norms(rms(err.div(scale)))?[0])
}

/// The standard automatic initial step (Hairer, Nørsett & Wanner, *Solving ODEs I*, II.4;
/// as in scipy and torchdiffeq) for integrating from `t0` towards `t1`:
///
/// with `sc = atol + rtol |x0|`, `d0 = ‖x0/sc‖`, `d1 = ‖f0/sc‖` (RMS norms),
/// `h0 = 0.01 d0/d1` (or `1e-6` if either is below `1e-5`); one explicit Euler probe
/// `f1 = f(t0 + h0, x0 + h0 f0)` gives `d2 = ‖(f1 - f0)/sc‖ / h0`, and
/// `h1 = (0.01 / max(d1, d2))^(1/(q+1))` (or `max(1e-6, 1e-3 h0)` if both are below `1e-15`)
/// for an error estimator of order `q`; the step is `min(100 h0, h1, |t1 - t0|)`, returned
/// as a positive magnitude (the probe goes in the direction of `t1`).
///
/// Costs one evaluation of `f` and two host reads.
pub(crate) fn initial_step<E, F, const D: usize>(
    f: &mut CountedFunction<'_, F, D, E>,
    (t0, t1): (f64, f64),
    x0: &Tensor<D>,
    f0: &Tensor<D>,
    tolerances: (f64, f64),
    estimator_order: usize,
) -> Result<f64, E>
where
    E: From<CoreError>,
    F: OdeFunction<D, E>,
{
    let direction = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let (rtol, atol) = tolerances;
    let scale = x0.clone().abs().mul_scalar(rtol).add_scalar(atol);
    let norms = read_norms(Tensor::cat(
        vec![rms(x0.clone().div(scale.clone())), rms(f0.clone().div(scale.clone()))],
        0,
    ))?;
    let (d0, d1) = (norms[0], norms[1]);
    if !d1.is_finite() {
        return Err(CoreError::NonFinite {
            what: format!("ODE right-hand side f(t, x) at t = {t0}"),
        }
        .into());
    }
    let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 }.min(span);
    let probe = x0.clone().add(f0.clone().mul_scalar(direction * h0));
    let f1 = f.eval(t0 + direction * h0, probe)?;
    let d2 = read_norms(rms(f1.sub(f0.clone()).div(scale)))?[0] / h0;
    if !d2.is_finite() {
        // f misbehaves near t0: fall back to the cautious first guess.
        return Ok(h0);
    }
    let largest = d1.max(d2);
    let h1 = if largest <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / largest).powf(1.0 / (estimator_order as f64 + 1.0))
    };
    Ok((100.0 * h0).min(h1).min(span))
}

/// The step-size controller: after a step with error ratio `r` the next step is
/// `h · clamp(safety · r^(-α) · r_prev^β, min_factor, max_factor)` with
/// `α = 1/(q+1) - 0.75 β` for an error estimator of order `q`.
///
/// `β = 0` is the standard (integral) controller; `β > 0` adds the proportional memory of the
/// previous accepted ratio `r_prev` (Gustafsson's PI control as in Hairer's DOPRI5, which uses
/// `β = 0.04`). After a rejection the step only shrinks, using `safety · r^(-1/(q+1))`, and the
/// first accepted step after a rejection may not grow.
#[derive(Clone, Debug)]
pub(crate) struct StepSizeController {
    safety: f64,
    min_factor: f64,
    max_factor: f64,
    beta: f64,
    exponent: f64,
    previous_ratio: f64,
    rejected_last: bool,
}

impl StepSizeController {
    /// A controller for an error estimator of order `estimator_order`.
    pub(crate) fn new(
        safety: f64,
        min_factor: f64,
        max_factor: f64,
        beta: f64,
        estimator_order: usize,
    ) -> Self {
        Self {
            safety,
            min_factor,
            max_factor,
            beta,
            exponent: 1.0 / (estimator_order as f64 + 1.0),
            previous_ratio: MIN_REMEMBERED_RATIO,
            rejected_last: false,
        }
    }

    /// The factor for the step after an accepted step with error ratio `ratio <= 1`.
    pub(crate) fn accepted(&mut self, ratio: f64) -> f64 {
        let factor = if ratio == 0.0 {
            self.max_factor
        } else {
            let alpha = self.exponent - 0.75 * self.beta;
            self.safety * ratio.powf(-alpha) * self.previous_ratio.powf(self.beta)
        };
        self.previous_ratio = ratio.max(MIN_REMEMBERED_RATIO);
        let upper = if self.rejected_last { 1.0 } else { self.max_factor };
        self.rejected_last = false;
        factor.clamp(self.min_factor, upper)
    }

    /// The factor for retrying a rejected step with error ratio `ratio > 1` (or NaN, which
    /// shrinks the step by `min_factor`).
    pub(crate) fn rejected(&mut self, ratio: f64) -> f64 {
        self.rejected_last = true;
        if ratio.is_finite() {
            (self.safety * ratio.powf(-self.exponent)).clamp(self.min_factor, 1.0)
        } else {
            self.min_factor
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_controller_follows_the_formula() {
        let mut c = StepSizeController::new(0.9, 0.2, 10.0, 0.0, 4);
        assert!((c.accepted(0.5) - 0.9 * 0.5f64.powf(-0.2)).abs() < 1e-12);
        assert_eq!(c.accepted(0.0), 10.0);
        assert_eq!(c.accepted(1e-12), 10.0); // clamped
        let shrink = c.rejected(3.0);
        assert!((shrink - 0.9 * 3.0f64.powf(-0.2)).abs() < 1e-12);
        assert_eq!(c.rejected(1e9), 0.2);
        assert_eq!(c.rejected(f64::NAN), 0.2);
        // No growth right after a rejection.
        assert_eq!(c.accepted(1e-6), 1.0);
        assert!(c.accepted(1e-6) > 1.0);
    }

    #[test]
    fn pi_controller_remembers_the_previous_ratio() {
        let beta = 0.04;
        let mut c = StepSizeController::new(0.9, 0.2, 10.0, beta, 4);
        c.accepted(0.25);
        let alpha = 0.2 - 0.75 * beta;
        let expected = 0.9 * 0.5f64.powf(-alpha) * 0.25f64.powf(beta);
        assert!((c.accepted(0.5) - expected).abs() < 1e-12);
    }
}

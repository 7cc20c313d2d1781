//! The adaptive Dormand–Prince 5(4) integrator.

use burn::config::Config;
use burn::tensor::Tensor;

use super::function::{CountedFunction, OdeFunction};
use super::grid::validate_interval;
use super::runge_kutta::{RungeKuttaStep, runge_kutta_step, weighted_sum};
use super::solution::{OdeSolution, check_initial_state, record};
use super::step_control::{StepSizeController, error_ratio, initial_step};
use super::tableau::ButcherTableau;
use crate::check::ensure_finite;
use crate::error::{CoreError, Result};

/// The order of Dopri5's embedded error estimator (the exponent of the step-size control is
/// `1/(q+1)`).
const ESTIMATOR_ORDER: usize = 4;

/// A step this small relative to `max(|t|, |t1 - t0|)` makes no progress in f64: if `f` is
/// still non-finite on it, the solution cannot be continued.
const NEGLIGIBLE_STEP: f64 = 1e-12;

/// Settings of the adaptive Dormand–Prince 5(4) integrator ([`ButcherTableau::DOPRI5`]).
///
/// A step of size `h` is accepted when its error ratio
/// `r = sqrt(mean((err / (atol + rtol · max(|x0|, |x1|)))²)) <= 1` (the RMS norm of
/// torchdiffeq; `err` is the difference between the fifth- and the embedded fourth-order
/// solutions), and the next step is `h · clamp(safety · r^(-1/5 + 0.75 β) · r_prev^β,
/// min_factor, max_factor)` (β = `pi_beta`; β = 0 is the standard controller, Hairer uses
/// 0.04 for PI control). Rejected steps are retried with `h · clamp(safety · r^(-1/5),
/// min_factor, 1)`, and a step right after a rejection may not grow.
///
/// Build it with `Dopri5Config::new(rtol, atol)` and the `with_*` setters; it is validated
/// when used.
#[derive(Config, Debug, PartialEq)]
pub struct Dopri5Config {
    /// Relative tolerance, `> 0` (`1e-5` is a common choice for f32 sampling).
    pub rtol: f64,
    /// Absolute tolerance, `> 0`.
    pub atol: f64,
    /// The most steps (accepted plus rejected) before failing with
    /// [`CoreError::OdeMaxSteps`], `>= 1`.
    #[config(default = 10000)]
    pub max_steps: usize,
    /// The magnitude of the first step, `> 0`; `None` chooses it automatically (Hairer's
    /// heuristic, one extra evaluation of `f`).
    pub first_step: Option<f64>,
    /// Safety factor of the step-size controller, in `(0, 1]`.
    #[config(default = 0.9)]
    pub safety: f64,
    /// The smallest step-size change factor, in `(0, 1)`.
    #[config(default = 0.2)]
    pub min_factor: f64,
    /// The largest step-size change factor, `> 1`.
    #[config(default = 10.0)]
    pub max_factor: f64,
    /// The PI controller's β, in `[0, 0.2]`; 0 gives the standard controller.
    #[config(default = 0.0)]
    pub pi_beta: f64,
}

impl Dopri5Config {
    /// Checks every setting's range.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(CoreError::config(name, format!("must be positive and finite, got {value}")))
            }
        };
        positive("rtol", self.rtol)?;
        positive("atol", self.atol)?;
        if let Some(h) = self.first_step {
            positive("first_step", h)?;
        }
        if self.max_steps == 0 {
            return Err(CoreError::config("max_steps", "must be at least 1"));
        }
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            return Err(CoreError::config(
                "safety",
                format!("must lie in (0, 1], got {}", self.safety),
            ));
        }
        if !(self.min_factor > 0.0 && self.min_factor < 1.0) {
            return Err(CoreError::config(
                "min_factor",
                format!("must lie in (0, 1), got {}", self.min_factor),
            ));
        }
        if !(self.max_factor > 1.0 && self.max_factor.is_finite()) {
            return Err(CoreError::config(
                "max_factor",
                format!("must be finite and greater than 1, got {}", self.max_factor),
            ));
        }
        if !(0.0..=0.2).contains(&self.pi_beta) {
            return Err(CoreError::config(
                "pi_beta",
                format!("must lie in [0, 0.2], got {}", self.pi_beta),
            ));
        }
        Ok(())
    }

    /// Integrates `dx/dt = f(t, x)` from `x(t0) = x0` to `t1` (`t1 < t0` integrates backwards)
    /// with adaptive steps, and returns `x(t1)`.
    ///
    /// Cost: one evaluation for `f(t0, x0)`, one more for the automatic initial step, then six
    /// per attempted step (the seventh stage is the next step's first, FSAL), so
    /// `NFE = 1 + [first_step is None] + 6 · (accepted + rejected)`. With `keep_trajectory`
    /// the solution holds the state after every accepted step, `x0` included.
    ///
    /// **Host reads:** the error norm is one scalar read back to the host per attempted step
    /// (adaptive control needs it to decide); the automatic initial step adds two, and the
    /// initial and final states are checked once each for NaN/Inf.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for invalid settings or an empty/non-finite interval,
    /// [`CoreError::OdeMaxSteps`] when `max_steps` attempts do not reach `t1`,
    /// [`CoreError::NonFinite`] (naming the time) when the state or `f` becomes NaN/Inf,
    /// [`CoreError::ShapeMismatch`] if `f` changes the shape, and any error `f` returns.
    pub fn integrate<F: OdeFunction<D>, const D: usize>(
        &self,
        f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
        keep_trajectory: bool,
    ) -> Result<OdeSolution<D>> {
        self.try_integrate(f, x0, t0, t1, keep_trajectory)
    }

    /// Like `integrate` for a right-hand side that fails with the caller's own error type `E`
    /// (the solver's own errors are converted with `E::from`).
    ///
    /// # Errors
    /// As `integrate`.
    pub fn try_integrate<E, F, const D: usize>(
        &self,
        mut f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
        keep_trajectory: bool,
    ) -> Result<OdeSolution<D>, E>
    where
        E: From<CoreError>,
        F: OdeFunction<D, E>,
    {
        self.validate()?;
        validate_interval(t0, t1)?;
        check_initial_state(&x0, t0)?;
        let tableau = &ButcherTableau::DOPRI5;
        let error_weights = tableau.error_weights().expect("Dopri5 is an embedded pair");
        let direction = (t1 - t0).signum();
        let span = (t1 - t0).abs();
        let mut f = CountedFunction::new(&mut f, x0.dims());
        let mut k1 = f.eval(t0, x0.clone())?;
        let mut h = match self.first_step {
            Some(h) => h.min(span),
            None => {
                initial_step(&mut f, (t0, t1), &x0, &k1, (self.rtol, self.atol), ESTIMATOR_ORDER)?
            }
        };
        let mut controller = StepSizeController::new(
            self.safety,
            self.min_factor,
            self.max_factor,
            self.pi_beta,
            ESTIMATOR_ORDER,
        );
        let mut trajectory = keep_trajectory.then(Vec::new);
        record(&mut trajectory, t0, &x0);
        let (mut t, mut x) = (t0, x0);
        let (mut accepted, mut rejected) = (0, 0);
        loop {
            if accepted + rejected >= self.max_steps {
                return Err(CoreError::OdeMaxSteps {
                    max_steps: self.max_steps,
                    t,
                    dt: direction * h,
                }
                .into());
            }
            let remaining = (t1 - t).abs();
            // Stretch a step that would stop a hair short of t1 instead of leaving a sliver.
            let last = h * (1.0 + 1e-10) >= remaining;
            let size = if last { remaining } else { h };
            let dt = direction * size;
            let step = runge_kutta_step(tableau, &mut f, t, &x, dt, Some(k1.clone()))?;
            let err = weighted_sum(dt, error_weights, &step.stages)
                .expect("Dopri5 has non-zero error weights");
            let ratio = error_ratio(err, &x, &step.state, self.rtol, self.atol)?;
            if ratio <= 1.0 {
                accepted += 1;
                let RungeKuttaStep { state, mut stages } = step;
                k1 = stages.pop().expect("Dopri5 has seven stages");
                x = state;
                t = if last { t1 } else { t + dt };
                record(&mut trajectory, t, &x);
                if last {
                    break;
                }
                h = size * controller.accepted(ratio);
            } else {
                rejected += 1;
                if !ratio.is_finite() {
                    // Shrinking cannot help if f is already non-finite at the accepted state,
                    // nor once the step has shrunk to round-off size.
                    ensure_finite(&k1, &format!("ODE right-hand side f(t, x) at t = {t}"))?;
                    if size <= NEGLIGIBLE_STEP * t.abs().max(span) {
                        return Err(CoreError::NonFinite {
                            what: format!("ODE right-hand side f(t, x) near t = {}", t + dt),
                        }
                        .into());
                    }
                }
                h = size * controller.rejected(ratio);
            }
        }
        OdeSolution {
            state: x,
            t: t1,
            nfe: f.evaluations(),
            accepted_steps: accepted,
            rejected_steps: rejected,
            trajectory,
        }
        .ensure_finite()
        .map_err(E::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.try_into_vec_as::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    /// `x' = -k x` on a `[2, 2]` state, counting calls independently of the solver.
    fn decay(k: f64, calls: &mut usize) -> impl FnMut(f64, Tensor<2>) -> Result<Tensor<2>> + '_ {
        move |_t, x: Tensor<2>| {
            *calls += 1;
            Ok(x.mul_scalar(-k))
        }
    }

    fn x0() -> Tensor<2> {
        Tensor::<2>::from_floats([[1.0, -2.0], [0.5, 3.0]], &test_device())
    }

    fn max_relative_error(got: &[f64], start: &[f64], factor: f64) -> f64 {
        got.iter()
            .zip(start)
            .map(|(g, s)| (g - s * factor).abs() / (s * factor).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn decay_reaches_tolerance_and_counts_nfe() {
        let start = values(x0());
        let mut previous_error = f64::INFINITY;
        let mut previous_nfe = 0;
        for tol in [1e-3, 1e-6] {
            let mut calls = 0;
            let sol = Dopri5Config::new(tol, tol * 1e-2)
                .integrate(decay(2.0, &mut calls), x0(), 0.0, 1.0, false)
                .unwrap();
            assert_eq!(sol.nfe, calls);
            assert_eq!(sol.nfe, 2 + 6 * (sol.accepted_steps + sol.rejected_steps));
            let error = max_relative_error(&values(sol.state), &start, (-2.0f64).exp());
            // The local control keeps the global error within a small multiple of rtol
            // (plus f32 round-off).
            assert!(error < 10.0 * tol + 1e-6, "tol {tol}: error {error}");
            assert!(error < previous_error && sol.nfe > previous_nfe);
            previous_error = error;
            previous_nfe = sol.nfe;
        }
    }

    #[test]
    fn given_first_step_saves_one_evaluation_and_backward_integration_works() {
        let start = values(x0());
        let mut calls = 0;
        let sol = Dopri5Config::new(1e-6, 1e-8)
            .with_first_step(Some(0.05))
            .integrate(decay(2.0, &mut calls), x0(), 1.0, -0.5, true)
            .unwrap();
        assert_eq!(calls, 1 + 6 * (sol.accepted_steps + sol.rejected_steps));
        assert_eq!(sol.t, -0.5);
        // Backwards over 1.5 time units: x(-0.5) = x(1) e^{3}.
        let error = max_relative_error(&values(sol.state), &start, 3f64.exp());
        assert!(error < 1e-4, "{error}");
        let trajectory = sol.trajectory.unwrap();
        assert_eq!(trajectory.len(), sol.accepted_steps + 1);
        assert_eq!(trajectory[0].0, 1.0);
        assert!(trajectory.windows(2).all(|w| w[1].0 < w[0].0));
        assert_eq!(trajectory.last().unwrap().0, -0.5);
    }

    #[test]
    fn harmonic_oscillator_matches_closed_form() {
        let device = test_device();
        let omega = 3.0f64;
        // State [q, p] in one [1, 2] tensor; x' = x M with M = [[0, -ω²], [1, 0]].
        let f = move |_t: f64, x: Tensor<2>| {
            let w2 = (omega * omega) as f32;
            let m = Tensor::<2>::from_floats([[0.0, -w2], [1.0, 0.0]], &x.device());
            Ok(x.matmul(m))
        };
        let x0 = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let t1 = 2.0;
        let sol = Dopri5Config::new(1e-6, 1e-8).integrate(f, x0, 0.0, t1, false).unwrap();
        let got = values(sol.state);
        assert!((got[0] - (omega * t1).cos()).abs() < 1e-4, "{got:?}");
        assert!((got[1] + omega * (omega * t1).sin()).abs() < 3e-4, "{got:?}");
    }

    #[test]
    fn step_limit_and_bad_settings_are_errors() {
        let mut calls = 0;
        let result = Dopri5Config::new(1e-7, 1e-9).with_max_steps(3).integrate(
            decay(50.0, &mut calls),
            x0(),
            0.0,
            10.0,
            false,
        );
        match result {
            Err(CoreError::OdeMaxSteps { max_steps, t, .. }) => {
                assert_eq!(max_steps, 3);
                assert!(t < 10.0);
            }
            other => panic!("expected OdeMaxSteps, got {other:?}"),
        }
        let identity = |_t: f64, x: Tensor<2>| Ok(x);
        let bad = [
            Dopri5Config::new(0.0, 1e-6),
            Dopri5Config::new(1e-6, -1.0),
            Dopri5Config::new(f64::NAN, 1e-6),
            Dopri5Config::new(1e-6, 1e-6).with_max_steps(0),
            Dopri5Config::new(1e-6, 1e-6).with_first_step(Some(0.0)),
            Dopri5Config::new(1e-6, 1e-6).with_safety(1.5),
            Dopri5Config::new(1e-6, 1e-6).with_pi_beta(0.5),
        ];
        for config in bad {
            assert!(
                matches!(
                    config.integrate(identity, x0(), 0.0, 1.0, false),
                    Err(CoreError::InvalidConfig { .. })
                ),
                "{config:?}"
            );
        }
        assert!(matches!(
            Dopri5Config::new(1e-6, 1e-6).integrate(identity, x0(), 1.0, 1.0, false),
            Err(CoreError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn nan_right_hand_side_names_the_time() {
        // f is finite before t = 0.5 and NaN from there on: the solver shrinks its steps
        // towards t = 0.5 until they are negligible, then reports where f broke down.
        let f = |t: f64, x: Tensor<2>| {
            Ok(if t >= 0.5 { x.mul_scalar(f32::NAN) } else { x.mul_scalar(-1.0) })
        };
        let config = Dopri5Config::new(1e-4, 1e-6).with_max_steps(500);
        match config.integrate(f, x0(), 0.0, 1.0, false) {
            Err(CoreError::NonFinite { what }) => assert!(what.contains("t = 0.5"), "{what}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        // A right-hand side that is NaN everywhere fails at the first step.
        let nan = |_t: f64, x: Tensor<2>| Ok(x.mul_scalar(f32::NAN));
        assert!(matches!(
            config.integrate(nan, x0(), 0.0, 1.0, false),
            Err(CoreError::NonFinite { .. })
        ));
    }

    #[test]
    fn pi_control_also_meets_the_tolerance() {
        let start = values(x0());
        let mut calls = 0;
        let sol = Dopri5Config::new(1e-5, 1e-7)
            .with_pi_beta(0.04)
            .integrate(decay(2.0, &mut calls), x0(), 0.0, 1.0, false)
            .unwrap();
        let error = max_relative_error(&values(sol.state), &start, (-2.0f64).exp());
        assert!(error < 1e-4, "{error}");
    }
}

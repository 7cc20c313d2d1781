//! [`OdeSolver`]: the one serialisable choice of integrator that other crates take.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::dopri5::Dopri5Config;
use super::fixed_step::FixedStepMethod;
use super::function::OdeFunction;
use super::grid::TimeGrid;
use super::solution::OdeSolution;
use crate::error::{CoreError, Result};

/// An ODE integrator and its settings, as one value that samplers, flows and experiment
/// configurations store (serialisable with serde; `burn::config::Config` gives `save`/`load`).
///
/// Fixed-step variants take `steps` equal steps over `[t0, t1]`
/// (`NFE = stages · steps`: Euler 1, Midpoint 2, Heun 2, RK4 4 per step); for a non-uniform
/// grid call [`FixedStepMethod::integrate`] with a [`TimeGrid`]. `Dopri5` adapts its steps to
/// the tolerances ([`Dopri5Config`]).
///
/// ```
/// use medgen_core::ode::{Dopri5Config, OdeSolver};
/// use medgen_core::burn::tensor::{Device, Tensor};
///
/// # fn main() -> medgen_core::Result<()> {
/// let device = Device::default();
/// let x0 = Tensor::<2>::ones([2, 3], &device);
/// // x' = -x, so x(1) = e^{-1} x(0).
/// let solver = OdeSolver::Rk4 { steps: 10 };
/// let solution = solver.solve(|_t, x: Tensor<2>| Ok(x.neg()), x0.clone(), 0.0, 1.0)?;
/// assert_eq!(solution.nfe, 40);
/// let adaptive = OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-7));
/// let solution = adaptive.solve(|_t, x: Tensor<2>| Ok(x.neg()), x0, 0.0, 1.0)?;
/// assert!(solution.accepted_steps > 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OdeSolver {
    /// Forward Euler with `steps` equal steps.
    Euler {
        /// The number of steps, `>= 1`.
        steps: usize,
    },
    /// The explicit midpoint rule with `steps` equal steps.
    Midpoint {
        /// The number of steps, `>= 1`.
        steps: usize,
    },
    /// Heun's method with `steps` equal steps.
    Heun {
        /// The number of steps, `>= 1`.
        steps: usize,
    },
    /// Classical RK4 with `steps` equal steps.
    Rk4 {
        /// The number of steps, `>= 1`.
        steps: usize,
    },
    /// Adaptive Dormand–Prince 5(4).
    Dopri5(Dopri5Config),
}

impl burn::config::Config for OdeSolver {}

impl OdeSolver {
    /// The fixed-step method and its step count, or `None` for an adaptive solver.
    pub fn fixed_step(&self) -> Option<(FixedStepMethod, usize)> {
        self.kind().ok()
    }

    /// Checks the settings: `steps >= 1`, or valid [`Dopri5Config`] settings.
    pub fn validate(&self) -> Result<()> {
        match self.kind() {
            Ok((_, 0)) => Err(CoreError::config("steps", "must be at least 1")),
            Ok(_) => Ok(()),
            Err(config) => config.validate(),
        }
    }

    /// Splits the variants into fixed-step `(method, steps)` and adaptive settings.
    fn kind(&self) -> std::result::Result<(FixedStepMethod, usize), &Dopri5Config> {
        match self {
            Self::Euler { steps } => Ok((FixedStepMethod::Euler, *steps)),
            Self::Midpoint { steps } => Ok((FixedStepMethod::Midpoint, *steps)),
            Self::Heun { steps } => Ok((FixedStepMethod::Heun, *steps)),
            Self::Rk4 { steps } => Ok((FixedStepMethod::Rk4, *steps)),
            Self::Dopri5(config) => Err(config),
        }
    }

    /// Integrates `dx/dt = f(t, x)` from `x(t0) = x0` to `t1` (backwards if `t1 < t0`) and
    /// returns `x(t1)` with the NFE and step counts; see [`OdeSolver::solve_with_trajectory`]
    /// to keep the intermediate states.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for invalid settings or bounds, [`CoreError::NonFinite`]
    /// (naming the time) when the state becomes NaN/Inf, [`CoreError::OdeMaxSteps`] when the
    /// adaptive solver runs out of steps, [`CoreError::ShapeMismatch`] if `f` changes the
    /// state's shape, and any error `f` returns.
    pub fn solve<F: OdeFunction<D>, const D: usize>(
        &self,
        f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
    ) -> Result<OdeSolution<D>> {
        self.run(f, x0, t0, t1, false)
    }

    /// Like [`OdeSolver::solve`], and also returns `(t, x(t))` at the initial time and after
    /// every step (every grid time for fixed-step solvers, every accepted step for Dopri5).
    pub fn solve_with_trajectory<F: OdeFunction<D>, const D: usize>(
        &self,
        f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
    ) -> Result<OdeSolution<D>> {
        self.run(f, x0, t0, t1, true)
    }

    /// Like [`OdeSolver::solve`] for a right-hand side `f` that fails with the caller's own
    /// error type `E` (a family's error enum): `f`'s errors come back unchanged and the
    /// solver's own errors are converted with `E::from`.
    ///
    /// # Errors
    /// As [`OdeSolver::solve`].
    pub fn try_solve<E, F, const D: usize>(
        &self,
        f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
    ) -> Result<OdeSolution<D>, E>
    where
        E: From<CoreError>,
        F: OdeFunction<D, E>,
    {
        self.run(f, x0, t0, t1, false)
    }

    fn run<E, F, const D: usize>(
        &self,
        f: F,
        x0: Tensor<D>,
        t0: f64,
        t1: f64,
        keep_trajectory: bool,
    ) -> Result<OdeSolution<D>, E>
    where
        E: From<CoreError>,
        F: OdeFunction<D, E>,
    {
        match self.kind() {
            Ok((method, steps)) => {
                method.try_integrate(f, x0, &TimeGrid::uniform(t0, t1, steps)?, keep_trajectory)
            }
            Err(config) => config.try_integrate(f, x0, t0, t1, keep_trajectory),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn decay_solution(solver: &OdeSolver) -> Result<OdeSolution<1>> {
        let x0 = Tensor::<1>::from_floats([1.0, 2.0, -4.0], &test_device());
        solver.solve(|_t, x: Tensor<1>| Ok(x.mul_scalar(-1.5)), x0, 0.0, 1.0)
    }

    #[test]
    fn fixed_solvers_report_nfe_and_exponential_decay() {
        // On x' = λx a Runge–Kutta step multiplies x by its stability polynomial R(hλ), so
        // 8 steps give exactly R(hλ)^8 x0 (up to f32 round-off); the closed form e^{λ} x0 is
        // approached to within the method's accuracy.
        let z = -1.5f64 / 8.0;
        let euler = 1.0 + z;
        let second = euler + z * z / 2.0;
        let fourth = second + z.powi(3) / 6.0 + z.powi(4) / 24.0;
        let cases = [
            (OdeSolver::Euler { steps: 8 }, 8, euler, 0.2),
            (OdeSolver::Midpoint { steps: 8 }, 16, second, 0.02),
            (OdeSolver::Heun { steps: 8 }, 16, second, 0.02),
            (OdeSolver::Rk4 { steps: 8 }, 32, fourth, 1e-4),
        ];
        let exact = (-1.5f64).exp();
        for (solver, nfe, amplification, accuracy) in cases {
            let sol = decay_solution(&solver).unwrap();
            assert_eq!(sol.nfe, nfe, "{solver:?}");
            assert_eq!((sol.accepted_steps, sol.rejected_steps), (8, 0));
            let got = sol.state.try_into_vec_as::<f32>().unwrap();
            for (g, x0) in got.iter().zip([1.0, 2.0, -4.0]) {
                let g = f64::from(*g);
                let predicted = x0 * amplification.powi(8);
                assert!((g / predicted - 1.0).abs() < 1e-5, "{solver:?}: {g} vs {predicted}");
                assert!((g / (x0 * exact) - 1.0).abs() < accuracy, "{solver:?}");
            }
        }
    }

    #[test]
    fn dopri5_through_the_enum_and_trajectory() {
        let solver = OdeSolver::Dopri5(Dopri5Config::new(1e-6, 1e-8));
        let x0 = Tensor::<1>::from_floats([1.0], &test_device());
        let sol = solver
            .solve_with_trajectory(|_t, x: Tensor<1>| Ok(x.mul_scalar(-1.5)), x0, 0.0, 1.0)
            .unwrap();
        let trajectory = sol.trajectory.unwrap();
        assert_eq!(trajectory.len(), sol.accepted_steps + 1);
        for (t, x) in trajectory {
            let got = f64::from(x.into_scalar::<f32>());
            assert!((got - (-1.5 * t).exp()).abs() < 1e-5, "t = {t}: {got}");
        }
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for solver in [
            OdeSolver::Euler { steps: 0 },
            OdeSolver::Rk4 { steps: 0 },
            OdeSolver::Dopri5(Dopri5Config::new(-1.0, 1e-6)),
        ] {
            assert!(
                matches!(decay_solution(&solver), Err(CoreError::InvalidConfig { .. })),
                "{solver:?}"
            );
        }
    }

    #[test]
    fn serde_round_trip() {
        for solver in [
            OdeSolver::Heun { steps: 12 },
            OdeSolver::Dopri5(Dopri5Config::new(1e-5, 1e-6).with_max_steps(77)),
        ] {
            let json = serde_json::to_string(&solver).unwrap();
            let back: OdeSolver = serde_json::from_str(&json).unwrap();
            assert_eq!(back, solver);
        }
    }
}

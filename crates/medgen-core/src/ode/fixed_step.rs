//! Fixed-step explicit Runge–Kutta integration over a [`TimeGrid`].

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::function::{CountedFunction, OdeFunction};
use super::grid::TimeGrid;
use super::runge_kutta::runge_kutta_step;
use super::solution::{OdeSolution, check_initial_state, record};
use super::tableau::ButcherTableau;
use crate::error::{CoreError, Result};

/// A fixed-step explicit Runge–Kutta method.
///
/// | method | order | evaluations per step |
/// |---|---|---|
/// | [`Euler`](Self::Euler) | 1 | 1 |
/// | [`Midpoint`](Self::Midpoint) | 2 | 2 |
/// | [`Heun`](Self::Heun) | 2 | 2 |
/// | [`Rk4`](Self::Rk4) | 4 | 4 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FixedStepMethod {
    /// Forward Euler, [`ButcherTableau::EULER`].
    Euler,
    /// The explicit midpoint rule, [`ButcherTableau::MIDPOINT`].
    Midpoint,
    /// Heun's method, [`ButcherTableau::HEUN`].
    Heun,
    /// Classical fourth-order Runge–Kutta, [`ButcherTableau::RK4`].
    Rk4,
}

impl FixedStepMethod {
    /// The method's Butcher tableau.
    pub fn tableau(self) -> &'static ButcherTableau {
        match self {
            Self::Euler => &ButcherTableau::EULER,
            Self::Midpoint => &ButcherTableau::MIDPOINT,
            Self::Heun => &ButcherTableau::HEUN,
            Self::Rk4 => &ButcherTableau::RK4,
        }
    }

    /// Integrates `dx/dt = f(t, x)` from `x(grid.start()) = x0` through every time of `grid`,
    /// one step per grid interval, and returns `x(grid.end())`.
    ///
    /// The state may have any shape; `f` must return that shape. NFE = steps × stages
    /// (Euler: steps, Midpoint and Heun: 2·steps, RK4: 4·steps). With `keep_trajectory` the
    /// solution holds the state at every grid time, `x0` included.
    ///
    /// Nothing is read back to the host inside the loop; the initial and the final state are
    /// each checked once for NaN/Inf (one scalar read each).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`](crate::CoreError::InvalidConfig) for an invalid grid,
    /// [`CoreError::Empty`](crate::CoreError::Empty) for an empty state,
    /// [`CoreError::NonFinite`](crate::CoreError::NonFinite) if `x0` or the final state holds
    /// NaN/Inf (naming the time), [`CoreError::ShapeMismatch`](crate::CoreError::ShapeMismatch)
    /// if `f` changes the shape, and any error `f` returns.
    pub fn integrate<F: OdeFunction<D>, const D: usize>(
        self,
        f: F,
        x0: Tensor<D>,
        grid: &TimeGrid,
        keep_trajectory: bool,
    ) -> Result<OdeSolution<D>> {
        self.try_integrate(f, x0, grid, keep_trajectory)
    }

    /// Like `integrate` for a right-hand side that fails with the caller's own error type `E`
    /// (the solver's own errors are converted with `E::from`).
    ///
    /// # Errors
    /// As `integrate`.
    pub fn try_integrate<E, F, const D: usize>(
        self,
        mut f: F,
        x0: Tensor<D>,
        grid: &TimeGrid,
        keep_trajectory: bool,
    ) -> Result<OdeSolution<D>, E>
    where
        E: From<CoreError>,
        F: OdeFunction<D, E>,
    {
        let times = grid.times()?;
        let (start, end) = (times[0], times[times.len() - 1]);
        check_initial_state(&x0, start)?;
        let tableau = self.tableau();
        let mut f = CountedFunction::new(&mut f, x0.dims());
        let mut trajectory = keep_trajectory.then(|| Vec::with_capacity(times.len()));
        record(&mut trajectory, start, &x0);
        let mut x = x0;
        for interval in times.windows(2) {
            let (t, t_next) = (interval[0], interval[1]);
            x = runge_kutta_step(tableau, &mut f, t, &x, t_next - t, None)?.state;
            record(&mut trajectory, t_next, &x);
        }
        OdeSolution {
            state: x,
            t: end,
            nfe: f.evaluations(),
            accepted_steps: grid.steps(),
            rejected_steps: 0,
            trajectory,
        }
        .ensure_finite()
        .map_err(E::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;
    use burn::tensor::Tensor;
    use medgen_testing::{test_device, testing_on_wgpu};

    const METHODS: [FixedStepMethod; 4] = [
        FixedStepMethod::Euler,
        FixedStepMethod::Midpoint,
        FixedStepMethod::Heun,
        FixedStepMethod::Rk4,
    ];

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.try_into_vec_as::<f32>().unwrap()
    }

    /// Harmonic oscillator `q' = p, p' = -ω² q` with the state `[q, p]` as one `[1, 2]`
    /// tensor, written as `x' = x M` with `M = [[0, -ω²], [1, 0]]`.
    fn oscillator(omega: f64) -> impl FnMut(f64, Tensor<2>) -> Result<Tensor<2>> {
        let w2 = (omega * omega) as f32;
        move |_t, x: Tensor<2>| {
            let m = Tensor::<2>::from_floats([[0.0, -w2], [1.0, 0.0]], &x.device());
            Ok(x.matmul(m))
        }
    }

    /// The error `|x_N - x(1)|` (p scaled by 1/ω) after one period of the oscillator with
    /// `ω = 2π` and `x(0) = [1, 0]`, whose exact solution returns to `[1, 0]`.
    fn oscillator_error(method: FixedStepMethod, steps: usize) -> f64 {
        let device = test_device();
        let omega = 2.0 * std::f64::consts::PI;
        let x0 = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let grid = TimeGrid::uniform(0.0, 1.0, steps).unwrap();
        let sol = method.integrate(oscillator(omega), x0, &grid, false).unwrap();
        let x = values(sol.state);
        let (q, p) = (f64::from(x[0]), f64::from(x[1]));
        ((q - omega.cos()).powi(2) + ((p + omega * omega.sin()) / omega).powi(2)).sqrt()
    }

    #[test]
    fn each_method_converges_at_its_order() {
        // Step counts where the error ratio is within 2% of 2^p in exact arithmetic and the
        // f32 round-off (~1e-6) is far below the finer error.
        let coarse_steps = |m: FixedStepMethod| match m {
            FixedStepMethod::Euler if testing_on_wgpu() => 128,
            FixedStepMethod::Euler => 256,
            FixedStepMethod::Midpoint | FixedStepMethod::Heun => 32,
            FixedStepMethod::Rk4 => 16,
        };
        for method in METHODS {
            let n = coarse_steps(method);
            let ratio = oscillator_error(method, n) / oscillator_error(method, 2 * n);
            let expected = 2f64.powi(method.tableau().order() as i32);
            assert!(
                (ratio / expected - 1.0).abs() < 0.15,
                "{method:?}: error ratio {ratio}, expected {expected}"
            );
        }
    }

    /// One step of each method written out by hand in f64 for `x' = -2 t x`, a time-dependent
    /// right-hand side on which Midpoint and Heun differ.
    fn reference_step(method: FixedStepMethod, t: f64, x: f64, h: f64) -> f64 {
        let f = |t: f64, x: f64| -2.0 * t * x;
        match method {
            FixedStepMethod::Euler => x + h * f(t, x),
            FixedStepMethod::Midpoint => x + h * f(t + h / 2.0, x + h / 2.0 * f(t, x)),
            FixedStepMethod::Heun => {
                let k1 = f(t, x);
                x + h / 2.0 * (k1 + f(t + h, x + h * k1))
            }
            FixedStepMethod::Rk4 => {
                let k1 = f(t, x);
                let k2 = f(t + h / 2.0, x + h / 2.0 * k1);
                let k3 = f(t + h / 2.0, x + h / 2.0 * k2);
                let k4 = f(t + h, x + h * k3);
                x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            }
        }
    }

    #[test]
    fn non_uniform_grid_matches_hand_written_steps_and_counts_nfe() {
        let device = test_device();
        let times = vec![0.0, 0.1, 0.35, 0.5, 0.9, 1.2];
        let grid = TimeGrid::explicit(times.clone()).unwrap();
        for method in METHODS {
            let mut calls = 0;
            let f = |t: f64, x: Tensor<1>| {
                calls += 1;
                Ok(x.mul_scalar(-2.0 * t))
            };
            let x0 = Tensor::<1>::from_floats([1.0, -0.5], &device);
            let sol = method.integrate(f, x0, &grid, true).unwrap();
            let stages = method.tableau().stages();
            assert_eq!(sol.nfe, stages * 5, "{method:?}");
            assert_eq!(calls, sol.nfe, "{method:?}");
            assert_eq!(sol.accepted_steps, 5);
            let trajectory = sol.trajectory.unwrap();
            assert_eq!(trajectory.len(), times.len());
            let mut expected = 1.0;
            for (i, (t, x)) in trajectory.into_iter().enumerate() {
                if i > 0 {
                    expected = reference_step(method, times[i - 1], expected, t - times[i - 1]);
                }
                assert_eq!(t, times[i]);
                let got = values(x);
                assert!((f64::from(got[0]) - expected).abs() < 1e-5, "{method:?} at {t}");
                assert!((f64::from(got[1]) + 0.5 * expected).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn backward_integration_undoes_decay() {
        let device = test_device();
        // x' = -3x from t = 1 back to t = 0: x(0) = x(1) e^{3}.
        let x1 = Tensor::<2>::from_floats([[0.5, 2.0]], &device);
        let grid = TimeGrid::uniform(1.0, 0.0, 20).unwrap();
        let sol = FixedStepMethod::Rk4
            .integrate(|_t, x: Tensor<2>| Ok(x.mul_scalar(-3.0)), x1, &grid, false)
            .unwrap();
        assert_eq!(sol.t, 0.0);
        let got = values(sol.state);
        let e3 = 3f64.exp();
        assert!((f64::from(got[0]) / (0.5 * e3) - 1.0).abs() < 1e-4, "{got:?}");
        assert!((f64::from(got[1]) / (2.0 * e3) - 1.0).abs() < 1e-4, "{got:?}");
    }

    #[test]
    fn non_finite_states_and_wrong_shapes_are_errors() {
        let device = test_device();
        let grid = TimeGrid::uniform(0.0, 1.0, 4).unwrap();
        // f produces NaN from t = 0.5 on: the recorded trajectory locates it.
        let blow_up = |t: f64, x: Tensor<1>| Ok(if t >= 0.5 { x.mul_scalar(f32::NAN) } else { x });
        let x0 = Tensor::<1>::from_floats([1.0, 2.0], &device);
        match FixedStepMethod::Euler.integrate(blow_up, x0.clone(), &grid, true) {
            Err(CoreError::NonFinite { what }) => assert!(what.contains("t = 0.75"), "{what}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        match FixedStepMethod::Euler.integrate(blow_up, x0.clone(), &grid, false) {
            Err(CoreError::NonFinite { what }) => assert!(what.contains("t = 1"), "{what}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        let nan0 = Tensor::<1>::from_floats([1.0, f32::NAN], &device);
        let identity = |_t: f64, x: Tensor<1>| Ok(x);
        assert!(matches!(
            FixedStepMethod::Rk4.integrate(identity, nan0, &grid, false),
            Err(CoreError::NonFinite { .. })
        ));
        let reshape = |_t: f64, x: Tensor<1>| Ok(Tensor::cat(vec![x.clone(), x], 0));
        assert!(matches!(
            FixedStepMethod::Heun.integrate(reshape, x0.clone(), &grid, false),
            Err(CoreError::ShapeMismatch { .. })
        ));
        let bad_grid = TimeGrid::Explicit(vec![0.0, 1.0, 0.5]);
        assert!(matches!(
            FixedStepMethod::Euler.integrate(identity, x0, &bad_grid, false),
            Err(CoreError::InvalidConfig { .. })
        ));
    }
}

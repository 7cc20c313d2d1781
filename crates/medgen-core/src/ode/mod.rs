//! ODE integrators over tensors of any rank, for probability-flow sampling, flow matching,
//! continuous normalizing flows and SDF segmentation.
//!
//! The right-hand side `dx/dt = f(t, x)` is any closure
//! `FnMut(f64, Tensor<D>) -> Result<Tensor<D>>` ([`OdeFunction`]). Fixed-step explicit
//! Runge–Kutta methods (Euler, Midpoint, Heun, RK4) and adaptive Dormand–Prince 5(4) all run
//! through one generic Runge–Kutta step driven by their [`ButcherTableau`]. Other crates store
//! one [`OdeSolver`] value and call [`OdeSolver::solve`]; samplers with non-uniform time grids
//! call [`FixedStepMethod::integrate`] with a [`TimeGrid`]. Every integration reports its
//! number of function evaluations (NFE).
//!
//! Integrating backwards (`t1 < t0`) is supported everywhere. Fixed-step integration reads
//! nothing back to the host except one finiteness check of the initial and of the final
//! state; Dopri5 also reads its error norm once per step.

mod dopri5;
mod fixed_step;
mod function;
mod grid;
mod runge_kutta;
mod solution;
mod solver;
mod step_control;
mod tableau;

pub use dopri5::Dopri5Config;
pub use fixed_step::FixedStepMethod;
pub use function::OdeFunction;
pub use grid::TimeGrid;
pub use solution::OdeSolution;
pub use solver::OdeSolver;
pub use tableau::ButcherTableau;

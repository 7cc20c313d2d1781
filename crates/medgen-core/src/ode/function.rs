//! The right-hand side `f(t, x)` of an ODE `dx/dt = f(t, x)`, and the evaluation counter the
//! integrators wrap it in.

use burn::tensor::Tensor;

use crate::error::{CoreError, Result};

/// The right-hand side `f(t, x)` of an ODE `dx/dt = f(t, x)` whose state `x` is a tensor of
/// any rank `D` (for example a batch of images `[N, C, H, W]`).
///
/// `f` must return a tensor of `x`'s shape; the integrators check this on every evaluation
/// (a metadata comparison, no host read) and fail with [`CoreError::ShapeMismatch`] otherwise.
/// Time is an `f64` so that fine grids near `t = 0` keep their resolution; the state keeps the
/// tensor's own dtype.
///
/// It is a named alias of `FnMut(f64, Tensor<D>) -> Result<Tensor<D>>`, implemented by every
/// such closure, so the integrators infer a closure's argument and return types:
/// `solver.solve(|t, x| Ok(x.mul_scalar(-t)), x0, 0.0, 1.0)`. A network is integrated with,
/// e.g., `|t, x| net.evaluate(x, time_tensor(t), &condition)`; a struct with its own
/// evaluation method is passed as `|t, x| model.velocity(t, x)`.
///
/// `E` is the error type `f` returns ([`CoreError`] unless the caller's own error type flows
/// through [`OdeSolver::try_solve`](super::OdeSolver::try_solve)).
pub trait OdeFunction<const D: usize, E = CoreError>:
    FnMut(f64, Tensor<D>) -> std::result::Result<Tensor<D>, E>
{
    /// Evaluates `f(t, x)`.
    fn eval(&mut self, t: f64, x: Tensor<D>) -> std::result::Result<Tensor<D>, E> {
        self(t, x)
    }
}

impl<const D: usize, E, F> OdeFunction<D, E> for F where
    F: FnMut(f64, Tensor<D>) -> std::result::Result<Tensor<D>, E>
{
}

/// Wraps an [`OdeFunction`]: counts its evaluations (the NFE an integrator reports) and checks
/// that each result has the state's shape.
pub(crate) struct CountedFunction<'a, F, const D: usize, E> {
    f: &'a mut F,
    shape: [usize; D],
    evaluations: usize,
    error: std::marker::PhantomData<E>,
}

impl<'a, E: From<CoreError>, F: OdeFunction<D, E>, const D: usize> CountedFunction<'a, F, D, E> {
    /// Wraps `f` for states of shape `shape`.
    pub(crate) fn new(f: &'a mut F, shape: [usize; D]) -> Self {
        Self { f, shape, evaluations: 0, error: std::marker::PhantomData }
    }

    /// Evaluates `f(t, x)`, counting the call and checking the result's shape.
    pub(crate) fn eval(&mut self, t: f64, x: Tensor<D>) -> Result<Tensor<D>, E> {
        self.evaluations += 1;
        let dx = self.f.eval(t, x)?;
        let got = dx.dims();
        if got == self.shape {
            Ok(dx)
        } else {
            Err(CoreError::shape(
                format!("ODE right-hand side f(t, x) at t = {t}"),
                format!("{:?} (the shape of the state x)", self.shape),
                &got,
            )
            .into())
        }
    }

    /// The number of evaluations so far.
    pub(crate) fn evaluations(&self) -> usize {
        self.evaluations
    }
}

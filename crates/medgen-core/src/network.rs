//! The time-conditioned network every sampler evaluates.

use burn::tensor::Tensor;

use crate::condition::Condition;
use crate::error::Result;

/// A network evaluated at a sample `x_t` (`[N, C, ...]`), one time per batch item `t` (`[N]`)
/// and a [`Condition`], returning a tensor of `x_t`'s shape:
///
/// `f_θ : (x_t, t, c) ↦ y`, with `shape(y) = shape(x_t)`.
///
/// Diffusion reads `y` as the predicted noise, sample or velocity; flow matching, continuous
/// flows and SDF segmentation read it as a velocity field. The time is in the sampler's units
/// (diffusion timesteps `0..T`, or flow time in `[0, 1]`); each family documents its choice.
///
/// Closures `Fn(Tensor<D>, Tensor<1>, &Condition<D>) -> Result<Tensor<D>>` implement it, which
/// is handy for oracle networks in tests.
pub trait TimeConditionedNetwork<const D: usize> {
    /// Evaluates the network; fails on inputs whose shapes do not fit it.
    fn evaluate(&self, x_t: Tensor<D>, t: Tensor<1>, condition: &Condition<D>)
    -> Result<Tensor<D>>;
}

impl<const D: usize, F> TimeConditionedNetwork<D> for F
where
    F: Fn(Tensor<D>, Tensor<1>, &Condition<D>) -> Result<Tensor<D>>,
{
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        self(x_t, t, condition)
    }
}

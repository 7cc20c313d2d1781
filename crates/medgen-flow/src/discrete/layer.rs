//! The contract every discrete flow layer fulfils: an exact bijection with its log-determinant.

use burn::tensor::Tensor;

use crate::error::Result;

/// An invertible map `f: x ↦ y` of tensors of rank `D` (`[N, d]` vectors or `[N, C, H, W]`
/// images) that knows its Jacobian determinant.
///
/// The direction convention is the *normalizing* one: [`forward`](Self::forward) maps data
/// towards the base distribution, so that a flow `z = f_K ∘ … ∘ f_1(x)` has
///
/// ```text
/// log p(x) = log p_Z(z) + Σ_k log |det ∂f_k/∂h_{k−1}|
/// ```
///
/// and sampling runs [`inverse`](Self::inverse) from `z ~ p_Z` back to data.
pub trait FlowLayer<const D: usize> {
    /// `y = f(x)` and `log |det ∂f/∂x|` per batch item (`[N]`).
    ///
    /// # Errors
    /// A shape that does not fit the layer.
    fn forward(&self, x: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)>;

    /// `x = f⁻¹(y)` and `log |det ∂f⁻¹/∂y| = −log |det ∂f/∂x|` per batch item (`[N]`).
    ///
    /// # Errors
    /// A shape that does not fit the layer.
    fn inverse(&self, y: Tensor<D>) -> Result<(Tensor<D>, Tensor<1>)>;
}

/// `Σ` over every axis but the batch axis: `[N, …] → [N]`.
pub fn sum_per_item<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let dims = x.dims();
    let n = dims[0];
    let rest = dims[1..].iter().product::<usize>();
    x.reshape([n, rest]).sum_dim(1).reshape([n])
}

/// Fails with a shape error unless `x` is a non-empty batch whose per-item shape is `event`
/// (`x.dims() = [N, event…]` with `N ≥ 1`).
pub(crate) fn ensure_event_shape<const D: usize>(
    x: &Tensor<D>,
    event: &[usize],
    what: &str,
) -> Result<()> {
    let dims = x.dims();
    medgen_core::check::ensure_non_empty(&dims, what)?;
    if dims[1..] == *event {
        Ok(())
    } else {
        Err(medgen_core::CoreError::shape(what, format!("[N, {event:?}]"), &dims).into())
    }
}

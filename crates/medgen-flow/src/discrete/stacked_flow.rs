//! The shared recipe of the vector-flow presets (RealNVP, MAF, spline flow): `blocks` blocks,
//! each an optional ActNorm followed by the preset's own layers, on a fixed or learned base.

use burn::tensor::Device;
use medgen_core::CoreError;

use super::act_norm::ActNormConfig;
use super::diagonal_gaussian::learned_base;
use super::flow::Flow;
use super::vector_layer::VectorLayer;
use crate::error::Result;

/// Builds `x ↦ f_{B−1} ∘ … ∘ f_0(x)` on `ℝ^dim` where block `i` is `[ActNorm] + block(i)`;
/// `block(i, &mut layers)` appends the preset's layers of block `i` (alternate masks or
/// orders with `i % 2`). The base is `N(0, I)`, or a learned diagonal Gaussian.
pub(crate) fn stacked_flow<F>(
    dim: usize,
    blocks: usize,
    act_norm: bool,
    learn_base: bool,
    device: &Device,
    mut block: F,
) -> Result<Flow>
where
    F: FnMut(usize, &mut Vec<VectorLayer>) -> Result<()>,
{
    if blocks == 0 {
        return Err(CoreError::config("layers", "must be positive").into());
    }
    let mut layers = Vec::new();
    for i in 0..blocks {
        if act_norm {
            layers.push(ActNormConfig::new(dim).init(device)?.into());
        }
        block(i, &mut layers)?;
    }
    Flow::new(dim, layers, learned_base(learn_base, dim, device)?)
}

//! Neural spline flow on vectors: rational-quadratic spline couplings with LU linear mixing.

use burn::config::Config;
use burn::tensor::Device;

use super::flow::Flow;
use super::inv_conv::InvConv1x1Config;
use super::mask::VectorMask;
use super::spline_coupling::SplineCouplingConfig;
use super::stacked_flow::stacked_flow;
use crate::error::Result;

/// Configuration of a neural spline flow (RQ-NSF (C), Durkan et al. 2019) on `[N, d]`
/// vectors: `layers` blocks of `[ActNorm] → [LU linear] → SplineCoupling`, the mask flipping
/// from block to block. Data should mostly lie in `[−B, B]` (identity tails outside).
///
/// ```
/// # use medgen_flow::discrete::SplineFlowConfig;
/// # fn demo() -> medgen_flow::Result<()> {
/// let device = burn::tensor::Device::default();
/// let flow = SplineFlowConfig::new(2, 4, 64).with_bins(8).with_tail_bound(4.0).init(&device)?;
/// # Ok(()) }
/// ```
#[derive(Config, Debug)]
pub struct SplineFlowConfig {
    /// Dimension `d ≥ 2`.
    pub dim: usize,
    /// Number of spline couplings `≥ 1`.
    pub layers: usize,
    /// Hidden width of each conditioner MLP.
    pub hidden: usize,
    /// Hidden layers of each conditioner MLP.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// The coupling mask of the first layer (flipped in every other layer).
    #[config(default = "VectorMask::Half")]
    pub mask: VectorMask,
    /// Bins `K ≥ 2` per spline.
    #[config(default = 8)]
    pub bins: usize,
    /// Tail bound `B`.
    #[config(default = 3.0)]
    pub tail_bound: f64,
    /// Minimal bin width (fraction of `2B`).
    #[config(default = 1e-3)]
    pub min_bin_width: f64,
    /// Minimal bin height (fraction of `2B`).
    #[config(default = 1e-3)]
    pub min_bin_height: f64,
    /// Minimal inner-knot derivative.
    #[config(default = 1e-3)]
    pub min_derivative: f64,
    /// Put an LU-parameterised linear map before each coupling.
    #[config(default = true)]
    pub lu_linear: bool,
    /// Put an ActNorm before each block.
    #[config(default = false)]
    pub act_norm: bool,
    /// Learn a diagonal Gaussian base instead of `N(0, I)`.
    #[config(default = false)]
    pub learn_base: bool,
}

impl SplineFlowConfig {
    /// Builds the flow; see the layer configurations for the errors.
    pub fn init(&self, device: &Device) -> Result<Flow> {
        stacked_flow(self.dim, self.layers, self.act_norm, self.learn_base, device, |i, layers| {
            if self.lu_linear {
                layers.push(InvConv1x1Config::new(self.dim).init(device)?.into());
            }
            let coupling = SplineCouplingConfig::new(self.dim, self.hidden)
                .with_hidden_layers(self.hidden_layers)
                .with_mask(self.mask)
                .with_flip(i % 2 == 1)
                .with_bins(self.bins)
                .with_tail_bound(self.tail_bound)
                .with_min_bin_width(self.min_bin_width)
                .with_min_bin_height(self.min_bin_height)
                .with_min_derivative(self.min_derivative)
                .init(device)?;
            layers.push(coupling.into());
            Ok(())
        })
    }
}

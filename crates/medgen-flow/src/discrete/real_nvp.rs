//! RealNVP on vectors: alternating affine couplings, optionally with ActNorm.

use burn::config::Config;
use burn::tensor::Device;

use super::affine_coupling::AffineCouplingConfig;
use super::flow::Flow;
use super::mask::VectorMask;
use super::stacked_flow::stacked_flow;
use crate::error::Result;

/// Configuration of a RealNVP flow (Dinh et al. 2017) on `[N, d]` vectors:
/// `layers` blocks of `[ActNorm] → AffineCoupling`, the mask flipping from block to block so
/// that every feature is transformed.
///
/// ```
/// # use medgen_flow::discrete::RealNvpConfig;
/// # fn demo() -> medgen_flow::Result<()> {
/// let device = burn::tensor::Device::default();
/// let flow = RealNvpConfig::new(2, 8, 64).init(&device)?;
/// # Ok(()) }
/// ```
#[derive(Config, Debug)]
pub struct RealNvpConfig {
    /// Dimension `d ≥ 2`.
    pub dim: usize,
    /// Number of coupling layers `≥ 1`.
    pub layers: usize,
    /// Hidden width of each conditioner MLP.
    pub hidden: usize,
    /// Hidden layers of each conditioner MLP.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// The coupling mask of the first layer (flipped in every other layer).
    #[config(default = "VectorMask::Half")]
    pub mask: VectorMask,
    /// Soft clamp of the log-scales.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
    /// Put an ActNorm before each coupling.
    #[config(default = true)]
    pub act_norm: bool,
    /// Learn a diagonal Gaussian base instead of the fixed `N(0, I)`.
    #[config(default = false)]
    pub learn_base: bool,
}

impl RealNvpConfig {
    /// Builds the flow; see the layer configurations for the errors.
    pub fn init(&self, device: &Device) -> Result<Flow> {
        stacked_flow(self.dim, self.layers, self.act_norm, self.learn_base, device, |i, layers| {
            let coupling = AffineCouplingConfig::new(self.dim, self.hidden)
                .with_hidden_layers(self.hidden_layers)
                .with_mask(self.mask)
                .with_flip(i % 2 == 1)
                .with_scale_clamp(self.scale_clamp)
                .init(device)?;
            layers.push(coupling.into());
            Ok(())
        })
    }
}

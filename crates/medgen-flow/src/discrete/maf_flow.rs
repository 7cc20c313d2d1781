//! Masked autoregressive flow on vectors: MAF layers with alternating orders.

use burn::config::Config;
use burn::tensor::Device;

use super::flow::Flow;
use super::maf::MaskedAutoregressiveConfig;
use super::stacked_flow::stacked_flow;
use crate::error::Result;

/// Configuration of a masked autoregressive flow (Papamakarios et al. 2017) on `[N, d]`
/// vectors: `layers` blocks of `[ActNorm] → MAF`, the autoregressive order reversed from
/// block to block. Density evaluation is one MADE pass per layer; sampling `d` passes.
#[derive(Config, Debug)]
pub struct MafConfig {
    /// Dimension `d ≥ 2`.
    pub dim: usize,
    /// Number of MAF layers `≥ 1`.
    pub layers: usize,
    /// Hidden width of each MADE (`≥ d − 1`).
    pub hidden: usize,
    /// Hidden layers of each MADE.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// Soft clamp of the log-scales.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
    /// Put an ActNorm before each MAF layer.
    #[config(default = false)]
    pub act_norm: bool,
    /// Learn a diagonal Gaussian base instead of `N(0, I)`.
    #[config(default = false)]
    pub learn_base: bool,
}

impl MafConfig {
    /// Builds the flow; see the layer configurations for the errors.
    pub fn init(&self, device: &Device) -> Result<Flow> {
        stacked_flow(self.dim, self.layers, self.act_norm, self.learn_base, device, |i, layers| {
            let maf = MaskedAutoregressiveConfig::new(self.dim, self.hidden)
                .with_hidden_layers(self.hidden_layers)
                .with_reverse_order(i % 2 == 1)
                .with_scale_clamp(self.scale_clamp)
                .init(device)?;
            layers.push(maf.into());
            Ok(())
        })
    }
}

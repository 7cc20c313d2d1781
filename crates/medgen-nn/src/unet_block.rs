//! One stage of a U-Net level: a residual block, optionally followed by self-attention.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::attention::{AttentionBlock, AttentionBlockConfig};
use super::resblock::{ResBlock, ResBlockConfig};
use medgen_core::error::Result;

/// A [`ResBlock`] optionally followed by an [`AttentionBlock`] on its output:
///
/// `y = Attn(Res(x, e))` or `y = Res(x, e)`; `x` `[N, C_in, *spatial]` → `y`
/// `[N, C_out, *spatial]`, `e` `[N, E]`.
#[derive(Module, Debug)]
pub struct UNetBlock {
    /// The residual block.
    pub res: ResBlock,
    /// Self-attention on the block's output, at the levels that have it.
    pub attention: Option<AttentionBlock>,
}

impl UNetBlock {
    /// Builds the block from its two parts' configurations (attention over `C_out` channels).
    pub fn init(
        res: &ResBlockConfig,
        attention: Option<&AttentionBlockConfig>,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            res: res.init(device)?,
            attention: attention.map(|a| a.init(device)).transpose()?,
        })
    }

    /// Applies the residual block, then the attention if any.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, emb: Tensor<2>) -> Tensor<D> {
        let h = self.res.forward(x, emb);
        match &self.attention {
            Some(attention) => attention.forward(h),
            None => h,
        }
    }
}

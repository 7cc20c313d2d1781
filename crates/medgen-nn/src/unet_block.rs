//! One stage of a U-Net level: a residual block, optionally followed by self-attention or by a
//! spatial transformer with cross-attention.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::attention::{AttentionBlock, AttentionBlockConfig};
use super::null_context::AttentionContext;
use super::resblock::{ResBlock, ResBlockConfig};
use super::spatial_transformer::{SpatialTransformer, SpatialTransformerConfig};
use medgen_core::error::Result;

/// A [`ResBlock`] optionally followed by an [`AttentionBlock`] or a [`SpatialTransformer`] on
/// its output:
///
/// `y = Attn(Res(x, e))`, `y = Transformer(Res(x, e), context)` or `y = Res(x, e)`; `x`
/// `[N, C_in, *spatial]` → `y` `[N, C_out, *spatial]`, `e` `[N, E]`.
#[derive(Module, Debug)]
pub struct UNetBlock {
    /// The residual block.
    pub res: ResBlock,
    /// Self-attention on the block's output, at the levels that have it (networks without
    /// cross-attention).
    pub attention: Option<AttentionBlock>,
    /// Spatial transformer (self- and cross-attention) on the block's output, at the levels
    /// with attention of a network built with `cross_attention_dim`.
    pub transformer: Option<SpatialTransformer>,
}

impl UNetBlock {
    /// Builds the block from its parts' configurations (attention over `C_out` channels).
    pub fn init(
        res: &ResBlockConfig,
        attention: Option<&AttentionBlockConfig>,
        transformer: Option<&SpatialTransformerConfig>,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            res: res.init(device)?,
            attention: attention.map(|a| a.init(device)).transpose()?,
            transformer: transformer.map(|t| t.init(device)).transpose()?,
        })
    }

    /// Applies the residual block, then the attention or transformer if any (the transformer
    /// attends to `context`, which the U-Net supplies whenever it has transformers).
    ///
    /// # Panics
    /// When the block has a transformer and `context` is `None` (the U-Net checks this).
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        emb: Tensor<2>,
        context: Option<&AttentionContext>,
    ) -> Tensor<D> {
        let mut h = self.res.forward(x, emb);
        if let Some(attention) = &self.attention {
            h = attention.forward(h);
        }
        if let Some(transformer) = &self.transformer {
            h = transformer.forward(h, context.expect("the U-Net resolves a context"));
        }
        h
    }
}

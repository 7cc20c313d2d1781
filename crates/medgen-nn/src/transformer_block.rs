//! The basic transformer block: self-attention, cross-attention and feed-forward, each behind
//! a layer norm with a residual connection.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use super::cross_attention::{CrossAttention, CrossAttentionConfig};
use super::feed_forward::{FeedForward, FeedForwardConfig};
use super::null_context::AttentionContext;
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`BasicTransformerBlock`].
#[derive(Config, Debug)]
pub struct BasicTransformerBlockConfig {
    /// Width `C` of the tokens.
    pub dim: usize,
    /// Number of heads `H`.
    pub num_heads: usize,
    /// Channels per head `d`.
    pub head_dim: usize,
    /// Width `E` of the context tokens.
    pub cross_attention_dim: usize,
}

/// diffusers' / MONAI's `BasicTransformerBlock` (pre-norm, residual around each part):
///
/// ```text
/// x = x + SelfAttn(LN₁(x))
/// x = x + CrossAttn(LN₂(x), context, mask)
/// x = x + GEGLU-FF(LN₃(x))
/// ```
///
/// Shapes: `x` `[N, L_q, C]`, context `[N, L, E]`, mask `[N, L]`; the output has `x`'s shape.
#[derive(Module, Debug)]
pub struct BasicTransformerBlock {
    /// `LN₁`.
    pub norm1: LayerNorm,
    /// Self-attention.
    pub attn1: CrossAttention,
    /// `LN₂`.
    pub norm2: LayerNorm,
    /// Cross-attention to the context.
    pub attn2: CrossAttention,
    /// `LN₃`.
    pub norm3: LayerNorm,
    /// The feed-forward network.
    pub ff: FeedForward,
}

impl BasicTransformerBlockConfig {
    /// Builds the block on `device`; fails on a zero size.
    pub fn init(&self, device: &Device) -> Result<BasicTransformerBlock> {
        if self.dim == 0 {
            return Err(CoreError::config("dim", "must be positive"));
        }
        let attention = |context: Option<usize>| {
            CrossAttentionConfig::new(self.dim, self.head_dim)
                .with_num_heads(self.num_heads)
                .with_context_dim(context)
                .init(device)
        };
        let norm = || LayerNormConfig::new(self.dim).init(device);
        Ok(BasicTransformerBlock {
            norm1: norm(),
            attn1: attention(None)?,
            norm2: norm(),
            attn2: attention(Some(self.cross_attention_dim))?,
            norm3: norm(),
            ff: FeedForwardConfig::new(self.dim).init(device)?,
        })
    }
}

impl BasicTransformerBlock {
    /// Applies the block to `x` `[N, L_q, C]` with `context`; returns `[N, L_q, C]`.
    pub fn forward(&self, x: Tensor<3>, context: &AttentionContext) -> Tensor<3> {
        let x = x.clone().add(self.attn1.forward(self.norm1.forward(x), None, None));
        let x = x.clone().add(self.attn2.forward(
            self.norm2.forward(x),
            Some(context.tokens.clone()),
            context.mask.clone(),
        ));
        x.clone().add(self.ff.forward(self.norm3.forward(x)))
    }
}

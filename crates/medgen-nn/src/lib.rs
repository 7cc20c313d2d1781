//! Shared networks: the AdaGN U-Net and its building blocks, each in 2D and 3D from one design.
//!
//! Every block follows Burn's pattern (`FooConfig` deriving `Config`, `FooConfig::init(&device)`
//! returning `Result<Foo>`, `Foo::forward`) and is written once for `Tensor<D>` with `D = 4`
//! (`[N, C, H, W]`) or `D = 5` (`[N, C, D, H, W]`); [`SpatialConv`] is the single place where
//! the spatial rank is dispatched.
//!
//! - [`SinusoidalEmbedding`], [`TimeEmbedding`]: time features and their MLP.
//! - [`ResBlock`]: residual block with adaptive group-norm (scale–shift) conditioning.
//! - [`AttentionBlock`]: multi-head self-attention over spatial positions.
//! - [`Downsample`], [`Upsample`] (and [`upsample_nearest2x`]): resolution changes.
//! - [`ConditionEmbedding`]: class labels and conditioning vectors with learned nulls.
//! - [`CrossAttention`], [`FeedForward`], [`BasicTransformerBlock`], [`SpatialTransformer`],
//!   [`NullContext`]: cross-attention to a token context (`Condition::context`) with a learned
//!   null context for classifier-free guidance; [`ReportEncoder`] and [`ReportVocabulary`]
//!   turn structured reports into such a context.
//! - [`UNet`]: the time-conditioned U-Net, a [`medgen_core::TimeConditionedNetwork`].
//! - [`ControlNet`], [`ControlNetConditioningEmbedding`], [`ControlledUNet`]: a trainable copy
//!   of the U-Net encoder steering a frozen U-Net from a control image (`Condition::control`).

mod attention;
mod condition_embedding;
mod control_residuals;
mod controlled_unet;
mod controlnet;
mod controlnet_conditioning;
mod cross_attention;
mod downsample;
mod feed_forward;
mod group_norm;
mod mlp;
mod null_context;
mod report_encoder;
mod resblock;
mod spatial_conv;
mod spatial_transformer;
mod timestep;
mod transformer_block;
mod unet;
mod unet_block;
mod unet_encoder;
mod upsample;

pub use attention::{AttentionBlock, AttentionBlockConfig};
pub use condition_embedding::{ConditionEmbedding, ConditionEmbeddingConfig};
pub use control_residuals::ControlResiduals;
pub use controlled_unet::ControlledUNet;
pub use controlnet::{ControlNet, ControlNetConfig};
pub use controlnet_conditioning::{
    ControlNetConditioningEmbedding, ControlNetConditioningEmbeddingConfig,
};
pub use cross_attention::{CrossAttention, CrossAttentionConfig};
pub use downsample::{Downsample, DownsampleConfig};
pub use feed_forward::{FeedForward, FeedForwardConfig};
pub use mlp::{Mlp, MlpConfig};
pub use null_context::{AttentionContext, NullContext, NullContextConfig};
pub use report_encoder::{
    PAD_TOKEN, ReportEncoder, ReportEncoderConfig, ReportEncoderLayer, ReportVocabulary, UNK_TOKEN,
};
pub use resblock::{ResBlock, ResBlockConfig};
pub use spatial_conv::{SpatialConv, SpatialConvConfig};
pub use spatial_transformer::{SpatialTransformer, SpatialTransformerConfig};
pub use timestep::{
    SinusoidalEmbedding, SinusoidalEmbeddingConfig, TimeEmbedding, TimeEmbeddingConfig,
};
pub use transformer_block::{BasicTransformerBlock, BasicTransformerBlockConfig};
pub use unet::{UNet, UNetConfig};
pub use unet_block::UNetBlock;
pub use upsample::{Upsample, UpsampleConfig, upsample_nearest2x};

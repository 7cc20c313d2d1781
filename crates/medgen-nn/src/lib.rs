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
//! - [`UNet`]: the time-conditioned U-Net, a [`medgen_core::TimeConditionedNetwork`].

mod attention;
mod condition_embedding;
mod downsample;
mod group_norm;
mod mlp;
mod resblock;
mod spatial_conv;
mod timestep;
mod unet;
mod unet_block;
mod upsample;

pub use attention::{AttentionBlock, AttentionBlockConfig};
pub use condition_embedding::{ConditionEmbedding, ConditionEmbeddingConfig};
pub use downsample::{Downsample, DownsampleConfig};
pub use mlp::{Mlp, MlpConfig};
pub use resblock::{ResBlock, ResBlockConfig};
pub use spatial_conv::{SpatialConv, SpatialConvConfig};
pub use timestep::{
    SinusoidalEmbedding, SinusoidalEmbeddingConfig, TimeEmbedding, TimeEmbeddingConfig,
};
pub use unet::{UNet, UNetConfig};
pub use unet_block::UNetBlock;
pub use upsample::{Upsample, UpsampleConfig, upsample_nearest2x};

//! GAN networks, each in 2D (`[N, C, H, W]`) and 3D (`[N, C, D, H, W]`) from one design.
//!
//! Every network follows Burn's pattern (`FooConfig` deriving `Config`, validated
//! `FooConfig::init(&device) -> Result<Foo>`, `Foo::forward`) and picks 2D or 3D layers at
//! run time from `spatial_dims`, through [`medgen_nn::SpatialConv`] and its upsampling
//! counterpart [`SpatialConvTranspose`]. Inputs are checked on entry (rank, channels, spatial
//! sizes against the stride product, empty batches, condition parts, label ranges) and
//! rejected with a typed [`crate::GanError`].
//!
//! - Unconditional: [`DcganGenerator`], [`DcganDiscriminator`] (optionally spectrally
//!   normalised).
//! - Image-to-image (pix2pix): [`UNetGenerator`], [`PatchGan`], [`MultiScalePatchGan`].
//! - Conditional: [`ConditionalGenerator`] (class embedding and/or covariates concatenated to
//!   `z`), [`ProjectionDiscriminator`], [`AcganDiscriminator`] (auxiliary class head).
//! - Building blocks: [`DownBlock`], [`DiscriminatorConv`], [`DiscriminatorLinear`],
//!   [`FeatureNorm`] / [`NormKind`], [`SpatialConvTranspose`], and
//!   [`check_class_labels`].

mod acgan_discriminator;
mod class_labels;
mod condition_use;
mod conditional_generator;
mod conv_transpose;
mod dcgan_discriminator;
mod dcgan_generator;
mod disc_conv;
mod disc_linear;
mod down_block;
mod feature_norm;
mod multiscale_patch_gan;
mod patch_gan;
mod projection_discriminator;
pub(crate) mod rank;
mod unet_generator;

pub use acgan_discriminator::{AcganDiscriminator, AcganDiscriminatorConfig};
pub use class_labels::check_class_labels;
pub use conditional_generator::{ConditionalGenerator, ConditionalGeneratorConfig};
pub use conv_transpose::{SpatialConvTranspose, SpatialConvTransposeConfig};
pub use dcgan_discriminator::{DcganDiscriminator, DcganDiscriminatorConfig};
pub use dcgan_generator::{DcganGenerator, DcganGeneratorConfig};
pub use disc_conv::DiscriminatorConv;
pub use disc_linear::DiscriminatorLinear;
pub use down_block::{DownBlock, LEAKY_SLOPE};
pub use feature_norm::{FeatureNorm, NormKind};
pub use multiscale_patch_gan::{MultiScalePatchGan, MultiScalePatchGanConfig};
pub use patch_gan::{PatchGan, PatchGanConfig};
pub use projection_discriminator::{ProjectionDiscriminator, ProjectionDiscriminatorConfig};
pub use unet_generator::{UNetGenerator, UNetGeneratorConfig, UNetUpBlock};

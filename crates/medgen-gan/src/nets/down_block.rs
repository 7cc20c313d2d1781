//! The strided convolution block shared by the DCGAN and PatchGAN discriminators.

use burn::module::Module;
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};
use medgen_nn::SpatialConvConfig;

use super::disc_conv::DiscriminatorConv;
use super::feature_norm::{FeatureNorm, NormKind};
use crate::error::Result;
use crate::spectral_norm::SpectralNormConfig;

/// Slope of the leaky ReLU of the discriminators (Radford et al. 2016; Isola et al. 2017).
pub const LEAKY_SLOPE: f64 = 0.2;

/// `y = LeakyReLU_0.2(norm(conv_{k=4, stride}(x)))`, padding 1: halves each spatial size for
/// `stride = 2` (even sizes), shrinks it by one for `stride = 1`.
#[derive(Module, Debug)]
pub struct DownBlock {
    /// The 4-wide convolution.
    pub conv: DiscriminatorConv,
    /// Optional normalisation.
    pub norm: Option<FeatureNorm>,
}

impl DownBlock {
    /// Builds a block `channels[0] → channels[1]`.
    pub(crate) fn init(
        spatial_dims: usize,
        channels: [usize; 2],
        stride: usize,
        norm: NormKind,
        spectral: Option<&SpectralNormConfig>,
        device: &Device,
    ) -> Result<Self> {
        let conv_config = SpatialConvConfig::new(spatial_dims, channels)
            .with_kernel_size(4)
            .with_stride(stride)
            .with_padding(1);
        Ok(Self {
            conv: DiscriminatorConv::init(&conv_config, spectral, device)?,
            norm: norm.init(channels[1], device),
        })
    }

    /// `[N, C_in, *spatial]` → `[N, C_out, *spatial']`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let y = self.conv.forward(x);
        let y = match &self.norm {
            Some(norm) => norm.forward(y),
            None => y,
        };
        leaky_relu(y, LEAKY_SLOPE)
    }
}

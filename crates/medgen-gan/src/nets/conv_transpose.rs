//! A transposed convolution over 2 or 3 spatial axes, chosen at run time (the upsampling
//! counterpart of [`medgen_nn::SpatialConv`]).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{
    ConvTranspose2d, ConvTranspose2dConfig, ConvTranspose3d, ConvTranspose3dConfig,
};
use burn::tensor::{Device, Tensor};

use super::rank::{check_positive, check_spatial_dims, with_rank};
use crate::error::Result;

/// Configuration of a [`SpatialConvTranspose`]: cubic kernel `kernel_size`, the same `stride`
/// and `padding` on every axis. Output size per axis: `(n − 1)·stride − 2·padding +
/// kernel_size` (so `k = 4, s = 2, p = 1` doubles the size).
#[derive(Config, Debug)]
pub struct SpatialConvTransposeConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Input and output channels `[C_in, C_out]`.
    pub channels: [usize; 2],
    /// Side of the kernel.
    #[config(default = 4)]
    pub kernel_size: usize,
    /// Stride (the upsampling factor).
    #[config(default = 2)]
    pub stride: usize,
    /// Padding removed from both sides of every axis.
    #[config(default = 1)]
    pub padding: usize,
}

/// A 2D or 3D transposed convolution `y = Wᵀ ⋆_s x + b`, Burn's default initialisation.
#[derive(Module, Debug)]
pub enum SpatialConvTranspose {
    /// Over `[N, C, H, W]`.
    ConvTranspose2d(ConvTranspose2d),
    /// Over `[N, C, D, H, W]`.
    ConvTranspose3d(ConvTranspose3d),
}

impl SpatialConvTransposeConfig {
    /// Builds the layer; fails unless `spatial_dims ∈ {2, 3}` and channels, kernel and stride
    /// are positive.
    pub fn init(&self, device: &Device) -> Result<SpatialConvTranspose> {
        check_spatial_dims(self.spatial_dims)?;
        check_positive(self.channels[0], "channels[0]")?;
        check_positive(self.channels[1], "channels[1]")?;
        check_positive(self.kernel_size, "kernel_size")?;
        check_positive(self.stride, "stride")?;
        let (k, s, p) = (self.kernel_size, self.stride, self.padding);
        Ok(if self.spatial_dims == 2 {
            SpatialConvTranspose::ConvTranspose2d(
                ConvTranspose2dConfig::new(self.channels, [k; 2])
                    .with_stride([s; 2])
                    .with_padding([p; 2])
                    .init(device),
            )
        } else {
            SpatialConvTranspose::ConvTranspose3d(
                ConvTranspose3dConfig::new(self.channels, [k; 3])
                    .with_stride([s; 3])
                    .with_padding([p; 3])
                    .init(device),
            )
        })
    }
}

impl SpatialConvTranspose {
    /// `[N, C_in, *spatial]` → `[N, C_out, *spatial']`.
    ///
    /// # Panics
    /// If `D` is not the layer's rank (networks check their input on entry).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::ConvTranspose2d(conv) => with_rank(conv.forward(with_rank(x))),
            Self::ConvTranspose3d(conv) => with_rank(conv.forward(with_rank(x))),
        }
    }
}

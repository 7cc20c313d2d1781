//! The ControlNet's conditioning embedding: a small convolution stack from the control image
//! down to the U-Net's first feature map.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`ControlNetConditioningEmbedding`].
#[derive(Config, Debug)]
pub struct ControlNetConditioningEmbeddingConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels `C_hint` of the control image (MONAI's `conditioning_embedding_in_channels`).
    pub in_channels: usize,
    /// Channels of the stages (MONAI's `conditioning_embedding_num_channels`, non-empty): each
    /// stage after the first halves the resolution.
    #[config(default = "vec![16]")]
    pub num_channels: Vec<usize>,
    /// Channels of the output: the U-Net's first feature map (its base channels).
    pub out_channels: usize,
}

/// MONAI's `ControlNetConditioningEmbedding` (diffusers' of the same name), in 2D and 3D:
///
/// ```text
/// h = SiLU(Conv3x3(hint))                                   C_hint → c_0
/// for k = 1..K−1:  h = SiLU(Conv3x3(h)); h = SiLU(Conv3x3_stride2(h))   c_{k−1} → c_k
/// y = ZeroConv3x3(h)                                        c_{K−1} → out_channels, zero at init
/// ```
///
/// with `K = num_channels.len()`. Shapes: hint `[N, C_hint, *spatial · 2^(K−1)]`, `y`
/// `[N, out_channels, *spatial]`.
#[derive(Module, Debug)]
pub struct ControlNetConditioningEmbedding {
    /// First convolution, `C_hint → c_0`.
    pub conv_in: SpatialConv,
    /// Pairs of convolutions (same resolution, then stride 2), flattened.
    pub blocks: Vec<SpatialConv>,
    /// Last convolution, `c_{K−1} → out_channels`, zero at init.
    pub conv_out: SpatialConv,
}

impl ControlNetConditioningEmbeddingConfig {
    /// Builds the embedding on `device`; fails on an empty `num_channels`, a zero channel count
    /// or a bad `spatial_dims`.
    pub fn init(&self, device: &Device) -> Result<ControlNetConditioningEmbedding> {
        let channels = &self.num_channels;
        if channels.is_empty() || channels.contains(&0) {
            return Err(CoreError::config(
                "conditioning_embedding_num_channels",
                "must be non-empty with positive entries",
            ));
        }
        if channels.len() > 16 {
            return Err(CoreError::config(
                "conditioning_embedding_num_channels",
                "at most 16 stages",
            ));
        }
        let conv = |c: [usize; 2]| SpatialConvConfig::new(self.spatial_dims, c);
        let mut blocks = Vec::with_capacity(2 * (channels.len() - 1));
        for pair in channels.windows(2) {
            blocks.push(conv([pair[0], pair[0]]).init(device)?);
            blocks.push(conv([pair[0], pair[1]]).with_stride(2).init(device)?);
        }
        Ok(ControlNetConditioningEmbedding {
            conv_in: conv([self.in_channels, channels[0]]).init(device)?,
            blocks,
            conv_out: conv([channels[channels.len() - 1], self.out_channels])
                .init(device)?
                .zeroed(),
        })
    }
}

impl ControlNetConditioningEmbedding {
    /// Channels `C_hint` of the control image.
    pub fn in_channels(&self) -> usize {
        self.conv_in.channels()[0]
    }

    /// The factor `2^(K−1)` by which the control image is larger than the U-Net's sample.
    pub fn downsampling_factor(&self) -> usize {
        1 << (self.blocks.len() / 2)
    }

    /// Embeds the control image `[N, C_hint, *spatial · 2^(K−1)]` → `[N, out_channels,
    /// *spatial]`.
    ///
    /// # Panics
    /// On shapes that do not fit (the ControlNet checks the control image on entry).
    pub fn forward<const D: usize>(&self, hint: Tensor<D>) -> Tensor<D> {
        let mut h = silu(self.conv_in.forward(hint));
        for conv in &self.blocks {
            h = silu(conv.forward(h));
        }
        self.conv_out.forward(h)
    }
}

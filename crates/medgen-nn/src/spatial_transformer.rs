//! The spatial transformer: transformer blocks with cross-attention run over the positions of a
//! 2D or 3D feature map.

use burn::config::Config;
use burn::module::Module;
use burn::nn::GroupNorm;
use burn::tensor::{Device, Tensor};

use super::group_norm::group_norm_config;
use super::null_context::AttentionContext;
use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use super::transformer_block::{BasicTransformerBlock, BasicTransformerBlockConfig};
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`SpatialTransformer`].
#[derive(Config, Debug)]
pub struct SpatialTransformerConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels `C` of the feature map.
    pub channels: usize,
    /// Width `E` of the context tokens (MONAI's `cross_attention_dim`).
    pub cross_attention_dim: usize,
    /// Number of heads `H`, used when `num_head_channels` is `None` (must divide `C`).
    #[config(default = 1)]
    pub num_heads: usize,
    /// Channels per head `d` (MONAI's `num_head_channels`, must divide `C`); when set, the
    /// block has `C / d` heads.
    #[config(default = "None")]
    pub num_head_channels: Option<usize>,
    /// Transformer blocks in the stack (MONAI's `transformer_num_layers`).
    #[config(default = 1)]
    pub num_layers: usize,
    /// Groups of the input group norm (must divide `C`).
    #[config(default = 32)]
    pub groups: usize,
}

/// MONAI's `SpatialTransformer` (diffusers' `Transformer2DModel` with convolutional
/// projections), in 2D and 3D:
///
/// ```text
/// h = Conv1x1_in(GN(x))                      [N, C, *spatial] → tokens [N, L = ∏ spatial, C]
/// h = Block_K(… Block_1(h, context) …)       BasicTransformerBlock × num_layers
/// y = x + Conv1x1_out(h)                     Conv1x1_out zero-initialised (MONAI)
/// ```
///
/// The group norm uses `ε = 10⁻⁶` (MONAI). Because the output projection starts at zero, a
/// freshly built block is the identity; it departs from it as training moves that projection.
/// Shapes: `x`, `y` `[N, C, *spatial]`, context `[N, L_c, E]`, mask `[N, L_c]`.
///
/// In a U-Net, set `cross_attention_dim` on the [`UNetConfig`](crate::UNetConfig) and pass the
/// context in the condition:
///
/// ```
/// use medgen_core::burn::tensor::{Device, Tensor};
/// use medgen_core::{Condition, CoreError, TimeConditionedNetwork};
/// use medgen_nn::UNetConfig;
///
/// let device = Device::default();
/// let unet = UNetConfig::new(1, 1)
///     .with_base_channels(8)
///     .with_channel_mults(vec![1, 2])
///     .with_num_res_blocks(1)
///     .with_attention_resolutions(vec![2])
///     .with_groups(4)
///     .with_cross_attention_dim(Some(16)) // MONAI's with_conditioning=True, cross_attention_dim=16
///     .with_num_head_channels(Some(8))
///     .init(&device)?;
/// let context = Tensor::<3>::zeros([2, 5, 16], &device); // 5 tokens of width 16 per item
/// let padding = Tensor::<2>::from_floats([[1., 1., 1., 0., 0.], [1., 1., 1., 1., 1.]], &device);
/// let condition = Condition::none().with_context(context).with_context_mask(padding.bool());
/// let x = Tensor::<4>::zeros([2, 1, 8, 8], &device);
/// let y = unet.evaluate(x, Tensor::from_floats([1.0, 2.0], &device), &condition)?;
/// assert_eq!(y.dims(), [2, 1, 8, 8]);
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Module, Debug)]
pub struct SpatialTransformer {
    /// Group norm over `C` channels.
    pub norm: GroupNorm,
    /// 1x1 convolution `C → C` into the token space.
    pub proj_in: SpatialConv,
    /// The transformer blocks.
    pub transformer_blocks: Vec<BasicTransformerBlock>,
    /// 1x1 convolution `C → C` back to the feature map, zero at init.
    pub proj_out: SpatialConv,
}

impl SpatialTransformerConfig {
    /// The number of heads and the channels per head this configuration gives, or a typed error
    /// naming `num_head_channels` / `num_heads` when they do not divide the channels.
    pub fn heads(&self) -> Result<(usize, usize)> {
        let c = self.channels;
        match self.num_head_channels {
            Some(d) if d > 0 && c.is_multiple_of(d) => Ok((c / d, d)),
            Some(d) => Err(CoreError::config(
                "num_head_channels",
                format!("{d} channels per head must divide {c} channels"),
            )),
            None if self.num_heads > 0 && c.is_multiple_of(self.num_heads) => {
                Ok((self.num_heads, c / self.num_heads))
            }
            None => Err(CoreError::config(
                "num_heads",
                format!("{} heads must divide {c} channels", self.num_heads),
            )),
        }
    }

    /// Builds the block on `device`; fails on a bad head split, group count, `spatial_dims`,
    /// zero `num_layers` or zero `cross_attention_dim`.
    pub fn init(&self, device: &Device) -> Result<SpatialTransformer> {
        let (heads, head_dim) = self.heads()?;
        if self.num_layers == 0 {
            return Err(CoreError::config("transformer_num_layers", "must be at least 1"));
        }
        if self.cross_attention_dim == 0 {
            return Err(CoreError::config("cross_attention_dim", "must be positive"));
        }
        let c = self.channels;
        let pointwise = || {
            SpatialConvConfig::new(self.spatial_dims, [c, c])
                .with_kernel_size(1)
                .with_padding(0)
                .init(device)
        };
        let block = BasicTransformerBlockConfig::new(c, heads, head_dim, self.cross_attention_dim);
        Ok(SpatialTransformer {
            norm: group_norm_config(self.groups, c)?.with_epsilon(1e-6).init(device),
            proj_in: pointwise()?,
            transformer_blocks: (0..self.num_layers)
                .map(|_| block.init(device))
                .collect::<Result<_>>()?,
            proj_out: pointwise()?.zeroed(),
        })
    }
}

impl SpatialTransformer {
    /// The context width `E` of its cross-attention.
    pub fn cross_attention_dim(&self) -> usize {
        self.transformer_blocks[0].attn2.context_dim()
    }

    /// Applies the block to `x` `[N, C, *spatial]` attending to `context`; returns `x`'s shape.
    ///
    /// # Panics
    /// On shapes that do not fit the block (the U-Net checks its inputs on entry).
    pub fn forward<const D: usize>(&self, x: Tensor<D>, context: &AttentionContext) -> Tensor<D> {
        let shape = x.shape();
        let dims = shape.as_slice();
        let (n, c) = (dims[0], dims[1]);
        let positions: usize = dims[2..].iter().product();
        let h = self.proj_in.forward(self.norm.forward(x.clone()));
        let mut tokens = h.reshape([n, c, positions]).swap_dims(1, 2);
        for block in &self.transformer_blocks {
            tokens = block.forward(tokens, context);
        }
        let h: Tensor<D> = tokens.swap_dims(1, 2).reshape(shape);
        x.add(self.proj_out.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use medgen_testing::test_device;

    fn normal<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
    }

    #[test]
    fn starts_as_the_identity_and_then_depends_on_the_context() {
        let device = test_device();
        let config = SpatialTransformerConfig::new(3, 8, 6)
            .with_num_head_channels(Some(4))
            .with_num_layers(2)
            .with_groups(4);
        assert_eq!(config.heads().unwrap(), (2, 4));
        let mut block = config.init(&device).unwrap();
        assert_eq!(block.cross_attention_dim(), 6);
        let x = normal([2, 8, 2, 2, 2], &device);
        let context = AttentionContext { tokens: normal([2, 3, 6], &device), mask: None };
        let y = block.forward(x.clone(), &context);
        assert_eq!(y.dims(), [2, 8, 2, 2, 2]);
        assert_eq!(y.clone().sub(x.clone()).abs().max().into_scalar::<f32>(), 0.0);

        block.proj_out = SpatialConvConfig::new(3, [8, 8])
            .with_kernel_size(1)
            .with_padding(0)
            .init(&device)
            .unwrap();
        let y = block.forward(x.clone(), &context);
        let other = AttentionContext { tokens: normal([2, 3, 6], &device), mask: None };
        let y2 = block.forward(x, &other);
        assert!(y.sub(y2).abs().max().into_scalar::<f32>() > 1e-4);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            SpatialTransformerConfig::new(2, 8, 4).with_num_heads(3).with_groups(4),
            SpatialTransformerConfig::new(2, 8, 4).with_num_head_channels(Some(3)).with_groups(4),
            SpatialTransformerConfig::new(2, 8, 4).with_num_layers(0).with_groups(4),
            SpatialTransformerConfig::new(2, 8, 0).with_groups(4),
            SpatialTransformerConfig::new(2, 8, 4).with_groups(3),
            SpatialTransformerConfig::new(4, 8, 4).with_groups(4),
        ] {
            assert!(matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })));
        }
    }
}

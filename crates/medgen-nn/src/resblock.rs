//! The residual block of the U-Net, conditioned on an embedding by adaptive group norm.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, GroupNorm, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::group_norm::group_norm_config;
use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`ResBlock`].
#[derive(Config, Debug)]
pub struct ResBlockConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Input channels `C_in`.
    pub in_channels: usize,
    /// Output channels `C_out`.
    pub out_channels: usize,
    /// Width `E` of the conditioning embedding (time plus condition).
    pub emb_dim: usize,
    /// Groups of both group norms (must divide `C_in` and `C_out`).
    #[config(default = 32)]
    pub groups: usize,
    /// Dropout probability before the second convolution, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Residual block with adaptive group-norm (scale–shift) conditioning, as in improved DDPM /
/// guided-diffusion (`use_scale_shift_norm=True`):
///
/// ```text
/// h  = Conv3x3(SiLU(GN₁(x)))
/// [s, b] = Linear(SiLU(e))                       (s, b ∈ R^{C_out}, scale first)
/// h  = Conv3x3(Dropout(SiLU(GN₂(h) · (1 + s) + b)))
/// y  = skip(x) + h,     skip = identity if C_in = C_out, else a 1x1 convolution
/// ```
///
/// Shapes: `x` `[N, C_in, *spatial]`, `e` `[N, E]`, `y` `[N, C_out, *spatial]`, with 2 or 3
/// spatial axes.
#[derive(Module, Debug)]
pub struct ResBlock {
    /// `GN₁` over `C_in` channels.
    pub norm_in: GroupNorm,
    /// First 3x3 convolution, `C_in → C_out`.
    pub conv_in: SpatialConv,
    /// Projection of the embedding to `[scale, shift]`, `E → 2·C_out`.
    pub emb_proj: Linear,
    /// `GN₂` over `C_out` channels.
    pub norm_out: GroupNorm,
    /// Dropout before the second convolution.
    pub dropout: Dropout,
    /// Second 3x3 convolution, `C_out → C_out`.
    pub conv_out: SpatialConv,
    /// 1x1 convolution on the residual path when `C_in ≠ C_out`.
    pub skip: Option<SpatialConv>,
}

impl ResBlockConfig {
    /// Builds the block on `device`; fails on non-positive sizes, a group count that does not
    /// divide both channel counts, a bad `spatial_dims` or a dropout outside `[0, 1)`.
    pub fn init(&self, device: &Device) -> Result<ResBlock> {
        if self.emb_dim == 0 {
            return Err(CoreError::config("emb_dim", "must be positive"));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(CoreError::config(
                "dropout",
                format!("must lie in [0, 1), got {}", self.dropout),
            ));
        }
        let (c_in, c_out) = (self.in_channels, self.out_channels);
        let conv = |channels: [usize; 2]| SpatialConvConfig::new(self.spatial_dims, channels);
        let skip = if c_in == c_out {
            None
        } else {
            Some(conv([c_in, c_out]).with_kernel_size(1).with_padding(0).init(device)?)
        };
        Ok(ResBlock {
            norm_in: group_norm_config(self.groups, c_in)?.init(device),
            conv_in: conv([c_in, c_out]).init(device)?,
            emb_proj: LinearConfig::new(self.emb_dim, 2 * c_out).init(device),
            norm_out: group_norm_config(self.groups, c_out)?.init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            conv_out: conv([c_out, c_out]).init(device)?,
            skip,
        })
    }
}

impl ResBlock {
    /// Applies the block: `x` `[N, C_in, *spatial]`, `emb` `[N, E]` → `[N, C_out, *spatial]`.
    ///
    /// # Panics
    /// On shapes that do not fit the block (checked on entry by the U-Net).
    pub fn forward<const D: usize>(&self, x: Tensor<D>, emb: Tensor<2>) -> Tensor<D> {
        let h = self.conv_in.forward(silu(self.norm_in.forward(x.clone())));

        let scale_shift = self.emb_proj.forward(silu(emb));
        let [batch, width] = scale_shift.dims();
        let mut shape = [1; D];
        shape[0] = batch;
        shape[1] = width;
        let scale_shift = scale_shift.reshape(shape);
        let channels = width / 2;
        let scale = scale_shift.clone().narrow(1, 0, channels);
        let shift = scale_shift.narrow(1, channels, channels);

        let h = self.norm_out.forward(h).mul(scale.add_scalar(1.0)).add(shift);
        let h = self.conv_out.forward(self.dropout.forward(silu(h)));
        let residual = match &self.skip {
            Some(skip) => skip.forward(x),
            None => x,
        };
        residual.add(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn block(spatial_dims: usize, c_in: usize, c_out: usize) -> ResBlock {
        ResBlockConfig::new(spatial_dims, c_in, c_out, 6)
            .with_groups(2)
            .init(&test_device())
            .unwrap()
    }

    #[test]
    fn parameter_count_matches_layout() {
        // GN₁ 2·4, conv 4·8·9+8, Linear 6·16+16, GN₂ 2·8, conv 8·8·9+8, skip 4·8+8.
        let expected = 8 + (288 + 8) + (96 + 16) + 16 + (576 + 8) + (32 + 8);
        assert_eq!(block(2, 4, 8).num_params(), expected);
        // Same channels: no skip convolution; 3x3x3 kernels.
        let expected = 8 + (432 + 4) + (6 * 8 + 8) + 8 + (432 + 4);
        assert_eq!(block(3, 4, 4).num_params(), expected);
    }

    #[test]
    fn shapes_in_2d_and_3d() {
        let device = test_device();
        let emb = Tensor::<2>::ones([2, 6], &device);
        let y = block(2, 4, 8).forward(Tensor::<4>::ones([2, 4, 4, 3], &device), emb.clone());
        assert_eq!(y.dims(), [2, 8, 4, 3]);
        let y = block(3, 4, 4).forward(Tensor::<5>::ones([2, 4, 2, 4, 3], &device), emb);
        assert_eq!(y.dims(), [2, 4, 2, 4, 3]);
    }

    /// With the embedding projection zeroed except for the shift bias `b`, the block must equal
    /// the same block evaluated with `GN₂(h) + b` computed by hand.
    #[test]
    fn shift_enters_after_the_second_norm() {
        use burn::module::Param;
        let device = test_device();
        let mut block = block(2, 2, 2);
        let x = Tensor::<4>::random(
            [1, 2, 3, 3],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let emb = Tensor::<2>::ones([1, 6], &device);
        block.emb_proj.weight = Param::from_tensor(Tensor::zeros([6, 4], &device));
        // [scale₀, scale₁, shift₀, shift₁]
        block.emb_proj.bias =
            Some(Param::from_tensor(Tensor::from_floats([1.0, 1.0, 0.5, -0.25], &device)));
        let y = block.forward(x.clone(), emb);

        let h = block.conv_in.forward(silu(block.norm_in.forward(x.clone())));
        let shift = Tensor::<1>::from_floats([0.5, -0.25], &device).reshape([1, 2, 1, 1]);
        let h = block.norm_out.forward(h).mul_scalar(2.0).add(shift);
        let expected = x.add(block.conv_out.forward(silu(h)));
        let diff = y.sub(expected).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "max difference {diff}");
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            ResBlockConfig::new(2, 6, 8, 4).with_groups(4),
            ResBlockConfig::new(2, 8, 8, 0),
            ResBlockConfig::new(2, 8, 8, 4).with_dropout(1.0),
            ResBlockConfig::new(4, 8, 8, 4).with_groups(4),
            ResBlockConfig::new(2, 8, 8, 4).with_groups(0),
        ] {
            assert!(matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })));
        }
    }
}

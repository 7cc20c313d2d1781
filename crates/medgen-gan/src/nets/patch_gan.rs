//! The PatchGAN discriminator of pix2pix (Isola et al. 2017), 2D or 3D.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::{Condition, CoreError};
use medgen_nn::SpatialConvConfig;

use super::disc_conv::DiscriminatorConv;
use super::down_block::DownBlock;
use super::feature_norm::NormKind;
use super::rank::{check_image_input, check_positive, check_spatial_dims};
use crate::error::{GanError, Result};
use crate::network::{Discriminator, DiscriminatorOutput};
use crate::spectral_norm::SpectralNormConfig;

/// Configuration of a [`PatchGan`].
#[derive(Config, Debug)]
pub struct PatchGanConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels of the judged image `x`.
    pub in_channels: usize,
    /// Channels of the conditioning image (the pix2pix source), concatenated before `x`;
    /// 0 for an unconditional PatchGAN.
    #[config(default = 0)]
    pub condition_channels: usize,
    /// Channels of the first convolution (`ndf`).
    #[config(default = 64)]
    pub base_channels: usize,
    /// Number `L ≥ 1` of stride-2 layers; `L = 3` is the 70 × 70 PatchGAN.
    #[config(default = 3)]
    pub num_layers: usize,
    /// Normalisation after every convolution but the first and the last.
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
    /// Spectral normalisation of every convolution, if set.
    #[config(default = "None")]
    pub spectral_norm: Option<SpectralNormConfig>,
}

/// PatchGAN: a fully convolutional discriminator whose output is a map of logits, each
/// judging one receptive-field patch of the input (70 × 70 pixels for `L = 3`):
///
/// ```text
/// h₀ = [c, x]                                               (c: condition image, if any)
/// h₁ = LeakyReLU_0.2(Conv_{4,2,1}(h₀))                      ndf channels
/// hᵢ = LeakyReLU_0.2(norm(Conv_{4,2,1}(hᵢ₋₁)))              ndf·min(2^{i−1}, 8)   (i = 2 … L)
/// h' = LeakyReLU_0.2(norm(Conv_{4,1,1}(h_L)))               ndf·min(2^L, 8)
/// ℓ  = Conv_{4,1,1}(h')                                      [N, 1, s/2^L − 2, …]
/// ```
///
/// Each spatial side `s` must be a multiple of `2^L` with `s / 2^L ≥ 3`. As a
/// [`Discriminator`] it returns the map flattened to `[N, P]`, `P = (s/2^L − 2)^d`.
#[derive(Module, Debug)]
pub struct PatchGan {
    /// The `L` strided blocks and the stride-1 block.
    pub blocks: Vec<DownBlock>,
    /// The final stride-1 convolution to one channel.
    pub output: DiscriminatorConv,
    /// Number of spatial axes.
    pub spatial_dims: usize,
    /// Channels of `x`.
    pub in_channels: usize,
    /// Channels of the conditioning image (0: none).
    pub condition_channels: usize,
    /// Number of stride-2 layers `L`.
    pub num_layers: usize,
}

impl PatchGanConfig {
    /// Builds the discriminator; fails with [`CoreError::InvalidConfig`] on zero sizes, a
    /// spatial rank other than 2 or 3, or an invalid spectral-norm configuration.
    pub fn init(&self, device: &Device) -> Result<PatchGan> {
        check_spatial_dims(self.spatial_dims)?;
        check_positive(self.in_channels, "in_channels")?;
        check_positive(self.base_channels, "base_channels")?;
        check_positive(self.num_layers, "num_layers")?;
        if self.num_layers > 16 {
            return Err(CoreError::config("num_layers", "must be at most 16").into());
        }
        let spectral = self.spectral_norm.as_ref();
        let width = |i: usize| self.base_channels * (1usize << i.min(3));
        let mut blocks = Vec::with_capacity(self.num_layers + 1);
        let mut c_in = self.in_channels + self.condition_channels;
        for i in 0..=self.num_layers {
            let c_out = width(i);
            let norm = if i == 0 { NormKind::None } else { self.norm };
            let stride = if i < self.num_layers { 2 } else { 1 };
            blocks.push(DownBlock::init(
                self.spatial_dims,
                [c_in, c_out],
                stride,
                norm,
                spectral,
                device,
            )?);
            c_in = c_out;
        }
        let output_config = SpatialConvConfig::new(self.spatial_dims, [c_in, 1])
            .with_kernel_size(4)
            .with_padding(1);
        Ok(PatchGan {
            blocks,
            output: DiscriminatorConv::init(&output_config, spectral, device)?,
            spatial_dims: self.spatial_dims,
            in_channels: self.in_channels,
            condition_channels: self.condition_channels,
            num_layers: self.num_layers,
        })
    }
}

impl PatchGan {
    /// The stride product `2^L`: every spatial side must be a multiple of it.
    pub fn stride_product(&self) -> usize {
        1 << self.num_layers
    }

    /// The logit map `[N, 1, s/2^L − 2, …]` of `x` `[N, C, s, …]` and the optional
    /// conditioning image `[N, C_c, s, …]` (concatenated on channels before `x`).
    ///
    /// Fails with a typed error for a wrong rank, channel count, or spatial size, an empty
    /// batch, or a missing / unexpected / mismatched conditioning image.
    pub fn logit_map<const D: usize>(
        &self,
        x: Tensor<D>,
        condition_image: Option<&Tensor<D>>,
    ) -> Result<Tensor<D>> {
        let factor = self.stride_product();
        let size_ok = |n: usize| n.is_multiple_of(factor) && n / factor >= 3;
        let rule = format!("a multiple of {factor} and at least {}", 3 * factor);
        check_image_input(
            &x,
            self.spatial_dims,
            self.in_channels,
            "PatchGAN input",
            size_ok,
            &rule,
        )?;
        let h = match (condition_image, self.condition_channels) {
            (None, 0) => x,
            (Some(c), k) if k > 0 => {
                let mut expected = x.dims();
                expected[1] = k;
                medgen_core::check::ensure_shape(&c.dims(), &expected, "condition.image")?;
                Tensor::cat(vec![c.clone(), x], 1)
            }
            (given, _) => {
                let reason = if given.is_some() {
                    "was built without a conditioning image (condition_channels = 0)"
                } else {
                    "needs a conditioning image in condition.image"
                };
                return Err(GanError::ConditionMismatch {
                    network: "PatchGan",
                    reason: reason.into(),
                });
            }
        };
        let h = self.blocks.iter().fold(h, |h, block| block.forward(h));
        Ok(self.output.forward(h))
    }
}

impl<const D: usize> Discriminator<D> for PatchGan {
    /// Patch logits `[N, P]`; uses `condition.image` (the pix2pix source) when built with
    /// `condition_channels > 0`; class and embedding parts are rejected.
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput> {
        if condition.class.is_some() || condition.embedding.is_some() {
            return Err(GanError::ConditionMismatch {
                network: "PatchGan",
                reason: "class labels and embeddings are not used; pass only condition.image"
                    .into(),
            });
        }
        let map = self.logit_map(x, condition.image.as_ref())?;
        let n = map.dims()[0];
        Ok(DiscriminatorOutput { logits: map.reshape([n as i64, -1]), class_logits: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> PatchGanConfig {
        PatchGanConfig::new(spatial_dims, 1)
            .with_condition_channels(1)
            .with_base_channels(2)
            .with_num_layers(1)
    }

    #[test]
    fn logit_map_shapes_in_2d_and_3d() {
        let device = test_device();
        let d2 = config(2).init(&device).unwrap();
        let source = Tensor::<4>::ones([2, 1, 8, 8], &device);
        let cond = Condition::none().with_image(source.clone());
        let out = d2.discriminate(source.clone(), &cond).unwrap();
        assert_eq!(out.logits.dims(), [2, 4]); // (8/2 − 2)² patches
        let d3 =
            config(3).with_spectral_norm(Some(SpectralNormConfig::new())).init(&device).unwrap();
        let source = Tensor::<5>::ones([1, 1, 8, 8, 8], &device);
        let map = d3.logit_map(source.clone(), Some(&source)).unwrap();
        assert_eq!(map.dims(), [1, 1, 2, 2, 2]);
        // The default depth L = 3 (the 70 × 70 PatchGAN) on 32 × 32 leaves a 2 × 2 map.
        let deep = PatchGanConfig::new(2, 1).with_base_channels(2).init(&device).unwrap();
        let map = deep.logit_map(Tensor::<4>::ones([1, 1, 32, 32], &device), None).unwrap();
        assert_eq!(map.dims(), [1, 1, 2, 2]);
        assert_eq!(deep.blocks.len(), 4);
    }

    #[test]
    fn bad_sizes_and_conditions_are_typed_errors() {
        let device = test_device();
        let d = config(2).init(&device).unwrap();
        let x = Tensor::<4>::ones([1, 1, 8, 8], &device);
        assert!(matches!(
            d.discriminate(x.clone(), &Condition::none()),
            Err(GanError::ConditionMismatch { .. })
        ));
        let small = Tensor::<4>::ones([1, 1, 4, 4], &device);
        assert!(d.logit_map(small.clone(), Some(&small)).is_err());
        let odd = Tensor::<4>::ones([1, 1, 9, 9], &device);
        assert!(d.logit_map(odd.clone(), Some(&odd)).is_err());
        let wrong_cond = Tensor::<4>::ones([1, 2, 8, 8], &device);
        assert!(d.logit_map(x, Some(&wrong_cond)).is_err());
        assert!(PatchGanConfig::new(2, 0).init(&device).is_err());
    }
}

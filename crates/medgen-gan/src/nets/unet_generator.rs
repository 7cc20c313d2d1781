//! The U-Net generator of pix2pix (Isola et al. 2017), 2D or 3D.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};
use medgen_core::{Condition, CoreError};
use medgen_nn::{SpatialConv, SpatialConvConfig};

use super::condition_use::reject_condition;
use super::conv_transpose::{SpatialConvTranspose, SpatialConvTransposeConfig};
use super::down_block::LEAKY_SLOPE;
use super::feature_norm::{FeatureNorm, NormKind};
use super::rank::{check_image_input, check_positive, check_spatial_dims};
use crate::error::Result;
use crate::network::Generator;

/// Configuration of a [`UNetGenerator`].
#[derive(Config, Debug)]
pub struct UNetGeneratorConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels of the source image.
    pub in_channels: usize,
    /// Channels of the translated image.
    pub out_channels: usize,
    /// Number `L ≥ 2` of 2× downsamplings; every spatial side must be a multiple of `2^L`
    /// (pix2pix uses 8 for 256 × 256 images).
    #[config(default = 5)]
    pub num_downs: usize,
    /// Channels of the outermost level (`ngf`); level `i` has `ngf · 2^{min(i, 3)}`.
    #[config(default = 64)]
    pub base_channels: usize,
    /// Normalisation of the inner levels (pix2pix: batch norm).
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
    /// Dropout probability of the decoder blocks that follow the innermost one.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// How many decoder blocks after the innermost one use dropout (pix2pix: 3).
    #[config(default = 3)]
    pub dropout_blocks: usize,
}

/// One decoder level: `norm(ConvT_{4,2,1}(ReLU(input)))`, optional dropout.
#[derive(Module, Debug)]
pub struct UNetUpBlock {
    /// The 2× transposed convolution.
    pub conv: SpatialConvTranspose,
    /// Normalisation (absent at the outermost level).
    pub norm: Option<FeatureNorm>,
    /// Dropout (pix2pix's noise source), if this level has it.
    pub dropout: Option<Dropout>,
}

/// pix2pix U-Net: `x̂ = G(x)` for a source image `x` `[N, C_in, s, …]` → `[N, C_out, s, …]`
/// in `[−1, 1]`, with widths `w_i = ngf · 2^{min(i,3)}`:
///
/// ```text
/// e₀ = Conv_{4,2,1}(x)                                   w₀ channels, s/2
/// eᵢ = norm(Conv_{4,2,1}(LeakyReLU_0.2(eᵢ₋₁)))            wᵢ channels, s/2^{i+1}  (no norm at i = L−1)
/// d_{L−1} = norm(ConvT_{4,2,1}(ReLU(e_{L−1})))           w_{L−2} channels
/// dᵢ = norm(ConvT_{4,2,1}(ReLU([eᵢ, dᵢ₊₁])))              w_{i−1} channels        (i = L−2 … 1)
/// x̂ = tanh(ConvT_{4,2,1}(ReLU([e₀, d₁])))                 C_out channels, s
/// ```
///
/// `[a, b]` is concatenation on channels (the skip connections). Dropout with probability `p`
/// follows the norm of the `dropout_blocks` decoder levels after the innermost one; it is
/// active in training (autodiff device) and off after `model.valid()`.
#[derive(Module, Debug)]
pub struct UNetGenerator {
    /// The `L` encoder convolutions, outermost first.
    pub down_convs: Vec<SpatialConv>,
    /// Norms of the encoder levels `1 … L−2` (index `i − 1`).
    pub down_norms: Vec<FeatureNorm>,
    /// The `L` decoder levels, innermost first.
    pub ups: Vec<UNetUpBlock>,
    /// Number of spatial axes.
    pub spatial_dims: usize,
    /// Source channels.
    pub in_channels: usize,
}

impl UNetGeneratorConfig {
    /// Builds the generator; fails with [`CoreError::InvalidConfig`] on zero sizes,
    /// `num_downs < 2`, a spatial rank other than 2 or 3, or `dropout ∉ [0, 1)`.
    pub fn init(&self, device: &Device) -> Result<UNetGenerator> {
        check_spatial_dims(self.spatial_dims)?;
        check_positive(self.in_channels, "in_channels")?;
        check_positive(self.out_channels, "out_channels")?;
        check_positive(self.base_channels, "base_channels")?;
        if !(2..=16).contains(&self.num_downs) {
            return Err(CoreError::config("num_downs", "must lie in 2..=16").into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::config("dropout", "must lie in [0, 1)").into());
        }
        let (l, d) = (self.num_downs, self.spatial_dims);
        let width = |i: usize| self.base_channels << i.min(3);
        let mut down_convs = Vec::with_capacity(l);
        let mut down_norms = Vec::with_capacity(l - 2);
        for i in 0..l {
            let c_in = if i == 0 { self.in_channels } else { width(i - 1) };
            down_convs.push(
                SpatialConvConfig::new(d, [c_in, width(i)])
                    .with_kernel_size(4)
                    .with_stride(2)
                    .with_padding(1)
                    .init(device)?,
            );
            if i > 0 && i + 1 < l {
                down_norms.extend(self.norm.init(width(i), device));
            }
        }
        let mut ups = Vec::with_capacity(l);
        for i in (0..l).rev() {
            let c_in = if i == l - 1 { width(i) } else { 2 * width(i) };
            let c_out = if i == 0 { self.out_channels } else { width(i - 1) };
            let with_dropout = i > 0 && i + 1 < l && l - 1 - i <= self.dropout_blocks;
            ups.push(UNetUpBlock {
                conv: SpatialConvTransposeConfig::new(d, [c_in, c_out]).init(device)?,
                norm: if i == 0 { None } else { self.norm.init(c_out, device) },
                dropout: (with_dropout && self.dropout > 0.0)
                    .then(|| DropoutConfig::new(self.dropout).init()),
            });
        }
        Ok(UNetGenerator {
            down_convs,
            down_norms,
            ups,
            spatial_dims: d,
            in_channels: self.in_channels,
        })
    }
}

impl UNetGenerator {
    /// The stride product `2^L`: every spatial side must be a multiple of it.
    pub fn stride_product(&self) -> usize {
        1 << self.down_convs.len()
    }

    /// `x̂ = G(x)`; fails with a typed error for a wrong rank or channel count, an empty batch,
    /// or a spatial side that is not a multiple of `2^L`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>> {
        let factor = self.stride_product();
        check_image_input(
            &x,
            self.spatial_dims,
            self.in_channels,
            "U-Net input",
            |n| n.is_multiple_of(factor),
            &format!("a multiple of the stride product {factor}"),
        )?;
        let l = self.down_convs.len();
        let mut skips = Vec::with_capacity(l);
        let mut h = self.down_convs[0].forward(x);
        for i in 1..l {
            skips.push(h.clone());
            h = self.down_convs[i].forward(leaky_relu(h, LEAKY_SLOPE));
            // With `NormKind::None` there are no norms at all.
            if let Some(norm) = self.down_norms.get(i - 1).filter(|_| i + 1 < l) {
                h = norm.forward(h);
            }
        }
        for (j, up) in self.ups.iter().enumerate() {
            if j > 0 {
                let skip = skips.pop().expect("one skip per inner level");
                h = Tensor::cat(vec![skip, h], 1);
            }
            h = up.conv.forward(relu(h));
            if let Some(norm) = &up.norm {
                h = norm.forward(h);
            }
            if let Some(dropout) = &up.dropout {
                h = dropout.forward(h);
            }
        }
        Ok(tanh(h))
    }
}

impl<const D: usize> Generator<D, D> for UNetGenerator {
    /// Translates the source image `input`; `condition` must be empty.
    fn generate(&self, input: Tensor<D>, condition: &Condition<D>) -> Result<Tensor<D>> {
        reject_condition(condition, "UNetGenerator")?;
        self.forward(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GanError;
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> UNetGeneratorConfig {
        UNetGeneratorConfig::new(spatial_dims, 1, 2).with_num_downs(3).with_base_channels(2)
    }

    #[test]
    fn translation_keeps_the_spatial_shape_in_2d_and_3d() {
        let device = test_device().autodiff();
        let g2 = config(2).init(&device).unwrap();
        let y = g2.generate(Tensor::<4>::ones([2, 1, 8, 8], &device), &Condition::none()).unwrap();
        assert_eq!(y.dims(), [2, 2, 8, 8]);
        assert!(y.abs().max().into_scalar::<f32>() <= 1.0);
        let g3 = config(3).with_norm(NormKind::Instance).init(&device).unwrap();
        let y =
            g3.generate(Tensor::<5>::ones([1, 1, 8, 8, 8], &device), &Condition::none()).unwrap();
        assert_eq!(y.dims(), [1, 2, 8, 8, 8]);
        // Decoder levels, innermost first: only the middle one (after the innermost) drops out.
        let dropouts: Vec<bool> = g2.ups.iter().map(|u| u.dropout.is_some()).collect();
        assert_eq!(dropouts, vec![false, true, false]);
        assert_eq!(g2.down_norms.len(), 1);
    }

    #[test]
    fn runs_without_normalisation() {
        let device = test_device();
        let g = config(2).with_norm(NormKind::None).init(&device).unwrap();
        assert!(g.down_norms.is_empty());
        let y = g.generate(Tensor::<4>::ones([1, 1, 8, 8], &device), &Condition::none()).unwrap();
        assert_eq!(y.dims(), [1, 2, 8, 8]);
    }

    #[test]
    fn sizes_off_the_stride_product_are_typed_errors() {
        let device = test_device();
        let g = config(2).init(&device).unwrap();
        assert!(matches!(
            g.forward(Tensor::<4>::ones([1, 1, 12, 8], &device)),
            Err(GanError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(g.forward(Tensor::<4>::ones([1, 3, 8, 8], &device)).is_err());
        assert!(config(2).with_num_downs(1).init(&device).is_err());
        assert!(config(2).with_dropout(1.0).init(&device).is_err());
    }
}

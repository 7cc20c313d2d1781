//! The DCGAN discriminator (Radford et al. 2016), 2D or 3D, optionally spectrally normalised.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::Condition;

use super::condition_use::reject_condition;
use super::disc_linear::DiscriminatorLinear;
use super::down_block::DownBlock;
use super::feature_norm::NormKind;
use super::rank::{check_image_input, check_positive, check_spatial_dims, side_after_halvings};
use crate::error::Result;
use crate::network::{Discriminator, DiscriminatorOutput};
use crate::spectral_norm::SpectralNormConfig;

/// Configuration of a [`DcganDiscriminator`] (also the trunk of the projection and AC-GAN
/// discriminators).
#[derive(Config, Debug)]
pub struct DcganDiscriminatorConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels of the input image.
    pub in_channels: usize,
    /// Side of the (square or cubic) input image; a positive multiple of `2^num_downsamplings`.
    pub image_size: usize,
    /// Number `m ≥ 1` of stride-2 convolutions.
    #[config(default = 3)]
    pub num_downsamplings: usize,
    /// Channels of the first convolution (`ndf`); they double at every downsampling.
    #[config(default = 64)]
    pub base_channels: usize,
    /// Normalisation after every convolution but the first (DCGAN: batch norm; with spectral
    /// normalisation usually none).
    #[config(default = "NormKind::None")]
    pub norm: NormKind,
    /// Spectral normalisation of every convolution and of the head, if set.
    #[config(default = "Some(SpectralNormConfig::new())")]
    pub spectral_norm: Option<SpectralNormConfig>,
}

/// DCGAN discriminator: image `[N, C, s, …]` → features `φ(x)` → one logit per item:
///
/// ```text
/// h₁ = LeakyReLU_0.2(Conv_{4,2,1}(x))                      [N, ndf, s/2, …]
/// hᵢ = LeakyReLU_0.2(norm(Conv_{4,2,1}(hᵢ₋₁)))             channels double (i = 2 … m)
/// φ(x) = flatten(h_m)                                       [N, F], F = ndf·2^{m−1}·(s/2^m)^d
/// ℓ = ψ(φ(x)) = w·φ(x) + b                                  [N, 1]
/// ```
///
/// The final linear map is the DCGAN paper's last convolution over the whole `(s/2^m)^d`
/// map. Every convolution and `ψ` are spectrally normalised when configured.
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    /// The `m` strided blocks.
    pub blocks: Vec<DownBlock>,
    /// The head `ψ: ℝ^F → ℝ`.
    pub head: DiscriminatorLinear,
    /// Number of spatial axes.
    pub spatial_dims: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input side.
    pub image_size: usize,
    /// Feature width `F`.
    pub feature_dim: usize,
}

impl DcganDiscriminatorConfig {
    /// Builds the discriminator; fails with [`medgen_core::CoreError::InvalidConfig`] on zero
    /// sizes, a spatial rank other than 2 or 3, an `image_size` not divisible by
    /// `2^num_downsamplings` or an invalid spectral-norm configuration.
    pub fn init(&self, device: &Device) -> Result<DcganDiscriminator> {
        check_spatial_dims(self.spatial_dims)?;
        check_positive(self.in_channels, "in_channels")?;
        check_positive(self.base_channels, "base_channels")?;
        check_positive(self.num_downsamplings, "num_downsamplings")?;
        let m = self.num_downsamplings;
        let side = side_after_halvings(self.image_size, m)?;
        let spectral = self.spectral_norm.as_ref();
        let mut blocks = Vec::with_capacity(m);
        let mut c_in = self.in_channels;
        for i in 0..m {
            let c_out = self.base_channels << i;
            let norm = if i == 0 { NormKind::None } else { self.norm };
            blocks.push(DownBlock::init(
                self.spatial_dims,
                [c_in, c_out],
                2,
                norm,
                spectral,
                device,
            )?);
            c_in = c_out;
        }
        let feature_dim = c_in * side.pow(self.spatial_dims as u32);
        Ok(DcganDiscriminator {
            blocks,
            head: DiscriminatorLinear::init(feature_dim, 1, spectral, device)?,
            spatial_dims: self.spatial_dims,
            in_channels: self.in_channels,
            image_size: self.image_size,
            feature_dim,
        })
    }
}

impl DcganDiscriminator {
    /// The features `φ(x)` `[N, F]` of an image batch `[N, C, s, …, s]`.
    ///
    /// Fails with a typed error for a wrong rank, channel count or image side, or an empty
    /// batch.
    pub fn features<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<2>> {
        let side = self.image_size;
        check_image_input(
            &x,
            self.spatial_dims,
            self.in_channels,
            "discriminator input",
            |n| n == side,
            &format!("= {side}"),
        )?;
        let n = x.dims()[0];
        let h = self.blocks.iter().fold(x, |h, block| block.forward(h));
        Ok(h.reshape([n, self.feature_dim]))
    }

    /// The logits `ψ(φ(x))` `[N, 1]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<2>> {
        Ok(self.head.forward(self.features(x)?))
    }
}

impl<const D: usize> Discriminator<D> for DcganDiscriminator {
    /// Unconditional: `condition` must be empty.
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput> {
        reject_condition(condition, "DcganDiscriminator")?;
        Ok(DiscriminatorOutput { logits: self.forward(x)?, class_logits: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GanError;
    use medgen_core::CoreError;
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> DcganDiscriminatorConfig {
        DcganDiscriminatorConfig::new(spatial_dims, 1, 8)
            .with_num_downsamplings(2)
            .with_base_channels(2)
    }

    #[test]
    fn logit_shapes_in_2d_and_3d_with_and_without_spectral_norm() {
        let device = test_device().autodiff();
        let none = Condition::none();
        for variant in [config(2), config(2).with_spectral_norm(None).with_norm(NormKind::Batch)] {
            let d = variant.init(&device).unwrap();
            assert_eq!(d.feature_dim, 4 * 2 * 2);
            let out = d.discriminate(Tensor::<4>::ones([3, 1, 8, 8], &device), &none).unwrap();
            assert_eq!(out.logits.dims(), [3, 1]);
            assert!(out.class_logits.is_none());
        }
        let d3 = config(3).init(&device).unwrap();
        let out = d3
            .discriminate(Tensor::<5>::ones([2, 1, 8, 8, 8], &device), &Condition::none())
            .unwrap();
        assert_eq!(out.logits.dims(), [2, 1]);
        assert_eq!(d3.feature_dim, 4 * 8);
    }

    #[test]
    fn mismatched_inputs_are_typed_errors() {
        let device = test_device();
        assert!(matches!(
            DcganDiscriminatorConfig::new(2, 1, 10).init(&device),
            Err(GanError::Core(CoreError::InvalidConfig { .. }))
        ));
        let d = config(2).init(&device).unwrap();
        let none = Condition::none();
        for bad in [
            Tensor::<4>::zeros([2, 1, 16, 16], &device), // generator output of another size
            Tensor::<4>::zeros([2, 3, 8, 8], &device),   // wrong channels
            Tensor::<4>::zeros([0, 1, 8, 8], &device),   // empty batch
        ] {
            assert!(matches!(d.discriminate(bad, &none), Err(GanError::Core(_))));
        }
        assert!(matches!(
            d.discriminate(Tensor::<5>::zeros([1, 1, 8, 8, 8], &device), &Condition::none()),
            Err(GanError::Core(CoreError::InvalidRank { .. }))
        ));
    }
}

#[cfg(test)]
mod spectral_tests {
    use super::*;
    use crate::GanLoss;
    use crate::nets::DiscriminatorConv;
    use crate::spectral_norm::tests::largest_singular_value;
    use burn::optim::{AdamConfig, GradientsParams};
    use medgen_nn::SpatialConv;
    use medgen_testing::test_device;

    /// Training forwards make every normalised kernel 1-Lipschitz in its `[out, rest]` view
    /// (SVD check), and an optimiser step trains the weights while `u` stays a buffer.
    #[test]
    fn spectrally_normalised_discriminator_trains_with_unit_sigma_layers() {
        let device = test_device().autodiff();
        let mut d = DcganDiscriminatorConfig::new(2, 1, 8)
            .with_num_downsamplings(2)
            .with_base_channels(2)
            .with_spectral_norm(Some(SpectralNormConfig::new().with_n_power_iterations(10)))
            .init(&device)
            .unwrap();
        let x = Tensor::<4>::ones([2, 1, 8, 8], &device);
        for _ in 0..20 {
            let _ = d.forward(x.clone()).unwrap();
        }
        for block in &d.blocks {
            let DiscriminatorConv::Spectral(conv) = &block.conv else {
                panic!("every convolution is spectrally normalised");
            };
            let SpatialConv::Conv2d(inner) = &conv.conv else {
                panic!("2D network");
            };
            let rows = inner.weight.dims()[0];
            let kernel = inner.weight.val().reshape([rows as i64, -1]);
            let normalised = conv.spectral_norm.normalize_weight(kernel);
            let cols = normalised.dims()[1];
            let values = normalised.into_data().try_to_vec::<f32>().unwrap();
            let sigma = largest_singular_value(&values, rows, cols);
            assert!((sigma - 1.0).abs() < 1e-2, "σ(W/σ̂) = {sigma}");
        }
        let before = d.forward(x.clone()).unwrap().into_data();
        let loss = GanLoss::Hinge
            .discriminator_loss(d.forward(x.clone()).unwrap(), d.forward(x.clone().neg()).unwrap())
            .unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &d);
        d = AdamConfig::new().init().step(1e-2, d, grads);
        let after = d.forward(x).unwrap();
        assert!(after.clone().into_data() != before);
        assert!(after.abs().max().into_scalar::<f32>().is_finite());
    }
}

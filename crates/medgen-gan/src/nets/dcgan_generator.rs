//! The DCGAN generator (Radford et al. 2016), 2D or 3D.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Tensor};
use medgen_core::check::ensure_non_empty;
use medgen_core::{Condition, CoreError};

use super::condition_use::reject_condition;
use super::conv_transpose::{SpatialConvTranspose, SpatialConvTransposeConfig};
use super::rank::{check_positive, check_spatial_dims, cube_shape, side_after_halvings};
use crate::error::Result;
use crate::network::Generator;

/// Configuration of a [`DcganGenerator`].
///
/// The image side `image_size` must be `s₀ · 2^m` for an integer start side `s₀ ≥ 1` and
/// `m = num_upsamplings`; channels halve at every doubling, starting from
/// `base_channels · 2^{m−1}`.
#[derive(Config, Debug)]
pub struct DcganGeneratorConfig {
    /// Number of spatial axes: 2 (images) or 3 (volumes).
    pub spatial_dims: usize,
    /// Width `d` of the latent code `z ∈ ℝ^d`.
    pub latent_dim: usize,
    /// Channels of the generated image.
    pub out_channels: usize,
    /// Side of the (square or cubic) generated image.
    pub image_size: usize,
    /// Number `m ≥ 1` of 2× transposed-convolution upsamplings.
    #[config(default = 3)]
    pub num_upsamplings: usize,
    /// Channels of the last hidden feature map (`ngf` in the DCGAN code).
    #[config(default = 64)]
    pub base_channels: usize,
}

/// DCGAN generator: latent code `z` `[N, d]` → image `[N, C, s, …, s]` in `[−1, 1]`:
///
/// ```text
/// h₀ = ReLU(BN(reshape(W z + b)))          [N, c₀, s₀, …],   c₀ = base · 2^{m−1}
/// hᵢ = ReLU(BN(ConvT_{4,2,1}(hᵢ₋₁)))       channels halve, sides double   (i = 1 … m−1)
/// x̂  = tanh(ConvT_{4,2,1}(h_{m−1}))        [N, C, s₀·2^m, …]
/// ```
///
/// The first layer is the linear projection of the DCGAN paper (equivalent to a transposed
/// convolution from a `1 × 1` map with kernel `s₀`).
#[derive(Module, Debug)]
pub struct DcganGenerator {
    /// The projection `z ↦ h₀` (flattened).
    pub project: Linear,
    /// Batch norm of `h₀`.
    pub project_norm: BatchNorm,
    /// The `m` upsampling layers; the last one outputs the image.
    pub ups: Vec<SpatialConvTranspose>,
    /// Batch norms after all but the last upsampling.
    pub norms: Vec<BatchNorm>,
    /// Number of spatial axes.
    pub spatial_dims: usize,
    /// Latent width `d`.
    pub latent_dim: usize,
    /// Start side `s₀`.
    pub start_size: usize,
    /// Start channels `c₀`.
    pub start_channels: usize,
}

impl DcganGeneratorConfig {
    /// Builds the generator; fails with [`CoreError::InvalidConfig`] on zero sizes, a spatial
    /// rank other than 2 or 3, or an `image_size` not divisible by `2^num_upsamplings`.
    pub fn init(&self, device: &Device) -> Result<DcganGenerator> {
        check_spatial_dims(self.spatial_dims)?;
        check_positive(self.latent_dim, "latent_dim")?;
        check_positive(self.out_channels, "out_channels")?;
        check_positive(self.base_channels, "base_channels")?;
        check_positive(self.num_upsamplings, "num_upsamplings")?;
        let m = self.num_upsamplings;
        let start_size = side_after_halvings(self.image_size, m)?;
        let channels: Vec<usize> = (0..m).map(|i| self.base_channels << (m - 1 - i)).collect();
        let start_channels = channels[0];
        let flat = start_channels * start_size.pow(self.spatial_dims as u32);
        let mut ups = Vec::with_capacity(m);
        let mut norms = Vec::with_capacity(m - 1);
        for i in 0..m {
            let c_out = channels.get(i + 1).copied().unwrap_or(self.out_channels);
            ups.push(
                SpatialConvTransposeConfig::new(self.spatial_dims, [channels[i], c_out])
                    .init(device)?,
            );
            if i + 1 < m {
                norms.push(BatchNormConfig::new(c_out).init(device));
            }
        }
        Ok(DcganGenerator {
            project: LinearConfig::new(self.latent_dim, flat).init(device),
            project_norm: BatchNormConfig::new(start_channels).init(device),
            ups,
            norms,
            spatial_dims: self.spatial_dims,
            latent_dim: self.latent_dim,
            start_size,
            start_channels,
        })
    }
}

impl DcganGenerator {
    /// `x̂ = G(z)` for `z` `[N, d]`: `[N, C, s, …, s]` with `D = spatial_dims + 2`.
    ///
    /// Fails with [`CoreError::InvalidRank`] for a `D` that does not match the network, with
    /// [`CoreError::ShapeMismatch`] / [`CoreError::Empty`] unless `z` is a non-empty `[N, d]`.
    pub fn forward<const D: usize>(&self, z: Tensor<2>) -> Result<Tensor<D>> {
        if D != self.spatial_dims + 2 {
            return Err(CoreError::InvalidRank {
                what: "generated image".into(),
                expected: self.spatial_dims + 2,
                got: D,
            }
            .into());
        }
        let dims = z.dims();
        ensure_non_empty(&dims, "latent code")?;
        if dims[1] != self.latent_dim {
            return Err(CoreError::shape(
                "latent code",
                format!("[N, {}]", self.latent_dim),
                &dims,
            )
            .into());
        }
        let shape = cube_shape::<D>(dims[0], self.start_channels, self.start_size);
        let mut h = relu(self.project_norm.forward(self.project.forward(z).reshape(shape)));
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            h = up.forward(h);
            if i < last {
                h = relu(self.norms[i].forward(h));
            }
        }
        Ok(tanh(h))
    }
}

impl<const D: usize> Generator<2, D> for DcganGenerator {
    /// Unconditional: `condition` must be empty.
    fn generate(&self, input: Tensor<2>, condition: &Condition<D>) -> Result<Tensor<D>> {
        reject_condition(condition, "DcganGenerator")?;
        self.forward(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GanError;
    use burn::tensor::{Int, TensorData};
    use medgen_testing::test_device;

    fn config(spatial_dims: usize) -> DcganGeneratorConfig {
        DcganGeneratorConfig::new(spatial_dims, 3, 1, 8)
            .with_num_upsamplings(2)
            .with_base_channels(4)
    }

    fn z(device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0, 0.1, 0.0, -0.3], [2, 3]), device)
    }

    #[test]
    fn output_shapes_and_range_in_2d_and_3d() {
        let device = test_device();
        let g2 = config(2).init(&device).unwrap();
        let x: Tensor<4> = g2.generate(z(&device), &Condition::none()).unwrap();
        assert_eq!(x.dims(), [2, 1, 8, 8]);
        assert!(x.abs().max().into_scalar::<f32>() <= 1.0);
        let g3 = config(3).init(&device).unwrap();
        let x: Tensor<5> = g3.generate(z(&device), &Condition::none()).unwrap();
        assert_eq!(x.dims(), [2, 1, 8, 8, 8]);
        assert_eq!((g2.start_size, g2.start_channels), (2, 8));
    }

    #[test]
    fn bad_configs_and_inputs_are_typed_errors() {
        let device = test_device();
        for bad in [
            DcganGeneratorConfig::new(2, 3, 1, 12), // 12 is not a multiple of 2^3
            DcganGeneratorConfig::new(2, 0, 1, 8),  // latent_dim 0
            DcganGeneratorConfig::new(4, 3, 1, 8),  // spatial_dims 4
            DcganGeneratorConfig::new(2, 3, 1, 4),  // 4 < 2^3
        ] {
            assert!(matches!(
                bad.init(&device),
                Err(GanError::Core(CoreError::InvalidConfig { .. }))
            ));
        }
        let g = config(2).init(&device).unwrap();
        assert!(matches!(
            g.forward::<5>(z(&device)),
            Err(GanError::Core(CoreError::InvalidRank { .. }))
        ));
        assert!(g.forward::<4>(Tensor::zeros([2, 4], &device)).is_err());
        assert!(g.forward::<4>(Tensor::zeros([0, 3], &device)).is_err());
        let labelled = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
        assert!(matches!(
            g.generate(z(&device), &labelled),
            Err(GanError::ConditionMismatch { .. })
        ));
    }
}

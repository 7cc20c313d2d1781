//! A spectrally normalised 2D or 3D convolution.

use burn::module::Module;
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::Tensor;
use burn::tensor::module::{conv2d, conv3d};
use burn::tensor::ops::ConvOptions;
use medgen_core::CoreError;
use medgen_nn::SpatialConv;

use super::{SpectralNorm, SpectralNormConfig};
use crate::error::Result;
use crate::nets::rank::with_rank;

/// `y = (W / σ̂(W)) ⋆ x + b`: a [`SpatialConv`] whose kernel `W` (`[C_out, C_in/groups,
/// k…]`) is viewed as the matrix `[C_out, C_in/groups · k^d]` for the power iteration
/// (Miyato et al.'s choice; it bounds the convolution's Lipschitz constant up to a factor of
/// the kernel overlap) and divided by its estimate `σ̂` on every forward pass.
///
/// The padding of the wrapped convolution must be explicit or valid (what
/// [`medgen_nn::SpatialConvConfig`] builds); Burn's input-dependent `Same` padding is
/// rejected by [`SpectralNormConv::new`].
#[derive(Module, Debug)]
pub struct SpectralNormConv {
    /// The wrapped convolution (its kernel is the trained, unnormalised `W`).
    pub conv: SpatialConv,
    /// The power-iteration state.
    pub spectral_norm: SpectralNorm,
}

impl SpectralNormConv {
    /// Wraps `conv`; fails on an invalid `config` or a `Same` padding.
    pub fn new(conv: SpatialConv, config: &SpectralNormConfig) -> Result<Self> {
        let (rows, device, same) = match &conv {
            SpatialConv::Conv2d(c) => {
                (c.weight.dims()[0], c.weight.device(), matches!(c.padding, PaddingConfig2d::Same))
            }
            SpatialConv::Conv3d(c) => {
                (c.weight.dims()[0], c.weight.device(), matches!(c.padding, PaddingConfig3d::Same))
            }
        };
        if same {
            return Err(CoreError::config(
                "padding",
                "a spectrally normalised convolution needs explicit or valid padding",
            )
            .into());
        }
        let spectral_norm = config.init(rows, &device)?;
        Ok(Self { conv, spectral_norm })
    }

    /// `[N, C_in, *spatial]` → `[N, C_out, *spatial']`, like [`SpatialConv::forward`].
    ///
    /// # Panics
    /// If `D` is not the convolution's rank or the channels differ (networks check their
    /// input on entry).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.conv {
            SpatialConv::Conv2d(c) => {
                let weight = self.normalized(c.weight.val());
                let (t, l, b, r) = match c.padding {
                    PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
                    _ => (0, 0, 0, 0),
                };
                let options =
                    ConvOptions::new_with_padding(c.stride, [(t, b), (l, r)], c.dilation, c.groups);
                let bias = c.bias.as_ref().map(|b| b.val());
                with_rank(conv2d(with_rank(x), weight, bias, options))
            }
            SpatialConv::Conv3d(c) => {
                let weight = self.normalized(c.weight.val());
                let padding = match c.padding {
                    PaddingConfig3d::Explicit(d, h, w) => [d, h, w],
                    _ => [0; 3],
                };
                let options = ConvOptions::new(c.stride, padding, c.dilation, c.groups);
                let bias = c.bias.as_ref().map(|b| b.val());
                with_rank(conv3d(with_rank(x), weight, bias, options))
            }
        }
    }

    /// The number of spatial axes (2 or 3).
    pub fn spatial_dims(&self) -> usize {
        self.conv.spatial_dims()
    }

    /// `W / σ̂(W)` for a kernel of any rank, through its `[C_out, rest]` view.
    fn normalized<const K: usize>(&self, weight: Tensor<K>) -> Tensor<K> {
        let shape = weight.shape();
        let rows = shape[0];
        let matrix = weight.reshape([rows as i64, -1]);
        self.spectral_norm.normalize_weight(matrix).reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectral_norm::tests::{largest_singular_value, random_matrix};
    use burn::module::Param;
    use burn::tensor::TensorData;

    /// A tensor of `like`'s shape filled with seeded uniform values in `[−1, 1)`.
    fn seeded_like<const K: usize>(like: Tensor<K>, seed: u64) -> Tensor<K> {
        let shape = like.shape();
        let rows = shape[0];
        let values = random_matrix(rows, shape.num_elements() / rows, seed);
        Tensor::<1>::from_data(TensorData::new(values, [shape.num_elements()]), &like.device())
            .reshape(shape)
    }
    use medgen_nn::SpatialConvConfig;
    use medgen_testing::test_device;

    /// With many iterations, the normalised kernel's `[out, rest]` view has σ = 1, and the
    /// forward pass equals the plain convolution divided by σ (bias set to zero by
    /// subtracting it).
    #[test]
    fn conv_kernel_is_normalised_in_2d_and_3d() {
        let device = test_device().autodiff();
        for spatial_dims in [2, 3] {
            // A seeded kernel (not the device RNG), so the singular-value gap is fixed.
            let conv = match SpatialConvConfig::new(spatial_dims, [2, 3]).init(&device).unwrap() {
                SpatialConv::Conv2d(mut c) => {
                    c.weight = Param::from_tensor(seeded_like(c.weight.val(), 11));
                    SpatialConv::Conv2d(c)
                }
                SpatialConv::Conv3d(mut c) => {
                    c.weight = Param::from_tensor(seeded_like(c.weight.val(), 12));
                    SpatialConv::Conv3d(c)
                }
            };
            let sn =
                SpectralNormConfig::new().with_n_power_iterations(100).init_conv(conv).unwrap();
            let kernel = match &sn.conv {
                SpatialConv::Conv2d(c) => c.weight.val().reshape([3, -1]),
                SpatialConv::Conv3d(c) => c.weight.val().reshape([3, -1]),
            };
            let values = kernel.into_data().try_to_vec::<f32>().unwrap();
            let k = values.len() / 3;
            let sigma = largest_singular_value(&values, 3, k);
            let estimate = f64::from(
                sn.spectral_norm
                    .sigma(Tensor::from_data(TensorData::new(values, [3, k]), &device))
                    .into_scalar::<f32>(),
            );
            assert!((estimate - sigma).abs() / sigma < 1e-3, "{estimate} vs {sigma}");
            if spatial_dims == 2 {
                let x = Tensor::<4>::ones([1, 2, 4, 4], &device);
                let plain = sn.conv.forward(x.clone());
                let normalised = sn.forward(x);
                assert_eq!(normalised.dims(), [1, 3, 4, 4]);
                let bias = match &sn.conv {
                    SpatialConv::Conv2d(c) => c.bias.as_ref().unwrap().val(),
                    SpatialConv::Conv3d(_) => unreachable!(),
                };
                let bias = bias.reshape([1, 3, 1, 1]);
                let ratio = plain
                    .sub(bias.clone())
                    .div_scalar(sigma)
                    .sub(normalised.sub(bias))
                    .abs()
                    .max()
                    .into_scalar::<f32>();
                assert!(ratio < 1e-3, "{ratio}");
            } else {
                let y = sn.forward(Tensor::<5>::ones([1, 2, 4, 4, 4], &device));
                assert_eq!(y.dims(), [1, 3, 4, 4, 4]);
            }
        }
    }
}

//! A convolution over 2 or 3 spatial axes, chosen at run time: the one place where the
//! networks of [`crate`] dispatch on the spatial rank.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, Conv3d, Conv3dConfig};
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::{Device, Tensor};

use medgen_core::error::{CoreError, Result};

/// Configuration of a [`SpatialConv`]: a square (cubic) kernel of side `kernel_size`, the same
/// `stride` and symmetric zero `padding` on every spatial axis, and a bias.
///
/// Output size per spatial axis: `⌊(n + 2·padding − kernel_size) / stride⌋ + 1`.
#[derive(Config, Debug)]
pub struct SpatialConvConfig {
    /// Number of spatial axes: 2 (images, `[N, C, H, W]`) or 3 (volumes, `[N, C, D, H, W]`).
    pub spatial_dims: usize,
    /// Input and output channels `[C_in, C_out]`.
    pub channels: [usize; 2],
    /// Side of the kernel on every spatial axis.
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Stride on every spatial axis.
    #[config(default = 1)]
    pub stride: usize,
    /// Zero padding on both sides of every spatial axis.
    #[config(default = 1)]
    pub padding: usize,
}

/// A 2D or 3D convolution with Burn's default (Kaiming-uniform) initialisation:
///
/// `y[n, o] = b[o] + Σ_i (w[o, i] ⋆ x[n, i])`.
///
/// Written once for `Tensor<D>`, `D = 4` (`[N, C, H, W]`) or `D = 5` (`[N, C, D, H, W]`): the
/// input is reinterpreted as a tensor of the matching static rank (a reshape to its own shape,
/// which moves no memory) and handed to [`Conv2d`] or [`Conv3d`].
#[derive(Module, Debug)]
pub enum SpatialConv {
    /// Convolution over `[N, C, H, W]`.
    Conv2d(Conv2d),
    /// Convolution over `[N, C, D, H, W]`.
    Conv3d(Conv3d),
}

impl SpatialConvConfig {
    /// Builds the convolution on `device`.
    ///
    /// Fails with [`CoreError::InvalidConfig`] unless `spatial_dims ∈ {2, 3}`, both channel
    /// counts, `kernel_size` and `stride` are positive.
    pub fn init(&self, device: &Device) -> Result<SpatialConv> {
        check_spatial_dims(self.spatial_dims)?;
        if self.channels.contains(&0) {
            return Err(CoreError::config("channels", "must be positive"));
        }
        if self.kernel_size == 0 || self.stride == 0 {
            return Err(CoreError::config(
                "kernel_size/stride",
                format!("must be positive (got {} and {})", self.kernel_size, self.stride),
            ));
        }
        let (k, s, p) = (self.kernel_size, self.stride, self.padding);
        Ok(if self.spatial_dims == 2 {
            SpatialConv::Conv2d(
                Conv2dConfig::new(self.channels, [k; 2])
                    .with_stride([s; 2])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(device),
            )
        } else {
            SpatialConv::Conv3d(
                Conv3dConfig::new(self.channels, [k; 3])
                    .with_stride([s; 3])
                    .with_padding(PaddingConfig3d::Explicit(p, p, p))
                    .init(device),
            )
        })
    }
}

impl SpatialConv {
    /// Applies the convolution to `x`: `[N, C_in, *spatial]` → `[N, C_out, *spatial']`.
    ///
    /// # Panics
    /// If `D` is not `spatial_dims + 2` or the channel count differs from `C_in`. The networks
    /// built on this block check their input once on entry and return a
    /// [`CoreError`] instead.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Conv2d(conv) => {
                assert_eq!(D, 4, "a 2D convolution takes [N, C, H, W] tensors");
                with_rank(conv.forward(with_rank(x)))
            }
            Self::Conv3d(conv) => {
                assert_eq!(D, 5, "a 3D convolution takes [N, C, D, H, W] tensors");
                with_rank(conv.forward(with_rank(x)))
            }
        }
    }

    /// The same convolution with its weights and bias set to zero (MONAI's `zero_module`,
    /// ControlNet's zero convolution): `y = 0` until training moves them. The parameters get
    /// new ids.
    pub fn zeroed(self) -> Self {
        use burn::module::Param;
        fn zero<const R: usize>(p: Param<Tensor<R>>) -> Param<Tensor<R>> {
            Param::from_tensor(p.val().zeros_like())
        }
        match self {
            Self::Conv2d(mut c) => {
                c.weight = zero(c.weight);
                c.bias = c.bias.map(zero);
                Self::Conv2d(c)
            }
            Self::Conv3d(mut c) => {
                c.weight = zero(c.weight);
                c.bias = c.bias.map(zero);
                Self::Conv3d(c)
            }
        }
    }

    /// The input and output channels `[C_in, C_out]`.
    pub fn channels(&self) -> [usize; 2] {
        let shape = match self {
            Self::Conv2d(c) => c.weight.lazy_shape(),
            Self::Conv3d(c) => c.weight.lazy_shape(),
        };
        [shape[1], shape[0]]
    }

    /// The number of spatial axes this convolution runs over (2 or 3).
    pub fn spatial_dims(&self) -> usize {
        match self {
            Self::Conv2d(_) => 2,
            Self::Conv3d(_) => 3,
        }
    }
}

/// Reinterprets a tensor whose rank is `R` at run time as a `Tensor<R>` (same shape; `D == R`
/// is checked by the caller).
fn with_rank<const D: usize, const R: usize>(x: Tensor<D>) -> Tensor<R> {
    let shape = x.shape();
    x.reshape(shape)
}

/// Fails unless `spatial_dims` is 2 or 3.
pub(crate) fn check_spatial_dims(spatial_dims: usize) -> Result<()> {
    if spatial_dims == 2 || spatial_dims == 3 {
        Ok(())
    } else {
        Err(CoreError::config("spatial_dims", format!("must be 2 or 3, got {spatial_dims}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    /// A convolution with all-ones kernel and zero bias: it sums each 3x3 (3x3x3)
    /// neighbourhood.
    fn box_filter(spatial_dims: usize) -> SpatialConv {
        use burn::module::Param;
        let conv = SpatialConvConfig::new(spatial_dims, [1, 1]).init(&test_device()).unwrap();
        let zeros = |w: &Param<Tensor<1>>| Param::from_tensor(w.val().zeros_like());
        match conv {
            SpatialConv::Conv2d(mut c) => {
                c.weight = Param::from_tensor(c.weight.val().ones_like());
                c.bias = c.bias.as_ref().map(zeros);
                SpatialConv::Conv2d(c)
            }
            SpatialConv::Conv3d(mut c) => {
                c.weight = Param::from_tensor(c.weight.val().ones_like());
                c.bias = c.bias.as_ref().map(zeros);
                SpatialConv::Conv3d(c)
            }
        }
    }

    /// With padding 1 on an all-ones input, a corner sees 2^k ones, an edge 2·3 (2D) and the
    /// centre 3^k, for k spatial axes.
    #[test]
    fn box_filter_matches_neighbourhood_counts() {
        let device = test_device();
        let y = box_filter(2).forward(Tensor::<4>::ones([1, 1, 3, 3], &device));
        let v = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v, vec![4., 6., 4., 6., 9., 6., 4., 6., 4.]);
        let y = box_filter(3).forward(Tensor::<5>::ones([1, 1, 3, 3, 3], &device));
        let v = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!((v[0], v[13], v[26]), (8.0, 27.0, 8.0));
    }

    #[test]
    fn shapes_follow_stride_and_padding() {
        let device = test_device();
        let down = SpatialConvConfig::new(3, [2, 5]).with_stride(2).init(&device).unwrap();
        assert_eq!(down.spatial_dims(), 3);
        let y = down.forward(Tensor::<5>::zeros([2, 2, 4, 6, 2], &device));
        assert_eq!(y.dims(), [2, 5, 2, 3, 1]);
        let pointwise = SpatialConvConfig::new(2, [3, 4])
            .with_kernel_size(1)
            .with_padding(0)
            .init(&device)
            .unwrap();
        assert_eq!(
            pointwise.forward(Tensor::<4>::zeros([1, 3, 5, 7], &device)).dims(),
            [1, 4, 5, 7]
        );
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            SpatialConvConfig::new(1, [1, 1]),
            SpatialConvConfig::new(2, [0, 1]),
            SpatialConvConfig::new(3, [1, 1]).with_stride(0),
        ] {
            assert!(matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })));
        }
    }
}

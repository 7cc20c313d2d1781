//! Doubling the spatial size: nearest-neighbour repetition, then a 3x3 convolution.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use medgen_core::error::Result;

/// Nearest-neighbour upsampling by 2 on every spatial axis of `x` `[N, C, *spatial]` (any
/// number of spatial axes): `y[n, c, i₁, …, i_k] = x[n, c, ⌊i₁/2⌋, …, ⌊i_k/2⌋]`, shape
/// `[N, C, *(2·spatial)]`. Its gradient sums each 2x2 (2x2x2) block.
///
/// Runs on the device through Burn's nearest [`interpolate`] kernel (which has a backward
/// pass), one call per pair of axes: the last two spatial axes are the kernel's `H` and `W`
/// (channels and any outer spatial axes folded into its channel axis), then each remaining
/// axis `a`, from the innermost outwards, is the kernel's `H` with all axes after it folded
/// into `W` (left at its size). Every reshape is of a contiguous tensor and moves no memory.
/// A 2D input is one kernel call, a 3D input two; a tensor without spatial axes (`D < 3`) is
/// returned unchanged.
pub fn upsample_nearest2x<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if D < 3 {
        return x;
    }
    let dims = x.dims();
    let mut doubled = dims;
    for size in &mut doubled[2..] {
        *size *= 2;
    }
    let batch = dims[0];
    let nearest = |x: Tensor<4>, size: [usize; 2]| {
        interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size))
    };

    // The innermost one or two spatial axes; the axes before them fold into channels.
    let split = if D >= 4 { D - 2 } else { D - 1 };
    let (h, w) = (dims[split], if D >= 4 { dims[D - 1] } else { 1 });
    let out_w = if D >= 4 { 2 * w } else { 1 };
    let folded: usize = dims[1..split].iter().product();
    let mut y = nearest(x.reshape([batch, folded, h, w]), [2 * h, out_w]);

    // The remaining outer spatial axes, innermost first.
    for axis in (2..D.saturating_sub(2)).rev() {
        let m = dims[axis];
        let folded: usize = dims[1..axis].iter().product();
        let inner: usize = doubled[axis + 1..].iter().product();
        y = nearest(y.reshape([batch, folded, m, inner]), [2 * m, inner]);
    }
    y.reshape(doubled)
}

/// Configuration of an [`Upsample`].
#[derive(Config, Debug)]
pub struct UpsampleConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels `C` (kept).
    pub channels: usize,
}

/// Upsampling by 2: [`upsample_nearest2x`] followed by a 3x3 (3x3x3) convolution with zero
/// padding 1, `[N, C, *n] → [N, C, *(2n)]`.
#[derive(Module, Debug)]
pub struct Upsample {
    /// The convolution `C → C` after the repetition.
    pub conv: SpatialConv,
}

impl UpsampleConfig {
    /// Builds the block on `device`; fails on a bad `spatial_dims` or zero channels.
    pub fn init(&self, device: &Device) -> Result<Upsample> {
        Ok(Upsample {
            conv: SpatialConvConfig::new(self.spatial_dims, [self.channels; 2]).init(device)?,
        })
    }
}

impl Upsample {
    /// Doubles every spatial size of `x` `[N, C, *spatial]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.conv.forward(upsample_nearest2x(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    #[test]
    fn nearest_repeats_each_pixel() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &device);
        let y = upsample_nearest2x(x).into_data().try_to_vec::<f32>().unwrap();
        #[rustfmt::skip]
        let expected = vec![
            1., 1., 2., 2.,
            1., 1., 2., 2.,
            3., 3., 4., 4.,
            3., 3., 4., 4.,
        ];
        assert_eq!(y, expected);
    }

    /// Every output voxel equals the input voxel at half its index (3D, non-cubic, two items
    /// and channels).
    #[test]
    fn nearest_in_3d_follows_the_index_formula() {
        let device = test_device();
        let dims = [2, 2, 2, 3, 1];
        let count: usize = dims.iter().product();
        let values: Vec<f32> = (0..count).map(|v| v as f32).collect();
        let x = Tensor::<5>::from_data(TensorData::new(values.clone(), dims), &device);
        let y = upsample_nearest2x(x);
        assert_eq!(y.dims(), [2, 2, 4, 6, 2]);
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        for n in 0..2 {
            for c in 0..2 {
                for d in 0..4 {
                    for h in 0..6 {
                        for w in 0..2 {
                            let out = (((n * 2 + c) * 4 + d) * 6 + h) * 2 + w;
                            // The last input axis has size 1, so `w / 2 = 0` indexes it.
                            let src = ((n * 2 + c) * 2 + d / 2) * 3 + h / 2 + w / 2;
                            assert_eq!(y[out], values[src]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nearest_on_signals_repeats_each_sample() {
        let device = test_device();
        let x = Tensor::<3>::from_floats([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]], &device);
        let y = upsample_nearest2x(x);
        assert_eq!(y.dims(), [2, 1, 6]);
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6.]);
    }

    #[test]
    fn gradient_sums_each_block() {
        let device = test_device().autodiff();
        let x = Tensor::<4>::ones([1, 1, 2, 2], &device).require_grad();
        let weights = Tensor::<4>::from_floats(
            [[[
                [1.0, 2.0, 0.0, 0.0],
                [3.0, 4.0, 0.0, 1.0],
                [0.0, 0.0, 5.0, 0.0],
                [0.0, 0.0, 0.0, 0.0],
            ]]],
            &device,
        );
        let grads = upsample_nearest2x(x.clone()).mul(weights).sum().backward();
        let g = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, vec![10.0, 1.0, 0.0, 5.0]);
    }

    #[test]
    fn upsample_block_doubles_the_size() {
        let device = test_device();
        let up = UpsampleConfig::new(3, 2).init(&device).unwrap();
        let y = up.forward(Tensor::<5>::zeros([1, 2, 1, 2, 3], &device));
        assert_eq!(y.dims(), [1, 2, 2, 4, 6]);
    }
}

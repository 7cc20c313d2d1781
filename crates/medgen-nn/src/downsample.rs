//! Halving the spatial size with a strided convolution.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use medgen_core::error::Result;

/// Configuration of a [`Downsample`].
#[derive(Config, Debug)]
pub struct DownsampleConfig {
    /// Number of spatial axes: 2 or 3.
    pub spatial_dims: usize,
    /// Channels `C` (kept).
    pub channels: usize,
}

/// Downsampling by a 3x3 (3x3x3) convolution with stride 2 and zero padding 1:
///
/// `[N, C, *n] → [N, C, *⌈n / 2⌉]` (each spatial size `n` becomes `⌊(n − 1) / 2⌋ + 1`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// The strided convolution `C → C`.
    pub conv: SpatialConv,
}

impl DownsampleConfig {
    /// Builds the block on `device`; fails on a bad `spatial_dims` or zero channels.
    pub fn init(&self, device: &Device) -> Result<Downsample> {
        Ok(Downsample {
            conv: SpatialConvConfig::new(self.spatial_dims, [self.channels; 2])
                .with_stride(2)
                .init(device)?,
        })
    }
}

impl Downsample {
    /// Halves every spatial size of `x` `[N, C, *spatial]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.conv.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn halves_each_axis() {
        let device = test_device();
        let down = DownsampleConfig::new(2, 3).init(&device).unwrap();
        assert_eq!(down.forward(Tensor::<4>::zeros([2, 3, 8, 5], &device)).dims(), [2, 3, 4, 3]);
        let down = DownsampleConfig::new(3, 2).init(&device).unwrap();
        assert_eq!(
            down.forward(Tensor::<5>::zeros([1, 2, 4, 2, 6], &device)).dims(),
            [1, 2, 2, 1, 3]
        );
        assert!(DownsampleConfig::new(1, 2).init(&device).is_err());
    }
}

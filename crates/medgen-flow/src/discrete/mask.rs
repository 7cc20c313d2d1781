//! Binary masks that choose which entries a coupling layer leaves unchanged.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use medgen_core::CoreError;

/// How a coupling layer on vectors `[N, d]` splits the `d` features into the conditioning
/// (unchanged) part `m = 1` and the transformed part `m = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VectorMask {
    /// The first `⌊d/2⌋` features condition, the rest are transformed (`m_i = [i < ⌊d/2⌋]`);
    /// with `flip` the roles swap.
    #[default]
    Half,
    /// Even features condition, odd ones are transformed (`m_i = [i mod 2 = 0]`); with `flip`
    /// the roles swap.
    Alternating,
}

/// How a coupling layer on images `[N, C, H, W]` splits the entries (RealNVP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageMask {
    /// `m_{c,i,j} = [(i + j) mod 2 = 0]`: a spatial checkerboard, every channel alike.
    Checkerboard,
    /// `m_{c,i,j} = [c < ⌊C/2⌋]`: the first half of the channels condition.
    #[default]
    Channel,
}

impl VectorMask {
    /// The mask `[1, d]` (1 = conditioning, 0 = transformed); `flip` gives `1 − m`.
    ///
    /// # Errors
    /// `d < 2` (a coupling needs both parts non-empty).
    pub fn build(self, dim: usize, flip: bool, device: &Device) -> Result<Tensor<2>> {
        if dim < 2 {
            return Err(
                CoreError::config("dim", format!("a coupling needs d ≥ 2, got {dim}")).into()
            );
        }
        let values: Vec<f32> = (0..dim)
            .map(|i| {
                let keep = match self {
                    Self::Half => i < dim / 2,
                    Self::Alternating => i % 2 == 0,
                };
                if keep != flip { 1.0 } else { 0.0 }
            })
            .collect();
        Ok(Tensor::from_data(TensorData::new(values, [1, dim]), device))
    }
}

impl ImageMask {
    /// The mask `[1, C, H, W]` (1 = conditioning, 0 = transformed); `flip` gives `1 − m`.
    ///
    /// # Errors
    /// A channel mask with `C < 2`, a checkerboard on a single pixel, or an empty shape.
    pub fn build(self, shape: [usize; 3], flip: bool, device: &Device) -> Result<Tensor<4>> {
        let [c, h, w] = shape;
        if c * h * w == 0 {
            return Err(CoreError::config("image shape", format!("{shape:?} is empty")).into());
        }
        match self {
            Self::Channel if c < 2 => {
                return Err(FlowError::IndivisibleSize {
                    what: "channels for a channel mask".into(),
                    size: c,
                    factor: 2,
                });
            }
            Self::Checkerboard if h * w < 2 => {
                return Err(CoreError::config(
                    "image shape",
                    "a checkerboard mask needs at least two pixels",
                )
                .into());
            }
            _ => {}
        }
        let mut values = Vec::with_capacity(c * h * w);
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let keep = match self {
                        Self::Checkerboard => (i + j) % 2 == 0,
                        Self::Channel => ch < c / 2,
                    };
                    values.push(if keep != flip { 1.0f32 } else { 0.0 });
                }
            }
        }
        Ok(Tensor::from_data(TensorData::new(values, [1, c, h, w]), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::host;
    use medgen_testing::test_device;

    #[test]
    fn vector_masks_have_the_documented_pattern() {
        let device = test_device();
        let half = host(VectorMask::Half.build(5, false, &device).unwrap());
        assert_eq!(half, vec![1.0, 1.0, 0.0, 0.0, 0.0]);
        let alt = host(VectorMask::Alternating.build(4, true, &device).unwrap());
        assert_eq!(alt, vec![0.0, 1.0, 0.0, 1.0]);
        assert!(VectorMask::Half.build(1, false, &device).is_err());
    }

    #[test]
    fn image_masks_have_the_documented_pattern() {
        let device = test_device();
        let board = host(ImageMask::Checkerboard.build([2, 2, 2], false, &device).unwrap());
        assert_eq!(board, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let channel = host(ImageMask::Channel.build([2, 1, 2], true, &device).unwrap());
        assert_eq!(channel, vec![0.0, 0.0, 1.0, 1.0]);
        assert!(matches!(
            ImageMask::Channel.build([1, 4, 4], false, &device),
            Err(FlowError::IndivisibleSize { .. })
        ));
    }
}

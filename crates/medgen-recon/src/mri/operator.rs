//! The single-coil MRI forward model `A x = M ⊙ F_c x`.

use burn::tensor::{Device, Tensor};

use crate::complex;
use crate::error::{ReconError, Result};
use crate::fourier::CenteredFft;
use crate::mri::mask::SamplingMask;
use crate::operator::{MeasurementOperator, check_batch_shape};

/// Undersampled single-coil k-space: `y = A x = M ⊙ F_c x`, with `F_c` the centred
/// orthonormal FFT ([`CenteredFft`]) over every spatial axis and `M` a binary
/// [`SamplingMask`] over the last two (broadcast over a leading slice axis of volumes).
///
/// Images are `[N, C, *S]` with `C = 1` (a real image, as priors trained on magnitude data
/// produce: `A x = M F_c (x + 0i)`, `Aᴴ y = Re(F_cᴴ (M ⊙ y))`) or `C = 2` (a complex image,
/// `Aᴴ y = F_cᴴ (M ⊙ y)`); measurements are complex k-space `[N, 2, *S]` with zeros where
/// nothing was sampled. `F_c` is unitary and `M² = M`, so `‖A‖² = 1` and, for complex
/// images, `x + Aᴴ(y − A x)` is the exact projection onto `{x : A x = y}`: every sampled
/// k-space value equals the measurement.
#[derive(Clone, Debug)]
pub struct KSpaceOperator {
    fft: CenteredFft,
    mask: SamplingMask,
    mask_tensor: Tensor<2>,
    image_channels: usize,
}

impl KSpaceOperator {
    /// The operator for images of spatial shape `spatial` (`[H, W]` or `[D, H, W]`) with
    /// `image_channels` (1 real, 2 complex) and the `mask` over `[H, W]`, on `device`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `image_channels` (not 1 or 2) or `spatial` (fewer than two
    /// axes, or a zero side), and a shape error naming `mask` when its shape is not the last
    /// two spatial sides.
    pub fn new(
        spatial: &[usize],
        image_channels: usize,
        mask: SamplingMask,
        device: &Device,
    ) -> Result<Self> {
        if !(image_channels == 1 || image_channels == 2) {
            return Err(ReconError::config(
                "image_channels",
                format!("must be 1 (real) or 2 (complex), got {image_channels}"),
            ));
        }
        if spatial.len() < 2 {
            return Err(ReconError::config(
                "spatial",
                format!("k-space needs at least two spatial axes, got {spatial:?}"),
            ));
        }
        let fft = CenteredFft::new(spatial, device)?;
        let last_two = [spatial[spatial.len() - 2], spatial[spatial.len() - 1]];
        if mask.shape() != last_two {
            return Err(medgen_core::CoreError::ShapeMismatch {
                what: "mask".into(),
                expected: format!("{last_two:?}"),
                got: mask.shape().to_vec(),
            }
            .into());
        }
        let mask_tensor = mask.to_tensor(device);
        Ok(Self { fft, mask, mask_tensor, image_channels })
    }

    /// The sampling mask.
    pub fn mask(&self) -> &SamplingMask {
        &self.mask
    }

    /// The mask broadcast to rank `D`: `[1, 1, …, H, W]`.
    fn mask_as<const D: usize>(&self) -> Tensor<D> {
        let [h, w] = self.mask.shape();
        let mut shape = [1usize; D];
        shape[D - 2] = h;
        shape[D - 1] = w;
        self.mask_tensor.clone().reshape(shape)
    }

    fn spatial(&self) -> Vec<usize> {
        self.fft.spatial_shape()
    }
}

impl<const D: usize> MeasurementOperator<D> for KSpaceOperator {
    fn name(&self) -> &'static str {
        "k-space"
    }

    fn image_shape(&self) -> Vec<usize> {
        let mut shape = vec![self.image_channels];
        shape.extend(self.spatial());
        shape
    }

    fn measurement_shape(&self) -> Vec<usize> {
        let mut shape = vec![2];
        shape.extend(self.spatial());
        shape
    }

    fn forward(&self, x: Tensor<D>) -> Result<Tensor<D>> {
        check_batch_shape(&x, &<Self as MeasurementOperator<D>>::image_shape(self), "image")?;
        let z = if self.image_channels == 1 { complex::from_real(x) } else { x };
        Ok(self.fft.forward(z)?.mul(self.mask_as::<D>()))
    }

    fn adjoint(&self, y: Tensor<D>) -> Result<Tensor<D>> {
        check_batch_shape(
            &y,
            &<Self as MeasurementOperator<D>>::measurement_shape(self),
            "measurement",
        )?;
        let z = self.fft.inverse(y.mul(self.mask_as::<D>()))?;
        Ok(if self.image_channels == 1 { complex::split(z).0 } else { z })
    }

    /// The zero-filled reconstruction `F_cᴴ (M ⊙ y)`: its real part for real images (the
    /// adjoint), the complex image for complex ones.
    fn baseline(&self, y: Tensor<D>) -> Result<Tensor<D>> {
        self.adjoint(y)
    }

    fn norm_squared(&self) -> f64 {
        1.0
    }
}

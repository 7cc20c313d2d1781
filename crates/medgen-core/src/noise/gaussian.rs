//! Seeded standard-normal noise.

use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::buffer::{noise_buffer, upload};
use crate::error::Result;

/// Draws a tensor of shape `shape` (any rank `D`) with independent `N(0, 1)` entries from
/// `rng`, on `device`.
///
/// The values are drawn on the host (ziggurat sampling of `rand_distr::StandardNormal`,
/// straight into one `Vec<f32>`, row-major) and uploaded once, so the same seed gives
/// bit-identical noise on every backend. Successive calls continue the generator's stream.
///
/// # Errors
/// [`CoreError::Empty`](crate::CoreError::Empty) if a dimension is zero,
/// [`CoreError::InvalidConfig`](crate::CoreError::InvalidConfig) if the shape is too large.
pub fn gaussian_noise<const D: usize>(
    shape: [usize; D],
    rng: &mut (impl Rng + ?Sized),
    device: &Device,
) -> Result<Tensor<D>> {
    let mut values = noise_buffer(&shape, "Gaussian noise shape")?;
    for value in &mut values {
        *value = StandardNormal.sample(rng);
    }
    Ok(upload(values, shape, device))
}

/// [`gaussian_noise`] with the shape and device of `tensor` (`torch.randn_like`).
pub fn gaussian_like<const D: usize>(
    tensor: &Tensor<D>,
    rng: &mut (impl Rng + ?Sized),
) -> Result<Tensor<D>> {
    gaussian_noise(tensor.dims(), rng, &tensor.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;
    use crate::rng::seeded_rng;
    use medgen_testing::test_device;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.try_into_vec_as::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        let device = test_device();
        let a = gaussian_noise::<4>([2, 1, 4, 4], &mut seeded_rng(3), &device).unwrap();
        let b = gaussian_noise([2, 1, 4, 4], &mut seeded_rng(3), &device).unwrap();
        let c = gaussian_noise([2, 1, 4, 4], &mut seeded_rng(4), &device).unwrap();
        let (a, b, c) = (values(a), values(b), values(c));
        assert_eq!(a, b);
        assert!(a.iter().zip(&c).all(|(x, y)| x != y));
        // The stream continues: a second draw from the same generator differs from the first.
        let mut rng = seeded_rng(3);
        let first = values(gaussian_noise([8], &mut rng, &device).unwrap());
        let second = values(gaussian_noise([8], &mut rng, &device).unwrap());
        assert_ne!(first, second);
        assert_eq!(first, a[..8]);
    }

    #[test]
    fn moments_are_standard_normal() {
        let device = test_device();
        let n = 1usize << 14;
        let x = values(gaussian_noise([4, 1, 64, 64], &mut seeded_rng(11), &device).unwrap());
        assert_eq!(x.len(), n);
        let mean = x.iter().sum::<f64>() / n as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let kurtosis = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n as f64 / var.powi(2);
        // Five standard errors: sd(mean) = 1/√n, sd(var) ≈ √(2/n), sd(kurtosis) ≈ √(24/n).
        let nf = n as f64;
        assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "variance {var}");
        assert!((kurtosis - 3.0).abs() < 5.0 * (24.0 / nf).sqrt(), "kurtosis {kurtosis}");
    }

    #[test]
    fn like_keeps_shape_and_empty_shapes_fail() {
        let device = test_device();
        let template = Tensor::<5>::zeros([1, 2, 3, 4, 5], &device);
        let noise = gaussian_like(&template, &mut seeded_rng(0)).unwrap();
        assert_eq!(noise.dims(), [1, 2, 3, 4, 5]);
        assert!(matches!(
            gaussian_noise([2, 0, 4], &mut seeded_rng(0), &device),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            gaussian_noise([usize::MAX, 4], &mut seeded_rng(0), &device),
            Err(CoreError::InvalidConfig { .. })
        ));
    }
}

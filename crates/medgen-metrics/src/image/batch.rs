//! Image-quality metrics on batches of images in tensors (`[N, C, H, W]` or
//! `[N, C, D, H, W]`), one value per batch item.

use burn::tensor::Tensor;
use medgen_core::check::ensure_batch;
use medgen_core::{CoreError, check::ensure_shape};

use super::ms_ssim::ms_ssim;
use super::pixel_error::{mae, mse, psnr};
use super::ssim::{SsimConfig, ssim};
use crate::error::Result;
use crate::features::tensor_to_host;

/// [`ssim`] per batch item: the mean over channels of each channel's SSIM (scikit-image's
/// `channel_axis`), for `a`, `b` of shape `[N, C, H, W]` or `[N, C, D, H, W]`. Reads both
/// tensors back to the host once.
///
/// # Errors
/// [`CoreError::InvalidRank`] / [`CoreError::ShapeMismatch`] for other ranks or different
/// shapes, and the errors of [`ssim`].
pub fn ssim_batch<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    config: &SsimConfig,
) -> Result<Vec<f64>> {
    per_channel_mean(a, b, |x, y, shape| ssim(x, y, shape, config))
}

/// [`ms_ssim`] per batch item (mean over channels); shapes and errors as [`ssim_batch`].
pub fn ms_ssim_batch<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    config: &SsimConfig,
) -> Result<Vec<f64>> {
    per_channel_mean(a, b, |x, y, shape| ms_ssim(x, y, shape, config))
}

/// [`psnr`] per batch item over all its channels and voxels; shapes as [`ssim_batch`].
pub fn psnr_batch<const D: usize>(a: Tensor<D>, b: Tensor<D>, data_range: f64) -> Result<Vec<f64>> {
    per_item(a, b, |x, y| psnr(x, y, data_range))
}

/// [`mse`] per batch item over all its channels and voxels; shapes as [`ssim_batch`].
pub fn mse_batch<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Result<Vec<f64>> {
    per_item(a, b, mse)
}

/// [`mae`] per batch item over all its channels and voxels; shapes as [`ssim_batch`].
pub fn mae_batch<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Result<Vec<f64>> {
    per_item(a, b, mae)
}

/// Reads a validated pair of batches back to the host: values of `a`, of `b`, and the shape.
fn host_pair<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
) -> Result<(Vec<f64>, Vec<f64>, [usize; D])> {
    ensure_batch(&a, "first images")?;
    let dims = a.dims();
    ensure_shape(&b.dims(), &dims, "second images")?;
    Ok((tensor_to_host(a)?, tensor_to_host(b)?, dims))
}

/// `metric` of every batch item (all channels together).
fn per_item<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    metric: impl Fn(&[f64], &[f64]) -> Result<f64>,
) -> Result<Vec<f64>> {
    let (x, y, dims) = host_pair(a, b)?;
    let item: usize = dims[1..].iter().product();
    x.chunks_exact(item).zip(y.chunks_exact(item)).map(|(p, q)| metric(p, q)).collect()
}

/// The mean over channels of `metric` on every channel of every batch item.
fn per_channel_mean<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    metric: impl Fn(&[f64], &[f64], &[usize]) -> Result<f64>,
) -> Result<Vec<f64>> {
    let (x, y, dims) = host_pair(a, b)?;
    let channels = dims[1];
    let spatial = &dims[2..];
    let plane: usize = spatial.iter().product();
    if plane == 0 {
        return Err(CoreError::Empty { what: format!("images {dims:?}") }.into());
    }
    x.chunks_exact(plane * channels)
        .zip(y.chunks_exact(plane * channels))
        .map(|(p, q)| {
            let total = p
                .chunks_exact(plane)
                .zip(q.chunks_exact(plane))
                .map(|(c, d)| metric(c, d, spatial))
                .sum::<Result<f64>>()?;
            Ok(total / channels as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    #[test]
    fn batch_values_equal_the_host_metrics() {
        let device = test_device();
        let (n, c, h, w) = (2, 2, 8, 9);
        let len = n * c * h * w;
        let a: Vec<f32> = (0..len).map(|i| ((i * 13) % 29) as f32 / 29.0).collect();
        let b: Vec<f32> = (0..len).map(|i| ((i * 7) % 31) as f32 / 31.0).collect();
        let ta = Tensor::<4>::from_data(TensorData::new(a.clone(), [n, c, h, w]), &device);
        let tb = Tensor::<4>::from_data(TensorData::new(b.clone(), [n, c, h, w]), &device);
        let (a, b): (Vec<f64>, Vec<f64>) =
            (a.iter().map(|&v| v as f64).collect(), b.iter().map(|&v| v as f64).collect());
        let config = SsimConfig::uniform(1.0).with_win_size(3);
        let values = ssim_batch(ta.clone(), tb.clone(), &config).unwrap();
        let item = c * h * w;
        for (i, value) in values.iter().enumerate() {
            let channel = |k: usize| i * item + k * h * w..i * item + (k + 1) * h * w;
            let expected = (ssim(&a[channel(0)], &b[channel(0)], &[h, w], &config).unwrap()
                + ssim(&a[channel(1)], &b[channel(1)], &[h, w], &config).unwrap())
                / 2.0;
            assert!((value - expected).abs() < 1e-12);
        }
        let p = psnr_batch(ta.clone(), tb.clone(), 1.0).unwrap();
        let m = mse_batch(ta.clone(), tb.clone()).unwrap();
        let e = mae_batch(ta.clone(), tb).unwrap();
        for i in 0..n {
            let r = i * item..(i + 1) * item;
            assert!((p[i] - psnr(&a[r.clone()], &b[r.clone()], 1.0).unwrap()).abs() < 1e-12);
            assert!((m[i] - mse(&a[r.clone()], &b[r.clone()]).unwrap()).abs() < 1e-15);
            assert!((e[i] - mae(&a[r.clone()], &b[r]).unwrap()).abs() < 1e-15);
        }
        let other = Tensor::<4>::zeros([n, c, h, w + 1], &device);
        assert!(matches!(
            mse_batch(ta, other),
            Err(crate::MetricsError::Core(CoreError::ShapeMismatch { .. }))
        ));
    }
}

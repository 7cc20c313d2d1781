//! Segmentation metrics on batches of binary masks in tensors (`[N, 1, H, W]` or
//! `[N, 1, D, H, W]`), one value per batch item.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::{ensure_batch, ensure_shape};

use super::overlap::{dice, iou};
use super::surface::{SurfaceDistanceConfig, SurfaceDistances, surface_distances};
use crate::error::Result;
use crate::features::tensor_to_host;

/// [`dice`] of every batch item (all channels together) of two binary mask tensors of the
/// same shape `[N, C, H, W]` or `[N, C, D, H, W]` with values exactly 0 or 1. Reads both
/// tensors back to the host once.
///
/// # Errors
/// [`CoreError::InvalidRank`] / [`CoreError::ShapeMismatch`] for other ranks or different
/// shapes, [`CoreError::NonBinaryMask`](medgen_core::CoreError::NonBinaryMask) for a value other than 0 or 1.
pub fn dice_batch<const D: usize>(prediction: Tensor<D>, reference: Tensor<D>) -> Result<Vec<f64>> {
    let (p, r, dims) = host_masks(prediction, reference)?;
    let item: usize = dims[1..].iter().product();
    p.chunks_exact(item).zip(r.chunks_exact(item)).map(|(a, b)| dice(a, b)).collect()
}

/// [`iou`] of every batch item; shapes and errors as [`dice_batch`].
pub fn iou_batch<const D: usize>(prediction: Tensor<D>, reference: Tensor<D>) -> Result<Vec<f64>> {
    let (p, r, dims) = host_masks(prediction, reference)?;
    let item: usize = dims[1..].iter().product();
    p.chunks_exact(item).zip(r.chunks_exact(item)).map(|(a, b)| iou(a, b)).collect()
}

/// [`surface_distances`] of every batch item of single-channel masks `[N, 1, H, W]` or
/// `[N, 1, D, H, W]` (the spatial axes are the trailing ones; spacing in `config` refers to
/// them).
///
/// # Errors
/// As [`dice_batch`], [`CoreError::ShapeMismatch`] for more than one channel, and the errors
/// of [`surface_distances`] (e.g. [`MetricsError::Undefined`](crate::MetricsError::Undefined) for an empty mask).
pub fn surface_distances_batch<const D: usize>(
    prediction: Tensor<D>,
    reference: Tensor<D>,
    config: &SurfaceDistanceConfig,
) -> Result<Vec<SurfaceDistances>> {
    let (p, r, dims) = host_masks(prediction, reference)?;
    if dims[1] != 1 {
        return Err(CoreError::shape("masks", "[N, 1, ...spatial]", &dims).into());
    }
    let spatial = &dims[2..];
    let item: usize = spatial.iter().product();
    p.chunks_exact(item)
        .zip(r.chunks_exact(item))
        .map(|(a, b)| surface_distances(a, b, spatial, config))
        .collect()
}

/// Reads two mask batches of the same shape back to the host as booleans.
fn host_masks<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
) -> Result<(Vec<bool>, Vec<bool>, [usize; D])> {
    ensure_batch(&a, "prediction")?;
    let dims = a.dims();
    ensure_shape(&b.dims(), &dims, "reference")?;
    Ok((binary(tensor_to_host(a)?, "prediction")?, binary(tensor_to_host(b)?, "reference")?, dims))
}

/// `values` as booleans, or [`CoreError::NonBinaryMask`](medgen_core::CoreError::NonBinaryMask) at the first value not 0 or 1.
fn binary(values: Vec<f64>, what: &str) -> Result<Vec<bool>> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| match value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err(CoreError::NonBinaryMask { what: what.into(), index, value }.into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    fn masks(values: &[bool], shape: [usize; 4]) -> Tensor<4> {
        let data: Vec<f32> = values.iter().map(|&v| f32::from(u8::from(v))).collect();
        Tensor::from_data(TensorData::new(data, shape), &test_device())
    }

    #[test]
    fn batch_values_equal_the_host_metrics() {
        // Two items of 1 × 4 × 5 masks.
        let p: Vec<bool> = (0..40).map(|i| (i * 7) % 3 == 0).collect();
        let r: Vec<bool> = (0..40).map(|i| (i * 5) % 4 != 1).collect();
        let shape = [2, 1, 4, 5];
        let d = dice_batch(masks(&p, shape), masks(&r, shape)).unwrap();
        let j = iou_batch(masks(&p, shape), masks(&r, shape)).unwrap();
        let config = SurfaceDistanceConfig::new();
        let s = surface_distances_batch(masks(&p, shape), masks(&r, shape), &config).unwrap();
        for i in 0..2 {
            let range = i * 20..(i + 1) * 20;
            assert_eq!(d[i], dice(&p[range.clone()], &r[range.clone()]).unwrap());
            assert_eq!(j[i], iou(&p[range.clone()], &r[range.clone()]).unwrap());
            assert_eq!(
                s[i],
                surface_distances(&p[range.clone()], &r[range], &[4, 5], &config).unwrap()
            );
        }
    }

    #[test]
    fn non_binary_values_are_typed_errors() {
        let device = test_device();
        let half = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
        let ones = Tensor::<4>::ones([1, 1, 2, 2], &device);
        assert!(matches!(
            dice_batch(half, ones.clone()),
            Err(crate::MetricsError::Core(CoreError::NonBinaryMask { index: 0, .. }))
        ));
        let two_channels = Tensor::<4>::ones([1, 2, 2, 2], &device);
        assert!(matches!(
            surface_distances_batch(
                two_channels.clone(),
                two_channels,
                &SurfaceDistanceConfig::new()
            ),
            Err(crate::MetricsError::Core(CoreError::ShapeMismatch { .. }))
        ));
    }
}

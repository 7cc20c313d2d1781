//! The distance transform of a batch of masks held in a tensor, on any device.

use burn::prelude::*;
use medgen_core::CoreError;

use super::host::validate;
use super::options::EdtOptions;
use super::parallel::{batch_threads, for_each_item};
use super::separable::flat_edt;
use crate::error::Result;
use crate::mask::{read_binary_mask, upload};

/// The output of [`distance_transform_edt_tensor`], on the input's device.
#[derive(Debug)]
pub struct EdtTensors<const D: usize> {
    /// Distances, same shape as the masks (`[N, H, W]` or `[N, D, H, W]`), in the device's
    /// float dtype (computed in `f64`, then rounded).
    pub distances: Tensor<D>,
    /// With [`EdtOptions::return_indices`]: for every element, the flat row-major index
    /// *within its own batch item* of its nearest zero element (for `[N, H, W]`, index
    /// `k` is the pixel `(k / W, k % W)`), or `-1` if the item has no zero element.
    pub nearest: Option<Tensor<D, Int>>,
}

/// [`distance_transform_edt`](crate::distance_transform_edt) of each mask of a batch:
/// `masks` is `[N, spatial…]` (`Tensor<3>` for `[N, H, W]` images, `Tensor<4>` for
/// `[N, D, H, W]` volumes; any rank `>= 2` works) and each item is transformed on its own,
/// with [`EdtOptions::sampling`] giving one spacing per *spatial* axis (or one for all).
///
/// Mask values must be exactly `0.0` (background) or `1.0` (foreground); soft masks are
/// rejected rather than thresholded silently. The transform itself runs on the host: the
/// masks are read back once, transformed on [`EdtOptions::threads`] threads (across items
/// when items are small, within each item otherwise), and the results uploaded once to the
/// masks' device.
///
/// # Errors
/// [`CoreError::InvalidRank`] for `D < 2`, [`CoreError::Empty`] for an empty batch or axis,
/// [`CoreError::NonBinaryMask`](medgen_core::CoreError::NonBinaryMask), [`CoreError::InvalidConfig`]
/// for a bad sampling or thread count (or `return_indices` with items of more than
/// `i32::MAX` elements), and [`CoreError::Readback`](medgen_core::CoreError::Readback) if the device
/// cannot be read.
pub fn distance_transform_edt_tensor<const D: usize>(
    masks: Tensor<D>,
    options: &EdtOptions,
) -> Result<EdtTensors<D>> {
    if D < 2 {
        return Err(CoreError::InvalidRank {
            what: "masks ([N, spatial...])".into(),
            expected: 3,
            got: D,
        }
        .into());
    }
    let device = masks.device();
    let (mask, dims) = read_binary_mask(masks, "masks")?;
    let item_shape = &dims[1..];
    let item_len: usize = item_shape.iter().product();
    let sampling = validate(item_len, item_shape, options, "masks item")?;
    let threads = options.checked_threads()?;
    let track = options.return_indices;
    if track && item_len > i32::MAX as usize {
        return Err(CoreError::config(
            "return_indices",
            format!("items of {item_len} elements exceed the i32 index range"),
        )
        .into());
    }

    let mut distances = vec![0f32; mask.len()];
    let mut nearest = vec![0i64; if track { mask.len() } else { 0 }];
    let items: Vec<_> = if track {
        mask.chunks(item_len)
            .zip(distances.chunks_mut(item_len))
            .zip(nearest.chunks_mut(item_len).map(Some))
            .collect()
    } else {
        mask.chunks(item_len).zip(distances.chunks_mut(item_len)).map(|pair| (pair, None)).collect()
    };
    let (across, within) = batch_threads(item_len, threads);
    for_each_item(
        items,
        across,
        || (),
        |_, ((item, out), out_nearest)| {
            let policy = options.no_background;
            let edt = flat_edt(item, item_shape, &sampling, policy, track, within);
            for (o, d) in out.iter_mut().zip(&edt.distances) {
                *o = *d as f32;
            }
            if let Some(out_nearest) = out_nearest {
                match (&edt.nearest, edt.has_background) {
                    (Some(flat), true) => {
                        for (o, &f) in out_nearest.iter_mut().zip(flat) {
                            *o = f as i64;
                        }
                    }
                    _ => out_nearest.fill(-1),
                }
            }
        },
    );

    Ok(EdtTensors {
        distances: upload(distances, dims, &device),
        nearest: track.then(|| Tensor::from_data(TensorData::new(nearest, dims), &device)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SdfError;
    use crate::edt::host::distance_transform_edt;
    use crate::edt::options::NoBackground;
    use medgen_testing::test_device;

    #[test]
    fn batch_matches_host_per_item() {
        let device = test_device();
        let item0: Vec<bool> = (0..30).map(|i| (i * 5) % 7 != 0).collect();
        let item1 = vec![true; 30];
        let values: Vec<f32> = item0.iter().chain(&item1).map(|&m| m as u8 as f32).collect();
        let masks = upload(values, [2, 5, 6], &device);
        let options =
            EdtOptions::new().with_sampling(Some(vec![1.5, 0.5])).with_return_indices(true);
        let out = distance_transform_edt_tensor(masks, &options).unwrap();
        let distances = out.distances.try_into_vec_as::<f32>().unwrap();
        let nearest = out.nearest.unwrap().try_into_vec_as::<i64>().unwrap();
        let host = distance_transform_edt(&item0, &[5, 6], &options).unwrap();
        let indices = host.indices.unwrap();
        for i in 0..30 {
            assert_eq!(distances[i], host.distances[i] as f32);
            let (row, col) = (nearest[i] / 6, nearest[i] % 6);
            assert!(!item0[nearest[i] as usize]);
            let d = ((1.5 * (row - i as i64 / 6) as f64).powi(2)
                + (0.5 * (col - i as i64 % 6) as f64).powi(2))
            .sqrt();
            assert!((d - host.distances[i]).abs() < 1e-12);
            assert_eq!([row, col], [indices[i], indices[30 + i]]);
        }
        // The all-foreground item has no background: +inf and index -1.
        assert!(distances[30..].iter().all(|d| *d == f32::INFINITY));
        assert!(nearest[30..].iter().all(|n| *n == -1));
    }

    #[test]
    fn volumes_and_scipy_policy() {
        let device = test_device();
        let masks = Tensor::<4>::ones([1, 2, 2, 3], &device);
        let options = EdtOptions::new().with_no_background(NoBackground::Scipy);
        let out = distance_transform_edt_tensor(masks, &options).unwrap();
        assert!(out.nearest.is_none());
        let d = out.distances.try_into_vec_as::<f32>().unwrap();
        // Distance to the virtual point (-1, 0, 0): element (1, 1, 2) is sqrt(4 + 1 + 4).
        assert_eq!(d[0], 1.0);
        assert!((d[11] - 3.0).abs() < 1e-6);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let options = EdtOptions::new();
        let rank1 = Tensor::<1>::zeros([4], &device);
        assert!(matches!(
            distance_transform_edt_tensor(rank1, &options),
            Err(SdfError::Core(CoreError::InvalidRank { .. }))
        ));
        let soft = Tensor::<3>::full([1, 2, 2], 0.25, &device);
        assert!(matches!(
            distance_transform_edt_tensor(soft, &options),
            Err(SdfError::Core(CoreError::NonBinaryMask { .. }))
        ));
        let empty = Tensor::<3>::zeros([1, 0, 2], &device);
        assert!(matches!(
            distance_transform_edt_tensor(empty, &options),
            Err(SdfError::Core(CoreError::Empty { .. }))
        ));
        let masks = Tensor::<3>::zeros([1, 2, 2], &device);
        let bad = EdtOptions::new().with_sampling(Some(vec![1.0, 2.0, 3.0]));
        assert!(matches!(
            distance_transform_edt_tensor(masks, &bad),
            Err(SdfError::Core(CoreError::InvalidConfig { .. }))
        ));
    }
}

//! Multi-class masks ↔ truncated, normalised signed distance maps (one SDF channel per class).

use burn::prelude::*;
use medgen_core::CoreError;

use crate::error::Result;
use medgen_sdf::{SdfConfig, mask_from_sdf_tensor, signed_distance, signed_distance_tensor};

/// Checks that `config` gives SDF values in `[−1, 1]` (a truncation and `normalize`), the
/// scale of the Gaussian prior that segmentation samplers start from.
pub(crate) fn ensure_normalized(config: &SdfConfig) -> Result<()> {
    if config.normalize {
        config.validate(1)?;
        Ok(())
    } else {
        Err(CoreError::config(
            "sdf",
            "segmentation needs truncated, normalised SDFs (SdfConfig::truncated_normalized)",
        )
        .into())
    }
}

/// The signed distance maps of a batch of multi-class masks: `masks` `[N, K, *spatial]`
/// (`D = 4` for 2D, `D = 5` for 3D; values exactly 0 or 1, channel `k` the mask of class `k`)
/// → `[N, K, *spatial]`, channel by channel
/// [`signed_distance_tensor`](medgen_sdf::signed_distance_tensor) with `config`.
///
/// # Errors
/// Those of [`signed_distance_tensor`](medgen_sdf::signed_distance_tensor) (rank, emptiness,
/// non-binary values, configuration).
pub fn masks_to_sdf<const D: usize>(masks: Tensor<D>, config: &SdfConfig) -> Result<Tensor<D>> {
    let dims = masks.dims();
    medgen_core::check::ensure_non_empty(&dims, "masks")?;
    let mut flat = dims;
    flat[0] = dims[0] * dims[1];
    flat[1] = 1;
    let sdf = signed_distance_tensor(masks.reshape(flat), config)?;
    Ok(sdf.reshape(dims))
}

/// The masks a batch of SDFs describes, `[N, K, *spatial]` → `[N, K, *spatial]` of 0/1:
/// `m = 1{m̃ ≤ 0}` for the default sign convention (see
/// [`mask_from_sdf_tensor`](medgen_sdf::mask_from_sdf_tensor), threshold 0), on the SDFs' device.
///
/// # Errors
/// [`CoreError::NonFinite`] for NaN values and [`CoreError::Empty`] for an empty tensor.
pub fn sdf_to_masks<const D: usize>(sdf: Tensor<D>, config: &SdfConfig) -> Result<Tensor<D>> {
    Ok(mask_from_sdf_tensor(sdf, 0.0, config.sign)?)
}

/// The SDF of one host item `[K, *spatial]` (`spatial` without the class axis), each class
/// channel on its own, as `f32`.
pub(crate) fn host_sdf(
    mask: &[bool],
    classes: usize,
    spatial: &[usize],
    config: &SdfConfig,
) -> Result<Vec<f32>> {
    let len: usize = spatial.iter().product();
    let mut out = Vec::with_capacity(mask.len());
    for channel in mask.chunks(len).take(classes) {
        out.extend(signed_distance(channel, spatial, config)?.into_iter().map(|v| v as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegError;
    use medgen_testing::test_device;

    #[test]
    fn multi_class_round_trip_is_exact_and_channels_are_independent() {
        let device = test_device();
        // Two images, two classes each, 4 × 5.
        let values: Vec<f32> =
            (0..2 * 2 * 20).map(|i| f32::from(u8::from((i * 7 + i / 9) % 5 < 2))).collect();
        let masks = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 2, 4, 5]), &device);
        let config = SdfConfig::truncated_normalized(3.0);
        let sdf = masks_to_sdf(masks, &config).unwrap();
        assert_eq!(sdf.dims(), [2, 2, 4, 5]);
        let got = sdf.clone().try_into_vec_as::<f32>().unwrap();
        for (c, chunk) in values.chunks(20).enumerate() {
            let mask: Vec<bool> = chunk.iter().map(|&v| v == 1.0).collect();
            let want = host_sdf(&mask, 1, &[4, 5], &config).unwrap();
            assert_eq!(&got[c * 20..(c + 1) * 20], &want[..], "channel {c}");
        }
        assert!(got.iter().all(|v| v.abs() <= 1.0));
        let back = sdf_to_masks(sdf, &config).unwrap();
        assert_eq!(back.try_into_vec_as::<f32>().unwrap(), values);
    }

    #[test]
    fn unnormalised_configs_and_soft_masks_are_rejected() {
        assert!(ensure_normalized(&SdfConfig::new()).is_err());
        assert!(ensure_normalized(&SdfConfig::truncated_normalized(2.0)).is_ok());
        let soft = Tensor::<4>::full([1, 2, 2, 2], 0.5, &test_device());
        assert!(matches!(
            masks_to_sdf(soft, &SdfConfig::truncated_normalized(2.0)),
            Err(SegError::Core(CoreError::NonBinaryMask { .. }))
        ));
    }
}

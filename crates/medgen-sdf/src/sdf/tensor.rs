//! Signed distance functions of batches of masks held in tensors, and back.

use burn::prelude::*;
use medgen_core::CoreError;

use super::config::{SdfConfig, SignConvention};
use super::host::{check_threshold, signed_distance_validated};
use crate::edt::EdtOptions;
use crate::edt::parallel::{batch_threads, for_each_item};
use crate::edt::validate;
use crate::error::Result;
use crate::mask::{read_binary_mask, read_values, upload};

/// [`signed_distance`](crate::signed_distance) of every mask of a batch: `masks` is
/// `[N, 1, H, W]` (`Tensor<4>`) or `[N, 1, D, H, W]` (`Tensor<5>`) with values exactly 0 or 1,
/// and the result has the same shape, on the same device, in its float dtype (computed in
/// `f64`, then rounded; the rounding keeps every value nonzero, so the round trip through
/// [`mask_from_sdf_tensor`] stays exact).
///
/// The distances are computed on the host (one read-back of the masks, one upload of the
/// result) on every core, each item on its own, so an empty or full item gets its constant
/// map.
///
/// # Errors
/// [`CoreError::InvalidRank`] for `D < 3`, [`CoreError::ShapeMismatch`] if the channel axis
/// is not 1, [`CoreError::Empty`] for an empty batch,
/// [`CoreError::NonBinaryMask`](medgen_core::CoreError::NonBinaryMask), and the configuration errors of
/// [`signed_distance`](crate::signed_distance).
pub fn signed_distance_tensor<const D: usize>(
    masks: Tensor<D>,
    config: &SdfConfig,
) -> Result<Tensor<D>> {
    if D < 3 {
        return Err(CoreError::InvalidRank {
            what: "masks ([N, 1, spatial...])".into(),
            expected: 4,
            got: D,
        }
        .into());
    }
    let dims = masks.dims();
    if dims[1] != 1 {
        return Err(CoreError::shape("masks", "[N, 1, spatial...]", &dims).into());
    }
    let resolved = config.resolve(D - 2)?;
    let device = masks.device();
    let (mask, dims) = read_binary_mask(masks, "masks")?;
    let item_shape = &dims[2..];
    let item_len: usize = item_shape.iter().product();
    let options = EdtOptions::new().with_sampling(Some(resolved.sampling.clone()));
    validate(item_len, item_shape, &options, "masks item")?;
    let (across, within) = batch_threads(item_len, options.checked_threads()?);
    let mut values = vec![0f32; mask.len()];
    let items: Vec<_> = mask.chunks(item_len).zip(values.chunks_mut(item_len)).collect();
    for_each_item(
        items,
        across,
        || (),
        |_, (item, out)| {
            let sdf = signed_distance_validated(item, item_shape, &resolved, within);
            for (o, v) in out.iter_mut().zip(sdf) {
                *o = v as f32;
            }
        },
    );
    Ok(upload(values, dims, &device))
}

/// The masks that a batch of signed distance functions describes, on the SDFs' device and
/// without leaving it: `1.0` where `sdf <= threshold` ([`SignConvention::NegativeInside`]) or
/// `sdf >= threshold` ([`SignConvention::PositiveInside`]), `0.0` elsewhere; any shape.
///
/// One scalar is read back to check that `sdf` holds no NaN (±∞ are allowed).
///
/// # Errors
/// [`CoreError::NonFinite`] if `sdf` holds a NaN, [`CoreError::InvalidConfig`] for a NaN
/// threshold, [`CoreError::Empty`] for an empty tensor, and
/// [`CoreError::Readback`](medgen_core::CoreError::Readback) if the check cannot be read.
pub fn mask_from_sdf_tensor<const D: usize>(
    sdf: Tensor<D>,
    threshold: f64,
    sign: SignConvention,
) -> Result<Tensor<D>> {
    check_threshold(threshold)?;
    medgen_core::check::ensure_non_empty(&sdf.dims(), "sdf")?;
    let has_nan = read_values(sdf.clone().is_nan().any().float(), "sdf NaN check")?;
    if has_nan.first().is_some_and(|v| *v != 0.0) {
        return Err(CoreError::NonFinite { what: "sdf (NaN)".into() }.into());
    }
    let inside = match sign {
        SignConvention::NegativeInside => sdf.lower_equal_elem(threshold),
        SignConvention::PositiveInside => sdf.greater_equal_elem(threshold),
    };
    Ok(inside.float())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SdfError;
    use crate::sdf::host::{mask_from_sdf, signed_distance};
    use medgen_testing::test_device;

    fn floats(t: Tensor<4>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn batch_matches_host_and_round_trips() {
        let device = test_device();
        // Item 0: an L-shaped region; item 1: empty (a constant map).
        let item0 = [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0,
        ];
        let mut values = item0.to_vec();
        values.extend([0.0; 20]);
        let masks = upload(values.clone(), [2, 1, 4, 5], &device);
        for config in [
            SdfConfig::truncated_normalized(2.0),
            SdfConfig::new().with_sign(SignConvention::PositiveInside),
        ] {
            let sdf = signed_distance_tensor(masks.clone(), &config).unwrap();
            assert_eq!(sdf.dims(), [2, 1, 4, 5]);
            let got = floats(sdf.clone());
            let host_mask: Vec<bool> = item0.iter().map(|&v| v == 1.0).collect();
            let want = signed_distance(&host_mask, &[4, 5], &config).unwrap();
            for (g, w) in got[..20].iter().zip(&want) {
                assert_eq!(*g, *w as f32);
            }
            let empty = signed_distance(&[false; 20], &[4, 5], &config).unwrap();
            assert!(got[20..].iter().zip(&empty).all(|(g, w)| *g == *w as f32));
            let back = floats(mask_from_sdf_tensor(sdf, 0.0, config.sign).unwrap());
            assert_eq!(back, values);
            let host_back = mask_from_sdf(&want, 0.0, config.sign).unwrap();
            assert_eq!(host_back, host_mask);
        }
    }

    #[test]
    fn volumes_round_trip() {
        let device = test_device();
        let values: Vec<f32> = (0..2 * 3 * 4).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect();
        let masks =
            Tensor::<5>::from_data(TensorData::new(values.clone(), [1, 1, 2, 3, 4]), &device);
        let config = SdfConfig::truncated_normalized(3.0).with_sampling(Some(vec![2.0, 1.0, 1.0]));
        let sdf = signed_distance_tensor(masks, &config).unwrap();
        let back = mask_from_sdf_tensor(sdf, 0.0, config.sign).unwrap();
        assert_eq!(back.try_into_vec_as::<f32>().unwrap(), values);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let config = SdfConfig::new();
        let two_channels = Tensor::<4>::zeros([1, 2, 3, 3], &device);
        assert!(matches!(
            signed_distance_tensor(two_channels, &config),
            Err(SdfError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let soft = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
        assert!(matches!(
            signed_distance_tensor(soft, &config),
            Err(SdfError::Core(CoreError::NonBinaryMask { .. }))
        ));
        let rank2 = Tensor::<2>::zeros([2, 2], &device);
        assert!(matches!(
            signed_distance_tensor(rank2, &config),
            Err(SdfError::Core(CoreError::InvalidRank { .. }))
        ));
        let empty = Tensor::<4>::zeros([0, 1, 2, 2], &device);
        assert!(signed_distance_tensor(empty, &config).is_err());
        let nan = Tensor::<4>::from_floats([[[[0.5, f32::NAN]]]], &device);
        let sign = SignConvention::NegativeInside;
        assert!(matches!(
            mask_from_sdf_tensor(nan, 0.0, sign),
            Err(SdfError::Core(CoreError::NonFinite { .. }))
        ));
        let ok = Tensor::<4>::from_floats([[[[0.5, -0.5]]]], &device);
        assert!(mask_from_sdf_tensor(ok, f64::NAN, sign).is_err());
    }
}

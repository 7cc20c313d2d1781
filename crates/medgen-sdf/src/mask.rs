//! Moving binary masks and distance maps between tensors and host buffers (also used by
//! `medgen-seg` to read masks back).

use burn::prelude::*;
use medgen_core::check::ensure_non_empty;

use medgen_core::CoreError;

use crate::error::Result;

/// Reads `tensor` back to the host in one round trip and returns its elements (row-major) as
/// a binary mask, with its shape.
///
/// Every value must be exactly `0.0` (background, `false`) or `1.0` (foreground, `true`);
/// anything else (including NaN, or a soft mask such as `0.7`) is
/// [`CoreError::NonBinaryMask`]: threshold soft masks explicitly before calling (e.g.
/// `mask.greater_elem(0.5).float()`), so the choice of threshold stays visible.
pub fn read_binary_mask<const D: usize>(
    tensor: Tensor<D>,
    what: &str,
) -> Result<(Vec<bool>, [usize; D])> {
    let dims = tensor.dims();
    ensure_non_empty(&dims, what)?;
    let values = read_values(tensor, what)?;
    let mask = values
        .iter()
        .enumerate()
        .map(|(index, &value)| {
            if value == 1.0 {
                Ok(true)
            } else if value == 0.0 {
                Ok(false)
            } else {
                Err(CoreError::NonBinaryMask { what: what.into(), index, value: f64::from(value) }
                    .into())
            }
        })
        .collect::<Result<Vec<bool>>>()?;
    Ok((mask, dims))
}

/// Reads `tensor` back to the host as row-major `f32` values (one round trip).
pub fn read_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    Ok(medgen_core::read_values::<f32, D, _>(tensor, what)?)
}

/// Uploads row-major `values` of shape `dims` to `device`, in the device's float dtype.
pub(crate) fn upload<const D: usize>(
    values: Vec<f32>,
    dims: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn binary_values_round_trip_and_soft_values_are_rejected() {
        let device = test_device();
        let t = Tensor::<2>::from_floats([[0.0, 1.0], [1.0, 0.0]], &device);
        let (mask, dims) = read_binary_mask(t, "m").unwrap();
        assert_eq!(mask, vec![false, true, true, false]);
        assert_eq!(dims, [2, 2]);
        let soft = Tensor::<2>::from_floats([[0.0, 1.0], [0.7, 0.0]], &device);
        match read_binary_mask(soft, "m") {
            Err(crate::SdfError::Core(CoreError::NonBinaryMask { index, value, .. })) => {
                assert_eq!(index, 2);
                assert!((value - 0.7).abs() < 1e-6);
            }
            other => panic!("expected NonBinaryMask, got {other:?}"),
        }
        let nan = Tensor::<2>::from_floats([[f32::NAN, 1.0]], &device);
        assert!(read_binary_mask(nan, "m").is_err());
        let back = upload(vec![1.0, 2.0], [1, 2], &device);
        assert_eq!(read_values(back, "b").unwrap(), vec![1.0, 2.0]);
    }
}

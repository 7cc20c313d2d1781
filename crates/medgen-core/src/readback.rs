//! Reading tensors back to the host with a typed error.
//!
//! Every medgen function that needs a tensor's values on the host (metrics, distance
//! transforms, PNG grids, adaptive step control) reads them through [`read_values`], so that a
//! device failure is one error, [`CoreError::Readback`], naming what was being read.

use burn::tensor::kind::Basic;
use burn::tensor::{Element, Tensor};

use crate::error::{CoreError, Result};

/// The values of `tensor` in row-major order, converted to `E` (one round trip to the
/// device).
///
/// # Errors
/// [`CoreError::Readback`] naming `what` when the device cannot deliver the data or the
/// values cannot be converted to `E`.
pub fn read_values<E: Element, const D: usize, K: Basic>(
    tensor: Tensor<D, K>,
    what: &str,
) -> Result<Vec<E>> {
    tensor
        .try_into_vec_as::<E>()
        .map_err(|err| CoreError::Readback { what: what.into(), reason: format!("{err:?}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;
    use medgen_testing::test_device;

    #[test]
    fn float_and_int_tensors_read_back_in_row_major_order() {
        let device = test_device();
        let x = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.5]], &device);
        assert_eq!(read_values::<f64, 2, _>(x, "x").unwrap(), vec![1.0, 2.0, 3.0, 4.5]);
        let labels = Tensor::<1, Int>::from_ints([3, -1], &device);
        assert_eq!(read_values::<i64, 1, _>(labels, "labels").unwrap(), vec![3, -1]);
    }
}

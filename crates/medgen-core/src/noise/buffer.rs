//! The host buffer that noise is drawn into before it is uploaded as one tensor.
//!
//! Drawing on the host from the caller's generator is what makes a seed give the same noise on
//! every device.

use burn::tensor::{Device, Tensor, TensorData};

use crate::check::ensure_non_empty;
use crate::error::{CoreError, Result};

/// A zero-filled buffer with one element per entry of `shape`: fails with [`CoreError::Empty`]
/// if a dimension is zero and with [`CoreError::InvalidConfig`] if the shape is too large to
/// allocate.
pub(crate) fn noise_buffer(shape: &[usize], what: &str) -> Result<Vec<f32>> {
    ensure_non_empty(shape, what)?;
    let too_large = || CoreError::config(what, format!("shape {shape:?} is too large"));
    let count =
        shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(too_large)?;
    let mut values = Vec::new();
    values.try_reserve_exact(count).map_err(|_| too_large())?;
    values.resize(count, 0.0);
    Ok(values)
}

/// Uploads `values` (row-major, `shape`'s element count) as a tensor on `device`.
pub(crate) fn upload<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

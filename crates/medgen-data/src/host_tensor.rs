//! Uploading host buffers (flat, C-order) to tensors with checked shapes.

use burn::prelude::*;

use medgen_core::error::{CoreError, Result};

/// Uploads C-order `values` as a float tensor of `shape` on `device`.
///
/// Fails with [`CoreError::InvalidRank`] if `shape.len() != D` and [`CoreError::ShapeMismatch`]
/// if `values.len()` is not the product of `shape`.
pub(crate) fn float_tensor<const D: usize>(
    values: Vec<f32>,
    shape: &[usize],
    device: &Device,
    what: &str,
) -> Result<Tensor<D>> {
    check_layout::<D>(values.len(), shape, what)?;
    Ok(Tensor::from_data(TensorData::new(values, shape.to_vec()), device))
}

/// Uploads C-order integer `values` as an `Int` tensor of `shape` on `device` (see
/// [`float_tensor`] for the errors).
pub(crate) fn int_tensor<const D: usize>(
    values: Vec<i64>,
    shape: &[usize],
    device: &Device,
    what: &str,
) -> Result<Tensor<D, Int>> {
    check_layout::<D>(values.len(), shape, what)?;
    Ok(Tensor::from_data(TensorData::new(values, shape.to_vec()), device))
}

fn check_layout<const D: usize>(len: usize, shape: &[usize], what: &str) -> Result<()> {
    if shape.len() != D {
        return Err(CoreError::InvalidRank { what: what.into(), expected: D, got: shape.len() });
    }
    if shape.iter().product::<usize>() != len {
        return Err(CoreError::shape(
            what,
            format!("{shape:?} ({} values)", shape.iter().product::<usize>()),
            &[len],
        ));
    }
    Ok(())
}

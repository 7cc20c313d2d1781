//! Validation of user input at public boundaries: ranks, shapes, emptiness and finiteness.
//!
//! Models and samplers call these once on entry so that the math inside never sees bad input.

use burn::tensor::Tensor;

use crate::error::{CoreError, Result};

/// Fails with [`CoreError::NonFinite`] if `tensor` holds a NaN or ±Inf.
///
/// Computes `sum(0 · x)`, which is 0 exactly when every element is finite, and reads that one
/// scalar back to the host (a synchronisation point: call it at boundaries, not inside loops).
pub fn ensure_finite<const D: usize>(tensor: &Tensor<D>, what: &str) -> Result<()> {
    let probe = tensor.clone().mul_scalar(0.0).sum().into_scalar::<f32>();
    if probe.is_finite() { Ok(()) } else { Err(CoreError::NonFinite { what: what.into() }) }
}

/// Fails with [`CoreError::NonFinite`] if `values` holds a NaN or ±Inf.
pub fn ensure_finite_values(values: &[f32], what: &str) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(CoreError::NonFinite { what: what.into() })
    }
}

/// Fails with [`CoreError::Empty`] if any dimension of `shape` is zero.
pub fn ensure_non_empty(shape: &[usize], what: &str) -> Result<()> {
    if shape.contains(&0) {
        Err(CoreError::Empty { what: format!("{what} (shape {shape:?})") })
    } else {
        Ok(())
    }
}

/// Fails with [`CoreError::ShapeMismatch`] unless `got == expected`.
pub fn ensure_shape(got: &[usize], expected: &[usize], what: &str) -> Result<()> {
    if got == expected { Ok(()) } else { Err(CoreError::shape(what, format!("{expected:?}"), got)) }
}

/// The shape `[n, item_shape...]` of a batch of `n` items as a rank-`D` array (samplers turn
/// a model's per-item shape into the shape of the noise they draw).
///
/// # Errors
/// [`CoreError::InvalidRank`] naming `what` unless `item_shape` has `D − 1` axes;
/// [`CoreError::Empty`] naming `what` for a zero-sized axis.
pub fn batch_shape<const D: usize>(
    n: usize,
    item_shape: &[usize],
    what: &str,
) -> Result<[usize; D]> {
    if item_shape.len() + 1 != D {
        return Err(CoreError::InvalidRank {
            what: format!("{what} (items of shape {item_shape:?})"),
            expected: item_shape.len() + 1,
            got: D,
        });
    }
    ensure_non_empty(item_shape, what)?;
    let mut shape = [n; D];
    shape[1..].copy_from_slice(item_shape);
    Ok(shape)
}

/// Fails unless `tensor` is a non-empty batch of images or volumes with spatial rank
/// `D - 2` (`[N, C, H, W]` or `[N, C, D, H, W]`).
pub fn ensure_batch<const D: usize>(tensor: &Tensor<D>, what: &str) -> Result<()> {
    if !(D == 4 || D == 5) {
        return Err(CoreError::InvalidRank { what: what.into(), expected: 4, got: D });
    }
    ensure_non_empty(&tensor.dims(), what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn batch_shapes_prepend_the_count_and_check_the_rank() {
        assert_eq!(batch_shape::<4>(3, &[1, 8, 8], "sample_shape").unwrap(), [3, 1, 8, 8]);
        let err = batch_shape::<5>(3, &[1, 8, 8], "sample_shape").unwrap_err();
        assert!(matches!(err, CoreError::InvalidRank { expected: 4, got: 5, .. }));
        assert!(err.to_string().contains("sample_shape"));
        assert!(matches!(batch_shape::<3>(1, &[0, 2], "item"), Err(CoreError::Empty { .. })));
    }

    #[test]
    fn finite_check_catches_nan_and_inf() {
        let device = test_device();
        let ok = Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 1e30]], &device);
        assert!(ensure_finite(&ok, "ok").is_ok());
        let nan = Tensor::<2>::from_floats([[1.0, f32::NAN], [0.0, 0.0]], &device);
        assert!(matches!(ensure_finite(&nan, "x"), Err(CoreError::NonFinite { .. })));
        let inf = Tensor::<2>::from_floats([[1.0, f32::NEG_INFINITY], [0.0, 0.0]], &device);
        assert!(ensure_finite(&inf, "x").is_err());
    }

    #[test]
    fn shape_checks_name_the_input() {
        let err = ensure_shape(&[2, 3], &[2, 4], "mask").unwrap_err();
        assert!(err.to_string().contains("mask"));
        assert!(ensure_non_empty(&[0, 1, 4, 4], "batch").is_err());
        assert!(ensure_non_empty(&[1, 1, 4, 4], "batch").is_ok());
        assert!(ensure_finite_values(&[1.0, f32::NAN], "v").is_err());
    }
}

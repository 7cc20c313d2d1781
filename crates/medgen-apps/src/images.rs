//! Validation of the image batches the applications take at their public boundary.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::{ensure_batch, ensure_finite};

use crate::error::Result;

/// Checks that `images` is a non-empty batch `[N, ...]` whose items have the shape
/// `item_shape` (`[C, H, W]` or `[C, D, H, W]`, the shape the model was built for) and holds
/// no NaN or infinity (one read-back).
///
/// # Errors
/// [`CoreError::Empty`], [`CoreError::ShapeMismatch`] naming `what`, and
/// and a non-finite-value error for NaN/Inf values.
pub fn check_images<const D: usize>(
    images: &Tensor<D>,
    item_shape: &[usize],
    what: &str,
) -> Result<()> {
    ensure_batch(images, what)?;
    let dims = images.dims();
    if dims[1..] != *item_shape {
        let mut expected = vec![dims[0]];
        expected.extend_from_slice(item_shape);
        return Err(CoreError::shape(
            what,
            format!("{expected:?} (the model's input shape)"),
            &dims,
        )
        .into());
    }
    ensure_finite(images, what)?;
    Ok(())
}

/// Reads a tensor back to the host as `f64` values (row-major), naming `what` on failure.
///
/// # Errors
/// [`CoreError::Readback`] if the device cannot deliver the values.
pub fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f64>> {
    let values = medgen_core::read_values::<f32, D, _>(tensor, what)?;
    Ok(values.into_iter().map(f64::from).collect())
}

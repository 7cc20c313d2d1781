//! Validation of class labels against the number of classes of a network or loss.

use burn::tensor::{Int, Tensor};
use medgen_core::check::ensure_shape;

use crate::error::{GanError, Result};

/// Fails unless `labels` has shape `[batch]` and every label lies in `0..num_classes`.
///
/// Reads the smallest and largest label back to the host (two scalars): call it once per
/// network call, on entry. Errors: [`medgen_core::CoreError::ShapeMismatch`] for a wrong
/// shape, [`GanError::LabelOutOfRange`] naming the offending label.
pub fn check_class_labels(
    labels: &Tensor<1, Int>,
    batch: usize,
    num_classes: usize,
    what: &str,
) -> Result<()> {
    ensure_shape(&labels.dims(), &[batch], what)?;
    if batch == 0 {
        return Ok(());
    }
    let low = labels.clone().min().into_scalar::<i64>();
    let high = labels.clone().max().into_scalar::<i64>();
    for label in [low, high] {
        if label < 0 || label >= num_classes as i64 {
            return Err(GanError::LabelOutOfRange { what: what.into(), label, num_classes });
        }
    }
    Ok(())
}

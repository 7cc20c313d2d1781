//! Validation of a pair of host images.

use medgen_core::CoreError;

use crate::error::Result;

/// Checks that `a` and `b` have the same, non-zero length, and finite values.
pub(crate) fn check_pair(a: &[f64], b: &[f64]) -> Result<()> {
    if a.len() != b.len() {
        return Err(
            CoreError::shape("second image", format!("{} values", a.len()), &[b.len()]).into()
        );
    }
    if a.is_empty() {
        return Err(CoreError::Empty { what: "image".into() }.into());
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return Err(CoreError::NonFinite { what: "image".into() }.into());
    }
    Ok(())
}

/// Checks that `shape` is 2-D or 3-D and holds `len` elements.
pub(crate) fn check_shape(shape: &[usize], len: usize) -> Result<()> {
    if !(shape.len() == 2 || shape.len() == 3) {
        return Err(CoreError::InvalidRank {
            what: "image shape ([H, W] or [D, H, W])".into(),
            expected: 2,
            got: shape.len(),
        }
        .into());
    }
    if shape.iter().product::<usize>() != len {
        return Err(CoreError::shape("image", format!("{shape:?}"), &[len]).into());
    }
    Ok(())
}

/// Checks that the data range `R` is finite and positive.
pub(crate) fn check_data_range(data_range: f64) -> Result<()> {
    if data_range.is_finite() && data_range > 0.0 {
        Ok(())
    } else {
        Err(CoreError::config("data_range", format!("must be finite and > 0, got {data_range}"))
            .into())
    }
}

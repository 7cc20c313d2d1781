//! Voxel spacing: validating a user's `sampling` against the number of axes.

use medgen_core::CoreError;

use crate::error::Result;

/// Resolves `sampling` to one spacing per axis of an `ndim`-dimensional array.
///
/// `None` means unit spacing; a single value applies to every axis (as a scalar `sampling`
/// does in scipy); otherwise there must be exactly `ndim` values. Every value must be finite
/// and `> 0`, else [`CoreError::InvalidConfig`] naming `sampling`.
pub(crate) fn resolve_sampling(sampling: Option<&[f64]>, ndim: usize) -> Result<Vec<f64>> {
    let values = match sampling {
        None => return Ok(vec![1.0; ndim]),
        Some([single]) => vec![*single; ndim],
        Some(values) if values.len() == ndim => values.to_vec(),
        Some(values) => {
            return Err(CoreError::config(
                "sampling",
                format!("expected 1 or {ndim} spacings (one per axis), got {}", values.len()),
            )
            .into());
        }
    };
    if let Some(bad) = values.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(CoreError::config(
            "sampling",
            format!("every spacing must be finite and > 0, got {bad}"),
        )
        .into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_broadcasts_and_defaults_to_one() {
        assert_eq!(resolve_sampling(None, 3).unwrap(), vec![1.0; 3]);
        assert_eq!(resolve_sampling(Some(&[0.5]), 2).unwrap(), vec![0.5, 0.5]);
        assert_eq!(resolve_sampling(Some(&[1.0, 2.0]), 2).unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn rejects_bad_spacings() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = resolve_sampling(Some(&[1.0, bad]), 2).unwrap_err();
            assert!(err.to_string().contains("sampling"), "{err}");
        }
        assert!(resolve_sampling(Some(&[1.0, 1.0, 1.0]), 2).is_err());
        assert!(resolve_sampling(Some(&[]), 2).is_err());
    }
}

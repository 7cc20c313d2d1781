//! Order statistics shared by the crates above: percentiles with numpy's default ("linear")
//! interpolation.

use crate::error::{CoreError, Result};

/// The `q`-th percentile (`q ∈ [0, 100]`) of ascending `sorted` values, interpolating
/// linearly between the order statistics at ranks `⌊r⌋` and `⌈r⌉`, `r = q/100 · (n − 1)`
/// (`numpy.percentile`'s default). Any float type that converts to and from `f64`.
///
/// # Panics
/// If `sorted` is empty (a caller that may pass no values uses [`percentile`]).
#[track_caller]
pub fn percentile_sorted<T: Copy + Into<f64>>(sorted: &[T], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no values");
    let rank = q.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (sorted[below].into(), sorted[above].into());
    low + (rank - below as f64) * (high - low)
}

/// The `q`-th percentile of `values` (any order; see [`percentile_sorted`]).
///
/// # Errors
/// [`CoreError::InvalidConfig`] naming `what` unless `q ∈ [0, 100]`, [`CoreError::Empty`]
/// for no values and [`CoreError::NonFinite`] for a NaN or infinite value.
pub fn percentile(values: &[f64], q: f64, what: &str) -> Result<f64> {
    if !(0.0..=100.0).contains(&q) {
        return Err(CoreError::config(
            what,
            format!("the percentile must lie in [0, 100], got {q}"),
        ));
    }
    if values.is_empty() {
        return Err(CoreError::Empty { what: what.into() });
    }
    if !values.iter().all(|v| v.is_finite()) {
        return Err(CoreError::NonFinite { what: what.into() });
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    Ok(percentile_sorted(&sorted, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear_interpolation() {
        // numpy.percentile([1, 2, 3, 4, 10], [0, 25, 50, 90, 100]) = [1, 2, 3, 7.6, 10]
        let values = [10.0, 2.0, 4.0, 1.0, 3.0];
        for (q, expected) in [(0.0, 1.0), (25.0, 2.0), (50.0, 3.0), (90.0, 7.6), (100.0, 10.0)] {
            assert!((percentile(&values, q, "v").unwrap() - expected).abs() < 1e-12, "{q}");
        }
        assert_eq!(percentile_sorted(&[1.0f32, 3.0], 50.0), 2.0);
        assert!(matches!(percentile(&values, 101.0, "q"), Err(CoreError::InvalidConfig { .. })));
        assert!(matches!(percentile(&values, -0.5, "q"), Err(CoreError::InvalidConfig { .. })));
        assert!(matches!(percentile(&[], 5.0, "v"), Err(CoreError::Empty { .. })));
        assert!(matches!(percentile(&[f64::NAN], 5.0, "v"), Err(CoreError::NonFinite { .. })));
    }
}

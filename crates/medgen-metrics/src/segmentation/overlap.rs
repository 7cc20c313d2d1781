//! Overlap metrics of binary masks: Dice and IoU.

use medgen_core::CoreError;

use crate::error::Result;

/// `(|A ∩ B|, |A|, |B|)` of two masks of the same length.
pub(crate) fn overlap_counts(a: &[bool], b: &[bool]) -> Result<(usize, usize, usize)> {
    if a.len() != b.len() {
        return Err(
            CoreError::shape("second mask", format!("{} elements", a.len()), &[b.len()]).into()
        );
    }
    if a.is_empty() {
        return Err(CoreError::Empty { what: "mask".into() }.into());
    }
    Ok(a.iter().zip(b).fold((0, 0, 0), |(i, na, nb), (&x, &y)| {
        (i + usize::from(x && y), na + usize::from(x), nb + usize::from(y))
    }))
}

/// Dice similarity coefficient `2|A ∩ B| / (|A| + |B|)` of two binary masks (any shape,
/// flattened, same length). Two empty masks agree perfectly: 1.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] for different lengths, [`CoreError::Empty`] for no elements.
pub fn dice(a: &[bool], b: &[bool]) -> Result<f64> {
    let (inter, na, nb) = overlap_counts(a, b)?;
    Ok(if na + nb == 0 { 1.0 } else { 2.0 * inter as f64 / (na + nb) as f64 })
}

/// Intersection over union (Jaccard index) `|A ∩ B| / |A ∪ B|` of two binary masks; two
/// empty masks give 1 (the convention of the generalised energy distance). Errors as
/// [`dice`].
pub fn iou(a: &[bool], b: &[bool]) -> Result<f64> {
    let (inter, na, nb) = overlap_counts(a, b)?;
    let union = na + nb - inter;
    Ok(if union == 0 { 1.0 } else { inter as f64 / union as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `size × size` mask with the square `[r0, r0 + side) × [c0, c0 + side)` set.
    fn square(size: usize, r0: usize, c0: usize, side: usize) -> Vec<bool> {
        (0..size * size)
            .map(|k| (r0..r0 + side).contains(&(k / size)) && (c0..c0 + side).contains(&(k % size)))
            .collect()
    }

    #[test]
    fn shifted_squares_match_closed_forms() {
        // Two 4 × 4 squares shifted by 2 columns: overlap 4 × 2 = 8.
        let a = square(10, 2, 2, 4);
        let b = square(10, 2, 4, 4);
        assert_eq!(dice(&a, &b).unwrap(), 2.0 * 8.0 / 32.0);
        assert_eq!(iou(&a, &b).unwrap(), 8.0 / 24.0);
        assert_eq!(dice(&a, &a).unwrap(), 1.0);
        let empty = [false; 100];
        assert_eq!(dice(&empty, &empty).unwrap(), 1.0);
        assert_eq!(iou(&empty, &empty).unwrap(), 1.0);
        assert_eq!(iou(&a, &empty).unwrap(), 0.0);
        assert!(dice(&a, &b[..99]).is_err());
    }
}

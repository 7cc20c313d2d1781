//! The exact Euclidean distance transform as a sequence of one-dimensional passes, on inputs
//! that have already been validated.
//!
//! The squared distance separates over axes:
//! `D²(x) = min_y Σ_a s_a² (x_a − y_a)²` over zero elements `y` equals a nested minimum, one
//! axis at a time. Axis 0 is done from the binary mask by two row sweeps ([`sweep_axis0`]),
//! every further axis by the lower envelope of parabolas ([`envelope_strided`],
//! [`envelope_last_axis`], which also takes the square root). Each pass is linear in the
//! number of elements, so the whole transform is `O(ndim · n)`.

use super::options::NoBackground;
use super::panel::AxisView;
use super::passes::{envelope_last_axis, envelope_strided};
use super::sweep::{SweepOutput, sweep_axis0};

/// Distances, and optionally the flat index of each element's nearest zero element.
pub(crate) struct FlatEdt {
    /// Euclidean distance of every element to its nearest zero element (0 on zeros).
    pub distances: Vec<f64>,
    /// Flat (row-major) index of the nearest zero element, when asked for and when the mask
    /// has a zero element.
    pub nearest: Option<Vec<usize>>,
    /// Whether the mask had a zero element at all.
    pub has_background: bool,
}

/// The transform of `mask` (row-major, `shape`, non-empty) with one validated spacing per
/// axis in `sampling`, on exactly `threads` threads (callers pick the count with
/// [`threads_for`](super::parallel::threads_for)).
pub(crate) fn flat_edt(
    mask: &[bool],
    shape: &[usize],
    sampling: &[f64],
    no_background: NoBackground,
    track: bool,
    threads: usize,
) -> FlatEdt {
    if mask.iter().all(|&m| m) {
        return FlatEdt {
            distances: no_background_distances(shape, sampling, no_background),
            nearest: None,
            has_background: false,
        };
    }
    let numel = mask.len();
    let ndim = shape.len();
    let mut distances = vec![0.0; numel];
    let mut nearest = track.then(|| vec![0usize; numel]);

    let first = AxisView { outer: 1, len: shape[0], inner: numel / shape[0] };
    let output = if ndim == 1 { SweepOutput::Distance } else { SweepOutput::Squared };
    sweep_axis0(mask, first, sampling[0], output, &mut distances, nearest.as_deref_mut(), threads);
    for axis in 1..ndim.saturating_sub(1) {
        if shape[axis] > 1 {
            let view = AxisView::new(shape, axis);
            envelope_strided(view, sampling[axis], &mut distances, nearest.as_deref_mut(), threads);
        }
    }
    if ndim >= 2 {
        envelope_last_axis(
            shape[ndim - 1],
            sampling[ndim - 1],
            &mut distances,
            nearest.as_deref_mut(),
            threads,
        );
    }
    FlatEdt { distances, nearest, has_background: true }
}

/// The distances that `policy` assigns when no element is zero.
fn no_background_distances(shape: &[usize], sampling: &[f64], policy: NoBackground) -> Vec<f64> {
    let numel = shape.iter().product();
    match policy {
        NoBackground::Infinity => vec![f64::INFINITY; numel],
        NoBackground::Scipy => {
            // Distance to the virtual point (-1, 0, ..., 0), element by element.
            let mut coords = vec![0usize; shape.len()];
            (0..numel)
                .map(|_| {
                    let squared: f64 = coords
                        .iter()
                        .zip(sampling)
                        .enumerate()
                        .map(|(a, (&c, &s))| {
                            let offset = if a == 0 { c as f64 + 1.0 } else { c as f64 };
                            (offset * s).powi(2)
                        })
                        .sum();
                    advance(&mut coords, shape);
                    squared.sqrt()
                })
                .collect()
        }
    }
}

/// Steps `coords` to the next element in row-major order (wrapping to all zeros at the end).
fn advance(coords: &mut [usize], shape: &[usize]) {
    for (c, &n) in coords.iter_mut().zip(shape).rev() {
        *c += 1;
        if *c < n {
            return;
        }
        *c = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brute_force::{brute_edt, random_mask};
    use medgen_core::seeded_rng;

    #[test]
    fn every_thread_count_gives_the_same_exact_result() {
        // Small arrays on many threads exercise the panel splits (several pieces per block,
        // pieces narrower than a gather block) that large arrays use.
        let mut rng = seeded_rng(7);
        for shape in [vec![40, 37], vec![3, 50], vec![7, 5, 33], vec![2, 3, 70]] {
            let mask = random_mask(&shape, 0.9, &mut rng);
            let sampling = vec![1.25; shape.len()];
            let expected = brute_edt(&mask, &shape, &sampling);
            let single = flat_edt(&mask, &shape, &sampling, NoBackground::Infinity, true, 1);
            for threads in [2, 3, 5] {
                let multi =
                    flat_edt(&mask, &shape, &sampling, NoBackground::Infinity, true, threads);
                assert_eq!(multi.distances, single.distances, "{shape:?} on {threads}");
            }
            for (got, want) in single.distances.iter().zip(&expected) {
                assert!((got - want).abs() < 1e-12 * want.max(1.0));
            }
        }
    }

    #[test]
    fn advance_walks_row_major_and_wraps() {
        let shape = [2, 3];
        let mut c = vec![0, 0];
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(c.clone());
            advance(&mut c, &shape);
        }
        assert_eq!(seen[4], vec![1, 1]);
        assert_eq!(c, vec![0, 0]);
    }
}

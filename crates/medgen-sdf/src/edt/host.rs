//! The distance transform of a host array.

use medgen_core::CoreError;
use medgen_core::check::ensure_non_empty;

use super::options::EdtOptions;
use super::parallel::threads_for;
use super::separable::{FlatEdt, flat_edt};
use crate::error::Result;
use crate::sampling::resolve_sampling;

/// The output of [`distance_transform_edt`].
#[derive(Clone, Debug, PartialEq)]
pub struct EdtResult {
    /// The shape of the input (and of `distances`).
    pub shape: Vec<usize>,
    /// Row-major distances, one per element: 0 on zero (background) elements, else the
    /// Euclidean distance `√(Σ_a (s_a·(x_a − y_a))²)` to the nearest zero element `y`.
    pub distances: Vec<f64>,
    /// With [`EdtOptions::return_indices`], the coordinates of each element's nearest zero
    /// element in scipy's layout `[ndim, *shape]`: `indices[a · n + i]` is the coordinate
    /// along axis `a` of the nearest zero element of flat element `i`, with `n` the number of
    /// elements. A zero element is its own nearest. `(-1, 0, …, 0)` when the mask has no zero
    /// element (see [`NoBackground`](crate::NoBackground)).
    pub indices: Option<Vec<i64>>,
}

/// Exact Euclidean distance transform with `scipy.ndimage.distance_transform_edt` semantics:
/// for every `true` (non-zero, foreground) element `x` of `mask`, the distance
/// `min_y √(Σ_a (s_a·(x_a − y_a))²)` to the nearest `false` (zero, background) element `y`,
/// where `s` is [`EdtOptions::sampling`]; `false` elements get 0.
///
/// `mask` is row-major with `shape` (any number of axes, typically `[H, W]` or `[D, H, W]`).
/// The algorithm is the separable lower envelope of parabolas (Felzenszwalb & Huttenlocher
/// 2012), linear in the number of elements, run on [`EdtOptions::threads`] threads; the result
/// is exact up to the rounding of the final square root (and, with non-unit spacing, of the
/// products `s_a·Δ_a`). A mask without `false` elements gives the map chosen by
/// [`EdtOptions::no_background`] (`+∞` by default).
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if `shape` has no axis or its product is not `mask.len()`,
/// [`CoreError::Empty`] if an axis has length 0, and [`CoreError::InvalidConfig`] for a
/// sampling with the wrong number of values, a value that is not finite and `> 0` or
/// spacings whose squared distances underflow or overflow over `shape`, or for
/// `threads = Some(0)` (all wrapped in [`SdfError::Core`](crate::SdfError::Core)).
///
/// # Example
/// ```
/// use medgen_sdf::{EdtOptions, distance_transform_edt};
/// let mask = [false, true, true, true, false];
/// let edt = distance_transform_edt(&mask, &[5], &EdtOptions::new()).unwrap();
/// assert_eq!(edt.distances, vec![0.0, 1.0, 2.0, 1.0, 0.0]);
/// ```
pub fn distance_transform_edt(
    mask: &[bool],
    shape: &[usize],
    options: &EdtOptions,
) -> Result<EdtResult> {
    let sampling = validate(mask.len(), shape, options, "mask")?;
    let threads = threads_for(mask.len(), options.checked_threads()?);
    let flat =
        flat_edt(mask, shape, &sampling, options.no_background, options.return_indices, threads);
    let indices = options.return_indices.then(|| scipy_indices(&flat, shape));
    Ok(EdtResult { shape: shape.to_vec(), distances: flat.distances, indices })
}

/// Checks that `len` elements fit a non-empty `shape` and resolves the spacing per axis.
pub(crate) fn validate(
    len: usize,
    shape: &[usize],
    options: &EdtOptions,
    what: &str,
) -> Result<Vec<f64>> {
    if shape.is_empty() {
        return Err(CoreError::shape(format!("{what} shape"), "at least one axis", shape).into());
    }
    ensure_non_empty(shape, what)?;
    let numel = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    if numel != Some(len) {
        return Err(CoreError::shape(
            what,
            format!("{len} elements to match shape {shape:?}"),
            &[len],
        )
        .into());
    }
    let sampling = resolve_sampling(options.sampling.as_deref(), shape.len())?;
    // The passes work on squared distances s_a² Δ_a²: the squared diagonal of the array must
    // be finite, and one step along any axis must not square to zero (or a subnormal).
    let diagonal: f64 = shape.iter().zip(&sampling).map(|(&n, &s)| (s * n as f64).powi(2)).sum();
    if !diagonal.is_finite() || sampling.iter().any(|s| !(s * s).is_normal()) {
        return Err(CoreError::config(
            "sampling",
            format!(
                "spacings {sampling:?} square to zero or overflow over shape {shape:?} \
                 (the transform works on squared distances)"
            ),
        )
        .into());
    }
    Ok(sampling)
}

/// Unravels flat nearest indices into scipy's `[ndim, *shape]` coordinate layout.
fn scipy_indices(flat: &FlatEdt, shape: &[usize]) -> Vec<i64> {
    let numel = flat.distances.len();
    let ndim = shape.len();
    let mut out = vec![0i64; ndim * numel];
    match &flat.nearest {
        Some(nearest) if flat.has_background => {
            // Strides of the row-major layout, to unravel each flat index.
            let mut strides = vec![1usize; ndim];
            for a in (0..ndim - 1).rev() {
                strides[a] = strides[a + 1] * shape[a + 1];
            }
            for (i, &f) in nearest.iter().enumerate() {
                let mut rest = f;
                for (a, &stride) in strides.iter().enumerate() {
                    out[a * numel + i] = (rest / stride) as i64;
                    rest %= stride;
                }
            }
        }
        _ => out[..numel].fill(-1),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SdfError;
    use crate::brute_force::{brute_edt, distance, random_mask};
    use crate::edt::options::NoBackground;
    use medgen_core::seeded_rng;

    /// Checks distances against exhaustive search and that each returned index is a zero
    /// element at exactly the returned distance.
    fn check_against_brute_force(shape: &[usize], sampling: Option<Vec<f64>>, p: f64, seed: u64) {
        let mut rng = seeded_rng(seed);
        let mask = random_mask(shape, p, &mut rng);
        let ndim = shape.len();
        let spacing = resolve_sampling(sampling.as_deref(), ndim).unwrap();
        let opts = EdtOptions::new().with_sampling(sampling).with_return_indices(true);
        let edt = distance_transform_edt(&mask, shape, &opts).unwrap();
        let expected = brute_edt(&mask, shape, &spacing);
        let numel = mask.len();
        let indices = edt.indices.as_ref().unwrap();
        assert_eq!(indices.len(), ndim * numel);
        let has_zero = mask.iter().any(|m| !m);
        for i in 0..numel {
            let (got, want) = (edt.distances[i], expected[i]);
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1.0),
                "shape {shape:?} element {i}: {got} vs {want}"
            );
            if !has_zero {
                continue;
            }
            let nearest =
                (0..ndim).fold(0usize, |flat, a| flat * shape[a] + indices[a * numel + i] as usize);
            assert!(!mask[nearest], "index of element {i} is not a zero element");
            let d = distance(i, nearest, shape, &spacing);
            assert!((d - got).abs() <= 1e-12 * got.max(1.0), "{d} vs {got}");
        }
    }

    #[test]
    fn matches_brute_force_on_random_masks() {
        type Case<'a> = (&'a [usize], Option<Vec<f64>>, f64);
        let cases: [Case<'_>; 9] = [
            (&[17], None, 0.7),
            (&[1, 9], None, 0.5),
            (&[9, 1], Some(vec![0.5]), 0.5),
            (&[13, 11], None, 0.8),
            (&[12, 15], Some(vec![0.7, 1.9]), 0.9),
            (&[20, 20], None, 0.98),
            (&[6, 7, 8], None, 0.85),
            (&[5, 9, 6], Some(vec![2.5, 1.0, 0.3]), 0.9),
            (&[3, 4, 5, 6], Some(vec![1.0, 2.0, 0.5, 1.5]), 0.9),
        ];
        for (k, (shape, sampling, p)) in cases.into_iter().enumerate() {
            check_against_brute_force(shape, sampling, p, 100 + k as u64);
        }
    }

    #[test]
    fn zero_elements_are_their_own_nearest() {
        let mask = [true, false, true, true];
        let opts = EdtOptions::new().with_return_indices(true);
        let edt = distance_transform_edt(&mask, &[2, 2], &opts).unwrap();
        assert_eq!(edt.distances[1], 0.0);
        assert_eq!(edt.indices.unwrap(), vec![0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let mask = [true, false, true, true];
        let opts = EdtOptions::new();
        let core = |r: Result<EdtResult>| match r {
            Err(SdfError::Core(e)) => e,
            other => panic!("expected a CoreError, got {other:?}"),
        };
        assert!(matches!(
            core(distance_transform_edt(&mask, &[3], &opts)),
            CoreError::ShapeMismatch { .. }
        ));
        assert!(matches!(
            core(distance_transform_edt(&mask, &[], &opts)),
            CoreError::ShapeMismatch { .. }
        ));
        assert!(matches!(
            core(distance_transform_edt(&[], &[0, 3], &opts)),
            CoreError::Empty { .. }
        ));
        assert!(matches!(core(distance_transform_edt(&[], &[0], &opts)), CoreError::Empty { .. }));
        let huge = [usize::MAX, 3];
        assert!(matches!(
            core(distance_transform_edt(&mask, &huge, &opts)),
            CoreError::ShapeMismatch { .. }
        ));
        for sampling in [vec![0.0, 1.0], vec![-1.0], vec![1.0, f64::NAN], vec![1.0; 3]] {
            let opts = EdtOptions::new().with_sampling(Some(sampling));
            assert!(matches!(
                core(distance_transform_edt(&mask, &[2, 2], &opts)),
                CoreError::InvalidConfig { .. }
            ));
        }
        let opts = EdtOptions::new().with_threads(Some(0));
        assert!(matches!(
            core(distance_transform_edt(&mask, &[2, 2], &opts)),
            CoreError::InvalidConfig { .. }
        ));
    }

    #[test]
    fn no_background_policies() {
        let mask = [true; 6];
        let opts = EdtOptions::new().with_return_indices(true);
        let inf = distance_transform_edt(&mask, &[2, 3], &opts).unwrap();
        assert!(inf.distances.iter().all(|d| *d == f64::INFINITY));
        assert_eq!(inf.indices.unwrap(), vec![-1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0]);
        // scipy.ndimage.distance_transform_edt(np.ones((2, 3)), sampling=[2, 0.5])
        let opts = opts.with_no_background(NoBackground::Scipy).with_sampling(Some(vec![2.0, 0.5]));
        let scipy = distance_transform_edt(&mask, &[2, 3], &opts).unwrap();
        let expected = [2.0, 4.25f64.sqrt(), 5.0f64.sqrt(), 4.0, 16.25f64.sqrt(), 17f64.sqrt()];
        for (got, want) in scipy.distances.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }
}

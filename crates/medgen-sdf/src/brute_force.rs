//! Test-only references: random masks and the distance transform by exhaustive search.

use medgen_core::SeededRng;
use rand::RngExt;

/// A random row-major mask of `shape` with foreground probability `p`.
pub(crate) fn random_mask(shape: &[usize], p: f64, rng: &mut SeededRng) -> Vec<bool> {
    let numel: usize = shape.iter().product();
    (0..numel).map(|_| rng.random_bool(p)).collect()
}

/// The coordinates of flat index `i` in a row-major array of `shape`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut coords = vec![0; shape.len()];
    for (c, &n) in coords.iter_mut().zip(shape).rev() {
        *c = i % n;
        i /= n;
    }
    coords
}

/// Euclidean distance between the elements at flat indices `a` and `b`.
pub(crate) fn distance(a: usize, b: usize, shape: &[usize], sampling: &[f64]) -> f64 {
    let (ca, cb) = (unravel(a, shape), unravel(b, shape));
    ca.iter()
        .zip(&cb)
        .zip(sampling)
        .map(|((&x, &y), &s)| ((x as f64 - y as f64) * s).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// For every element, the distance to the nearest `false` element by trying all of them
/// (`+∞` if there is none): O(n²), for small arrays only.
pub(crate) fn brute_edt(mask: &[bool], shape: &[usize], sampling: &[f64]) -> Vec<f64> {
    let zeros: Vec<usize> = (0..mask.len()).filter(|&i| !mask[i]).collect();
    (0..mask.len())
        .map(|i| {
            zeros.iter().map(|&z| distance(i, z, shape, sampling)).fold(f64::INFINITY, f64::min)
        })
        .collect()
}

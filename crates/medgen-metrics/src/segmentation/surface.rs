//! Surface-distance metrics of binary masks: Hausdorff distance, HD95 and ASSD.

use burn::config::Config;
use medgen_core::CoreError;
use medgen_sdf::{EdtOptions, distance_transform_edt};

use super::overlap::overlap_counts;
use crate::error::{MetricsError, Result};

/// Options of [`surface_distances`].
#[derive(Config, Debug, PartialEq)]
pub struct SurfaceDistanceConfig {
    /// Voxel spacing per axis (or one value for all axes), each finite and `> 0`; `None` is
    /// unit spacing. Distances are in these units.
    pub spacing: Option<Vec<f64>>,
    /// The percentile `q ∈ [0, 100]` of [`SurfaceDistances::percentile_hausdorff`].
    #[config(default = 95.0)]
    pub percentile: f64,
}

impl Default for SurfaceDistanceConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Distances between the surfaces of a prediction `A` and a reference `B`, from
/// [`surface_distances`]. `d(a, ∂B)` is the Euclidean distance (with spacing) from a
/// surface voxel `a` of `A` to the nearest surface voxel of `B`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceDistances {
    /// Hausdorff distance `max(max_{a∈∂A} d(a, ∂B), max_{b∈∂B} d(b, ∂A))`.
    pub hausdorff: f64,
    /// `max(P_q{d(a, ∂B)}, P_q{d(b, ∂A)})`: the larger of the two directed `q`-th percentiles
    /// (linear interpolation, as `numpy.percentile`), MONAI's `compute_hausdorff_distance`
    /// with `percentile = q`; HD95 for the default `q = 95`.
    pub percentile_hausdorff: f64,
    /// Average symmetric surface distance
    /// `(mean_{a∈∂A} d(a, ∂B) + mean_{b∈∂B} d(b, ∂A)) / 2`, as medpy's `assd`.
    pub average_symmetric: f64,
}

/// Surface distances between the binary masks `prediction` and `reference` (row-major,
/// `shape` of any rank, typically `[H, W]` or `[D, H, W]`), with the conventions of medpy
/// and MONAI: the surface of a mask is its foreground voxels that have a background
/// face-neighbour (6-connectivity in 3-D, 4 in 2-D) or lie on the array border (scipy's
/// `binary_erosion` with `border_value = 0`); distances from one surface to the other come
/// from the exact Euclidean distance transform of medgen-sdf, with voxel spacing.
///
/// # Errors
/// [`MetricsError::Undefined`] if either mask is empty (no surface: MONAI returns NaN or
/// ∞ there), [`CoreError::ShapeMismatch`] for lengths that differ or do not match `shape`,
/// [`CoreError::InvalidConfig`] for a percentile outside `[0, 100]` or invalid spacing.
pub fn surface_distances(
    prediction: &[bool],
    reference: &[bool],
    shape: &[usize],
    config: &SurfaceDistanceConfig,
) -> Result<SurfaceDistances> {
    let (_, na, nb) = overlap_counts(prediction, reference)?;
    if shape.iter().product::<usize>() != prediction.len() || shape.is_empty() {
        return Err(CoreError::shape("masks", format!("{shape:?}"), &[prediction.len()]).into());
    }
    let q = config.percentile;
    if !(0.0..=100.0).contains(&q) {
        return Err(CoreError::config("percentile", format!("must be in [0, 100], got {q}")).into());
    }
    if na == 0 || nb == 0 {
        return Err(MetricsError::undefined(
            "surface distance",
            format!("a mask is empty (prediction {na} voxels, reference {nb} voxels)"),
        ));
    }
    let surface_a = surface(prediction, shape);
    let surface_b = surface(reference, shape);
    let options = EdtOptions::new().with_sampling(config.spacing.clone());
    let mut a_to_b = directed_distances(&surface_a, &surface_b, shape, &options)?;
    let mut b_to_a = directed_distances(&surface_b, &surface_a, shape, &options)?;
    a_to_b.sort_by(f64::total_cmp);
    b_to_a.sort_by(f64::total_cmp);
    let max = |v: &[f64]| v.last().copied().unwrap_or(0.0);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(SurfaceDistances {
        hausdorff: max(&a_to_b).max(max(&b_to_a)),
        percentile_hausdorff: percentile(&a_to_b, q).max(percentile(&b_to_a, q)),
        average_symmetric: (mean(&a_to_b) + mean(&b_to_a)) / 2.0,
    })
}

/// The surface voxels of `mask`: foreground voxels with a background face-neighbour or on
/// the array border.
fn surface(mask: &[bool], shape: &[usize]) -> Vec<bool> {
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for axis in (0..rank.saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    mask.iter()
        .enumerate()
        .map(|(flat, &inside)| {
            inside
                && (0..rank).any(|axis| {
                    let coordinate = (flat / strides[axis]) % shape[axis];
                    coordinate == 0
                        || coordinate + 1 == shape[axis]
                        || !mask[flat - strides[axis]]
                        || !mask[flat + strides[axis]]
                })
        })
        .collect()
}

/// `d(x, ∂to)` for every voxel `x` of the surface `from`.
fn directed_distances(
    from: &[bool],
    to: &[bool],
    shape: &[usize],
    options: &EdtOptions,
) -> Result<Vec<f64>> {
    let not_to: Vec<bool> = to.iter().map(|v| !v).collect();
    let edt = distance_transform_edt(&not_to, shape, options)?;
    Ok(from.iter().zip(&edt.distances).filter(|(on, _)| **on).map(|(_, d)| *d).collect())
}

/// The `q`-th percentile of non-empty sorted `values` with linear interpolation
/// (`numpy.percentile`'s default): position `q/100 · (n − 1)`.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q / 100.0 * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let fraction = position - lower as f64;
    sorted[lower] + fraction * (sorted[upper] - sorted[lower])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(size: usize, r0: usize, c0: usize, side: usize) -> Vec<bool> {
        (0..size * size)
            .map(|k| (r0..r0 + side).contains(&(k / size)) && (c0..c0 + side).contains(&(k % size)))
            .collect()
    }

    #[test]
    fn percentile_is_numpys() {
        // numpy.percentile([1, 2, 4, 8], 95) = 4 + 0.85 · 4 = 7.4
        assert!((percentile(&[1.0, 2.0, 4.0, 8.0], 95.0) - 7.4).abs() < 1e-12);
        assert_eq!(percentile(&[3.0], 50.0), 3.0);
    }

    #[test]
    fn shifted_squares_have_the_shift_as_hausdorff_distance() {
        // A 4 × 4 square and the same square shifted by 3 columns: every surface voxel of one
        // is at most 3 from the other's surface, the far columns exactly 3.
        let a = square(12, 2, 2, 4);
        let b = square(12, 2, 5, 4);
        let d = surface_distances(&a, &b, &[12, 12], &SurfaceDistanceConfig::new()).unwrap();
        assert_eq!(d.hausdorff, 3.0);
        // Identical masks: every distance is 0.
        let same = surface_distances(&a, &a, &[12, 12], &SurfaceDistanceConfig::new()).unwrap();
        assert_eq!(
            same,
            SurfaceDistances { hausdorff: 0.0, percentile_hausdorff: 0.0, average_symmetric: 0.0 }
        );
        // Anisotropic spacing scales the column shift.
        let spaced = SurfaceDistanceConfig::new().with_spacing(Some(vec![1.0, 0.5]));
        assert_eq!(surface_distances(&a, &b, &[12, 12], &spaced).unwrap().hausdorff, 1.5);
    }

    #[test]
    fn shifted_cubes_with_anisotropic_spacing() {
        // 3 × 3 × 3 cubes in an 8³ volume, the second shifted by 2 slices along axis 0, whose
        // spacing is 2: the far faces are 2 slices = 4 units from the other surface.
        let cube = |z0: usize| -> Vec<bool> {
            (0..512)
                .map(|k| {
                    let (z, y, x) = (k / 64, (k / 8) % 8, k % 8);
                    (z0..z0 + 3).contains(&z) && (2..5).contains(&y) && (2..5).contains(&x)
                })
                .collect()
        };
        let (a, b) = (cube(1), cube(3));
        assert_eq!(surface(&a, &[8, 8, 8]).iter().filter(|v| **v).count(), 26);
        let config = SurfaceDistanceConfig::new().with_spacing(Some(vec![2.0, 1.0, 1.0]));
        let d = surface_distances(&a, &b, &[8, 8, 8], &config).unwrap();
        assert_eq!(d.hausdorff, 4.0);
    }

    #[test]
    fn nested_squares_match_closed_forms() {
        // Inner 2 × 2 square inside an outer 6 × 6 square (both centred in 10 × 10): the outer
        // surface (20 voxels) is 2 to 2√2 from the inner surface (4 voxels, all at distance 2
        // from the outer ring in the row or column direction).
        let outer = square(10, 2, 2, 6);
        let inner = square(10, 4, 4, 2);
        let d =
            surface_distances(&inner, &outer, &[10, 10], &SurfaceDistanceConfig::new()).unwrap();
        // Brute force over surface voxels.
        let sa = surface(&inner, &[10, 10]);
        let sb = surface(&outer, &[10, 10]);
        assert_eq!(sa.iter().filter(|v| **v).count(), 4);
        assert_eq!(sb.iter().filter(|v| **v).count(), 20);
        let directed = |from: &[bool], to: &[bool]| -> Vec<f64> {
            let mut out: Vec<f64> = (0..100)
                .filter(|&i| from[i])
                .map(|i| {
                    (0..100)
                        .filter(|&j| to[j])
                        .map(|j| {
                            let (di, dj) = (
                                (i / 10) as f64 - (j / 10) as f64,
                                (i % 10) as f64 - (j % 10) as f64,
                            );
                            (di * di + dj * dj).sqrt()
                        })
                        .fold(f64::INFINITY, f64::min)
                })
                .collect();
            out.sort_by(f64::total_cmp);
            out
        };
        let (ab, ba) = (directed(&sa, &sb), directed(&sb, &sa));
        assert_eq!(ab, vec![2.0; 4]);
        assert_eq!(d.hausdorff, ba.last().copied().unwrap());
        assert_eq!(d.hausdorff, 8f64.sqrt());
        let hd95 = percentile(&ab, 95.0).max(percentile(&ba, 95.0));
        assert!((d.percentile_hausdorff - hd95).abs() < 1e-12);
        let assd = (ab.iter().sum::<f64>() / 4.0 + ba.iter().sum::<f64>() / 20.0) / 2.0;
        assert!((d.average_symmetric - assd).abs() < 1e-12);
    }

    #[test]
    fn empty_masks_and_bad_options_are_errors() {
        let a = square(6, 1, 1, 2);
        let empty = [false; 36];
        assert!(matches!(
            surface_distances(&a, &empty, &[6, 6], &SurfaceDistanceConfig::new()),
            Err(MetricsError::Undefined { .. })
        ));
        assert!(matches!(
            surface_distances(
                &a,
                &a,
                &[6, 6],
                &SurfaceDistanceConfig::new().with_percentile(101.0)
            ),
            Err(MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
        assert!(matches!(
            surface_distances(&a, &a, &[6, 5], &SurfaceDistanceConfig::new()),
            Err(MetricsError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(
            surface_distances(
                &a,
                &a,
                &[6, 6],
                &SurfaceDistanceConfig::new().with_spacing(Some(vec![0.0, 1.0]))
            )
            .is_err()
        );
    }
}

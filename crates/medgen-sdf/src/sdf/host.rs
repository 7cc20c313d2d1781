//! Signed distance functions of host masks, and back.

use medgen_core::CoreError;

use super::config::{ResolvedSdf, SdfConfig, SignConvention};
use crate::edt::parallel::threads_for;
use crate::edt::separable::flat_edt;
use crate::edt::{EdtOptions, NoBackground, validate};
use crate::error::Result;

/// The signed distance function of a binary `mask` (row-major, `shape`), as configured by
/// `config` (see [`SdfConfig`] for the exact definition, truncation, normalisation and the
/// constant maps of empty and full masks).
///
/// For the default convention, `sdf(x) = −edt(mask)(x)` inside (`mask[x]`) and
/// `+edt(¬mask)(x)` outside, with `edt` the
/// [`distance_transform_edt`](crate::distance_transform_edt) in the units of
/// [`SdfConfig::sampling`]; so every value is at least one (finest-axis) pixel away from 0 and
/// [`mask_from_sdf`] with threshold 0 recovers `mask` exactly.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] / [`CoreError::Empty`] for a `shape` that does not fit
/// `mask` or has a zero-length axis, and [`CoreError::InvalidConfig`] for an invalid sampling,
/// truncation, or normalisation without truncation.
///
/// # Example
/// ```
/// use medgen_sdf::{SdfConfig, mask_from_sdf, signed_distance};
/// let mask = [false, true, true, true, false, false];
/// let sdf = signed_distance(&mask, &[6], &SdfConfig::new()).unwrap();
/// assert_eq!(sdf, vec![1.0, -1.0, -2.0, -1.0, 1.0, 2.0]);
/// let cfg = SdfConfig::default();
/// assert_eq!(mask_from_sdf(&sdf, 0.0, cfg.sign).unwrap(), mask);
/// ```
pub fn signed_distance(mask: &[bool], shape: &[usize], config: &SdfConfig) -> Result<Vec<f64>> {
    let resolved = config.resolve(shape.len())?;
    let options = EdtOptions::new().with_sampling(Some(resolved.sampling.clone()));
    validate(mask.len(), shape, &options, "mask")?;
    let threads = threads_for(mask.len(), options.checked_threads()?);
    Ok(signed_distance_validated(mask, shape, &resolved, threads))
}

/// [`signed_distance`] on inputs already validated against `resolved`, on `threads` threads.
pub(crate) fn signed_distance_validated(
    mask: &[bool],
    shape: &[usize],
    resolved: &ResolvedSdf,
    threads: usize,
) -> Vec<f64> {
    let edt = |m: &[bool]| {
        let policy = NoBackground::Infinity;
        flat_edt(m, shape, &resolved.sampling, policy, false, threads).distances
    };
    // Distance of each inside pixel to the outside, and of each outside pixel to the inside.
    let to_outside = edt(mask);
    let inverted: Vec<bool> = mask.iter().map(|m| !m).collect();
    let to_inside = edt(&inverted);
    mask.iter()
        .zip(to_outside.iter().zip(&to_inside))
        .map(|(&inside, (&d_in, &d_out))| resolved.value(inside, if inside { d_in } else { d_out }))
        .collect()
}

/// The mask a signed distance function describes: for [`SignConvention::NegativeInside`],
/// `mask[x] = sdf[x] <= threshold`; for [`SignConvention::PositiveInside`],
/// `mask[x] = sdf[x] >= threshold`. With `threshold = 0` this inverts [`signed_distance`]
/// exactly (±∞ allowed).
///
/// # Errors
/// [`CoreError::Empty`] for an empty `sdf`, [`CoreError::NonFinite`] if `sdf` holds a NaN,
/// and [`CoreError::InvalidConfig`] for a NaN `threshold`.
pub fn mask_from_sdf(sdf: &[f64], threshold: f64, sign: SignConvention) -> Result<Vec<bool>> {
    check_threshold(threshold)?;
    if sdf.is_empty() {
        return Err(CoreError::Empty { what: "sdf".into() }.into());
    }
    if sdf.iter().any(|v| v.is_nan()) {
        return Err(CoreError::NonFinite { what: "sdf (NaN)".into() }.into());
    }
    Ok(match sign {
        SignConvention::NegativeInside => sdf.iter().map(|&v| v <= threshold).collect(),
        SignConvention::PositiveInside => sdf.iter().map(|&v| v >= threshold).collect(),
    })
}

/// Fails with [`CoreError::InvalidConfig`] for a NaN threshold.
pub(crate) fn check_threshold(threshold: f64) -> Result<()> {
    if threshold.is_nan() {
        Err(CoreError::config("threshold", "must not be NaN").into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SdfError;
    use crate::brute_force::{brute_edt, random_mask};
    use crate::sdf::config::Truncation;
    use medgen_core::seeded_rng;

    fn configs(sampling: Option<Vec<f64>>) -> Vec<SdfConfig> {
        let mut out = Vec::new();
        for sign in [SignConvention::NegativeInside, SignConvention::PositiveInside] {
            let base = SdfConfig::new().with_sign(sign).with_sampling(sampling.clone());
            out.push(base.clone());
            out.push(base.clone().with_truncation(Truncation::Pixels(2.0)));
            out.push(base.clone().with_truncation(Truncation::Physical(1.5)).with_normalize(true));
            out.push(base.with_truncation(Truncation::Pixels(3.0)).with_normalize(true));
        }
        out
    }

    #[test]
    fn round_trip_is_exact_on_random_masks() {
        let mut rng = seeded_rng(11);
        let cases: [(&[usize], Option<Vec<f64>>); 4] = [
            (&[9, 13], None),
            (&[11, 7], Some(vec![0.4, 1.7])),
            (&[5, 6, 7], None),
            (&[4, 6, 5], Some(vec![3.0, 1.0, 0.5])),
        ];
        for (shape, sampling) in cases {
            for p in [0.3, 0.6, 0.95] {
                let mask = random_mask(shape, p, &mut rng);
                let finest = sampling
                    .as_ref()
                    .map_or(1.0, |s| s.iter().copied().fold(f64::INFINITY, f64::min));
                for config in configs(sampling.clone()) {
                    let sdf = signed_distance(&mask, shape, &config).unwrap();
                    let back = mask_from_sdf(&sdf, 0.0, config.sign).unwrap();
                    assert_eq!(back, mask, "{shape:?} {config}");
                    let bound = if config.normalize { 1.0 } else { f64::INFINITY };
                    for (&v, &inside) in sdf.iter().zip(&mask) {
                        let negative = (config.sign == SignConvention::NegativeInside) == inside;
                        assert_eq!(v < 0.0, negative);
                        assert!(v.abs() <= bound);
                        if config.truncation == Truncation::None {
                            assert!(v.abs() >= finest - 1e-12);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn values_are_signed_distances_to_the_other_class() {
        let mut rng = seeded_rng(3);
        let shape = [8, 9];
        let sampling = vec![1.5, 0.5];
        let mask = random_mask(&shape, 0.5, &mut rng);
        let inverted: Vec<bool> = mask.iter().map(|m| !m).collect();
        let to_outside = brute_edt(&mask, &shape, &sampling);
        let to_inside = brute_edt(&inverted, &shape, &sampling);
        let config = SdfConfig::new()
            .with_sampling(Some(sampling))
            .with_truncation(Truncation::Pixels(4.0))
            .with_normalize(true);
        // Pixels(4) with finest spacing 0.5 is tau = 2 in physical units.
        let sdf = signed_distance(&mask, &shape, &config).unwrap();
        for i in 0..mask.len() {
            let raw = to_inside[i] - to_outside[i];
            let want = raw.clamp(-2.0, 2.0) / 2.0;
            assert!((sdf[i] - want).abs() < 1e-12, "{i}: {} vs {want}", sdf[i]);
        }
    }

    #[test]
    fn empty_and_full_masks_are_constant_maps() {
        let shape = [3, 4];
        let empty = vec![false; 12];
        let full = vec![true; 12];
        let normalised = SdfConfig::truncated_normalized(2.0);
        assert!(signed_distance(&empty, &shape, &normalised).unwrap().iter().all(|&v| v == 1.0));
        assert!(signed_distance(&full, &shape, &normalised).unwrap().iter().all(|&v| v == -1.0));
        let flipped = normalised.with_sign(SignConvention::PositiveInside);
        assert!(signed_distance(&empty, &shape, &flipped).unwrap().iter().all(|&v| v == -1.0));
        let truncated = SdfConfig::new().with_truncation(Truncation::Physical(2.5));
        assert!(signed_distance(&full, &shape, &truncated).unwrap().iter().all(|&v| v == -2.5));
        let plain = SdfConfig::new();
        let sdf = signed_distance(&empty, &shape, &plain).unwrap();
        assert!(sdf.iter().all(|&v| v == f64::INFINITY));
        assert_eq!(mask_from_sdf(&sdf, 0.0, plain.sign).unwrap(), empty);
        let sdf = signed_distance(&full, &shape, &plain).unwrap();
        assert_eq!(mask_from_sdf(&sdf, 0.0, plain.sign).unwrap(), full);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let mask = [true, false, false, true];
        let config = SdfConfig::new();
        assert!(matches!(
            signed_distance(&mask, &[3], &config),
            Err(SdfError::Core(CoreError::ShapeMismatch { .. }))
        ));
        assert!(matches!(
            signed_distance(&[], &[0, 2], &config),
            Err(SdfError::Core(CoreError::Empty { .. }))
        ));
        let bad = config.clone().with_sampling(Some(vec![1.0, 0.0]));
        assert!(matches!(
            signed_distance(&mask, &[2, 2], &bad),
            Err(SdfError::Core(CoreError::InvalidConfig { .. }))
        ));
        let sign = SignConvention::NegativeInside;
        assert!(matches!(
            mask_from_sdf(&[1.0, f64::NAN], 0.0, sign),
            Err(SdfError::Core(CoreError::NonFinite { .. }))
        ));
        assert!(mask_from_sdf(&[], 0.0, sign).is_err());
        assert!(mask_from_sdf(&[1.0], f64::NAN, sign).is_err());
        assert_eq!(
            mask_from_sdf(&[-0.5, 0.2, 0.7], 0.5, SignConvention::PositiveInside).unwrap(),
            vec![false, false, true]
        );
    }
}

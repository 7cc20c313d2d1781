//! How a mask becomes a signed distance function: sign convention, spacing, truncation and
//! normalisation.

use burn::config::Config;
use medgen_core::CoreError;

use crate::error::Result;
use crate::sampling::resolve_sampling;

/// Which side of the boundary is negative.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SignConvention {
    /// Inside (mask `true`) negative, outside positive, so `mask = sdf <= 0`. The default,
    /// as in most of the SDF segmentation literature.
    NegativeInside,
    /// Inside positive, outside negative, so `mask = sdf >= 0` (the convention of the seed
    /// write-up's formula).
    PositiveInside,
}

/// Where the signed distance is clipped: `sdf ← clamp(sdf, −τ, τ)`.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum Truncation {
    /// No clipping (an empty or full mask then gives `±∞`, see [`SdfConfig`]).
    None,
    /// `τ` in pixels (voxels) of the finest axis: `τ_phys = τ · min_a s_a`; with unit spacing,
    /// simply `τ` pixels. `τ` and `τ_phys` must be finite and `> 0`.
    Pixels(f64),
    /// `τ` in the units of [`SdfConfig::sampling`] (e.g. millimetres). Must be finite and
    /// `> 0`.
    Physical(f64),
}

/// Configuration of [`signed_distance`](crate::signed_distance).
///
/// The signed distance of a pixel (voxel) is its Euclidean distance, in the units of
/// `sampling`, to the nearest pixel of the *other* class, with the sign of its own class:
/// for [`SignConvention::NegativeInside`],
/// `sdf(x) = −edt(mask)(x)` inside and `+edt(¬mask)(x)` outside. Pixel centres are the sample
/// points, so no pixel lies on the boundary: `|sdf(x)| >= min_a s_a` everywhere (`>= 1` with
/// unit spacing) before truncation, and `>= min(min_a s_a, τ) > 0` after it. No value is 0,
/// so `mask → sdf → mask` is exact with threshold 0.
///
/// Then, with a truncation `τ`: `sdf ← clamp(sdf, −τ, τ)`, and with `normalize`:
/// `sdf ← sdf / τ ∈ [−1, 1]`. An empty mask (no inside pixel) is `+τ` everywhere (`+1`
/// normalised, `+∞` without truncation) and a full mask is `−τ` (`−1`, `−∞`), for the default
/// convention; [`SignConvention::PositiveInside`] flips every sign.
#[derive(Config, Debug, PartialEq)]
pub struct SdfConfig {
    /// Which side is negative.
    #[config(default = "SignConvention::NegativeInside")]
    pub sign: SignConvention,
    /// Clipping of the distances.
    #[config(default = "Truncation::None")]
    pub truncation: Truncation,
    /// Divide by `τ` after truncation, giving values in `[−1, 1]`; needs a truncation.
    #[config(default = false)]
    pub normalize: bool,
    /// Spacing per spatial axis (one value, or one per axis; finite, `> 0`); `None` is unit
    /// spacing.
    pub sampling: Option<Vec<f64>>,
}

impl Default for SdfConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SdfConfig {
    /// The usual target of SDF-based segmentation models: negative inside, truncated at
    /// `tau` pixels and normalised to `[−1, 1]`.
    pub fn truncated_normalized(tau: f64) -> Self {
        Self::new().with_truncation(Truncation::Pixels(tau)).with_normalize(true)
    }

    /// Checks the configuration for masks with `ndim` spatial axes (spacing length and
    /// values, truncation distance).
    ///
    /// # Errors
    /// The configuration errors [`SdfConfig`]'s fields document.
    pub fn validate(&self, ndim: usize) -> Result<()> {
        self.resolve(ndim).map(|_| ())
    }

    /// Checks the configuration for masks with `ndim` spatial axes and resolves the spacing
    /// and the physical truncation distance.
    pub(crate) fn resolve(&self, ndim: usize) -> Result<ResolvedSdf> {
        let sampling = resolve_sampling(self.sampling.as_deref(), ndim)?;
        let finest = sampling.iter().copied().fold(f64::INFINITY, f64::min);
        let tau = match self.truncation {
            Truncation::None => None,
            Truncation::Pixels(tau) => {
                // τ pixels of the finest axis: the product may overflow or underflow even
                // when both factors are fine, and a normalised map divides by it.
                let physical = checked_tau(tau)? * finest;
                if !(physical.is_finite() && physical > 0.0) {
                    return Err(CoreError::config(
                        "truncation",
                        format!(
                            "τ = {tau} pixels of spacing {finest} is {physical}, not finite and > 0"
                        ),
                    )
                    .into());
                }
                Some(physical)
            }
            Truncation::Physical(tau) => Some(checked_tau(tau)?),
        };
        if self.normalize && tau.is_none() {
            return Err(CoreError::config(
                "normalize",
                "normalisation divides by the truncation distance: set a truncation",
            )
            .into());
        }
        Ok(ResolvedSdf { sign: self.sign, sampling, tau, normalize: self.normalize })
    }
}

fn checked_tau(tau: f64) -> Result<f64> {
    if tau.is_finite() && tau > 0.0 {
        Ok(tau)
    } else {
        Err(CoreError::config("truncation", format!("τ must be finite and > 0, got {tau}")).into())
    }
}

/// A validated [`SdfConfig`] for a given number of axes.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedSdf {
    pub sign: SignConvention,
    pub sampling: Vec<f64>,
    /// Truncation distance in physical units.
    pub tau: Option<f64>,
    pub normalize: bool,
}

impl ResolvedSdf {
    /// Maps an unsigned distance to the other class to the configured signed value.
    pub(crate) fn value(&self, inside: bool, distance: f64) -> f64 {
        let negative = inside == (self.sign == SignConvention::NegativeInside);
        let mut d = distance;
        if let Some(tau) = self.tau {
            d = d.min(tau);
            if self.normalize {
                d /= tau;
            }
        }
        if negative { -d } else { d }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_truncation_in_physical_units() {
        let cfg = SdfConfig::truncated_normalized(4.0).with_sampling(Some(vec![2.0, 0.5]));
        let r = cfg.resolve(2).unwrap();
        assert_eq!(r.tau, Some(2.0));
        assert_eq!(r.value(true, 1.0), -0.5);
        assert_eq!(r.value(false, 10.0), 1.0);
        assert_eq!(r.value(true, f64::INFINITY), -1.0);
        let phys = SdfConfig::new().with_truncation(Truncation::Physical(3.0));
        assert_eq!(phys.resolve(3).unwrap().value(false, 5.0), 3.0);
        let flipped = SdfConfig::new().with_sign(SignConvention::PositiveInside);
        let r = flipped.resolve(2).unwrap();
        assert_eq!(r.value(true, 2.0), 2.0);
        assert_eq!(r.value(false, 2.0), -2.0);
    }

    #[test]
    fn rejects_bad_truncation_and_normalisation_without_it() {
        for tau in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let cfg = SdfConfig::new().with_truncation(Truncation::Pixels(tau));
            assert!(cfg.resolve(2).is_err());
            let cfg = SdfConfig::new().with_truncation(Truncation::Physical(tau));
            assert!(cfg.resolve(2).is_err());
        }
        let err = SdfConfig::new().with_normalize(true).resolve(2).unwrap_err();
        assert!(err.to_string().contains("normalize"));
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = SdfConfig::truncated_normalized(5.0).with_sign(SignConvention::PositiveInside);
        let json = burn::config::config_to_json(&cfg);
        let back = SdfConfig::load_binary(json.as_bytes()).unwrap();
        assert_eq!(back, cfg);
    }
}

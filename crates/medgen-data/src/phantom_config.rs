//! Configuration of the synthetic brain phantoms.

use burn::prelude::*;

use medgen_core::error::{CoreError, Result};

/// Parameters of the synthetic brain phantom (see [`crate::phantom`] for the model).
///
/// Lengths (lesion radii) are fractions of the head radius. Validated by
/// [`PhantomConfig::validate`], which every generator calls first.
#[derive(Config, Debug)]
pub struct PhantomConfig {
    /// Image height `H`; also the width and depth unless `width`/`depth` are set.
    pub size: usize,
    /// Image width `W` (default: `size`).
    #[config(default = "None")]
    pub width: Option<usize>,
    /// Volume depth `D` for 3D phantoms (default: `size`).
    #[config(default = "None")]
    pub depth: Option<usize>,
    /// Probability that a subject has lesions, in `[0, 1]`.
    #[config(default = 0.5)]
    pub lesion_probability: f64,
    /// Maximum number of lesions of a subject with lesions (the count is uniform in
    /// `1..=max_lesions`), in `1..=16`.
    #[config(default = 3)]
    pub max_lesions: usize,
    /// Smallest lesion radius, as a fraction of the head radius (`0 < min <= max <= 0.3`).
    #[config(default = 0.06)]
    pub lesion_radius_min: f64,
    /// Largest lesion radius, as a fraction of the head radius.
    #[config(default = 0.14)]
    pub lesion_radius_max: f64,
    /// Smallest lesion contrast: the absolute intensity difference to white matter, in
    /// `[0, 1]`, `min <= max`.
    #[config(default = 0.15)]
    pub lesion_contrast_min: f64,
    /// Largest lesion contrast.
    #[config(default = 0.35)]
    pub lesion_contrast_max: f64,
    /// Standard deviation of the additive Gaussian noise, in `[0, 1]`.
    #[config(default = 0.02)]
    pub noise_std: f64,
    /// Strength `s` of the multiplicative bias field `b = 1 + s · (smooth field in [-1, 1])`,
    /// in `[0, 0.9]`.
    #[config(default = 0.1)]
    pub bias_strength: f64,
    /// Relative head-size difference between the sexes, `e ∈ [0, 0.1]`: the head's semi-axes
    /// are scaled by `1 − e/2` (female) or `1 + e/2` (male). Every subject records its sex;
    /// the default 0 keeps the anatomy sex-neutral (the default data set of earlier releases,
    /// subject for subject); 0.08 makes a male head about 17% larger in area.
    #[config(default = 0.0)]
    pub sex_head_difference: f64,
}

impl PhantomConfig {
    /// `(H, W)` of a 2D phantom.
    pub fn image_size(&self) -> (usize, usize) {
        (self.size, self.width.unwrap_or(self.size))
    }

    /// `(D, H, W)` of a 3D phantom.
    pub fn volume_size(&self) -> (usize, usize, usize) {
        let (h, w) = self.image_size();
        (self.depth.unwrap_or(self.size), h, w)
    }

    /// Checks every field; fails with [`CoreError::InvalidConfig`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let (d, h, w) = self.volume_size();
        for (name, v) in [("size", h), ("width", w), ("depth", d)] {
            if !(4..=4096).contains(&v) {
                return Err(CoreError::config(name, format!("must be in 4..=4096, got {v}")));
            }
        }
        let unit = |name: &str, v: f64, hi: f64| {
            if v.is_finite() && (0.0..=hi).contains(&v) {
                Ok(())
            } else {
                Err(CoreError::config(name, format!("must lie in [0, {hi}], got {v}")))
            }
        };
        unit("lesion_probability", self.lesion_probability, 1.0)?;
        unit("noise_std", self.noise_std, 1.0)?;
        unit("bias_strength", self.bias_strength, 0.9)?;
        unit("sex_head_difference", self.sex_head_difference, 0.1)?;
        unit("lesion_contrast_min", self.lesion_contrast_min, 1.0)?;
        unit("lesion_contrast_max", self.lesion_contrast_max, 1.0)?;
        unit("lesion_radius_max", self.lesion_radius_max, 0.3)?;
        if !(1..=16).contains(&self.max_lesions) {
            return Err(CoreError::config(
                "max_lesions",
                format!("must be in 1..=16, got {}", self.max_lesions),
            ));
        }
        if self.lesion_radius_min.is_nan()
            || self.lesion_radius_min <= 0.0
            || self.lesion_radius_min > self.lesion_radius_max
        {
            return Err(CoreError::config(
                "lesion_radius_min",
                format!(
                    "must satisfy 0 < min <= max, got min {} and max {}",
                    self.lesion_radius_min, self.lesion_radius_max
                ),
            ));
        }
        if self.lesion_contrast_min > self.lesion_contrast_max {
            return Err(CoreError::config(
                "lesion_contrast_min",
                format!(
                    "must be <= lesion_contrast_max ({}), got {}",
                    self.lesion_contrast_max, self.lesion_contrast_min
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        let cfg = PhantomConfig::new(32);
        cfg.validate().unwrap();
        assert_eq!(cfg.image_size(), (32, 32));
        assert_eq!(cfg.clone().with_width(Some(20)).volume_size(), (32, 32, 20));
        let cases = [
            (PhantomConfig::new(2), "size"),
            (cfg.clone().with_lesion_probability(1.5), "lesion_probability"),
            (cfg.clone().with_noise_std(f64::NAN), "noise_std"),
            (cfg.clone().with_max_lesions(0), "max_lesions"),
            (cfg.clone().with_lesion_radius_min(0.0), "lesion_radius_min"),
            (
                cfg.clone().with_lesion_radius_min(0.2).with_lesion_radius_max(0.1),
                "lesion_radius_min",
            ),
            (cfg.clone().with_bias_strength(1.0), "bias_strength"),
            (cfg.clone().with_lesion_contrast_min(0.5), "lesion_contrast_min"),
        ];
        for (bad, name) in cases {
            let err = bad.validate().unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}

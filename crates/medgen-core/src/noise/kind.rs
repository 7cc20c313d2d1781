//! The noise a diffusion process is driven by, chosen by configuration.

use burn::config::Config;
use burn::tensor::Tensor;
use rand::Rng;

use super::fractal::{SimplexNoiseConfig, simplex_like};
use super::gaussian::gaussian_like;
use crate::error::{CoreError, Result};

/// Which noise `ε` a forward process `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`, its training loss and its
/// ancestral reverse steps draw:
///
/// - `Gaussian`: independent `N(0, 1)` entries ([`gaussian_like`]), the DDPM default;
/// - `Simplex`: multi-octave simplex fields standardised to zero mean and unit variance per
///   field ([`simplex_like`]), AnoDDPM's choice for anomaly detection: its low-frequency
///   structure destroys lesion-sized blobs that white noise of the same variance leaves
///   recognisable. Rank 4 (`[N, C, H, W]`) or 5 (`[N, C, D, H, W]`) only.
#[derive(Config, Debug, PartialEq)]
pub enum NoiseKind {
    /// Independent standard-normal entries.
    Gaussian,
    /// Standardised multi-octave simplex noise with these settings.
    Simplex(SimplexNoiseConfig),
}

impl NoiseKind {
    /// Checks the simplex settings ([`SimplexNoiseConfig::validate`]); Gaussian noise has none.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Gaussian => Ok(()),
            Self::Simplex(config) => config.validate(),
        }
    }

    /// A short name for tables and file names: `gaussian` or `simplex`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gaussian => "gaussian",
            Self::Simplex(_) => "simplex",
        }
    }

    /// Draws noise of `tensor`'s shape on its device from `rng`.
    ///
    /// # Errors
    /// [`CoreError::Empty`] for an empty shape, [`CoreError::InvalidConfig`] for invalid
    /// simplex settings, and [`CoreError::InvalidRank`] for simplex noise of a rank other
    /// than 4 or 5.
    pub fn sample_like<const D: usize>(
        &self,
        tensor: &Tensor<D>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<Tensor<D>> {
        match self {
            Self::Gaussian => gaussian_like(tensor, rng),
            Self::Simplex(config) => {
                if D != 4 && D != 5 {
                    return Err(CoreError::InvalidRank {
                        what: "simplex noise ([N, C, H, W] or [N, C, D, H, W])".into(),
                        expected: if D < 4 { 4 } else { 5 },
                        got: D,
                    });
                }
                simplex_like(tensor, config, rng)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;
    use burn::tensor::Device;

    fn moments(t: Tensor<4>) -> (f64, f64) {
        let v = t.try_into_vec_as::<f32>().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn both_kinds_have_unit_variance_and_simplex_is_smoother() {
        let device = Device::default();
        let like = Tensor::<4>::zeros([2, 1, 64, 64], &device);
        let mut rng = seeded_rng(3);
        let gaussian = NoiseKind::Gaussian.sample_like(&like, &mut rng).unwrap();
        let simplex =
            NoiseKind::Simplex(SimplexNoiseConfig::new()).sample_like(&like, &mut rng).unwrap();
        for noise in [gaussian.clone(), simplex.clone()] {
            let (mean, var) = moments(noise);
            assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        }
        // Lag-1 correlation: ~0 for white noise, close to 1 for low-frequency simplex fields.
        let lag = |t: Tensor<4>| {
            let a = t.clone().narrow(3, 0, 63);
            let b = t.narrow(3, 1, 63);
            a.mul(b).mean().into_scalar::<f32>()
        };
        assert!(lag(gaussian).abs() < 0.05);
        assert!(lag(simplex) > 0.8);
    }

    #[test]
    fn bad_settings_and_ranks_are_typed_errors() {
        let device = Device::default();
        let mut rng = seeded_rng(0);
        let bad = NoiseKind::Simplex(SimplexNoiseConfig::new().with_octaves(0));
        assert!(matches!(bad.validate(), Err(CoreError::InvalidConfig { .. })));
        let flat = Tensor::<2>::zeros([2, 8], &device);
        let simplex = NoiseKind::Simplex(SimplexNoiseConfig::new());
        assert!(matches!(simplex.sample_like(&flat, &mut rng), Err(CoreError::InvalidRank { .. })));
        assert!(NoiseKind::Gaussian.sample_like(&flat, &mut rng).is_ok());
    }
}

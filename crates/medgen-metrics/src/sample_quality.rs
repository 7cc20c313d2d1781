//! One call that measures how well generated samples cover real ones in a feature space:
//! PRDC (Naeem et al. 2020), the Fréchet distance between Gaussian fits, and a diversity
//! ratio that is zero for a collapsed generator.
//!
//! For real features `x_i` (`N × d`) and generated features `y_j` (`M × d`):
//!
//! `δ = mean_{j≠j'} ‖y_j − y_j'‖ / mean_{i≠i'} ‖x_i − x_i'‖`,
//!
//! 0 when every generated sample is the same point and about 1 when the samples are as
//! spread out as the data. GAN monitoring (`medgen-gan`) turns these numbers into mode-collapse
//! warnings.

use medgen_core::CoreError;

use crate::error::Result;
use crate::features::FeatureMatrix;
use crate::fidelity::{Prdc, prdc};
use crate::frechet::{FrechetOptions, frechet_distance_from_features};

/// What [`SampleQuality::measure`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleQuality {
    /// Precision, recall, density and coverage of the generated features.
    pub prdc: Prdc,
    /// The squared Fréchet distance between Gaussian fits of real and generated features.
    pub frechet: f64,
    /// The diversity ratio `δ` (see the [module documentation](self)).
    pub diversity: f64,
}

impl SampleQuality {
    /// Measures generated features `fake` (`M × dim`, row-major) against real features `real`
    /// (`N × dim`) with `k` neighbours for the PRDC balls. `O((N + M)² d)` on the host.
    ///
    /// # Errors
    /// Those of [`FeatureMatrix::new`] (sizes, NaN), [`prdc`] (needs `N, M > k`) and
    /// [`frechet_distance_from_features`]; [`CoreError::InvalidConfig`] naming `real` if every
    /// real feature vector is the same (the diversity ratio is undefined).
    pub fn measure(real: &[f64], fake: &[f64], dim: usize, k: usize) -> Result<Self> {
        let rows = |v: &[f64]| v.len().checked_div(dim).unwrap_or(0);
        let real = FeatureMatrix::new(real, rows(real), dim, "real features")?;
        let fake = FeatureMatrix::new(fake, rows(fake), dim, "generated features")?;
        let real_spread = mean_pairwise_distance(real);
        if real_spread <= 0.0 {
            return Err(CoreError::config(
                "real",
                "all feature rows are equal, so sample diversity is undefined",
            )
            .into());
        }
        let prdc = prdc(real, fake, k)?;
        let frechet = frechet_distance_from_features(real, fake, &FrechetOptions::new())?.distance;
        Ok(Self { prdc, frechet, diversity: mean_pairwise_distance(fake) / real_spread })
    }
}

/// `mean_{i≠j} ‖x_i − x_j‖` over the rows (0 for a single row).
fn mean_pairwise_distance(x: FeatureMatrix<'_>) -> f64 {
    let n = x.rows();
    if n < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let d2: f64 = x.row(i).iter().zip(x.row(j)).map(|(a, b)| (a - b) * (a - b)).sum();
            total += d2.sqrt();
        }
    }
    total / (n * (n - 1) / 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use rand::RngExt;

    #[test]
    fn a_good_generator_covers_the_data_and_a_collapsed_one_does_not() {
        let mut rng = seeded_rng(3);
        let dim = 4;
        let mut draw =
            |n: usize| -> Vec<f64> { (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let real = draw(60);
        let good = draw(60);
        let quality = SampleQuality::measure(&real, &good, dim, 5).unwrap();
        assert!(quality.diversity > 0.8 && quality.prdc.coverage > 0.7, "{quality:?}");
        assert!(quality.frechet < 0.2, "{quality:?}");
        let collapsed: Vec<f64> = (0..60).flat_map(|_| [0.1, -0.2, 0.3, 0.0]).collect();
        let quality = SampleQuality::measure(&real, &collapsed, dim, 5).unwrap();
        assert_eq!(quality.diversity, 0.0);
        assert!(quality.prdc.coverage < 0.25, "{quality:?}");
    }

    #[test]
    fn bad_features_are_typed_errors() {
        let real: Vec<f64> = (0..40).map(|v| v as f64).collect();
        assert!(SampleQuality::measure(&real, &[f64::NAN; 40], 4, 2).is_err());
        assert!(SampleQuality::measure(&real, &real[..8], 4, 5).is_err());
        let equal = vec![1.0; 40];
        assert!(matches!(
            SampleQuality::measure(&equal, &real, 4, 2),
            Err(crate::MetricsError::Core(CoreError::InvalidConfig { ref name, .. })) if name == "real"
        ));
    }
}

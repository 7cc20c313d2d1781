//! Privacy filtering of generated images (two-stage sampling): a generative model that
//! memorised training images can leak them. Each sample is embedded in a feature space with
//! the training set; a sample whose nearest training neighbour is closer than real,
//! never-seen images typically are is rejected as a potential copy.
//!
//! ```text
//! d(x) = min_i ‖φ(x) − φ(x_i^train)‖₂
//! τ    = q-th percentile of { d(h) : h held-out real image }     (calibration)
//! keep x  ⇔  d(x) > τ
//! ```
//!
//! With `q = 5`, about 5 % of genuinely new real images would be rejected (the price of the
//! filter); a memorised copy has `d ≈ 0 ≤ τ` and is always rejected. The feature map `φ` is
//! pluggable ([`FeatureExtractor`]): raw pixels ([`PixelFeatures`]), pooled pixels
//! ([`PooledFeatures`]), a trained encoder, or a pretrained network.

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use medgen_core::stats::percentile;
use medgen_core::{Condition, CoreError, Sample, SeededRng};
use medgen_metrics::{
    FeatureExtractor, FeatureMatrix, extract_features, nearest_neighbour_distances,
};

use crate::error::{AppsError, Result};
pub use crate::features::{PixelFeatures, PooledFeatures};

/// Settings of [`PrivacyFilter`].
#[derive(Config, Debug, PartialEq)]
pub struct PrivacyFilterConfig {
    /// The calibration percentile `q ∈ [0, 100]` of held-out nearest-neighbour distances.
    #[config(default = 5.0)]
    pub percentile: f64,
    /// Images per feature-extraction batch.
    #[config(default = 64)]
    pub batch_size: usize,
}

/// What [`PrivacyFilter::screen`] decided for each sample.
#[derive(Clone, Debug, PartialEq)]
pub struct PrivacyScreen {
    /// `d(x)`: the distance to the nearest training image, per sample.
    pub distances: Vec<f64>,
    /// The index of that training image, per sample.
    pub nearest: Vec<usize>,
    /// Whether the sample passes (`d(x) > τ`), per sample.
    pub kept: Vec<bool>,
}

impl PrivacyScreen {
    /// The fraction of samples rejected.
    pub fn rejection_rate(&self) -> f64 {
        if self.kept.is_empty() {
            return 0.0;
        }
        self.kept.iter().filter(|&&k| !k).count() as f64 / self.kept.len() as f64
    }

    /// The indices of the rejected samples.
    pub fn rejected(&self) -> Vec<usize> {
        self.kept.iter().enumerate().filter(|(_, k)| !**k).map(|(i, _)| i).collect()
    }
}

/// A calibrated nearest-neighbour privacy filter (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct PrivacyFilter {
    training: Vec<f64>,
    rows: usize,
    dim: usize,
    calibration: Vec<f64>,
    threshold: f64,
    config: PrivacyFilterConfig,
}

impl PrivacyFilter {
    /// Calibrates a filter from the features of the training images and of held-out real
    /// images (never trained on) under `extractor`.
    ///
    /// # Errors
    /// As [`Self::from_features`], plus the extractor's errors and a configuration error
    /// naming `batch_size` for 0.
    pub fn calibrate<E: FeatureExtractor + ?Sized>(
        extractor: &E,
        training: Tensor<4>,
        held_out: Tensor<4>,
        config: PrivacyFilterConfig,
    ) -> Result<Self> {
        check_counts(training.dims()[0], held_out.dims()[0])?;
        let (train, rows, dim) = extract_features(extractor, training, config.batch_size)?;
        let (held, held_rows, _) = extract_features(extractor, held_out, config.batch_size)?;
        Self::from_features(
            FeatureMatrix::new(&train, rows, dim, "training features")?,
            FeatureMatrix::new(&held, held_rows, dim, "held-out features")?,
            config,
        )
    }

    /// Calibrates a filter from precomputed features: `τ` is the `q`-th percentile of the
    /// held-out rows' nearest-training-row distances.
    ///
    /// # Errors
    /// An `Empty` error naming the training set when it has no image, a configuration error
    /// naming `held_out` for fewer than 2 held-out images and `percentile` outside
    /// `[0, 100]`, and a shape error for differing feature dimensions.
    pub fn from_features(
        training: FeatureMatrix<'_>,
        held_out: FeatureMatrix<'_>,
        config: PrivacyFilterConfig,
    ) -> Result<Self> {
        check_counts(training.rows(), held_out.rows())?;
        if !(0.0..=100.0).contains(&config.percentile) {
            return Err(AppsError::config(
                "percentile",
                format!("must lie in [0, 100], got {}", config.percentile),
            ));
        }
        let calibration = nearest_neighbour_distances(held_out, training)?.distances;
        let threshold = percentile(&calibration, config.percentile, "percentile")?;
        Ok(Self {
            training: training.data().to_vec(),
            rows: training.rows(),
            dim: training.cols(),
            calibration,
            threshold,
            config,
        })
    }

    /// The rejection threshold `τ`.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The held-out images' nearest-training distances the threshold was calibrated on.
    pub fn calibration_distances(&self) -> &[f64] {
        &self.calibration
    }

    /// The settings.
    pub fn config(&self) -> &PrivacyFilterConfig {
        &self.config
    }

    /// Screens `samples` (`[M, C, H, W]`) embedded by the extractor used for calibration.
    ///
    /// # Errors
    /// The extractor's errors, an `Empty` error for no samples, and NaN features.
    pub fn screen<E: FeatureExtractor + ?Sized>(
        &self,
        extractor: &E,
        samples: Tensor<4>,
    ) -> Result<PrivacyScreen> {
        let (features, rows, dim) = extract_features(extractor, samples, self.config.batch_size)?;
        self.screen_features(FeatureMatrix::new(&features, rows, dim, "sample features")?)
    }

    /// Screens precomputed sample features (rows of `samples`).
    ///
    /// # Errors
    /// A shape error if the feature dimension differs from the training features'.
    pub fn screen_features(&self, samples: FeatureMatrix<'_>) -> Result<PrivacyScreen> {
        let training =
            FeatureMatrix::new(&self.training, self.rows, self.dim, "training features")?;
        let nearest = nearest_neighbour_distances(samples, training)?;
        let kept = nearest.distances.iter().map(|&d| d > self.threshold).collect();
        Ok(PrivacyScreen { distances: nearest.distances, nearest: nearest.indices, kept })
    }
}

fn check_counts(training: usize, held_out: usize) -> Result<()> {
    if training == 0 {
        return Err(CoreError::Empty { what: "training set of the privacy filter".into() }.into());
    }
    if held_out < 2 {
        return Err(AppsError::config(
            "held_out",
            format!("threshold calibration needs at least 2 held-out images, got {held_out}"),
        ));
    }
    Ok(())
}

/// What [`sample_private`] returns.
#[derive(Clone, Debug)]
pub struct PrivateSamples {
    /// The kept samples, `[n, C, H, W]` (fewer if `max_rounds` ran out).
    pub samples: Tensor<4>,
    /// How many samples were drawn in all.
    pub drawn: usize,
    /// How many of them were rejected.
    pub rejected: usize,
    /// Network evaluations spent on all draws.
    pub nfe: usize,
}

/// How many samples [`sample_private`] should keep, and how hard it may try.
#[derive(Config, Debug, PartialEq)]
pub struct PrivateSamplingConfig {
    /// The number of samples to keep (also the size of each drawn batch), `≥ 1`.
    pub n: usize,
    /// The most batches to draw, `≥ 1`.
    #[config(default = 4)]
    pub max_rounds: usize,
}

/// Two-stage sampling: draws batches of `n` from `model` (with `condition`, which must not
/// depend on the batch size, e.g. [`Condition::none`]) and keeps the samples `filter` passes,
/// until `n` are kept or `max_rounds` batches were drawn.
///
/// # Errors
/// A configuration error naming `n` or `max_rounds` for 0, an `Empty` error when every draw
/// was rejected, the model's errors (as [`AppsError::Model`]) and the filter's.
pub fn sample_private<S, E>(
    model: &S,
    extractor: &E,
    filter: &PrivacyFilter,
    request: &PrivateSamplingConfig,
    condition: &Condition<4>,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<PrivateSamples>
where
    S: Sample<4> + ?Sized,
    S::Error: std::error::Error + Send + Sync + 'static,
    E: FeatureExtractor + ?Sized,
{
    let (n, max_rounds) = (request.n, request.max_rounds);
    if n == 0 || max_rounds == 0 {
        return Err(AppsError::config(
            if n == 0 { "n" } else { "max_rounds" },
            "must be at least 1",
        ));
    }
    let (mut kept, mut drawn, mut rejected, mut nfe) = (Vec::new(), 0, 0, 0);
    let mut count = 0;
    for _ in 0..max_rounds {
        let batch =
            model.sample(n, condition, rng, device).map_err(|e| AppsError::model("sampler", e))?;
        nfe += batch.nfe;
        drawn += n;
        let screen = filter.screen(extractor, batch.samples.clone())?;
        rejected += screen.kept.iter().filter(|&&k| !k).count();
        for (i, &keep) in screen.kept.iter().enumerate() {
            if keep && count < n {
                kept.push(batch.samples.clone().narrow(0, i, 1));
                count += 1;
            }
        }
        if count == n {
            break;
        }
    }
    let samples = if kept.is_empty() {
        return Err(AppsError::Core(CoreError::Empty {
            what: format!("private samples: all {drawn} draws were rejected"),
        }));
    } else {
        Tensor::cat(kept, 0)
    };
    Ok(PrivateSamples { samples, drawn, rejected, nfe })
}

//! Watching a GAN train: discriminator saturation from the per-step losses and accuracies,
//! and mode collapse from the diversity of generated samples in a feature space.
//!
//! The two failure modes of adversarial training:
//!
//! - **D saturation** (vanishing generator gradients): the discriminator classifies real and
//!   fake almost perfectly while the generator's loss keeps rising. Flagged when, over the last
//!   `window` steps, the mean accuracy on real (`l_real > t`) and on fake (`l_fake < t`)
//!   items (`t` the loss's decision threshold, 0 for logistic losses) are both
//!   `≥ saturation_accuracy` and the mean generator loss of the newer half of the window
//!   exceeds that of the older half by more than `g_loss_rise`.
//! - **Mode collapse**: the generator covers few modes of the data. Measured on features
//!   `x_i` (real, `N × d`) and `y_j` (generated, `M × d`) by PRDC coverage (Naeem et al.
//!   2020) and the diversity ratio `δ = mean_{j≠j'} ‖y_j − y_j'‖ / mean_{i≠i'} ‖x_i − x_i'‖`
//!   (0 for a generator whose samples are all equal, about 1 when it is as diverse as the
//!   data); `medgen_metrics::SampleQuality::measure` computes both. Flagged when coverage
//!   `< min_coverage`, when it falls below `(1 − coverage_drop)` times its best value so far,
//!   or when `δ < min_diversity`.
//!
//! Warnings are returned as [`MonitorEvent`]s (the training loop puts them in its step
//! report); a saturation warning is raised once when the condition starts, and the state
//! clears only when a windowed accuracy falls below `saturation_accuracy` again.

use std::collections::VecDeque;
use std::fmt;

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::module::adaptive_avg_pool2d;
use medgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Thresholds of a [`GanMonitor`] (see the [module documentation](self)).
#[derive(Config, Debug, PartialEq)]
pub struct GanMonitorConfig {
    /// Steps in the moving window of the saturation test (≥ 2).
    #[config(default = 20)]
    pub window: usize,
    /// Mean discriminator accuracy on real and on fake items, in `(0, 1]`, above which D is
    /// saturated.
    #[config(default = 0.95)]
    pub saturation_accuracy: f64,
    /// Rise `≥ 0` of the windowed mean generator loss (newer half minus older half) that
    /// counts as "G loss rising".
    #[config(default = 0.0)]
    pub g_loss_rise: f64,
    /// PRDC coverage in `[0, 1]` below which generated samples miss modes of the data.
    #[config(default = 0.25)]
    pub min_coverage: f64,
    /// Relative fall in `[0, 1]` of coverage from its best value that counts as sharp.
    #[config(default = 0.5)]
    pub coverage_drop: f64,
    /// Diversity ratio `δ ≥ 0` below which the generator is collapsed.
    #[config(default = 0.3)]
    pub min_diversity: f64,
}

impl GanMonitorConfig {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<()> {
        let fail = |name: &str, reason: String| Err(CoreError::config(name, reason).into());
        if self.window < 2 {
            return fail("monitor.window", format!("must be at least 2, got {}", self.window));
        }
        if !(self.saturation_accuracy > 0.0 && self.saturation_accuracy <= 1.0) {
            return fail(
                "monitor.saturation_accuracy",
                format!("must lie in (0, 1], got {}", self.saturation_accuracy),
            );
        }
        for (name, v) in [
            ("monitor.min_coverage", self.min_coverage),
            ("monitor.coverage_drop", self.coverage_drop),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return fail(name, format!("must lie in [0, 1], got {v}"));
            }
        }
        for (name, v) in [
            ("monitor.g_loss_rise", self.g_loss_rise),
            ("monitor.min_diversity", self.min_diversity),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return fail(name, format!("must be finite and ≥ 0, got {v}"));
            }
        }
        Ok(())
    }
}

/// What one training step measured: the losses and the discriminator's accuracies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// The number of completed generator steps (1-based).
    pub step: usize,
    /// The discriminator loss of the step's last discriminator update.
    pub d_loss: f32,
    /// The generator loss.
    pub g_loss: f32,
    /// Fraction of real logits `> t`, the loss's decision threshold (all patches).
    pub real_accuracy: f32,
    /// Fraction of generated logits `< t` (all patches).
    pub fake_accuracy: f32,
}

/// Sample diversity observed at one step, the input of [`GanMonitor::observe_samples`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleQuality {
    /// The step the samples were drawn at.
    pub step: usize,
    /// PRDC coverage of the generated features, in `[0, 1]`.
    pub coverage: f64,
    /// The diversity ratio `δ ≥ 0` (see the [module documentation](self)).
    pub diversity: f64,
}

/// A warning of the monitor.
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorEvent {
    /// D classifies almost everything correctly while the G loss rises.
    DiscriminatorSaturated {
        /// The step at which the condition was detected.
        step: usize,
        /// Windowed mean accuracy on real items.
        real_accuracy: f64,
        /// Windowed mean accuracy on generated items.
        fake_accuracy: f64,
        /// Newer-half minus older-half mean generator loss.
        g_loss_rise: f64,
    },
    /// PRDC coverage is below `min_coverage`.
    LowCoverage {
        /// The step of the measurement.
        step: usize,
        /// The coverage measured.
        coverage: f64,
        /// The threshold.
        threshold: f64,
    },
    /// Coverage fell sharply from its best value.
    CoverageDrop {
        /// The step of the measurement.
        step: usize,
        /// The coverage measured.
        coverage: f64,
        /// The best coverage seen before.
        best: f64,
    },
    /// The samples are much less diverse than the data (`δ < min_diversity`): mode collapse.
    ModeCollapse {
        /// The step of the measurement.
        step: usize,
        /// The diversity ratio measured.
        diversity: f64,
        /// The threshold.
        threshold: f64,
    },
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DiscriminatorSaturated { step, real_accuracy, fake_accuracy, g_loss_rise } => {
                write!(
                    f,
                    "step {step}: discriminator saturated (accuracy real {real_accuracy:.3}, fake \
                 {fake_accuracy:.3}; generator loss rose by {g_loss_rise:.3}): its gradients to \
                 the generator vanish; lower lr_discriminator, add spectral norm or a penalty"
                )
            }
            Self::LowCoverage { step, coverage, threshold } => write!(
                f,
                "step {step}: coverage {coverage:.3} < {threshold:.3}: generated samples miss \
                 modes of the data"
            ),
            Self::CoverageDrop { step, coverage, best } => write!(
                f,
                "step {step}: coverage fell to {coverage:.3} from its best {best:.3}: possible \
                 mode collapse"
            ),
            Self::ModeCollapse { step, diversity, threshold } => write!(
                f,
                "step {step}: sample diversity ratio {diversity:.3} < {threshold:.3}: mode \
                 collapse"
            ),
        }
    }
}

/// The state of the monitor (see the [module documentation](self)); serialisable so that a
/// resumed run keeps its windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanMonitor {
    config: GanMonitorConfig,
    recent: VecDeque<StepStats>,
    saturated: bool,
    best_coverage: Option<f64>,
}

impl GanMonitor {
    /// A monitor with no history; fails for an invalid `config`.
    pub fn new(config: GanMonitorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, recent: VecDeque::new(), saturated: false, best_coverage: None })
    }

    /// The thresholds.
    pub fn config(&self) -> &GanMonitorConfig {
        &self.config
    }

    /// Records one step and returns the saturation warning if it starts at this step.
    pub fn observe_step(&mut self, stats: StepStats) -> Vec<MonitorEvent> {
        let window = self.config.window;
        self.recent.push_back(stats);
        while self.recent.len() > window {
            self.recent.pop_front();
        }
        if self.recent.len() < window {
            return Vec::new();
        }
        let mean = |f: &dyn Fn(&StepStats) -> f32, part: &[&StepStats]| {
            part.iter().map(|s| f64::from(f(s))).sum::<f64>() / part.len() as f64
        };
        let all: Vec<&StepStats> = self.recent.iter().collect();
        let (older, newer) = all.split_at(window / 2);
        let real = mean(&|s| s.real_accuracy, &all);
        let fake = mean(&|s| s.fake_accuracy, &all);
        let rise = mean(&|s| s.g_loss, newer) - mean(&|s| s.g_loss, older);
        let threshold = self.config.saturation_accuracy;
        // Hysteresis: once raised, the state holds while the accuracies stay high, so a G
        // loss that wobbles around flat does not raise the warning again and again.
        let accurate = real >= threshold && fake >= threshold;
        let now = accurate && (self.saturated || rise > self.config.g_loss_rise);
        let starts = now && !self.saturated;
        self.saturated = now;
        if starts {
            vec![MonitorEvent::DiscriminatorSaturated {
                step: stats.step,
                real_accuracy: real,
                fake_accuracy: fake,
                g_loss_rise: rise,
            }]
        } else {
            Vec::new()
        }
    }

    /// Whether the discriminator is saturated at the latest step.
    pub fn is_saturated(&self) -> bool {
        self.saturated
    }

    /// Checks an observed coverage and diversity (computed by the caller, for example with
    /// `medgen_metrics::SampleQuality::measure`) against the thresholds and returns the
    /// warnings they raise (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `coverage` when it is outside `[0, 1]`, or
    /// `diversity` when it is negative or not finite.
    pub fn observe_samples(&mut self, quality: SampleQuality) -> Result<Vec<MonitorEvent>> {
        if !(0.0..=1.0).contains(&quality.coverage) {
            return Err(CoreError::config(
                "coverage",
                format!("must lie in [0, 1], got {}", quality.coverage),
            )
            .into());
        }
        if !(quality.diversity.is_finite() && quality.diversity >= 0.0) {
            return Err(CoreError::config(
                "diversity",
                format!("must be finite and ≥ 0, got {}", quality.diversity),
            )
            .into());
        }
        Ok(self.sample_events(&quality))
    }

    fn sample_events(&mut self, quality: &SampleQuality) -> Vec<MonitorEvent> {
        let config = &self.config;
        let (step, coverage) = (quality.step, quality.coverage);
        let mut events = Vec::new();
        if coverage < config.min_coverage {
            events.push(MonitorEvent::LowCoverage {
                step,
                coverage,
                threshold: config.min_coverage,
            });
        }
        if let Some(best) = self.best_coverage
            && coverage < (1.0 - config.coverage_drop) * best
        {
            events.push(MonitorEvent::CoverageDrop { step, coverage, best });
        }
        if quality.diversity < config.min_diversity {
            events.push(MonitorEvent::ModeCollapse {
                step,
                diversity: quality.diversity,
                threshold: config.min_diversity,
            });
        }
        self.best_coverage = Some(self.best_coverage.map_or(coverage, |b| b.max(coverage)));
        events
    }
}

/// A cheap feature space for monitoring image GANs: each image `[N, C, H, W]` average-pooled
/// to `grid × grid` cells and flattened, `[N, C · grid²]` (read back by the caller). Pixel
/// features see layout and contrast, which is what collapses first on phantoms; use a
/// learned feature extractor (`medgen_metrics::FeatureExtractor`) for FID-style numbers.
///
/// # Errors
/// [`CoreError::InvalidConfig`] for `grid = 0` or a grid larger than the image.
pub fn pooled_pixel_features(images: Tensor<4>, grid: usize) -> Result<Tensor<2>> {
    let [n, c, h, w] = images.dims();
    if grid == 0 || grid > h || grid > w {
        return Err(
            CoreError::config("grid", format!("must lie in 1..={}, got {grid}", h.min(w))).into()
        );
    }
    Ok(adaptive_avg_pool2d(images, [grid, grid]).reshape([n, c * grid * grid]))
}

/// The discriminator's accuracy on a batch from its logits `[N, P]` and decision threshold
/// `t` (0 for logistic losses): the fraction of logits `> t` when the batch is real, `< t`
/// when it is generated; scalar `[1]`, on the device.
pub fn logit_accuracy(logits: Tensor<2>, threshold: f64, real: bool) -> Tensor<1> {
    let correct = if real { logits.greater_elem(threshold) } else { logits.lower_elem(threshold) };
    correct.float().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    fn stats(step: usize, acc: f32, g_loss: f32) -> StepStats {
        StepStats { step, d_loss: 0.1, g_loss, real_accuracy: acc, fake_accuracy: acc }
    }

    #[test]
    fn saturation_is_flagged_once_on_synthetic_logits() {
        let device = test_device();
        let mut monitor = GanMonitor::new(GanMonitorConfig::new().with_window(4)).unwrap();
        let mut events = Vec::new();
        // A healthy phase: accuracies near 0.5, flat G loss.
        for step in 1..=6 {
            events.extend(monitor.observe_step(stats(step, 0.55, 0.7)));
        }
        assert!(events.is_empty(), "{events:?}");
        // D separates the two batches perfectly (logits ±8 → accuracy 1) and the
        // non-saturating G loss softplus(−l_fake) grows as the fake logits sink.
        for (k, step) in (7..=12).enumerate() {
            let margin = 4.0 + k as f32;
            let real = Tensor::<2>::full([8, 1], margin, &device);
            let fake = Tensor::<2>::full([8, 1], -margin, &device);
            let acc_real = logit_accuracy(real, 0.0, true).into_scalar::<f32>();
            let acc_fake = logit_accuracy(fake, 0.0, false).into_scalar::<f32>();
            assert_eq!((acc_real, acc_fake), (1.0, 1.0));
            let g_loss = (1.0 + margin.exp()).ln();
            let mut s = stats(step, 1.0, g_loss);
            (s.real_accuracy, s.fake_accuracy) = (acc_real, acc_fake);
            events.extend(monitor.observe_step(s));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(events[0], MonitorEvent::DiscriminatorSaturated { step: 10, .. }));
        assert!(monitor.is_saturated());
        assert!(events[0].to_string().contains("saturated"));
        // It clears once D's accuracy falls again.
        for step in 13..=16 {
            assert!(monitor.observe_step(stats(step, 0.5, 3.0)).is_empty());
        }
        assert!(!monitor.is_saturated());
        // Perfect accuracy with a falling G loss is not saturation.
        let mut calm = GanMonitor::new(GanMonitorConfig::new().with_window(4)).unwrap();
        let flagged: usize =
            (1..=8).map(|s| calm.observe_step(stats(s, 1.0, 2.0 - s as f32 * 0.1)).len()).sum();
        assert_eq!(flagged, 0);
    }

    #[test]
    fn a_collapsed_generator_is_flagged_and_a_good_one_is_not() {
        let mut monitor = GanMonitor::new(GanMonitorConfig::new()).unwrap();
        let observe = |m: &mut GanMonitor, step, coverage, diversity| {
            m.observe_samples(SampleQuality { step, coverage, diversity })
        };
        let events = observe(&mut monitor, 10, 0.9, 0.95).unwrap();
        assert!(events.is_empty(), "{events:?}");
        // Every generated sample equal to one point: diversity 0, coverage near 0.
        let events = observe(&mut monitor, 20, 0.02, 0.0).unwrap();
        assert!(events.iter().any(|e| matches!(e, MonitorEvent::ModeCollapse { step: 20, .. })));
        assert!(events.iter().any(|e| matches!(e, MonitorEvent::LowCoverage { .. })));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, MonitorEvent::CoverageDrop { best, .. } if *best == 0.9))
        );
        // Values outside their ranges are typed errors naming the argument.
        let err = observe(&mut monitor, 30, f64::NAN, 0.5).unwrap_err();
        assert!(err.to_string().contains("coverage"), "{err}");
        let err = observe(&mut monitor, 30, 0.5, -1.0).unwrap_err();
        assert!(err.to_string().contains("diversity"), "{err}");
    }

    #[test]
    fn pooled_features_average_cells_and_configs_are_checked() {
        let device = test_device();
        let data: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let images = Tensor::<4>::from_data(TensorData::new(data, [1, 1, 4, 4]), &device);
        let f = pooled_pixel_features(images.clone(), 2).unwrap();
        let v = f.try_into_vec_as::<f32>().unwrap();
        assert_eq!(v, vec![2.5, 4.5, 10.5, 12.5]);
        assert!(pooled_pixel_features(images, 5).is_err());
        assert!(GanMonitorConfig::new().with_window(1).validate().is_err());
        assert!(GanMonitorConfig::new().with_min_coverage(2.0).validate().is_err());
    }
}

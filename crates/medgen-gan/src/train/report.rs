//! What a training step reports and the curves a run records.

use std::path::{Path, PathBuf};

use medgen_train::viz::{LossPlotConfig, save_loss_plot};
use medgen_train::{LossHistory, UpdateStats};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::monitor::{MonitorEvent, StepStats};

/// What one call of [`GanTrainer::step`](super::GanTrainer::step) did.
#[derive(Clone, Debug, PartialEq)]
pub struct GanStepReport {
    /// Losses and discriminator accuracies of the step.
    pub stats: StepStats,
    /// Warnings of the monitor raised at this step.
    pub events: Vec<MonitorEvent>,
    /// The checkpoint written after this step, if any.
    pub checkpoint: Option<PathBuf>,
    /// The generator's update: its loss, learning rate `lr_G(k)` and gradient norm.
    pub generator: UpdateStats,
    /// The discriminator's last update of the step: loss, `lr_D(k)` and gradient norm.
    pub discriminator: UpdateStats,
}

/// The per-step curves of a run (1-based generator steps), kept in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GanHistory {
    /// The discriminator loss (last update of each step).
    pub d_loss: LossHistory,
    /// The generator loss.
    pub g_loss: LossHistory,
    /// Discriminator accuracy on real items.
    pub real_accuracy: LossHistory,
    /// Discriminator accuracy on generated items.
    pub fake_accuracy: LossHistory,
}

impl GanHistory {
    /// Appends one step.
    pub fn push(&mut self, stats: &StepStats) {
        self.d_loss.push(stats.step, stats.d_loss);
        self.g_loss.push(stats.step, stats.g_loss);
        self.real_accuracy.push(stats.step, stats.real_accuracy);
        self.fake_accuracy.push(stats.step, stats.fake_accuracy);
    }

    /// Drops every step `≥ step` (a resumed run replays them).
    pub fn truncate_from(&mut self, step: usize) {
        for curve in
            [&mut self.d_loss, &mut self.g_loss, &mut self.real_accuracy, &mut self.fake_accuracy]
        {
            curve.truncate_from(step);
        }
    }

    /// The number of recorded steps.
    pub fn len(&self) -> usize {
        self.g_loss.len()
    }

    /// Whether no step is recorded.
    pub fn is_empty(&self) -> bool {
        self.g_loss.is_empty()
    }

    /// Writes the four curves as PNG plots `loss_d.png`, `loss_g.png`, `accuracy_real.png`
    /// and `accuracy_fake.png` into `dir` (created if needed); returns the paths.
    ///
    /// # Errors
    /// [`CoreError::Empty`](medgen_core::CoreError::Empty) for an empty history, I/O errors.
    pub fn save_plots(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|err| medgen_core::CoreError::io(dir, err))?;
        let config = LossPlotConfig::new();
        let mut written = Vec::new();
        for (name, curve) in [
            ("loss_d.png", &self.d_loss),
            ("loss_g.png", &self.g_loss),
            ("accuracy_real.png", &self.real_accuracy),
            ("accuracy_fake.png", &self.fake_accuracy),
        ] {
            let path = dir.join(name);
            save_loss_plot(&path, curve, &config)?;
            written.push(path);
        }
        Ok(written)
    }
}

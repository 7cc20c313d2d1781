//! The configuration of an adversarial training run.

use burn::config::Config;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer};
use medgen_core::CoreError;
use medgen_train::{EmaConfig, RunSchedule, UpdateConfig, WarmupCosineConfig};

use crate::error::Result;
use crate::monitor::GanMonitorConfig;

/// Hyper-parameters of [`GanTrainer`](super::GanTrainer).
///
/// One *step* of the run is `n_critic` discriminator updates followed by one generator
/// update (WGAN's schedule; `n_critic = 1` is the DCGAN/pix2pix alternation). The two networks
/// have their own Adam(W) optimiser with the same moments `(β₁, β₂)` and their own peak
/// learning rates (the two time-scale update rule of Heusel et al. 2017 when they differ),
/// both following the warm-up + cosine schedule of [`WarmupCosineConfig`] over the run's
/// steps `k`, with the same warm-up and floor factor:
///
/// ```text
/// lr_X(k) = WarmupCosine(base = lr_X, W = warmup_steps, T = total_steps,
///                        min = min_lr_factor · lr_X)(k)
/// g ← g · min(1, c / ‖g‖₂)                      (optional clipping, c = max_grad_norm)
/// θ_D ← Adam(θ_D, ∇ L_D, lr_D(k))               (n_critic times)
/// θ_G ← Adam(θ_G, ∇ L_G, lr_G(k))
/// θ̄_G ← d θ̄_G + (1 − d) θ_G                     (optional EMA)
/// ```
///
/// The defaults (`warmup_steps = 0`, `min_lr_factor = 1`) give the constant rates of DCGAN
/// and pix2pix.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainerConfig {
    /// The number of generator steps of the run (≥ 1).
    pub total_steps: usize,
    /// The generator's learning rate (> 0); 2e-4 as in DCGAN and pix2pix.
    #[config(default = 2e-4)]
    pub lr_generator: f64,
    /// The discriminator's learning rate (> 0); e.g. 4e-4 with `lr_generator = 1e-4` for TTUR.
    #[config(default = 2e-4)]
    pub lr_discriminator: f64,
    /// Adam's first-moment decay `β₁ ∈ [0, 1)`; 0.5 is the GAN convention (DCGAN).
    #[config(default = 0.5)]
    pub beta_1: f32,
    /// Adam's second-moment decay `β₂ ∈ [0, 1)`.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Decoupled weight decay `≥ 0` (AdamW); 0 selects plain Adam.
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// Linear warm-up steps `W` of both learning rates (≤ `total_steps`).
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// The final learning rate of the cosine decay as a fraction of the peak, in `[0, 1]`
    /// (`1`: constant after the warm-up).
    #[config(default = 1.0)]
    pub min_lr_factor: f64,
    /// Global-norm gradient clipping of both networks with `c = max_grad_norm` (`None`: off).
    #[config(default = "None")]
    pub max_grad_norm: Option<f32>,
    /// Discriminator updates per generator update (≥ 1); 5 for WGAN-GP.
    #[config(default = 1)]
    pub n_critic: usize,
    /// Weight `≥ 0` of the auxiliary-classifier cross-entropy (AC-GAN), added to both losses
    /// when the discriminator returns class logits and the batch carries class labels.
    #[config(default = 1.0)]
    pub auxiliary_class_weight: f32,
    /// An exponential moving average of the generator's weights (`None`: no EMA).
    #[config(default = "None")]
    pub ema: Option<EmaConfig>,
    /// Save a checkpoint every this many steps and at the last step (`0`: never).
    #[config(default = 0)]
    pub checkpoint_every: usize,
    /// How many of the newest checkpoints to keep (≥ 1).
    #[config(default = 2)]
    pub keep_checkpoints: usize,
    /// Thresholds of the training monitor.
    #[config(default = "GanMonitorConfig::new()")]
    pub monitor: GanMonitorConfig,
}

impl GanTrainerConfig {
    /// Checks every field against the ranges documented on it.
    pub fn validate(&self) -> Result<()> {
        if self.total_steps == 0 {
            return Err(CoreError::config("total_steps", "must be at least 1").into());
        }
        for (name, lr) in
            [("lr_generator", self.lr_generator), ("lr_discriminator", self.lr_discriminator)]
        {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(CoreError::config(
                    name,
                    format!("must be positive and finite, got {lr}"),
                )
                .into());
            }
        }
        for (name, beta) in [("beta_1", self.beta_1), ("beta_2", self.beta_2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(
                    CoreError::config(name, format!("must lie in [0, 1), got {beta}")).into()
                );
            }
        }
        for (name, value) in [
            ("weight_decay", self.weight_decay),
            ("auxiliary_class_weight", self.auxiliary_class_weight),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(CoreError::config(
                    name,
                    format!("must be finite and ≥ 0, got {value}"),
                )
                .into());
            }
        }
        if self.n_critic == 0 {
            return Err(CoreError::config("n_critic", "must be at least 1").into());
        }
        if self.keep_checkpoints == 0 {
            return Err(CoreError::config("keep_checkpoints", "must be at least 1").into());
        }
        if !(0.0..=1.0).contains(&self.min_lr_factor) {
            return Err(CoreError::config(
                "min_lr_factor",
                format!("must lie in [0, 1], got {}", self.min_lr_factor),
            )
            .into());
        }
        self.generator_update().validate()?;
        self.discriminator_update().validate()?;
        self.monitor.validate()
    }

    /// How the generator is updated: its schedule, clipping and the EMA.
    pub fn generator_update(&self) -> UpdateConfig {
        UpdateConfig {
            lr: self.schedule(self.lr_generator),
            max_grad_norm: self.max_grad_norm,
            ema: self.ema.clone(),
        }
    }

    /// How the discriminator is updated: its schedule and clipping (no EMA).
    pub fn discriminator_update(&self) -> UpdateConfig {
        UpdateConfig {
            lr: self.schedule(self.lr_discriminator),
            max_grad_norm: self.max_grad_norm,
            ema: None,
        }
    }

    /// When the run ends and how it checkpoints.
    pub fn run_schedule(&self) -> RunSchedule {
        RunSchedule {
            total_steps: self.total_steps,
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
        }
    }

    fn schedule(&self, base_lr: f64) -> WarmupCosineConfig {
        WarmupCosineConfig::new(base_lr, self.total_steps)
            .with_warmup_steps(self.warmup_steps)
            .with_min_lr(base_lr * self.min_lr_factor)
    }

    /// A fresh optimiser for one of the two networks: Adam(β₁, β₂), or AdamW with the
    /// decoupled `weight_decay` when it is positive.
    pub fn optimizer(&self) -> ModuleOptimizer {
        if self.weight_decay > 0.0 {
            AdamWConfig::new()
                .with_beta_1(self.beta_1)
                .with_beta_2(self.beta_2)
                .with_weight_decay(self.weight_decay)
                .init()
        } else {
            AdamConfig::new().with_beta_1(self.beta_1).with_beta_2(self.beta_2).init()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        let config = GanTrainerConfig::new(10);
        config.validate().unwrap();
        let message = |c: GanTrainerConfig| c.validate().unwrap_err().to_string();
        assert!(message(GanTrainerConfig::new(0)).contains("total_steps"));
        assert!(message(config.clone().with_lr_generator(f64::NAN)).contains("lr_generator"));
        assert!(message(config.clone().with_beta_1(1.0)).contains("beta_1"));
        assert!(message(config.clone().with_n_critic(0)).contains("n_critic"));
        assert!(message(config.clone().with_weight_decay(-1.0)).contains("weight_decay"));
        assert!(message(config.clone().with_min_lr_factor(1.5)).contains("min_lr_factor"));
        assert!(message(config.clone().with_warmup_steps(11)).contains("warmup_steps"));
        assert!(message(config.clone().with_max_grad_norm(Some(0.0))).contains("max_grad_norm"));
        assert!(message(config.with_keep_checkpoints(0)).contains("keep_checkpoints"));
    }
}

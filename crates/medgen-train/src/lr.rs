//! Linear warm-up followed by cosine decay of the learning rate.

use std::f64::consts::PI;

use burn::config::Config;
use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

use medgen_core::error::{CoreError, Result};

/// Configuration of a warm-up + cosine learning-rate schedule.
///
/// At optimiser step `k` (0-based), with base rate `b`, floor `m`, start factor `f`, `W`
/// warm-up steps and `T` total steps:
///
/// ```text
/// lr(k) = b · (f + (1 − f) · k / W)                         for k < W
/// lr(k) = m + ½ (b − m) (1 + cos(π (k − W) / (T − W)))      for W ≤ k < T
/// lr(k) = m                                                 for k ≥ T
/// ```
///
/// With `f = 0` this is the schedule of Hugging Face's `get_cosine_schedule_with_warmup`
/// (plus a floor `m`): the first step runs at rate 0 and the rate reaches `b` at step `W`.
#[derive(Config, Debug, PartialEq)]
pub struct WarmupCosineConfig {
    /// The peak learning rate `b` (> 0), reached at the end of the warm-up.
    pub base_lr: f64,
    /// The total number of optimiser steps `T` (≥ 1); the rate is `min_lr` from there on.
    pub total_steps: usize,
    /// The number of warm-up steps `W` (≤ `total_steps`; 0 disables the warm-up).
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// The final learning rate `m`, in `[0, base_lr]`.
    #[config(default = 0.0)]
    pub min_lr: f64,
    /// The fraction `f ∈ [0, 1]` of `base_lr` the warm-up starts from.
    #[config(default = 0.0)]
    pub warmup_start_factor: f64,
}

impl WarmupCosineConfig {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<()> {
        if !(self.base_lr.is_finite() && self.base_lr > 0.0) {
            return Err(CoreError::config(
                "base_lr",
                format!("must be positive and finite, got {}", self.base_lr),
            ));
        }
        if !(self.min_lr.is_finite() && (0.0..=self.base_lr).contains(&self.min_lr)) {
            return Err(CoreError::config(
                "min_lr",
                format!("must lie in [0, base_lr = {}], got {}", self.base_lr, self.min_lr),
            ));
        }
        if self.total_steps == 0 {
            return Err(CoreError::config("total_steps", "must be at least 1"));
        }
        if self.warmup_steps > self.total_steps {
            return Err(CoreError::config(
                "warmup_steps",
                format!(
                    "must not exceed total_steps = {}, got {}",
                    self.total_steps, self.warmup_steps
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.warmup_start_factor) {
            return Err(CoreError::config(
                "warmup_start_factor",
                format!("must lie in [0, 1], got {}", self.warmup_start_factor),
            ));
        }
        Ok(())
    }

    /// Validates the configuration and builds the schedule, positioned at step 0.
    pub fn init(&self) -> Result<WarmupCosine> {
        self.validate()?;
        Ok(WarmupCosine { config: self.clone(), step: 0 })
    }
}

/// A validated warm-up + cosine schedule (see [`WarmupCosineConfig`] for the formula).
///
/// Use [`WarmupCosine::lr_at`] for the rate at any step, or the Burn [`LrScheduler`]
/// implementation, whose `step()` returns `lr(0)`, `lr(1)`, … on successive calls and whose
/// record holds the position so that a resumed run continues the schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupCosine {
    config: WarmupCosineConfig,
    step: usize,
}

const STEP_KEY: &str = "step";

impl WarmupCosine {
    /// The learning rate at optimiser step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let c = &self.config;
        if step < c.warmup_steps {
            let progress = step as f64 / c.warmup_steps as f64;
            c.base_lr * (c.warmup_start_factor + (1.0 - c.warmup_start_factor) * progress)
        } else if step < c.total_steps {
            let progress = (step - c.warmup_steps) as f64 / (c.total_steps - c.warmup_steps) as f64;
            c.min_lr + 0.5 * (c.base_lr - c.min_lr) * (1.0 + (PI * progress).cos())
        } else {
            c.min_lr
        }
    }

    /// The step whose rate the next [`LrScheduler::step`] call returns.
    pub fn position(&self) -> usize {
        self.step
    }

    /// Moves the schedule to `step` (e.g. when resuming from a checkpoint).
    pub fn set_position(&mut self, step: usize) {
        self.step = step;
    }

    /// The configuration.
    pub fn config(&self) -> &WarmupCosineConfig {
        &self.config
    }
}

impl LrScheduler for WarmupCosine {
    fn step(&mut self) -> LearningRate {
        let lr = self.lr_at(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar(STEP_KEY, self.step)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<usize>(STEP_KEY) {
            self.step = step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> WarmupCosine {
        WarmupCosineConfig::new(1e-3, 110).with_warmup_steps(10).with_min_lr(1e-5).init().unwrap()
    }

    #[test]
    fn matches_the_formula() {
        let s = schedule();
        let cosine = |k: f64| 1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + (PI * (k - 10.0) / 100.0).cos());
        assert_eq!(s.lr_at(0), 0.0);
        assert!((s.lr_at(5) - 5e-4).abs() < 1e-15);
        assert!((s.lr_at(10) - 1e-3).abs() < 1e-15);
        for k in [11usize, 35, 60, 109] {
            assert!((s.lr_at(k) - cosine(k as f64)).abs() < 1e-15, "step {k}");
        }
        // Half-way through the cosine phase the rate is the mean of base and floor.
        assert!((s.lr_at(60) - 0.5 * (1e-3 + 1e-5)).abs() < 1e-15);
        assert_eq!(s.lr_at(110), 1e-5);
        assert_eq!(s.lr_at(10_000), 1e-5);
    }

    #[test]
    fn start_factor_and_no_warmup() {
        let s = WarmupCosineConfig::new(2.0, 10)
            .with_warmup_steps(4)
            .with_warmup_start_factor(0.5)
            .init()
            .unwrap();
        assert_eq!(s.lr_at(0), 1.0);
        assert_eq!(s.lr_at(2), 1.5);
        let plain = WarmupCosineConfig::new(2.0, 10).init().unwrap();
        assert_eq!(plain.lr_at(0), 2.0);
        assert!((plain.lr_at(5) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn burn_scheduler_steps_and_resumes() {
        let mut s = schedule();
        let rates: Vec<f64> = (0..20).map(|_| LrScheduler::step(&mut s)).collect();
        let expected: Vec<f64> = (0..20).map(|k| s.lr_at(k)).collect();
        assert_eq!(rates, expected);
        let record = s.to_record();
        let mut resumed = schedule();
        resumed.load_record(record);
        assert_eq!(resumed.position(), 20);
        assert_eq!(LrScheduler::step(&mut resumed), s.lr_at(20));
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad = [
            WarmupCosineConfig::new(0.0, 10),
            WarmupCosineConfig::new(f64::NAN, 10),
            WarmupCosineConfig::new(1.0, 0),
            WarmupCosineConfig::new(1.0, 10).with_warmup_steps(11),
            WarmupCosineConfig::new(1.0, 10).with_min_lr(2.0),
            WarmupCosineConfig::new(1.0, 10).with_warmup_start_factor(-0.1),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(CoreError::InvalidConfig { .. })), "{config:?}");
        }
    }
}

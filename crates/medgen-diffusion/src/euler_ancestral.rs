//! Ancestral Euler sampling as diffusers' `EulerAncestralDiscreteScheduler` (k-diffusion's
//! `sample_euler_ancestral`).
//!
//! The sample lives at the VE scale `x = x₀ + σ ε`; the network sees `x/√(σ²+1)` at the
//! (fractional) timestep `t_i`. One step from `σ_i` to `σ_{i+1}` splits the target level into
//! a deterministic part and fresh noise,
//!
//! `σ_up = √(σ_{i+1}² (σ_i² − σ_{i+1}²)/σ_i²)`, `σ_down = √(σ_{i+1}² − σ_up²)`,
//! `x_{i+1} = x_i + (σ_down − σ_i)(x_i − x̂₀)/σ_i + σ_up z`, `z ~ N(0, I)`.
//!
//! The grid is diffusers': `linspace` takes `linspace(0, T−1, n)` (float32) reversed,
//! `leading` `i ⌊T/n⌋ + steps_offset`, `trailing` `round(arange(T, 0, −T/n)) − 1`; the levels
//! are `numpy.interp` of the training sigmas at those times (linear in `σ`), followed by 0.
//! The initial noise has standard deviation `σ_max` for `linspace` and `trailing` and
//! `√(σ_max² + 1)` for `leading`, as in diffusers.

use burn::config::Config;
use burn::tensor::Tensor;
use rand::Rng;

use crate::diffusers_grid::{interp, linspace, train_sigmas};
use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, ScheduleConfig};
use crate::scheduler::{Scheduler, StepOutput, Timestep, ensure_finite_output, ensure_same_shape};
use crate::sigma_scheduler::SigmaStep;
use crate::timesteps::{TimestepSpacing, ensure_step_count, trailing};

/// The configuration of an [`EulerAncestralScheduler`], with diffusers' names and defaults.
#[derive(Config, Debug)]
pub struct EulerAncestralConfig {
    /// Number of training timesteps `T`.
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    /// First beta of the schedule.
    #[config(default = 0.0001)]
    pub beta_start: f64,
    /// Last beta of the schedule.
    #[config(default = 0.02)]
    pub beta_end: f64,
    /// The layout of the betas.
    #[config(default = "BetaSchedule::Linear")]
    pub beta_schedule: BetaSchedule,
    /// User-supplied betas `[T]`, replacing `beta_schedule`.
    pub trained_betas: Option<Vec<f64>>,
    /// What the network predicts: `epsilon` or `v_prediction` (diffusers has no `sample`
    /// form for this scheduler).
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// How the `n` timesteps are laid out.
    #[config(default = "TimestepSpacing::Linspace")]
    pub timestep_spacing: TimestepSpacing,
    /// Added to every timestep with `leading` spacing.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// Check every model output for NaN/Inf in `step` (one scalar read back per step).
    #[config(default = true)]
    pub check_finite: bool,
}

impl EulerAncestralConfig {
    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    ///
    /// # Errors
    /// `InvalidConfig` naming `prediction_type` for `sample`, and the schedule's errors.
    pub fn init(&self) -> Result<EulerAncestralScheduler> {
        if self.prediction_type == PredictionType::Sample {
            return Err(DiffusionError::config(
                "prediction_type",
                "Euler ancestral supports epsilon and v_prediction (as diffusers)",
            ));
        }
        let schedule = ScheduleConfig::flat(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.clone(),
        )?;
        let sigmas = train_sigmas(&schedule);
        if sigmas.iter().any(|s| !s.is_finite()) {
            return Err(DiffusionError::config(
                "beta_schedule",
                "Euler ancestral needs alpha_cumprod > 0 at every training timestep",
            ));
        }
        Ok(EulerAncestralScheduler {
            config: self.clone(),
            train_sigmas: sigmas,
            times: Vec::new(),
            sigmas: Vec::new(),
        })
    }
}

/// diffusers' `EulerAncestralDiscreteScheduler` (see the [module docs](self)). Stochastic.
#[derive(Clone, Debug)]
pub struct EulerAncestralScheduler {
    config: EulerAncestralConfig,
    train_sigmas: Vec<f32>,
    /// The (fractional) timesteps, float32 values.
    times: Vec<f64>,
    /// `n + 1` float32 levels ending in 0.
    sigmas: Vec<f64>,
}

impl EulerAncestralScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &EulerAncestralConfig {
        &self.config
    }

    /// The `n + 1` levels of the current run, ending in 0.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// Chooses `num_inference_steps` steps (see the [module docs](self)).
    ///
    /// # Errors
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        let (t_max, n) = (self.config.num_train_timesteps, num_inference_steps);
        ensure_step_count(n, t_max)?;
        let times: Vec<f64> = match self.config.timestep_spacing {
            TimestepSpacing::Linspace => linspace(0.0, (t_max - 1) as f64, n)
                .into_iter()
                .rev()
                .map(|t| f64::from(t as f32))
                .collect(),
            TimestepSpacing::Leading => {
                let ratio = t_max / n;
                (0..n).rev().map(|i| (i * ratio + self.config.steps_offset) as f64).collect()
            }
            TimestepSpacing::Trailing => trailing(t_max, n).into_iter().map(|t| t as f64).collect(),
        };
        let mut sigmas: Vec<f64> =
            times.iter().map(|&t| f64::from(interp(t, &self.train_sigmas) as f32)).collect();
        sigmas.push(0.0);
        self.times = times;
        self.sigmas = sigmas;
        Ok(())
    }

    /// The network evaluations of the current run, in order.
    pub fn steps(&self) -> Vec<SigmaStep> {
        self.times
            .iter()
            .enumerate()
            .map(|(interval, &time)| SigmaStep {
                interval,
                corrector: false,
                sigma: self.sigmas[interval],
                time,
            })
            .collect()
    }

    /// The standard deviation of the initial noise: `σ_max` (`linspace`, `trailing`) or
    /// `√(σ_max² + 1)` (`leading`); 1 before `set_timesteps`.
    pub fn init_noise_sigma(&self) -> f64 {
        let max = self.sigmas.iter().copied().fold(0.0, f64::max);
        if self.sigmas.is_empty() {
            1.0
        } else if self.config.timestep_spacing == TimestepSpacing::Leading {
            (max * max + 1.0).sqrt()
        } else {
            max
        }
    }

    /// One ancestral step from `sample` at `timestep` (one of [`Self::steps`]) given the
    /// network output there and standard normal `noise` of the sample's shape.
    ///
    /// # Errors
    /// [`DiffusionError::TimestepsNotSet`], [`DiffusionError::InvalidTimesteps`] for a step
    /// off the grid, [`DiffusionError::ModelOutputShape`] (also for the noise) and
    /// [`DiffusionError::NonFiniteModelOutput`].
    pub fn step<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: SigmaStep,
        sample: Tensor<D>,
        noise: Tensor<D>,
    ) -> Result<StepOutput<D>> {
        if self.times.is_empty() {
            return Err(DiffusionError::TimestepsNotSet);
        }
        let i = timestep.interval;
        if i >= self.times.len() || timestep.sigma != self.sigmas[i] {
            return Err(DiffusionError::InvalidTimesteps {
                timesteps: vec![i],
                reason: "not a step of this run: pass the values of `timesteps()`".into(),
            });
        }
        ensure_same_shape(&model_output, &sample)?;
        ensure_same_shape(&noise, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, self.times[i].round() as usize)?;
        }
        let (sigma, sigma_to) = (self.sigmas[i], self.sigmas[i + 1]);
        let x0 = match self.config.prediction_type {
            PredictionType::VPrediction => {
                let scale = sigma * sigma + 1.0;
                model_output.mul_scalar(-sigma / scale.sqrt()).add(sample.clone().div_scalar(scale))
            }
            _ => sample.clone().sub(model_output.mul_scalar(sigma)),
        };
        let sigma_up =
            (sigma_to * sigma_to * (sigma * sigma - sigma_to * sigma_to) / (sigma * sigma)).sqrt();
        let sigma_down = (sigma_to * sigma_to - sigma_up * sigma_up).max(0.0).sqrt();
        let derivative = sample.clone().sub(x0.clone()).div_scalar(sigma);
        let prev_sample =
            sample.add(derivative.mul_scalar(sigma_down - sigma)).add(noise.mul_scalar(sigma_up));
        Ok(StepOutput { prev_sample, pred_original_sample: x0 })
    }
}

impl<const D: usize> Scheduler<D> for EulerAncestralScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        EulerAncestralScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        self.steps().into_iter().map(Timestep::Sigma).collect()
    }

    /// `x / √(σ²+1)`.
    fn scale_model_input(&self, sample: Tensor<D>, timestep: Timestep) -> Tensor<D> {
        match timestep {
            Timestep::Sigma(step) => sample.div_scalar((step.sigma * step.sigma + 1.0).sqrt()),
            Timestep::Discrete(_) => sample,
        }
    }

    /// Draws the step's noise from `rng`.
    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        let noise = medgen_core::noise::gaussian_noise(sample.dims(), rng, &sample.device())?;
        EulerAncestralScheduler::step(self, model_output, timestep.sigma_step()?, sample, noise)
    }

    fn init_noise_sigma(&self) -> f64 {
        EulerAncestralScheduler::init_noise_sigma(self)
    }
}

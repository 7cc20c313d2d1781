//! DPM-Solver++ (Lu et al., 2022) as diffusers' `DPMSolverMultistepScheduler`: multistep
//! solvers of order 1–3 of the probability-flow ODE in the data-prediction form, and the
//! stochastic `sde-dpmsolver++` variant, on diffusers' own timestep grid.
//!
//! The sample stays at the VP scale `x_t = α_t x₀ + σ_t ε` with `α_t = 1/√(σ²+1)`,
//! `σ_t = σ α_t` and `λ = ln(α_t/σ_t)`. With `h = λ_{i+1} − λ_i` and the data predictions
//! `D_i = x̂₀(x_i)`, one step to `σ_{i+1}` is
//!
//! - first order (DDIM): `x_{i+1} = (σ_{t,i+1}/σ_{t,i}) x_i − α_{i+1}(e^{−h} − 1) D_i`;
//! - second order, `r₀ = h_{i−1}/h`, `D₁ = (D_i − D_{i−1})/r₀`: midpoint adds
//!   `−½ α_{i+1}(e^{−h} − 1) D₁`, Heun adds `α_{i+1}((e^{−h} − 1)/h + 1) D₁`;
//! - third order: `D₁ = D₁,₀ + r₀/(r₀+r₁)(D₁,₀ − D₁,₁)`, `D₂ = (D₁,₀ − D₁,₁)/(r₀+r₁)`, adding
//!   `α_{i+1}((e^{−h} − 1)/h + 1) D₁ − α_{i+1}((e^{−h} − 1 + h)/h² − ½) D₂`;
//! - `sde-dpmsolver++`: `x_{i+1} = (σ_{t,i+1}/σ_{t,i}) e^{−h} x_i + α_{i+1}(1 − e^{−2h}) D_i
//!   + … + σ_{t,i+1} √(1 − e^{−2h}) z`, `z ~ N(0, I)`.
//!
//! The grid follows diffusers exactly, which differs from the Euler grid of
//! [`SigmaScheduler`](crate::SigmaScheduler): `timestep_spacing` picks `n` integer timesteps
//! (`linspace`: `round(linspace(0, T−1, n+1))` reversed without its last element; `leading`:
//! multiples of `⌊T/(n+1)⌋` plus `steps_offset`; `trailing`: `round(arange(T, 0, −T/n)) − 1`),
//! the network is evaluated at those integers and `σ_i = σ(t_i)`. With `use_karras_sigmas`
//! the levels are the Karras ramp between the schedule's extreme sigmas and the network sees
//! the *rounded* timesteps of those levels (truncated for `squaredcos_cap_v2`). The last level
//! is 0 (`final_sigmas_type = "zero"`) or the smallest training sigma (`"sigma_min"`). The
//! order drops to 1 at the last step when `euler_at_final`, when the last level is 0, or when
//! `lower_order_final` and fewer than 15 steps; to 2 at the second-to-last step under the
//! latter rule; and it ramps up over the first steps. Coefficients are computed on the host
//! from the float32 levels diffusers stores.
//!
//! With `thresholding`, every `D_i` is dynamically thresholded before it enters the update and
//! the history (diffusers' `_threshold_sample`): a pixel-space model under strong
//! classifier-free guidance otherwise extrapolates overshooting `x̂₀` into the next step.

use burn::config::Config;
use burn::tensor::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::diffusers_grid::{sigma_to_t, train_sigmas};
use crate::error::{DiffusionError, Result};
use crate::flat_tensor::FlatTensor;
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, NoiseSchedule, ScheduleConfig};
use crate::scheduler::{Scheduler, StepOutput, Timestep, ensure_finite_output, ensure_same_shape};
use crate::sigma_scheduler::SigmaStep;
use crate::sigmas::{KARRAS_RHO, karras_sigmas};
use crate::threshold::SampleLimit;
use crate::timesteps::{TimestepSpacing, ensure_step_count, trailing};

/// diffusers' `algorithm_type` (the deprecated noise-prediction forms are not offered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DpmAlgorithm {
    /// The deterministic multistep solver of the data-prediction ODE. diffusers:
    /// `"dpmsolver++"`.
    #[default]
    #[serde(rename = "dpmsolver++")]
    DpmSolverPlusPlus,
    /// The stochastic (SDE) variant, which injects fresh noise every step. diffusers:
    /// `"sde-dpmsolver++"`.
    #[serde(rename = "sde-dpmsolver++")]
    SdeDpmSolverPlusPlus,
}

/// diffusers' `solver_type`: how the second-order term is formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DpmSolverType {
    /// `−½ α (e^{−h} − 1) D₁`. diffusers: `"midpoint"`.
    #[default]
    #[serde(rename = "midpoint")]
    Midpoint,
    /// `α ((e^{−h} − 1)/h + 1) D₁`. diffusers: `"heun"`.
    #[serde(rename = "heun")]
    Heun,
}

/// diffusers' `final_sigmas_type`: the noise level the last step lands on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalSigmas {
    /// `σ = 0`: the last step returns the data prediction. diffusers: `"zero"`.
    #[default]
    #[serde(rename = "zero")]
    Zero,
    /// The smallest training sigma `σ(0)`. diffusers: `"sigma_min"`.
    #[serde(rename = "sigma_min")]
    SigmaMin,
}

/// The configuration of a [`DpmSolverMultistepScheduler`], with diffusers' names and defaults.
#[derive(Config, Debug)]
pub struct DpmSolverMultistepConfig {
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
    /// The solver order, 1 to 3 (2 is diffusers' advice for guided sampling).
    #[config(default = 2)]
    pub solver_order: usize,
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// Deterministic or stochastic solver.
    #[config(default = "DpmAlgorithm::DpmSolverPlusPlus")]
    pub algorithm_type: DpmAlgorithm,
    /// Midpoint or Heun second-order term.
    #[config(default = "DpmSolverType::Midpoint")]
    pub solver_type: DpmSolverType,
    /// Lower the order over the last steps of runs shorter than 15 steps.
    #[config(default = true)]
    pub lower_order_final: bool,
    /// Take the last step with first order always.
    #[config(default = false)]
    pub euler_at_final: bool,
    /// Karras levels (`ρ = 7`) instead of `timestep_spacing`.
    #[config(default = false)]
    pub use_karras_sigmas: bool,
    /// The level of the last step.
    #[config(default = "FinalSigmas::Zero")]
    pub final_sigmas_type: FinalSigmas,
    /// How the `n` timesteps are laid out (ignored with Karras sigmas).
    #[config(default = "TimestepSpacing::Linspace")]
    pub timestep_spacing: TimestepSpacing,
    /// Added to every timestep with `leading` spacing.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// Dynamic thresholding of every data prediction `x̂₀` (diffusers' `thresholding`, for
    /// pixel-space models under strong guidance; see [`SampleLimit::DynamicThreshold`]).
    #[config(default = false)]
    pub thresholding: bool,
    /// Quantile of `|x̂₀|` used by dynamic thresholding.
    #[config(default = 0.995)]
    pub dynamic_thresholding_ratio: f64,
    /// Largest dynamic threshold.
    #[config(default = 1.0)]
    pub sample_max_value: f64,
    /// Check every model output for NaN/Inf in `step` (one scalar read back per step).
    #[config(default = true)]
    pub check_finite: bool,
}

impl DpmSolverMultistepConfig {
    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    ///
    /// # Errors
    /// `InvalidConfig` naming `solver_order` unless it is 1, 2 or 3, naming
    /// `dynamic_thresholding_ratio` or `sample_max_value` when thresholding with a ratio
    /// outside `(0, 1]` or a maximum below 1, and the schedule's errors.
    pub fn init(&self) -> Result<DpmSolverMultistepScheduler> {
        if !(1..=3).contains(&self.solver_order) {
            return Err(DiffusionError::config(
                "solver_order",
                format!("expected 1, 2 or 3, got {}", self.solver_order),
            ));
        }
        let limit = SampleLimit::from_options(
            false,
            1.0,
            self.thresholding,
            self.dynamic_thresholding_ratio,
            self.sample_max_value,
        )?;
        let schedule = ScheduleConfig::flat(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.clone(),
        )?;
        let sigmas = train_sigmas(&schedule);
        if sigmas.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(DiffusionError::config(
                "beta_schedule",
                "DPM-Solver needs 0 < alpha_cumprod < 1 at every training timestep",
            ));
        }
        Ok(DpmSolverMultistepScheduler {
            config: self.clone(),
            limit,
            schedule,
            train_sigmas: sigmas,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
            history: Vec::new(),
            lower_order_nums: 0,
            next_index: 0,
        })
    }
}

/// diffusers' `DPMSolverMultistepScheduler` (see the [module docs](self) for the update
/// rules and the grid). Multistep: it keeps the last `solver_order` data predictions.
#[derive(Clone, Debug)]
pub struct DpmSolverMultistepScheduler {
    config: DpmSolverMultistepConfig,
    limit: SampleLimit,
    schedule: NoiseSchedule,
    train_sigmas: Vec<f32>,
    timesteps: Vec<usize>,
    /// `n + 1` float32 levels, the last being the final level.
    sigmas: Vec<f64>,
    history: Vec<FlatTensor>,
    lower_order_nums: usize,
    next_index: usize,
}

/// `(α_t, σ_t, λ)` of a VE level `σ`: `α_t = 1/√(σ²+1)`, `σ_t = σ α_t`, `λ = ln α_t − ln σ_t`.
fn alpha_sigma_lambda(sigma: f64) -> (f64, f64, f64) {
    let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
    let sigma_t = sigma * alpha;
    (alpha, sigma_t, alpha.ln() - sigma_t.ln())
}

impl DpmSolverMultistepScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &DpmSolverMultistepConfig {
        &self.config
    }

    /// The noise schedule.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// The `n + 1` levels of the current run (`σ_n` is the final level), as float32 values.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The integer timesteps the network is evaluated at.
    pub fn integer_timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// Chooses `num_inference_steps` steps (see the [module docs](self)) and forgets the
    /// previous run.
    ///
    /// # Errors
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`; `TimestepOutOfRange` if
    /// `steps_offset` pushes a timestep to `T` or beyond.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        let (t_max, n) = (self.config.num_train_timesteps, num_inference_steps);
        ensure_step_count(n, t_max)?;
        let (timesteps, mut sigmas): (Vec<usize>, Vec<f64>) = if self.config.use_karras_sigmas {
            let sigma_min = f64::from(self.train_sigmas[0]);
            let sigma_max = f64::from(self.train_sigmas[t_max - 1]);
            let truncate = self.config.beta_schedule == BetaSchedule::SquaredCosCapV2;
            karras_sigmas(sigma_min, sigma_max, n, KARRAS_RHO)
                .into_iter()
                .map(|sigma| {
                    let t = sigma_to_t(sigma, &self.train_sigmas);
                    let t = if truncate { t.trunc() } else { t.round_ties_even() };
                    (t as usize, sigma)
                })
                .unzip()
        } else {
            let timesteps = self.spaced_timesteps(n);
            let sigmas = timesteps
                .iter()
                .map(|&t| {
                    self.train_sigmas.get(t).map(|&s| f64::from(s)).ok_or(
                        DiffusionError::TimestepOutOfRange {
                            timestep: t,
                            num_train_timesteps: t_max,
                        },
                    )
                })
                .collect::<Result<Vec<f64>>>()?;
            (timesteps, sigmas)
        };
        sigmas.push(match self.config.final_sigmas_type {
            FinalSigmas::Zero => 0.0,
            FinalSigmas::SigmaMin => f64::from(self.train_sigmas[0]),
        });
        self.sigmas = sigmas.into_iter().map(|s| f64::from(s as f32)).collect();
        self.timesteps = timesteps;
        self.history.clear();
        self.lower_order_nums = 0;
        self.next_index = 0;
        Ok(())
    }

    /// diffusers' DPM-Solver spacings (`n + 1` points with the last dropped for `linspace` and
    /// `leading`).
    fn spaced_timesteps(&self, n: usize) -> Vec<usize> {
        let t_max = self.config.num_train_timesteps;
        match self.config.timestep_spacing {
            TimestepSpacing::Linspace => {
                crate::diffusers_grid::linspace(0.0, (t_max - 1) as f64, n + 1)
                    .into_iter()
                    .rev()
                    .take(n)
                    .map(|t| t.round_ties_even() as usize)
                    .collect()
            }
            TimestepSpacing::Leading => {
                let ratio = t_max / (n + 1);
                (1..=n).rev().map(|i| i * ratio + self.config.steps_offset).collect()
            }
            TimestepSpacing::Trailing => trailing(t_max, n),
        }
    }

    /// The network evaluations of the current run, in order: step `i` is evaluated at the
    /// integer timestep `t_i` and moves from `σ_i` to `σ_{i+1}`.
    pub fn steps(&self) -> Vec<SigmaStep> {
        self.timesteps
            .iter()
            .enumerate()
            .map(|(interval, &t)| SigmaStep {
                interval,
                corrector: false,
                sigma: self.sigmas[interval],
                time: t as f64,
            })
            .collect()
    }

    /// The order of step `index`: `min(order, steps taken + 1)`, lowered at the end as the
    /// [module docs](self) say.
    fn order_at(&self, index: usize) -> usize {
        let n = self.timesteps.len();
        let short = self.config.lower_order_final && n < 15;
        let final_step = index + 1 == n
            && (self.config.euler_at_final
                || short
                || self.config.final_sigmas_type == FinalSigmas::Zero);
        let second_to_last = index + 2 == n && short;
        let available = self.lower_order_nums + 1;
        if final_step {
            1
        } else if second_to_last {
            self.config.solver_order.min(available).min(2)
        } else {
            self.config.solver_order.min(available)
        }
    }

    /// One solver step from `sample` at `timestep` (the next of [`Self::steps`]) given the
    /// network output there; `noise` (standard normal, the sample's shape) is required by
    /// the stochastic algorithm and ignored otherwise. Returns the sample at `σ_{i+1}` and the
    /// data prediction `D_i`.
    ///
    /// # Errors
    /// [`DiffusionError::TimestepsNotSet`], [`DiffusionError::InvalidTimesteps`] for a step
    /// out of order, [`DiffusionError::ModelOutputShape`] (also for noise of another shape),
    /// [`DiffusionError::NonFiniteModelOutput`], and `InvalidConfig` naming `noise` when the
    /// stochastic algorithm gets none.
    pub fn step<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: SigmaStep,
        sample: Tensor<D>,
        noise: Option<Tensor<D>>,
    ) -> Result<StepOutput<D>> {
        if self.timesteps.is_empty() {
            return Err(DiffusionError::TimestepsNotSet);
        }
        let index = self.next_index;
        if index >= self.timesteps.len() || timestep.interval != index {
            return Err(DiffusionError::InvalidTimesteps {
                timesteps: vec![timestep.interval],
                reason: format!(
                    "DPM-Solver is multistep: expected step {index} of {} (pass the values of \
                     `timesteps()` in order; `set_timesteps` restarts)",
                    self.timesteps.len()
                ),
            });
        }
        ensure_same_shape(&model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, self.timesteps[index])?;
        }
        let stochastic = self.config.algorithm_type == DpmAlgorithm::SdeDpmSolverPlusPlus;
        let noise = match (stochastic, noise) {
            (true, Some(noise)) => {
                ensure_same_shape(&noise, &sample)?;
                Some(noise)
            }
            (true, None) => {
                return Err(DiffusionError::config(
                    "noise",
                    "sde-dpmsolver++ draws fresh noise every step: pass a standard normal tensor",
                ));
            }
            (false, _) => None,
        };
        let order = self.order_at(index);
        let sigma = self.sigmas[index];
        let alpha_cumprod = 1.0 / (sigma * sigma + 1.0);
        let x0 = self.config.prediction_type.x0(
            model_output,
            sample.clone(),
            alpha_cumprod,
            self.timesteps[index],
        )?;
        let x0 = self.limit.apply(x0);
        let dims = sample.dims();
        let mut predictions = vec![x0.clone()];
        for memory in self.history.iter().rev().take(order - 1) {
            predictions.push(memory.restore(&dims)?);
        }
        let prev_sample = self.update(&predictions, sample, index, noise);
        self.history.push(FlatTensor::new(x0.clone()));
        let keep = self.config.solver_order.saturating_sub(1);
        if self.history.len() > keep {
            self.history.drain(..self.history.len() - keep);
        }
        if self.lower_order_nums < self.config.solver_order {
            self.lower_order_nums += 1;
        }
        self.next_index += 1;
        Ok(StepOutput { prev_sample, pred_original_sample: x0 })
    }

    /// The update of order `predictions.len()` (`predictions[k]` is `D_{i−k}`).
    fn update<const D: usize>(
        &self,
        predictions: &[Tensor<D>],
        sample: Tensor<D>,
        index: usize,
        noise: Option<Tensor<D>>,
    ) -> Tensor<D> {
        let (alpha_t, sigma_t, lambda_t) = alpha_sigma_lambda(self.sigmas[index + 1]);
        let (_, sigma_s0, lambda_s0) = alpha_sigma_lambda(self.sigmas[index]);
        let h = lambda_t - lambda_s0;
        let stochastic = noise.is_some();
        let (sample_coeff, d0_coeff) = if stochastic {
            (sigma_t / sigma_s0 * (-h).exp(), alpha_t * (1.0 - (-2.0 * h).exp()))
        } else {
            (sigma_t / sigma_s0, -alpha_t * ((-h).exp() - 1.0))
        };
        let mut x =
            sample.mul_scalar(sample_coeff).add(predictions[0].clone().mul_scalar(d0_coeff));
        match predictions.len() {
            2 => {
                let (_, _, lambda_s1) = alpha_sigma_lambda(self.sigmas[index - 1]);
                let r0 = (lambda_s0 - lambda_s1) / h;
                let d1 = predictions[0].clone().sub(predictions[1].clone()).div_scalar(r0);
                x = x.add(d1.mul_scalar(self.second_order_coeff(alpha_t, h, stochastic)));
            }
            3 => {
                let (_, _, lambda_s1) = alpha_sigma_lambda(self.sigmas[index - 1]);
                let (_, _, lambda_s2) = alpha_sigma_lambda(self.sigmas[index - 2]);
                let (r0, r1) = ((lambda_s0 - lambda_s1) / h, (lambda_s1 - lambda_s2) / h);
                let d1_0 = predictions[0].clone().sub(predictions[1].clone()).div_scalar(r0);
                let d1_1 = predictions[1].clone().sub(predictions[2].clone()).div_scalar(r1);
                let diff = d1_0.clone().sub(d1_1);
                let d1 = d1_0.add(diff.clone().mul_scalar(r0 / (r0 + r1)));
                let d2 = diff.div_scalar(r0 + r1);
                let (c1, c2) = if stochastic {
                    let e = (-2.0 * h).exp();
                    (
                        alpha_t * ((1.0 - e) / (-2.0 * h) + 1.0),
                        alpha_t * ((1.0 - e - 2.0 * h) / (2.0 * h).powi(2) - 0.5),
                    )
                } else {
                    let e = (-h).exp();
                    (alpha_t * ((e - 1.0) / h + 1.0), -alpha_t * ((e - 1.0 + h) / (h * h) - 0.5))
                };
                x = x.add(d1.mul_scalar(c1)).add(d2.mul_scalar(c2));
            }
            _ => {}
        }
        match noise {
            Some(noise) => x.add(noise.mul_scalar(sigma_t * (1.0 - (-2.0 * h).exp()).sqrt())),
            None => x,
        }
    }

    /// The coefficient of `D₁` in the second-order update.
    fn second_order_coeff(&self, alpha_t: f64, h: f64, stochastic: bool) -> f64 {
        match (stochastic, self.config.solver_type) {
            (false, DpmSolverType::Midpoint) => -0.5 * alpha_t * ((-h).exp() - 1.0),
            (false, DpmSolverType::Heun) => alpha_t * (((-h).exp() - 1.0) / h + 1.0),
            (true, DpmSolverType::Midpoint) => 0.5 * alpha_t * (1.0 - (-2.0 * h).exp()),
            (true, DpmSolverType::Heun) => alpha_t * ((1.0 - (-2.0 * h).exp()) / (-2.0 * h) + 1.0),
        }
    }
}

impl<const D: usize> Scheduler<D> for DpmSolverMultistepScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        DpmSolverMultistepScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        self.steps().into_iter().map(Timestep::Sigma).collect()
    }

    /// Draws the stochastic variant's noise from `rng` (the deterministic one draws nothing).
    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        let noise = if self.config.algorithm_type == DpmAlgorithm::SdeDpmSolverPlusPlus {
            Some(medgen_core::noise::gaussian_noise(sample.dims(), rng, &sample.device())?)
        } else {
            None
        };
        DpmSolverMultistepScheduler::step(self, model_output, timestep.sigma_step()?, sample, noise)
    }
}

//! Pseudo numerical methods for diffusion models (PNDM, Liu et al., 2022) as diffusers'
//! `PNDMScheduler`: a pseudo Runge–Kutta warm-up (PRK) followed by the pseudo linear
//! multistep method (PLMS).
//!
//! Both move along the DDIM "transfer" `φ` from timestep `t` to `t'` with a noise estimate `e`:
//!
//! `φ(x, e, t, t') = √(ᾱ_{t'}/ᾱ_t) x − (ᾱ_{t'} − ᾱ_t) e / (ᾱ_t √(1−ᾱ_{t'}) + √(ᾱ_t (1−ᾱ_t) ᾱ_{t'}))`
//!
//! (`ᾱ_{t'}` is `ᾱ_0`, or 1 with `set_alpha_to_one`, once `t' < 0`; a `v_prediction` output
//! `v` becomes `e = √ᾱ_t v + √(1−ᾱ_t) x`).
//!
//! - **PRK** (the first three intervals, `δ = ⌊T/n⌋`): four evaluations per interval at
//!   `t, t − δ/2, t − δ/2, t − δ`, combined as `e = (e₁ + 2e₂ + 2e₃ + e₄)/6`.
//! - **PLMS**: one evaluation per interval, combined with the previous three as
//!   `e = (55e₀ − 59e₋₁ + 37e₋₂ − 9e₋₃)/24` (Adams–Bashforth; lower orders while fewer
//!   outputs exist). With `skip_prk_steps` there is no warm-up: the first interval is a
//!   second-order predictor–corrector (two evaluations, at `t` and at `t − δ`).
//!
//! The run therefore evaluates the network `n + 9` times (`n + 1` with `skip_prk_steps`).
//! MONAI's `PNDMScheduler` builds the same timesteps but overwrites its step count with the
//! number of evaluations, which shortens its PRK half-steps and PLMS strides; its samples
//! therefore differ from diffusers' (the reference trajectories in `tests/fixtures` record by
//! how much). This implementation follows diffusers.

use burn::config::Config;
use burn::tensor::Tensor;
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::flat_tensor::FlatTensor;
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, NoiseSchedule, ScheduleConfig};
use crate::scheduler::{
    Scheduler, StepOutput, Timestep, discrete_timesteps, ensure_finite_output, ensure_same_shape,
};
use crate::timesteps::{InferenceTimesteps, TimestepSpacing};

/// PNDM always runs the fourth-order linear multistep method.
const PNDM_ORDER: usize = 4;

/// The configuration of a [`PndmScheduler`], with diffusers' names and defaults.
#[derive(Config, Debug)]
pub struct PndmConfig {
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
    /// What the network predicts: `epsilon` or `v_prediction`.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// Skip the Runge–Kutta warm-up (Stable Diffusion's choice).
    #[config(default = false)]
    pub skip_prk_steps: bool,
    /// Use `ᾱ = 1` rather than `ᾱ_0` beyond the last timestep.
    #[config(default = false)]
    pub set_alpha_to_one: bool,
    /// Added to every timestep with `leading` spacing.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// How the `n` timesteps are laid out.
    #[config(default = "TimestepSpacing::Leading")]
    pub timestep_spacing: TimestepSpacing,
    /// Check every model output for NaN/Inf in `step` (one scalar read back per step).
    #[config(default = true)]
    pub check_finite: bool,
}

impl PndmConfig {
    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    ///
    /// # Errors
    /// `InvalidConfig` naming `prediction_type` for `sample`, and the schedule's errors.
    pub fn init(&self) -> Result<PndmScheduler> {
        if self.prediction_type == PredictionType::Sample {
            return Err(DiffusionError::config(
                "prediction_type",
                "PNDM supports epsilon and v_prediction (as diffusers and MONAI)",
            ));
        }
        let schedule = ScheduleConfig::flat(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.clone(),
        )?;
        Ok(PndmScheduler {
            config: self.clone(),
            schedule,
            stride: 0,
            prk_len: 0,
            timesteps: Vec::new(),
            state: PndmState::default(),
        })
    }
}

/// What PNDM carries between evaluations.
#[derive(Clone, Debug, Default)]
struct PndmState {
    /// Evaluations taken in this run.
    counter: usize,
    /// The last (up to four) noise estimates that PLMS combines.
    ets: Vec<FlatTensor>,
    /// PRK: the running weighted sum of the interval's estimates.
    partial: Option<FlatTensor>,
    /// PRK: the sample at the start of the interval; PLMS (skipped PRK): the sample before
    /// the predictor.
    start: Option<FlatTensor>,
}

/// diffusers' `PNDMScheduler` (see the [module docs](self)). Deterministic.
#[derive(Clone, Debug)]
pub struct PndmScheduler {
    config: PndmConfig,
    schedule: NoiseSchedule,
    /// `⌊T/n⌋`.
    stride: usize,
    /// Number of PRK evaluations (12, or 0 with `skip_prk_steps`).
    prk_len: usize,
    timesteps: Vec<usize>,
    state: PndmState,
}

impl PndmScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &PndmConfig {
        &self.config
    }

    /// Chooses `num_inference_steps` intervals; the evaluations are the PRK timesteps
    /// followed by the PLMS ones (see the [module docs](self)).
    ///
    /// # Errors
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T` (and `n ≥ 4` with the PRK
    /// warm-up, which needs four intervals); `TimestepOutOfRange` if `steps_offset` pushes a
    /// timestep to `T` or beyond.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        let (t_max, n) = (self.config.num_train_timesteps, num_inference_steps);
        if !self.config.skip_prk_steps && n < PNDM_ORDER {
            return Err(DiffusionError::InvalidStepCount {
                requested: n,
                num_train_timesteps: t_max,
            });
        }
        let spaced = InferenceTimesteps::spaced(
            self.config.timestep_spacing,
            t_max,
            n,
            self.config.steps_offset,
        )?;
        let mut ascending = spaced.as_slice().to_vec();
        ascending.reverse();
        self.stride = t_max / n;
        let timesteps: Vec<usize> = if self.config.skip_prk_steps {
            // diffusers repeats the second-to-last timestep: [.., t₂, t₁, t₁, t₀] reversed.
            let mut plms = ascending[..n - 1].to_vec();
            plms.extend_from_slice(&ascending[n.saturating_sub(2)..n - 1]);
            plms.push(ascending[n - 1]);
            plms.reverse();
            self.prk_len = 0;
            plms
        } else {
            let half = self.stride / 2;
            // The last four timesteps, each followed by its half step, then every point but
            // the last doubled and trimmed: t, t−δ/2, t−δ/2, t−δ for three intervals.
            let mut points = Vec::new();
            for &t in &ascending[n - PNDM_ORDER..] {
                points.push(t);
                points.push(t + half);
            }
            points.pop();
            let doubled: Vec<usize> = points.iter().flat_map(|&t| [t, t]).collect();
            let mut prk: Vec<usize> = doubled[1..doubled.len() - 1].to_vec();
            prk.reverse();
            self.prk_len = prk.len();
            let mut plms: Vec<usize> = ascending[..n - 3].to_vec();
            plms.reverse();
            prk.extend(plms);
            prk
        };
        if let Some(&bad) = timesteps.iter().find(|&&t| t >= t_max) {
            return Err(DiffusionError::TimestepOutOfRange {
                timestep: bad,
                num_train_timesteps: t_max,
            });
        }
        self.timesteps = timesteps;
        self.state = PndmState::default();
        Ok(())
    }

    /// The network evaluations of the current run, in order (repeated timesteps are
    /// separate evaluations).
    pub fn integer_timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// `ᾱ_t`, or the final value for `t < 0`.
    fn alpha_cumprod(&self, t: i64) -> f64 {
        match usize::try_from(t) {
            Ok(t) => self.schedule.alphas_cumprod()[t],
            Err(_) if self.config.set_alpha_to_one => 1.0,
            Err(_) => self.schedule.alphas_cumprod()[0],
        }
    }

    /// `φ(x, e, t, t')` of the [module docs](self).
    fn transfer<const D: usize>(
        &self,
        sample: Tensor<D>,
        model_output: Tensor<D>,
        t: i64,
        t_prev: i64,
    ) -> Tensor<D> {
        let (a_t, a_prev) = (self.alpha_cumprod(t), self.alpha_cumprod(t_prev));
        let (b_t, b_prev) = (1.0 - a_t, 1.0 - a_prev);
        let estimate = match self.config.prediction_type {
            PredictionType::VPrediction => {
                model_output.mul_scalar(a_t.sqrt()).add(sample.clone().mul_scalar(b_t.sqrt()))
            }
            _ => model_output,
        };
        let denominator = a_t * b_prev.sqrt() + (a_t * b_t * a_prev).sqrt();
        sample
            .mul_scalar((a_prev / a_t).sqrt())
            .sub(estimate.mul_scalar((a_prev - a_t) / denominator))
    }

    /// One PNDM evaluation's update from `sample` at `timestep` (the next of
    /// [`Self::integer_timesteps`]) given the network output there. Intermediate PRK and
    /// predictor evaluations return the point the next evaluation is taken at.
    /// `pred_original_sample` is the DDIM estimate `(x − √(1−ᾱ_t) e)/√ᾱ_t` of the raw output.
    ///
    /// # Errors
    /// [`DiffusionError::TimestepsNotSet`], [`DiffusionError::InvalidTimesteps`] for a
    /// timestep out of order, [`DiffusionError::ModelOutputShape`] and
    /// [`DiffusionError::NonFiniteModelOutput`].
    pub fn step<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: usize,
        sample: Tensor<D>,
    ) -> Result<StepOutput<D>> {
        if self.timesteps.is_empty() {
            return Err(DiffusionError::TimestepsNotSet);
        }
        let counter = self.state.counter;
        if self.timesteps.get(counter) != Some(&timestep) {
            return Err(DiffusionError::InvalidTimesteps {
                timesteps: vec![timestep],
                reason: format!(
                    "PNDM is multistep: evaluation {counter} expects timestep {:?} (pass \
                     `timesteps()` in order; `set_timesteps` restarts)",
                    self.timesteps.get(counter)
                ),
            });
        }
        ensure_same_shape(&model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, timestep)?;
        }
        let a_t = self.schedule.alphas_cumprod()[timestep];
        let pred_original_sample =
            self.config.prediction_type.x0(model_output.clone(), sample.clone(), a_t, timestep)?;
        let prev_sample = if counter < self.prk_len {
            self.step_prk(model_output, timestep, sample)?
        } else {
            self.step_plms(model_output, timestep, sample)?
        };
        self.state.counter += 1;
        Ok(StepOutput { prev_sample, pred_original_sample })
    }

    fn step_prk<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: usize,
        sample: Tensor<D>,
    ) -> Result<Tensor<D>> {
        let counter = self.state.counter;
        let dims = sample.dims();
        let diff = if counter % 2 == 1 { 0 } else { (self.stride / 2) as i64 };
        let t_prev = timestep as i64 - diff;
        let t = self.timesteps[counter / 4 * 4] as i64;
        let estimate = match counter % 4 {
            0 => {
                self.state.partial = Some(FlatTensor::new(model_output.clone().div_scalar(6.0)));
                self.state.ets.push(FlatTensor::new(model_output.clone()));
                self.state.start = Some(FlatTensor::new(sample.clone()));
                model_output
            }
            1 | 2 => {
                let partial: Tensor<D> = self.partial(&dims)?;
                self.state.partial =
                    Some(FlatTensor::new(partial.add(model_output.clone().div_scalar(3.0))));
                model_output
            }
            _ => {
                let partial: Tensor<D> = self.partial(&dims)?;
                self.state.partial = None;
                partial.add(model_output.div_scalar(6.0))
            }
        };
        let start = match &self.state.start {
            Some(start) => start.restore(&dims)?,
            None => sample,
        };
        Ok(self.transfer(start, estimate, t, t_prev))
    }

    fn partial<const D: usize>(&self, dims: &[usize]) -> Result<Tensor<D>> {
        self.state
            .partial
            .as_ref()
            .ok_or_else(|| DiffusionError::config("timestep", "PRK stage out of order"))?
            .restore(dims)
    }

    fn step_plms<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: usize,
        sample: Tensor<D>,
    ) -> Result<Tensor<D>> {
        let dims = sample.dims();
        let counter = self.state.counter;
        let stride = self.stride as i64;
        let (mut t, mut t_prev) = (timestep as i64, timestep as i64 - stride);
        if counter == 1 {
            // The corrector of the skipped-PRK start: re-take the first interval.
            t_prev = timestep as i64;
            t = timestep as i64 + stride;
        } else {
            let keep = self.state.ets.len().saturating_sub(3);
            self.state.ets.drain(..keep);
            self.state.ets.push(FlatTensor::new(model_output.clone()));
        }
        let ets: Vec<Tensor<D>> =
            self.state.ets.iter().map(|e| e.restore(&dims)).collect::<Result<_>>()?;
        let last = |k: usize| ets[ets.len() - k].clone();
        let (estimate, from) = match (ets.len(), counter) {
            (1, 0) => {
                self.state.start = Some(FlatTensor::new(sample.clone()));
                (model_output, sample)
            }
            (1, 1) => {
                let start = self.state.start.take().ok_or_else(|| {
                    DiffusionError::config("timestep", "PLMS corrector without its predictor")
                })?;
                (model_output.add(last(1)).div_scalar(2.0), start.restore(&dims)?)
            }
            (2, _) => (last(1).mul_scalar(3.0).sub(last(2)).div_scalar(2.0), sample),
            (3, _) => (
                last(1)
                    .mul_scalar(23.0)
                    .sub(last(2).mul_scalar(16.0))
                    .add(last(3).mul_scalar(5.0))
                    .div_scalar(12.0),
                sample,
            ),
            _ => (
                last(1)
                    .mul_scalar(55.0)
                    .sub(last(2).mul_scalar(59.0))
                    .add(last(3).mul_scalar(37.0))
                    .sub(last(4).mul_scalar(9.0))
                    .div_scalar(24.0),
                sample,
            ),
        };
        Ok(self.transfer(from, estimate, t, t_prev))
    }
}

impl<const D: usize> Scheduler<D> for PndmScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        PndmScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        discrete_timesteps(&self.timesteps)
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        _rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        PndmScheduler::step(self, model_output, timestep.discrete()?, sample)
    }
}

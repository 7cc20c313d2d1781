//! Rectified flow (Liu et al., 2023) as MONAI's `RFlowScheduler`: the straight path between
//! data and noise, a velocity-predicting network, and Euler steps along it.
//!
//! With `τ = t/T ∈ [0, 1]` (MONAI's timesteps run from `T` at pure noise down to 0):
//!
//! - forward path: `x_t = (1 − τ) x₀ + τ ε`;
//! - target: the velocity `v = x₀ − ε` (MONAI's `v_prediction`; no other parametrisation);
//! - Euler step from `t` to the next timestep `t'`: `x_{t'} = x_t + v̂ (t − t')/T`, and the
//!   clean estimate `x̂₀ = x_t + v̂ t/T`.
//!
//! Inference timesteps are `t_i = (1 − i/n) T`, `i = 0 … n−1` (rounded half to even with
//! `use_discrete_timesteps`), optionally moved by the resolution-dependent shift
//!
//! `t ↦ T r τ / (1 + (r − 1) τ)`, `r = s · (numel / base_numel)^{1/spatial_dim}`,
//!
//! which spends more steps at high noise for larger images (Esser et al., 2024), then stored
//! as float16 (as MONAI does; truncated to integers when discrete) and offset by
//! `steps_offset`. MONAI converts the *next* timestep to an integer before taking the
//! difference, so continuous-time steps use `t − ⌊t'⌋`; this is reproduced.
//!
//! Training times are drawn uniformly, `t = T u`, or logit-normally, `t = T σ(μ + s z)`,
//! `z ~ N(0, 1)` (floored when discrete, shifted when the transform is on, with the sample's
//! own spatial size); [`crate::rflow_training`] turns them into a loss.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};
use half::f16;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
use crate::scheduler::{Scheduler, StepOutput, Timestep, ensure_finite_output, ensure_same_shape};
use crate::sigma_scheduler::SigmaStep;
use crate::timesteps::ensure_step_count;

/// How training times are drawn (MONAI's `sample_method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeSampling {
    /// `t = T u`, `u ~ U[0, 1)`. MONAI: `"uniform"`.
    #[default]
    #[serde(rename = "uniform")]
    Uniform,
    /// `t = T σ(μ + s z)`, `z ~ N(0, 1)` with `μ = loc`, `s = scale`. MONAI: `"logit-normal"`.
    #[serde(rename = "logit-normal")]
    LogitNormal,
}

/// The configuration of an [`RFlowScheduler`], with MONAI's names and defaults.
#[derive(Config, Debug)]
pub struct RFlowConfig {
    /// Number of training timesteps `T` (the time scale the network sees).
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    /// Integer timesteps (training and inference).
    #[config(default = true)]
    pub use_discrete_timesteps: bool,
    /// How training times are drawn.
    #[config(default = "TimeSampling::Uniform")]
    pub sample_method: TimeSampling,
    /// Logit-normal location `μ`.
    #[config(default = 0.0)]
    pub loc: f64,
    /// Logit-normal scale `s`.
    #[config(default = 1.0)]
    pub scale: f64,
    /// Apply the resolution-dependent timestep shift.
    #[config(default = false)]
    pub use_timestep_transform: bool,
    /// The shift's extra factor `s`.
    #[config(default = 1.0)]
    pub transform_scale: f64,
    /// Added to every inference timestep.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// The reference number of voxels (or pixels) of the shift.
    #[config(default = 32768)]
    pub base_img_size_numel: usize,
    /// Spatial rank (2 or 3) of the shift at inference.
    #[config(default = 3)]
    pub spatial_dim: usize,
    /// The number of voxels of the images to sample, needed by the shift at inference when
    /// timesteps are set through the [`Scheduler`] trait.
    pub input_img_size_numel: Option<usize>,
    /// What the network predicts: only `v_prediction` (the velocity `x₀ − ε`) is defined.
    #[config(default = "PredictionType::VPrediction")]
    pub prediction_type: PredictionType,
    /// Check every model output for NaN/Inf in `step` (one scalar read back per step).
    #[config(default = true)]
    pub check_finite: bool,
}

impl RFlowConfig {
    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    ///
    /// # Errors
    /// `InvalidConfig` naming `prediction_type` unless it is `v_prediction`, `scale` unless
    /// positive and finite, `spatial_dim` unless 2 or 3, `base_img_size_numel`,
    /// `transform_scale` or `num_train_timesteps` unless positive.
    pub fn init(&self) -> Result<RFlowScheduler> {
        if self.prediction_type != PredictionType::VPrediction {
            return Err(DiffusionError::config(
                "prediction_type",
                format!(
                    "rectified flow trains the velocity x0 - eps (v_prediction); {:?} is not \
                     supported",
                    self.prediction_type
                ),
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.loc.is_finite()) {
            return Err(DiffusionError::config("scale", "expected finite loc and scale > 0"));
        }
        if !(2..=3).contains(&self.spatial_dim) {
            return Err(DiffusionError::config("spatial_dim", "expected 2 or 3"));
        }
        if self.base_img_size_numel == 0 {
            return Err(DiffusionError::config("base_img_size_numel", "expected at least 1"));
        }
        if !(self.transform_scale.is_finite() && self.transform_scale > 0.0) {
            return Err(DiffusionError::config("transform_scale", "expected a finite value > 0"));
        }
        if self.num_train_timesteps == 0 {
            return Err(DiffusionError::config("num_train_timesteps", "expected at least 1"));
        }
        Ok(RFlowScheduler { config: self.clone(), times: Vec::new() })
    }
}

/// The resolution-dependent shift of the [module docs](self) (MONAI's `timestep_transform`):
/// `T r τ / (1 + (r − 1) τ)` with `τ = t/T`, `r = scale · (numel/base_numel)^{1/spatial_dim}`.
pub fn timestep_transform(
    t: f64,
    input_img_size_numel: usize,
    base_img_size_numel: usize,
    scale: f64,
    num_train_timesteps: usize,
    spatial_dim: usize,
) -> f64 {
    let tau = t / num_train_timesteps as f64;
    let ratio = (input_img_size_numel as f64 / base_img_size_numel as f64)
        .powf(1.0 / spatial_dim as f64)
        * scale;
    ratio * tau / (1.0 + (ratio - 1.0) * tau) * num_train_timesteps as f64
}

/// MONAI's `RFlowScheduler` (see the [module docs](self)). Deterministic.
#[derive(Clone, Debug)]
pub struct RFlowScheduler {
    config: RFlowConfig,
    times: Vec<f64>,
}

impl RFlowScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &RFlowConfig {
        &self.config
    }

    /// The inference timesteps of the current run (in `[0, T]` plus the offset).
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Chooses `num_inference_steps` timesteps for images of `input_img_size_numel` voxels
    /// (used only by the shift).
    ///
    /// # Errors
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`; `InvalidConfig` naming
    /// `input_img_size_numel` when the shift is on and the size is missing or zero.
    pub fn set_timesteps_for_size(
        &mut self,
        num_inference_steps: usize,
        input_img_size_numel: Option<usize>,
    ) -> Result<()> {
        let (t_max, n) = (self.config.num_train_timesteps, num_inference_steps);
        ensure_step_count(n, t_max)?;
        let numel = match (self.config.use_timestep_transform, input_img_size_numel) {
            (true, Some(numel)) if numel > 0 => Some(numel),
            (true, _) => {
                return Err(DiffusionError::config(
                    "input_img_size_numel",
                    "the timestep transform needs the number of voxels of the images (> 0)",
                ));
            }
            (false, _) => None,
        };
        let discrete = self.config.use_discrete_timesteps;
        let offset = self.config.steps_offset as f64;
        self.times = (0..n)
            .map(|i| {
                let mut t = (1.0 - i as f64 / n as f64) * t_max as f64;
                if discrete {
                    t = t.round_ties_even();
                }
                if let Some(numel) = numel {
                    t = timestep_transform(
                        t,
                        numel,
                        self.config.base_img_size_numel,
                        self.config.transform_scale,
                        t_max,
                        self.config.spatial_dim,
                    );
                }
                let half = f16::from_f64(t).to_f64();
                if discrete { half.trunc() + offset } else { f16::from_f64(half + offset).to_f64() }
            })
            .collect();
        Ok(())
    }

    /// The network evaluations of the current run: `sigma` holds `τ = t/T`, `time` holds `t`.
    pub fn steps(&self) -> Vec<SigmaStep> {
        let t_max = self.config.num_train_timesteps as f64;
        self.times
            .iter()
            .enumerate()
            .map(|(interval, &time)| SigmaStep {
                interval,
                corrector: false,
                sigma: time / t_max,
                time,
            })
            .collect()
    }

    /// One Euler step from `sample` at `timestep` (one of [`Self::steps`]) with the predicted
    /// velocity `model_output`, to the next timestep (0 after the last).
    ///
    /// # Errors
    /// [`DiffusionError::TimestepsNotSet`], [`DiffusionError::InvalidTimesteps`] for a step
    /// off the grid, [`DiffusionError::ModelOutputShape`] and
    /// [`DiffusionError::NonFiniteModelOutput`].
    pub fn step<const D: usize>(
        &self,
        model_output: Tensor<D>,
        timestep: SigmaStep,
        sample: Tensor<D>,
    ) -> Result<StepOutput<D>> {
        if self.times.is_empty() {
            return Err(DiffusionError::TimestepsNotSet);
        }
        let i = timestep.interval;
        if self.times.get(i) != Some(&timestep.time) {
            return Err(DiffusionError::InvalidTimesteps {
                timesteps: vec![i],
                reason: "not a step of this run: pass the values of `timesteps()`".into(),
            });
        }
        ensure_same_shape(&model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, timestep.time as usize)?;
        }
        let t_max = self.config.num_train_timesteps as f64;
        let t = timestep.time;
        let next = self.times.get(i + 1).map_or(0.0, |next| next.trunc());
        let dt = if self.config.use_discrete_timesteps {
            t - next
        } else {
            f16::from_f64(t - next).to_f64()
        };
        let prev_sample = sample.clone().add(model_output.clone().mul_scalar(dt / t_max));
        let pred_original_sample = sample.add(model_output.mul_scalar(t / t_max));
        Ok(StepOutput { prev_sample, pred_original_sample })
    }

    /// `batch` training times for samples of spatial shape `spatial` (see the
    /// [module docs](self)), drawn from `rng`.
    pub fn sample_timesteps<R: Rng + ?Sized>(
        &self,
        batch: usize,
        spatial: &[usize],
        rng: &mut R,
    ) -> Vec<f64> {
        let t_max = self.config.num_train_timesteps as f64;
        let numel: usize = spatial.iter().product();
        (0..batch)
            .map(|_| {
                let unit = match self.config.sample_method {
                    TimeSampling::Uniform => rng.random::<f64>(),
                    TimeSampling::LogitNormal => {
                        let z: f64 = StandardNormal.sample(rng);
                        1.0 / (1.0 + (-(self.config.loc + self.config.scale * z)).exp())
                    }
                };
                let mut t = unit * t_max;
                if self.config.use_discrete_timesteps {
                    t = t.floor();
                }
                if self.config.use_timestep_transform {
                    t = timestep_transform(
                        t,
                        numel,
                        self.config.base_img_size_numel,
                        self.config.transform_scale,
                        self.config.num_train_timesteps,
                        spatial.len(),
                    );
                }
                t
            })
            .collect()
    }

    /// `x_t = (1 − τ) x₀ + τ ε` with `τ_n = t_n/T` per item (`[N, C, ...]`, one time per item).
    ///
    /// # Errors
    /// `ShapeMismatch` naming `noise` or `timesteps`.
    pub fn add_noise<const D: usize>(
        &self,
        x0: Tensor<D>,
        noise: Tensor<D>,
        timesteps: &[f64],
    ) -> Result<Tensor<D>> {
        let dims = x0.dims();
        medgen_core::check::ensure_shape(&noise.dims(), &dims, "noise")?;
        medgen_core::check::ensure_shape(&[timesteps.len()], &[dims[0]], "timesteps")?;
        let t_max = self.config.num_train_timesteps as f64;
        let taus: Vec<f32> = timesteps.iter().map(|&t| (t / t_max) as f32).collect();
        let mut shape = [1usize; D];
        shape[0] = dims[0];
        let tau =
            Tensor::<1>::from_data(TensorData::new(taus, [dims[0]]), &x0.device()).reshape(shape);
        Ok(x0.mul(tau.clone().neg().add_scalar(1.0)).add(noise.mul(tau)))
    }

    /// The regression target `v = x₀ − ε`.
    pub fn velocity<const D: usize>(x0: Tensor<D>, noise: Tensor<D>) -> Tensor<D> {
        x0.sub(noise)
    }
}

impl<const D: usize> Scheduler<D> for RFlowScheduler {
    /// Uses the configured `input_img_size_numel` for the shift.
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        let numel = self.config.input_img_size_numel;
        self.set_timesteps_for_size(num_inference_steps, numel)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        self.steps().into_iter().map(Timestep::Sigma).collect()
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        _rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        RFlowScheduler::step(self, model_output, timestep.sigma_step()?, sample)
    }
}

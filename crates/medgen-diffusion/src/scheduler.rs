//! The shape every reverse-process scheduler shares, after diffusers: choose the inference
//! timesteps with `set_timesteps`, then call `step` once per timestep with the network's output.

use burn::tensor::Tensor;
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::sigma_scheduler::SigmaStep;

/// What one scheduler step returns (diffusers' `SchedulerOutput`).
#[derive(Clone, Debug)]
pub struct StepOutput<const D: usize> {
    /// The sample at the next (less noisy) timestep, `x_{t−1}`, shaped like the input sample.
    pub prev_sample: Tensor<D>,
    /// The predicted clean sample `x̂₀` (after clipping or thresholding), shaped like the
    /// input sample.
    pub pred_original_sample: Tensor<D>,
}

/// A timestep a [`Scheduler`] visits: one network evaluation each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timestep {
    /// An integer training timestep `t ∈ 0..T` (DDPM, DDIM, DDIM inversion).
    Discrete(usize),
    /// A point of a sigma grid (Euler, Heun, DPM-Solver++ 2M).
    Sigma(SigmaStep),
}

impl Timestep {
    /// The time the network is conditioned on: `t` for an integer timestep, the fractional
    /// timestep of `σ` for a sigma-grid step.
    pub fn model_time(self) -> f64 {
        match self {
            Self::Discrete(t) => t as f64,
            Self::Sigma(step) => step.time,
        }
    }

    /// The integer timestep, or an `InvalidConfig` error naming `timestep` for a sigma-grid
    /// step (given to a scheduler over integer timesteps).
    pub fn discrete(self) -> Result<usize> {
        match self {
            Self::Discrete(t) => Ok(t),
            Self::Sigma(_) => Err(DiffusionError::config(
                "timestep",
                "an integer timestep was expected, got a sigma-grid step",
            )),
        }
    }

    /// The sigma-grid step, or an `InvalidConfig` error naming `timestep` for an integer
    /// timestep (given to a sigma-grid scheduler).
    pub fn sigma_step(self) -> Result<SigmaStep> {
        match self {
            Self::Sigma(step) => Ok(step),
            Self::Discrete(_) => Err(DiffusionError::config(
                "timestep",
                "a sigma-grid step was expected, got an integer timestep",
            )),
        }
    }
}

impl From<usize> for Timestep {
    fn from(t: usize) -> Self {
        Self::Discrete(t)
    }
}

impl From<SigmaStep> for Timestep {
    fn from(step: SigmaStep) -> Self {
        Self::Sigma(step)
    }
}

/// A reverse-process scheduler that the generic sampling loop ([`crate::sampling`]) drives,
/// for samples of rank `D` (`4` for images `[N, C, H, W]`, `5` for volumes).
///
/// The loop calls, for each of [`Scheduler::timesteps`] in order: the network at
/// ([`Scheduler::scale_model_input`] of the sample, [`Scheduler::model_time`] of the timestep),
/// then [`Scheduler::step`] with its output. The number of timesteps is the number of network
/// evaluations. Multistep and multi-stage solvers keep state between steps (hence `&mut self`)
/// and start afresh at their first timestep.
///
/// The trait is object-safe: [`SchedulerConfig::build`](crate::SchedulerConfig::build) returns
/// a `Box<dyn Scheduler<D>>`, so a program picks its sampler by name at run time.
pub trait Scheduler<const D: usize> {
    /// Chooses `num_inference_steps` steps; fails with [`DiffusionError::InvalidStepCount`]
    /// unless `1 ≤ num_inference_steps ≤ T`.
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;

    /// The timesteps to visit, in order, one network evaluation each (empty before
    /// `set_timesteps` for schedulers that need it).
    fn timesteps(&self) -> Vec<Timestep>;

    /// The time the network is conditioned on at `timestep` (diffusion timesteps, possibly
    /// fractional): [`Timestep::model_time`].
    fn model_time(&self, timestep: Timestep) -> f64 {
        timestep.model_time()
    }

    /// The network input for `sample` at `timestep` (identity for DDPM and DDIM; `x / √(σ²+1)`
    /// for samplers whose sample lives at scale `x₀ + σ ε`).
    fn scale_model_input(&self, sample: Tensor<D>, _timestep: Timestep) -> Tensor<D> {
        sample
    }

    /// One step from `sample` at `timestep` given the network output `model_output`
    /// (shapes `[N, C, ...]`), drawing any noise from `rng`.
    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>>;

    /// The standard deviation of the initial noise `x_T ~ N(0, σ² I)` the caller draws
    /// (1 for DDPM and DDIM).
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }
}

/// Fails with [`DiffusionError::ModelOutputShape`] unless the model output has the sample's
/// shape, and with an `Empty` error for an empty sample.
pub(crate) fn ensure_same_shape<const D: usize>(
    model_output: &Tensor<D>,
    sample: &Tensor<D>,
) -> Result<()> {
    let (got, expected) = (model_output.dims(), sample.dims());
    medgen_core::check::ensure_non_empty(&expected, "sample")?;
    if got == expected {
        Ok(())
    } else {
        Err(DiffusionError::ModelOutputShape {
            sample: expected.to_vec(),
            got: got.to_vec(),
            hint: String::new(),
        })
    }
}

/// Fails with [`DiffusionError::NonFiniteModelOutput`] if `model_output` holds NaN or ±Inf.
/// Reads one scalar back from the device (a synchronisation, not a copy of the tensor).
pub(crate) fn ensure_finite_output<const D: usize>(
    model_output: &Tensor<D>,
    timestep: usize,
) -> Result<()> {
    medgen_core::check::ensure_finite(model_output, "model output")
        .map_err(|_| DiffusionError::NonFiniteModelOutput { timestep })
}

/// Integer timesteps as [`Timestep::Discrete`] values.
pub(crate) fn discrete_timesteps(timesteps: &[usize]) -> Vec<Timestep> {
    timesteps.iter().map(|&t| Timestep::Discrete(t)).collect()
}

//! The shape every reverse-process scheduler shares, after diffusers: choose the inference
//! timesteps with `set_timesteps`, then call `step` once per timestep with the network's output.

use burn::tensor::Tensor;
use rand::Rng;

use crate::error::{DiffusionError, Result};

/// What one scheduler step returns (diffusers' `SchedulerOutput`).
#[derive(Clone, Debug)]
pub struct StepOutput<const D: usize> {
    /// The sample at the next (less noisy) timestep, `x_{t−1}`, shaped like the input sample.
    pub prev_sample: Tensor<D>,
    /// The predicted clean sample `x̂₀` (after clipping or thresholding), shaped like the
    /// input sample.
    pub pred_original_sample: Tensor<D>,
}

/// A reverse-process scheduler that the generic sampling loop ([`crate::sampling`]) drives.
///
/// The loop calls, for each of [`Scheduler::timesteps`] in order: the network at
/// ([`Scheduler::scale_model_input`] of the sample, [`Scheduler::model_time`] of the timestep),
/// then [`Scheduler::step`] with its output. The number of timesteps is the number of network
/// evaluations. Multistep and multi-stage solvers keep state between steps (hence `&mut self`)
/// and start afresh at their first timestep.
pub trait Scheduler {
    /// What identifies a timestep: an integer in `0..T` for DDPM and DDIM, a
    /// [`SigmaStep`](crate::sigma_scheduler::SigmaStep) for the samplers on a sigma grid.
    type Timestep: Copy + std::fmt::Debug;

    /// Chooses `num_inference_steps` steps; fails with [`DiffusionError::InvalidStepCount`]
    /// unless `1 ≤ num_inference_steps ≤ T`.
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;

    /// The timesteps to visit, in order, one network evaluation each (empty before
    /// `set_timesteps` for schedulers that need it).
    fn timesteps(&self) -> &[Self::Timestep];

    /// The time the network is conditioned on at `timestep` (diffusion timesteps, possibly
    /// fractional).
    fn model_time(&self, timestep: Self::Timestep) -> f64;

    /// The network input for `sample` at `timestep` (identity for DDPM and DDIM; `x / √(σ²+1)`
    /// for samplers whose sample lives at scale `x₀ + σ ε`).
    fn scale_model_input<const D: usize>(
        &self,
        sample: Tensor<D>,
        _timestep: Self::Timestep,
    ) -> Tensor<D> {
        sample
    }

    /// One step from `sample` at `timestep` given the network output `model_output`
    /// (shapes `[N, C, ...]`, any rank), drawing any noise from `rng`.
    fn step<const D: usize, R: Rng + ?Sized>(
        &mut self,
        model_output: Tensor<D>,
        timestep: Self::Timestep,
        sample: Tensor<D>,
        rng: &mut R,
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

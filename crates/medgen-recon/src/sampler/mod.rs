//! Reconstruction samplers: a trained diffusion prior, a measurement operator and a
//! measurement in, an image consistent with both out.
//!
//! - [`diffusion`]: DDPM or DDIM with data consistency on `x̂₀` at every step;
//! - [`score`]: the score-SDE predictor–corrector sampler with data consistency after every
//!   predictor and corrector step (Chung & Ye, 2022; Song et al., 2022);
//! - [`posterior`]: diffusion posterior sampling (DPS, Chung et al., 2023), a gradient step on
//!   `‖y − A x̂₀(x_t)‖` through the network by autodiff;
//! - [`ensemble`]: several reconstructions of one measurement, their mean and pixelwise
//!   variance.
//!
//! All implement [`Reconstruct`], so programs choose the sampler at run time.

pub mod diffusion;
pub mod ensemble;
pub mod posterior;
pub mod score;

use burn::tensor::{Tensor, TensorData};
use medgen_core::TimeConditionedNetwork;
use medgen_core::noise::gaussian_noise;
use medgen_diffusion::{PredictionType, SchedulerConfig};
use rand::Rng;

use crate::error::{ReconError, Result};
use crate::operator::{MeasurementOperator, check_measurement};

/// What a reconstruction returns.
#[derive(Clone, Debug)]
pub struct ReconstructionOutput<const D: usize> {
    /// The reconstructed images `[N, C, *S]`.
    pub image: Tensor<D>,
    /// The number of network evaluations.
    pub nfe: usize,
}

/// A reconstruction sampler, object-safe.
pub trait Reconstruct<const D: usize> {
    /// A short name for tables ("DDIM + DC", "score PC + DC", "DPS").
    fn name(&self) -> String;

    /// Reconstructs images `[N, *image_shape]` from the measurement `y`
    /// (`[N, *measurement_shape]` of `operator`) with the prior `network` (an ε-, v- or
    /// x₀-prediction network of the diffusion timesteps), drawing every random number from
    /// `rng`.
    ///
    /// # Errors
    /// Invalid settings, a measurement of the wrong shape or with NaN, and the network's and
    /// scheduler's errors.
    fn reconstruct(
        &self,
        network: &dyn TimeConditionedNetwork<D>,
        operator: &dyn MeasurementOperator<D>,
        y: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<ReconstructionOutput<D>>;
}

/// Checks `y` and draws the initial noise `x_T ~ N(0, σ² I)` shaped like the images.
pub(crate) fn initial_noise<const D: usize>(
    operator: &dyn MeasurementOperator<D>,
    y: &Tensor<D>,
    sigma: f64,
    rng: &mut dyn Rng,
) -> Result<Tensor<D>> {
    check_measurement(operator, y)?;
    let mut shape = [0usize; D];
    shape[0] = y.dims()[0];
    for (slot, value) in shape[1..].iter_mut().zip(operator.image_shape()) {
        *slot = value;
    }
    Ok(gaussian_noise(shape, rng, &y.device())?.mul_scalar(sigma))
}

/// A `[N]` tensor of the time `t` on the device of `like`.
pub(crate) fn time_tensor<const D: usize>(like: &Tensor<D>, t: f64) -> Tensor<1> {
    let batch = like.dims()[0];
    Tensor::from_data(TensorData::new(vec![t as f32; batch], [batch]), &like.device())
}

/// The schedule and prediction type of an integer-timestep scheduler (DDPM or DDIM).
pub(crate) fn discrete_schedule(
    scheduler: &SchedulerConfig,
) -> Result<(medgen_diffusion::NoiseSchedule, PredictionType)> {
    match scheduler {
        SchedulerConfig::Ddpm(c) => Ok((c.schedule_config().init()?, c.prediction_type)),
        SchedulerConfig::Ddim(c) => Ok((c.schedule_config().init()?, c.prediction_type)),
        other => Err(ReconError::config(
            "scheduler",
            format!(
                "reconstruction corrects x̂₀ at integer timesteps: use ddpm or ddim, not {other}"
            ),
        )),
    }
}

/// The network output of `prediction` that implies the clean estimate `x0` at `x_t`
/// (`ᾱ_t = alpha`): `ε = (x_t − √ᾱ x₀)/√(1−ᾱ)`, `v = √ᾱ ε − √(1−ᾱ) x₀`, or `x₀`.
pub(crate) fn output_for_x0<const D: usize>(
    prediction: PredictionType,
    x_t: Tensor<D>,
    x0: Tensor<D>,
    alpha: f64,
) -> Tensor<D> {
    match prediction {
        PredictionType::Sample => x0,
        PredictionType::Epsilon => medgen_diffusion::prediction::epsilon_from_x0(x_t, x0, alpha),
        PredictionType::VPrediction => {
            let epsilon = medgen_diffusion::prediction::epsilon_from_x0(x_t, x0.clone(), alpha);
            medgen_diffusion::prediction::velocity(x0, epsilon, alpha)
        }
    }
}

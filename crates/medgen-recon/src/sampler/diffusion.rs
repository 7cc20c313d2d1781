//! DDPM and DDIM with data consistency on the clean estimate.

use burn::tensor::Tensor;
use medgen_core::{Condition, TimeConditionedNetwork};
use medgen_diffusion::SchedulerConfig;
use rand::Rng;

use crate::consistency::DataConsistency;
use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;
use crate::sampler::{
    Reconstruct, ReconstructionOutput, discrete_schedule, initial_noise, output_for_x0, time_tensor,
};

/// DDPM or DDIM sampling with a data-consistency step on `x̂₀` at every timestep (the
/// decomposed form of Chung et al.'s DDS and Wang et al.'s DDNM):
///
/// for each timestep `t`: `x̂₀ = x̂₀(f_θ(x_t, t), x_t)`, `x̂₀' = DC(x̂₀; y)` (hard or soft,
/// [`DataConsistency`], with error variance `ρ_t² = (1−ᾱ_t)/ᾱ_t`), and the scheduler's step
/// from `x_t` with the network output re-expressed for `x̂₀'` (so DDPM adds its ancestral
/// noise and DDIM its `η`-noise around the corrected estimate). A last `DC` of the final
/// sample leaves measured data exactly consistent (for k-space with hard consistency: every
/// sampled line equals the measurement).
#[derive(Clone, Debug)]
pub struct DiffusionReconstruction {
    /// The scheduler (DDPM or DDIM) and its schedule: the network's training schedule.
    pub scheduler: SchedulerConfig,
    /// The number of inference steps (network evaluations).
    pub steps: usize,
    /// The data-consistency step.
    pub consistency: DataConsistency,
}

impl DiffusionReconstruction {
    /// `scheduler` with `steps` steps and hard data consistency.
    pub fn new(scheduler: SchedulerConfig, steps: usize) -> Self {
        Self { scheduler, steps, consistency: DataConsistency::hard() }
    }

    /// The same sampler with another data-consistency step.
    pub fn with_consistency(mut self, consistency: DataConsistency) -> Self {
        self.consistency = consistency;
        self
    }
}

impl<const D: usize> Reconstruct<D> for DiffusionReconstruction {
    fn name(&self) -> String {
        format!("{} + DC", self.scheduler.name().to_uppercase())
    }

    fn reconstruct(
        &self,
        network: &dyn TimeConditionedNetwork<D>,
        operator: &dyn MeasurementOperator<D>,
        y: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<ReconstructionOutput<D>> {
        self.consistency.validate()?;
        let (schedule, prediction) = discrete_schedule(&self.scheduler)?;
        let mut scheduler = self.scheduler.build::<D>(self.steps)?;
        let mut x = initial_noise(operator, &y, scheduler.init_noise_sigma(), rng)?;
        let mut nfe = 0;
        let mut last_variance = 0.0;
        for timestep in scheduler.timesteps() {
            let t = timestep.discrete()?;
            let alpha = schedule.alpha_cumprod(t)?;
            let output = network
                .evaluate(x.clone(), time_tensor(&x, timestep.model_time()), &Condition::none())
                .map_err(ReconError::Core)?;
            nfe += 1;
            let x0 = prediction.x0(output, x.clone(), alpha, t)?;
            last_variance = (1.0 - alpha) / alpha;
            let x0 = self.consistency.apply(operator, x0, &y, last_variance)?;
            let output = output_for_x0(prediction, x.clone(), x0, alpha);
            x = scheduler.step(output, timestep, x, rng)?.prev_sample;
        }
        let image = self.consistency.apply(operator, x, &y, last_variance)?;
        medgen_core::check::ensure_finite(&image, "reconstruction")?;
        Ok(ReconstructionOutput { image, nfe })
    }
}

//! Diffusion posterior sampling (DPS).

use burn::tensor::Tensor;
use medgen_core::{Condition, TimeConditionedNetwork};
use medgen_diffusion::SchedulerConfig;
use rand::Rng;

use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;
use crate::sampler::{
    Reconstruct, ReconstructionOutput, discrete_schedule, initial_noise, time_tensor,
};

/// Diffusion posterior sampling (Chung et al., 2023, Algorithm 1), for measurements with
/// noise and for operators without a cheap projection:
///
/// `x_{t−1} = step(x_t, f_θ(x_t, t)) − (ζ'/‖A‖) ∇_{x_t} ‖y − A x̂₀(x_t)‖`,
///
/// the gradient taken through the network by autodiff, per batch item (each item's own
/// residual norm). `step` is the DDPM (ancestral) or DDIM update. The paper's step
/// `ζ_t = ζ'/‖y − A x̂₀‖` on the squared norm equals `ζ'` times the gradient of the norm
/// itself; dividing by the operator norm `‖A‖` (1 for k-space) makes `ζ'` independent of the
/// operator's scale, since `‖∇_{x̂₀} ‖y − A x̂₀‖‖ ≤ ‖A‖`.
///
/// The sample is moved onto the autodiff graph for each gradient (`x_t.autodiff()`), so any
/// network made of Burn tensor operations works, with its parameters on the plain or the
/// autodiff device (plain parameters enter the graph as constants); between steps the sample
/// is kept off the graph.
#[derive(Clone, Debug)]
pub struct PosteriorSampling {
    /// The scheduler (DDPM or DDIM) and its schedule: the network's training schedule.
    pub scheduler: SchedulerConfig,
    /// The number of inference steps (network evaluations, each with a backward pass).
    pub steps: usize,
    /// The step size `ζ' > 0` (Chung et al.: 1.0 for most linear problems on 256² images).
    pub step_size: f64,
}

impl PosteriorSampling {
    /// DPS with `scheduler`, `steps` steps and step size `ζ' = step_size`.
    pub fn new(scheduler: SchedulerConfig, steps: usize, step_size: f64) -> Self {
        Self { scheduler, steps, step_size }
    }
}

impl<const D: usize> Reconstruct<D> for PosteriorSampling {
    fn name(&self) -> String {
        format!("DPS ({})", self.scheduler.name().to_uppercase())
    }

    fn reconstruct(
        &self,
        network: &dyn TimeConditionedNetwork<D>,
        operator: &dyn MeasurementOperator<D>,
        y: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<ReconstructionOutput<D>> {
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(ReconError::config(
                "step_size",
                format!("must be positive and finite, got {}", self.step_size),
            ));
        }
        let (schedule, prediction) = discrete_schedule(&self.scheduler)?;
        let mut scheduler = self.scheduler.build::<D>(self.steps)?;
        let mut x = initial_noise(operator, &y, scheduler.init_noise_sigma(), rng)?;
        let y_graph = y.clone().autodiff();
        let batch = y.dims()[0];
        let step_size = self.step_size / operator.norm_squared().sqrt();
        let mut nfe = 0;
        for timestep in scheduler.timesteps() {
            let t = timestep.discrete()?;
            let alpha = schedule.alpha_cumprod(t)?;
            let x_in = x.clone().detach().autodiff().require_grad();
            let time = time_tensor(&x_in, timestep.model_time());
            let output = network
                .evaluate(x_in.clone(), time, &Condition::none())
                .map_err(ReconError::Core)?;
            nfe += 1;
            let x0 = prediction.x0(output.clone(), x_in.clone(), alpha, t)?;
            let residual = operator.forward(x0)?.sub(y_graph.clone());
            // `√(‖r‖² + 10⁻²⁰)`: the norm's gradient `r/‖r‖` without 0/0 at an exact fit.
            let norms = residual
                .reshape([batch as i32, -1])
                .powi_scalar(2)
                .sum_dim(1)
                .add_scalar(1e-20)
                .sqrt();
            let grads = norms.sum().backward();
            let gradient = x_in.grad(&grads).ok_or_else(|| ReconError::Gradient {
                reason: "the backward pass gave no gradient for the sample: is the network \
                         on an autodiff device?"
                    .into(),
            })?;
            let output = output.detach().without_autodiff();
            let step = scheduler.step(output, timestep, x, rng)?;
            x = step.prev_sample.sub(gradient.without_autodiff().mul_scalar(step_size));
        }
        medgen_core::check::ensure_finite(&x, "reconstruction")?;
        Ok(ReconstructionOutput { image: x, nfe })
    }
}

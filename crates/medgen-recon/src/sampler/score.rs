//! The score-SDE predictor–corrector sampler with data consistency.

use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, TimeConditionedNetwork};
use medgen_diffusion::SdeSamplerConfig;
use rand::Rng;

use crate::consistency::DataConsistency;
use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;
use crate::sampler::{Reconstruct, ReconstructionOutput, initial_noise, time_tensor};

/// Predictor–corrector sampling of a VP or VE score SDE ([`SdeSamplerConfig`]) with a
/// data-consistency step after every predictor and every corrector update (Chung & Ye's
/// score-based MRI; Song et al.'s measurement-conditioned sampling):
///
/// - the measurement is diffused to the current time,
///   `y_t = m(t) y + s(t) A z`, `z ~ N(0, I)` (`m`, `s` the SDE's marginal mean and standard
///   deviation), so that it matches the noise level of `x_t`;
/// - `x_t ← DC(x_t; y_t)` ([`DataConsistency`], error variance `s(t)²/m(t)²`);
/// - the predictor is reverse-time Euler–Maruyama, the corrector Langevin dynamics
///   (`x ← x + δ s_θ + √(2δ) z`), both with the score `s_θ = −ε̂/s(t)` of the ε-network,
///   exactly as [`medgen_diffusion::sample_sde`].
///
/// The result is the noise-free mean of the last predictor step with a final `DC(·; y)`.
#[derive(Clone, Debug)]
pub struct ScoreReconstruction {
    /// The SDE, the step count, the corrector and the network's time scale.
    pub sampler: SdeSamplerConfig,
    /// The data-consistency step.
    pub consistency: DataConsistency,
}

impl ScoreReconstruction {
    /// The sampler with hard data consistency.
    pub fn new(sampler: SdeSamplerConfig) -> Self {
        Self { sampler, consistency: DataConsistency::hard() }
    }

    /// The same sampler with another data-consistency step.
    pub fn with_consistency(mut self, consistency: DataConsistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// `(score, x̂₀)` at `x`, time `t`.
    fn score<const D: usize>(
        &self,
        network: &dyn TimeConditionedNetwork<D>,
        x: Tensor<D>,
        t: f64,
    ) -> Result<Tensor<D>> {
        let time = time_tensor(&x, t * self.sampler.network_time_scale);
        let epsilon = network.evaluate(x, time, &Condition::none()).map_err(ReconError::Core)?;
        let (_, std) = self.sampler.sde.marginal(t);
        Ok(epsilon.div_scalar(-std))
    }

    /// `DC(x; y_t)` with the measurement diffused to time `t`.
    fn consistent<const D: usize>(
        &self,
        operator: &dyn MeasurementOperator<D>,
        x: Tensor<D>,
        y: &Tensor<D>,
        t: f64,
        rng: &mut dyn Rng,
    ) -> Result<Tensor<D>> {
        let (mean, std) = self.sampler.sde.marginal(t);
        let noise = operator.forward(gaussian_like(&x, rng)?)?;
        let y_t = y.clone().mul_scalar(mean).add(noise.mul_scalar(std));
        let variance = (std / mean).powi(2);
        self.consistency.apply(operator, x, &y_t, variance)
    }
}

impl<const D: usize> Reconstruct<D> for ScoreReconstruction {
    fn name(&self) -> String {
        match self.sampler.corrector {
            Some(_) => "score PC + DC".into(),
            None => "score EM + DC".into(),
        }
    }

    fn reconstruct(
        &self,
        network: &dyn TimeConditionedNetwork<D>,
        operator: &dyn MeasurementOperator<D>,
        y: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<ReconstructionOutput<D>> {
        self.sampler.validate()?;
        self.consistency.validate()?;
        let sde = self.sampler.sde;
        if self.sampler.corrector.is_some() && sde.langevin_alpha(1.0, self.sampler.steps) <= 0.0 {
            return Err(ReconError::config(
                "steps",
                format!(
                    "{} steps make the VP Langevin step size α = 1 − β_max/N negative; use more \
                     steps than β_min + β_max",
                    self.sampler.steps
                ),
            ));
        }
        let mut x = initial_noise(operator, &y, sde.prior_std(), rng)?;
        let mut x_mean = x.clone();
        let mut nfe = 0;
        let times = self.sampler.times();
        for window in times.windows(2) {
            let (t, t_next) = (window[0], window[1]);
            if let Some(corrector) = &self.sampler.corrector {
                let alpha = sde.langevin_alpha(t, self.sampler.steps);
                for _ in 0..corrector.steps {
                    let grad = self.score(network, x.clone(), t)?;
                    nfe += 1;
                    let noise = gaussian_like(&x, rng)?;
                    // δ = 2α (snr ‖z‖/‖s_θ‖)², kept on the device (no read-back per step).
                    let ratio =
                        mean_norm(noise.clone()).div(mean_norm(grad.clone()).clamp_min(1e-20));
                    let step: Tensor<D> = ratio
                        .powi_scalar(2)
                        .mul_scalar(2.0 * alpha * corrector.snr.powi(2))
                        .reshape([1; D]);
                    let moved =
                        x.add(grad.mul(step.clone())).add(noise.mul(step.mul_scalar(2.0).sqrt()));
                    x = self.consistent(operator, moved, &y, t, rng)?;
                }
            }
            let grad = self.score(network, x.clone(), t)?;
            nfe += 1;
            let dt = t_next - t;
            let g = sde.diffusion(t);
            let drift = sde.drift(x.clone(), t).sub(grad.mul_scalar(g * g));
            x_mean = x.add(drift.mul_scalar(dt));
            let noise = gaussian_like(&x_mean, rng)?;
            let moved = x_mean.clone().add(noise.mul_scalar(g * (-dt).sqrt()));
            x = self.consistent(operator, moved, &y, t_next, rng)?;
        }
        let last = if self.sampler.denoise_final { x_mean } else { x };
        let image = self.consistency.apply(operator, last, &y, 0.0)?;
        medgen_core::check::ensure_finite(&image, "reconstruction")?;
        Ok(ReconstructionOutput { image, nfe })
    }
}

/// The batch mean of the per-item L2 norms of `x` (`[N, ...]`), as a `[1]` tensor.
fn mean_norm<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let batch = x.dims()[0];
    x.reshape([batch as i32, -1]).powi_scalar(2).sum_dim(1).sqrt().mean()
}

//! DDIM inversion: the deterministic map from a clean sample `x₀` to a latent `x_T` that DDIM
//! sampling (`η = 0`) maps back to `x₀`.

use burn::tensor::Tensor;
use rand::Rng;

use crate::ddim::DdimScheduler;
use crate::error::Result;
use crate::scheduler::{Scheduler, StepOutput, Timestep, discrete_timesteps};

/// diffusers' `DDIMInverseScheduler` built from a [`DdimScheduler`]: it visits the DDIM
/// timesteps in increasing order and each step moves the sample from the level below `t` up to
/// `t` ([`DdimScheduler::inverse_step`]):
///
/// `x_t = √ᾱ_t x̂₀ + √(1−ᾱ_t) ε̂`, with `x̂₀`, `ε̂` read at `ᾱ_{t'}` from `f_θ(x_{t'}, t)`.
///
/// Driving it with [`crate::sampling::sample`] from `x₀` inverts `x₀` (with the same
/// network, condition and guidance as the sampling run to be inverted); DDIM sampling with
/// `η = 0` from the result reconstructs `x₀` up to the error of reading the network at `t`
/// rather than `t'`. The `rng` is never used (inversion is deterministic).
#[derive(Clone, Debug)]
pub struct DdimInverseScheduler {
    ddim: DdimScheduler,
    timesteps: Vec<usize>,
}

impl DdimInverseScheduler {
    /// Wraps `ddim`, taking over its inference timesteps (if set) in increasing order.
    pub fn new(ddim: DdimScheduler) -> Self {
        let timesteps = ddim.timesteps().iter().rev().copied().collect();
        Self { ddim, timesteps }
    }

    /// The wrapped forward scheduler (its timesteps are the reverse of this one's).
    pub fn ddim(&self) -> &DdimScheduler {
        &self.ddim
    }
}

impl<const D: usize> Scheduler<D> for DdimInverseScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.ddim.set_timesteps(num_inference_steps)?;
        self.timesteps = self.ddim.timesteps().iter().rev().copied().collect();
        Ok(())
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
        self.ddim.inverse_step(model_output, timestep.discrete()?, sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddim::DdimSchedulerConfig;
    use crate::guidance::GuidanceConfig;
    use crate::prediction::epsilon_from_x0;
    use crate::sampling::sample;
    use burn::tensor::Distribution;
    use medgen_core::{Condition, seeded_rng};
    use medgen_testing::test_device;

    #[test]
    fn inversion_then_sampling_reconstructs_the_image() {
        let device = test_device();
        let image = Tensor::<4>::random([2, 1, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<4>::random([2, 1, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        // The exact-noise model of the path `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`: the noise `ε` itself.
        let exact_noise = |_x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(noise.clone());
        let mut ddim = DdimSchedulerConfig::new().with_clip_sample(false).init().unwrap();
        ddim.set_timesteps(20).unwrap();
        let mut inverse = DdimInverseScheduler::new(ddim.clone());
        let inverse_timesteps = Scheduler::<4>::timesteps(&inverse);
        assert_eq!(
            inverse_timesteps.first(),
            ddim.timesteps().last().map(|&t| Timestep::Discrete(t)).as_ref()
        );
        let (none, plain) = (Condition::none(), GuidanceConfig::new());
        let mut rng = seeded_rng(0);
        let latent = sample(&exact_noise, &mut inverse, image.clone(), &none, &plain, &mut rng)
            .unwrap()
            .sample;
        // The latent lies on the forward path at the first sampling timestep.
        let t_max = ddim.timesteps()[0];
        let abar = ddim.schedule().alphas_cumprod()[t_max];
        let implied_noise = epsilon_from_x0(latent.clone(), image.clone(), abar);
        let on_path = implied_noise.sub(noise.clone()).abs().max();
        assert!(on_path.into_scalar::<f32>() < 1e-3);
        let back = sample(&exact_noise, &mut ddim, latent, &none, &plain, &mut rng).unwrap();
        let err = back.sample.sub(image).abs().max().into_scalar::<f32>();
        assert!(err <= 1e-3, "reconstruction error {err}");
    }
}

//! Training a velocity network for rectified flow ([`RFlowScheduler`]): for clean samples
//! `x₀`, the loss draws, from the caller's generator and in this order, one time per item
//! ([`RFlowScheduler::sample_timesteps`]), noise `ε ~ N(0, I)` and (with
//! `condition_drop_prob = p > 0`) which items lose their condition, then computes
//!
//! ```text
//! x_t = (1 − t/T) x₀ + (t/T) ε,     v̂ = f_θ(x_t, t, c)
//! L = mean (v̂ − (x₀ − ε))²
//! ```
//!
//! It implements medgen-train's [`TrainingObjective`], so the one `Trainer` drives it.

use burn::tensor::Tensor;
use medgen_core::{Condition, SeededRng, TimeConditionedNetwork};
use medgen_train::TrainingObjective;
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::rectified_flow::RFlowScheduler;
use crate::scheduler::ensure_same_shape;
use crate::training::{time_tensor, training_batch_size};

/// The rectified-flow velocity loss of the [module docs](self).
#[derive(Clone, Debug)]
pub struct RFlowLoss {
    scheduler: RFlowScheduler,
    condition_drop_prob: f64,
}

impl RFlowLoss {
    /// The loss for `scheduler`'s time sampling, dropping each item's condition with
    /// probability `condition_drop_prob` (for classifier-free guidance).
    ///
    /// # Errors
    /// `InvalidConfig` naming `condition_drop_prob` outside `[0, 1]`.
    pub fn new(scheduler: RFlowScheduler, condition_drop_prob: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&condition_drop_prob) {
            return Err(DiffusionError::config(
                "condition_drop_prob",
                "expected a value in [0, 1]",
            ));
        }
        Ok(Self { scheduler, condition_drop_prob })
    }

    /// The scheduler whose time sampling the loss uses.
    pub fn scheduler(&self) -> &RFlowScheduler {
        &self.scheduler
    }

    /// One training loss of `network` on clean samples `x₀` (`[N, C, ...]`) with
    /// `condition` (batch `N` or empty); returns a `[1]` tensor (differentiable through the
    /// network).
    ///
    /// # Errors
    /// An empty batch, a condition of another batch size, an output not shaped like `x₀`,
    /// and the network's errors.
    pub fn training_loss<const D: usize, N, R>(
        &self,
        network: &N,
        x0: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut R,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        let batch = training_batch_size(&x0, condition)?;
        let dims = x0.dims();
        let device = x0.device();
        let times = self.scheduler.sample_timesteps(batch, &dims[2..], rng);
        let noise = medgen_core::noise::gaussian_noise(dims, rng, &device)?;
        let x_t = self.scheduler.add_noise(x0.clone(), noise.clone(), &times)?;
        let condition = condition.clone().dropped_for_guidance(
            batch,
            self.condition_drop_prob,
            rng,
            &device,
        )?;
        let output = network.evaluate(x_t, time_tensor(times.into_iter(), &device), &condition)?;
        ensure_same_shape(&output, &x0)?;
        let target = RFlowScheduler::velocity(x0, noise);
        Ok(output.sub(target).square().mean())
    }
}

impl<const D: usize> TrainingObjective<D> for RFlowLoss {
    type Error = DiffusionError;

    /// [`RFlowLoss::training_loss`] with the trainer's generator.
    fn training_loss<N>(
        &self,
        network: &N,
        x0: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D>,
    {
        RFlowLoss::training_loss(self, network, x0, condition, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rectified_flow::{RFlowConfig, TimeSampling};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn the_loss_of_a_silent_network_is_the_mean_squared_velocity_of_the_same_draws() {
        let device = test_device();
        let scheduler = RFlowConfig::new().init().unwrap();
        let loss = RFlowLoss::new(scheduler.clone(), 0.0).unwrap();
        let x0 = Tensor::<4>::ones([3, 1, 4, 4], &device).mul_scalar(0.5);
        let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
        let got = loss
            .training_loss(&zero, x0.clone(), &Condition::none(), &mut seeded_rng(5))
            .unwrap()
            .into_scalar::<f32>();
        // The same draws, in the documented order: times, then noise.
        let mut rng = seeded_rng(5);
        let _times = scheduler.sample_timesteps(3, &[4, 4], &mut rng);
        let noise = medgen_core::noise::gaussian_noise([3, 1, 4, 4], &mut rng, &device).unwrap();
        let expected = x0.sub(noise).square().mean().into_scalar::<f32>();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        assert!(RFlowLoss::new(scheduler, 1.5).is_err());
    }

    #[test]
    fn training_times_follow_the_chosen_distribution() {
        let mut rng = seeded_rng(0);
        let n = 4000;
        let uniform = RFlowConfig::new().init().unwrap().sample_timesteps(n, &[8, 8], &mut rng);
        assert!(uniform.iter().all(|&t| (0.0..1000.0).contains(&t) && t.fract() == 0.0));
        let mean = uniform.iter().sum::<f64>() / n as f64;
        assert!((mean - 499.5).abs() < 15.0, "uniform mean {mean}");
        // Logit-normal with μ = 1: the median time is T σ(1) ≈ 731.
        let logit = RFlowConfig::new()
            .with_sample_method(TimeSampling::LogitNormal)
            .with_loc(1.0)
            .with_use_discrete_timesteps(false)
            .init()
            .unwrap();
        let mut times = logit.sample_timesteps(n, &[8, 8], &mut rng);
        times.sort_by(f64::total_cmp);
        let median = times[n / 2];
        assert!((median - 731.06).abs() < 15.0, "logit-normal median {median}");
        // The shift moves every time towards noise for images larger than the base size.
        let shifted = RFlowConfig::new()
            .with_use_timestep_transform(true)
            .with_base_img_size_numel(16)
            .with_use_discrete_timesteps(false)
            .init()
            .unwrap()
            .sample_timesteps(1, &[8, 8], &mut seeded_rng(1));
        let plain = RFlowConfig::new()
            .with_use_discrete_timesteps(false)
            .init()
            .unwrap()
            .sample_timesteps(1, &[8, 8], &mut seeded_rng(1));
        assert!(shifted[0] > plain[0], "{shifted:?} vs {plain:?}");
    }
}

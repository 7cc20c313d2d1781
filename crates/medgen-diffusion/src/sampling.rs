//! The one sampling loop: any [`TimeConditionedNetwork`], any [`Scheduler`], optional
//! classifier-free guidance.

use burn::tensor::Tensor;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::guidance::GuidanceConfig;
use crate::guided_network::GuidedNetwork;
use crate::scheduler::Scheduler;

/// The result of a sampling run.
#[derive(Clone, Debug)]
pub struct SamplingOutput<const D: usize> {
    /// The final sample, shaped like the initial one.
    pub sample: Tensor<D>,
    /// The last step's predicted clean sample `x̂₀`.
    pub pred_original_sample: Tensor<D>,
    /// The number of network evaluations (NFE): one per step; a guided step evaluates the
    /// conditional and null branches together in one call on a doubled batch and counts once.
    pub nfe: usize,
}

/// Runs the reverse process from `initial` (`x_T`, `[N, C, ...]`, any rank; scaled by the
/// scheduler's `init_noise_sigma` by the caller) through every timestep of `scheduler`
/// (call `set_timesteps` first):
///
/// for each `t`: `y = f_θ(x, t, c)` (guided: [`GuidanceConfig::combine`] of `f_θ(x, t, c)` and
/// `f_θ(x, t, ∅)`), then `x ← scheduler.step(y, t, x)`.
///
/// The network receives the timestep as a float `[N]` tensor. Everything stays on the
/// device of `initial`; only the schedulers' finiteness checks read a scalar back.
///
/// Errors: [`DiffusionError::TimestepsNotSet`],
/// [`CoreError::GuidanceWithoutCondition`](medgen_core::CoreError::GuidanceWithoutCondition),
/// a shape error when the condition's batch differs from `N`, and any error of the network or
/// the scheduler's `step`.
pub fn sample<const D: usize, N, S>(
    network: &N,
    scheduler: &mut S,
    initial: Tensor<D>,
    condition: &Condition<D>,
    guidance: &GuidanceConfig,
    rng: &mut dyn Rng,
) -> Result<SamplingOutput<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
    S: Scheduler<D> + ?Sized,
{
    let timesteps = scheduler.timesteps();
    if timesteps.is_empty() {
        return Err(DiffusionError::TimestepsNotSet);
    }
    let mut guided = GuidedNetwork::new(network, condition, guidance, &initial)?;
    let mut x = initial;
    let mut x0 = None;
    for &t in &timesteps {
        let model_input = scheduler.scale_model_input(x.clone(), t);
        let output = guided.evaluate(model_input, scheduler.model_time(t))?;
        let step = scheduler.step(output, t, x, rng)?;
        x = step.prev_sample;
        x0 = Some(step.pred_original_sample);
    }
    Ok(SamplingOutput {
        pred_original_sample: x0.unwrap_or_else(|| x.clone()),
        sample: x,
        nfe: guided.evaluations(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddim::DdimSchedulerConfig;
    use crate::ddpm::DdpmSchedulerConfig;
    use burn::tensor::{Distribution, Int};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use std::cell::Cell;

    #[test]
    fn ddim_loop_with_an_oracle_recovers_x0_and_counts_evaluations() {
        let device = test_device();
        let x0 = Tensor::<4>::random([2, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<4>::random([2, 1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(8).unwrap();
        let oracle = |_x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(noise.clone());
        let start = scheduler.timesteps()[0];
        let initial =
            scheduler.schedule().add_noise(x0.clone(), noise.clone(), &[start, start]).unwrap();
        let out = sample(
            &oracle,
            &mut scheduler,
            initial,
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(0),
        )
        .unwrap();
        assert_eq!(out.nfe, 8);
        let err = out.sample.sub(x0).abs().max().into_scalar::<f32>();
        assert!(err < 1e-4, "error {err}");
    }

    #[test]
    fn guided_loop_evaluates_both_branches_in_one_call() {
        let device = test_device();
        let calls = Cell::new(0);
        // Conditional branch predicts 1, null branch predicts 0: guided output is w.
        let network = |x: Tensor<4>, _t: Tensor<1>, c: &Condition<4>| {
            calls.set(calls.get() + 1);
            let keep = c.keep.clone().expect("null branch is marked");
            let n = keep.dims()[0];
            Ok(keep.reshape([n, 1, 1, 1]).expand(x.dims()))
        };
        let mut scheduler = DdpmSchedulerConfig::new()
            .with_clip_sample(false)
            .with_prediction_type(crate::PredictionType::Sample)
            .init()
            .unwrap();
        scheduler.set_custom_timesteps(&[0]).unwrap();
        let condition = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
        let out = sample(
            &network,
            &mut scheduler,
            Tensor::<4>::zeros([2, 1, 2, 2], &device),
            &condition,
            &GuidanceConfig::new().with_scale(3.0),
            &mut seeded_rng(0),
        )
        .unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(out.nfe, 1);
        // Sample prediction at t = 0 with no noise: x̂₀ = guided output = 3.
        let x0 = out.pred_original_sample.into_data().try_to_vec::<f32>().unwrap();
        assert!(x0.iter().all(|v| (v - 3.0).abs() < 1e-6), "{x0:?}");
    }

    #[test]
    fn loop_errors_are_typed() {
        let device = test_device();
        let network = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        let x = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let none = Condition::none();
        let plain = GuidanceConfig::new();
        let mut rng = seeded_rng(0);
        assert!(matches!(
            sample(&network, &mut scheduler, x.clone(), &none, &plain, &mut rng),
            Err(DiffusionError::TimestepsNotSet)
        ));
        scheduler.set_timesteps(2).unwrap();
        let guided = GuidanceConfig::new().with_scale(2.0);
        assert!(matches!(
            sample(&network, &mut scheduler, x.clone(), &none, &guided, &mut rng),
            Err(DiffusionError::Core(medgen_core::CoreError::GuidanceWithoutCondition { .. }))
        ));
        let three = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([3], &device));
        assert!(sample(&network, &mut scheduler, x, &three, &plain, &mut rng).is_err());
    }
}

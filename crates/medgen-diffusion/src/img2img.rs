//! Image-to-image translation / SDEdit (Meng et al., 2022): noise a given image part of the way
//! with the forward process, then run the reverse process from there with the one sampling
//! loop ([`crate::sampling::sample`]), as diffusers' img2img pipelines do.

use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;

use crate::ddim::DdimScheduler;
use crate::ddpm::DdpmScheduler;
use crate::error::{DiffusionError, Result};
use crate::guidance::GuidanceConfig;
use crate::sampling::{SamplingOutput, sample};
use crate::schedule::NoiseSchedule;
use crate::scheduler::Scheduler;
use crate::scheduler_window::TimestepWindow;

/// A scheduler over integer training timesteps whose sample at timestep `t` is distributed as
/// the VP forward process `q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I)` of its schedule, so that a
/// run can start from a noised image instead of pure noise.
pub trait ForwardNoising<const D: usize>: Scheduler<D> {
    /// The schedule whose forward process the scheduler's samples follow.
    fn noise_schedule(&self) -> &NoiseSchedule;
}

impl<const D: usize> ForwardNoising<D> for DdpmScheduler {
    fn noise_schedule(&self) -> &NoiseSchedule {
        self.schedule()
    }
}

impl<const D: usize> ForwardNoising<D> for DdimScheduler {
    fn noise_schedule(&self) -> &NoiseSchedule {
        self.schedule()
    }
}

/// The number of the scheduler's `n` inference steps an img2img run takes at `strength`:
/// `⌊n · strength⌋` (diffusers' `get_timesteps`); fails with
/// [`DiffusionError::InvalidStrength`] unless `0 < strength ≤ 1`.
pub fn img2img_steps(num_inference_steps: usize, strength: f64) -> Result<usize> {
    if !(strength > 0.0 && strength <= 1.0) {
        return Err(DiffusionError::InvalidStrength { strength });
    }
    Ok(((num_inference_steps as f64 * strength).floor() as usize).min(num_inference_steps))
}

/// SDEdit / img2img: with the scheduler's `n` inference timesteps `t_0 > … > t_{n−1}` (call
/// `set_timesteps` first) and `k = ⌊n · strength⌋` ([`img2img_steps`]),
///
/// `x = √ᾱ_s image + √(1−ᾱ_s) ε`, `s = t_{n−k}`, `ε ~ N(0, I)` from `rng`,
///
/// then the last `k` steps of the reverse process from `x` ([`crate::sampling::sample`], with
/// classifier-free `guidance` of `condition`). `strength = 1` starts at the first timestep;
/// a strength so small that `k = 0` returns `image` unchanged with no network evaluation.
/// `image`: `[N, C, ...]`, any rank, at the data scale the model was trained on.
///
/// Errors: [`DiffusionError::InvalidStrength`], [`DiffusionError::TimestepsNotSet`], and the
/// errors of [`crate::sampling::sample`].
pub fn img2img<const D: usize, N, S>(
    network: &N,
    scheduler: &mut S,
    image: Tensor<D>,
    strength: f64,
    condition: &Condition<D>,
    guidance: &GuidanceConfig,
    rng: &mut dyn Rng,
) -> Result<SamplingOutput<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
    S: ForwardNoising<D> + ?Sized,
{
    let timesteps = Scheduler::<D>::timesteps(scheduler);
    let total = timesteps.len();
    let steps = img2img_steps(total, strength)?;
    if total == 0 {
        return Err(DiffusionError::TimestepsNotSet);
    }
    medgen_core::check::ensure_non_empty(&image.dims(), "image")?;
    if steps == 0 {
        return Ok(SamplingOutput { pred_original_sample: image.clone(), sample: image, nfe: 0 });
    }
    let start = total - steps;
    let alpha = scheduler.noise_schedule().alpha_cumprod(timesteps[start].discrete()?)?;
    let noise = gaussian_like(&image, rng)?;
    let noised = image.mul_scalar(alpha.sqrt()).add(noise.mul_scalar((1.0 - alpha).sqrt()));
    let mut tail = TimestepWindow::new(scheduler, start, None);
    sample(network, &mut tail, noised, condition, guidance, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddim::DdimSchedulerConfig;
    use burn::tensor::Distribution;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use std::cell::RefCell;

    #[test]
    fn tiny_strength_returns_the_input_and_bad_strengths_are_typed() {
        let device = test_device();
        let image = Tensor::<4>::random([2, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        let network = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x);
        let none = Condition::none();
        let plain = GuidanceConfig::new();
        let mut rng = seeded_rng(0);
        assert!(matches!(
            img2img(&network, &mut scheduler, image.clone(), 0.5, &none, &plain, &mut rng),
            Err(DiffusionError::TimestepsNotSet)
        ));
        scheduler.set_timesteps(10).unwrap();
        let out = img2img(&network, &mut scheduler, image.clone(), 0.05, &none, &plain, &mut rng)
            .unwrap();
        assert_eq!(out.nfe, 0);
        let diff = out.sample.sub(image.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(diff, 0.0);
        for strength in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(matches!(
                img2img(&network, &mut scheduler, image.clone(), strength, &none, &plain, &mut rng),
                Err(DiffusionError::InvalidStrength { .. })
            ));
        }
        assert_eq!(img2img_steps(10, 1.0).unwrap(), 10);
        assert_eq!(img2img_steps(10, 0.3).unwrap(), 3);
    }

    /// The run starts at `t_{n−k}` from `√ᾱ image + √(1−ᾱ) ε` (the first network input is
    /// checked against the same noise drawn independently), takes `k` steps, and with an
    /// exact-noise oracle of the image returns the image.
    #[test]
    fn starts_from_the_noised_image_at_the_strength_timestep() {
        let device = test_device();
        let image = Tensor::<4>::random([2, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(10).unwrap();
        let abar = scheduler.schedule().alphas_cumprod().to_vec();
        let first_call = RefCell::new(None);
        let target = image.clone();
        let oracle = |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            let t = t.slice(0..1).into_scalar::<f32>() as usize;
            first_call.borrow_mut().get_or_insert((t, x.clone()));
            let a = abar[t];
            Ok(x.sub(target.clone().mul_scalar(a.sqrt())).div_scalar((1.0 - a).sqrt()))
        };
        let out = img2img(
            &oracle,
            &mut scheduler,
            image.clone(),
            0.5,
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(7),
        )
        .unwrap();
        assert_eq!(out.nfe, 5);
        let (t0, x0) = first_call.into_inner().unwrap();
        assert_eq!(t0, 400);
        let noise = gaussian_like(&image, &mut seeded_rng(7)).unwrap();
        let a = abar[400];
        let expected = image.clone().mul_scalar(a.sqrt()).add(noise.mul_scalar((1.0 - a).sqrt()));
        assert!(x0.sub(expected).abs().max().into_scalar::<f32>() < 1e-6);
        let err = out.sample.sub(image).abs().max().into_scalar::<f32>();
        assert!(err < 1e-4, "{err}");
    }
}

//! RePaint inpainting (Lugmayr et al., 2022), as diffusers' `RePaintScheduler` and
//! `RePaintPipeline`: at every reverse step the known region is replaced by the known image
//! noised with the forward process to the same level, and the schedule jumps back up
//! (re-noising the whole sample) so that the generated region harmonises with the known one.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::guidance::GuidanceConfig;
use crate::guided_network::GuidedNetwork;
use crate::prediction::PredictionType;
use crate::sampling::SamplingOutput;
use crate::schedule::NoiseSchedule;

/// The settings of a [`RepaintScheduler`] (diffusers' names and defaults).
#[derive(Config, Debug, PartialEq)]
pub struct RepaintConfig {
    /// The number of reverse-step levels `n`, `1 ≤ n ≤ T`; levels are `k · ⌊T/n⌋`.
    #[config(default = 250)]
    pub num_inference_steps: usize,
    /// How many levels a resampling jump goes back up (`jump_length ≥ 1`).
    #[config(default = 10)]
    pub jump_length: usize,
    /// How many times each jump point is visited (`jump_n_sample ≥ 1`; 1: no resampling).
    #[config(default = 10)]
    pub jump_n_sample: usize,
    /// DDIM's `η ∈ [0, 1]` of the reverse steps (diffusers' pipeline default 0).
    #[config(default = 0.0)]
    pub eta: f64,
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// Clamp `x̂₀` to `[−1, 1]` (diffusers' `clip_sample`).
    #[config(default = true)]
    pub clip_sample: bool,
}

/// diffusers' RePaint timestep list: levels `n−1, …, 0` visited downwards, except that at every
/// `j ∈ {0, L, 2L, …} ∩ [0, n−L)` (`L = jump_length`) the list climbs back `L` levels
/// `jump_n_sample − 1` times; every entry is multiplied by `⌊T/n⌋`. An entry larger than its
/// predecessor is a forward (re-noising) move, any other a reverse step.
///
/// Fails with [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`, and with an
/// `InvalidConfig` error for a zero `jump_length` or `jump_n_sample`.
pub fn repaint_timesteps(
    num_train_timesteps: usize,
    num_inference_steps: usize,
    jump_length: usize,
    jump_n_sample: usize,
) -> Result<Vec<usize>> {
    let n = num_inference_steps;
    if n == 0 || n > num_train_timesteps {
        return Err(DiffusionError::InvalidStepCount { requested: n, num_train_timesteps });
    }
    if jump_length == 0 || jump_n_sample == 0 {
        return Err(DiffusionError::config("jump_length/jump_n_sample", "must be at least 1"));
    }
    let mut jumps = vec![0usize; n];
    for j in (0..n.saturating_sub(jump_length)).step_by(jump_length) {
        jumps[j] = jump_n_sample - 1;
    }
    let stride = num_train_timesteps / n;
    let mut list = Vec::new();
    let mut t = n;
    while t >= 1 {
        t -= 1;
        list.push(t * stride);
        if jumps[t] > 0 {
            jumps[t] -= 1;
            for _ in 0..jump_length {
                t += 1;
                list.push(t * stride);
            }
        }
    }
    Ok(list)
}

/// RePaint on a VP noise schedule.
///
/// A reverse step at `t` (to the level `t' = t − ⌊T/n⌋`; `ᾱ_{t'} = 1` below 0), with `x̂₀`,
/// `ε̂` from the network output, `σ = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'})` and one draw
/// `z ~ N(0, I)`:
///
/// `x_unknown = √ᾱ_{t'} x̂₀ + √(1−ᾱ_{t'}−σ²) ε̂ + σ z`,
/// `x_known = √ᾱ_{t'} x_image + √(1−ᾱ_{t'}) z`,
/// `x_{t'} = m ⊙ x_known + (1−m) ⊙ x_unknown`   (`m = 1` on the known region).
///
/// A forward move from level `a` to level `b > a` draws
/// `x_b = √(ᾱ_b/ᾱ_a) x_a + √(1 − ᾱ_b/ᾱ_a) z` — the exact forward transition between the two
/// levels. (diffusers' `undo_step` applies the betas of timesteps `b, …, b + ⌊T/n⌋ − 1`, one
/// level above the interval it re-noises; the distribution differs by that index shift.)
#[derive(Clone, Debug)]
pub struct RepaintScheduler {
    config: RepaintConfig,
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
    stride: usize,
}

impl RepaintConfig {
    /// Validates the settings against `schedule` and builds the scheduler.
    pub fn init(&self, schedule: NoiseSchedule) -> Result<RepaintScheduler> {
        if !(0.0..=1.0).contains(&self.eta) {
            return Err(DiffusionError::config(
                "eta",
                format!("must lie in [0, 1], got {}", self.eta),
            ));
        }
        let total = schedule.num_train_timesteps();
        let timesteps = repaint_timesteps(
            total,
            self.num_inference_steps,
            self.jump_length,
            self.jump_n_sample,
        )?;
        Ok(RepaintScheduler {
            config: self.clone(),
            stride: total / self.num_inference_steps,
            schedule,
            timesteps,
        })
    }
}

impl RepaintScheduler {
    /// The settings the scheduler was built from.
    pub fn config(&self) -> &RepaintConfig {
        &self.config
    }

    /// The timestep list ([`repaint_timesteps`]).
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The number of network evaluations a run takes (the reverse steps of the list).
    pub fn nfe(&self) -> usize {
        let mut last = usize::MAX;
        self.timesteps
            .iter()
            .filter(|&&t| {
                let down = t < last;
                last = t;
                down
            })
            .count()
    }

    /// `ᾱ` of the level a reverse step from `t` reaches (1 below timestep 0).
    fn level_below(&self, t: usize) -> Result<(Option<usize>, f64)> {
        let level = t.checked_sub(self.stride);
        Ok((level, level.map_or(Ok(1.0), |l| self.schedule.alpha_cumprod(l))?))
    }

    /// Inpaints `image` (`[N, C, ...]`, any rank) where `mask` is 0, keeping it where `mask` is
    /// 1 (`mask` broadcasts to the image: each axis of the image's size or 1; values in
    /// `[0, 1]`, soft masks allowed). Starts from `x ~ N(0, I)` drawn from `rng` and follows
    /// [`RepaintScheduler::timesteps`], evaluating `network` (with classifier-free `guidance`
    /// of `condition`) once per reverse step.
    ///
    /// Host reads: the mask's minimum and maximum once before the loop, and one finiteness check
    /// of the result after it (a NaN network output ends as a `NonFinite` error); the loop stays
    /// on the device.
    ///
    /// Errors: [`DiffusionError::InvalidMask`], the network's errors (and a shape error when
    /// its output does not match the image), a condition of another batch size, the guidance
    /// errors of [`GuidanceConfig::validate`], and [`DiffusionError::NoSignalLeft`] for an
    /// ε-network at `ᾱ = 0`.
    pub fn inpaint<const D: usize, N, R>(
        &self,
        network: &N,
        image: Tensor<D>,
        mask: Tensor<D>,
        condition: &Condition<D>,
        guidance: &GuidanceConfig,
        rng: &mut R,
    ) -> Result<SamplingOutput<D>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        check_mask(&image, &mask)?;
        let mut guided = GuidedNetwork::new(network, condition, guidance, &image)?;
        let mask = mask.expand(image.dims());
        let unknown_mask = mask.clone().neg().add_scalar(1.0);
        let mut x = gaussian_like(&image, rng)?;
        let mut x0 = None;
        let mut last = self.timesteps[0] + 1;
        for &t in &self.timesteps {
            if t >= last {
                x = self.renoise(x, last, rng)?;
                last = t;
                continue;
            }
            let output = guided.evaluate(x.clone(), t as f64)?;
            let alpha = self.schedule.alpha_cumprod(t)?;
            let (_, alpha_prev) = self.level_below(t)?;
            let denoised = self.config.prediction_type.denoise(output, x.clone(), alpha, t)?;
            let predicted =
                if self.config.clip_sample { denoised.x0.clamp(-1.0, 1.0) } else { denoised.x0 };
            let sigma = self.config.eta
                * ((1.0 - alpha_prev) / (1.0 - alpha) * (1.0 - alpha / alpha_prev)).max(0.0).sqrt();
            let noise = gaussian_like(&x, rng)?;
            let direction = (1.0 - alpha_prev - sigma * sigma).max(0.0).sqrt();
            let mut unknown = predicted
                .clone()
                .mul_scalar(alpha_prev.sqrt())
                .add(denoised.epsilon.mul_scalar(direction));
            if t > 0 && sigma > 0.0 {
                unknown = unknown.add(noise.clone().mul_scalar(sigma));
            }
            let known = image
                .clone()
                .mul_scalar(alpha_prev.sqrt())
                .add(noise.mul_scalar((1.0 - alpha_prev).sqrt()));
            x = known.mul(mask.clone()).add(unknown.mul(unknown_mask.clone()));
            x0 = Some(predicted);
            last = t;
        }
        medgen_core::check::ensure_finite(&x, "RePaint sample")?;
        Ok(SamplingOutput {
            pred_original_sample: x0.unwrap_or_else(|| x.clone()),
            sample: x,
            nfe: guided.evaluations(),
        })
    }

    /// The forward move from the level below `from` (where a reverse step from `from` left the
    /// sample) back up to `from`.
    fn renoise<const D: usize, R: Rng + ?Sized>(
        &self,
        x: Tensor<D>,
        from: usize,
        rng: &mut R,
    ) -> Result<Tensor<D>> {
        let (level, _) = self.level_below(from)?;
        let beta = self.schedule.jump_beta(from, level)?;
        let noise = gaussian_like(&x, rng)?;
        Ok(x.mul_scalar((1.0 - beta).sqrt()).add(noise.mul_scalar(beta.sqrt())))
    }
}

/// Fails with [`DiffusionError::InvalidMask`] unless every axis of `mask` is the image's size
/// or 1 and its values lie in `[0, 1]` (two scalars read back).
fn check_mask<const D: usize>(image: &Tensor<D>, mask: &Tensor<D>) -> Result<()> {
    let (image_dims, mask_dims) = (image.dims(), mask.dims());
    medgen_core::check::ensure_non_empty(&image_dims, "image")?;
    let invalid = |reason: &str| DiffusionError::InvalidMask {
        image: image_dims.to_vec(),
        mask: mask_dims.to_vec(),
        reason: reason.into(),
    };
    if image_dims.iter().zip(&mask_dims).any(|(&i, &m)| m != i && m != 1) {
        return Err(invalid("each axis must have the image's size or 1"));
    }
    let min = mask.clone().min().into_scalar::<f32>();
    let max = mask.clone().max().into_scalar::<f32>();
    if !(min >= 0.0 && max <= 1.0) {
        return Err(invalid(&format!("values must lie in [0, 1] (1 = known), got [{min}, {max}]")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;
    use burn::tensor::{Distribution, TensorData};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn jump_list_matches_diffusers_algorithm() {
        // n = 6, L = 2, r = 2: jump points {0, 2}, each revisited once.
        let list = repaint_timesteps(60, 6, 2, 2).unwrap();
        let expected: Vec<usize> =
            [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0].iter().map(|k| k * 10).collect();
        assert_eq!(list, expected);
        assert_eq!(repaint_timesteps(60, 3, 5, 1).unwrap(), vec![40, 20, 0]);
        assert!(repaint_timesteps(60, 0, 2, 2).is_err());
        assert!(repaint_timesteps(60, 61, 2, 2).is_err());
        assert!(repaint_timesteps(60, 6, 0, 2).is_err());
    }

    /// With an exact-noise oracle of `truth`, the known region ends exactly at the given image
    /// and the unknown region at the oracle's image.
    #[test]
    fn oracle_inpainting_keeps_the_known_region_and_fills_the_unknown_one() {
        let device = test_device();
        let truth = Tensor::<4>::random([2, 1, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let image = Tensor::<4>::random([2, 1, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let mask_values: Vec<f32> = (0..16).map(|i| if i % 4 < 2 { 1.0 } else { 0.0 }).collect();
        let mask = Tensor::<4>::from_data(TensorData::new(mask_values, [1, 1, 4, 4]), &device);
        let schedule = ScheduleConfig::new().init().unwrap();
        let abar = schedule.alphas_cumprod().to_vec();
        let target = truth.clone();
        let oracle = |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            let a = abar[t.slice(0..1).into_scalar::<f32>() as usize];
            Ok(x.sub(target.clone().mul_scalar(a.sqrt())).div_scalar((1.0 - a).sqrt()))
        };
        let repaint = RepaintConfig::new()
            .with_num_inference_steps(10)
            .with_jump_length(3)
            .with_jump_n_sample(2)
            .init(schedule)
            .unwrap();
        let out = repaint
            .inpaint(
                &oracle,
                image.clone(),
                mask.clone(),
                &Condition::none(),
                &GuidanceConfig::new(),
                &mut seeded_rng(3),
            )
            .unwrap();
        assert_eq!(out.nfe, repaint.nfe());
        assert!(out.nfe > 10);
        let mask = mask.expand([2, 1, 4, 4]);
        let known_error =
            out.sample.clone().sub(image).mul(mask.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(known_error, 0.0);
        let unknown_error =
            out.sample.sub(truth).mul(mask.neg().add_scalar(1.0)).abs().max().into_scalar::<f32>();
        assert!(unknown_error < 1e-4, "{unknown_error}");
    }

    #[test]
    fn bad_masks_and_settings_are_typed_errors() {
        let device = test_device();
        let repaint = RepaintConfig::new()
            .with_num_inference_steps(2)
            .init(ScheduleConfig::new().with_num_train_timesteps(10).init().unwrap())
            .unwrap();
        let network = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
        let image = Tensor::<4>::zeros([2, 1, 4, 4], &device);
        let run = |mask: Tensor<4>| {
            repaint.inpaint(
                &network,
                image.clone(),
                mask,
                &Condition::none(),
                &GuidanceConfig::new(),
                &mut seeded_rng(0),
            )
        };
        assert!(matches!(
            run(Tensor::zeros([1, 1, 4, 3], &device)),
            Err(DiffusionError::InvalidMask { .. })
        ));
        assert!(matches!(
            run(Tensor::ones([2, 1, 4, 4], &device).mul_scalar(2.0)),
            Err(DiffusionError::InvalidMask { .. })
        ));
        assert!(run(Tensor::ones([2, 1, 1, 1], &device)).is_ok());
        let nan = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.mul_scalar(f32::NAN));
        let result = repaint.inpaint(
            &nan,
            image.clone(),
            Tensor::zeros([1, 1, 4, 4], &device),
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(0),
        );
        assert!(matches!(
            result,
            Err(DiffusionError::Core(medgen_core::CoreError::NonFinite { .. }))
        ));
        assert!(
            RepaintConfig::new().with_eta(2.0).init(ScheduleConfig::new().init().unwrap()).is_err()
        );
        assert!(
            RepaintConfig::new()
                .with_num_inference_steps(0)
                .init(ScheduleConfig::new().init().unwrap())
                .is_err()
        );
    }
}

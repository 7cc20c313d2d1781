//! DDPM (Ho et al., 2020): ancestral sampling from the posterior `q(x_{t'} | x_t, x̂₀)`, as
//! diffusers' `DDPMScheduler`.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, NoiseSchedule, ScheduleConfig};
use crate::scheduler::{
    Scheduler, StepOutput, Timestep, discrete_timesteps, ensure_finite_output, ensure_same_shape,
};
use crate::threshold::SampleLimit;
use crate::timesteps::{InferenceTimesteps, TimestepSpacing};

/// The output of [`DdpmScheduler::step`]: `x_{t'}` and `x̂₀`.
pub type DdpmStepOutput<const D: usize> = StepOutput<D>;

/// The variance of the reverse step `p(x_{t'} | x_t)` (diffusers' `variance_type`; the
/// serialised names are diffusers' strings). With `β̃ = 1 − ᾱ_t/ᾱ_{t'}` the step's beta and
/// `σ̃² = (1−ᾱ_{t'})/(1−ᾱ_t) · β̃` the posterior variance:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VarianceType {
    /// `σ² = σ̃²` (clamped below at 1e−20). diffusers: `"fixed_small"`.
    #[default]
    #[serde(rename = "fixed_small")]
    FixedSmall,
    /// `σ = exp(½ ln σ̃²)`, the same value computed through the log. diffusers:
    /// `"fixed_small_log"`.
    #[serde(rename = "fixed_small_log")]
    FixedSmallLog,
    /// `σ² = β̃`. diffusers: `"fixed_large"`.
    #[serde(rename = "fixed_large")]
    FixedLarge,
    /// `σ = exp(½ ln β̃)`. diffusers: `"fixed_large_log"` (diffusers' `step` takes the square
    /// root of `ln β̃`, which is NaN; medgen uses the intended `√β̃`).
    #[serde(rename = "fixed_large_log")]
    FixedLargeLog,
    /// The network outputs `2C` channels; the last `C` are the variance `σ²` itself (clamped
    /// below at 1e−20). diffusers: `"learned"`.
    #[serde(rename = "learned")]
    Learned,
    /// The network outputs `2C` channels; the last `C` are `v ∈ [−1, 1]` and
    /// `ln σ² = f ln β̃ + (1−f) ln σ̃²` with `f = (v+1)/2` (Nichol & Dhariwal, 2021).
    /// diffusers: `"learned_range"`.
    #[serde(rename = "learned_range")]
    LearnedRange,
}

impl VarianceType {
    /// Whether the network predicts the variance (and so outputs `2C` channels).
    pub fn is_learned(self) -> bool {
        matches!(self, Self::Learned | Self::LearnedRange)
    }
}

/// The configuration of a [`DdpmScheduler`], with diffusers' option names and defaults.
#[derive(Config, Debug)]
pub struct DdpmSchedulerConfig {
    /// Number of training timesteps `T`.
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    /// First beta of the schedule.
    #[config(default = 0.0001)]
    pub beta_start: f64,
    /// Last beta of the schedule.
    #[config(default = 0.02)]
    pub beta_end: f64,
    /// The layout of the betas.
    #[config(default = "BetaSchedule::Linear")]
    pub beta_schedule: BetaSchedule,
    /// User-supplied betas `[T]`, replacing `beta_schedule`.
    pub trained_betas: Option<Vec<f64>>,
    /// The reverse-step variance.
    #[config(default = "VarianceType::FixedSmall")]
    pub variance_type: VarianceType,
    /// Clamp `x̂₀` to `[−clip_sample_range, clip_sample_range]`.
    #[config(default = true)]
    pub clip_sample: bool,
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// Dynamic thresholding of `x̂₀` (takes precedence over `clip_sample`).
    #[config(default = false)]
    pub thresholding: bool,
    /// Quantile of `|x̂₀|` used by dynamic thresholding.
    #[config(default = 0.995)]
    pub dynamic_thresholding_ratio: f64,
    /// Bound of `clip_sample`.
    #[config(default = 1.0)]
    pub clip_sample_range: f64,
    /// Largest dynamic threshold.
    #[config(default = 1.0)]
    pub sample_max_value: f64,
    /// How inference timesteps are spread.
    #[config(default = "TimestepSpacing::Leading")]
    pub timestep_spacing: TimestepSpacing,
    /// Offset added to the leading-spaced timesteps.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// Rescale the betas to zero terminal SNR.
    #[config(default = false)]
    pub rescale_betas_zero_snr: bool,
    /// medgen addition: check every model output for NaN/Inf in `step` (one scalar read back
    /// per step; turn off in benchmarks).
    #[config(default = true)]
    pub check_finite: bool,
}

impl DdpmSchedulerConfig {
    /// The noise-schedule part of this configuration.
    pub fn schedule_config(&self) -> ScheduleConfig {
        ScheduleConfig::new()
            .with_num_train_timesteps(self.num_train_timesteps)
            .with_beta_start(self.beta_start)
            .with_beta_end(self.beta_end)
            .with_beta_schedule(self.beta_schedule)
            .with_trained_betas(self.trained_betas.clone())
            .with_rescale_betas_zero_snr(self.rescale_betas_zero_snr)
    }

    /// Validates the configuration and builds the scheduler, whose timesteps are all `T`
    /// training timesteps until `set_timesteps` is called.
    pub fn init(&self) -> Result<DdpmScheduler> {
        let schedule = self.schedule_config().init()?;
        let limit = SampleLimit::from_options(
            self.clip_sample,
            self.clip_sample_range,
            self.thresholding,
            self.dynamic_thresholding_ratio,
            self.sample_max_value,
        )?;
        Ok(DdpmScheduler {
            timesteps: InferenceTimesteps::all(schedule.num_train_timesteps()),
            config: self.clone(),
            schedule,
            limit,
        })
    }
}

/// The scalar coefficients of the posterior `q(x_{t'} | x_t, x₀)` for one step `t → t'`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PosteriorCoefficients {
    /// `ᾱ_t`.
    pub alpha_cumprod: f64,
    /// `ᾱ_{t'}` (1 after the last step).
    pub alpha_cumprod_prev: f64,
    /// The step's beta `β̃ = 1 − ᾱ_t/ᾱ_{t'}`, from the betas ([`NoiseSchedule::jump_beta`];
    /// `β_t` itself for a one-step jump, which is what diffusers' reference posterior uses),
    /// and `1 − ᾱ_t` for the last step to the clean level.
    pub beta: f64,
    /// Coefficient of `x₀` in the mean: `√ᾱ_{t'} β̃ / (1−ᾱ_t)`.
    pub x0_coefficient: f64,
    /// Coefficient of `x_t` in the mean: `√(1−β̃) (1−ᾱ_{t'}) / (1−ᾱ_t)`.
    pub sample_coefficient: f64,
    /// The posterior variance `σ̃² = (1−ᾱ_{t'})/(1−ᾱ_t) β̃`, clamped below at 1e−20.
    pub variance: f64,
}

/// The standard deviation of the reverse step's noise.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per step; boxing would only add an allocation
pub enum StepStd<const D: usize> {
    /// One value for every element (fixed variance types).
    Constant(f64),
    /// One value per element, shaped like the sample (learned variance types).
    PerElement(Tensor<D>),
}

/// The reverse-step distribution `p(x_{t'} | x_t) = N(mean, std²)` at one timestep.
#[derive(Clone, Debug)]
pub struct DdpmPosterior<const D: usize> {
    /// `x̂₀` after clipping/thresholding, shaped like the sample.
    pub pred_original_sample: Tensor<D>,
    /// The posterior mean `μ̃ = c₀ x̂₀ + c_t x_t`, shaped like the sample.
    pub mean: Tensor<D>,
    /// The standard deviation of the step's noise.
    pub std: StepStd<D>,
}

/// diffusers' `DDPMScheduler`: `x_{t'} = μ̃(x_t, x̂₀) + σ z`, `z ~ N(0, I)` (no noise at
/// `t = 0`), with `μ̃` the posterior mean ([`PosteriorCoefficients`]) and `σ` from the
/// [`VarianceType`].
#[derive(Clone, Debug)]
pub struct DdpmScheduler {
    config: DdpmSchedulerConfig,
    schedule: NoiseSchedule,
    limit: SampleLimit,
    timesteps: InferenceTimesteps,
}

impl DdpmScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &DdpmSchedulerConfig {
        &self.config
    }

    /// The noise schedule (`β`, `ᾱ`, SNR; also [`NoiseSchedule::add_noise`] and
    /// [`NoiseSchedule::get_velocity`]).
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// Chooses `num_inference_steps` timesteps by the configured spacing and offset.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.timesteps = InferenceTimesteps::spaced(
            self.config.timestep_spacing,
            self.config.num_train_timesteps,
            num_inference_steps,
            self.config.steps_offset,
        )?;
        Ok(())
    }

    /// Uses a custom strictly decreasing list of timesteps (diffusers'
    /// `set_timesteps(timesteps=...)`).
    pub fn set_custom_timesteps(&mut self, timesteps: &[usize]) -> Result<()> {
        self.timesteps = InferenceTimesteps::custom(timesteps, self.config.num_train_timesteps)?;
        Ok(())
    }

    /// The standard deviation of the initial noise `x_T ~ N(0, I)`: 1.
    pub fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    /// The inference timesteps, decreasing (all `T` until `set_timesteps`).
    pub fn timesteps(&self) -> &[usize] {
        self.timesteps.as_slice()
    }

    /// The timestep a step from `t` goes to: the next inference timestep (`None` after the
    /// last). Fails if `t` is not an inference timestep.
    pub fn previous_timestep(&self, t: usize) -> Result<Option<usize>> {
        self.schedule.alpha_cumprod(t)?;
        self.timesteps.next_in_list(t)
    }

    /// The posterior coefficients of the step from `t`.
    pub fn posterior_coefficients(&self, t: usize) -> Result<PosteriorCoefficients> {
        let prev = self.previous_timestep(t)?;
        let alpha = self.schedule.alpha_cumprod(t)?;
        let alpha_prev = prev.map_or(Ok(1.0), |p| self.schedule.alpha_cumprod(p))?;
        // To the clean level the posterior collapses onto x̂₀: β̃ = 1 − ᾱ_t makes that exact.
        let beta = match prev {
            Some(_) => self.schedule.jump_beta(t, prev)?,
            None => 1.0 - alpha,
        };
        Ok(PosteriorCoefficients {
            alpha_cumprod: alpha,
            alpha_cumprod_prev: alpha_prev,
            beta,
            x0_coefficient: alpha_prev.sqrt() * beta / (1.0 - alpha),
            sample_coefficient: (1.0 - beta).sqrt() * (1.0 - alpha_prev) / (1.0 - alpha),
            variance: ((1.0 - alpha_prev) / (1.0 - alpha) * beta).max(1e-20),
        })
    }

    /// The variance `σ²` of a step from `t` for the fixed variance types (diffusers'
    /// `_get_variance`, returned as a variance for every fixed type); an `InvalidConfig` error
    /// for learned types, whose variance depends on the model output.
    pub fn variance(&self, t: usize) -> Result<f64> {
        let c = self.posterior_coefficients(t)?;
        match self.config.variance_type {
            VarianceType::FixedSmall | VarianceType::FixedSmallLog => Ok(c.variance),
            VarianceType::FixedLarge | VarianceType::FixedLargeLog => Ok(c.beta),
            _ => Err(DiffusionError::config(
                "variance_type",
                "a learned variance depends on the model output: use `posterior`",
            )),
        }
    }

    /// The reverse-step distribution at `t` from the network output (`[N, C, ...]`, or
    /// `[N, 2C, ...]` for learned variance types) and `sample = x_t` (`[N, C, ...]`).
    ///
    /// Errors: [`DiffusionError::TimestepOutOfRange`], [`DiffusionError::InvalidTimesteps`]
    /// (`t` not an inference timestep), [`DiffusionError::ModelOutputShape`],
    /// [`DiffusionError::NonFiniteModelOutput`] (when `check_finite`: the prediction and,
    /// for learned variance types, the variance half) and [`DiffusionError::NoSignalLeft`].
    pub fn posterior<const D: usize>(
        &self,
        model_output: Tensor<D>,
        t: usize,
        sample: Tensor<D>,
    ) -> Result<DdpmPosterior<D>> {
        let (model_output, predicted_variance) = self.split_output(model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, t)?;
            if let Some(variance) = &predicted_variance {
                ensure_finite_output(variance, t)?;
            }
        }
        let c = self.posterior_coefficients(t)?;
        let x0 =
            self.config.prediction_type.x0(model_output, sample.clone(), c.alpha_cumprod, t)?;
        let x0 = self.limit.apply(x0);
        let mean =
            x0.clone().mul_scalar(c.x0_coefficient).add(sample.mul_scalar(c.sample_coefficient));
        let std = match (self.config.variance_type, predicted_variance) {
            (VarianceType::Learned, Some(v)) => StepStd::PerElement(v.clamp_min(1e-20).sqrt()),
            (VarianceType::LearnedRange, Some(v)) => {
                let (min_log, max_log) = (c.variance.ln(), c.beta.ln());
                // ln σ² = min_log + f (max_log − min_log), f = (v + 1) / 2.
                let log_variance =
                    v.add_scalar(1.0).mul_scalar(0.5 * (max_log - min_log)).add_scalar(min_log);
                StepStd::PerElement(log_variance.mul_scalar(0.5).exp())
            }
            (VarianceType::FixedLarge | VarianceType::FixedLargeLog, _) => {
                StepStd::Constant(c.beta.sqrt())
            }
            _ => StepStd::Constant(c.variance.sqrt()),
        };
        Ok(DdpmPosterior { pred_original_sample: x0, mean, std })
    }

    /// One ancestral step: `x_{t'} = μ̃ + σ z` with `z` drawn from `rng` (no noise at `t = 0`).
    /// Same inputs and errors as [`Self::posterior`].
    pub fn step<const D: usize, R: Rng + ?Sized>(
        &self,
        model_output: Tensor<D>,
        t: usize,
        sample: Tensor<D>,
        rng: &mut R,
    ) -> Result<DdpmStepOutput<D>> {
        let posterior = self.posterior(model_output, t, sample)?;
        let mean = posterior.mean;
        let prev_sample = if t > 0 {
            let noise = gaussian_like(&mean, rng)?;
            match posterior.std {
                StepStd::Constant(std) => mean.add(noise.mul_scalar(std)),
                StepStd::PerElement(std) => mean.add(noise.mul(std)),
            }
        } else {
            mean
        };
        Ok(StepOutput { prev_sample, pred_original_sample: posterior.pred_original_sample })
    }

    /// Splits a learned-variance output `[N, 2C, ...]` into prediction and variance part;
    /// other outputs must have the sample's shape.
    fn split_output<const D: usize>(
        &self,
        model_output: Tensor<D>,
        sample: &Tensor<D>,
    ) -> Result<(Tensor<D>, Option<Tensor<D>>)> {
        if !self.config.variance_type.is_learned() {
            ensure_same_shape(&model_output, sample)?;
            return Ok((model_output, None));
        }
        let (got, expected) = (model_output.dims(), sample.dims());
        let channels = expected.get(1).copied().unwrap_or(0);
        let mut doubled = expected;
        if D >= 2 {
            doubled[1] = 2 * channels;
        }
        if D < 2 || got != doubled {
            return Err(DiffusionError::ModelOutputShape {
                sample: expected.to_vec(),
                got: got.to_vec(),
                hint: format!(
                    " (a learned variance type needs 2 x {channels} channels: prediction, then \
                     variance)"
                ),
            });
        }
        medgen_core::check::ensure_non_empty(&expected, "sample")?;
        let prediction = model_output.clone().narrow(1, 0, channels);
        let variance = model_output.narrow(1, channels, channels);
        Ok((prediction, Some(variance)))
    }
}

impl<const D: usize> Scheduler<D> for DdpmScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        DdpmScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        discrete_timesteps(DdpmScheduler::timesteps(self))
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        DdpmScheduler::step(self, model_output, timestep.discrete()?, sample, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{DiffusersRefs, max_abs_error, parse};
    use burn::tensor::Distribution;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn posterior_matches_diffusers() {
        let device = test_device();
        let refs = DiffusersRefs::load();
        let x = refs.tensor(&refs.x, &device);
        let output = refs.tensor(&refs.model_output, &device);
        for case in &refs.ddpm_steps {
            let scheduler = DdpmSchedulerConfig::new()
                .with_variance_type(parse(&case.variance_type))
                .with_clip_sample(false)
                .init()
                .unwrap();
            let what = format!("{} t={}", case.variance_type, case.t);
            let posterior = scheduler.posterior(output.clone(), case.t, x.clone()).unwrap();
            // x̂₀ reaches |376| at t = 999, where float32 spacing is 3e-5: compare relatively.
            let e0 = max_abs_error(posterior.pred_original_sample, &case.pred_original_sample);
            let scale = case.pred_original_sample.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            assert!(e0 <= 1e-6 * scale, "{what}: x0 error {e0:e}");
            let e1 = max_abs_error(posterior.mean, &case.posterior_mean);
            assert!(e1 <= 1e-6, "{what}: posterior mean error {e1:e}");
            let variance = scheduler.variance(case.t).unwrap();
            assert!(
                (variance - case.variance).abs() <= 1e-6,
                "{what}: variance {variance} vs {}",
                case.variance
            );
        }
    }

    #[test]
    fn step_noise_has_the_posterior_variance() {
        let device = test_device();
        let shape = [4, 1, 16, 16];
        let scheduler = DdpmSchedulerConfig::new().with_clip_sample(false).init().unwrap();
        let zeros = Tensor::<4>::zeros(shape, &device);
        let t = 300;
        let out = scheduler.step(zeros.clone(), t, zeros.clone(), &mut seeded_rng(4)).unwrap();
        let var = out.prev_sample.powi_scalar(2).mean().into_scalar::<f32>() as f64;
        let expected = scheduler.variance(t).unwrap();
        assert!((var / expected - 1.0).abs() < 0.15, "{var} vs {expected}");
        let last = scheduler.step(zeros.clone(), 0, zeros, &mut seeded_rng(4)).unwrap();
        assert_eq!(last.prev_sample.abs().max().into_scalar::<f32>(), 0.0);
    }

    #[test]
    fn learned_range_interpolates_between_the_fixed_variances() {
        let device = test_device();
        let scheduler = DdpmSchedulerConfig::new()
            .with_variance_type(VarianceType::LearnedRange)
            .init()
            .unwrap();
        let x = Tensor::<4>::random([1, 1, 2, 2], Distribution::Normal(0.0, 1.0), &device);
        let c = scheduler.posterior_coefficients(500).unwrap();
        for (v, expected) in [(-1.0, c.variance), (1.0, c.beta)] {
            let output =
                Tensor::cat(vec![x.clone(), Tensor::<4>::full([1, 1, 2, 2], v, &device)], 1);
            let posterior = scheduler.posterior(output, 500, x.clone()).unwrap();
            let StepStd::PerElement(std) = posterior.std else {
                panic!("learned variance must be per element");
            };
            let got = std.max().into_scalar::<f32>() as f64;
            assert!((got / expected.sqrt() - 1.0).abs() < 1e-4, "v = {v}");
        }
        let wrong = scheduler.posterior(x.clone(), 500, x);
        assert!(matches!(wrong, Err(DiffusionError::ModelOutputShape { .. })));
        assert!(scheduler.variance(500).is_err());
    }

    #[test]
    fn ancestral_sampling_with_an_x0_oracle_ends_on_x0() {
        let device = test_device();
        let x0 = Tensor::<5>::random([1, 1, 2, 2, 2], Distribution::Uniform(-1.0, 1.0), &device);
        let mut scheduler =
            DdpmSchedulerConfig::new().with_prediction_type(PredictionType::Sample).init().unwrap();
        scheduler.set_custom_timesteps(&[800, 400, 100, 0]).unwrap();
        let mut rng = seeded_rng(9);
        let mut x = medgen_core::noise::gaussian_like(&x0, &mut rng).unwrap();
        for &t in scheduler.timesteps() {
            x = scheduler.step(x0.clone(), t, x, &mut rng).unwrap().prev_sample;
        }
        // The last step (t = 0 → x₀) has x̂₀-coefficient 1, x_t-coefficient 0 and no noise.
        let err = x.sub(x0).abs().max().into_scalar::<f32>();
        assert!(err < 1e-5, "error {err}");
    }

    #[test]
    fn custom_and_spaced_timesteps_chain_steps() {
        let mut scheduler = DdpmSchedulerConfig::new().init().unwrap();
        assert_eq!(scheduler.timesteps().len(), 1000);
        assert_eq!(scheduler.previous_timestep(999).unwrap(), Some(998));
        scheduler.set_custom_timesteps(&[900, 400, 3]).unwrap();
        assert_eq!(scheduler.previous_timestep(400).unwrap(), Some(3));
        assert_eq!(scheduler.previous_timestep(3).unwrap(), None);
        assert!(scheduler.previous_timestep(500).is_err());
        let c = scheduler.posterior_coefficients(900).unwrap();
        let ratio = c.alpha_cumprod / c.alpha_cumprod_prev;
        assert!((c.beta - (1.0 - ratio)).abs() < 1e-6);
        scheduler.set_timesteps(10).unwrap();
        assert_eq!(scheduler.timesteps()[0], 900);
        assert!(scheduler.set_timesteps(0).is_err());
    }
}

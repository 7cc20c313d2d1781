//! DDIM (Song et al., 2021): the non-Markovian reverse process, deterministic at `η = 0`, as
//! diffusers' `DDIMScheduler`.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use rand::Rng;

use crate::error::{DiffusionError, Result};
use crate::prediction::{Denoised, PredictionType, epsilon_from_x0};
use crate::schedule::{BetaSchedule, NoiseSchedule, ScheduleConfig};
use crate::scheduler::{
    Scheduler, StepOutput, Timestep, discrete_timesteps, ensure_finite_output, ensure_same_shape,
};
use crate::threshold::SampleLimit;
use crate::timesteps::{InferenceTimesteps, TimestepSpacing};

/// The output of [`DdimScheduler::step`]: `x_{t_prev}` and `x̂₀`.
pub type DdimStepOutput<const D: usize> = StepOutput<D>;

/// The configuration of a [`DdimScheduler`], with diffusers' option names and defaults, so that
/// a diffusers `scheduler_config.json` translates field by field.
#[derive(Config, Debug)]
pub struct DdimSchedulerConfig {
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
    /// Clamp `x̂₀` to `[−clip_sample_range, clip_sample_range]`.
    #[config(default = true)]
    pub clip_sample: bool,
    /// `ᾱ` after the last step: 1 if true, else `ᾱ_0`.
    #[config(default = true)]
    pub set_alpha_to_one: bool,
    /// Offset added to the leading-spaced timesteps.
    #[config(default = 0)]
    pub steps_offset: usize,
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// DDIM's stochasticity `η ∈ [0, 1]`: 0 is deterministic DDIM, 1 DDPM-like ancestral
    /// sampling (diffusers passes it to `step`; here it is part of the configuration).
    #[config(default = 0.0)]
    pub eta: f64,
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
    /// Rescale the betas to zero terminal SNR.
    #[config(default = false)]
    pub rescale_betas_zero_snr: bool,
    /// medgen addition: check every model output for NaN/Inf in `step` (one scalar read back
    /// per step; turn off in benchmarks).
    #[config(default = true)]
    pub check_finite: bool,
}

impl DdimSchedulerConfig {
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

    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    pub fn init(&self) -> Result<DdimScheduler> {
        let schedule = self.schedule_config().init()?;
        let limit = SampleLimit::from_options(
            self.clip_sample,
            self.clip_sample_range,
            self.thresholding,
            self.dynamic_thresholding_ratio,
            self.sample_max_value,
        )?;
        Ok(DdimScheduler {
            config: self.clone(),
            schedule,
            limit,
            timesteps: None,
            eta: checked_eta(self.eta)?,
            use_clipped_model_output: false,
        })
    }
}

/// diffusers' `DDIMScheduler`: from `x_t`, with `x̂₀` and `ε̂` from the model output,
///
/// `x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ_t²) ε̂ + σ_t z`,
/// `σ_t = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'})`, `z ~ N(0, I)`,
///
/// where `t' = t − ⌊T/n⌋` is the previous timestep (`ᾱ_{t'}` = 1 or `ᾱ_0` past the end, see
/// `set_alpha_to_one`). `η = 0` is deterministic DDIM, `η = 1` DDPM-like ancestral sampling.
#[derive(Clone, Debug)]
pub struct DdimScheduler {
    config: DdimSchedulerConfig,
    schedule: NoiseSchedule,
    limit: SampleLimit,
    timesteps: Option<InferenceTimesteps>,
    eta: f64,
    use_clipped_model_output: bool,
}

impl DdimScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &DdimSchedulerConfig {
        &self.config
    }

    /// The noise schedule (`β`, `ᾱ`, SNR).
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// `ᾱ` of the level after the last step (1 with `set_alpha_to_one`, else `ᾱ_0`).
    pub fn final_alpha_cumprod(&self) -> f64 {
        if self.config.set_alpha_to_one { 1.0 } else { self.schedule.alphas_cumprod()[0] }
    }

    /// Chooses `num_inference_steps` timesteps by the configured spacing and offset.
    /// Fails with [`DiffusionError::InvalidStepCount`] for 0 or more than `T` steps.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.timesteps = Some(InferenceTimesteps::spaced(
            self.config.timestep_spacing,
            self.config.num_train_timesteps,
            num_inference_steps,
            self.config.steps_offset,
        )?);
        Ok(())
    }

    /// Uses a custom decreasing list of timesteps; each step then goes to the next listed
    /// timestep (the last to the final level).
    pub fn set_custom_timesteps(&mut self, timesteps: &[usize]) -> Result<()> {
        self.timesteps =
            Some(InferenceTimesteps::custom(timesteps, self.config.num_train_timesteps)?);
        Ok(())
    }

    /// The standard deviation of the initial noise `x_T ~ N(0, I)`: 1.
    pub fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    /// The inference timesteps, decreasing (empty before `set_timesteps`).
    pub fn timesteps(&self) -> &[usize] {
        self.timesteps.as_ref().map_or(&[], InferenceTimesteps::as_slice)
    }

    /// The `η` of every step (from [`DdimSchedulerConfig::eta`], default 0).
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// Sets the `η` of every following step; fails unless `0 ≤ η ≤ 1`.
    pub fn set_eta(&mut self, eta: f64) -> Result<()> {
        self.eta = checked_eta(eta)?;
        Ok(())
    }

    /// diffusers' `use_clipped_model_output` (default false): after clipping or thresholding
    /// `x̂₀`, recompute `ε̂ = (x_t − √ᾱ_t x̂₀)/√(1−ᾱ_t)` from the limited `x̂₀`.
    pub fn set_use_clipped_model_output(&mut self, enabled: bool) {
        self.use_clipped_model_output = enabled;
    }

    /// The timestep a step from `t` goes to (`None`: the final level), diffusers' rule
    /// `t − ⌊T/n⌋`.
    pub fn previous_timestep(&self, t: usize) -> Result<Option<usize>> {
        self.inference_timesteps()?.ddim_previous(t)
    }

    /// The noise level a step from `t` reaches: a timestep, or `None` for `ᾱ = 1`
    /// (past the last timestep, `set_alpha_to_one` gives `ᾱ = 1` and otherwise `ᾱ_0`).
    fn level_after(&self, t: usize) -> Result<Option<usize>> {
        let prev = self.previous_timestep(t)?;
        Ok(prev.or(if self.config.set_alpha_to_one { None } else { Some(0) }))
    }

    /// `ᾱ` of a noise level (`None`: 1).
    fn level_alpha(&self, level: Option<usize>) -> Result<f64> {
        level.map_or(Ok(1.0), |l| self.schedule.alpha_cumprod(l))
    }

    /// DDIM's `σ_t / η = √((1−ᾱ_{t'})/(1−ᾱ_t) · β̃)` with `β̃ = 1 − ᾱ_t/ᾱ_{t'}` from
    /// [`NoiseSchedule::jump_beta`].
    fn unit_sigma(&self, t: usize, level: Option<usize>) -> Result<f64> {
        let beta = match level {
            Some(l) if l >= t => 0.0,
            _ => self.schedule.jump_beta(t, level)?,
        };
        let (alpha_t, alpha_prev) = (self.schedule.alpha_cumprod(t)?, self.level_alpha(level)?);
        Ok(((1.0 - alpha_prev) / (1.0 - alpha_t) * beta).max(0.0).sqrt())
    }

    fn inference_timesteps(&self) -> Result<&InferenceTimesteps> {
        self.timesteps.as_ref().ok_or(DiffusionError::TimestepsNotSet)
    }

    /// One DDIM step from `sample = x_t` (`[N, C, ...]`, any rank) given the network output at
    /// `t` (same shape), with the scheduler's stochasticity `η ∈ [0, 1]`
    /// ([`DdimSchedulerConfig::eta`], [`Self::set_eta`]); noise is drawn from `rng` only when
    /// `η > 0`. Returns `x_{t'}` and `x̂₀` (after clipping/thresholding).
    ///
    /// Errors: [`DiffusionError::TimestepsNotSet`], [`DiffusionError::TimestepOutOfRange`],
    /// [`DiffusionError::ModelOutputShape`], [`DiffusionError::NonFiniteModelOutput`] (when
    /// `check_finite`), an `InvalidConfig` error for `η` outside `[0, 1]`, and
    /// [`DiffusionError::NoSignalLeft`] for an epsilon model at `ᾱ_t = 0`.
    pub fn step<const D: usize, R: Rng + ?Sized>(
        &self,
        model_output: Tensor<D>,
        t: usize,
        sample: Tensor<D>,
        rng: &mut R,
    ) -> Result<DdimStepOutput<D>> {
        let eta = self.eta;
        let alpha_t = self.schedule.alpha_cumprod(t)?;
        let level = self.level_after(t)?;
        let alpha_prev = self.level_alpha(level)?;
        let sigma = if eta > 0.0 { eta * self.unit_sigma(t, level)? } else { 0.0 };
        let output = self.transition(model_output, t, sample, alpha_t, alpha_prev, sigma)?;
        if sigma > 0.0 {
            let noise = gaussian_like(&output.prev_sample, rng)?;
            return Ok(StepOutput {
                prev_sample: output.prev_sample.add(noise.mul_scalar(sigma)),
                ..output
            });
        }
        Ok(output)
    }

    /// One step of DDIM inversion (diffusers' `DDIMInverseScheduler.step`): from `sample` at the
    /// level a forward step from `t` would reach (`ᾱ_{t'}`), to the noisier level `ᾱ_t`, with
    /// the network evaluated at `t`: `x_t = √ᾱ_t x̂₀ + √(1−ᾱ_t) ε̂`, where `x̂₀` and `ε̂` are
    /// read from the model output at `ᾱ_{t'}`. Deterministic; same errors as [`Self::step`].
    pub fn inverse_step<const D: usize>(
        &self,
        model_output: Tensor<D>,
        t: usize,
        sample: Tensor<D>,
    ) -> Result<DdimStepOutput<D>> {
        let alpha_t = self.schedule.alpha_cumprod(t)?;
        let alpha_from = self.level_alpha(self.level_after(t)?)?;
        self.transition(model_output, t, sample, alpha_from, alpha_t, 0.0)
    }

    /// The deterministic part of a DDIM move from a sample at level `alpha_from` to level
    /// `alpha_to`: `√ᾱ_to x̂₀ + √(1 − ᾱ_to − σ²) ε̂`.
    fn transition<const D: usize>(
        &self,
        model_output: Tensor<D>,
        t: usize,
        sample: Tensor<D>,
        alpha_from: f64,
        alpha_to: f64,
        sigma: f64,
    ) -> Result<DdimStepOutput<D>> {
        ensure_same_shape(&model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, t)?;
        }
        let Denoised { x0, epsilon } =
            self.config.prediction_type.denoise(model_output, sample.clone(), alpha_from, t)?;
        let x0 = self.limit.apply(x0);
        let epsilon = if self.use_clipped_model_output && self.limit != SampleLimit::Unlimited {
            epsilon_from_x0(sample, x0.clone(), alpha_from)
        } else {
            epsilon
        };
        let direction = (1.0 - alpha_to - sigma * sigma).max(0.0).sqrt();
        let prev_sample = x0.clone().mul_scalar(alpha_to.sqrt()).add(epsilon.mul_scalar(direction));
        Ok(StepOutput { prev_sample, pred_original_sample: x0 })
    }
}

fn checked_eta(eta: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&eta) {
        Ok(eta)
    } else {
        Err(DiffusionError::config("eta", format!("must lie in [0, 1], got {eta}")))
    }
}

impl<const D: usize> Scheduler<D> for DdimScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        DdimScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        discrete_timesteps(DdimScheduler::timesteps(self))
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        DdimScheduler::step(self, model_output, timestep.discrete()?, sample, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{DiffusersRefs, max_abs_error, parse};
    use burn::tensor::{Distribution, Tensor};
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn steps_match_diffusers_for_every_prediction_type() {
        let device = test_device();
        let refs = DiffusersRefs::load();
        let x = refs.tensor(&refs.x, &device);
        let output = refs.tensor(&refs.model_output, &device);
        for case in &refs.ddim_steps {
            let mut scheduler = DdimSchedulerConfig::new()
                .with_beta_schedule(parse(&case.beta_schedule))
                .with_prediction_type(parse(&case.prediction_type))
                .with_timestep_spacing(parse(&case.timestep_spacing))
                .with_steps_offset(case.steps_offset)
                .with_set_alpha_to_one(case.set_alpha_to_one)
                .with_clip_sample(false)
                .with_eta(case.eta)
                .init()
                .unwrap();
            scheduler.set_timesteps(case.num_inference_steps).unwrap();
            let got =
                scheduler.step(output.clone(), case.t, x.clone(), &mut seeded_rng(0)).unwrap();
            let what = format!("{} t={}", case.prediction_type, case.t);
            let e0 = max_abs_error(got.pred_original_sample, &case.pred_original_sample);
            assert!(e0 <= 1e-5, "{what}: x0 error {e0:e}");
            let e1 = max_abs_error(got.prev_sample, &case.prev_sample);
            assert!(e1 <= 1e-5, "{what}: prev_sample error {e1:e}");
        }
    }

    /// `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε` for a fixed `ε`, so an oracle returning `ε` is exact.
    fn noised(x0: &Tensor<5>, noise: &Tensor<5>, alpha: f64) -> Tensor<5> {
        x0.clone().mul_scalar(alpha.sqrt()).add(noise.clone().mul_scalar((1.0 - alpha).sqrt()))
    }

    #[test]
    fn deterministic_sampling_with_an_exact_noise_model_recovers_x0_in_3d() {
        let device = test_device();
        let x0 = Tensor::<5>::random([1, 1, 2, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<5>::random([1, 1, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(10).unwrap();
        let first = scheduler.timesteps()[0];
        let mut x = noised(&x0, &noise, scheduler.schedule().alphas_cumprod()[first]);
        let mut rng = seeded_rng(1);
        for &t in scheduler.timesteps() {
            let out = scheduler.step(noise.clone(), t, x, &mut rng).unwrap();
            let x0_err = out.pred_original_sample.sub(x0.clone()).abs().max();
            assert!(x0_err.into_scalar::<f32>() < 1e-4, "t = {t}");
            x = out.prev_sample;
        }
        let err = x.sub(x0).abs().max().into_scalar::<f32>();
        assert!(err < 1e-4, "reconstruction error {err}");
    }

    #[test]
    fn stochastic_steps_add_noise_of_the_ddim_variance() {
        let device = test_device();
        let shape = [4, 1, 16, 16];
        let x = Tensor::<4>::zeros(shape, &device);
        let eps = Tensor::<4>::zeros(shape, &device);
        let mut scheduler = DdimSchedulerConfig::new().with_clip_sample(false).init().unwrap();
        scheduler.set_timesteps(10).unwrap();
        let t = 500;
        let (a_t, a_prev) = (
            scheduler.schedule().alphas_cumprod()[t],
            scheduler.schedule().alphas_cumprod()[t - 100],
        );
        let expected_var = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
        let deterministic = scheduler.step(eps.clone(), t, x.clone(), &mut seeded_rng(2)).unwrap();
        scheduler.set_eta(1.0).unwrap();
        let stochastic = scheduler.step(eps, t, x, &mut seeded_rng(2)).unwrap();
        let diff = stochastic.prev_sample.sub(deterministic.prev_sample);
        let var = diff.powi_scalar(2).mean().into_scalar::<f32>() as f64;
        assert!((var / expected_var - 1.0).abs() < 0.15, "{var} vs {expected_var}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let x = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        let mut rng = seeded_rng(0);
        assert!(matches!(
            scheduler.step(x.clone(), 1, x.clone(), &mut rng),
            Err(DiffusionError::TimestepsNotSet)
        ));
        assert!(matches!(scheduler.set_timesteps(0), Err(DiffusionError::InvalidStepCount { .. })));
        assert!(matches!(
            scheduler.set_timesteps(1001),
            Err(DiffusionError::InvalidStepCount { .. })
        ));
        scheduler.set_timesteps(10).unwrap();
        assert!(matches!(
            scheduler.step(x.clone(), 1000, x.clone(), &mut rng),
            Err(DiffusionError::TimestepOutOfRange { timestep: 1000, .. })
        ));
        let wrong = Tensor::<4>::zeros([1, 2, 2, 2], &device);
        assert!(matches!(
            scheduler.step(wrong, 900, x.clone(), &mut rng),
            Err(DiffusionError::ModelOutputShape { .. })
        ));
        let nan = Tensor::<4>::full([1, 1, 2, 2], f32::NAN, &device);
        assert!(matches!(
            scheduler.step(nan, 900, x.clone(), &mut rng),
            Err(DiffusionError::NonFiniteModelOutput { timestep: 900 })
        ));
        assert!(scheduler.set_eta(1.5).is_err());
        assert!(DdimSchedulerConfig::new().with_eta(-0.1).init().is_err());
        assert!(DdimSchedulerConfig::new().with_clip_sample_range(-1.0).init().is_err());
    }

    #[test]
    fn clipped_model_output_recomputes_the_noise() {
        let device = test_device();
        let x = Tensor::<4>::full([1, 1, 1, 2], 3.0, &device);
        let eps = Tensor::<4>::zeros([1, 1, 1, 2], &device);
        let mut scheduler = DdimSchedulerConfig::new().init().unwrap();
        scheduler.set_timesteps(10).unwrap();
        scheduler.set_use_clipped_model_output(true);
        let (a_t, a_prev) = (
            scheduler.schedule().alphas_cumprod()[900],
            scheduler.schedule().alphas_cumprod()[800],
        );
        let out = scheduler.step(eps, 900, x, &mut seeded_rng(0)).unwrap();
        // x̂₀ = 3/√ᾱ_t clips to 1, so ε̂ = (3 − √ᾱ_t)/√(1−ᾱ_t).
        let eps_clipped = (3.0 - a_t.sqrt()) / (1.0 - a_t).sqrt();
        let expected = (a_prev.sqrt() + (1.0 - a_prev).sqrt() * eps_clipped) as f32;
        let got = out.prev_sample.try_into_vec_as::<f32>().unwrap();
        assert!(got.iter().all(|&g| (g - expected).abs() < 1e-5), "{got:?} vs {expected}");
    }

    #[test]
    fn zero_terminal_snr_needs_a_v_or_sample_model() {
        let device = test_device();
        let x = Tensor::<4>::ones([1, 1, 2, 2], &device);
        let v = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
        let config = DdimSchedulerConfig::new()
            .with_rescale_betas_zero_snr(true)
            .with_timestep_spacing(TimestepSpacing::Trailing)
            .with_clip_sample(false);
        let mut eps_model = config.init().unwrap();
        eps_model.set_timesteps(4).unwrap();
        assert_eq!(eps_model.timesteps()[0], 999);
        let err = eps_model.step(v.clone(), 999, x.clone(), &mut seeded_rng(0));
        assert!(matches!(err, Err(DiffusionError::NoSignalLeft { timestep: 999 })));
        let mut v_model = config.with_prediction_type(PredictionType::VPrediction).init().unwrap();
        v_model.set_timesteps(4).unwrap();
        // ᾱ_999 = 0: x̂₀ = −v and ε̂ = x_t.
        let out = v_model.step(v, 999, x, &mut seeded_rng(0)).unwrap();
        let x0 = out.pred_original_sample.try_into_vec_as::<f32>().unwrap();
        assert!(x0.iter().all(|&e| (e + 0.5).abs() < 1e-6));
        let a = v_model.schedule().alphas_cumprod()[749];
        let expected = (-0.5 * a.sqrt() + (1.0 - a).sqrt()) as f32;
        let prev = out.prev_sample.try_into_vec_as::<f32>().unwrap();
        assert!(prev.iter().all(|&e| (e - expected).abs() < 1e-5));
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = DdimSchedulerConfig::new()
            .with_beta_schedule(BetaSchedule::ScaledLinear)
            .with_prediction_type(PredictionType::VPrediction)
            .with_timestep_spacing(TimestepSpacing::Trailing);
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"beta_schedule\":\"scaled_linear\""));
        assert!(json.contains("\"prediction_type\":\"v_prediction\""));
        assert!(json.contains("\"timestep_spacing\":\"trailing\""));
        let back: DdimSchedulerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.beta_schedule, BetaSchedule::ScaledLinear);
        assert_eq!(back.timestep_spacing, TimestepSpacing::Trailing);
    }
}

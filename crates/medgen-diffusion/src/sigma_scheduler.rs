//! Fast deterministic samplers of the probability-flow ODE on a sigma grid: Euler, Heun
//! (Karras et al., 2022) and DPM-Solver++ 2M (Lu et al., 2022) as k-diffusion's
//! `sample_dpmpp_2m` takes it on the same grid, optionally on Karras sigmas. For diffusers'
//! `DPMSolverMultistepScheduler`, with its own timestep grid, see
//! [`DpmSolverMultistepScheduler`](crate::DpmSolverMultistepScheduler).
//!
//! The sample lives at scale `x = x₀ + σ ε` (the model sees `x / √(σ²+1)`), and the ODE is
//! `dx/dσ = (x − D(x; σ)) / σ` with `D` the model's `x̂₀`.

use burn::config::Config;
use burn::tensor::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, ScheduleConfig};
use crate::scheduler::{Scheduler, StepOutput, Timestep, ensure_finite_output, ensure_same_shape};
use crate::sigmas::{LogSigmaTable, SigmaGrid};

/// The ODE solver of a [`SigmaScheduler`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigmaSolver {
    /// Euler: `x_{i+1} = x_i + (σ_{i+1} − σ_i) d_i`, `d_i = (x_i − D(x_i; σ_i)) / σ_i`;
    /// `n` evaluations for `n` steps (diffusers' `EulerDiscreteScheduler`).
    #[default]
    #[serde(rename = "euler")]
    Euler,
    /// Heun's second-order method: an Euler predictor `x̃`, then
    /// `x_{i+1} = x_i + (σ_{i+1} − σ_i)(d_i + d̃)/2` with `d̃` at `(x̃, σ_{i+1})`; the last step
    /// (to `σ = 0`) is Euler, so `2n − 1` evaluations (diffusers' `HeunDiscreteScheduler`).
    #[serde(rename = "heun")]
    Heun,
    /// DPM-Solver++ 2M: with `h = ln(σ_i/σ_{i+1})`, `r = ln(σ_{i−1}/σ_i)/h`,
    /// `x_{i+1} = (σ_{i+1}/σ_i) x_i − expm1(−h) D̃`, `D̃ = (1 + 1/2r) D_i − D_{i−1}/2r`
    /// (first order at the first and last step); `n` evaluations on the Euler grid
    /// (k-diffusion's `sample_dpmpp_2m`; diffusers' `DPMSolverMultistepScheduler` builds
    /// another grid: [`DpmSolverMultistepScheduler`](crate::DpmSolverMultistepScheduler)).
    #[serde(rename = "dpmsolver++_2m")]
    DpmSolverPlusPlus2M,
}

/// The configuration of a [`SigmaScheduler`] (diffusers' names where they exist).
#[derive(Config, Debug)]
pub struct SigmaSchedulerConfig {
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
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// The ODE solver.
    #[config(default = "SigmaSolver::Euler")]
    pub solver: SigmaSolver,
    /// Karras sigmas (`ρ = 7`) instead of evenly spaced timesteps.
    #[config(default = false)]
    pub use_karras_sigmas: bool,
    /// Check every model output for NaN/Inf in `step` (one scalar read back per step).
    #[config(default = true)]
    pub check_finite: bool,
}

impl SigmaSchedulerConfig {
    /// Validates the configuration and builds the scheduler (timesteps not yet set).
    pub fn init(&self) -> Result<SigmaScheduler> {
        let schedule = ScheduleConfig::flat(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.clone(),
        )?;
        Ok(SigmaScheduler {
            config: self.clone(),
            table: LogSigmaTable::new(&schedule)?,
            grid: None,
            steps: Vec::new(),
            state: None,
        })
    }
}

/// One network evaluation of a [`SigmaScheduler`] run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigmaStep {
    /// The grid interval `i` (`σ_i → σ_{i+1}`) this evaluation belongs to.
    pub interval: usize,
    /// Whether this is Heun's corrector evaluation (at `σ_{i+1}`).
    pub corrector: bool,
    /// The noise level the network is evaluated at.
    pub sigma: f64,
    /// The fractional timestep of `sigma`, fed to the network.
    pub time: f64,
}

/// What a multi-stage or multistep solver remembers between evaluations, flattened so that
/// the scheduler does not depend on the tensor rank.
#[derive(Clone, Debug)]
struct Memory {
    /// Heun: the sample at `σ_i`; DPM-Solver++: unused.
    sample: Option<Tensor<1>>,
    /// Heun: the derivative `d_i`; DPM-Solver++: the previous `x̂₀`.
    value: Tensor<1>,
    dims: Vec<usize>,
}

impl Memory {
    fn new<const D: usize>(sample: Option<Tensor<D>>, value: Tensor<D>) -> Self {
        let dims = value.dims().to_vec();
        Self { sample: sample.map(|s| s.flatten(0, D - 1)), value: value.flatten(0, D - 1), dims }
    }

    fn unflatten<const D: usize>(&self, flat: Tensor<1>) -> Result<Tensor<D>> {
        let dims: [usize; D] = self.dims.clone().try_into().map_err(|_| {
            DiffusionError::config("sample", "the rank changed between solver steps")
        })?;
        Ok(flat.reshape(dims))
    }
}

/// Euler, Heun or DPM-Solver++ 2M on a sigma grid (see [`SigmaSolver`]); deterministic.
#[derive(Clone, Debug)]
pub struct SigmaScheduler {
    config: SigmaSchedulerConfig,
    table: LogSigmaTable,
    grid: Option<SigmaGrid>,
    steps: Vec<SigmaStep>,
    state: Option<Memory>,
}

impl SigmaScheduler {
    /// The configuration the scheduler was built from.
    pub fn config(&self) -> &SigmaSchedulerConfig {
        &self.config
    }

    /// The sigma grid of the current run (`None` before `set_timesteps`).
    pub fn grid(&self) -> Option<&SigmaGrid> {
        self.grid.as_ref()
    }

    /// `x̂₀ = D(x; σ)` from the model output at `x` (VE scale), through the VP view
    /// `x / √(σ²+1)` with `ᾱ = 1/(σ²+1)`.
    fn denoise<const D: usize>(
        &self,
        model_output: Tensor<D>,
        sample: Tensor<D>,
        step: SigmaStep,
    ) -> Result<Tensor<D>> {
        let scale = (step.sigma * step.sigma + 1.0).sqrt();
        self.config.prediction_type.x0(
            model_output,
            sample.div_scalar(scale),
            1.0 / (scale * scale),
            step.time.round() as usize,
        )
    }

    fn euler<const D: usize>(x: Tensor<D>, derivative: Tensor<D>, dt: f64) -> Tensor<D> {
        x.add(derivative.mul_scalar(dt))
    }

    fn heun_step<const D: usize>(
        &mut self,
        x: Tensor<D>,
        x0: Tensor<D>,
        step: SigmaStep,
        sigma: f64,
        sigma_next: f64,
    ) -> Result<Tensor<D>> {
        let derivative = x.clone().sub(x0).div_scalar(step.sigma);
        if !step.corrector {
            let predicted = Self::euler(x.clone(), derivative.clone(), sigma_next - sigma);
            self.state = (sigma_next > 0.0).then(|| Memory::new(Some(x), derivative));
            return Ok(predicted);
        }
        let memory = self.state.take().ok_or_else(|| {
            DiffusionError::config("timestep", "Heun corrector without a predictor step")
        })?;
        let start_flat = memory.sample.clone().ok_or_else(|| {
            DiffusionError::config("timestep", "Heun corrector without a predictor step")
        })?;
        let start: Tensor<D> = memory.unflatten(start_flat)?;
        let first: Tensor<D> = memory.unflatten(memory.value.clone())?;
        let mean = first.add(derivative).mul_scalar(0.5);
        Ok(Self::euler(start, mean, sigma_next - sigma))
    }

    fn dpm_step<const D: usize>(
        &mut self,
        x: Tensor<D>,
        x0: Tensor<D>,
        interval: usize,
        sigmas: &[f64],
    ) -> Result<Tensor<D>> {
        let (sigma, sigma_next) = (sigmas[interval], sigmas[interval + 1]);
        let previous = if interval == 0 { None } else { self.state.take() };
        self.state = Some(Memory::new(None, x0.clone()));
        if sigma_next == 0.0 {
            return Ok(x0);
        }
        let h = (sigma / sigma_next).ln();
        let denoised = match previous {
            Some(memory) => {
                let old: Tensor<D> = memory.unflatten(memory.value.clone())?;
                let r = (sigmas[interval - 1] / sigma).ln() / h;
                let w = 0.5 / r;
                x0.mul_scalar(1.0 + w).sub(old.mul_scalar(w))
            }
            None => x0,
        };
        Ok(x.mul_scalar(sigma_next / sigma).sub(denoised.mul_scalar((-h).exp_m1())))
    }
}

impl SigmaScheduler {
    /// Chooses `num_inference_steps` intervals of the sigma grid (Karras or evenly spaced
    /// timesteps); Heun adds a corrector evaluation to every interval but the last.
    /// Fails with [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`.
    pub fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        let grid = SigmaGrid::new(&self.table, num_inference_steps, self.config.use_karras_sigmas)?;
        let mut steps = Vec::new();
        for (interval, (&sigma, &time)) in grid.sigmas.iter().zip(&grid.times).enumerate() {
            steps.push(SigmaStep { interval, corrector: false, sigma, time });
            let next = grid.sigmas[interval + 1];
            if self.config.solver == SigmaSolver::Heun && next > 0.0 {
                steps.push(SigmaStep {
                    interval,
                    corrector: true,
                    sigma: next,
                    time: grid.times[interval + 1],
                });
            }
        }
        self.steps = steps;
        self.grid = Some(grid);
        self.state = None;
        Ok(())
    }

    /// The network evaluations of the current run, in order (empty before
    /// [`Self::set_timesteps`]).
    pub fn timesteps(&self) -> &[SigmaStep] {
        &self.steps
    }

    /// One solver step from `sample` at the grid point `timestep` (one of
    /// [`Self::timesteps`]) given the network output there (shapes `[N, C, ...]`, any rank).
    /// Deterministic.
    ///
    /// # Errors
    /// [`DiffusionError::TimestepsNotSet`], [`DiffusionError::InvalidTimesteps`] for a step
    /// that is not on the grid, [`DiffusionError::ModelOutputShape`] and
    /// [`DiffusionError::NonFiniteModelOutput`].
    pub fn step<const D: usize>(
        &mut self,
        model_output: Tensor<D>,
        timestep: SigmaStep,
        sample: Tensor<D>,
    ) -> Result<StepOutput<D>> {
        let sigmas = self.grid.as_ref().ok_or(DiffusionError::TimestepsNotSet)?.sigmas.clone();
        let interval = timestep.interval;
        if interval + 1 >= sigmas.len() {
            return Err(DiffusionError::TimestepOutOfRange {
                timestep: interval,
                num_train_timesteps: sigmas.len() - 1,
            });
        }
        let expected_sigma = sigmas[interval + usize::from(timestep.corrector)];
        if timestep.sigma != expected_sigma {
            return Err(DiffusionError::InvalidTimesteps {
                timesteps: vec![interval],
                reason: format!(
                    "sigma {} is not the grid's sigma {expected_sigma} for this step: pass the \
                     values of `timesteps()`",
                    timestep.sigma
                ),
            });
        }
        ensure_same_shape(&model_output, &sample)?;
        if self.config.check_finite {
            ensure_finite_output(&model_output, timestep.time.round() as usize)?;
        }
        let x0 = self.denoise(model_output, sample.clone(), timestep)?;
        let (sigma, sigma_next) = (sigmas[interval], sigmas[interval + 1]);
        let prev_sample = match self.config.solver {
            SigmaSolver::Euler => {
                let derivative = sample.clone().sub(x0.clone()).div_scalar(sigma);
                Self::euler(sample, derivative, sigma_next - sigma)
            }
            SigmaSolver::Heun => self.heun_step(sample, x0.clone(), timestep, sigma, sigma_next)?,
            SigmaSolver::DpmSolverPlusPlus2M => {
                self.dpm_step(sample, x0.clone(), interval, &sigmas)?
            }
        };
        Ok(StepOutput { prev_sample, pred_original_sample: x0 })
    }

    /// `√(σ_0² + 1)`: the standard deviation of `x₀ + σ_0 ε` for unit-variance data (1 before
    /// `set_timesteps`).
    pub fn init_noise_sigma(&self) -> f64 {
        self.grid.as_ref().map_or(1.0, |g| (g.sigmas[0] * g.sigmas[0] + 1.0).sqrt())
    }
}

impl<const D: usize> Scheduler<D> for SigmaScheduler {
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        SigmaScheduler::set_timesteps(self, num_inference_steps)
    }

    fn timesteps(&self) -> Vec<Timestep> {
        self.steps.iter().map(|&step| Timestep::Sigma(step)).collect()
    }

    /// `x / √(σ²+1)`: the VP sample the network was trained on (unscaled for an integer
    /// timestep, which a sigma scheduler never visits).
    fn scale_model_input(&self, sample: Tensor<D>, timestep: Timestep) -> Tensor<D> {
        match timestep {
            Timestep::Sigma(step) => sample.div_scalar((step.sigma * step.sigma + 1.0).sqrt()),
            Timestep::Discrete(_) => sample,
        }
    }

    fn step(
        &mut self,
        model_output: Tensor<D>,
        timestep: Timestep,
        sample: Tensor<D>,
        _rng: &mut dyn Rng,
    ) -> Result<StepOutput<D>> {
        SigmaScheduler::step(self, model_output, timestep.sigma_step()?, sample)
    }

    fn init_noise_sigma(&self) -> f64 {
        SigmaScheduler::init_noise_sigma(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guidance::GuidanceConfig;
    use crate::sampling::sample;
    use burn::tensor::Tensor;
    use medgen_core::{Condition, seeded_rng};
    use medgen_testing::test_device;

    const MEAN: f64 = 0.3;
    const STD: f64 = 0.5;

    /// Gaussian data `x₀ ~ N(μ, s²)`: the exact denoiser is `D(y; σ) = μ + s²/(s²+σ²)(y − μ)`
    /// and the probability-flow ODE keeps `(y − μ)/√(s²+σ²)` constant, so the exact solution
    /// from `y_0` at `σ_0` is `μ + (y_0 − μ) s / √(s²+σ_0²)`.
    fn exact_noise_model(
        table: LogSigmaTable,
    ) -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> medgen_core::Result<Tensor<4>> {
        move |x_vp: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            // Test oracle only: reads the (uniform) time back to the host.
            let time = t.slice(0..1).into_scalar::<f32>() as f64;
            let sigma = table.t_to_sigma(time);
            let scale = (sigma * sigma + 1.0).sqrt();
            let y = x_vp.clone().mul_scalar(scale);
            let x0 = y
                .sub_scalar(MEAN)
                .mul_scalar(STD * STD / (STD * STD + sigma * sigma))
                .add_scalar(MEAN);
            // ε = (x_vp − √ᾱ x̂₀)/√(1−ᾱ) with √ᾱ = 1/scale, √(1−ᾱ) = σ/scale.
            Ok(x_vp.sub(x0.div_scalar(scale)).mul_scalar(scale / sigma))
        }
    }

    fn solve(solver: SigmaSolver, karras: bool, steps: usize) -> (f32, usize) {
        let device = test_device();
        let mut scheduler = SigmaSchedulerConfig::new()
            .with_solver(solver)
            .with_use_karras_sigmas(karras)
            .init()
            .unwrap();
        scheduler.set_timesteps(steps).unwrap();
        let sigma0 = scheduler.grid().unwrap().sigmas[0];
        let start = medgen_core::noise::gaussian_noise([1, 1, 2, 2], &mut seeded_rng(7), &device)
            .unwrap()
            .mul_scalar(scheduler.init_noise_sigma());
        let expected = start
            .clone()
            .sub_scalar(MEAN)
            .mul_scalar(STD / (STD * STD + sigma0 * sigma0).sqrt())
            .add_scalar(MEAN);
        let model = exact_noise_model(scheduler.table.clone());
        let out = sample(
            &model,
            &mut scheduler,
            start,
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(0),
        )
        .unwrap();
        let err = out.sample.sub(expected).abs().max().into_scalar::<f32>();
        (err, out.nfe)
    }

    #[test]
    fn heun_and_dpm_solver_converge_to_the_ode_solution() {
        // (solver, Karras sigmas, least error reduction for 4x the steps, largest error at 64)
        // Second-order solvers gain about 16x, Euler about 4x.
        for (solver, karras, min_gain, max_error) in [
            (SigmaSolver::Heun, true, 8.0, 5e-3),
            (SigmaSolver::Heun, false, 8.0, 5e-3),
            (SigmaSolver::DpmSolverPlusPlus2M, true, 8.0, 5e-3),
            (SigmaSolver::DpmSolverPlusPlus2M, false, 6.0, 3e-2),
            (SigmaSolver::Euler, true, 3.0, 3e-2),
        ] {
            let (coarse, nfe_coarse) = solve(solver, karras, 16);
            let (fine, nfe_fine) = solve(solver, karras, 64);
            let nfe = |n: usize| {
                if solver == SigmaSolver::Heun { 2 * n - 1 } else { n }
            };
            assert_eq!((nfe_coarse, nfe_fine), (nfe(16), nfe(64)));
            assert!(
                fine <= max_error && coarse >= min_gain * fine,
                "{solver:?} karras={karras}: error {coarse:e} at 16 steps, {fine:e} at 64"
            );
        }
    }

    #[test]
    fn step_needs_timesteps_and_matching_shapes() {
        let device = test_device();
        let mut scheduler = SigmaSchedulerConfig::new().init().unwrap();
        let x = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let step = SigmaStep { interval: 0, corrector: false, sigma: 1.0, time: 500.0 };
        assert!(matches!(
            scheduler.step(x.clone(), step, x.clone()),
            Err(DiffusionError::TimestepsNotSet)
        ));
        scheduler.set_timesteps(4).unwrap();
        assert!(matches!(
            scheduler.step(x.clone(), step, x.clone()),
            Err(DiffusionError::InvalidTimesteps { .. })
        ));
        let step = scheduler.timesteps()[0];
        let wrong = Tensor::<4>::zeros([1, 2, 2, 2], &device);
        assert!(matches!(
            scheduler.step(wrong, step, x),
            Err(DiffusionError::ModelOutputShape { .. })
        ));
        assert!(scheduler.set_timesteps(0).is_err());
    }
}

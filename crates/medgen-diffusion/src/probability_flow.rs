//! Probability-flow ODE sampling of a discrete-time VP diffusion model through medgen-core's ODE
//! integrators ([`OdeSolver`]: Euler, Midpoint, Heun, RK4, adaptive Dopri5).
//!
//! # Continuous time from the discrete schedule
//!
//! The schedule defines `ᾱ_k` only at the training timesteps `k = 0 … T−1`. With
//! `σ_k = √((1−ᾱ_k)/ᾱ_k)`, a fractional timestep `s ∈ [0, T−1]` gets `ln σ(s)` by linear
//! interpolation of `ln σ_k` (the same map diffusers' Euler/Heun schedulers and
//! [`LogSigmaTable`] use), hence `ᾱ(s) = 1/(1+σ(s)²)`: linear interpolation of the log-SNR.
//! The network is evaluated at the fractional timestep `s(σ)` ([`LogSigmaTable::sigma_to_t`]).
//!
//! # The ODE
//!
//! On the VP sample `x_s = √ᾱ(s) x₀ + √(1−ᾱ(s)) ε` (what the network sees), the probability-flow
//! ODE `dx = −½β(x + ∇ log p) dt` of the VP SDE is, in the integration variable `u = ln σ`,
//!
//! `dx/du = √(1−ᾱ) ε̂(x, s(u)) − (1−ᾱ) x`,   `ᾱ = 1/(1+e^{2u})`,
//!
//! which is DDIM's ODE `dy/dσ = ε̂` for `y = x/√ᾱ` (Song et al., 2021, eq. 14) written on the
//! VP scale. `u` is used instead of the timestep because the right-hand side is smooth in `u`
//! (the piecewise-linear interpolation of `ln σ` enters only through the network's time input),
//! which the adaptive solver's error control needs, and because equal steps in `ln σ` spread
//! the work evenly over the noise levels. The trajectory itself does not depend on the choice
//! of integration variable. `ε̂` comes from an ε-, v- or x₀-prediction network through
//! [`PredictionType::denoise`].

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::ode::OdeSolver;
use medgen_core::{Condition, TimeConditionedNetwork};

use crate::error::{DiffusionError, Result};
use crate::guidance::GuidanceConfig;
use crate::guided_network::GuidedNetwork;
use crate::prediction::PredictionType;
use crate::sampling::SamplingOutput;
use crate::schedule::NoiseSchedule;
use crate::scheduler::ensure_finite_output;
use crate::sigmas::LogSigmaTable;

/// The settings of [`ProbabilityFlow`] sampling.
#[derive(Config, Debug, PartialEq)]
pub struct ProbabilityFlowConfig {
    /// The integrator and its step count or tolerances; `NFE` of the integration is the
    /// solver's (e.g. `4 · steps` for RK4).
    pub solver: OdeSolver,
    /// What the network predicts.
    #[config(default = "PredictionType::Epsilon")]
    pub prediction_type: PredictionType,
    /// The (fractional) timestep the integration starts from, where `x ~ N(0, I)` is assumed;
    /// `None`: `T − 1`.
    pub t_start: Option<f64>,
    /// The (fractional) timestep the integration ends at, `0 ≤ t_end < t_start`.
    #[config(default = 0.0)]
    pub t_end: f64,
    /// Finish with one more network evaluation at `t_end` and return its `x̂₀` (the jump from
    /// `ᾱ(t_end)` to the clean level, as DDIM's last step) instead of the ODE state.
    #[config(default = true)]
    pub denoise_final: bool,
}

/// A probability-flow ODE sampler for a VP model trained on a [`NoiseSchedule`] (see the module
/// documentation for the time map and the ODE).
#[derive(Clone, Debug)]
pub struct ProbabilityFlow {
    config: ProbabilityFlowConfig,
    table: LogSigmaTable,
    t_start: f64,
}

impl ProbabilityFlowConfig {
    /// Validates the settings against `schedule` and builds the sampler.
    ///
    /// Errors (`InvalidConfig`): invalid solver settings, `t_start`/`t_end` outside
    /// `[0, T−1]` or not `t_end < t_start`, and schedules with `ᾱ = 0` (zero terminal SNR:
    /// `σ = ∞`).
    pub fn init(&self, schedule: &NoiseSchedule) -> Result<ProbabilityFlow> {
        self.solver.validate()?;
        let last = (schedule.num_train_timesteps() - 1) as f64;
        let t_start = self.t_start.unwrap_or(last);
        let in_range = |t: f64| t.is_finite() && (0.0..=last).contains(&t);
        if !in_range(t_start) || !in_range(self.t_end) || self.t_end >= t_start {
            return Err(DiffusionError::config(
                "t_start/t_end",
                format!(
                    "need 0 <= t_end < t_start <= {last}, got t_start = {t_start}, t_end = {}",
                    self.t_end
                ),
            ));
        }
        Ok(ProbabilityFlow { config: self.clone(), table: LogSigmaTable::new(schedule)?, t_start })
    }
}

impl ProbabilityFlow {
    /// The settings the sampler was built from.
    pub fn config(&self) -> &ProbabilityFlowConfig {
        &self.config
    }

    /// `ᾱ(s) = 1/(1+σ(s)²)` at a fractional timestep `s` (log-SNR interpolation).
    pub fn alpha_cumprod(&self, s: f64) -> f64 {
        let sigma = self.table.t_to_sigma(s);
        1.0 / (1.0 + sigma * sigma)
    }

    /// The right-hand side `dx/du = √(1−ᾱ) ε̂ − (1−ᾱ) x` at `u = ln σ` from the network output
    /// `y` at `x` (`[N, C, ...]`, any rank; `y` shaped like `x`).
    pub fn velocity<const D: usize>(
        &self,
        model_output: Tensor<D>,
        x: Tensor<D>,
        log_sigma: f64,
    ) -> Result<Tensor<D>> {
        let (alpha, time) = self.level(log_sigma);
        let epsilon = self
            .config
            .prediction_type
            .denoise(model_output, x.clone(), alpha, time.round() as usize)?
            .epsilon;
        Ok(epsilon.mul_scalar((1.0 - alpha).sqrt()).sub(x.mul_scalar(1.0 - alpha)))
    }

    /// `ᾱ` and the fractional timestep at `u = ln σ`.
    fn level(&self, log_sigma: f64) -> (f64, f64) {
        let sigma = log_sigma.exp();
        (1.0 / (1.0 + sigma * sigma), self.table.sigma_to_t(sigma))
    }

    /// `ln σ` at `t_start` and at `t_end`.
    fn log_sigma_bounds(&self) -> (f64, f64) {
        (self.table.t_to_sigma(self.t_start).ln(), self.table.t_to_sigma(self.config.t_end).ln())
    }

    /// Integrates `dx/du` from `u_from` to `u_to` with the configured solver.
    fn integrate<const D: usize, N>(
        &self,
        guided: &mut GuidedNetwork<'_, N, D>,
        x: Tensor<D>,
        u_from: f64,
        u_to: f64,
    ) -> Result<medgen_core::ode::OdeSolution<D>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
    {
        self.config.solver.try_solve::<DiffusionError, _, D>(
            |u: f64, x: Tensor<D>| {
                let (_, time) = self.level(u);
                let y = guided.evaluate(x.clone(), time)?;
                self.velocity(y, x, u)
            },
            x,
            u_from,
            u_to,
        )
    }

    /// Encodes `x` (a sample at `t_end`, e.g. a clean image when `t_end = 0`; `[N, C, ...]`)
    /// into its latent at `t_start` by integrating the same ODE forwards: the deterministic
    /// inverse of [`ProbabilityFlow::sample`] with `denoise_final = false` (up to the solver's
    /// error), for reconstruction-based anomaly scoring and latent interpolation. Returns the
    /// latent and the NFE; same errors as `sample`.
    pub fn encode<const D: usize, N>(
        &self,
        network: &N,
        x: Tensor<D>,
        condition: &Condition<D>,
        guidance: &GuidanceConfig,
    ) -> Result<(Tensor<D>, usize)>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
    {
        let mut guided = GuidedNetwork::new(network, condition, guidance, &x)?;
        let (u_start, u_end) = self.log_sigma_bounds();
        let solution = self.integrate(&mut guided, x, u_end, u_start)?;
        Ok((solution.state, solution.nfe))
    }

    /// Integrates the probability-flow ODE from `initial` (`x ~ N(0, I)` at `t_start`,
    /// `[N, C, ...]`, any rank) to `t_end`, evaluating `network` (with classifier-free
    /// `guidance` of `condition`) at fractional timesteps; with `denoise_final`, returns the
    /// `x̂₀` of one last evaluation at `t_end`.
    ///
    /// `nfe` is the solver's NFE (plus one with `denoise_final`). Everything
    /// stays on the device except the solver's finiteness checks (and Dopri5's error norm, one
    /// scalar per step).
    ///
    /// Errors: the solver's (`NonFinite`, `OdeMaxSteps`, shape errors), the network's,
    /// [`DiffusionError::NonFiniteModelOutput`] for a NaN or infinite final evaluation (with
    /// `denoise_final`), a shape error for a condition of another batch size, and the
    /// guidance errors of [`GuidanceConfig::validate`].
    pub fn sample<const D: usize, N>(
        &self,
        network: &N,
        initial: Tensor<D>,
        condition: &Condition<D>,
        guidance: &GuidanceConfig,
    ) -> Result<SamplingOutput<D>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
    {
        let mut guided = GuidedNetwork::new(network, condition, guidance, &initial)?;
        let (u_start, u_end) = self.log_sigma_bounds();
        let solution = self.integrate(&mut guided, initial, u_start, u_end)?;
        let x = solution.state;
        let mut evaluations = solution.nfe;
        if !self.config.denoise_final {
            return Ok(SamplingOutput {
                pred_original_sample: x.clone(),
                sample: x,
                nfe: evaluations,
            });
        }
        let (alpha, time) = self.level(u_end);
        let output = guided.evaluate(x.clone(), time)?;
        ensure_finite_output(&output, time.round() as usize)?;
        evaluations += 1;
        debug_assert_eq!(evaluations, guided.evaluations());
        let x0 = self.config.prediction_type.x0(output, x, alpha, time.round() as usize)?;
        Ok(SamplingOutput { sample: x0.clone(), pred_original_sample: x0, nfe: evaluations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;
    use medgen_core::ode::Dopri5Config;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// Data `x₀ ~ N(μ, s²)` per element: the VP marginal at `ᾱ` is `N(√ᾱ μ, ᾱ s² + 1 − ᾱ)` and
    /// the exact noise prediction is `E[ε | x] = √(1−ᾱ) (x − √ᾱ μ) / (ᾱ s² + 1 − ᾱ)`.
    const MU: f64 = 0.4;
    const S: f64 = 0.3;

    fn marginal(alpha: f64) -> (f64, f64) {
        (alpha.sqrt() * MU, (alpha * S * S + 1.0 - alpha).sqrt())
    }

    /// The exact ε-network of the Gaussian data; reads its time back to the host (test only).
    fn gaussian_oracle(
        flow: &ProbabilityFlow,
    ) -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> medgen_core::Result<Tensor<4>> + '_ {
        move |x, t, _c| {
            let s = f64::from(t.slice(0..1).into_scalar::<f32>());
            let alpha = flow.alpha_cumprod(s);
            let (mean, std) = marginal(alpha);
            Ok(x.sub_scalar(mean).mul_scalar((1.0 - alpha).sqrt() / (std * std)))
        }
    }

    fn schedule() -> NoiseSchedule {
        ScheduleConfig::new().with_num_train_timesteps(100).with_beta_end(0.2).init().unwrap()
    }

    fn run(solver: OdeSolver, x: &Tensor<4>) -> (Vec<f32>, usize) {
        let schedule = schedule();
        let flow =
            ProbabilityFlowConfig::new(solver).with_denoise_final(false).init(&schedule).unwrap();
        let out = flow
            .sample(&gaussian_oracle(&flow), x.clone(), &Condition::none(), &GuidanceConfig::new())
            .unwrap();
        let values = out.sample.into_data().try_to_vec::<f32>().unwrap();
        (values, out.nfe)
    }

    /// The flow of Gaussian data keeps the standardised value `(x − m)/sd` of every element, so
    /// it maps `x_start` to `m_end + sd_end (x_start − m_start)/sd_start`.
    #[test]
    fn exact_gaussian_flow_matches_the_closed_form_and_solvers_agree() {
        let device = test_device();
        let x =
            medgen_core::noise::gaussian_noise([3, 1, 1, 2], &mut seeded_rng(1), &device).unwrap();
        let start: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().unwrap();
        let schedule = schedule();
        let flow =
            ProbabilityFlowConfig::new(OdeSolver::Euler { steps: 1 }).init(&schedule).unwrap();
        let (m0, sd0) = marginal(flow.alpha_cumprod(99.0));
        let (m1, sd1) = marginal(flow.alpha_cumprod(0.0));
        let expected: Vec<f64> =
            start.iter().map(|&v| m1 + sd1 * (f64::from(v) - m0) / sd0).collect();
        let (rk4, nfe) = run(OdeSolver::Rk4 { steps: 40 }, &x);
        assert_eq!(nfe, 160);
        let (dopri, dopri_nfe) = run(OdeSolver::Dopri5(Dopri5Config::new(1e-6, 1e-6)), &x);
        let (euler, _) = run(OdeSolver::Euler { steps: 40 }, &x);
        let mut euler_error = 0.0f64;
        for i in 0..expected.len() {
            let (r, d) = (f64::from(rk4[i]), f64::from(dopri[i]));
            assert!((r - expected[i]).abs() < 1e-4, "rk4 {r} vs {}", expected[i]);
            assert!((d - r).abs() < 1e-4, "dopri5 {d} vs rk4 {r}");
            euler_error = euler_error.max((f64::from(euler[i]) - expected[i]).abs());
        }
        assert!(dopri_nfe > 6, "dopri5 NFE {dopri_nfe}");
        // Euler is first order: visibly worse than RK4 at the same step count.
        assert!(euler_error > 1e-3 && euler_error < 0.1, "{euler_error}");
    }

    #[test]
    fn encoding_inverts_sampling() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[0.9, -0.2, 0.4]]]], &device);
        let schedule = schedule();
        let flow = ProbabilityFlowConfig::new(OdeSolver::Rk4 { steps: 30 })
            .with_denoise_final(false)
            .init(&schedule)
            .unwrap();
        let none = Condition::none();
        let plain = GuidanceConfig::new();
        let oracle = gaussian_oracle(&flow);
        let (latent, nfe) = flow.encode(&oracle, x.clone(), &none, &plain).unwrap();
        assert_eq!(nfe, 120);
        // The latent is the standardised value mapped to the t_start marginal.
        let (m0, sd0) = marginal(flow.alpha_cumprod(0.0));
        let (m1, sd1) = marginal(flow.alpha_cumprod(99.0));
        let got = latent.clone().into_data().try_to_vec::<f32>().unwrap();
        for (g, v) in got.iter().zip([0.9, -0.2, 0.4]) {
            let expected = m1 + sd1 * (v - m0) / sd0;
            assert!((f64::from(*g) - expected).abs() < 1e-4, "{g} vs {expected}");
        }
        let back = flow.sample(&oracle, latent, &none, &plain).unwrap().sample;
        let err = back.sub(x).abs().max().into_scalar::<f32>();
        assert!(err < 1e-4, "{err}");
    }

    #[test]
    fn denoise_final_returns_the_x0_of_one_more_evaluation_and_v_prediction_agrees() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[0.5, -1.0]]]], &device);
        let schedule = schedule();
        let eps_flow =
            ProbabilityFlowConfig::new(OdeSolver::Heun { steps: 10 }).init(&schedule).unwrap();
        let out = eps_flow
            .sample(
                &gaussian_oracle(&eps_flow),
                x.clone(),
                &Condition::none(),
                &GuidanceConfig::new(),
            )
            .unwrap();
        assert_eq!(out.nfe, 21);
        // The same model as a v-predictor: v = (ε − √(1−ᾱ) x)/√ᾱ.
        let v_flow = ProbabilityFlowConfig::new(OdeSolver::Heun { steps: 10 })
            .with_prediction_type(PredictionType::VPrediction)
            .init(&schedule)
            .unwrap();
        let eps = gaussian_oracle(&v_flow);
        let v_model = |x: Tensor<4>, t: Tensor<1>, c: &Condition<4>| {
            let s = f64::from(t.clone().slice(0..1).into_scalar::<f32>());
            let alpha = v_flow.alpha_cumprod(s);
            let e = eps(x.clone(), t, c)?;
            Ok(e.sub(x.mul_scalar((1.0 - alpha).sqrt())).div_scalar(alpha.sqrt()))
        };
        let v_out = v_flow.sample(&v_model, x, &Condition::none(), &GuidanceConfig::new()).unwrap();
        let diff = out.sample.sub(v_out.sample).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-4, "{diff}");
    }

    #[test]
    fn bad_settings_and_nan_outputs_are_typed_errors() {
        let schedule = schedule();
        for config in [
            ProbabilityFlowConfig::new(OdeSolver::Rk4 { steps: 0 }),
            ProbabilityFlowConfig::new(OdeSolver::Rk4 { steps: 2 }).with_t_end(99.0),
            ProbabilityFlowConfig::new(OdeSolver::Rk4 { steps: 2 }).with_t_start(Some(150.0)),
        ] {
            assert!(config.init(&schedule).is_err(), "{config:?}");
        }
        let flow =
            ProbabilityFlowConfig::new(OdeSolver::Euler { steps: 2 }).init(&schedule).unwrap();
        let nan = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.mul_scalar(f32::NAN));
        let x = Tensor::<4>::ones([1, 1, 2, 2], &test_device());
        let (none, plain) = (Condition::none(), GuidanceConfig::new());
        assert!(matches!(
            flow.sample(&nan, x.clone(), &none, &plain),
            Err(DiffusionError::Core(medgen_core::CoreError::NonFinite { .. }))
        ));
        let wrong = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.narrow(3, 0, 1));
        assert!(matches!(
            flow.sample(&wrong, x, &none, &plain),
            Err(DiffusionError::ModelOutputShape { .. })
        ));
    }
}

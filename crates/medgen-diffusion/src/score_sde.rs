//! Score SDEs (Song et al., 2021, "Score-Based Generative Modeling through Stochastic
//! Differential Equations"): the variance-preserving and variance-exploding SDEs on `t ∈ [0, 1]`,
//! and their reverse-time samplers (Euler–Maruyama, and predictor–corrector with a Langevin
//! corrector).
//!
//! Both SDEs have a drift linear in the state, `dx = a(t) x dt + g(t) dw`, and Gaussian
//! marginals `q(x_t | x₀) = N(m(t) x₀, std(t)² I)`. The reverse-time SDE is
//! `dx = [a(t) x − g(t)² ∇ log p_t(x)] dt + g(t) dw̄` with `t` running from 1 to `ε`.
//! The score comes from an ε-network: `∇ log p_t(x) ≈ −ε̂(x, t) / std(t)`.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::guidance::GuidanceConfig;
use crate::guided_network::GuidedNetwork;
use crate::sampling::SamplingOutput;

/// A forward SDE of Song et al. (2021).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScoreSde {
    /// Variance preserving: `β(t) = β_min + t (β_max − β_min)`,
    /// `dx = −½ β(t) x dt + √β(t) dw`; `m(t) = exp(−¼ t² (β_max−β_min) − ½ t β_min)`,
    /// `std(t) = √(1 − m(t)²)`; prior `N(0, I)`. Song's defaults: `β_min = 0.1`, `β_max = 20`
    /// ([`ScoreSde::vp`]).
    Vp {
        /// `β(0)`, `> 0`.
        beta_min: f64,
        /// `β(1)`, `≥ β_min`.
        beta_max: f64,
    },
    /// Variance exploding: `σ(t) = σ_min (σ_max/σ_min)^t`,
    /// `dx = σ(t) √(2 ln(σ_max/σ_min)) dw`; `m(t) = 1`, `std(t) = σ(t)`; prior `N(0, σ_max² I)`.
    /// Song's defaults: `σ_min = 0.01`, `σ_max = 50` ([`ScoreSde::ve`]).
    Ve {
        /// `σ(0)`, `> 0`.
        sigma_min: f64,
        /// `σ(1)`, `> σ_min`.
        sigma_max: f64,
    },
}

impl ScoreSde {
    /// The VP SDE with Song et al.'s `β_min = 0.1`, `β_max = 20`.
    pub fn vp() -> Self {
        Self::Vp { beta_min: 0.1, beta_max: 20.0 }
    }

    /// The VE SDE with Song et al.'s `σ_min = 0.01`, `σ_max = 50`.
    pub fn ve() -> Self {
        Self::Ve { sigma_min: 0.01, sigma_max: 50.0 }
    }

    /// Checks the parameters (`InvalidConfig` otherwise): `0 < β_min ≤ β_max` finite, or
    /// `0 < σ_min < σ_max` finite.
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            Self::Vp { beta_min, beta_max } => {
                beta_min.is_finite()
                    && beta_max.is_finite()
                    && beta_min > 0.0
                    && beta_max >= beta_min
            }
            Self::Ve { sigma_min, sigma_max } => {
                sigma_min.is_finite()
                    && sigma_max.is_finite()
                    && sigma_min > 0.0
                    && sigma_max > sigma_min
            }
        };
        if ok {
            Ok(())
        } else {
            Err(DiffusionError::config(
                "sde",
                format!("{self:?}: need 0 < beta_min <= beta_max or 0 < sigma_min < sigma_max"),
            ))
        }
    }

    /// The drift coefficient `a(t)` of `f(x, t) = a(t) x`: `−½ β(t)` (VP) or 0 (VE).
    pub fn drift_coefficient(&self, t: f64) -> f64 {
        match *self {
            Self::Vp { beta_min, beta_max } => -0.5 * (beta_min + t * (beta_max - beta_min)),
            Self::Ve { .. } => 0.0,
        }
    }

    /// The drift `f(x, t) = a(t) x` (any shape).
    pub fn drift<const D: usize>(&self, x: Tensor<D>, t: f64) -> Tensor<D> {
        x.mul_scalar(self.drift_coefficient(t))
    }

    /// The diffusion coefficient `g(t)`: `√β(t)` (VP) or `σ(t) √(2 ln(σ_max/σ_min))` (VE).
    pub fn diffusion(&self, t: f64) -> f64 {
        match *self {
            Self::Vp { beta_min, beta_max } => (beta_min + t * (beta_max - beta_min)).sqrt(),
            Self::Ve { sigma_min, sigma_max } => {
                let log_ratio = (sigma_max / sigma_min).ln();
                sigma_min * (sigma_max / sigma_min).powf(t) * (2.0 * log_ratio).sqrt()
            }
        }
    }

    /// The marginal `q(x_t | x₀) = N(m(t) x₀, std(t)² I)` as `(m(t), std(t))`.
    pub fn marginal(&self, t: f64) -> (f64, f64) {
        match *self {
            Self::Vp { beta_min, beta_max } => {
                let log_mean = -0.25 * t * t * (beta_max - beta_min) - 0.5 * t * beta_min;
                (log_mean.exp(), (-(2.0 * log_mean).exp_m1()).sqrt())
            }
            Self::Ve { sigma_min, sigma_max } => (1.0, sigma_min * (sigma_max / sigma_min).powf(t)),
        }
    }

    /// The standard deviation of the prior `p_1`: 1 (VP) or `σ_max` (VE).
    pub fn prior_std(&self) -> f64 {
        match *self {
            Self::Vp { .. } => 1.0,
            Self::Ve { sigma_max, .. } => sigma_max,
        }
    }

    /// Song et al.'s `α` of the Langevin step size at time `t` for an `N`-step discretisation:
    /// VP `α = 1 − β_k`, with the discrete betas `β_k = (β_min + k/(N−1)(β_max−β_min))/N`,
    /// `k = ⌊t (N−1)⌋`; VE `α = 1`.
    pub fn langevin_alpha(&self, t: f64, steps: usize) -> f64 {
        match *self {
            Self::Vp { beta_min, beta_max } => {
                let n = steps.max(2) as f64;
                let k = (t * (n - 1.0)).floor();
                1.0 - (beta_min + k / (n - 1.0) * (beta_max - beta_min)) / n
            }
            Self::Ve { .. } => 1.0,
        }
    }
}

/// The Langevin corrector of Song et al. (2021, Algorithm 4/5): `steps` updates
/// `x ← x + δ ∇ log p_t(x) + √(2δ) z` at fixed `t`, with the step size
/// `δ = 2 α (snr · ‖z‖ / ‖∇ log p_t(x)‖)²`, the norms taken per item over all elements and
/// averaged over the batch (as Song's code does; computed on the device).
#[derive(Config, Debug, PartialEq)]
pub struct LangevinCorrectorConfig {
    /// The signal-to-noise ratio `snr > 0` (0.16 for VE CIFAR-10 in Song et al.).
    #[config(default = 0.16)]
    pub snr: f64,
    /// Corrector updates per noise level, `≥ 1`.
    #[config(default = 1)]
    pub steps: usize,
}

/// The settings of a reverse-time SDE sampler ([`sample_sde`]).
///
/// The time grid is `t_i = 1 − i (1 − ε)/N`, `i = 0 … N`; step `i` evaluates the network at
/// `t_i` and moves to `t_{i+1}` (Song et al.'s code evaluates at `linspace(1, ε, N)` with
/// `dt = −1/N`; the grid here ends exactly at `ε`).
#[derive(Config, Debug, PartialEq)]
pub struct SdeSamplerConfig {
    /// The forward SDE the network was trained for.
    pub sde: ScoreSde,
    /// The number of predictor steps `N ≥ 1`.
    #[config(default = 1000)]
    pub steps: usize,
    /// The final time `ε ∈ (0, 1)` (Song et al.: 1e-3 for VP, 1e-5 for VE).
    #[config(default = 1e-3)]
    pub eps: f64,
    /// A Langevin corrector before every predictor step (predictor–corrector sampling), or
    /// `None` for plain reverse-time Euler–Maruyama.
    pub corrector: Option<LangevinCorrectorConfig>,
    /// The network is evaluated at time `t · network_time_scale` (999: a network trained on
    /// DDPM timesteps `0..1000`, as Song et al. feed discrete VP models; 1: continuous time).
    #[config(default = 999.0)]
    pub network_time_scale: f64,
    /// Return the noise-free mean of the last predictor step (Song et al.'s `noise_removal`)
    /// rather than the sample with the last step's noise added.
    #[config(default = true)]
    pub denoise_final: bool,
}

impl SdeSamplerConfig {
    /// Checks every setting (`InvalidConfig` otherwise).
    pub fn validate(&self) -> Result<()> {
        self.sde.validate()?;
        if self.steps == 0 {
            return Err(DiffusionError::config("steps", "must be at least 1"));
        }
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return Err(DiffusionError::config(
                "eps",
                format!("must lie in (0, 1), got {}", self.eps),
            ));
        }
        if !(self.network_time_scale.is_finite() && self.network_time_scale > 0.0) {
            return Err(DiffusionError::config(
                "network_time_scale",
                "must be positive and finite",
            ));
        }
        if let Some(corrector) = &self.corrector {
            if !(corrector.snr.is_finite() && corrector.snr > 0.0) {
                return Err(DiffusionError::config(
                    "snr",
                    format!("must be positive and finite, got {}", corrector.snr),
                ));
            }
            if corrector.steps == 0 {
                return Err(DiffusionError::config("corrector steps", "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The time grid `t_0 = 1 > … > t_N = ε`.
    pub fn times(&self) -> Vec<f64> {
        let n = self.steps as f64;
        (0..=self.steps)
            .map(|i| if i == self.steps { self.eps } else { 1.0 - i as f64 * (1.0 - self.eps) / n })
            .collect()
    }
}

/// The score `∇ log p_t(x) ≈ −ε̂ / std(t)` of an ε-network at time `t`.
fn score<const D: usize, N>(
    network: &mut GuidedNetwork<'_, N, D>,
    config: &SdeSamplerConfig,
    x: Tensor<D>,
    t: f64,
) -> Result<(Tensor<D>, Tensor<D>)>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    let epsilon = network.evaluate(x, t * config.network_time_scale)?;
    let (_, std) = config.sde.marginal(t);
    Ok((epsilon.clone().div_scalar(-std), epsilon))
}

/// Samples from `initial` (`x_1 ~ N(0, prior_std² I)` drawn by the caller, e.g.
/// `gaussian_noise(..) · sde.prior_std()`; `[N, C, ...]`, any rank) by the reverse-time SDE:
///
/// - predictor (Euler–Maruyama), per step `t_i → t_{i+1}`, `Δ = t_{i+1} − t_i < 0`:
///   `x̄ = x + (a(t_i) x − g(t_i)² s(x, t_i)) Δ`, `x = x̄ + g(t_i) √|Δ| z`;
/// - corrector (if configured), before each predictor step: [`LangevinCorrectorConfig`].
///
/// `s = −ε̂/std(t)` from the ε-`network` (classifier-free `guidance` of `condition` applies to
/// `ε̂`). Returns the last `x̄` (with `denoise_final`) or `x`, the `x̂₀ = (x − std ε̂)/m` of the
/// last network evaluation, and `nfe = N · (1 + corrector steps)`. Every
/// random draw comes from `rng`; everything stays on the device until one finiteness check of
/// the result (a NaN network output ends as a `NonFinite` error).
///
/// Errors: invalid settings, the network's errors, a shape error for a condition of another
/// batch size, and the guidance errors of [`GuidanceConfig::validate`].
pub fn sample_sde<const D: usize, N, R>(
    network: &N,
    config: &SdeSamplerConfig,
    initial: Tensor<D>,
    condition: &Condition<D>,
    guidance: &GuidanceConfig,
    rng: &mut R,
) -> Result<SamplingOutput<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
    R: Rng + ?Sized,
{
    config.validate()?;
    let mut guided = GuidedNetwork::new(network, condition, guidance, &initial)?;
    let sde = config.sde;
    let times = config.times();
    let mut x = initial;
    let mut x_mean = x.clone();
    let mut last = None;
    for window in times.windows(2) {
        let (t, t_next) = (window[0], window[1]);
        if let Some(corrector) = &config.corrector {
            let alpha = sde.langevin_alpha(t, config.steps);
            for _ in 0..corrector.steps {
                let (grad, _) = score(&mut guided, config, x.clone(), t)?;
                let noise = gaussian_like(&x, rng)?;
                let ratio = mean_norm(noise.clone()).div(mean_norm(grad.clone()).clamp_min(1e-20));
                let step = ratio.powi_scalar(2).mul_scalar(2.0 * alpha * corrector.snr.powi(2));
                let step: Tensor<D> = step.reshape([1; D]);
                x_mean = x.add(grad.mul(step.clone()));
                x = x_mean.clone().add(noise.mul(step.mul_scalar(2.0).sqrt()));
            }
        }
        let (grad, epsilon) = score(&mut guided, config, x.clone(), t)?;
        let dt = t_next - t;
        let g = sde.diffusion(t);
        let drift = sde.drift(x.clone(), t).sub(grad.mul_scalar(g * g));
        last = Some((x.clone(), epsilon, t));
        x_mean = x.add(drift.mul_scalar(dt));
        let noise = gaussian_like(&x_mean, rng)?;
        x = x_mean.clone().add(noise.mul_scalar(g * (-dt).sqrt()));
    }
    medgen_core::check::ensure_finite(&x_mean, "SDE sample")?;
    let pred_original_sample = match last {
        Some((x_t, epsilon, t)) => {
            let (mean, std) = sde.marginal(t);
            x_t.sub(epsilon.mul_scalar(std)).div_scalar(mean)
        }
        None => x.clone(),
    };
    Ok(SamplingOutput {
        sample: if config.denoise_final { x_mean } else { x },
        pred_original_sample,
        nfe: guided.evaluations(),
    })
}

/// The batch mean of the per-item L2 norms of `x` (`[N, ...]`), as a `[1]` tensor.
fn mean_norm<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let batch = x.dims()[0];
    x.reshape([batch as i32, -1]).powi_scalar(2).sum_dim(1).sqrt().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;

    #[test]
    fn marginals_match_the_closed_forms() {
        let vp = ScoreSde::vp();
        for t in [0.0, 0.1, 0.5, 1.0] {
            // ∫₀ᵗ β = 0.1 t + 9.95 t², m = exp(−½ ∫β).
            let integral: f64 = 0.1 * t + 0.5 * (20.0 - 0.1) * t * t;
            let (m, std) = vp.marginal(t);
            assert!((m - (-0.5 * integral).exp()).abs() < 1e-12);
            assert!((std * std + m * m - 1.0).abs() < 1e-12);
            assert!((vp.diffusion(t).powi(2) - (0.1 + 19.9 * t)).abs() < 1e-12);
            assert!((vp.drift_coefficient(t) + 0.5 * (0.1 + 19.9 * t)).abs() < 1e-12);
        }
        // The VP variance solves d var/dt = β (1 − var) (Song et al., eq. 33).
        let h = 1e-6;
        let t = 0.3;
        let var = |t: f64| vp.marginal(t).1.powi(2);
        let derivative = (var(t + h) - var(t - h)) / (2.0 * h);
        assert!((derivative - vp.diffusion(t).powi(2) * (1.0 - var(t))).abs() < 1e-6);

        let ve = ScoreSde::ve();
        assert_eq!(ve.marginal(0.0), (1.0, 0.01));
        assert!((ve.marginal(1.0).1 - 50.0).abs() < 1e-9);
        assert!((ve.marginal(0.5).1 - (0.01f64 * 50.0).sqrt()).abs() < 1e-12);
        // d σ²/dt = g² for VE.
        let var = |t: f64| ve.marginal(t).1.powi(2);
        let derivative = (var(t + h) - var(t - h)) / (2.0 * h);
        assert!((derivative / ve.diffusion(t).powi(2) - 1.0).abs() < 1e-6);
        assert_eq!(ve.drift_coefficient(0.4), 0.0);
        assert_eq!((vp.prior_std(), ve.prior_std()), (1.0, 50.0));
    }

    /// Data `x₀ ~ N(μ, s²)`: the marginal is `N(m μ, m² s² + std²)`, and the exact ε-network is
    /// `ε̂ = std (x − m μ)/(m² s² + std²)`; reads its time back to the host (test only).
    const MU: f64 = 0.5;
    const S: f64 = 0.3;

    fn moments(config: &SdeSamplerConfig, items: usize, seed: u64) -> (f64, f64, usize) {
        let device = test_device();
        let sde = config.sde;
        let scale = config.network_time_scale;
        let oracle = move |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            let t = f64::from(t.slice(0..1).into_scalar::<f32>()) / scale;
            let (m, std) = sde.marginal(t);
            let var = m * m * S * S + std * std;
            Ok(x.sub_scalar(m * MU).mul_scalar(std / var))
        };
        let mut rng = seeded_rng(seed);
        let initial = gaussian_noise([items, 1, 1, 1], &mut rng, &device)
            .unwrap()
            .mul_scalar(sde.prior_std());
        let out = sample_sde(
            &oracle,
            config,
            initial,
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut rng,
        )
        .unwrap();
        let values = out.sample.into_data().try_to_vec::<f32>().unwrap();
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var, out.nfe)
    }

    fn items() -> usize {
        if testing_on_wgpu() { 1000 } else { 4000 }
    }

    /// Tolerances: five standard errors of the sample mean and variance, plus the
    /// discretisation bias of the sampler at this step count.
    fn assert_close(mean: f64, var: f64, n: usize, bias: f64, what: &str) {
        let n = n as f64;
        let mean_tol = 5.0 * S / n.sqrt() + bias;
        let var_tol = 5.0 * S * S * (2.0 / n).sqrt() + bias;
        assert!((mean - MU).abs() < mean_tol, "{what}: mean {mean}");
        assert!((var - S * S).abs() < var_tol, "{what}: variance {var}");
    }

    #[test]
    fn euler_maruyama_with_the_exact_score_recovers_the_data_distribution() {
        let n = items();
        let vp = SdeSamplerConfig::new(ScoreSde::vp()).with_steps(200);
        let (mean, var, nfe) = moments(&vp, n, 1);
        assert_eq!(nfe, 200);
        assert_close(mean, var, n, 0.01, "VP Euler-Maruyama");
        let ve = SdeSamplerConfig::new(ScoreSde::ve())
            .with_steps(300)
            .with_eps(1e-5)
            .with_network_time_scale(1.0);
        let (mean, var, _) = moments(&ve, n, 2);
        assert_close(mean, var, n, 0.015, "VE Euler-Maruyama");
    }

    #[test]
    fn predictor_corrector_counts_evaluations_and_recovers_the_data_distribution() {
        let n = items();
        let pc = SdeSamplerConfig::new(ScoreSde::ve())
            .with_steps(100)
            .with_eps(1e-5)
            .with_corrector(Some(LangevinCorrectorConfig::new().with_steps(2)));
        let (mean, var, nfe) = moments(&pc, n, 3);
        assert_eq!(nfe, 300);
        assert_close(mean, var, n, 0.015, "VE predictor-corrector");
        let pc = SdeSamplerConfig::new(ScoreSde::vp())
            .with_steps(100)
            .with_corrector(Some(LangevinCorrectorConfig::new().with_snr(0.1)));
        let (mean, var, _) = moments(&pc, n, 4);
        assert_close(mean, var, n, 0.015, "VP predictor-corrector");
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let bad = [
            SdeSamplerConfig::new(ScoreSde::Vp { beta_min: 0.0, beta_max: 20.0 }),
            SdeSamplerConfig::new(ScoreSde::Ve { sigma_min: 1.0, sigma_max: 0.5 }),
            SdeSamplerConfig::new(ScoreSde::vp()).with_steps(0),
            SdeSamplerConfig::new(ScoreSde::vp()).with_eps(0.0),
            SdeSamplerConfig::new(ScoreSde::vp())
                .with_corrector(Some(LangevinCorrectorConfig::new().with_snr(-1.0))),
            SdeSamplerConfig::new(ScoreSde::vp())
                .with_corrector(Some(LangevinCorrectorConfig::new().with_steps(0))),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        let nan = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.mul_scalar(f32::NAN));
        let result = sample_sde(
            &nan,
            &SdeSamplerConfig::new(ScoreSde::vp()).with_steps(2),
            Tensor::<4>::ones([1, 1, 2, 2], &test_device()),
            &Condition::none(),
            &GuidanceConfig::new(),
            &mut seeded_rng(0),
        );
        assert!(matches!(
            result,
            Err(DiffusionError::Core(medgen_core::CoreError::NonFinite { .. }))
        ));
    }
}

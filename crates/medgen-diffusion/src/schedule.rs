//! Noise schedules: the variances `β_t` of the forward process and the quantities derived from
//! them, exactly as diffusers computes them.
//!
//! The forward process adds noise in `T` steps, `q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I)`,
//! so that `q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I)` with `α_t = 1 − β_t` and
//! `ᾱ_t = ∏_{s≤t} α_s`. diffusers computes these in float32; [`NoiseSchedule`] reproduces its
//! float32 values bit for bit and stores them as `f64`, so every downstream coefficient matches
//! diffusers to within float32 rounding of the final tensor arithmetic.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result};
use crate::torch_numerics::{cumprod_f32, linspace_f32, sigmoid_f32};

/// How the betas `β_0 … β_{T−1}` are laid out (diffusers' `beta_schedule`; the serialised names
/// are diffusers' strings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BetaSchedule {
    /// `β_t = linspace(β_start, β_end, T)[t]` (Ho et al., 2020). diffusers: `"linear"`.
    #[default]
    #[serde(rename = "linear")]
    Linear,
    /// `β_t = linspace(√β_start, √β_end, T)[t]²` (latent diffusion). diffusers:
    /// `"scaled_linear"`.
    #[serde(rename = "scaled_linear")]
    ScaledLinear,
    /// The cosine schedule of Nichol & Dhariwal (2021):
    /// `β_t = min(1 − ᾱ(t+1/T) / ᾱ(t/T), max_beta)` with
    /// `ᾱ(s) = cos²((s + 0.008) / 1.008 · π/2)`, computed in f64 and rounded to float32.
    /// `beta_start` and `beta_end` are not used. diffusers: `"squaredcos_cap_v2"`.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredCosCapV2,
    /// `β_t = sigmoid(linspace(−6, 6, T)[t]) · (β_end − β_start) + β_start` (GeoDiff).
    /// diffusers: `"sigmoid"`.
    #[serde(rename = "sigmoid")]
    Sigmoid,
}

/// The parameters of a noise schedule, with diffusers' names and defaults.
#[derive(Config, Debug, PartialEq)]
pub struct ScheduleConfig {
    /// Number of diffusion steps `T` the model is trained with; timesteps are `0..T`.
    #[config(default = 1000)]
    pub num_train_timesteps: usize,
    /// First beta of the linear, scaled-linear and sigmoid schedules.
    #[config(default = 0.0001)]
    pub beta_start: f64,
    /// Last beta of the linear, scaled-linear and sigmoid schedules.
    #[config(default = 0.02)]
    pub beta_end: f64,
    /// The layout of the betas.
    #[config(default = "BetaSchedule::Linear")]
    pub beta_schedule: BetaSchedule,
    /// Upper bound of the cosine schedule's betas (avoids a singular last step).
    #[config(default = 0.999)]
    pub max_beta: f64,
    /// User-supplied betas `[T]` (diffusers' `trained_betas`); when set they replace
    /// `beta_schedule` and are rounded to float32 as diffusers does.
    pub trained_betas: Option<Vec<f64>>,
    /// Rescale the betas to zero terminal SNR (`ᾱ_{T−1} = 0`, Lin et al., 2024) by shifting and
    /// scaling `√ᾱ_t` so that its first value is unchanged and its last is zero.
    #[config(default = false)]
    pub rescale_betas_zero_snr: bool,
}

/// A validated noise schedule: `β_t`, `α_t = 1 − β_t` and `ᾱ_t = ∏_{s≤t} α_s` for
/// `t = 0 … T−1`, as diffusers' float32 values stored in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl ScheduleConfig {
    /// The schedule of a scheduler configuration that spells diffusers' five schedule fields
    /// out flat (`num_train_timesteps`, `beta_start`, `beta_end`, `beta_schedule`,
    /// `trained_betas`), validated and built.
    pub(crate) fn flat(
        num_train_timesteps: usize,
        beta_start: f64,
        beta_end: f64,
        beta_schedule: BetaSchedule,
        trained_betas: Option<Vec<f64>>,
    ) -> Result<NoiseSchedule> {
        Self::new()
            .with_num_train_timesteps(num_train_timesteps)
            .with_beta_start(beta_start)
            .with_beta_end(beta_end)
            .with_beta_schedule(beta_schedule)
            .with_trained_betas(trained_betas)
            .init()
    }

    /// Validates the configuration and computes the schedule.
    ///
    /// Fails with [`DiffusionError::Core`] (`InvalidConfig`) for `T = 0`, betas outside
    /// `(0, 1)`, `beta_start > beta_end`, `max_beta` outside `(0, 1]`, trained betas of the
    /// wrong length or outside `(0, 1]`, or a zero-SNR rescale of a schedule whose first and
    /// last `ᾱ` coincide.
    pub fn init(&self) -> Result<NoiseSchedule> {
        let betas = self.betas_f32()?;
        let betas =
            if self.rescale_betas_zero_snr { rescale_zero_terminal_snr(&betas)? } else { betas };
        Ok(NoiseSchedule::from_f32_betas(&betas))
    }

    fn betas_f32(&self) -> Result<Vec<f32>> {
        let n = self.num_train_timesteps;
        if n == 0 {
            return Err(DiffusionError::config("num_train_timesteps", "must be at least 1"));
        }
        if let Some(betas) = &self.trained_betas {
            return trained_betas_f32(betas, n);
        }
        let in_unit = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
        match self.beta_schedule {
            BetaSchedule::SquaredCosCapV2 => {
                if !(self.max_beta.is_finite() && self.max_beta > 0.0 && self.max_beta <= 1.0) {
                    return Err(DiffusionError::config(
                        "max_beta",
                        format!("must lie in (0, 1], got {}", self.max_beta),
                    ));
                }
                Ok(cosine_betas(n, self.max_beta))
            }
            schedule => {
                if !in_unit(self.beta_start) || !in_unit(self.beta_end) {
                    return Err(DiffusionError::config(
                        "beta_start/beta_end",
                        format!(
                            "must lie in (0, 1), got {} and {}",
                            self.beta_start, self.beta_end
                        ),
                    ));
                }
                if self.beta_start > self.beta_end {
                    return Err(DiffusionError::config(
                        "beta_start",
                        format!(
                            "must not exceed beta_end ({} > {})",
                            self.beta_start, self.beta_end
                        ),
                    ));
                }
                Ok(match schedule {
                    BetaSchedule::Linear => linspace_f32(self.beta_start, self.beta_end, n),
                    BetaSchedule::ScaledLinear => {
                        linspace_f32(self.beta_start.sqrt(), self.beta_end.sqrt(), n)
                            .into_iter()
                            .map(|b| b * b)
                            .collect()
                    }
                    _ => {
                        let scale = (self.beta_end - self.beta_start) as f32;
                        let start = self.beta_start as f32;
                        linspace_f32(-6.0, 6.0, n)
                            .into_iter()
                            .map(|x| sigmoid_f32(x) * scale + start)
                            .collect()
                    }
                })
            }
        }
    }
}

/// Checks user-supplied betas and rounds them to float32 (`torch.tensor(betas, float32)`).
fn trained_betas_f32(betas: &[f64], n: usize) -> Result<Vec<f32>> {
    if betas.len() != n {
        return Err(DiffusionError::config(
            "trained_betas",
            format!("expected num_train_timesteps = {n} values, got {}", betas.len()),
        ));
    }
    if let Some((t, b)) =
        betas.iter().enumerate().find(|(_, b)| !(b.is_finite() && **b > 0.0 && **b <= 1.0))
    {
        return Err(DiffusionError::config(
            "trained_betas",
            format!("beta[{t}] = {b} is outside (0, 1]"),
        ));
    }
    Ok(betas.iter().map(|&b| b as f32).collect())
}

/// diffusers' `betas_for_alpha_bar` with the cosine transform, in f64, rounded to float32.
fn cosine_betas(n: usize, max_beta: f64) -> Vec<f32> {
    let alpha_bar = |s: f64| ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(max_beta) as f32
        })
        .collect()
}

/// diffusers' `rescale_zero_terminal_snr` in float32: with `r_t = √ᾱ_t`,
/// `r'_t = (r_t − r_{T−1}) · r_0 / (r_0 − r_{T−1})`, `ᾱ'_t = r'_t²`,
/// `α'_0 = ᾱ'_0`, `α'_t = ᾱ'_t / ᾱ'_{t−1}`, and `β'_t = 1 − α'_t` (so `β'_{T−1} = 1`).
fn rescale_zero_terminal_snr(betas: &[f32]) -> Result<Vec<f32>> {
    let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
    let sqrt_bar: Vec<f32> = cumprod_f32(&alphas).iter().map(|a| a.sqrt()).collect();
    let (first, last) = (sqrt_bar[0], sqrt_bar[sqrt_bar.len() - 1]);
    if first - last <= 0.0 {
        return Err(DiffusionError::config(
            "rescale_betas_zero_snr",
            "needs a schedule whose alpha_cumprod decreases from the first to the last step",
        ));
    }
    let scale = first / (first - last);
    let bar: Vec<f32> = sqrt_bar
        .iter()
        .map(|r| {
            let r = (r - last) * scale;
            r * r
        })
        .collect();
    Ok(std::iter::once(bar[0])
        .chain(bar.windows(2).map(|w| w[1] / w[0]))
        .map(|alpha| 1.0 - alpha)
        .collect())
}

impl NoiseSchedule {
    /// The schedule of the float32 betas `betas` (`α = 1 − β` in float32, `ᾱ` by
    /// [`cumprod_f32`]).
    fn from_f32_betas(betas: &[f32]) -> Self {
        let alphas: Vec<f32> = betas.iter().map(|b| 1.0 - b).collect();
        let alphas_cumprod = cumprod_f32(&alphas);
        let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect();
        Self { betas: widen(betas), alphas: widen(&alphas), alphas_cumprod: widen(&alphas_cumprod) }
    }

    /// The number of training timesteps `T`.
    pub fn num_train_timesteps(&self) -> usize {
        self.betas.len()
    }

    /// `β_t` for `t = 0 … T−1`.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `α_t = 1 − β_t` for `t = 0 … T−1`.
    pub fn alphas(&self) -> &[f64] {
        &self.alphas
    }

    /// `ᾱ_t = ∏_{s≤t} α_s` for `t = 0 … T−1`.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// `ᾱ_t`, or [`DiffusionError::TimestepOutOfRange`] unless `t < T`.
    pub fn alpha_cumprod(&self, t: usize) -> Result<f64> {
        self.alphas_cumprod.get(t).copied().ok_or(DiffusionError::TimestepOutOfRange {
            timestep: t,
            num_train_timesteps: self.num_train_timesteps(),
        })
    }

    /// The beta of the jump from timestep `t` back to timestep `to` (`None`: the clean level,
    /// `ᾱ = 1`): `β_{t→to} = 1 − ᾱ_t / ᾱ_to = 1 − ∏_{to<r≤t} (1 − β_r)`.
    ///
    /// It is computed in f64 from the betas as `−expm1(Σ ln(1 − β_r))` rather than from the
    /// float32 `ᾱ` ratio, whose rounding would cost about four digits for a one-step jump
    /// (`β_{t→t−1} = β_t` exactly). Fails with [`DiffusionError::TimestepOutOfRange`] unless
    /// `to < t < T` (or `to = None`, `t < T`).
    pub fn jump_beta(&self, t: usize, to: Option<usize>) -> Result<f64> {
        self.alpha_cumprod(t)?;
        let first = match to {
            Some(to) if to >= t => {
                return Err(DiffusionError::TimestepOutOfRange {
                    timestep: to,
                    num_train_timesteps: t,
                });
            }
            Some(to) => to + 1,
            None => 0,
        };
        let log_alpha: f64 = self.betas[first..=t].iter().map(|b| (-b).ln_1p()).sum();
        Ok(-log_alpha.exp_m1())
    }

    /// The signal-to-noise ratio `SNR_t = ᾱ_t / (1 − ᾱ_t)` for `t = 0 … T−1`.
    pub fn snr(&self) -> Vec<f64> {
        self.alphas_cumprod.iter().map(|a| a / (1.0 - a)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::DiffusersRefs;

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn every_schedule_matches_diffusers_to_1e_9() {
        let refs = DiffusersRefs::load();
        let cases = [
            ("linear", BetaSchedule::Linear),
            ("scaled_linear", BetaSchedule::ScaledLinear),
            ("squaredcos_cap_v2", BetaSchedule::SquaredCosCapV2),
            ("sigmoid", BetaSchedule::Sigmoid),
        ];
        for (name, schedule) in cases {
            let expected = &refs.schedules[name];
            let got = ScheduleConfig::new().with_beta_schedule(schedule).init().unwrap();
            assert_eq!(got.num_train_timesteps(), refs.num_train_timesteps);
            let db = max_abs_diff(got.betas(), &expected.betas);
            let da = max_abs_diff(got.alphas_cumprod(), &expected.alphas_cumprod);
            assert!(db <= 1e-9, "{name}: betas differ by {db:e}");
            assert!(da <= 1e-9, "{name}: alphas_cumprod differ by {da:e}");
        }
    }

    #[test]
    fn serialised_names_are_diffusers_strings() {
        let json = serde_json::to_string(&BetaSchedule::SquaredCosCapV2).unwrap();
        assert_eq!(json, "\"squaredcos_cap_v2\"");
        let parsed: BetaSchedule = serde_json::from_str("\"scaled_linear\"").unwrap();
        assert_eq!(parsed, BetaSchedule::ScaledLinear);
    }

    #[test]
    fn derived_quantities_follow_their_definitions() {
        let schedule = ScheduleConfig::new().with_num_train_timesteps(50).init().unwrap();
        let mut product = 1.0;
        for t in 0..50 {
            assert!((schedule.alphas()[t] - (1.0 - schedule.betas()[t])).abs() < 1e-7);
            product *= schedule.alphas()[t];
            assert!((schedule.alphas_cumprod()[t] - product).abs() < 1e-6);
            let snr = schedule.snr()[t];
            let abar = schedule.alphas_cumprod()[t];
            assert!((snr - abar / (1.0 - abar)).abs() <= 1e-12 * snr);
        }
        assert!(schedule.alpha_cumprod(50).is_err());
        assert_eq!(schedule.jump_beta(7, Some(6)).unwrap(), schedule.betas()[7]);
        let jump = schedule.jump_beta(30, Some(10)).unwrap();
        let ratio = schedule.alphas_cumprod()[30] / schedule.alphas_cumprod()[10];
        assert!((jump - (1.0 - ratio)).abs() < 1e-6);
        let all = schedule.jump_beta(30, None).unwrap();
        assert!((all - (1.0 - schedule.alphas_cumprod()[30])).abs() < 1e-6);
        assert!(schedule.jump_beta(5, Some(5)).is_err());
    }

    #[test]
    fn zero_terminal_snr_keeps_the_first_and_zeroes_the_last_step() {
        let base = ScheduleConfig::new().with_beta_schedule(BetaSchedule::ScaledLinear);
        let plain = base.init().unwrap();
        let rescaled = base.clone().with_rescale_betas_zero_snr(true).init().unwrap();
        let abar = rescaled.alphas_cumprod();
        assert_eq!(abar[999], 0.0);
        assert_eq!(rescaled.snr()[999], 0.0);
        // Float32 round trip through sqrt, rescale, square and cumprod: a few ulps.
        assert!((abar[0] - plain.alphas_cumprod()[0]).abs() < 1e-6);
        assert!(abar.windows(2).all(|w| w[1] <= w[0]));
        // sqrt(abar) is an affine map of the original sqrt(abar).
        let (r, r0) = (
            |s: &NoiseSchedule, t: usize| s.alphas_cumprod()[t].sqrt(),
            plain.alphas_cumprod()[0].sqrt(),
        );
        let rt = r(&plain, 999);
        for t in [1, 250, 500, 900] {
            let expected = (r(&plain, t) - rt) * r0 / (r0 - rt);
            assert!((r(&rescaled, t) - expected).abs() < 1e-5, "t = {t}");
        }
    }

    #[test]
    fn trained_betas_replace_the_schedule() {
        let betas = vec![0.1, 0.2, 0.5];
        let schedule = ScheduleConfig::new()
            .with_num_train_timesteps(3)
            .with_trained_betas(Some(betas))
            .init()
            .unwrap();
        let expected = [0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5];
        for (got, want) in schedule.alphas_cumprod().iter().zip(expected) {
            assert!((got - want).abs() < 1e-7);
        }
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        let bad = [
            ScheduleConfig::new().with_num_train_timesteps(0),
            ScheduleConfig::new().with_beta_start(0.0),
            ScheduleConfig::new().with_beta_end(1.5),
            ScheduleConfig::new().with_beta_start(0.1).with_beta_end(0.01),
            ScheduleConfig::new().with_beta_start(f64::NAN),
            ScheduleConfig::new()
                .with_beta_schedule(BetaSchedule::SquaredCosCapV2)
                .with_max_beta(0.0),
            ScheduleConfig::new().with_trained_betas(Some(vec![0.1; 3])),
            ScheduleConfig::new()
                .with_num_train_timesteps(2)
                .with_trained_betas(Some(vec![0.1, -0.1])),
            ScheduleConfig::new()
                .with_num_train_timesteps(1)
                .with_trained_betas(Some(vec![0.1]))
                .with_rescale_betas_zero_snr(true),
        ];
        for config in bad {
            let err = config.init().unwrap_err();
            assert!(matches!(err, DiffusionError::Core(_)), "{config:?} gave {err}");
        }
    }
}

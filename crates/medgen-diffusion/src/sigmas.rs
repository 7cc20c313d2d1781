//! Noise-level (sigma) grids for the samplers that integrate the probability-flow ODE in the
//! variance-exploding parameterisation `x = x₀ + σ ε` (Karras et al., 2022).
//!
//! A VP model at timestep `t` sees `√ᾱ_t x₀ + √(1−ᾱ_t) ε = x / √(σ²+1)` with
//! `σ_t = √((1−ᾱ_t)/ᾱ_t)`; fractional timesteps interpolate `ln σ` linearly, both ways.

use crate::error::{DiffusionError, Result};
use crate::schedule::NoiseSchedule;

/// The Karras et al. (2022) exponent `ρ` of the sigma ramp.
pub const KARRAS_RHO: f64 = 7.0;

/// `ln σ_t` of the training timesteps, with the maps between `σ` and fractional timesteps.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSigmaTable {
    log_sigmas: Vec<f64>,
}

impl LogSigmaTable {
    /// The table of `schedule`; fails with `InvalidConfig` if some `ᾱ_t` is 0 (a
    /// zero-terminal-SNR schedule has `σ = ∞` at its last timestep).
    pub fn new(schedule: &NoiseSchedule) -> Result<Self> {
        let log_sigmas: Vec<f64> =
            schedule.alphas_cumprod().iter().map(|&a| 0.5 * ((1.0 - a) / a).ln()).collect();
        if log_sigmas.iter().any(|s| !s.is_finite()) {
            return Err(DiffusionError::config(
                "schedule",
                "sigma samplers need 0 < alpha_cumprod < 1 at every timestep \
                 (zero terminal SNR gives an infinite sigma)",
            ));
        }
        Ok(Self { log_sigmas })
    }

    /// `σ` of the first (smallest) and last (largest) training timestep.
    pub fn range(&self) -> (f64, f64) {
        let last = self.log_sigmas.len() - 1;
        (self.log_sigmas[0].exp(), self.log_sigmas[last].exp())
    }

    /// The fractional timestep of `σ` (diffusers' `_sigma_to_t`): linear in `ln σ` between the
    /// neighbouring training timesteps, clamped to `[0, T−1]`.
    pub fn sigma_to_t(&self, sigma: f64) -> f64 {
        let log_sigma = sigma.ln();
        let last = self.log_sigmas.len() - 1;
        if last == 0 || log_sigma <= self.log_sigmas[0] {
            return 0.0;
        }
        if log_sigma >= self.log_sigmas[last] {
            return last as f64;
        }
        let high = self.log_sigmas.partition_point(|&l| l < log_sigma);
        let low = high - 1;
        let (l0, l1) = (self.log_sigmas[low], self.log_sigmas[high]);
        low as f64 + (log_sigma - l0) / (l1 - l0)
    }

    /// `σ` at a fractional timestep `t ∈ [0, T−1]` (the inverse of
    /// [`LogSigmaTable::sigma_to_t`]).
    pub fn t_to_sigma(&self, t: f64) -> f64 {
        let last = self.log_sigmas.len() - 1;
        let t = t.clamp(0.0, last as f64);
        let low = (t.floor() as usize).min(last);
        let high = (low + 1).min(last);
        let frac = t - low as f64;
        ((1.0 - frac) * self.log_sigmas[low] + frac * self.log_sigmas[high]).exp()
    }
}

/// The Karras et al. (2022) noise levels:
/// `σ_i = (σ_max^{1/ρ} + i/(n−1) · (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ`, `i = 0 … n−1`
/// (`[σ_max]` for `n = 1`).
pub fn karras_sigmas(sigma_min: f64, sigma_max: f64, n: usize, rho: f64) -> Vec<f64> {
    let (min_inv, max_inv) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    (0..n)
        .map(|i| {
            let ramp = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
            (max_inv + ramp * (min_inv - max_inv)).powf(rho)
        })
        .collect()
}

/// `n` decreasing noise levels and their fractional timesteps, followed by `σ = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct SigmaGrid {
    /// `σ_0 > … > σ_{n−1} > σ_n = 0`.
    pub sigmas: Vec<f64>,
    /// The timesteps `t(σ_i)`, `i < n`.
    pub times: Vec<f64>,
}

impl SigmaGrid {
    /// Karras sigmas between the schedule's smallest and largest `σ` when `karras`, else the
    /// levels at `linspace(T−1, 0, n)` (diffusers' Euler `"linspace"` spacing). Fails with
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ n ≤ T`.
    pub fn new(table: &LogSigmaTable, n: usize, karras: bool) -> Result<Self> {
        let t_max = table.log_sigmas.len();
        if n == 0 || n > t_max {
            return Err(DiffusionError::InvalidStepCount {
                requested: n,
                num_train_timesteps: t_max,
            });
        }
        let (sigmas, times): (Vec<f64>, Vec<f64>) = if karras {
            let (sigma_min, sigma_max) = table.range();
            karras_sigmas(sigma_min, sigma_max, n, KARRAS_RHO)
                .into_iter()
                .map(|s| (s, table.sigma_to_t(s)))
                .unzip()
        } else {
            let last = (t_max - 1) as f64;
            (0..n)
                .map(|i| {
                    let t = if n > 1 { last * (1.0 - i as f64 / (n - 1) as f64) } else { last };
                    (table.t_to_sigma(t), t)
                })
                .unzip()
        };
        let mut sigmas = sigmas;
        sigmas.push(0.0);
        Ok(Self { sigmas, times })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;

    #[test]
    fn karras_ramp_hits_both_ends_with_rho_spacing() {
        let s = karras_sigmas(0.01, 80.0, 5, 7.0);
        assert!((s[0] - 80.0).abs() < 1e-9 && (s[4] - 0.01).abs() < 1e-12);
        let mid = (0.5 * (80f64.powf(1.0 / 7.0) + 0.01f64.powf(1.0 / 7.0))).powi(7);
        assert!((s[2] - mid).abs() < 1e-9);
        assert!(s.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn sigma_and_time_maps_are_inverse() {
        let schedule = ScheduleConfig::new().init().unwrap();
        let table = LogSigmaTable::new(&schedule).unwrap();
        let a = schedule.alphas_cumprod()[500];
        assert!((table.t_to_sigma(500.0) - ((1.0 - a) / a).sqrt()).abs() < 1e-12);
        for t in [0.0, 0.25, 17.5, 500.0, 998.9, 999.0] {
            assert!((table.sigma_to_t(table.t_to_sigma(t)) - t).abs() < 1e-9, "t = {t}");
        }
        let grid = SigmaGrid::new(&table, 10, true).unwrap();
        assert_eq!(grid.sigmas.len(), 11);
        assert!((grid.times[0] - 999.0).abs() < 1e-9 && grid.times[9].abs() < 1e-9);
        assert!(SigmaGrid::new(&table, 0, false).is_err());
        let zero_snr = ScheduleConfig::new().with_rescale_betas_zero_snr(true).init().unwrap();
        assert!(LogSigmaTable::new(&zero_snr).is_err());
    }
}

//! The noise-level arithmetic diffusers' discrete-time schedulers share, reproduced to the
//! float32 rounding they apply, so that medgen's trajectories match theirs number for number.
//!
//! - training sigmas `σ_t = √((1 − ᾱ_t)/ᾱ_t)` computed in float32;
//! - `numpy.interp` over the integer timesteps (linear in `σ`, not in `ln σ`);
//! - `_sigma_to_t`: the fractional timestep of `σ`, linear in `ln σ` between neighbours.

use crate::schedule::NoiseSchedule;

/// `σ_t = √((1 − ᾱ_t)/ᾱ_t)` for every training timestep, rounded as diffusers' float32 tensors
/// round it.
pub(crate) fn train_sigmas(schedule: &NoiseSchedule) -> Vec<f32> {
    schedule
        .alphas_cumprod()
        .iter()
        .map(|&a| {
            let a = a as f32;
            ((1.0 - a) / a).sqrt()
        })
        .collect()
}

/// `numpy.interp(t, arange(len), values)`: linear interpolation at the fractional index `t`,
/// clamped to the ends.
pub(crate) fn interp(t: f64, values: &[f32]) -> f64 {
    let last = values.len() - 1;
    if t <= 0.0 {
        return f64::from(values[0]);
    }
    if t >= last as f64 {
        return f64::from(values[last]);
    }
    let low = t.floor() as usize;
    let frac = t - low as f64;
    let (a, b) = (f64::from(values[low]), f64::from(values[low + 1]));
    a + frac * (b - a)
}

/// diffusers' `_sigma_to_t`: with `l_i = ln σ_i` (float32), the last `i ≤ T − 2` with
/// `l_i ≤ ln σ` (0 if none), and `t = i + w`, `w = clamp((l_i − ln σ)/(l_i − l_{i+1}), 0, 1)`.
pub(crate) fn sigma_to_t(sigma: f64, sigmas: &[f32]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    let log_sigmas: Vec<f64> = sigmas.iter().map(|&s| f64::from(s.ln())).collect();
    let last_ok = log_sigmas.iter().rposition(|&l| log_sigma - l >= 0.0).unwrap_or(0);
    let low = last_ok.min(log_sigmas.len().saturating_sub(2));
    let high = low + 1;
    let (l_low, l_high) = (log_sigmas[low], log_sigmas[high]);
    let w = ((l_low - log_sigma) / (l_low - l_high)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * high as f64
}

/// `numpy.linspace(start, stop, num)`: `start + i · (stop − start)/(num − 1)`, the last element
/// pinned to `stop`.
pub(crate) fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    (0..num).map(|i| if i + 1 == num { stop } else { start + i as f64 * step }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_and_sigma_to_t_invert_each_other_on_the_grid() {
        let sigmas = [0.1f32, 0.2, 0.4, 0.8];
        assert_eq!(interp(1.5, &sigmas), (0.2f32 as f64 + 0.4f32 as f64) / 2.0);
        assert_eq!(interp(-1.0, &sigmas), 0.1f32 as f64);
        assert_eq!(interp(9.0, &sigmas), 0.8f32 as f64);
        for (i, &s) in sigmas.iter().enumerate() {
            assert!((sigma_to_t(f64::from(s), &sigmas) - i as f64).abs() < 1e-6, "{i}");
        }
        // Halfway in ln σ between 0.2 and 0.4.
        assert!((sigma_to_t((0.2f64 * 0.4).sqrt(), &sigmas) - 1.5).abs() < 1e-6);
        assert_eq!(sigma_to_t(0.01, &sigmas), 0.0);
        assert_eq!(sigma_to_t(10.0, &sigmas), 3.0);
        assert_eq!(linspace(0.0, 9.0, 4), vec![0.0, 3.0, 6.0, 9.0]);
    }
}

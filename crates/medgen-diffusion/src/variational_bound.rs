//! The variational bound of a DDPM per timestep (Ho et al., 2020; Nichol & Dhariwal, 2021), as
//! MONAI's `DiffusionInferer.get_likelihood` computes it, for likelihood-based anomaly scoring.
//!
//! `−log p_θ(x₀) ≤ L_T + Σ_{t≥1} L_t + L_0` with
//!
//! - `L_t = KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t))` for `t ≥ 1`, `x_t ~ q(x_t | x₀)`,
//! - `L_0 = −log p_θ(x₀ | x₁)`, a Gaussian discretised to 256 bins of data in `[−1, 1]`,
//! - `L_T = KL(q(x_{T−1} | x₀) ‖ N(0, I))`, the prior term (no network involved).
//!
//! Every term is reported per element (a map shaped like the image) and as the mean over an
//! item's elements, in bits per dimension (nats / ln 2), as improved DDPM's `_vb_terms_bpd`.

use burn::tensor::Tensor;
use medgen_core::noise::gaussian_like;
use medgen_core::{Condition, TimeConditionedNetwork};
use rand::Rng;

use crate::ddpm::{DdpmScheduler, StepStd};
use crate::error::Result;

/// The number of intensity levels of the discretised decoder (8-bit data mapped to `[−1, 1]`).
pub const DECODER_BINS: usize = 256;

/// `KL(N(μ₁, e^{v₁}) ‖ N(μ₂, e^{v₂}))` per element, in nats:
///
/// `½ (−1 + v₂ − v₁ + e^{v₁−v₂} + (μ₁ − μ₂)² e^{−v₂})`
///
/// (all four tensors alike, any rank; `v` are log variances).
pub fn normal_kl<const D: usize>(
    mean1: Tensor<D>,
    log_var1: Tensor<D>,
    mean2: Tensor<D>,
    log_var2: Tensor<D>,
) -> Tensor<D> {
    let log_ratio = log_var1.sub(log_var2.clone());
    let squared = mean1.sub(mean2).powi_scalar(2).mul(log_var2.neg().exp());
    log_ratio.clone().exp().sub(log_ratio).add(squared).sub_scalar(1.0).mul_scalar(0.5)
}

/// The tanh approximation of the standard normal CDF used by improved DDPM:
/// `Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
pub fn approx_standard_normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let cubic = x.clone().powi_scalar(3).mul_scalar(0.044715);
    x.add(cubic)
        .mul_scalar((2.0 / std::f64::consts::PI).sqrt())
        .tanh()
        .add_scalar(1.0)
        .mul_scalar(0.5)
}

/// `log p(x)` per element, in nats, of data `x ∈ [−1, 1]` on the grid of [`DECODER_BINS`]
/// levels under `N(mean, e^{2 log_scale})` discretised to bins of width `2/255`
/// (improved DDPM's `discretized_gaussian_log_likelihood`):
///
/// `p(x) = Φ((x − μ + 1/255)/σ) − Φ((x − μ − 1/255)/σ)`, the lowest bin extended to `−∞` and
/// the highest to `+∞` (`x < −0.999`, `x > 0.999`), so that the 256 probabilities sum to 1;
/// each probability is clamped below at 1e−12 before the log. All tensors alike, any rank.
pub fn discretized_gaussian_log_likelihood<const D: usize>(
    x: Tensor<D>,
    mean: Tensor<D>,
    log_scale: Tensor<D>,
) -> Tensor<D> {
    let half_bin = 1.0 / (DECODER_BINS - 1) as f64;
    let centered = x.clone().sub(mean);
    let inv_std = log_scale.neg().exp();
    let cdf_plus =
        approx_standard_normal_cdf(centered.clone().add_scalar(half_bin).mul(inv_std.clone()));
    let cdf_min = approx_standard_normal_cdf(centered.sub_scalar(half_bin).mul(inv_std));
    let log_cdf_plus = cdf_plus.clone().clamp_min(1e-12).log();
    let log_one_minus_cdf_min = cdf_min.clone().neg().add_scalar(1.0).clamp_min(1e-12).log();
    let log_delta = cdf_plus.sub(cdf_min).clamp_min(1e-12).log();
    let top = x.clone().greater_elem(0.999);
    let bottom = x.lower_elem(-0.999);
    log_delta.mask_where(top, log_one_minus_cdf_min).mask_where(bottom, log_cdf_plus)
}

/// The per-item mean of a per-element map `[N, ...]` converted from nats to bits: `[N]`.
fn bits_per_dim<const D: usize>(map: Tensor<D>) -> Tensor<1> {
    let batch = map.dims()[0];
    map.reshape([batch as i32, -1]).mean_dim(1).reshape([batch]).div_scalar(std::f64::consts::LN_2)
}

/// The variational-bound terms of a batch (see the module documentation); all in bits/dim.
#[derive(Clone, Debug)]
pub struct VariationalBound<const D: usize> {
    /// The timesteps evaluated, in the order given.
    pub timesteps: Vec<usize>,
    /// Per timestep, `[N]`: `L_t` (`t ≥ 1`) or the decoder NLL `L_0` (`t = 0`), averaged over
    /// each item's elements.
    pub terms: Vec<Tensor<1>>,
    /// Per timestep, the per-element map `[N, C, ...]` of the same term (bits per element);
    /// empty unless requested.
    pub maps: Vec<Tensor<D>>,
    /// The prior term `L_T`, `[N]`.
    pub prior: Tensor<1>,
    /// `L_T + Σ terms`, `[N]`: the full bound (bits/dim) when every timestep `0..T` is given.
    pub total: Tensor<1>,
    /// The number of network evaluations (one per timestep).
    pub nfe: usize,
}

/// The prior term `L_T = KL(N(√ᾱ_{T−1} x₀, 1−ᾱ_{T−1}) ‖ N(0, 1))` of `x₀` (`[N, ...]`) under
/// `scheduler`'s schedule, per element in nats.
pub fn prior_kl_map<const D: usize>(scheduler: &DdpmScheduler, x0: Tensor<D>) -> Tensor<D> {
    let schedule = scheduler.schedule();
    let alpha = schedule.alphas_cumprod()[schedule.num_train_timesteps() - 1];
    // ½ (−1 − ln(1−ᾱ) + (1−ᾱ) + ᾱ x₀²)
    let constant = 0.5 * (-1.0 - (1.0 - alpha).ln() + (1.0 - alpha));
    x0.powi_scalar(2).mul_scalar(0.5 * alpha).add_scalar(constant)
}

/// Evaluates the bound terms of `x₀` (`[N, C, ...]`, any rank, data in `[−1, 1]`) at
/// `timesteps` (any subset of `0..T`; all of them give the full bound), with one network
/// evaluation per timestep on `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`, `ε` drawn from `rng`.
///
/// The model's reverse step `p_θ(x_{t−1} | x_t)` is `scheduler`'s posterior
/// ([`DdpmScheduler::posterior`]: its prediction type, clipping and variance type, learned
/// variances included), always for the one-step jump `t → t−1` whatever inference timesteps
/// the scheduler holds. As in improved DDPM, the fixed variance types use the posterior variance
/// of `t = 1` at `t = 0` (where the posterior variance vanishes). With `keep_maps`, the
/// per-element maps are returned too. Nothing is read back to the host except the schedulers'
/// finiteness checks of the model output.
///
/// Errors: [`TimestepOutOfRange`](crate::DiffusionError::TimestepOutOfRange), an `Empty` error for no timesteps or an
/// empty `x₀`, the errors of [`DdpmScheduler::posterior`] (shape, NaN output) and the
/// network's.
pub fn variational_bound<const D: usize, N, R>(
    network: &N,
    scheduler: &DdpmScheduler,
    x0: Tensor<D>,
    condition: &Condition<D>,
    timesteps: &[usize],
    keep_maps: bool,
    rng: &mut R,
) -> Result<VariationalBound<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
    R: Rng + ?Sized,
{
    let dims = x0.dims();
    medgen_core::check::ensure_non_empty(&dims, "x0")?;
    medgen_core::check::ensure_finite(&x0, "x0")?;
    medgen_core::check::ensure_non_empty(&[timesteps.len()], "timesteps")?;
    // A scheduler over all training timesteps: its posterior is the one-step posterior.
    let one_step = scheduler.config().init()?;
    let total_steps = one_step.schedule().num_train_timesteps();
    for &t in timesteps {
        one_step.schedule().alpha_cumprod(t)?;
    }
    let batch = dims[0];
    let device = x0.device();
    let prior_map = prior_kl_map(&one_step, x0.clone());
    let prior = bits_per_dim(prior_map);
    let mut total = prior.clone();
    let mut terms = Vec::with_capacity(timesteps.len());
    let mut maps = Vec::new();
    for &t in timesteps {
        let alpha = one_step.schedule().alphas_cumprod()[t];
        let noise = gaussian_like(&x0, rng)?;
        let x_t = x0.clone().mul_scalar(alpha.sqrt()).add(noise.mul_scalar((1.0 - alpha).sqrt()));
        let time = Tensor::<1>::full([batch], t as f32, &device);
        let output = network.evaluate(x_t.clone(), time, condition)?;
        let model = one_step.posterior(output, t, x_t.clone())?;
        let map = if t == 0 {
            let log_scale = match model.std {
                StepStd::PerElement(std) => std.log(),
                StepStd::Constant(_) if total_steps > 1 => {
                    let clipped = one_step.posterior_coefficients(1)?.variance;
                    x0.zeros_like().add_scalar(0.5 * clipped.ln())
                }
                StepStd::Constant(std) => x0.zeros_like().add_scalar(std.ln()),
            };
            discretized_gaussian_log_likelihood(x0.clone(), model.mean, log_scale).neg()
        } else {
            let c = one_step.posterior_coefficients(t)?;
            let true_mean =
                x0.clone().mul_scalar(c.x0_coefficient).add(x_t.mul_scalar(c.sample_coefficient));
            let true_log_var = x0.zeros_like().add_scalar(c.variance.ln());
            let model_log_var = match model.std {
                StepStd::PerElement(std) => std.log().mul_scalar(2.0),
                StepStd::Constant(std) => x0.zeros_like().add_scalar(2.0 * std.ln()),
            };
            normal_kl(true_mean, true_log_var, model.mean, model_log_var)
        };
        let term = bits_per_dim(map.clone());
        total = total.add(term.clone());
        terms.push(term);
        if keep_maps {
            maps.push(map.div_scalar(std::f64::consts::LN_2));
        }
    }
    Ok(VariationalBound {
        timesteps: timesteps.to_vec(),
        terms,
        maps,
        prior,
        total,
        nfe: timesteps.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddpm::DdpmSchedulerConfig;
    use crate::error::DiffusionError;
    use burn::tensor::TensorData;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
    }

    #[test]
    fn kl_of_identical_gaussians_is_zero_and_matches_the_closed_form() {
        let device = test_device();
        let m1 = Tensor::<1>::from_floats([0.3, -1.0, 2.0], &device);
        let v1 = Tensor::<1>::from_floats([0.0, -2.0, 1.0], &device);
        let same = values(normal_kl(m1.clone(), v1.clone(), m1.clone(), v1.clone()));
        assert!(same.iter().all(|k| k.abs() < 1e-6), "{same:?}");
        let m2 = Tensor::<1>::from_floats([1.0, 0.5, -1.0], &device);
        let v2 = Tensor::<1>::from_floats([0.5, 0.0, -1.0], &device);
        let got = values(normal_kl(m1, v1, m2, v2));
        let params = [(0.3, 0.0, 1.0, 0.5), (-1.0, -2.0, 0.5, 0.0), (2.0, 1.0, -1.0, -1.0)];
        for (g, (m1, v1, m2, v2)) in got.iter().zip(params) {
            // KL = ln(σ₂/σ₁) + (σ₁² + (μ₁−μ₂)²)/(2σ₂²) − ½
            let (s1, s2) = (f64::exp(0.5 * v1), f64::exp(0.5 * v2));
            let expected =
                (s2 / s1).ln() + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2.0 * s2 * s2) - 0.5;
            assert!((g - expected).abs() < 1e-5 * expected.max(1.0), "{g} vs {expected}");
        }
    }

    #[test]
    fn discretised_decoder_probabilities_sum_to_one() {
        let device = test_device();
        let levels: Vec<f32> =
            (0..DECODER_BINS).map(|i| -1.0 + 2.0 * i as f32 / (DECODER_BINS - 1) as f32).collect();
        for (mean, log_scale) in [(0.1f32, -3.0f32), (-0.95, -1.0), (0.99, -5.0), (0.0, 0.5)] {
            let x =
                Tensor::<1>::from_data(TensorData::new(levels.clone(), [DECODER_BINS]), &device);
            let means = x.zeros_like().add_scalar(mean);
            let scales = x.zeros_like().add_scalar(log_scale);
            let total: f64 =
                values(discretized_gaussian_log_likelihood(x, means, scales).exp()).iter().sum();
            assert!((total - 1.0).abs() < 1e-4, "mean {mean}: sum {total}");
        }
    }

    fn scheduler() -> DdpmScheduler {
        DdpmSchedulerConfig::new().with_num_train_timesteps(12).with_beta_end(0.4).init().unwrap()
    }

    #[test]
    fn a_perfect_oracle_has_a_lower_bound_than_a_zero_predictor() {
        let device = test_device();
        let x0 = Tensor::<4>::from_data(
            TensorData::new(vec![-1.0f32, -0.5, 0.25, 1.0, 0.0, 0.75, -0.25, 0.5], [2, 1, 2, 2]),
            &device,
        );
        let scheduler = scheduler();
        let abar = scheduler.schedule().alphas_cumprod().to_vec();
        let target = x0.clone();
        // Exact noise from the known x₀: ε = (x_t − √ᾱ_t x₀)/√(1−ᾱ_t).
        let oracle = |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            let a = abar[t.slice(0..1).into_scalar::<f32>() as usize];
            Ok(x.sub(target.clone().mul_scalar(a.sqrt())).div_scalar((1.0 - a).sqrt()))
        };
        let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
        let all: Vec<usize> = (0..12).rev().collect();
        let none = Condition::none();
        let good = variational_bound(
            &oracle,
            &scheduler,
            x0.clone(),
            &none,
            &all,
            true,
            &mut seeded_rng(0),
        )
        .unwrap();
        let bad = variational_bound(&zero, &scheduler, x0, &none, &all, false, &mut seeded_rng(0))
            .unwrap();
        assert_eq!(good.nfe, 12);
        assert_eq!((good.maps.len(), bad.maps.len()), (12, 0));
        assert_eq!(good.maps[0].dims(), [2, 1, 2, 2]);
        // With the exact noise the predicted posterior mean is the true one: every KL term is 0.
        for term in &good.terms[..11] {
            assert!(values(term.clone()).iter().all(|k| k.abs() < 1e-3));
        }
        let (good_total, bad_total) = (values(good.total), values(bad.total));
        for (g, b) in good_total.iter().zip(&bad_total) {
            assert!(g < b, "oracle {g} vs zero predictor {b}");
        }
        // Prior term: closed form for x₀ = −1 at ᾱ_{T−1}.
        let a = abar[11];
        let expected = 0.5 * (-1.0 - (1.0 - a).ln() + (1.0 - a) + a) / std::f64::consts::LN_2;
        let prior_map = prior_kl_map(&scheduler, Tensor::<1>::from_floats([-1.0], &device));
        let got = values(prior_map)[0] / std::f64::consts::LN_2;
        assert!((got - expected).abs() < 1e-5);
    }

    #[test]
    fn bad_timesteps_are_typed_errors() {
        let device = test_device();
        let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
        let x0 = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let none = Condition::none();
        let scheduler = scheduler();
        assert!(matches!(
            variational_bound(
                &zero,
                &scheduler,
                x0.clone(),
                &none,
                &[12],
                false,
                &mut seeded_rng(0)
            ),
            Err(DiffusionError::TimestepOutOfRange { .. })
        ));
        assert!(
            variational_bound(&zero, &scheduler, x0, &none, &[], false, &mut seeded_rng(0))
                .is_err()
        );
    }
}

//! Spectral normalisation (Miyato et al. 2018): a weight `W` is used as `W / σ̂(W)`, where
//! `σ̂(W)` estimates its largest singular value by power iteration, so that each layer is
//! (approximately) 1-Lipschitz and so is the whole discriminator.
//!
//! This is the recommended Lipschitz control of medgen-gan: it needs only first-order autodiff
//! (the gradient flows through `σ̂ = uᵀ W v` with `u`, `v` held constant, as in the paper), costs
//! one matrix–vector product pair per layer and step, and needs no extra discriminator
//! evaluations. [`crate::penalty`] offers finite-difference gradient penalties for the cases
//! where a penalty is wanted.
//!
//! - [`SpectralNorm`]: the power-iteration state (`u`) and the estimate `σ̂`.
//! - [`SpectralNormLinear`], [`SpectralNormConv`]: layer wrappers for [`burn::nn::Linear`] and
//!   [`medgen_nn::SpatialConv`] (Conv2d/Conv3d).

mod conv;
mod linear;

pub use conv::SpectralNormConv;
pub use linear::SpectralNormLinear;

use burn::config::Config;
use burn::module::{Flag, Module, Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::CoreError;

use crate::error::Result;

/// Configuration of spectral normalisation.
#[derive(Config, Debug)]
pub struct SpectralNormConfig {
    /// Power iterations `n` per forward pass in training mode (Miyato et al. use 1: the
    /// estimate keeps improving across steps because `u` persists).
    #[config(default = 1)]
    pub n_power_iterations: usize,
    /// Floor `ε` of the norms divided by in the power iteration, `x / max(‖x‖, ε)`.
    #[config(default = 1e-12)]
    pub eps: f64,
}

/// The power-iteration state of one spectrally normalised weight.
///
/// For a weight viewed as a matrix `W ∈ ℝ^{m×k}` (`m` output features, `k` = everything else:
/// `[out, in·kernel…]` for a convolution), it keeps a unit vector `u ∈ ℝ^m` (a persistent
/// buffer saved with the model, not trained) and computes
///
/// ```text
/// training (autodiff device, training flag on), n times:  v ← Wᵀu / ‖Wᵀu‖,  u ← W v / ‖W v‖
/// then (always):                                           v = Wᵀu / ‖Wᵀu‖
///                                                          σ̂ = uᵀ W v   (= ‖Wᵀu‖)
/// ```
///
/// with `u`, `v` computed from `W` detached, so that `∂σ̂/∂W = u vᵀ` as in the paper. In
/// inference (`model.valid()` or a non-autodiff device) `u` is used as stored, without
/// iterating. `σ̂ ≤ σ_max(W)` and converges to it at the rate `(σ₂/σ₁)^{2t}` over `t`
/// iterations.
///
/// `u` starts as a fixed, normalised quasi-random vector (`u_i ∝ frac((i + 1)·φ⁻¹) − ½`, `φ`
/// the golden ratio), so construction draws no random numbers.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    /// The left singular-vector estimate `u`, `[m]`.
    pub u: RunningState<Tensor<1>>,
    /// Whether the power iteration runs (cleared by `Module::valid`).
    pub training: Param<Flag>,
    /// Power iterations per training forward pass.
    pub n_power_iterations: usize,
    /// Norm floor of the normalisations.
    pub eps: f64,
}

impl SpectralNormConfig {
    /// Fails with [`CoreError::InvalidConfig`] unless `n_power_iterations ≥ 1` and `eps` is
    /// finite and positive.
    pub fn validate(&self) -> Result<()> {
        if self.n_power_iterations == 0 {
            return Err(CoreError::config("n_power_iterations", "must be at least 1").into());
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(CoreError::config(
                "eps",
                format!("must be finite and positive, got {}", self.eps),
            )
            .into());
        }
        Ok(())
    }

    /// The state for a weight matrix with `rows` output features, on `device`.
    pub fn init(&self, rows: usize, device: &Device) -> Result<SpectralNorm> {
        self.validate()?;
        if rows == 0 {
            return Err(CoreError::config("rows", "a weight needs at least one row").into());
        }
        let inverse_golden = 0.618_033_988_749_894_9_f64;
        let raw: Vec<f64> = (1..=rows).map(|i| (i as f64 * inverse_golden).fract() - 0.5).collect();
        let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
        let u: Vec<f32> = raw.iter().map(|v| (v / norm) as f32).collect();
        Ok(SpectralNorm {
            u: RunningState::new(Tensor::from_data(TensorData::new(u, [rows]), device)),
            training: Param::from_bool(true),
            n_power_iterations: self.n_power_iterations,
            eps: self.eps,
        })
    }

    /// Wraps a linear layer (see [`SpectralNormLinear`]).
    pub fn init_linear(&self, linear: burn::nn::Linear) -> Result<SpectralNormLinear> {
        SpectralNormLinear::new(linear, self)
    }

    /// Wraps a 2D or 3D convolution (see [`SpectralNormConv`]).
    pub fn init_conv(&self, conv: medgen_nn::SpatialConv) -> Result<SpectralNormConv> {
        SpectralNormConv::new(conv, self)
    }
}

impl SpectralNorm {
    /// The length `m` of `u` (rows of the weight matrix).
    pub fn rows(&self) -> usize {
        self.u.value().dims()[0]
    }

    /// `σ̂(W)` for `weight` `[m, k]` as a `[1]` tensor differentiable w.r.t. `weight`; in
    /// training mode it first runs the power iteration and stores the new `u`.
    ///
    /// # Panics
    /// If `weight` does not have `m` rows (the wrappers guarantee it).
    pub fn sigma(&self, weight: Tensor<2>) -> Tensor<1> {
        let device = weight.device();
        let training = device.is_autodiff() && self.training.is_enabled();
        let w = weight.clone().detach();
        let mut u = self.u.value_sync().to_device(&device).detach().unsqueeze_dim::<2>(1);
        if training {
            for _ in 0..self.n_power_iterations {
                let v = self.normalize(w.clone().transpose().matmul(u));
                u = self.normalize(w.clone().matmul(v));
            }
            self.u.update(u.clone().squeeze_dim::<1>(1));
        }
        let v = self.normalize(w.transpose().matmul(u.clone()));
        u.mul(weight.matmul(v)).sum()
    }

    /// `W / σ̂(W)` for `weight` `[m, k]`.
    pub fn normalize_weight(&self, weight: Tensor<2>) -> Tensor<2> {
        let sigma = self.sigma(weight.clone());
        weight.div(sigma.unsqueeze_dim::<2>(1))
    }

    /// `x / max(‖x‖, ε)` for a column vector `[r, 1]`.
    fn normalize(&self, x: Tensor<2>) -> Tensor<2> {
        let norm = x.clone().powi_scalar(2).sum().sqrt().clamp_min(self.eps);
        x.div(norm.unsqueeze_dim::<2>(1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use medgen_testing::test_device;

    /// The largest singular value of a row-major `[m, k]` matrix, from faer's SVD in f64.
    pub(crate) fn largest_singular_value(values: &[f32], m: usize, k: usize) -> f64 {
        let matrix = faer::Mat::<f64>::from_fn(m, k, |i, j| f64::from(values[i * k + j]));
        matrix.singular_values().unwrap().into_iter().fold(0.0, f64::max)
    }

    pub(crate) fn random_matrix(m: usize, k: usize, seed: u64) -> Vec<f32> {
        use rand::RngExt;
        let mut rng = medgen_core::seeded_rng(seed);
        (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// After 60 one-step forwards in training mode the estimate agrees with the SVD to 1e-3
    /// (relative); in inference mode `u` stays as it was.
    #[test]
    fn estimate_matches_svd() {
        let device = test_device().autodiff();
        let (m, k) = (6, 10);
        let values = random_matrix(m, k, 7);
        let exact = largest_singular_value(&values, m, k);
        let weight = Tensor::<2>::from_data(TensorData::new(values, [m, k]), &device);
        let sn = SpectralNormConfig::new().init(m, &device).unwrap();
        for _ in 0..60 {
            let _ = sn.sigma(weight.clone());
        }
        let estimate = f64::from(sn.sigma(weight.clone()).into_scalar::<f32>());
        assert!((estimate - exact).abs() / exact < 1e-3, "σ̂ = {estimate}, SVD σ = {exact}");
        let normalized = sn.normalize_weight(weight.clone()).into_data();
        let normalized = normalized.try_to_vec::<f32>().unwrap();
        let sigma_normalized = largest_singular_value(&normalized, m, k);
        assert!((sigma_normalized - 1.0).abs() < 2e-3, "{sigma_normalized}");

        let frozen = sn.valid();
        let u_before = frozen.u.value().into_data().try_to_vec::<f32>().unwrap();
        let _ = frozen.sigma(weight.inner());
        let u_after = frozen.u.value().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(u_before, u_after);
    }

    /// `σ̂ = uᵀ W v` with `u`, `v` constant: its gradient w.r.t. `W` is `u vᵀ`, whose entries
    /// for a rank-one `W = s · a bᵀ` are `a_i b_j` (up to a common sign).
    #[test]
    fn gradient_is_outer_product_of_singular_vectors() {
        let device = test_device().autodiff();
        let a = [0.6f32, 0.8];
        let b = [1.0f32, 0.0, 0.0];
        let values: Vec<f32> =
            a.iter().flat_map(|ai| b.iter().map(move |bj| 3.0 * ai * bj)).collect();
        let weight =
            Tensor::<2>::from_data(TensorData::new(values, [2, 3]), &device).require_grad();
        let sn = SpectralNormConfig::new().with_n_power_iterations(5).init(2, &device).unwrap();
        let sigma = sn.sigma(weight.clone());
        assert!((sigma.clone().into_scalar::<f32>() - 3.0).abs() < 1e-5);
        let grad = weight.grad(&sigma.backward()).unwrap();
        let grad = grad.into_data().try_to_vec::<f32>().unwrap();
        let expected = [0.6, 0.0, 0.0, 0.8, 0.0, 0.0];
        let sign = grad[0].signum();
        for (g, e) in grad.iter().zip(expected) {
            assert!((g - sign * e).abs() < 1e-5, "{grad:?}");
        }
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        assert!(SpectralNormConfig::new().with_n_power_iterations(0).init(3, &device).is_err());
        assert!(SpectralNormConfig::new().with_eps(f64::NAN).init(3, &device).is_err());
        assert!(SpectralNormConfig::new().init(0, &device).is_err());
    }
}

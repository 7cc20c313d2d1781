//! Diagonal Gaussian distributions: the VAE posterior `q(z | x)` and its prior.

use std::f64::consts::PI;

use burn::tensor::Tensor;
use medgen_core::SeededRng;
use medgen_core::noise::gaussian_like;

use crate::error::Result;

/// `N(μ, diag(exp(log σ²)))` over tensors of any shape `[N, ...]`; each batch item is one
/// distribution over all its other elements.
#[derive(Clone, Debug)]
pub struct DiagonalGaussian<const D: usize> {
    /// The mean `μ`.
    pub mean: Tensor<D>,
    /// The log-variance `log σ²` (same shape as `mean`).
    pub log_var: Tensor<D>,
}

impl<const D: usize> DiagonalGaussian<D> {
    /// A distribution from its mean and log-variance.
    pub fn new(mean: Tensor<D>, log_var: Tensor<D>) -> Self {
        Self { mean, log_var }
    }

    /// Splits `h` `[N, 2C, ...]` on channels into `μ` (first `C`) and `log σ²` (last `C`),
    /// the log-variance clamped to `[−30, 20]` (as AutoencoderKL) so that `exp` stays finite.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`](medgen_core::CoreError::ShapeMismatch) naming `h` unless
    /// it has a channel axis with an even, non-zero number of channels.
    pub fn from_channels(h: Tensor<D>) -> Result<Self> {
        let dims = h.dims();
        let channels = if D >= 2 { dims[1] } else { 0 };
        if channels == 0 || channels % 2 != 0 {
            return Err(medgen_core::CoreError::shape(
                "h",
                "[N, 2C, ...] with an even channel count 2C ≥ 2",
                &dims,
            )
            .into());
        }
        let half = channels / 2;
        let mean = h.clone().narrow(1, 0, half);
        let log_var = h.narrow(1, half, half);
        Ok(Self::new(mean, log_var.clamp(-30.0, 20.0)))
    }

    /// The standard deviation `σ = exp(½ log σ²)`.
    pub fn std(&self) -> Tensor<D> {
        self.log_var.clone().mul_scalar(0.5).exp()
    }

    /// A reparameterised sample `z = μ + σ ⊙ ε`, `ε ~ N(0, I)` drawn from `rng`; gradients
    /// flow to `μ` and `log σ²`.
    pub fn sample(&self, rng: &mut SeededRng) -> Result<Tensor<D>> {
        let eps = gaussian_like(&self.mean, rng)?;
        Ok(self.mean.clone().add(self.std().mul(eps)))
    }

    /// Per-element `KL[q ‖ N(0, 1)] = ½ (μ² + σ² − 1 − log σ²)`, shaped like `mean`.
    pub fn kl_standard_normal_elementwise(&self) -> Tensor<D> {
        self.mean
            .clone()
            .square()
            .add(self.log_var.clone().exp())
            .sub(self.log_var.clone())
            .sub_scalar(1.0)
            .mul_scalar(0.5)
    }

    /// `KL[q ‖ N(0, I)]` summed over each item, `[N]`.
    pub fn kl_standard_normal(&self) -> Tensor<1> {
        sum_per_item(self.kl_standard_normal_elementwise())
    }

    /// `KL[q ‖ p]` between two diagonal Gaussians, summed over each item, `[N]`:
    /// `½ Σ (log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²) / σ_p² − 1)`.
    pub fn kl(&self, p: &Self) -> Tensor<1> {
        let var_ratio = self.log_var.clone().sub(p.log_var.clone()).exp();
        let mean_term = self.mean.clone().sub(p.mean.clone()).square().div(p.log_var.clone().exp());
        sum_per_item(
            p.log_var
                .clone()
                .sub(self.log_var.clone())
                .add(var_ratio)
                .add(mean_term)
                .sub_scalar(1.0)
                .mul_scalar(0.5),
        )
    }

    /// `log q(z)` summed over each item, `[N]`:
    /// `−½ Σ ((z − μ)² / σ² + log σ² + log 2π)`.
    pub fn log_prob(&self, z: Tensor<D>) -> Tensor<1> {
        let quad = z.sub(self.mean.clone()).square().div(self.log_var.clone().exp());
        sum_per_item(quad.add(self.log_var.clone()).add_scalar((2.0 * PI).ln()).mul_scalar(-0.5))
    }
}

/// `log N(z; 0, I)` summed over each item, `[N]`: `−½ Σ (z² + log 2π)`.
pub fn standard_normal_log_prob<const D: usize>(z: Tensor<D>) -> Tensor<1> {
    sum_per_item(z.square().add_scalar((2.0 * PI).ln()).mul_scalar(-0.5))
}

/// Sums every axis but the first: `[N, ...] → [N]`.
pub fn sum_per_item<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let n = x.dims()[0];
    x.reshape([n as i32, -1]).sum_dim(1).reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    fn scalars(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Hand-computed: KL[N(1, 4) ‖ N(0, 1)] = ½ (1 + 4 − 1 − ln 4) and
    /// KL[N(1, 4) ‖ N(−1, 0.25)] = ½ (ln 0.25 − ln 4 + (4 + 4)/0.25 − 1).
    #[test]
    fn kl_matches_the_closed_form() {
        let device = test_device();
        let q = DiagonalGaussian::new(
            Tensor::<2>::from_floats([[1.0, 0.0]], &device),
            Tensor::<2>::from_floats([[4f32.ln(), 0.0]], &device),
        );
        let p = DiagonalGaussian::new(
            Tensor::<2>::from_floats([[-1.0, 0.0]], &device),
            Tensor::<2>::from_floats([[0.25f32.ln(), 0.0]], &device),
        );
        let expected = 0.5 * (4.0 - 4f64.ln());
        assert!((scalars(q.kl_standard_normal())[0] as f64 - expected).abs() < 1e-5);
        let expected = 0.5 * (0.25f64.ln() - 4f64.ln() + 8.0 / 0.25 - 1.0);
        assert!((scalars(q.kl(&p))[0] as f64 - expected).abs() < 1e-4);
    }

    /// KL[q ‖ p] = ∫ q(z) (log q(z) − log p(z)) dz by the trapezoidal rule in 1D, with
    /// log-densities from `log_prob` (so the densities are checked too).
    #[test]
    fn kl_matches_a_numerical_integral() {
        let device = test_device();
        let (mq, vq, mp, vp) = (0.3f32, 0.5f32, -0.4f32, 1.7f32);
        let grid: Vec<f32> = (0..4001).map(|i| -12.0 + i as f32 * 0.006).collect();
        let n = grid.len();
        let z = Tensor::<2>::from_data(burn::tensor::TensorData::new(grid, [n, 1]), &device);
        let dist = |m: f32, v: f32| {
            DiagonalGaussian::new(
                Tensor::<2>::full([n, 1], m, &device),
                Tensor::<2>::full([n, 1], v.ln(), &device),
            )
        };
        let (q, p) = (dist(mq, vq), dist(mp, vp));
        let lq = scalars(q.log_prob(z.clone()));
        let lp = scalars(p.log_prob(z));
        let integral: f64 = (0..n)
            .map(|i| {
                let w = if i == 0 || i == n - 1 { 0.5 } else { 1.0 };
                w * (lq[i] as f64).exp() * (lq[i] - lp[i]) as f64 * 0.006
            })
            .sum();
        let closed = scalars(q.kl(&p))[0] as f64;
        assert!((integral - closed).abs() < 1e-4, "{integral} vs {closed}");
    }

    #[test]
    fn reparameterised_samples_have_the_posterior_moments() {
        let device = test_device();
        let q = DiagonalGaussian::new(
            Tensor::<2>::full([20000, 1], 2.0, &device),
            Tensor::<2>::full([20000, 1], 0.09f32.ln(), &device),
        );
        let z = q.sample(&mut seeded_rng(5)).unwrap();
        let v = z.into_data().try_to_vec::<f32>().unwrap();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / 2e4;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 2e4;
        assert!((mean - 2.0).abs() < 0.01 && (var - 0.09).abs() < 0.005);
    }
}

//! Decoder likelihoods `p(x | z)` of a VAE.

use std::f64::consts::PI;

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softplus};
use medgen_core::CoreError;

use crate::gaussian::{DiagonalGaussian, sum_per_item};

/// The observation model `p(x | z)`, parameterised by the decoder output `h = D(z)`. Every
/// log-likelihood is summed over the elements of each item (nats).
#[derive(Config, Debug, PartialEq)]
pub enum Likelihood {
    /// `N(x; h, σ² I)` with fixed `σ`:
    /// `log p = −½ Σ ((x − h)² / σ² + log 2πσ²)`.
    Gaussian {
        /// The fixed standard deviation `σ > 0`.
        std: f64,
    },
    /// `N(x; μ, diag σ²)` with `h = [μ, log σ²]` on channels (the decoder has `2C` output
    /// channels); `log σ²` is clamped to `[min_log_var, 20]`.
    GaussianLearnedVariance {
        /// Lower clamp of the log-variance (e.g. `−10`), which bounds the density.
        min_log_var: f64,
    },
    /// `Laplace(x; h, b)`: `log p = −Σ (|x − h| / b + log 2b)`.
    Laplace {
        /// The fixed scale `b > 0`.
        scale: f64,
    },
    /// `Bernoulli(x; sigmoid(h))` for data in `[0, 1]` (binary or probabilities), `h` the
    /// logits: `log p = Σ (x h − softplus(h))`.
    Bernoulli,
}

impl Likelihood {
    /// Checks the parameters (`σ`, `b` positive and finite; a finite `min_log_var < 20`).
    pub fn validate(&self) -> crate::Result<()> {
        let ok = match *self {
            Self::Gaussian { std: s } | Self::Laplace { scale: s } => s.is_finite() && s > 0.0,
            Self::GaussianLearnedVariance { min_log_var } => {
                min_log_var.is_finite() && min_log_var < 20.0
            }
            Self::Bernoulli => true,
        };
        if ok {
            Ok(())
        } else {
            Err(CoreError::config("likelihood", format!("invalid parameters in {self:?}")).into())
        }
    }

    /// The decoder's output channels for `C` data channels (`2C` with a learned variance).
    pub fn decoder_channels(&self, data_channels: usize) -> usize {
        match self {
            Self::GaussianLearnedVariance { .. } => 2 * data_channels,
            _ => data_channels,
        }
    }

    /// `log p(x | z)` per item, `[N]`, from the decoder output `h` and the data `x`.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] naming `h` unless it is shaped like `x` (with twice the
    /// channels for [`Likelihood::GaussianLearnedVariance`]).
    pub fn log_prob<const D: usize>(&self, h: Tensor<D>, x: Tensor<D>) -> crate::Result<Tensor<1>> {
        let mut expected = x.dims();
        if D >= 2 {
            expected[1] = self.decoder_channels(expected[1]);
        }
        medgen_core::check::ensure_shape(&h.dims(), &expected, "h")?;
        Ok(match *self {
            Self::Gaussian { std } => {
                let normaliser = (2.0 * PI * std * std).ln();
                sum_per_item(
                    x.sub(h).square().div_scalar(std * std).add_scalar(normaliser).mul_scalar(-0.5),
                )
            }
            Self::GaussianLearnedVariance { min_log_var } => {
                let q = DiagonalGaussian::from_channels(h)?;
                let q = DiagonalGaussian::new(q.mean, q.log_var.clamp_min(min_log_var));
                q.log_prob(x)
            }
            Self::Laplace { scale } => {
                sum_per_item(x.sub(h).abs().div_scalar(scale).add_scalar((2.0 * scale).ln()).neg())
            }
            Self::Bernoulli => sum_per_item(x.mul(h.clone()).sub(softplus(h, 1.0))),
        })
    }

    /// The mean `E[x | z]` from the decoder output: `h`, `μ`, or `sigmoid(h)`.
    ///
    /// # Errors
    /// As [`DiagonalGaussian::from_channels`] for [`Likelihood::GaussianLearnedVariance`].
    pub fn mean<const D: usize>(&self, h: Tensor<D>) -> crate::Result<Tensor<D>> {
        Ok(match self {
            Self::GaussianLearnedVariance { .. } => DiagonalGaussian::from_channels(h)?.mean,
            Self::Bernoulli => sigmoid(h),
            _ => h,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// Each log-likelihood against the formula evaluated by hand on two elements.
    #[test]
    fn log_likelihoods_match_their_formulas() {
        let device = test_device();
        let h = Tensor::<2>::from_floats([[0.5, -1.0]], &device);
        let x = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let g = Likelihood::Gaussian { std: 0.5 }.log_prob(h.clone(), x.clone()).unwrap();
        let expected = -0.5 * ((0.25 + 1.0) / 0.25 + 2.0 * (2.0 * PI * 0.25).ln());
        assert!((value(g) - expected).abs() < 1e-5);
        let l = Likelihood::Laplace { scale: 2.0 }.log_prob(h.clone(), x.clone()).unwrap();
        let expected = -((0.5 + 1.0) / 2.0 + 2.0 * 4f64.ln());
        assert!((value(l) - expected).abs() < 1e-5);
        let b = Likelihood::Bernoulli.log_prob(h, x).unwrap();
        let expected = (1.0 / (1.0 + (-0.5f64).exp())).ln() + (1.0 - 1.0 / (1.0 + 1f64.exp())).ln();
        assert!((value(b) - expected).abs() < 1e-5);
        // Learned variance: h = [μ, log σ²] with μ = 0, σ² = e.
        let h = Tensor::<2>::from_floats([[0.0, 1.0]], &device);
        let x = Tensor::<2>::from_floats([[1.0]], &device);
        let lv = Likelihood::GaussianLearnedVariance { min_log_var: -10.0 }.log_prob(h, x).unwrap();
        let expected = -0.5 * (1.0 / 1f64.exp() + 1.0 + (2.0 * PI).ln());
        assert!((value(lv) - expected).abs() < 1e-5);
        assert!(Likelihood::Laplace { scale: 0.0 }.validate().is_err());
    }
}

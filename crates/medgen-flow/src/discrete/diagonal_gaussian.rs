//! A learnable diagonal Gaussian base distribution.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::CoreError;
use medgen_core::noise::gaussian_noise;
use rand::Rng;

use super::layer::{ensure_event_shape, sum_per_item};
use crate::error::{FlowError, Result};

/// Configuration of a [`DiagonalGaussian`].
#[derive(Config, Debug)]
pub struct DiagonalGaussianConfig {
    /// Dimension `d`.
    pub dim: usize,
    /// Initial standard deviation `σ` of every coordinate (must be positive: `σ = 0` has no
    /// density).
    #[config(default = 1.0)]
    pub std: f64,
}

/// `N(μ, diag(σ²))` with learnable `μ` and `log σ` (`[d]` each):
///
/// ```text
/// log p(z) = Σ_i [ −½ ((z_i − μ_i)/σ_i)² − log σ_i − ½ ln 2π ]
/// ```
///
/// With `μ = 0`, `σ = 1` it is the standard normal used by flows with no explicit base.
#[derive(Module, Debug)]
pub struct DiagonalGaussian {
    /// The mean `μ`, `[d]`.
    pub mean: Param<Tensor<1>>,
    /// The log standard deviation `log σ`, `[d]`.
    pub log_std: Param<Tensor<1>>,
}

fn non_invertible(reason: String) -> FlowError {
    FlowError::NonInvertible { what: "diagonal Gaussian".into(), reason }
}

impl DiagonalGaussianConfig {
    /// Builds `N(0, σ² I)`.
    ///
    /// # Errors
    /// [`FlowError::NonInvertible`] for `σ ≤ 0` or non-finite; a config error for `d = 0`.
    pub fn init(&self, device: &Device) -> Result<DiagonalGaussian> {
        DiagonalGaussian::from_parts(&vec![0.0; self.dim], &vec![self.std; self.dim], device)
    }
}

/// The base of a flow preset: a learnable `N(0, I)` of dimension `dim` if `learn`, else
/// `None` (the fixed standard normal).
pub(crate) fn learned_base(
    learn: bool,
    dim: usize,
    device: &Device,
) -> Result<Option<DiagonalGaussian>> {
    learn.then(|| DiagonalGaussianConfig::new(dim).init(device)).transpose()
}

impl DiagonalGaussian {
    /// `N(mean, diag(std²))` from host values.
    ///
    /// # Errors
    /// Unequal or zero lengths, non-finite means, or a standard deviation that is not positive
    /// and finite ([`FlowError::NonInvertible`]).
    pub fn from_parts(mean: &[f64], std: &[f64], device: &Device) -> Result<Self> {
        if mean.is_empty() {
            return Err(CoreError::config("dim", "must be positive").into());
        }
        if mean.len() != std.len() {
            return Err(CoreError::shape("std", format!("[{}]", mean.len()), &[std.len()]).into());
        }
        if mean.iter().any(|m| !m.is_finite()) {
            return Err(CoreError::NonFinite { what: "mean".into() }.into());
        }
        if let Some(bad) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(non_invertible(format!(
                "standard deviations must be positive and finite, got {bad}"
            )));
        }
        let upload = |values: Vec<f32>| {
            let len = values.len();
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [len]), device))
        };
        Ok(Self {
            mean: upload(mean.iter().map(|&m| m as f32).collect()),
            log_std: upload(std.iter().map(|&s| s.ln() as f32).collect()),
        })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.dims()[0]
    }

    /// `log p(z)` per item: `z` `[N, d]` → `[N]`.
    ///
    /// # Errors
    /// A shape other than `[N, d]`.
    pub fn log_prob(&self, z: Tensor<2>) -> Result<Tensor<1>> {
        ensure_event_shape(&z, &[self.dim()], "diagonal Gaussian input")?;
        let d = self.dim();
        let mean = self.mean.val().reshape([1, d]);
        let log_std = self.log_std.val().reshape([1, d]);
        let standardized = z.sub(mean).div(log_std.clone().exp());
        let per_dim = standardized
            .square()
            .mul_scalar(-0.5)
            .sub(log_std)
            .sub_scalar(0.5 * (2.0 * std::f64::consts::PI).ln());
        Ok(sum_per_item(per_dim))
    }

    /// Draws `n` samples `μ + σ ⊙ ε`, `ε ~ N(0, I)` drawn on the host from `rng`: `[n, d]`.
    ///
    /// # Errors
    /// `n = 0`.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut R,
        device: &Device,
    ) -> Result<Tensor<2>> {
        let d = self.dim();
        let eps = gaussian_noise([n, d], rng, device)?;
        Ok(eps.mul(self.log_std.val().reshape([1, d]).exp()).add(self.mean.val().reshape([1, d])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::host;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn log_prob_matches_the_closed_form() {
        let device = test_device();
        let base = DiagonalGaussian::from_parts(&[1.0, -2.0], &[0.5, 2.0], &device).unwrap();
        let z = Tensor::<2>::from_floats([[1.5, 0.0]], &device);
        let got = host(base.log_prob(z).unwrap())[0];
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        let expected =
            -0.5 * 1.0 - 0.5f64.ln() - 0.5 * ln2pi + (-0.5 * 1.0 - 2.0f64.ln() - 0.5 * ln2pi);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        let samples = host(base.sample(4000, &mut seeded_rng(1), &device).unwrap());
        let mean0 = samples.iter().step_by(2).sum::<f64>() / 4000.0;
        assert!((mean0 - 1.0).abs() < 5.0 * 0.5 / 4000f64.sqrt(), "{mean0}");
    }

    #[test]
    fn zero_std_is_not_invertible() {
        let device = test_device();
        assert!(matches!(
            DiagonalGaussianConfig::new(2).with_std(0.0).init(&device),
            Err(FlowError::NonInvertible { .. })
        ));
        assert!(DiagonalGaussian::from_parts(&[0.0], &[1.0, 1.0], &device).is_err());
        let base = DiagonalGaussianConfig::new(2).init(&device).unwrap();
        assert!(base.log_prob(Tensor::zeros([1, 3], &device)).is_err());
    }
}

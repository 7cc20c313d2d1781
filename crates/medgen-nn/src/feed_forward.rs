//! The GEGLU feed-forward network of a transformer block.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use medgen_core::error::{CoreError, Result};

/// Configuration of a [`FeedForward`].
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    /// Width `C` of the tokens.
    pub dim: usize,
    /// Hidden-width multiplier: the hidden width is `mult · C` (4 in diffusers and MONAI).
    #[config(default = 4)]
    pub mult: usize,
}

/// The gated-GELU feed-forward network of diffusers' `FeedForward(activation_fn="geglu")` and
/// MONAI's `MLPBlock(act="GEGLU")`:
///
/// ```text
/// [h, g] = x W_1 + b_1                  W_1: [C, 2F], split in two halves of width F = mult·C
/// y      = (h ⊙ GELU(g)) W_2 + b_2      W_2: [F, C]
/// ```
///
/// with the exact (erf) GELU. Shapes: `x`, `y` `[…, C]`.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// Input projection `C → 2F` (value half first, gate half second).
    pub proj_in: Linear,
    /// Output projection `F → C`.
    pub proj_out: Linear,
}

impl FeedForwardConfig {
    /// Builds the network on `device`; fails on a zero width or multiplier.
    pub fn init(&self, device: &Device) -> Result<FeedForward> {
        if self.dim == 0 || self.mult == 0 {
            return Err(CoreError::config(
                "dim/mult",
                format!("must be positive (got {} and {})", self.dim, self.mult),
            ));
        }
        let hidden = self.mult * self.dim;
        Ok(FeedForward {
            proj_in: LinearConfig::new(self.dim, 2 * hidden).init(device),
            proj_out: LinearConfig::new(hidden, self.dim).init(device),
        })
    }
}

impl FeedForward {
    /// Applies the network to `x` `[…, C]`, returning the same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let both = self.proj_in.forward(x);
        let hidden = both.dims()[D - 1] / 2;
        let value = both.clone().narrow(D - 1, 0, hidden);
        let gate = both.narrow(D - 1, hidden, hidden);
        self.proj_out.forward(value.mul(gelu(gate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    /// `C = 1`, `mult = 1`: `y = w₂ · (a x + b) · GELU(c x + e) + f`, checked on one value.
    #[test]
    fn matches_the_geglu_formula() {
        let device = test_device();
        let mut ff = FeedForwardConfig::new(1).with_mult(1).init(&device).unwrap();
        let tensor = |v: Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, shape), &device))
        };
        ff.proj_in.weight = tensor(vec![2.0, -1.0], [1, 2]);
        ff.proj_in.bias = Some(Param::from_tensor(Tensor::from_floats([0.5, 0.25], &device)));
        ff.proj_out.weight = tensor(vec![3.0], [1, 1]);
        ff.proj_out.bias = Some(Param::from_tensor(Tensor::from_floats([0.1], &device)));
        let x = 0.7f64;
        let y = ff.forward(Tensor::<2>::from_floats([[x as f32]], &device)).into_scalar::<f32>();
        let gelu = |z: f64| 0.5 * z * (1.0 + erf(z / 2f64.sqrt()));
        let expected = 3.0 * (2.0 * x + 0.5) * gelu(-x + 0.25) + 0.1;
        assert!((y as f64 - expected).abs() < 1e-5, "{y} vs {expected}");
        assert!(FeedForwardConfig::new(0).init(&device).is_err());
    }

    /// Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
    fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.3275911 * x.abs());
        let poly = t
            * (0.254829592
                + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        let y = 1.0 - poly * (-x * x).exp();
        if x >= 0.0 { y } else { -y }
    }
}

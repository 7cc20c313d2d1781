//! A multilayer perceptron on vectors: the conditioner of vector coupling flows, the encoder
//! and decoder of vector autoencoders, latent discriminators.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use medgen_core::error::{CoreError, Result};

/// Configuration of an [`Mlp`] with layer widths `dims = [d₀, d₁, …, d_L]` (`L ≥ 1` affine
/// layers; `L = 1` is a single affine map).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// The widths of the input, the hidden layers and the output.
    pub dims: Vec<usize>,
}

impl MlpConfig {
    /// `input → hidden × hidden_layers → output`: the widths
    /// `[input, hidden, …, hidden, output]` with `hidden_layers` hidden layers.
    pub fn uniform(input: usize, hidden: usize, hidden_layers: usize, output: usize) -> Self {
        let mut dims = vec![input];
        dims.extend(std::iter::repeat_n(hidden, hidden_layers));
        dims.push(output);
        Self::new(dims)
    }

    /// Builds the network; fails unless there are at least two widths, all positive.
    pub fn init(&self, device: &Device) -> Result<Mlp> {
        if self.dims.len() < 2 || self.dims.contains(&0) {
            return Err(CoreError::config(
                "mlp.dims",
                format!("needs at least two positive widths, got {:?}", self.dims),
            ));
        }
        let layers =
            self.dims.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Ok(Mlp { layers })
    }
}

/// `h₀ = x`, `h_l = SiLU(W_l h_{l−1} + b_l)` for `l < L`, output `W_L h_{L−1} + b_L`;
/// `[N, d₀] → [N, d_L]`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The affine layers, in order.
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// Applies the network to `x` `[N, d₀]`, giving `[N, d_L]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let h = layer.forward(h);
            if i < last { silu(h) } else { h }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn uniform_widths_and_forward_formula() {
        let device = test_device();
        let config = MlpConfig::uniform(3, 5, 2, 4);
        assert_eq!(config.dims, vec![3, 5, 5, 4]);
        let mlp = config.init(&device).unwrap();
        let x = Tensor::<2>::from_floats([[0.5, -1.0, 2.0]], &device);
        // The same composition written out layer by layer.
        let h1 = silu(mlp.layers[0].forward(x.clone()));
        let h2 = silu(mlp.layers[1].forward(h1));
        let expected = mlp.layers[2].forward(h2);
        let got = mlp.forward(x);
        assert_eq!(got.dims(), [1, 4]);
        let diff = got.sub(expected).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-6, "{diff}");
    }

    #[test]
    fn zero_widths_and_single_width_are_errors() {
        let device = test_device();
        assert!(MlpConfig::new(vec![3]).init(&device).is_err());
        assert!(MlpConfig::uniform(3, 0, 1, 2).init(&device).is_err());
        assert!(MlpConfig::uniform(0, 4, 1, 2).init(&device).is_err());
        assert!(MlpConfig::uniform(3, 4, 0, 2).init(&device).is_ok());
    }
}

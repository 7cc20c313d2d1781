//! A multilayer perceptron on vectors, the MLP encoder/decoder of vector autoencoders.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

/// Configuration of an [`Mlp`] with layer widths `dims = [d₀, d₁, …, d_L]` (`L ≥ 1` affine
/// layers; `L = 1` is a single affine map).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// The widths of the input, the hidden layers and the output.
    pub dims: Vec<usize>,
}

/// `h₀ = x`, `h_l = SiLU(W_l h_{l−1} + b_l)` for `l < L`, output `W_L h_{L−1} + b_L`;
/// `[N, d₀] → [N, d_L]`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The affine layers, in order.
    pub layers: Vec<Linear>,
}

impl MlpConfig {
    /// Builds the network; fails unless there are at least two widths, all positive.
    pub fn init(&self, device: &Device) -> crate::Result<Mlp> {
        if self.dims.len() < 2 || self.dims.contains(&0) {
            return Err(CoreError::config(
                "mlp.dims",
                format!("needs at least two positive widths, got {:?}", self.dims),
            )
            .into());
        }
        let layers = self
            .dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Ok(Mlp { layers })
    }
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

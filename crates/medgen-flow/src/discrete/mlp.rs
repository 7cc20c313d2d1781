//! The fully connected conditioner network of the vector coupling layers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use crate::error::Result;

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width `d_in`.
    pub input: usize,
    /// Output width `d_out`.
    pub output: usize,
    /// Width `h` of every hidden layer.
    pub hidden: usize,
    /// Number of hidden layers `L ≥ 1`.
    #[config(default = 2)]
    pub hidden_layers: usize,
}

/// A multilayer perceptron with SiLU activations:
/// `h_0 = x`, `h_l = SiLU(W_l h_{l−1} + b_l)` for `l = 1…L`, `y = W_{L+1} h_L + b_{L+1}`.
///
/// Shapes: `x` `[N, d_in]` → `y` `[N, d_out]`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The `L + 1` affine maps.
    pub layers: Vec<Linear>,
}

impl MlpConfig {
    /// Builds the network; fails on a zero width or `hidden_layers = 0`.
    pub fn init(&self, device: &Device) -> Result<Mlp> {
        for (name, value) in [
            ("input", self.input),
            ("output", self.output),
            ("hidden", self.hidden),
            ("hidden_layers", self.hidden_layers),
        ] {
            if value == 0 {
                return Err(CoreError::config(name, "must be positive").into());
            }
        }
        let mut widths = vec![self.input];
        widths.extend(std::iter::repeat_n(self.hidden, self.hidden_layers));
        widths.push(self.output);
        let layers = widths
            .windows(2)
            .map(|pair| LinearConfig::new(pair[0], pair[1]).init(device))
            .collect();
        Ok(Mlp { layers })
    }
}

impl Mlp {
    /// Applies the network: `[N, d_in]` → `[N, d_out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let h = layer.forward(h);
            if i < last { silu(h) } else { h }
        })
    }
}

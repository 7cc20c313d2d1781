//! MADE: a masked autoencoder whose outputs are autoregressive in its inputs
//! (Germain et al. 2015).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::CoreError;

use crate::error::Result;

/// Configuration of a [`Made`] network.
#[derive(Config, Debug)]
pub struct MadeConfig {
    /// Input features `d ≥ 2`.
    pub dim: usize,
    /// Hidden width `h ≥ d − 1` (every degree needs a unit).
    pub hidden: usize,
    /// Hidden layers `L ≥ 1`.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// Outputs per input feature `k` (output width `k · d`, feature-major blocks).
    #[config(default = 2)]
    pub outputs_per_dim: usize,
    /// Order the inputs `d, d−1, …, 1` instead of `1, …, d`.
    #[config(default = false)]
    pub reverse_order: bool,
}

/// A masked dense layer `y = x (W ⊙ M) + b` with a fixed binary mask `M` (`[in, out]`).
#[derive(Module, Debug)]
pub struct MaskedLinear {
    /// The dense layer holding `W` and `b`.
    pub linear: Linear,
    /// The connectivity mask `M`, `[in, out]` (fixed).
    pub mask: Tensor<2>,
}

impl MaskedLinear {
    /// Applies the layer: `[N, in]` → `[N, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let weight = self.linear.weight.val().mul(self.mask.clone());
        let y = x.matmul(weight);
        match &self.linear.bias {
            Some(bias) => y.add(bias.val().unsqueeze_dim(0)),
            None => y,
        }
    }
}

/// Masked autoencoder for distribution estimation: an MLP with SiLU activations whose masks
/// make output block `j` (`k` values, at columns `j·k … j·k + k − 1`) depend only on inputs
/// of lower degree.
///
/// Degrees: input `i` has `m(i) ∈ {1…d}` (natural or reversed order), hidden unit `u` has
/// `m(u) = 1 + (u mod (d − 1))`; a hidden weight `a → u` exists iff `m(u) ≥ m(a)`, an output
/// weight `a → j` iff `m(j) > m(a)`. Shapes: `[N, d]` → `[N, k·d]`.
#[derive(Module, Debug)]
pub struct Made {
    /// The masked layers.
    pub layers: Vec<MaskedLinear>,
    /// The degree of each input, `m(i)`.
    pub degrees: Vec<usize>,
}

fn mask_tensor(inputs: &[usize], outputs: &[usize], strict: bool, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = inputs
        .iter()
        .flat_map(|&a| {
            outputs.iter().map(move |&u| {
                let connected = if strict { u > a } else { u >= a };
                if connected { 1.0 } else { 0.0 }
            })
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [inputs.len(), outputs.len()]), device)
}

impl MadeConfig {
    /// Builds the network; fails on `d < 2`, `h < d − 1`, `L = 0` or `k = 0`.
    pub fn init(&self, device: &Device) -> Result<Made> {
        let d = self.dim;
        if d < 2 {
            return Err(CoreError::config("dim", format!("MADE needs d ≥ 2, got {d}")).into());
        }
        if self.hidden < d - 1 {
            return Err(CoreError::config(
                "hidden",
                format!("must be at least d − 1 = {}, got {}", d - 1, self.hidden),
            )
            .into());
        }
        if self.hidden_layers == 0 || self.outputs_per_dim == 0 {
            return Err(
                CoreError::config("hidden_layers / outputs_per_dim", "must be positive").into()
            );
        }
        let input_degrees: Vec<usize> =
            (0..d).map(|i| if self.reverse_order { d - i } else { i + 1 }).collect();
        let hidden_degrees: Vec<usize> = (0..self.hidden).map(|u| 1 + u % (d - 1)).collect();
        let output_degrees: Vec<usize> = input_degrees
            .iter()
            .flat_map(|&m| std::iter::repeat_n(m, self.outputs_per_dim))
            .collect();
        let mut layers = Vec::with_capacity(self.hidden_layers + 1);
        let mut previous = input_degrees.clone();
        for _ in 0..self.hidden_layers {
            layers.push(MaskedLinear {
                linear: LinearConfig::new(previous.len(), self.hidden).init(device),
                mask: mask_tensor(&previous, &hidden_degrees, false, device),
            });
            previous.clone_from(&hidden_degrees);
        }
        layers.push(MaskedLinear {
            linear: LinearConfig::new(previous.len(), output_degrees.len()).init(device),
            mask: mask_tensor(&previous, &output_degrees, true, device),
        });
        Ok(Made { layers, degrees: input_degrees })
    }
}

impl Made {
    /// Applies the network: `[N, d]` → `[N, k·d]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let h = layer.forward(h);
            if i < last { silu(h) } else { h }
        })
    }

    /// The input width `d`.
    pub fn dim(&self) -> usize {
        self.degrees.len()
    }
}

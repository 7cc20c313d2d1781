//! A spectrally normalised linear layer.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::module::linear;

use super::{SpectralNorm, SpectralNormConfig};
use crate::error::Result;

/// `y = x (W / σ̂(W)) + b`: a [`Linear`] layer whose weight is divided by its spectral-norm
/// estimate (see [`SpectralNorm`]) on every forward pass; the bias is left as is.
///
/// Burn stores the weight as `[d_in, d_out]`; the power iteration runs on its transpose
/// `[d_out, d_in]` (the `[out, rest]` view), so `u ∈ ℝ^{d_out}`.
#[derive(Module, Debug)]
pub struct SpectralNormLinear {
    /// The wrapped layer (its weight is the trained, unnormalised `W`).
    pub linear: Linear,
    /// The power-iteration state.
    pub spectral_norm: SpectralNorm,
}

impl SpectralNormLinear {
    /// Wraps `linear`; fails on an invalid `config`.
    pub fn new(linear: Linear, config: &SpectralNormConfig) -> Result<Self> {
        let [_, d_out] = linear.weight.dims();
        let spectral_norm = config.init(d_out, &linear.weight.device())?;
        Ok(Self { linear, spectral_norm })
    }

    /// `[.., d_in]` → `[.., d_out]`.
    ///
    /// # Panics
    /// If the last axis of `x` is not `d_in` (networks check their input on entry).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let weight = self.normalized_weight();
        linear(x, weight, self.linear.bias.as_ref().map(|b| b.val()))
    }

    /// `W / σ̂(W)` in Burn's `[d_in, d_out]` layout (runs the power iteration in training).
    pub fn normalized_weight(&self) -> Tensor<2> {
        let weight = self.linear.weight.val().transpose();
        self.spectral_norm.normalize_weight(weight).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    /// A diagonal weight diag(3, −1) has σ = 3: the layer maps x to x·diag(1, −1/3) + b.
    #[test]
    fn forward_divides_the_weight_by_sigma() {
        let device = test_device().autodiff();
        let mut layer = LinearConfig::new(2, 2).init(&device);
        layer.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![3.0f32, 0.0, 0.0, -1.0], [2, 2]),
            &device,
        ));
        layer.bias = Some(Param::from_tensor(Tensor::from_floats([0.5, 0.0], &device)));
        let sn = SpectralNormConfig::new().with_n_power_iterations(20).init_linear(layer).unwrap();
        let y = sn.forward(Tensor::<2>::from_floats([[1.0, 3.0]], &device));
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        assert!((y[0] - 1.5).abs() < 1e-4 && (y[1] + 1.0).abs() < 1e-4, "{y:?}");
    }
}

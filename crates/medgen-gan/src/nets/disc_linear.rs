//! A discriminator linear layer: plain or spectrally normalised.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::error::Result;
use crate::spectral_norm::{SpectralNormConfig, SpectralNormLinear};

/// A [`Linear`] layer `[.., d_in] → [.., d_out]`, optionally spectrally normalised.
#[derive(Module, Debug)]
pub enum DiscriminatorLinear {
    /// `y = x W + b`.
    Plain(Linear),
    /// `y = x (W / σ̂(W)) + b`.
    Spectral(SpectralNormLinear),
}

impl DiscriminatorLinear {
    /// Builds a `d_in → d_out` layer, spectrally normalised when `spectral` is set.
    pub fn init(
        d_in: usize,
        d_out: usize,
        spectral: Option<&SpectralNormConfig>,
        device: &Device,
    ) -> Result<Self> {
        let linear = LinearConfig::new(d_in, d_out).init(device);
        Ok(match spectral {
            Some(sn) => Self::Spectral(sn.init_linear(linear)?),
            None => Self::Plain(linear),
        })
    }

    /// Applies the layer.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Plain(layer) => layer.forward(x),
            Self::Spectral(layer) => layer.forward(x),
        }
    }

    /// The weight as used in the forward pass, `[d_in, d_out]` (divided by `σ̂` when
    /// spectrally normalised; this runs a power iteration in training mode).
    pub fn effective_weight(&self) -> Tensor<2> {
        match self {
            Self::Plain(layer) => layer.weight.val(),
            Self::Spectral(layer) => layer.normalized_weight(),
        }
    }
}

//! A discriminator convolution: plain or spectrally normalised.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_nn::{SpatialConv, SpatialConvConfig};

use crate::error::Result;
use crate::spectral_norm::{SpectralNormConfig, SpectralNormConv};

/// A [`SpatialConv`], optionally wrapped in spectral normalisation.
#[derive(Module, Debug)]
pub enum DiscriminatorConv {
    /// `y = W ⋆ x + b`.
    Plain(SpatialConv),
    /// `y = (W / σ̂(W)) ⋆ x + b`.
    Spectral(SpectralNormConv),
}

impl DiscriminatorConv {
    /// Builds the convolution of `config`, spectrally normalised when `spectral` is set.
    pub fn init(
        config: &SpatialConvConfig,
        spectral: Option<&SpectralNormConfig>,
        device: &Device,
    ) -> Result<Self> {
        let conv = config.init(device)?;
        Ok(match spectral {
            Some(sn) => Self::Spectral(sn.init_conv(conv)?),
            None => Self::Plain(conv),
        })
    }

    /// `[N, C_in, *spatial]` → `[N, C_out, *spatial']`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Plain(conv) => conv.forward(x),
            Self::Spectral(conv) => conv.forward(x),
        }
    }
}

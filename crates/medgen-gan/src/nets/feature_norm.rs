//! The feature normalisation of a network block, chosen in its configuration.

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, InstanceNorm, InstanceNormConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which normalisation follows a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    /// None (the usual choice with spectral normalisation).
    None,
    /// Batch norm (DCGAN, pix2pix): statistics over the batch and spatial axes.
    Batch,
    /// Instance norm: statistics per item and channel over the spatial axes.
    Instance,
}

/// A batch or instance norm over `[N, C, spatial…]` (any spatial rank):
/// `y = (x − μ) / √(σ² + 10⁻⁵) · γ_c + β_c`.
#[derive(Module, Debug)]
pub enum FeatureNorm {
    /// Batch norm.
    Batch(BatchNorm),
    /// Instance norm (affine).
    Instance(InstanceNorm),
}

impl NormKind {
    /// The norm for `channels` (positive) channels, or `None` for [`NormKind::None`].
    pub fn init(self, channels: usize, device: &Device) -> Option<FeatureNorm> {
        match self {
            Self::None => None,
            Self::Batch => Some(FeatureNorm::Batch(BatchNormConfig::new(channels).init(device))),
            Self::Instance => {
                Some(FeatureNorm::Instance(InstanceNormConfig::new(channels).init(device)))
            }
        }
    }
}

impl FeatureNorm {
    /// Normalises `x` `[N, C, spatial…]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Batch(norm) => norm.forward(x),
            Self::Instance(norm) => norm.forward(x),
        }
    }
}

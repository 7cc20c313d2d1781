//! The two roles of an adversarial game, as traits, so that losses, the training loop and the
//! monitoring work with any generator and discriminator (DCGAN, U-Net, PatchGAN, conditional).

use burn::tensor::Tensor;
use medgen_core::Condition;

use crate::error::Result;

/// A generator `G: input ↦ x̂` of rank `D`.
///
/// `I` is the rank of its input: `I = 2` for a latent code `z ∈ ℝ^{N×d}` (DCGAN, conditional
/// GAN), `I = D` for an image (pix2pix: `x̂ = G(x_source)`). Class labels, covariate embeddings
/// or an extra image travel in `condition`.
pub trait Generator<const I: usize, const D: usize> {
    /// `x̂ = G(input | condition)`, shape `[N, C, spatial...]`.
    fn generate(&self, input: Tensor<I>, condition: &Condition<D>) -> Result<Tensor<D>>;
}

/// What a discriminator says about a batch.
#[derive(Clone, Debug)]
pub struct DiscriminatorOutput {
    /// Real-vs-fake logits `[N, P]`: `P = 1` for a global discriminator, the number of
    /// patches for PatchGAN (its logit map flattened per item), the sum over scales for a
    /// multi-scale discriminator.
    pub logits: Tensor<2>,
    /// Class logits `[N, K]` of an auxiliary-classifier discriminator (AC-GAN), else `None`.
    pub class_logits: Option<Tensor<2>>,
}

/// A discriminator (or critic) `D: x ↦ logits`.
pub trait Discriminator<const D: usize> {
    /// Logits for `x` of shape `[N, C, spatial...]` given `condition` (classes for a projection
    /// discriminator, the source image for pix2pix).
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput>;
}

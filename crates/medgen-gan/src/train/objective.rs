//! What the training loop needs from an adversarial loss.

use burn::tensor::Tensor;

use crate::error::Result;
use crate::loss::GanLoss;

/// An adversarial objective written on discriminator logits `[N, P]` (`P = 1` for a global
/// discriminator, the number of patches for PatchGAN).
///
/// The discriminator minimises [`AdversarialLoss::discriminator_loss`] and the generator
/// minimises [`AdversarialLoss::generator_loss`]; e.g. for the non-saturating GAN
///
/// ```text
/// L_D = E[softplus(−l_real)] + E[softplus(l_fake)],   L_G = E[softplus(−l_fake)].
/// ```
///
/// [`GanLoss`] implements it for the minimax, non-saturating, hinge, least-squares and
/// Wasserstein games; implement it for any other objective (e.g. a relativistic loss). Both
/// methods return a scalar `[1]` tensor differentiable in the logits.
pub trait AdversarialLoss {
    /// `L_D(l_real, l_fake)`, scalar `[1]`.
    fn discriminator_loss(
        &self,
        real_logits: Tensor<2>,
        fake_logits: Tensor<2>,
    ) -> Result<Tensor<1>>;

    /// `L_G(l_fake)`, scalar `[1]`.
    fn generator_loss(&self, fake_logits: Tensor<2>) -> Result<Tensor<1>>;

    /// The logit `t` above which the discriminator calls an input real (`0` for logistic,
    /// hinge and Wasserstein losses); the monitor's accuracies count `l_real > t` and
    /// `l_fake < t`.
    fn decision_threshold(&self) -> f64 {
        0.0
    }
}

impl AdversarialLoss for GanLoss {
    fn discriminator_loss(
        &self,
        real_logits: Tensor<2>,
        fake_logits: Tensor<2>,
    ) -> Result<Tensor<1>> {
        GanLoss::discriminator_loss(self, real_logits, fake_logits)
    }

    fn generator_loss(&self, fake_logits: Tensor<2>) -> Result<Tensor<1>> {
        GanLoss::generator_loss(self, fake_logits)
    }

    fn decision_threshold(&self) -> f64 {
        GanLoss::decision_threshold(self)
    }
}

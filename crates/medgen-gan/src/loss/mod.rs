//! Adversarial losses written on logits.
//!
//! - [`GanLoss`]: the discriminator (critic) and generator objectives of the minimax,
//!   non-saturating, hinge, least-squares and Wasserstein GANs, on `[N, P]` logits (`P = 1`
//!   for a global discriminator, the number of patches for PatchGAN).
//! - [`auxiliary_classifier_loss`]: the class cross-entropy of an auxiliary-classifier GAN.
//!
//! Every `log σ(·)` is written as `−softplus(−·)` and every `log(1 − σ(·))` as `−softplus(·)`
//! (Burn's `softplus` switches to the identity past its threshold and uses `log1p` below it),
//! so values and gradients stay finite for logits of any magnitude; no loss ever takes the
//! logarithm of a sigmoid.
//!
//! The losses do not read values back to the host: a NaN in the logits gives a NaN loss, which
//! the training loop detects once per step.

mod auxiliary;
mod gan_loss;
mod logit_shapes;

pub use auxiliary::auxiliary_classifier_loss;
pub use gan_loss::GanLoss;

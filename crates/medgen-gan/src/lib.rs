//! # medgen-gan
//!
//! Generative adversarial networks for medical imaging on Burn: stable losses, spectral normalisation, DCGAN/PatchGAN/U-Net networks, conditional and image-to-image GANs with monitoring.
//!
//! ## Losses ([`loss`])
//! [`GanLoss`] gives the discriminator and generator objectives of the minimax,
//! non-saturating, hinge, least-squares and Wasserstein GANs on `[N, P]` logits (`P = 1` for a
//! global discriminator, the patch count for PatchGAN), written with `softplus` so that they
//! are finite for logits of any size; [`auxiliary_classifier_loss`] is the AC-GAN class
//! cross-entropy.
//!
//! ## Lipschitz control ([`spectral_norm`], [`penalty`])
//! [`SpectralNorm`] (Miyato et al. 2018) divides a weight by its largest singular value,
//! estimated by power iteration with a persistent vector; [`SpectralNormLinear`] and
//! [`SpectralNormConv`] wrap Burn's linear layer and medgen-core's 2D/3D convolution. It is the
//! recommended regulariser. Burn has no second-order autodiff, so the R1 and WGAN-GP gradient
//! penalties ([`GradientPenaltyConfig`]) use central finite differences of the discriminator
//! along unit directions, which first-order autodiff differentiates w.r.t. its parameters.
//!
//! ## Networks ([`nets`])
//! 2D and 3D from one design each (the spatial rank is a configuration value): the DCGAN
//! generator and discriminator, the pix2pix U-Net generator and PatchGAN (and multi-scale
//! PatchGAN), a class/covariate-conditional generator, the projection discriminator and the
//! AC-GAN discriminator. They implement [`Generator`] and [`Discriminator`] ([`network`]), the
//! two traits the training loop and the losses work with, and reject bad input (ranks, sizes
//! off the stride product, empty batches, labels out of range, missing condition parts) with
//! a typed [`GanError`].

pub mod error;
pub mod loss;
pub mod monitor;
pub mod nets;
pub mod network;
pub mod penalty;
pub mod pix2pix;
pub mod sampler;
pub mod spectral_norm;
pub mod train;

pub use error::{GanError, Result};
pub use loss::{GanLoss, auxiliary_classifier_loss};
pub use monitor::{GanMonitor, GanMonitorConfig, MonitorEvent, SampleQuality, StepStats};
pub use nets::{
    AcganDiscriminator, AcganDiscriminatorConfig, ConditionalGenerator, ConditionalGeneratorConfig,
    DcganDiscriminator, DcganDiscriminatorConfig, DcganGenerator, DcganGeneratorConfig,
    MultiScalePatchGan, MultiScalePatchGanConfig, NormKind, PatchGan, PatchGanConfig,
    ProjectionDiscriminator, ProjectionDiscriminatorConfig, UNetGenerator, UNetGeneratorConfig,
};
pub use network::{Discriminator, DiscriminatorOutput, Generator};
pub use penalty::{GradientPenaltyConfig, GradientPenaltyKind};
pub use pix2pix::{PairedSet, Pix2PixConfig, pix2pix_batch, translate};
pub use sampler::GanSampler;
pub use spectral_norm::{SpectralNorm, SpectralNormConfig, SpectralNormConv, SpectralNormLinear};
pub use train::{AdversarialLoss, GanBatch, GanStepReport, GanTrainer, GanTrainerConfig};

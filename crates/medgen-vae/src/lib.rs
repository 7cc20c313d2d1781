//! # medgen-vae
//!
//! Autoencoders, variational autoencoders, adversarial autoencoders and latent diffusion for medical imaging on Burn.
//!
//! - Architectures ([`BackboneConfig`]): convolutional encoders/decoders in 2D and 3D from one
//!   design ([`ConvStack`] on medgen-core's `SpatialConv`) and MLPs ([`Mlp`]) for vectors.
//! - [`Ae`]: autoencoder and denoising autoencoder ([`Corruption`]).
//! - [`Vae`]: Gaussian posterior with the reparameterisation trick, [`Likelihood`]s, the ELBO
//!   and the importance-weighted bound ([`Vae::iwae`]), β-VAE / KL warm-up / free bits
//!   ([`VaeLoss`]), conditioning on class labels and covariates ([`ConditionSpec`]), latent
//!   walks ([`interpolate_latents`], [`latent_traversal`]).
//! - Adversarial training with medgen-gan's losses: [`AdversarialAe`] (a
//!   [`LatentDiscriminator`] matches the codes to the prior) and [`PatchAdversarial`]
//!   (AutoencoderKL-style L1 + KL + PatchGAN).
//! - Latent diffusion ([`latent_diffusion`]): [`encode_dataset`], [`LatentScale`] and
//!   [`latent_diffusion_sample`] around medgen-diffusion's training loss and samplers.
//!
//! The capability traits of medgen-core are implemented: `Autoencoder` ([`Ae`], [`Vae`]),
//! `Sample` and `LogDensity` ([`Vae`], ELBO; [`ImportanceWeighted`], IWAE), both lower bounds.

pub mod adversarial_ae;
pub mod autoencoder;
pub mod backbone;
pub mod condition_features;
pub mod conv_stack;
pub mod corruption;
pub mod error;
pub mod gaussian;
pub mod interpolation;
pub mod latent_diffusion;
pub mod latent_discriminator;
pub mod likelihood;
pub mod patch_adversarial;
pub mod vae;
pub mod vae_loss;

pub use adversarial_ae::{AdversarialAe, AdversarialAeConfig};
pub use autoencoder::{Ae, AeConfig};
pub use backbone::{BackboneConfig, Coder};
pub use condition_features::{ConditionSpec, append_channels};
pub use conv_stack::ConvStack;
pub use corruption::Corruption;
pub use error::{Result, VaeError};
pub use gaussian::{DiagonalGaussian, standard_normal_log_prob, sum_per_item};
pub use interpolation::{interpolate_latents, latent_traversal};
pub use latent_diffusion::{LatentScale, encode_dataset, latent_diffusion_sample};
pub use latent_discriminator::{LatentDiscriminator, LatentDiscriminatorConfig};
pub use likelihood::Likelihood;
pub use medgen_nn::{Mlp, MlpConfig};
pub use patch_adversarial::{PatchAdversarial, PatchAdversarialConfig};
pub use vae::{ImportanceWeighted, Vae, VaeConfig, VaePass};
pub use vae_loss::{VaeLoss, VaeLossConfig, VaeLossOutput};

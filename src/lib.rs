//! # medgen
//!
//! Generative models for medical imaging on [Burn](https://burn.dev): one package that
//! re-exports the medgen crates, each behind a default-on Cargo feature.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `medgen-core` | traits, AdaGN U-Net, ODE integrators, noise, data, training utilities |
//! | [`diffusion`] | `medgen-diffusion` | noise schedules, DDPM/DDIM and fast samplers, guidance, inversion |
//! | [`sdf`] | `medgen-sdf` | exact Euclidean distance transforms, masks ↔ signed distance maps |
//! | [`flow`] | `medgen-flow` | normalizing flows, continuous flows, flow matching |
//! | [`gan`] | `medgen-gan` | GAN losses, spectral normalisation, DCGAN/PatchGAN, pix2pix |
//! | [`vae`] | `medgen-vae` | autoencoders, VAEs, adversarial AEs, latent diffusion |
//! | [`metrics`] | `medgen-metrics` | Fréchet distance, image quality, detection and segmentation metrics |
//!
//! No crate names a Burn backend: pick one at run time with a [`burn::tensor::Device`]
//! (`Device::flex()` on the CPU, `Device::wgpu(..)` on a GPU), or by name through
//! [`core::DeviceChoice`].

#[cfg(feature = "core")]
pub use medgen_core as core;
#[cfg(feature = "diffusion")]
pub use medgen_diffusion as diffusion;
#[cfg(feature = "flow")]
pub use medgen_flow as flow;
#[cfg(feature = "gan")]
pub use medgen_gan as gan;
#[cfg(feature = "metrics")]
pub use medgen_metrics as metrics;
#[cfg(feature = "sdf")]
pub use medgen_sdf as sdf;
#[cfg(feature = "vae")]
pub use medgen_vae as vae;

/// Burn, re-exported so that users build against the exact version medgen uses.
pub use burn;

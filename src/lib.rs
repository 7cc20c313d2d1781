//! # medgen
//!
//! Generative models for medical imaging on [Burn](https://burn.dev): one package that
//! re-exports the medgen crates, each behind a default-on Cargo feature, and a [`prelude`]
//! with what a first program needs.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `medgen-core` | traits, errors, conditions, seeded RNG, device choice, checks, noise, ODE integrators |
//! | [`nn`] | `medgen-nn` | time embeddings, AdaGN residual blocks, attention, the 2D/3D U-Net, MLPs |
//! | [`data`] | `medgen-data` | phantoms, npy/npz (MedMNIST), PNG folders, NIfTI, data sets and batchers |
//! | [`train`] | `medgen-train` | the `Trainer`, objectives, checkpoints, EMA, LR schedules, PNG grids and plots |
//! | [`diffusion`] | `medgen-diffusion` | noise schedules, DDPM/DDIM and fast samplers, guidance, inversion |
//! | [`flow`] | `medgen-flow` | normalizing flows, continuous flows, flow matching |
//! | [`gan`] | `medgen-gan` | GAN losses, spectral normalisation, DCGAN/PatchGAN, pix2pix |
//! | [`vae`] | `medgen-vae` | autoencoders, VAEs, adversarial AEs, latent diffusion |
//! | [`sdf`] | `medgen-sdf` | exact Euclidean distance transforms, masks ↔ signed distance maps |
//! | [`seg`] | `medgen-seg` | segmentation by flow matching or diffusion over SDFs, ensembles, 3D patches |
//! | [`metrics`] | `medgen-metrics` | Fréchet distance, image quality, detection and segmentation metrics |
//! | [`apps`] | `medgen-apps` | anomaly detection, counterfactual lesion localisation, privacy filter, augmentation studies, the trilemma report |
//! | [`recon`] | `medgen-recon` | k-space MRI and parallel-beam CT measurement models, data-consistent and posterior-sampling reconstruction |
//!
//! No crate names a Burn backend: pick one at run time with a [`burn::tensor::Device`]
//! (`Device::flex()` on the CPU, `Device::wgpu(..)` on a GPU), or by name through
//! [`core::DeviceChoice`].

pub mod prelude;

#[cfg(feature = "apps")]
pub use medgen_apps as apps;
#[cfg(feature = "core")]
pub use medgen_core as core;
#[cfg(feature = "data")]
pub use medgen_data as data;
#[cfg(feature = "diffusion")]
pub use medgen_diffusion as diffusion;
#[cfg(feature = "flow")]
pub use medgen_flow as flow;
#[cfg(feature = "gan")]
pub use medgen_gan as gan;
#[cfg(feature = "metrics")]
pub use medgen_metrics as metrics;
#[cfg(feature = "nn")]
pub use medgen_nn as nn;
#[cfg(feature = "recon")]
pub use medgen_recon as recon;
#[cfg(feature = "sdf")]
pub use medgen_sdf as sdf;
#[cfg(feature = "seg")]
pub use medgen_seg as seg;
#[cfg(feature = "train")]
pub use medgen_train as train;
#[cfg(feature = "vae")]
pub use medgen_vae as vae;

/// Burn, re-exported so that users build against the exact version medgen uses.
pub use burn;

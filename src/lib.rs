//! # medgen
//!
//! Generative models for medical imaging on [Burn](https://burn.dev): one package that
//! re-exports the medgen crates, each behind a default-on Cargo feature.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `medgen-core` | traits, AdaGN U-Net, ODE integrators, noise, data, training utilities |
//!
//! No crate names a Burn backend: pick one at run time with a [`burn::tensor::Device`]
//! (`Device::flex()` on the CPU, `Device::wgpu(..)` on a GPU), or by name through
//! [`core::DeviceChoice`].

#[cfg(feature = "core")]
pub use medgen_core as core;

/// Burn, re-exported so that users build against the exact version medgen uses.
pub use burn;

//! # medgen-core
//!
//! The foundation every medgen crate stands on: the [`TimeConditionedNetwork`] trait and the
//! [`Condition`] it takes, capability traits ([`Sample`], [`LogDensity`], [`Autoencoder`]), the
//! seeded generator every random draw goes through ([`rng`], and [`init_seeded`] for the
//! initial weights Burn draws), device choice ([`device`]), input
//! checks at public boundaries ([`check`]), classifier-free guidance ([`guidance`]), noise ([`noise`]), ODE integrators ([`ode`]) and the
//! shared error type [`CoreError`].
//!
//! Networks live in `medgen-nn`, data loaders and phantoms in `medgen-data`, and the training
//! loop in `medgen-train`; this crate depends on none of them.
//!
//! No code here names a Burn backend: everything takes a [`burn::tensor::Device`], chosen at
//! run time (see [`device`]).

pub mod check;
pub mod condition;
pub mod device;
pub mod error;
pub mod generative;
pub mod guidance;
pub mod network;
pub mod noise;
pub mod ode;
pub mod readback;
pub mod rng;
pub mod seeded_init;
pub mod stats;

pub use condition::Condition;
pub use device::DeviceChoice;
pub use error::{CoreError, Result};
pub use generative::{Autoencoder, DensityKind, LogDensity, LogDensityValue, Sample, Samples};
pub use guidance::{ClassifierFreeGuidance, GuidanceConfig};
pub use network::TimeConditionedNetwork;
pub use readback::read_values;
pub use rng::{RngState, SeededRng, seeded_rng};
pub use seeded_init::init_seeded;

/// Burn, re-exported so that users and downstream crates use the exact same version.
pub use burn;

//! # medgen-core
//!
//! What every medgen family shares: the [`TimeConditionedNetwork`] trait and the
//! [`Condition`] it takes, capability traits ([`Sample`], [`LogDensity`], [`Autoencoder`]),
//! the AdaGN U-Net ([`nn`]), ODE integrators ([`ode`]), noise ([`noise`]), data loading and the
//! synthetic phantom data set ([`data`]), training utilities ([`train`]), pictures ([`viz`]),
//! and the one error type [`CoreError`].
//!
//! No code here names a Burn backend: everything takes a [`burn::tensor::Device`], chosen at
//! run time (see [`device`]).

pub mod check;
pub mod condition;
pub mod data;
pub mod device;
pub mod error;
pub mod generative;
pub mod network;
pub mod nn;
pub mod noise;
pub mod ode;
pub mod rng;
pub mod train;
pub mod viz;

pub use condition::Condition;
pub use device::{DeviceChoice, test_device};
pub use error::{CoreError, Result};
pub use generative::{Autoencoder, DensityKind, LogDensity, LogDensityValue, Sample};
pub use network::TimeConditionedNetwork;
pub use rng::{RngState, SeededRng, seeded_rng};

/// Burn, re-exported so that users and downstream crates use the exact same version.
pub use burn;

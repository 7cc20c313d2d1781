//! # medgen-flow
//!
//! Normalizing flows, continuous normalizing flows and flow matching on Burn, with exact log-likelihoods.

pub mod continuous;
pub mod discrete;
pub mod error;
pub mod matching;
pub mod toy;

pub use discrete::{Flow, FlowLayer, Glow, GlowConfig, MafConfig, RealNvpConfig, SplineFlowConfig};
pub use error::{FlowError, Result};
pub use toy::{TWO_MOONS_NOISE, ToyDensity};

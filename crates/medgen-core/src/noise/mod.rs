//! Noise for generative models, drawn on the host from a caller-supplied seeded generator so
//! that a seed gives the same noise on every device.
//!
//! - [`gaussian_noise`] / [`gaussian_like`]: independent `N(0, 1)` entries, any rank.
//! - [`simplex_noise`] / [`simplex_like`]: multi-octave simplex noise fields
//!   ([`SimplexNoiseConfig`]), 2D for `[N, C, H, W]` and 3D for `[N, C, D, H, W]`,
//!   standardised per field; the structured noise AnoDDPM diffuses with for anomaly
//!   detection. [`SimplexLattice`] evaluates the underlying gradient noise at any point.
//! - [`NoiseKind`]: one of the two, chosen by configuration (training losses and
//!   anomaly detection take it).

mod buffer;
mod fractal;
mod gaussian;
mod kind;
mod simplex;

pub use fractal::{MAX_OCTAVES, SimplexNoiseConfig, simplex_like, simplex_noise};
pub use gaussian::{gaussian_like, gaussian_noise};
pub use kind::NoiseKind;
pub use simplex::SimplexLattice;

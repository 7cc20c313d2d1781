//! Accelerated MRI: Cartesian (and radial-like) k-space undersampling masks and the masked
//! Fourier forward model.

pub mod mask;
pub mod operator;

pub use mask::{MaskKind, SamplingMask};
pub use operator::KSpaceOperator;

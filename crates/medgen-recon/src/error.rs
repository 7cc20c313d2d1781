//! The one error type of `medgen-recon`.

use medgen_core::CoreError;
use medgen_diffusion::DiffusionError;

/// Everything that can go wrong in `medgen-recon`.
///
/// Shape, rank, emptiness, NaN and invalid-argument errors are the shared [`CoreError`]
/// variants (each names the argument); the samplers' own failures keep [`DiffusionError`].
#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    /// A shared validation error: a mask or measurement of the wrong shape, an empty or
    /// all-zero mask, an acceleration below 1, NaN in k-space or a sinogram, an invalid option.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A diffusion scheduler or schedule lookup failed (e.g. a timestep outside the schedule).
    #[error(transparent)]
    Diffusion(#[from] DiffusionError),
    /// The posterior-sampling gradient could not be computed (the network's forward pass is
    /// not differentiable in its input on this device).
    #[error("diffusion posterior sampling: {reason}")]
    Gradient {
        /// What went wrong.
        reason: String,
    },
}

impl ReconError {
    /// Builds [`CoreError::InvalidConfig`] naming the argument `name`.
    pub fn config(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Core(CoreError::config(name, reason))
    }
}

/// `Result` with [`ReconError`].
pub type Result<T, E = ReconError> = std::result::Result<T, E>;

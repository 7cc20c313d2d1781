//! The one error type of `medgen-vae`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-vae`.
///
/// Each variant's message names the offending input, so that a user can fix the call without
/// reading the source.
#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    /// An error from `medgen-core` (invalid configuration, shape, non-finite tensor, I/O, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// An importance-weighted bound was asked for with `k = 0` samples (it needs `k ≥ 1`).
    #[error("the importance-weighted bound needs at least one sample (k = {k})")]
    NoImportanceSamples {
        /// The number of samples requested.
        k: usize,
    },
    /// An error from `medgen-diffusion` (latent diffusion training and sampling).
    #[error(transparent)]
    Diffusion(#[from] medgen_diffusion::DiffusionError),
    /// An error from `medgen-gan` (adversarial losses and discriminators).
    #[error(transparent)]
    Gan(#[from] medgen_gan::GanError),
}

/// `Result` with [`VaeError`] as the error type.
pub type Result<T> = std::result::Result<T, VaeError>;

//! The one error type of `medgen-apps`.

use medgen_core::CoreError;
use medgen_diffusion::DiffusionError;
use medgen_metrics::MetricsError;

/// Everything that can go wrong in `medgen-apps`.
///
/// Shape, rank, emptiness, NaN and configuration errors are the shared [`CoreError`]
/// variants; samplers and metrics keep their own error enums, wrapped unchanged.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// A shared validation error (wrong shape or rank, empty input, NaN, invalid option).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A diffusion sampler or loss failed (e.g. a timestep outside the schedule).
    #[error(transparent)]
    Diffusion(#[from] DiffusionError),
    /// A metric failed or is undefined for the input (e.g. AUROC of one class).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A model behind one of the capability traits (an autoencoder, a sampler) failed.
    #[error("{model} failed: {source}")]
    Model {
        /// What was being run.
        model: &'static str,
        /// The model's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AppsError {
    /// Builds [`CoreError::InvalidConfig`] naming the argument `name`.
    pub fn config(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Core(CoreError::config(name, reason))
    }

    /// Wraps the error of a model behind a capability trait.
    pub fn model(
        model: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Model { model, source: Box::new(source) }
    }
}

/// `Result` with [`AppsError`].
pub type Result<T, E = AppsError> = std::result::Result<T, E>;

//! The one error type of `medgen-metrics`.

use medgen_core::CoreError;
use medgen_sdf::SdfError;

/// Everything that can go wrong in `medgen-metrics`.
///
/// Shape, emptiness, finiteness and configuration errors are the shared [`CoreError`]
/// variants (wrapped in [`MetricsError::Core`]); the variants below are specific to metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A shared validation error (wrong shape or rank, empty input, NaN, invalid option).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A metric that is undefined for the given input, e.g. AUROC with a single class or a
    /// surface distance to an empty mask.
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        /// The metric asked for.
        metric: &'static str,
        /// Why it has no value for this input.
        reason: String,
    },
    /// A dense linear-algebra routine failed (e.g. an eigendecomposition did not converge).
    #[error("linear algebra failed in {what}: {reason}")]
    Linalg {
        /// The computation that failed.
        what: &'static str,
        /// The solver's explanation.
        reason: String,
    },
    /// A weight file could not be loaded into a network (unreadable file, missing key,
    /// wrong tensor shape).
    #[error("cannot load weights from {path}: {reason}")]
    Weights {
        /// The weight file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl MetricsError {
    /// Builds [`MetricsError::Undefined`].
    pub(crate) fn undefined(metric: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Undefined { metric, reason: reason.to_string() }
    }
}

impl From<SdfError> for MetricsError {
    /// Every `medgen-sdf` error (of the distance transforms behind the surface distances) is
    /// a shared core error.
    fn from(err: SdfError) -> Self {
        match err {
            SdfError::Core(core) => Self::Core(core),
        }
    }
}

/// `Result` with [`MetricsError`] as the error type.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

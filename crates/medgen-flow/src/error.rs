//! The one error type of `medgen-flow`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-flow`.
///
/// Each variant's message names the offending input, so that a user can fix the call without
/// reading the source.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// An error from `medgen-core` (invalid configuration, shape, non-finite tensor, I/O, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A flow layer or base distribution would not be invertible (a zero or non-finite scale,
    /// a singular matrix), so its inverse and log-determinant do not exist.
    #[error("{what} is not invertible: {reason}")]
    NonInvertible {
        /// The layer, parameter or matrix concerned.
        what: String,
        /// Why it is singular.
        reason: String,
    },
    /// A size that must be divisible by a factor is not (e.g. an odd image side for squeeze).
    #[error("{what} = {size} is not divisible by {factor}")]
    IndivisibleSize {
        /// The dimension concerned.
        what: String,
        /// Its size.
        size: usize,
        /// The factor it must be a multiple of.
        factor: usize,
    },
}

/// `Result` with [`FlowError`] as the error type.
pub type Result<T, E = FlowError> = std::result::Result<T, E>;

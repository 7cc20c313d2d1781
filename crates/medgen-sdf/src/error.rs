//! The one error type of `medgen-sdf`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-sdf`.
///
/// Shape, emptiness, finiteness, non-binary masks, read-back and configuration errors are the
/// shared [`CoreError`] variants (wrapped in [`SdfError::Core`]).
#[derive(Debug, thiserror::Error)]
pub enum SdfError {
    /// A shared validation error (wrong shape or rank, empty input, NaN, invalid option).
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// `Result` with [`SdfError`] as the error type.
pub type Result<T, E = SdfError> = std::result::Result<T, E>;

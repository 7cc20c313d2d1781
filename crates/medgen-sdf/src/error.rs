//! The one error type of `medgen-sdf`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-sdf`.
///
/// Shape, emptiness, finiteness and configuration errors are the shared [`CoreError`]
/// variants (wrapped in [`SdfError::Core`]); the variants below are specific to masks and
/// device read-back.
#[derive(Debug, thiserror::Error)]
pub enum SdfError {
    /// A shared validation error (wrong shape or rank, empty input, NaN, invalid option).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A mask tensor held a value other than exactly `0.0` or `1.0`.
    #[error("{what} must be binary (every value 0 or 1), found {value} at flat index {index}")]
    NonBinaryMask {
        /// Which input was wrong.
        what: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// Reading a tensor back to the host failed on its device.
    #[error("reading {what} back from its device failed: {reason}")]
    Readback {
        /// Which tensor was read.
        what: String,
        /// The device's explanation.
        reason: String,
    },
    /// An error of the diffusion sampler or loss behind an SDF segmenter.
    #[error(transparent)]
    Diffusion(#[from] medgen_diffusion::DiffusionError),
    /// An error of the flow-matching sampler or loss behind an SDF segmenter.
    #[error(transparent)]
    Flow(#[from] medgen_flow::FlowError),
}

/// `Result` with [`SdfError`] as the error type.
pub type Result<T, E = SdfError> = std::result::Result<T, E>;

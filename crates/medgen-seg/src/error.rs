//! The one error type of `medgen-seg`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-seg`.
///
/// Shape, emptiness, finiteness and configuration errors are the shared [`CoreError`]
/// variants (non-binary masks and read-back failures included); the sampler and loss behind a
/// segmenter report through the diffusion and flow variants.
#[derive(Debug, thiserror::Error)]
pub enum SegError {
    /// A shared validation error (wrong shape or rank, empty input, NaN, invalid option).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// An error of the diffusion sampler or loss behind an SDF segmenter.
    #[error(transparent)]
    Diffusion(#[from] medgen_diffusion::DiffusionError),
    /// An error of the flow-matching sampler or loss behind an SDF segmenter.
    #[error(transparent)]
    Flow(#[from] medgen_flow::FlowError),
}

impl From<medgen_sdf::SdfError> for SegError {
    /// Every `medgen-sdf` error is a shared core error.
    fn from(err: medgen_sdf::SdfError) -> Self {
        match err {
            medgen_sdf::SdfError::Core(core) => Self::Core(core),
        }
    }
}

/// `Result` with [`SegError`] as the error type.
pub type Result<T, E = SegError> = std::result::Result<T, E>;

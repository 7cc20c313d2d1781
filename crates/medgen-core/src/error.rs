//! The one error type of `medgen-core`.

use std::path::PathBuf;

/// Everything that can go wrong in `medgen-core`.
///
/// Every public function that can fail returns [`Result`]. Each variant's message names the
/// offending input so that a user can fix the call without reading the source.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A tensor had the wrong number of dimensions.
    #[error("{what}: expected a tensor of rank {expected}, got rank {got}")]
    InvalidRank {
        /// Which input was wrong.
        what: String,
        /// The rank that was expected.
        expected: usize,
        /// The rank that was given.
        got: usize,
    },
    /// A tensor or array had the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    ShapeMismatch {
        /// Which input was wrong.
        what: String,
        /// The expected shape, written out (dimensions may be symbolic, e.g. `[N, 1, H, W]`).
        expected: String,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// A batch, data set or array had no elements.
    #[error("{what} is empty")]
    Empty {
        /// Which input was empty.
        what: String,
    },
    /// NaN or ±Inf where finite numbers are required.
    #[error("{what} contains NaN or infinite values")]
    NonFinite {
        /// Which tensor or array held the values.
        what: String,
    },
    /// A configuration value outside its valid range.
    #[error("invalid configuration `{name}`: {reason}")]
    InvalidConfig {
        /// The name of the offending field or argument.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading or writing a file failed at the operating-system level.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its contents are not a valid instance of its format.
    #[error("corrupt or unsupported {format} file {path}: {reason}")]
    Format {
        /// The format being read, e.g. `"npz"`, `"NIfTI"`, `"PNG"`, `"checkpoint"`.
        format: &'static str,
        /// The file concerned (empty for in-memory data).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint does not belong to the model or configuration it is loaded into.
    #[error("checkpoint {path} does not match: {reason}")]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Training produced a NaN or infinite loss or gradient.
    #[error("training diverged at step {step}: {what} is not finite")]
    Diverged {
        /// The optimisation step (0-based) at which divergence was detected.
        step: usize,
        /// The quantity that became non-finite (e.g. `"loss"`).
        what: String,
    },
    /// An adaptive ODE integrator needed more steps than allowed.
    #[error("ODE integration exceeded {max_steps} steps at t = {t} (step size {dt:e})")]
    OdeMaxSteps {
        /// The step limit that was reached.
        max_steps: usize,
        /// The time reached when the limit was hit.
        t: f64,
        /// The last step size tried.
        dt: f64,
    },
    /// Classifier-free guidance with `w ≠ 1` was asked for, but the condition has no class,
    /// embedding or context part to replace by the null condition.
    #[error(
        "guidance scale {scale} needs a class, embedding or context condition to drop (got none)"
    )]
    GuidanceWithoutCondition {
        /// The guidance scale `w` that was requested.
        scale: f64,
    },
    /// Reading a tensor back to the host failed on its device (or its values could not be
    /// converted to the requested type).
    #[error("reading {what} back from its device failed: {reason}")]
    Readback {
        /// Which tensor was read.
        what: String,
        /// The device's explanation.
        reason: String,
    },
    /// A mask held a value other than exactly `0` or `1`.
    #[error("{what} must be binary (every value 0 or 1), found {value} at flat index {index}")]
    NonBinaryMask {
        /// Which input was wrong.
        what: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A requested backend is not compiled in, or the device name is unknown.
    #[error("device `{name}` is not available: {reason}")]
    Device {
        /// The device name that was asked for.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// `Result` with [`CoreError`] as the error type.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    /// Builds [`CoreError::InvalidConfig`] from any displayable reason.
    pub fn config(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::InvalidConfig { name: name.into(), reason: reason.to_string() }
    }

    /// Builds [`CoreError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Builds [`CoreError::Format`] for a corrupt file of `format` at `path`.
    pub fn format(
        format: &'static str,
        path: impl Into<PathBuf>,
        reason: impl std::fmt::Display,
    ) -> Self {
        Self::Format { format, path: path.into(), reason: reason.to_string() }
    }

    /// Builds [`CoreError::ShapeMismatch`].
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        Self::ShapeMismatch { what: what.into(), expected: expected.into(), got: got.to_vec() }
    }
}

//! The one error type of `medgen-gan`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-gan`.
///
/// Each variant's message names the offending input, so that a user can fix the call without
/// reading the source.
#[derive(Debug, thiserror::Error)]
pub enum GanError {
    /// An error from `medgen-core` (invalid configuration, shape, non-finite tensor, I/O, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A class label outside `0..num_classes` was given to a class-conditional network or to
    /// the auxiliary-classifier loss.
    #[error("{what}: class label {label} is outside 0..{num_classes}")]
    LabelOutOfRange {
        /// Which input held the label (e.g. `"condition.class"`).
        what: String,
        /// The offending label (the smallest or largest one of the batch).
        label: i64,
        /// The number of classes `K` the network or loss was built for.
        num_classes: usize,
    },
    /// A network was given a condition part it does not use, or lacks one it needs.
    #[error("{network}: {reason}")]
    ConditionMismatch {
        /// The network that received the condition.
        network: &'static str,
        /// What is missing or unexpected.
        reason: String,
    },
}

/// `Result` with [`GanError`] as the error type.
pub type Result<T, E = GanError> = std::result::Result<T, E>;

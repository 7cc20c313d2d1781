//! The one error type of `medgen-diffusion`.

use medgen_core::CoreError;

/// Everything that can go wrong in `medgen-diffusion`.
///
/// Each variant's message names the offending input, so that a user can fix the call without
/// reading the source.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// An error from `medgen-core` (invalid configuration, shape, non-finite tensor, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A timestep outside `0..num_train_timesteps`.
    #[error("timestep {timestep} is out of range: expected 0..{num_train_timesteps}")]
    TimestepOutOfRange {
        /// The timestep that was given.
        timestep: usize,
        /// The number of training timesteps `T` (valid timesteps are `0..T`).
        num_train_timesteps: usize,
    },
    /// `set_timesteps` was asked for zero steps or more steps than the model was trained with.
    #[error(
        "cannot sample with {requested} inference steps: expected 1..={num_train_timesteps} \
         (the number of training timesteps)"
    )]
    InvalidStepCount {
        /// The number of inference steps that was asked for.
        requested: usize,
        /// The number of training timesteps `T`.
        num_train_timesteps: usize,
    },
    /// A custom timestep list that is empty, not strictly decreasing, or out of range.
    #[error("invalid custom timesteps {timesteps:?}: {reason}")]
    InvalidTimesteps {
        /// The list that was given.
        timesteps: Vec<usize>,
        /// What is wrong with it.
        reason: String,
    },
    /// `step` was called before `set_timesteps`.
    #[error("`step` needs inference timesteps: call `set_timesteps` first")]
    TimestepsNotSet,
    /// A model output whose shape does not fit the sample it is applied to.
    #[error("model output has shape {got:?}, but the sample has shape {sample:?}{hint}")]
    ModelOutputShape {
        /// The sample's shape.
        sample: Vec<usize>,
        /// The model output's shape.
        got: Vec<usize>,
        /// An explanation of the expected shape (may be empty).
        hint: String,
    },
    /// The model output at `timestep` holds NaN or ±Inf.
    #[error("model output at timestep {timestep} contains NaN or infinite values")]
    NonFiniteModelOutput {
        /// The timestep of the step that received the output.
        timestep: usize,
    },
    /// The clean sample cannot be recovered at a timestep where no signal is left
    /// (`ᾱ_t = 0`, e.g. the last step of a zero-terminal-SNR schedule) from a noise prediction.
    #[error(
        "cannot predict x0 from an epsilon prediction at timestep {timestep}: alpha_cumprod is 0 \
         (use v_prediction or sample with a zero-terminal-SNR schedule)"
    )]
    NoSignalLeft {
        /// The timestep concerned.
        timestep: usize,
    },
    /// The noise cannot be recovered from an `x₀` prediction at a noise-free level
    /// (`ᾱ = 1`, e.g. the first DDIM-inversion step with `set_alpha_to_one`).
    #[error(
        "cannot infer the noise from a sample prediction at timestep {timestep}: the level is \
         noise-free (alpha_cumprod = 1; use set_alpha_to_one = false)"
    )]
    NoNoiseLeft {
        /// The timestep concerned.
        timestep: usize,
    },
    /// An image-to-image strength outside `(0, 1]`.
    #[error("strength {strength} is out of range: expected 0 < strength <= 1")]
    InvalidStrength {
        /// The strength that was given.
        strength: f64,
    },
    /// An inpainting mask that does not broadcast to the image, or whose values leave `[0, 1]`.
    #[error("mask of shape {mask:?} does not fit the image of shape {image:?}: {reason}")]
    InvalidMask {
        /// The image's shape.
        image: Vec<usize>,
        /// The mask's shape.
        mask: Vec<usize>,
        /// What is wrong with it.
        reason: String,
    },
    /// The classifier's gradient with respect to its input could not be computed.
    #[error("classifier guidance could not differentiate the classifier: {reason}")]
    ClassifierGradient {
        /// Why.
        reason: String,
    },
}

/// `Result` with [`DiffusionError`] as the error type.
pub type Result<T, E = DiffusionError> = std::result::Result<T, E>;

impl DiffusionError {
    /// Builds [`DiffusionError::Core`] with [`CoreError::InvalidConfig`].
    pub fn config(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Core(CoreError::config(name, reason))
    }
}

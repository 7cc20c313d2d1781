//! # medgen-train
//!
//! Training utilities shared by every model family: an exponential moving average of the
//! weights ([`ModelEma`]), a warm-up + cosine learning rate ([`WarmupCosine`]), global-norm
//! gradient clipping ([`clip_grad_norm`]), a NaN/Inf guard ([`DivergenceGuard`]), atomic
//! checkpoints with resume ([`Checkpoint`], [`CheckpointDir`]), and progress reporting
//! ([`TrainingProgress`], [`LossHistory`]); the [`Trainer`] that runs them all, and pictures
//! for experiment logs ([`viz`]: PNG grids of samples, loss curves).

pub mod atomic_file;
pub mod autodiff;
pub mod checkpoint;
pub mod checkpoint_container;
pub mod checkpoint_dir;
pub mod clip;
pub mod config_diff;
pub mod ema;
pub mod guard;
pub mod loss_history;
pub mod lr;
pub mod objective;
pub mod progress;
pub mod record_check;
pub mod run_state;
pub mod trainer;
pub mod updater;
pub mod viz;

pub use atomic_file::write_atomically;
pub use autodiff::on_autodiff;
pub use checkpoint::Checkpoint;
pub use checkpoint_container::{CHECKPOINT_MAGIC, CHECKPOINT_VERSION};
pub use checkpoint_dir::{
    CheckpointDir, checkpoint_file_name, latest_checkpoint, list_checkpoints, rotate_checkpoints,
};
pub use clip::{clip_grad_norm, grad_norm};
pub use config_diff::{ConfigDifference, config_differences};
pub use ema::{EmaConfig, EmaState, ModelEma};
pub use guard::DivergenceGuard;
pub use loss_history::LossHistory;
pub use lr::{WarmupCosine, WarmupCosineConfig};
pub use objective::TrainingObjective;
pub use progress::TrainingProgress;
pub use record_check::MAX_OPTIMIZER_STATE_RANK;
pub use run_state::{RunSchedule, RunState};
pub use trainer::{StepReport, Trainer, TrainerConfig};
pub use updater::{CheckpointSections, ModelUpdater, UpdateConfig, UpdateStats};

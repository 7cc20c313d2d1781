//! The state every training run shares, whatever it trains: the step counter, the run's
//! random generator, the divergence guard, the stored configuration, the checkpoint
//! directory and the progress display.
//!
//! [`Trainer`](crate::Trainer) (one network) and multi-network loops (a GAN's alternating
//! updates) hold one [`RunState`] and one [`ModelUpdater`](crate::ModelUpdater) per network;
//! the run state decides when a checkpoint is due, starts each checkpoint with the step, the
//! RNG state and the configuration, saves it atomically, and restores all of that on resume:
//!
//! ```text
//! ensure step < total_steps
//! … the caller's updates at step k, drawing from rng …
//! step ← k + 1;  progress(step, loss)
//! if checkpoint_every > 0 and (step mod checkpoint_every = 0 or step = total_steps):
//!     save {step, rng, config, networks…, metadata…} atomically, keep the newest N
//! ```

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::checkpoint_dir::CheckpointDir;
use super::guard::DivergenceGuard;
use super::progress::TrainingProgress;
use medgen_core::error::{CoreError, Result};
use medgen_core::rng::SeededRng;

/// When a run ends and how it checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSchedule {
    /// The number of steps of the run (≥ 1).
    pub total_steps: usize,
    /// Save a checkpoint every this many steps and at the last step (`0`: never).
    pub checkpoint_every: usize,
    /// How many of the newest checkpoints to keep (≥ 1).
    pub keep_checkpoints: usize,
}

/// The shared state of a training run (see the [module documentation](self)).
pub struct RunState {
    schedule: RunSchedule,
    stored_config: Value,
    guard: DivergenceGuard,
    rng: SeededRng,
    step: usize,
    checkpoints: Option<CheckpointDir>,
    progress: Option<TrainingProgress>,
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("schedule", &self.schedule)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl RunState {
    /// A run at step 0 that stores `{kind: config, "run": run_config}` in its checkpoints
    /// (`kind` names the trainer, e.g. `"trainer"` or `"gan"`); a resume must present the
    /// same.
    ///
    /// # Errors
    /// `total_steps = 0`, `keep_checkpoints = 0`, or a configuration that does not serialise.
    pub fn new<T, C>(
        schedule: RunSchedule,
        rng: SeededRng,
        kind: &str,
        config: &T,
        run_config: &C,
    ) -> Result<Self>
    where
        T: Serialize + ?Sized,
        C: Serialize + ?Sized,
    {
        if schedule.total_steps == 0 {
            return Err(CoreError::config("total_steps", "must be at least 1"));
        }
        if schedule.keep_checkpoints == 0 {
            return Err(CoreError::config("keep_checkpoints", "must be at least 1"));
        }
        let encode = |what: &str, err: serde_json::Error| {
            CoreError::config(what, format!("does not serialise to JSON: {err}"))
        };
        let mut stored = serde_json::Map::new();
        stored.insert(
            kind.to_string(),
            serde_json::to_value(config).map_err(|e| encode(&format!("{kind} config"), e))?,
        );
        stored.insert(
            "run".to_string(),
            serde_json::to_value(run_config).map_err(|e| encode("run_config", e))?,
        );
        Ok(Self {
            schedule,
            stored_config: Value::Object(stored),
            guard: DivergenceGuard::new(),
            rng,
            step: 0,
            checkpoints: None,
            progress: None,
        })
    }

    /// The run as saved in `checkpoint`: the configuration must match the one stored there,
    /// and the step and RNG state continue from it.
    ///
    /// # Errors
    /// [`CoreError::CheckpointMismatch`] for another configuration, and those of
    /// [`RunState::new`].
    pub fn resume<T, C>(
        schedule: RunSchedule,
        checkpoint: &Checkpoint,
        kind: &str,
        config: &T,
        run_config: &C,
    ) -> Result<Self>
    where
        T: Serialize + ?Sized,
        C: Serialize + ?Sized,
    {
        let mut state = Self::new(schedule, checkpoint.rng()?, kind, config, run_config)?;
        checkpoint.check_config(&state.stored_config)?;
        state.step = checkpoint.step();
        Ok(state)
    }

    /// Saves checkpoints into `dir` when due (keeping the newest `keep_checkpoints`).
    ///
    /// # Errors
    /// A directory that cannot be created.
    pub fn set_checkpoint_dir(&mut self, dir: impl Into<PathBuf>) -> Result<()> {
        self.checkpoints = Some(CheckpointDir::new(dir, self.schedule.keep_checkpoints)?);
        Ok(())
    }

    /// Reports each step to `progress` (started at the current step).
    pub fn set_progress(&mut self, progress: TrainingProgress) {
        self.progress = Some(progress.resume_from(self.step));
    }

    /// Fails unless a step remains.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `step` for a finished run.
    pub fn ensure_running(&self) -> Result<()> {
        if self.is_finished() {
            return Err(CoreError::config(
                "step",
                format!("the run is finished ({} steps)", self.schedule.total_steps),
            ));
        }
        Ok(())
    }

    /// Ends the current step: the counter moves on and `loss` is shown on the progress display.
    pub fn advance(&mut self, loss: f32) {
        self.step += 1;
        if let Some(progress) = &mut self.progress {
            progress.update(self.step, loss);
        }
    }

    /// Whether a checkpoint is due after the step just completed.
    pub fn checkpoint_due(&self) -> bool {
        CheckpointDir::is_due(
            self.checkpoints.as_ref(),
            self.step,
            self.schedule.checkpoint_every,
            self.is_finished(),
        )
    }

    /// A checkpoint holding the step, the RNG state and the configuration, for the caller to
    /// add its networks and metadata to.
    ///
    /// # Errors
    /// Serialisation failures.
    pub fn start_checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::new(self.step, &self.rng, &self.stored_config)
    }

    /// Saves `checkpoint` atomically into the checkpoint directory, rotates old ones and
    /// prints the path on the progress display; returns the path.
    ///
    /// # Errors
    /// No checkpoint directory, and I/O failures.
    pub fn save(&mut self, checkpoint: &Checkpoint) -> Result<PathBuf> {
        CheckpointDir::save_reported(self.checkpoints.as_ref(), checkpoint, self.progress.as_mut())
    }

    /// Closes the progress display.
    pub fn finish(&mut self) {
        if let Some(progress) = &mut self.progress {
            progress.finish();
        }
    }

    /// The number of completed steps.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The number of steps of the run.
    pub fn total_steps(&self) -> usize {
        self.schedule.total_steps
    }

    /// Whether every step of the run is done.
    pub fn is_finished(&self) -> bool {
        self.step >= self.schedule.total_steps
    }

    /// The run's random generator.
    pub fn rng_mut(&mut self) -> &mut SeededRng {
        &mut self.rng
    }

    /// The divergence guard.
    pub fn guard_mut(&mut self) -> &mut DivergenceGuard {
        &mut self.guard
    }

    /// The generator and the guard at once (a step draws from one and checks with the other).
    pub fn rng_and_guard(&mut self) -> (&mut SeededRng, &mut DivergenceGuard) {
        (&mut self.rng, &mut self.guard)
    }
}

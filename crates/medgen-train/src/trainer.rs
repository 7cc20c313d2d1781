//! The family-agnostic training loop: one optimiser step of any Burn module from a loss, with
//! gradient clipping, a learning-rate schedule, a divergence guard, an EMA of the weights,
//! periodic atomic checkpoints (resumable bit for bit), progress and a loss history.
//!
//! Each model family supplies only its loss, as a closure of the model, the step and the run's
//! random generator; [`Trainer`] does the rest:
//!
//! ```text
//! loss = L(θ_k; step k, rng)            (caller's closure, on an autodiff device)
//! stop with Diverged{k} unless loss is finite
//! g = ∇_θ loss                           (backward → GradientsParams)
//! g ← g · min(1, c / ‖g‖₂)               (optional global-norm clipping, c = max_grad_norm)
//! θ_{k+1} = Opt(θ_k, g, lr(k))           (ModuleOptimizer::step, lr from WarmupCosine)
//! θ̄ ← d θ̄ + (1 − d) θ_{k+1}              (optional EMA)
//! every `checkpoint_every` steps: model, EMA, optimiser, step, RNG, config, loss history
//! ```
//!
//! ```no_run
//! # use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};
//! # use medgen_core::{seeded_rng, Result};
//! # use burn::nn::{Linear, LinearConfig};
//! # use burn::optim::AdamWConfig;
//! # use burn::tensor::{Device, Tensor};
//! # fn demo() -> Result<()> {
//! let device = Device::default().autodiff();
//! let model = LinearConfig::new(2, 1).init(&device);
//! let config = TrainerConfig::new(WarmupCosineConfig::new(1e-3, 100));
//! let mut trainer = Trainer::new(&config, model, AdamWConfig::new().init(), seeded_rng(0), &())?;
//! let x = Tensor::<2>::ones([4, 2], &device);
//! trainer.fit(|model: &Linear, _step, _rng| Ok(model.forward(x.clone()).square().mean()))?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;

use burn::config::Config;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::ema::{EmaConfig, EmaState};
use super::loss_history::LossHistory;
use super::lr::WarmupCosineConfig;
use super::progress::TrainingProgress;
use super::run_state::{RunSchedule, RunState};
use super::updater::{CheckpointSections, ModelUpdater, UpdateConfig};
use medgen_core::error::{CoreError, Result};
use medgen_core::rng::SeededRng;

/// Checkpoint sections used by [`Trainer`].
const SECTIONS: CheckpointSections =
    CheckpointSections { module: "model", optimizer: "optimizer", ema: "ema" };

/// The key of the trainer configuration in a checkpoint's stored configuration.
const KIND: &str = "trainer";

/// The configuration of a [`Trainer`] run.
#[derive(Config, Debug, PartialEq)]
pub struct TrainerConfig {
    /// The learning-rate schedule; its `total_steps` is the number of optimiser steps of the
    /// run, and step `k` (0-based) uses `lr(k)`.
    pub lr: WarmupCosineConfig,
    /// Global-norm gradient clipping `g ← g · min(1, c / ‖g‖₂)` with `c = max_grad_norm`
    /// (`None`: no clipping).
    #[config(default = "None")]
    pub max_grad_norm: Option<f32>,
    /// An exponential moving average of the weights (`None`: no EMA).
    #[config(default = "None")]
    pub ema: Option<EmaConfig>,
    /// Save a checkpoint every this many steps and at the last step (`0`: never; needs a
    /// checkpoint directory, see [`Trainer::with_checkpoints`]).
    #[config(default = 0)]
    pub checkpoint_every: usize,
    /// How many of the newest checkpoints to keep.
    #[config(default = 2)]
    pub keep_checkpoints: usize,
}

impl TrainerConfig {
    /// Checks every field (the learning rate, the EMA, clipping `c > 0` finite, and
    /// `keep_checkpoints ≥ 1`).
    pub fn validate(&self) -> Result<()> {
        self.update_config().validate()?;
        if self.keep_checkpoints == 0 {
            return Err(CoreError::config("keep_checkpoints", "must be at least 1"));
        }
        Ok(())
    }

    /// The number of optimiser steps of the run (`lr.total_steps`).
    pub fn total_steps(&self) -> usize {
        self.lr.total_steps
    }

    /// How the model is updated: schedule, clipping and EMA.
    pub fn update_config(&self) -> UpdateConfig {
        UpdateConfig {
            lr: self.lr.clone(),
            max_grad_norm: self.max_grad_norm,
            ema: self.ema.clone(),
        }
    }

    /// When the run ends and how it checkpoints.
    pub fn run_schedule(&self) -> RunSchedule {
        RunSchedule {
            total_steps: self.total_steps(),
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
        }
    }
}

/// The run state stored in a checkpoint's metadata besides modules and optimiser.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct TrainerMetadata {
    history: LossHistory,
    ema: Option<EmaState>,
}

/// What one call of [`Trainer::step`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The number of completed steps after this one (1-based).
    pub step: usize,
    /// The loss before the update.
    pub loss: f32,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient norm before clipping (only computed when clipping is on).
    pub grad_norm: Option<f32>,
    /// The checkpoint written after this step, if any.
    pub checkpoint: Option<PathBuf>,
}

/// A training run of one module `M` with one optimiser (see the [module documentation](self)):
/// a [`RunState`] and one [`ModelUpdater`].
///
/// The model must live on an autodiff device. The run's [`SeededRng`] is owned by the
/// trainer and handed to the loss closure, so that a resumed run draws the same numbers as an
/// uninterrupted one.
pub struct Trainer<M: Module> {
    config: TrainerConfig,
    run: RunState,
    updater: ModelUpdater<M>,
    history: LossHistory,
}

impl<M: Module> std::fmt::Debug for Trainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("step", &self.run.step())
            .finish_non_exhaustive()
    }
}

impl<M: Module> Trainer<M> {
    /// A fresh run at step 0. `run_config` is the caller's own configuration (model, data,
    /// loss; any `Serialize` value): it is stored in every checkpoint together with `config`,
    /// and a resume must present the same.
    ///
    /// Errors: an invalid `config`, a `run_config` that does not serialise, or a model that
    /// is not on an autodiff device.
    pub fn new<C: Serialize + ?Sized>(
        config: &TrainerConfig,
        model: M,
        optimizer: ModuleOptimizer,
        rng: SeededRng,
        run_config: &C,
    ) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config: config.clone(),
            run: RunState::new(config.run_schedule(), rng, KIND, config, run_config)?,
            updater: ModelUpdater::new(&config.update_config(), model, optimizer, SECTIONS)?,
            history: LossHistory::new(),
        })
    }

    /// Continues the run saved in `checkpoint`: `model` and `optimizer` are freshly built
    /// templates (same architecture and optimiser kind) that receive the saved parameters and
    /// optimiser state; the EMA, step, RNG state and loss history are restored, so the run
    /// continues exactly as if it had not been interrupted.
    ///
    /// Errors: [`CoreError::CheckpointMismatch`] if the checkpoint was written with another
    /// `config`/`run_config` or does not fit the model, and the errors of [`Trainer::new`].
    pub fn resume<C: Serialize + ?Sized>(
        config: &TrainerConfig,
        model: M,
        optimizer: ModuleOptimizer,
        checkpoint: &Checkpoint,
        run_config: &C,
    ) -> Result<Self> {
        config.validate()?;
        let run = RunState::resume(config.run_schedule(), checkpoint, KIND, config, run_config)?;
        let mut metadata: TrainerMetadata = checkpoint.metadata_as()?;
        let updater = ModelUpdater::resume(
            &config.update_config(),
            model,
            optimizer,
            SECTIONS,
            checkpoint,
            metadata.ema.take(),
        )?;
        let mut history = metadata.history;
        history.truncate_from(run.step() + 1);
        Ok(Self { config: config.clone(), run, updater, history })
    }

    /// Saves checkpoints into `dir` every `config.checkpoint_every` steps (keeping the newest
    /// `config.keep_checkpoints`).
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>) -> Result<Self> {
        self.run.set_checkpoint_dir(dir)?;
        Ok(self)
    }

    /// Reports each step to `progress` (started at the current step).
    pub fn with_progress(mut self, progress: TrainingProgress) -> Self {
        self.run.set_progress(progress);
        self
    }

    /// One optimiser step (see the [module documentation](self)) with the loss computed by
    /// `loss_fn(&model, step, &mut rng)`, a scalar `[1]` tensor on the model's autodiff device.
    ///
    /// Errors: [`CoreError::Diverged`] naming the 0-based step when the loss or the gradient
    /// norm is NaN or infinite (the model is left unchanged), a finished run
    /// (`step ≥ total_steps`), and any error of `loss_fn` or of checkpointing.
    pub fn step<E, F>(&mut self, loss_fn: F) -> Result<StepReport, E>
    where
        E: From<CoreError>,
        F: FnOnce(&M, usize, &mut SeededRng) -> Result<Tensor<1>, E>,
    {
        self.run.ensure_running()?;
        let step = self.run.step();
        let loss = loss_fn(self.updater.model(), step, self.run.rng_mut())?;
        let stats = self.updater.update(step, loss, self.run.guard_mut())?;
        self.run.advance(stats.loss);
        self.history.push(self.run.step(), stats.loss);
        let checkpoint =
            if self.run.checkpoint_due() { Some(self.save_checkpoint()?) } else { None };
        Ok(StepReport {
            step: self.run.step(),
            loss: stats.loss,
            lr: stats.lr,
            grad_norm: stats.grad_norm,
            checkpoint,
        })
    }

    /// Runs [`Trainer::step`] until `total_steps`, then closes the progress display.
    pub fn fit<E, F>(&mut self, mut loss_fn: F) -> Result<(), E>
    where
        E: From<CoreError>,
        F: FnMut(&M, usize, &mut SeededRng) -> Result<Tensor<1>, E>,
    {
        while !self.is_finished() {
            self.step(&mut loss_fn)?;
        }
        self.run.finish();
        Ok(())
    }

    /// The complete run state at the current step: modules `model` and (with an EMA) `ema`,
    /// the optimiser state `optimizer`, the step, the RNG state, the configuration and the
    /// loss history.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let metadata =
            TrainerMetadata { history: self.history.clone(), ema: self.updater.ema_state() };
        self.updater.write_to(self.run.start_checkpoint()?)?.with_metadata(&metadata)
    }

    /// Saves [`Trainer::checkpoint`] into the checkpoint directory (atomically) and returns
    /// its path; fails if no directory was set.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let checkpoint = self.checkpoint()?;
        self.run.save(&checkpoint)
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &M {
        self.updater.model()
    }

    /// The EMA copy of the weights (off autodiff), if the run keeps one.
    pub fn ema(&self) -> Option<&M> {
        self.updater.ema()
    }

    /// The weights to sample from: the EMA copy if there is one, else the model, without
    /// autodiff and in evaluation mode.
    pub fn inference_model(&self) -> M {
        self.updater.inference_model()
    }

    /// Consumes the trainer and returns the trained model.
    pub fn into_model(self) -> M {
        self.updater.into_model()
    }

    /// The number of completed steps.
    pub fn current_step(&self) -> usize {
        self.run.step()
    }

    /// Whether every step of the run is done.
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
    }

    /// The loss of every completed step (1-based steps).
    pub fn history(&self) -> &LossHistory {
        &self.history
    }

    /// The run's random generator (e.g. to draw samples after training).
    pub fn rng_mut(&mut self) -> &mut SeededRng {
        self.run.rng_mut()
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::AdamWConfig;
    use burn::tensor::{Device, TensorData};
    use medgen_core::rng::seeded_rng;
    use medgen_testing::test_device;
    use rand::RngExt;

    fn config(steps: usize) -> TrainerConfig {
        TrainerConfig::new(WarmupCosineConfig::new(0.05, steps).with_warmup_steps(2))
            .with_max_grad_norm(Some(10.0))
            .with_ema(Some(EmaConfig::new().with_decay(0.9)))
            .with_checkpoint_every(3)
    }

    fn trainer(device: &Device, steps: usize) -> Trainer<Linear> {
        let model = medgen_core::init_seeded(device, &mut seeded_rng(5), |d| {
            Ok::<_, CoreError>(LinearConfig::new(3, 1).init(d))
        })
        .unwrap();
        Trainer::new(&config(steps), model, AdamWConfig::new().init(), seeded_rng(9), &"linear")
            .unwrap()
    }

    /// Least squares on a fresh random batch each step, drawn from the run's rng.
    fn loss(model: &Linear, _step: usize, rng: &mut SeededRng) -> Result<Tensor<1>> {
        let device = model.weight.val().device();
        let x: Vec<f32> = (0..12).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [4, 3]), &device);
        let y = x.clone().sum_dim(1).mul_scalar(2.0);
        Ok(model.forward(x).sub(y).square().mean())
    }

    #[test]
    fn training_lowers_the_loss_and_resume_is_identical() {
        let device = test_device().autodiff();
        let dir = tempfile::tempdir().unwrap();
        let mut full = trainer(&device, 8).with_checkpoints(dir.path()).unwrap();
        full.fit(loss).unwrap();
        let losses = full.history().losses().to_vec();
        assert_eq!(losses.len(), 8);
        assert!(losses[7] < losses[0], "{losses:?}");

        // Resume from the step-6 checkpoint: the last two losses must repeat exactly.
        let ckpt =
            Checkpoint::read(dir.path().join(super::super::checkpoint_file_name(6))).unwrap();
        let template = trainer(&device, 8);
        let mut resumed = Trainer::resume(
            &config(8),
            template.into_model(),
            AdamWConfig::new().init(),
            &ckpt,
            &"linear",
        )
        .unwrap();
        assert_eq!(resumed.current_step(), 6);
        resumed.fit(loss).unwrap();
        assert_eq!(resumed.history().losses(), &losses[..], "resumed run differs");
        let w = |t: &Trainer<Linear>| t.ema().unwrap().weight.val().try_into_vec_as::<f32>();
        assert_eq!(w(&resumed).unwrap(), w(&full).unwrap());
        // Another run configuration is refused.
        let other = Trainer::resume(
            &config(8),
            trainer(&device, 8).into_model(),
            AdamWConfig::new().init(),
            &ckpt,
            &"other",
        );
        assert!(matches!(other, Err(CoreError::CheckpointMismatch { .. })));
    }

    #[test]
    fn nan_loss_stops_with_the_step_and_keeps_the_model() {
        let device = test_device().autodiff();
        let mut run = trainer(&device, 5);
        run.step(loss).unwrap();
        let before = run.model().weight.val().try_into_vec_as::<f32>().unwrap();
        let err = run
            .step(|m: &Linear, s, r: &mut SeededRng| Ok(loss(m, s, r)?.mul_scalar(f32::NAN)))
            .unwrap_err();
        assert!(matches!(err, CoreError::Diverged { step: 1, .. }), "{err}");
        let after = run.model().weight.val().try_into_vec_as::<f32>().unwrap();
        assert_eq!(before, after);
        assert_eq!(run.current_step(), 1);
    }

    #[test]
    fn invalid_setups_are_rejected() {
        let device = test_device();
        let plain = LinearConfig::new(2, 1).init(&device);
        let made = Trainer::new(&config(3), plain, AdamWConfig::new().init(), seeded_rng(0), &());
        assert!(matches!(made, Err(CoreError::InvalidConfig { .. })));
        let bad = config(3).with_max_grad_norm(Some(0.0));
        assert!(bad.validate().is_err());
        assert!(config(3).with_keep_checkpoints(0).validate().is_err());
        let mut run = trainer(&device.autodiff(), 2);
        run.fit(loss).unwrap();
        assert!(run.step(loss).is_err());
        assert!(run.save_checkpoint().is_err());
    }
}

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
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::checkpoint_dir::CheckpointDir;
use super::clip::clip_grad_norm;
use super::ema::{EmaConfig, EmaState, ModelEma};
use super::guard::DivergenceGuard;
use super::loss_history::LossHistory;
use super::lr::{WarmupCosine, WarmupCosineConfig};
use super::progress::TrainingProgress;
use medgen_core::error::{CoreError, Result};
use medgen_core::rng::SeededRng;

/// Checkpoint section names used by [`Trainer`].
const MODEL: &str = "model";
const EMA: &str = "ema";
const OPTIMIZER: &str = "optimizer";

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
        self.lr.validate()?;
        if let Some(ema) = &self.ema {
            ema.validate()?;
        }
        if let Some(c) = self.max_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(CoreError::config(
                "max_grad_norm",
                format!("must be positive and finite, got {c}"),
            ));
        }
        if self.keep_checkpoints == 0 {
            return Err(CoreError::config("keep_checkpoints", "must be at least 1"));
        }
        Ok(())
    }

    /// The number of optimiser steps of the run (`lr.total_steps`).
    pub fn total_steps(&self) -> usize {
        self.lr.total_steps
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

/// A training run of one module `M` with one optimiser (see the [module documentation](self)).
///
/// The model must live on an autodiff device. The run's [`SeededRng`] is owned by the
/// trainer and handed to the loss closure, so that a resumed run draws the same numbers as an
/// uninterrupted one.
pub struct Trainer<M: Module> {
    config: TrainerConfig,
    run_config: Value,
    model: Option<M>,
    optimizer: ModuleOptimizer,
    schedule: WarmupCosine,
    ema: Option<ModelEma<M>>,
    guard: DivergenceGuard,
    rng: SeededRng,
    step: usize,
    history: LossHistory,
    checkpoints: Option<CheckpointDir>,
    progress: Option<TrainingProgress>,
}

impl<M: Module> std::fmt::Debug for Trainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("step", &self.step)
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
        ensure_autodiff(&model)?;
        let ema = config.ema.as_ref().map(|ema| ema.init(&model)).transpose()?;
        Ok(Self {
            config: config.clone(),
            run_config: stored_config(config, run_config)?,
            model: Some(model),
            optimizer,
            schedule: config.lr.init()?,
            ema,
            guard: DivergenceGuard::new(),
            rng,
            step: 0,
            history: LossHistory::new(),
            checkpoints: None,
            progress: None,
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
        let stored = stored_config(config, run_config)?;
        checkpoint.check_config(&stored)?;
        let model = checkpoint.load_module(MODEL, model)?;
        let optimizer = checkpoint.load_optimizer(OPTIMIZER, optimizer)?;
        let mut trainer = Self::new(config, model, optimizer, checkpoint.rng()?, run_config)?;
        let metadata: TrainerMetadata = checkpoint.metadata_as()?;
        if let (Some(ema_config), Some(ema)) = (&config.ema, trainer.ema.take()) {
            let ema_model = checkpoint.load_module(EMA, ema.into_model())?;
            let state = metadata.ema.unwrap_or_default();
            trainer.ema = Some(ModelEma::resume(ema_config.clone(), ema_model, state)?);
        }
        trainer.step = checkpoint.step();
        trainer.schedule.set_position(trainer.step);
        trainer.history = metadata.history;
        trainer.history.truncate_from(trainer.step + 1);
        Ok(trainer)
    }

    /// Saves checkpoints into `dir` every `config.checkpoint_every` steps (keeping the newest
    /// `config.keep_checkpoints`).
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>) -> Result<Self> {
        self.checkpoints = Some(CheckpointDir::new(dir, self.config.keep_checkpoints)?);
        Ok(self)
    }

    /// Reports each step to `progress` (started at the current step).
    pub fn with_progress(mut self, progress: TrainingProgress) -> Self {
        self.progress = Some(progress.resume_from(self.step));
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
        let step = self.step;
        if self.is_finished() {
            return Err(CoreError::config(
                "step",
                format!("the run is finished ({} steps)", self.config.total_steps()),
            )
            .into());
        }
        let model = self.model.take().ok_or_else(poisoned)?;
        let outcome = self.update(model, step, loss_fn);
        let (model, report) = match outcome {
            Ok(done) => done,
            Err((model, err)) => {
                self.model = Some(model);
                return Err(err);
            }
        };
        self.model = Some(model);
        self.step = step + 1;
        self.history.push(self.step, report.loss);
        if let Some(ema) = &mut self.ema {
            ema.update(self.model.as_ref().ok_or_else(poisoned)?)?;
        }
        if let Some(progress) = &mut self.progress {
            progress.update(self.step, report.loss);
        }
        let checkpoint = if self.checkpoint_due() { Some(self.save_checkpoint()?) } else { None };
        Ok(StepReport { checkpoint, ..report })
    }

    /// The forward/backward/update part of [`Trainer::step`]; hands the model back on error.
    #[allow(clippy::type_complexity)]
    fn update<E, F>(
        &mut self,
        model: M,
        step: usize,
        loss_fn: F,
    ) -> std::result::Result<(M, StepReport), (M, E)>
    where
        E: From<CoreError>,
        F: FnOnce(&M, usize, &mut SeededRng) -> Result<Tensor<1>, E>,
    {
        let loss = match loss_fn(&model, step, &mut self.rng) {
            Ok(loss) => loss,
            Err(err) => return Err((model, err)),
        };
        let value = match self.guard.check_loss_tensor(step, &loss) {
            Ok(value) => value,
            Err(err) => return Err((model, err.into())),
        };
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut grad_norm = None;
        if let Some(max_norm) = self.config.max_grad_norm {
            let clipped = clip_grad_norm(&model, grads, max_norm)
                .and_then(|(g, norm)| self.guard.check_grad_norm(step, norm).map(|n| (g, n)));
            match clipped {
                Ok((g, norm)) => {
                    grads = g;
                    grad_norm = Some(norm);
                }
                Err(err) => return Err((model, err.into())),
            }
        }
        let lr = self.schedule.lr_at(step);
        self.schedule.set_position(step + 1);
        let model = self.optimizer.step(lr, model, grads);
        let report = StepReport { step: step + 1, loss: value, lr, grad_norm, checkpoint: None };
        Ok((model, report))
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
        if let Some(progress) = &mut self.progress {
            progress.finish();
        }
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
        CheckpointDir::is_due(
            self.checkpoints.as_ref(),
            self.step,
            self.config.checkpoint_every,
            self.is_finished(),
        )
    }

    /// The complete run state at the current step: modules `model` and (with an EMA) `ema`,
    /// the optimiser state `optimizer`, the step, the RNG state, the configuration and the
    /// loss history.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let metadata = TrainerMetadata {
            history: self.history.clone(),
            ema: self.ema.as_ref().map(ModelEma::state),
        };
        let mut checkpoint = Checkpoint::new(self.step, &self.rng, &self.run_config)?
            .with_module(MODEL, self.model())?
            .with_optimizer(OPTIMIZER, &self.optimizer)?
            .with_metadata(&metadata)?;
        if let Some(ema) = &self.ema {
            checkpoint = checkpoint.with_module(EMA, ema.model())?;
        }
        Ok(checkpoint)
    }

    /// Saves [`Trainer::checkpoint`] into the checkpoint directory (atomically) and returns
    /// its path; fails if no directory was set.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let checkpoint = self.checkpoint()?;
        CheckpointDir::save_reported(self.checkpoints.as_ref(), &checkpoint, self.progress.as_mut())
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &M {
        self.model.as_ref().expect("the model is only taken out during a step")
    }

    /// The EMA copy of the weights (off autodiff), if the run keeps one.
    pub fn ema(&self) -> Option<&M> {
        self.ema.as_ref().map(ModelEma::model)
    }

    /// The weights to sample from: the EMA copy if there is one, else the model, without
    /// autodiff and in evaluation mode.
    pub fn inference_model(&self) -> M {
        self.ema().cloned().unwrap_or_else(|| self.model().valid())
    }

    /// Consumes the trainer and returns the trained model.
    pub fn into_model(mut self) -> M {
        self.model.take().expect("the model is only taken out during a step")
    }

    /// The number of completed steps.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Whether every step of the run is done.
    pub fn is_finished(&self) -> bool {
        self.step >= self.config.total_steps()
    }

    /// The loss of every completed step (1-based steps).
    pub fn history(&self) -> &LossHistory {
        &self.history
    }

    /// The run's random generator (e.g. to draw samples after training).
    pub fn rng_mut(&mut self) -> &mut SeededRng {
        &mut self.rng
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }
}

/// `{"trainer": config, "run": run_config}` as stored in checkpoints.
fn stored_config<C: Serialize + ?Sized>(config: &TrainerConfig, run_config: &C) -> Result<Value> {
    let encode = |what: &str, err: serde_json::Error| {
        CoreError::config(what, format!("does not serialise to JSON: {err}"))
    };
    Ok(serde_json::json!({
        "trainer": serde_json::to_value(config).map_err(|e| encode("trainer config", e))?,
        "run": serde_json::to_value(run_config).map_err(|e| encode("run_config", e))?,
    }))
}

fn poisoned() -> CoreError {
    CoreError::config("trainer", "the model was lost by an earlier panic during a step")
}

/// Fails unless the first float parameter of `model` lives on an autodiff device.
fn ensure_autodiff<M: Module>(model: &M) -> Result<()> {
    match model.devices().first() {
        Some(device) if !device.is_autodiff() => Err(CoreError::config(
            "model",
            "must live on an autodiff device (Device::autodiff()) to be trained",
        )),
        _ => Ok(()),
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

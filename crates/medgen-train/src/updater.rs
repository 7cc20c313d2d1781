//! One network under training: its parameters, optimiser, learning-rate schedule, gradient
//! clipping and EMA, updated from a loss.
//!
//! A run trains one ([`Trainer`](crate::Trainer)) or several networks (a GAN's generator and
//! discriminator, an AAE's autoencoder and critic); each is a [`ModelUpdater`], and every
//! update of every network is the same sequence:
//!
//! ```text
//! stop with Diverged{k} unless loss is finite
//! g = ∇_θ loss                             (backward → GradientsParams of this network)
//! g ← g · min(1, c / ‖g‖₂)                 (optional global-norm clipping, c = max_grad_norm)
//! θ ← Opt(θ, g, lr(k))                     (lr from the warm-up + cosine schedule at step k)
//! θ̄ ← d θ̄ + (1 − d) θ                      (optional EMA)
//! ```
//!
//! `k` is the run's step, not the number of updates of this network: a discriminator updated
//! `n_critic` times per step uses `lr(k)` for all of them.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::checkpoint::Checkpoint;
use super::clip::clip_grad_norm;
use super::ema::{EmaConfig, EmaState, ModelEma};
use super::guard::DivergenceGuard;
use super::lr::{WarmupCosine, WarmupCosineConfig};
use medgen_core::error::{CoreError, Result};

/// How one network is updated: its learning-rate schedule, gradient clipping and EMA.
#[derive(Config, Debug, PartialEq)]
pub struct UpdateConfig {
    /// The learning-rate schedule, indexed by the run's step.
    pub lr: WarmupCosineConfig,
    /// Global-norm gradient clipping `g ← g · min(1, c / ‖g‖₂)` with `c = max_grad_norm`
    /// (`None`: no clipping).
    #[config(default = "None")]
    pub max_grad_norm: Option<f32>,
    /// An exponential moving average of the weights (`None`: no EMA).
    #[config(default = "None")]
    pub ema: Option<EmaConfig>,
}

impl UpdateConfig {
    /// Checks the schedule, the EMA and that the clipping norm `c` is positive and finite.
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
        Ok(())
    }
}

/// The checkpoint sections one network is stored under: its parameters (`module`), its
/// optimiser state (`optimizer`) and, with an EMA, the averaged parameters (`ema`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointSections {
    /// The section of the trained parameters.
    pub module: &'static str,
    /// The section of the optimiser state.
    pub optimizer: &'static str,
    /// The section of the EMA parameters.
    pub ema: &'static str,
}

/// What one update measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStats {
    /// The loss before the update.
    pub loss: f32,
    /// The learning rate used, `lr(k)`.
    pub lr: f64,
    /// The global gradient norm before clipping (only computed when clipping is on).
    pub grad_norm: Option<f32>,
}

/// One network of a training run (see the [module documentation](self)): the parameters on an
/// autodiff device, the optimiser, the schedule, clipping and the EMA.
pub struct ModelUpdater<M: Module> {
    model: Option<M>,
    optimizer: ModuleOptimizer,
    schedule: WarmupCosine,
    max_grad_norm: Option<f32>,
    ema: Option<ModelEma<M>>,
    sections: CheckpointSections,
}

impl<M: Module> std::fmt::Debug for ModelUpdater<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelUpdater")
            .field("sections", &self.sections)
            .field("max_grad_norm", &self.max_grad_norm)
            .finish_non_exhaustive()
    }
}

impl<M: Module> ModelUpdater<M> {
    /// A network at the start of training, stored under `sections` in checkpoints.
    ///
    /// # Errors
    /// An invalid `config`, or a `model` that is not on an autodiff device (the error names
    /// `sections.module`).
    pub fn new(
        config: &UpdateConfig,
        model: M,
        optimizer: ModuleOptimizer,
        sections: CheckpointSections,
    ) -> Result<Self> {
        config.validate()?;
        ensure_autodiff(&model, sections.module)?;
        let ema = config.ema.as_ref().map(|ema| ema.init(&model)).transpose()?;
        Ok(Self {
            model: Some(model),
            optimizer,
            schedule: config.lr.init()?,
            max_grad_norm: config.max_grad_norm,
            ema,
            sections,
        })
    }

    /// The network as saved in `checkpoint` by [`ModelUpdater::write_to`]: `model` and
    /// `optimizer` are fresh templates of the same architecture and optimiser kind that
    /// receive the saved parameters and optimiser state; `ema_state` is the EMA's counter
    /// as [`ModelUpdater::ema_state`] returned it.
    ///
    /// # Errors
    /// [`CoreError::CheckpointMismatch`] if a section is missing or does not fit, and the
    /// errors of [`ModelUpdater::new`].
    pub fn resume(
        config: &UpdateConfig,
        model: M,
        optimizer: ModuleOptimizer,
        sections: CheckpointSections,
        checkpoint: &Checkpoint,
        ema_state: Option<EmaState>,
    ) -> Result<Self> {
        let model = checkpoint.load_module(sections.module, model)?;
        let optimizer = checkpoint.load_optimizer(sections.optimizer, optimizer)?;
        let mut updater = Self::new(config, model, optimizer, sections)?;
        if let (Some(ema_config), Some(ema)) = (&config.ema, updater.ema.take()) {
            let averaged = checkpoint.load_module(sections.ema, ema.into_model())?;
            let state = ema_state.unwrap_or_default();
            updater.ema = Some(ModelEma::resume(ema_config.clone(), averaged, state)?);
        }
        Ok(updater)
    }

    /// One update at the run's step `step` (see the [module documentation](self)), reading
    /// the loss back to the host first.
    ///
    /// # Errors
    /// [`CoreError::Diverged`] naming `step` when the loss or the gradient norm is NaN or
    /// infinite; the network is then left unchanged.
    pub fn update(
        &mut self,
        step: usize,
        loss: Tensor<1>,
        guard: &mut DivergenceGuard,
    ) -> Result<UpdateStats> {
        let value = guard.check_loss_tensor(step, &loss)?;
        self.update_with_value(step, loss, value, guard)
    }

    /// [`ModelUpdater::update`] for a loss whose value the caller has already read back and
    /// checked (e.g. together with other statistics, in one device synchronisation).
    ///
    /// # Errors
    /// As [`ModelUpdater::update`] (for the gradient norm only).
    pub fn update_with_value(
        &mut self,
        step: usize,
        loss: Tensor<1>,
        value: f32,
        guard: &mut DivergenceGuard,
    ) -> Result<UpdateStats> {
        let model = self.model.as_ref().ok_or_else(|| poisoned(self.sections.module))?;
        let mut grads = GradientsParams::from_grads(loss.backward(), model);
        let mut grad_norm = None;
        if let Some(max_norm) = self.max_grad_norm {
            let (clipped, norm) = clip_grad_norm(model, grads, max_norm)?;
            grad_norm = Some(guard.check_grad_norm(step, norm)?);
            grads = clipped;
        }
        let lr = self.schedule.lr_at(step);
        let model = self.model.take().ok_or_else(|| poisoned(self.sections.module))?;
        let model = self.optimizer.step(lr, model, grads);
        if let Some(ema) = &mut self.ema {
            ema.update(&model)?;
        }
        self.model = Some(model);
        Ok(UpdateStats { loss: value, lr, grad_norm })
    }

    /// Adds the network's sections to `checkpoint`: the parameters, the optimiser state and
    /// the EMA parameters (the EMA's counter goes in the caller's metadata, see
    /// [`ModelUpdater::ema_state`]).
    ///
    /// # Errors
    /// Serialisation failures.
    pub fn write_to(&self, checkpoint: Checkpoint) -> Result<Checkpoint> {
        let mut checkpoint = checkpoint
            .with_module(self.sections.module, self.model())?
            .with_optimizer(self.sections.optimizer, &self.optimizer)?;
        if let Some(ema) = &self.ema {
            checkpoint = checkpoint.with_module(self.sections.ema, ema.model())?;
        }
        Ok(checkpoint)
    }

    /// The EMA's update counter, to store in a checkpoint's metadata (`None` without an EMA).
    pub fn ema_state(&self) -> Option<EmaState> {
        self.ema.as_ref().map(ModelEma::state)
    }

    /// The learning rate of step `step`.
    pub fn lr_at(&self, step: usize) -> f64 {
        self.schedule.lr_at(step)
    }

    /// The network being trained (on the autodiff device).
    ///
    /// # Panics
    /// Only if an earlier update panicked half-way (the network is out during
    /// `optimizer.step`).
    #[track_caller]
    pub fn model(&self) -> &M {
        self.model.as_ref().expect("the network is only taken out during an optimiser step")
    }

    /// The EMA copy of the weights (off autodiff), if the network keeps one.
    pub fn ema(&self) -> Option<&M> {
        self.ema.as_ref().map(ModelEma::model)
    }

    /// The weights to sample from: the EMA copy if there is one, else the trained weights,
    /// without autodiff and in evaluation mode.
    pub fn inference_model(&self) -> M {
        self.ema().cloned().unwrap_or_else(|| self.model().valid())
    }

    /// Consumes the updater and returns the trained network.
    ///
    /// # Panics
    /// As [`ModelUpdater::model`].
    #[track_caller]
    pub fn into_model(mut self) -> M {
        self.model.take().expect("the network is only taken out during an optimiser step")
    }
}

fn poisoned(what: &str) -> CoreError {
    CoreError::config(what, "was lost by an earlier panic during an optimiser step")
}

/// Fails unless the first float parameter of `model` lives on an autodiff device.
fn ensure_autodiff<M: Module>(model: &M, what: &str) -> Result<()> {
    match model.devices().first() {
        Some(device) if !device.is_autodiff() => Err(CoreError::config(
            what,
            "must live on an autodiff device (Device::autodiff()) to be trained",
        )),
        _ => Ok(()),
    }
}

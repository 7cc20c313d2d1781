//! The adversarial training loop: alternating discriminator and generator updates with two
//! optimisers, an EMA of the generator, monitoring, a divergence guard and resumable
//! checkpoints.
//!
//! One step `k` (0-based) of a run, with the caller's batch source `data(k, rng)`:
//!
//! ```text
//! repeat n_critic times:
//!     (x, z, c_G, c_D) = data(k, rng)
//!     x̂ = stop_grad(G(z | c_G))
//!     L_D = loss.D(D(x | c_D), D(x̂ | c_D)) [+ w·CE(class logits, y)] [+ R(D, x, x̂)]
//!     stop with Diverged{k} unless L_D is finite
//!     θ_D ← Adam(θ_D, ∇_θD L_D, lr_D)
//! x̂ = G(z | c_G)                      (the last batch again, now differentiable)
//! L_G = loss.G(D(x̂ | c_D)) [+ w·CE(class logits of x̂, y)] [+ S(x̂, batch)]
//! stop with Diverged{k} unless L_G is finite
//! θ_G ← Adam(θ_G, ∇_θG L_G, lr_G);  θ̄_G ← EMA(θ̄_G, θ_G)
//! monitor(L_D, L_G, accuracies); every `checkpoint_every` steps: checkpoint
//! ```
//!
//! `R` is an optional discriminator regulariser (a gradient penalty, R1, consistency term)
//! and `S` an optional generator term (pix2pix's `λ·‖x̂ − x‖₁`).

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use medgen_core::check::ensure_shape;
use medgen_core::{CoreError, SeededRng};
use medgen_train::{
    Checkpoint, CheckpointDir, DivergenceGuard, EmaState, ModelEma, TrainingProgress,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::batch::GanBatch;
use super::config::GanTrainerConfig;
use super::objective::AdversarialLoss;
use super::report::{GanHistory, GanStepReport};
use crate::error::{GanError, Result};
use crate::loss::auxiliary_classifier_loss;
use crate::monitor::{GanMonitor, MonitorEvent, SampleQuality, StepStats, logit_accuracy};
use crate::network::{Discriminator, DiscriminatorOutput, Generator};

/// Checkpoint section names.
const GENERATOR: &str = "generator";
const DISCRIMINATOR: &str = "discriminator";
const EMA: &str = "generator_ema";

/// A discriminator regulariser `R(D, batch, x̂)` added to `L_D` (`x̂` detached fakes).
pub type DiscriminatorRegularizer<Dn, const I: usize, const D: usize> =
    Box<dyn FnMut(&Dn, &GanBatch<I, D>, &Tensor<D>) -> Result<Tensor<1>>>;

/// A generator term `S(x̂, batch)` added to `L_G` (`x̂` differentiable fakes).
pub type GeneratorRegularizer<const I: usize, const D: usize> =
    Box<dyn FnMut(&Tensor<D>, &GanBatch<I, D>) -> Result<Tensor<1>>>;

/// What one discriminator update measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscriminatorStats {
    /// `L_D` (with the auxiliary and regulariser terms).
    pub loss: f32,
    /// Fraction of real logits `> t`, the loss's decision threshold.
    pub real_accuracy: f32,
    /// Fraction of generated logits `< t`.
    pub fake_accuracy: f32,
}

/// The run state stored in a checkpoint's metadata besides networks and optimisers.
#[derive(Serialize, Deserialize)]
struct GanMetadata {
    history: GanHistory,
    monitor: GanMonitor,
    ema: Option<EmaState>,
}

/// An adversarial training run (see the [module documentation](crate::train)) of a generator `G`
/// (input rank `I`, output rank `D`) and a discriminator `Dn`, both on an autodiff device.
///
/// The run's [`SeededRng`] is owned by the trainer and handed to the batch source, so that
/// a resumed run draws the same batches as an uninterrupted one.
pub struct GanTrainer<G, Dn, const I: usize, const D: usize>
where
    G: Module + Generator<I, D>,
    Dn: Module + Discriminator<D>,
{
    config: GanTrainerConfig,
    run_config: Value,
    generator: Option<G>,
    discriminator: Option<Dn>,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    loss: Box<dyn AdversarialLoss>,
    d_regularizer: Option<DiscriminatorRegularizer<Dn, I, D>>,
    g_regularizer: Option<GeneratorRegularizer<I, D>>,
    ema: Option<ModelEma<G>>,
    guard: DivergenceGuard,
    rng: SeededRng,
    step: usize,
    history: GanHistory,
    monitor: GanMonitor,
    checkpoints: Option<CheckpointDir>,
    progress: Option<TrainingProgress>,
}

impl<G, Dn, const I: usize, const D: usize> std::fmt::Debug for GanTrainer<G, Dn, I, D>
where
    G: Module + Generator<I, D>,
    Dn: Module + Discriminator<D>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GanTrainer")
            .field("config", &self.config)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl<G, Dn, const I: usize, const D: usize> GanTrainer<G, Dn, I, D>
where
    G: Module + Generator<I, D>,
    Dn: Module + Discriminator<D>,
{
    /// A fresh run at step 0 with fresh optimisers ([`GanTrainerConfig::optimizer`]).
    /// `run_config` is the caller's own configuration (networks, data, loss; any
    /// `Serialize` value): it is stored in checkpoints and a resume must present the same.
    ///
    /// # Errors
    /// An invalid `config`, a `run_config` that does not serialise, or a network that is not
    /// on an autodiff device.
    pub fn new<C: Serialize + ?Sized>(
        config: &GanTrainerConfig,
        generator: G,
        discriminator: Dn,
        loss: impl AdversarialLoss + 'static,
        rng: SeededRng,
        run_config: &C,
    ) -> Result<Self> {
        config.validate()?;
        ensure_autodiff(&generator, "generator")?;
        ensure_autodiff(&discriminator, "discriminator")?;
        let ema = config.ema.as_ref().map(|ema| ema.init(&generator)).transpose()?;
        Ok(Self {
            config: config.clone(),
            run_config: stored_config(config, run_config)?,
            generator: Some(generator),
            discriminator: Some(discriminator),
            opt_g: config.optimizer(),
            opt_d: config.optimizer(),
            loss: Box::new(loss),
            d_regularizer: None,
            g_regularizer: None,
            ema,
            guard: DivergenceGuard::new(),
            rng,
            step: 0,
            history: GanHistory::default(),
            monitor: GanMonitor::new(config.monitor.clone())?,
            checkpoints: None,
            progress: None,
        })
    }

    /// Continues the run saved in `checkpoint`: `generator` and `discriminator` are freshly
    /// built networks of the same architecture that receive the saved parameters; both
    /// optimiser states, the EMA, the step, the RNG state, the curves and the monitor's
    /// windows are restored, so the run continues as if it had not been interrupted.
    /// Regularisers are not stored: set them again.
    ///
    /// # Errors
    /// [`CoreError::CheckpointMismatch`] if the checkpoint was written with another `config`
    /// or `run_config` or does not fit the networks, and the errors of [`GanTrainer::new`].
    pub fn resume<C: Serialize + ?Sized>(
        config: &GanTrainerConfig,
        generator: G,
        discriminator: Dn,
        loss: impl AdversarialLoss + 'static,
        checkpoint: &Checkpoint,
        run_config: &C,
    ) -> Result<Self> {
        checkpoint.check_config(&stored_config(config, run_config)?)?;
        let generator = checkpoint.load_module(GENERATOR, generator)?;
        let discriminator = checkpoint.load_module(DISCRIMINATOR, discriminator)?;
        let mut trainer =
            Self::new(config, generator, discriminator, loss, checkpoint.rng()?, run_config)?;
        trainer.opt_g = checkpoint.load_optimizer(GENERATOR, config.optimizer())?;
        trainer.opt_d = checkpoint.load_optimizer(DISCRIMINATOR, config.optimizer())?;
        let metadata: GanMetadata = checkpoint.metadata_as()?;
        if let (Some(ema_config), Some(ema)) = (&config.ema, trainer.ema.take()) {
            let model = checkpoint.load_module(EMA, ema.into_model())?;
            let state = metadata.ema.unwrap_or_default();
            trainer.ema = Some(ModelEma::resume(ema_config.clone(), model, state)?);
        }
        trainer.step = checkpoint.step();
        trainer.history = metadata.history;
        trainer.history.truncate_from(trainer.step + 1);
        trainer.monitor = metadata.monitor;
        Ok(trainer)
    }

    /// Adds `R(D, batch, x̂)` to every discriminator loss (e.g. a gradient penalty).
    pub fn with_discriminator_regularizer(
        mut self,
        regularizer: impl FnMut(&Dn, &GanBatch<I, D>, &Tensor<D>) -> Result<Tensor<1>> + 'static,
    ) -> Self {
        self.d_regularizer = Some(Box::new(regularizer));
        self
    }

    /// Adds `S(x̂, batch)` to every generator loss (e.g. pix2pix's `λ·‖x̂ − x‖₁`).
    pub fn with_generator_regularizer(
        mut self,
        regularizer: impl FnMut(&Tensor<D>, &GanBatch<I, D>) -> Result<Tensor<1>> + 'static,
    ) -> Self {
        self.g_regularizer = Some(Box::new(regularizer));
        self
    }

    /// Saves checkpoints into `dir` every `config.checkpoint_every` steps and at the last
    /// step, keeping the newest `config.keep_checkpoints`.
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>) -> Result<Self> {
        self.checkpoints = Some(CheckpointDir::new(dir, self.config.keep_checkpoints)?);
        Ok(self)
    }

    /// Reports each step's generator loss to `progress` (the monitor's warnings are in the
    /// step reports).
    pub fn with_progress(mut self, progress: TrainingProgress) -> Self {
        self.progress = Some(progress.resume_from(self.step));
        self
    }

    /// One step: `n_critic` discriminator updates on fresh batches from `data(step, rng)`,
    /// then one generator update on the last batch (see the [module documentation](crate::train)).
    ///
    /// # Errors
    /// [`CoreError::Diverged`] naming the 0-based step and the network whose loss became NaN
    /// or infinite (that network is left unchanged), a finished run, shape mismatches between
    /// the generator's output and the real batch, and the errors of `data`, the networks,
    /// the loss and checkpointing.
    pub fn step<F>(&mut self, mut data: F) -> Result<GanStepReport>
    where
        F: FnMut(usize, &mut SeededRng) -> Result<GanBatch<I, D>>,
    {
        let step = self.step;
        if self.is_finished() {
            return Err(CoreError::config(
                "step",
                format!("the run is finished ({} steps)", self.config.total_steps),
            )
            .into());
        }
        let mut last = None;
        for _ in 0..self.config.n_critic {
            let batch = data(step, &mut self.rng)?;
            let stats = self.discriminator_step(&batch)?;
            last = Some((batch, stats));
        }
        let (batch, d_stats) = last.ok_or_else(|| CoreError::config("n_critic", "is 0"))?;
        let g_loss = self.generator_step(&batch)?;
        self.step = step + 1;
        let stats = StepStats {
            step: self.step,
            d_loss: d_stats.loss,
            g_loss,
            real_accuracy: d_stats.real_accuracy,
            fake_accuracy: d_stats.fake_accuracy,
        };
        self.history.push(&stats);
        let events = self.monitor.observe_step(stats);
        if let Some(progress) = &mut self.progress {
            progress.update(self.step, g_loss);
        }
        let checkpoint = if self.checkpoint_due() { Some(self.save_checkpoint()?) } else { None };
        Ok(GanStepReport { stats, events, checkpoint })
    }

    /// Runs [`GanTrainer::step`] until `total_steps`, calling `on_step` with each report
    /// (e.g. to print warnings or check samples), then closes the progress display.
    pub fn fit<F, R>(&mut self, mut data: F, mut on_step: R) -> Result<()>
    where
        F: FnMut(usize, &mut SeededRng) -> Result<GanBatch<I, D>>,
        R: FnMut(&mut Self, &GanStepReport) -> Result<()>,
    {
        while !self.is_finished() {
            let report = self.step(&mut data)?;
            on_step(self, &report)?;
        }
        if let Some(progress) = &mut self.progress {
            progress.finish();
        }
        Ok(())
    }

    /// One discriminator update on `batch` (the generator is not changed). Public so that
    /// custom schedules (or a test that trains only `D`) can drive it directly.
    ///
    /// # Errors
    /// As [`GanTrainer::step`].
    pub fn discriminator_step(&mut self, batch: &GanBatch<I, D>) -> Result<DiscriminatorStats> {
        let n = batch.batch_size()?;
        let step = self.step;
        let generator = self.generator.as_ref().ok_or_else(poisoned)?;
        let fake = generator.generate(batch.input.clone(), &batch.generator_condition)?.detach();
        ensure_shape(&fake.dims(), &batch.real.dims(), "generator output")?;
        let discriminator = self.discriminator.as_ref().ok_or_else(poisoned)?;
        let real_out = checked_output(discriminator, batch.real.clone(), batch, n)?;
        let fake_out = checked_output(discriminator, fake.clone(), batch, n)?;
        let threshold = self.loss.decision_threshold();
        let real_accuracy = logit_accuracy(real_out.logits.clone().detach(), threshold, true);
        let fake_accuracy = logit_accuracy(fake_out.logits.clone().detach(), threshold, false);
        let mut loss = self.loss.discriminator_loss(real_out.logits, fake_out.logits)?;
        for class_logits in [real_out.class_logits, fake_out.class_logits] {
            if let Some(term) = self.class_term(class_logits, batch)? {
                loss = loss.add(term);
            }
        }
        if let Some(regularizer) = &mut self.d_regularizer {
            loss = loss.add(regularizer(discriminator, batch, &fake)?);
        }
        let values = medgen_core::read_values::<f32, 1, _>(
            Tensor::cat(vec![loss.clone().detach(), real_accuracy, fake_accuracy], 0),
            "discriminator loss",
        )?;
        let value = self
            .guard
            .check_loss(step, values[0])
            .map_err(|err| name_network(err, "discriminator"))?;
        let grads = GradientsParams::from_grads(loss.backward(), discriminator);
        let discriminator = self.discriminator.take().ok_or_else(poisoned)?;
        let lr = self.config.lr_discriminator;
        self.discriminator = Some(self.opt_d.step(lr, discriminator, grads));
        Ok(DiscriminatorStats { loss: value, real_accuracy: values[1], fake_accuracy: values[2] })
    }

    /// One generator update on `batch` (the discriminator is not changed), followed by the
    /// EMA update; returns `L_G`.
    ///
    /// # Errors
    /// As [`GanTrainer::step`].
    pub fn generator_step(&mut self, batch: &GanBatch<I, D>) -> Result<f32> {
        let n = batch.batch_size()?;
        let step = self.step;
        let generator = self.generator.as_ref().ok_or_else(poisoned)?;
        let fake = generator.generate(batch.input.clone(), &batch.generator_condition)?;
        ensure_shape(&fake.dims(), &batch.real.dims(), "generator output")?;
        let discriminator = self.discriminator.as_ref().ok_or_else(poisoned)?;
        let out = checked_output(discriminator, fake.clone(), batch, n)?;
        let mut loss = self.loss.generator_loss(out.logits)?;
        if let Some(term) = self.class_term(out.class_logits, batch)? {
            loss = loss.add(term);
        }
        if let Some(regularizer) = &mut self.g_regularizer {
            loss = loss.add(regularizer(&fake, batch)?);
        }
        let value = self
            .guard
            .check_loss_tensor(step, &loss)
            .map_err(|err| name_network(err, "generator"))?;
        let mut grads = loss.backward();
        let grads = GradientsParams::from_module(&mut grads, generator);
        let generator = self.generator.take().ok_or_else(poisoned)?;
        let generator = self.opt_g.step(self.config.lr_generator, generator, grads);
        if let Some(ema) = &mut self.ema {
            ema.update(&generator)?;
        }
        self.generator = Some(generator);
        Ok(value)
    }

    /// `w · CE(class_logits, y)` with `y` the generator's class labels, when both are
    /// present and `w > 0`.
    fn class_term(
        &self,
        class_logits: Option<Tensor<2>>,
        batch: &GanBatch<I, D>,
    ) -> Result<Option<Tensor<1>>> {
        let weight = self.config.auxiliary_class_weight;
        match (class_logits, &batch.generator_condition.class) {
            (Some(logits), Some(labels)) if weight > 0.0 => {
                Ok(Some(auxiliary_classifier_loss(logits, labels.clone())?.mul_scalar(weight)))
            }
            _ => Ok(None),
        }
    }

    /// Checks the coverage and diversity of generated samples, measured by the caller at the
    /// current step, with the monitor (see [`GanMonitor::observe_samples`]).
    ///
    /// # Errors
    /// Those of [`GanMonitor::observe_samples`].
    pub fn observe_samples(
        &mut self,
        coverage: f64,
        diversity: f64,
    ) -> Result<(SampleQuality, Vec<MonitorEvent>)> {
        let quality = SampleQuality { step: self.step, coverage, diversity };
        Ok((quality, self.monitor.observe_samples(quality)?))
    }

    fn checkpoint_due(&self) -> bool {
        CheckpointDir::is_due(
            self.checkpoints.as_ref(),
            self.step,
            self.config.checkpoint_every,
            self.is_finished(),
        )
    }

    /// The complete run state at the current step: both networks (`generator`,
    /// `discriminator`, and `generator_ema` with an EMA), both optimiser states, the step,
    /// the RNG state, the configuration, the curves and the monitor.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let metadata = GanMetadata {
            history: self.history.clone(),
            monitor: self.monitor.clone(),
            ema: self.ema.as_ref().map(ModelEma::state),
        };
        let mut checkpoint = Checkpoint::new(self.step, &self.rng, &self.run_config)?
            .with_module(GENERATOR, self.generator.as_ref().ok_or_else(poisoned)?)?
            .with_module(DISCRIMINATOR, self.discriminator.as_ref().ok_or_else(poisoned)?)?
            .with_optimizer(GENERATOR, &self.opt_g)?
            .with_optimizer(DISCRIMINATOR, &self.opt_d)?
            .with_metadata(&metadata)?;
        if let Some(ema) = &self.ema {
            checkpoint = checkpoint.with_module(EMA, ema.model())?;
        }
        Ok(checkpoint)
    }

    /// Saves [`GanTrainer::checkpoint`] into the checkpoint directory and returns its path;
    /// fails if no directory was set.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let checkpoint = self.checkpoint()?;
        Ok(CheckpointDir::save_reported(
            self.checkpoints.as_ref(),
            &checkpoint,
            self.progress.as_mut(),
        )?)
    }

    /// The generator being trained (on the autodiff device).
    pub fn generator(&self) -> &G {
        self.generator.as_ref().expect("the generator is only taken out during an update")
    }

    /// The discriminator being trained (on the autodiff device).
    pub fn discriminator(&self) -> &Dn {
        self.discriminator.as_ref().expect("the discriminator is only taken out during an update")
    }

    /// The generator to sample from: the EMA copy if the run keeps one, else the trained
    /// generator, off autodiff and in evaluation mode.
    pub fn inference_generator(&self) -> G {
        self.ema.as_ref().map(|ema| ema.model().clone()).unwrap_or_else(|| self.generator().valid())
    }

    /// The number of completed steps.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Whether every step of the run is done.
    pub fn is_finished(&self) -> bool {
        self.step >= self.config.total_steps
    }

    /// The curves of every completed step.
    pub fn history(&self) -> &GanHistory {
        &self.history
    }

    /// The monitor (thresholds and windows).
    pub fn monitor(&self) -> &GanMonitor {
        &self.monitor
    }

    /// The run's random generator (e.g. to draw samples after training).
    pub fn rng_mut(&mut self) -> &mut SeededRng {
        &mut self.rng
    }

    /// The configuration.
    pub fn config(&self) -> &GanTrainerConfig {
        &self.config
    }
}

/// `D(x | c)` with its logits checked to be `[n, P]`.
fn checked_output<Dn: Discriminator<D>, const I: usize, const D: usize>(
    discriminator: &Dn,
    x: Tensor<D>,
    batch: &GanBatch<I, D>,
    n: usize,
) -> Result<DiscriminatorOutput> {
    let out = discriminator.discriminate(x, &batch.discriminator_condition)?;
    let dims = out.logits.dims();
    if dims[0] != n || dims[1] == 0 {
        return Err(CoreError::shape("discriminator logits", format!("[{n}, P ≥ 1]"), &dims).into());
    }
    Ok(out)
}

/// Prefixes the quantity of a [`CoreError::Diverged`] with the network it belongs to.
fn name_network(err: CoreError, network: &str) -> GanError {
    match err {
        CoreError::Diverged { step, what } => {
            CoreError::Diverged { step, what: format!("{network} {what}") }.into()
        }
        other => other.into(),
    }
}

/// `{"gan": config, "run": run_config}` as stored in checkpoints.
fn stored_config<C: Serialize + ?Sized>(
    config: &GanTrainerConfig,
    run_config: &C,
) -> Result<Value> {
    let encode = |what: &str, err: serde_json::Error| {
        CoreError::config(what, format!("does not serialise to JSON: {err}"))
    };
    Ok(serde_json::json!({
        "gan": serde_json::to_value(config).map_err(|e| encode("gan trainer config", e))?,
        "run": serde_json::to_value(run_config).map_err(|e| encode("run_config", e))?,
    }))
}

fn poisoned() -> CoreError {
    CoreError::config("gan trainer", "a network was lost by an earlier panic during an update")
}

/// Fails unless the first float parameter of `module` lives on an autodiff device.
fn ensure_autodiff<M: Module>(module: &M, what: &str) -> Result<()> {
    match module.devices().first() {
        Some(device) if !device.is_autodiff() => Err(CoreError::config(
            what,
            "must live on an autodiff device (Device::autodiff()) to be trained",
        )
        .into()),
        _ => Ok(()),
    }
}

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
//!     θ_D ← Adam(θ_D, clip(∇_θD L_D), lr_D(k))
//! x̂ = G(z | c_G)                      (the last batch again, now differentiable)
//! L_G = loss.G(D(x̂ | c_D)) [+ w·CE(class logits of x̂, y)] [+ S(x̂, batch)]
//! stop with Diverged{k} unless L_G is finite
//! θ_G ← Adam(θ_G, clip(∇_θG L_G), lr_G(k));  θ̄_G ← EMA(θ̄_G, θ_G)
//! monitor(L_D, L_G, accuracies); every `checkpoint_every` steps: checkpoint
//! ```
//!
//! `R` is an optional discriminator regulariser (a gradient penalty, R1, consistency term)
//! and `S` an optional generator term (pix2pix's `λ·‖x̂ − x‖₁`).
//!
//! The run state (step, RNG, divergence guard, checkpoints, progress) is medgen-train's
//! [`RunState`] and each network is a [`ModelUpdater`] (schedule, clipping, EMA), the same
//! pieces as [`medgen_train::Trainer`]'s; this module adds only the adversarial losses, the
//! alternation and the monitor.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Tensor;
use medgen_core::check::ensure_shape;
use medgen_core::{CoreError, SeededRng};
use medgen_train::{
    Checkpoint, CheckpointSections, EmaState, ModelUpdater, RunState, TrainingProgress, UpdateStats,
};
use serde::{Deserialize, Serialize};

use super::batch::GanBatch;
use super::config::GanTrainerConfig;
use super::objective::AdversarialLoss;
use super::report::{GanHistory, GanStepReport};
use crate::error::{GanError, Result};
use crate::loss::auxiliary_classifier_loss;
use crate::monitor::{GanMonitor, MonitorEvent, SampleQuality, StepStats, logit_accuracy};
use crate::network::{Discriminator, DiscriminatorOutput, Generator};

/// Checkpoint sections of the two networks.
const GENERATOR: CheckpointSections =
    CheckpointSections { module: "generator", optimizer: "generator", ema: "generator_ema" };
const DISCRIMINATOR: CheckpointSections = CheckpointSections {
    module: "discriminator",
    optimizer: "discriminator",
    ema: "discriminator_ema",
};

/// The key of the GAN configuration in a checkpoint's stored configuration.
const KIND: &str = "gan";

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
    /// The learning rate, global gradient norm (with clipping) and loss of the update.
    pub update: UpdateStats,
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
    run: RunState,
    generator: ModelUpdater<G>,
    discriminator: ModelUpdater<Dn>,
    loss: Box<dyn AdversarialLoss>,
    d_regularizer: Option<DiscriminatorRegularizer<Dn, I, D>>,
    g_regularizer: Option<GeneratorRegularizer<I, D>>,
    history: GanHistory,
    monitor: GanMonitor,
}

impl<G, Dn, const I: usize, const D: usize> std::fmt::Debug for GanTrainer<G, Dn, I, D>
where
    G: Module + Generator<I, D>,
    Dn: Module + Discriminator<D>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GanTrainer")
            .field("config", &self.config)
            .field("step", &self.run.step())
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
        Ok(Self {
            config: config.clone(),
            run: RunState::new(config.run_schedule(), rng, KIND, config, run_config)?,
            generator: ModelUpdater::new(
                &config.generator_update(),
                generator,
                config.optimizer(),
                GENERATOR,
            )?,
            discriminator: ModelUpdater::new(
                &config.discriminator_update(),
                discriminator,
                config.optimizer(),
                DISCRIMINATOR,
            )?,
            loss: Box::new(loss),
            d_regularizer: None,
            g_regularizer: None,
            history: GanHistory::default(),
            monitor: GanMonitor::new(config.monitor.clone())?,
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
        config.validate()?;
        let run = RunState::resume(config.run_schedule(), checkpoint, KIND, config, run_config)?;
        let mut metadata: GanMetadata = checkpoint.metadata_as()?;
        let generator = ModelUpdater::resume(
            &config.generator_update(),
            generator,
            config.optimizer(),
            GENERATOR,
            checkpoint,
            metadata.ema.take(),
        )?;
        let discriminator = ModelUpdater::resume(
            &config.discriminator_update(),
            discriminator,
            config.optimizer(),
            DISCRIMINATOR,
            checkpoint,
            None,
        )?;
        let mut history = metadata.history;
        history.truncate_from(run.step() + 1);
        Ok(Self {
            config: config.clone(),
            run,
            generator,
            discriminator,
            loss: Box::new(loss),
            d_regularizer: None,
            g_regularizer: None,
            history,
            monitor: metadata.monitor,
        })
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
        self.run.set_checkpoint_dir(dir)?;
        Ok(self)
    }

    /// Reports each step's generator loss to `progress` (the monitor's warnings are in the
    /// step reports).
    pub fn with_progress(mut self, progress: TrainingProgress) -> Self {
        self.run.set_progress(progress);
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
        self.run.ensure_running()?;
        let step = self.run.step();
        let mut last = None;
        for _ in 0..self.config.n_critic {
            let batch = data(step, self.run.rng_mut())?;
            let stats = self.discriminator_step(&batch)?;
            last = Some((batch, stats));
        }
        let (batch, d_stats) = last.ok_or_else(|| CoreError::config("n_critic", "is 0"))?;
        let g_update = self.generator_update(&batch)?;
        let g_loss = g_update.loss;
        self.run.advance(g_loss);
        let stats = StepStats {
            step: self.run.step(),
            d_loss: d_stats.loss,
            g_loss,
            real_accuracy: d_stats.real_accuracy,
            fake_accuracy: d_stats.fake_accuracy,
        };
        self.history.push(&stats);
        let events = self.monitor.observe_step(stats);
        let checkpoint =
            if self.run.checkpoint_due() { Some(self.save_checkpoint()?) } else { None };
        Ok(GanStepReport {
            stats,
            events,
            checkpoint,
            generator: g_update,
            discriminator: d_stats.update,
        })
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
        self.run.finish();
        Ok(())
    }

    /// One discriminator update on `batch` (the generator is not changed). Public so that
    /// custom schedules (or a test that trains only `D`) can drive it directly.
    ///
    /// # Errors
    /// As [`GanTrainer::step`].
    pub fn discriminator_step(&mut self, batch: &GanBatch<I, D>) -> Result<DiscriminatorStats> {
        let n = batch.batch_size()?;
        let step = self.run.step();
        let fake = self
            .generator
            .model()
            .generate(batch.input.clone(), &batch.generator_condition)?
            .detach();
        ensure_shape(&fake.dims(), &batch.real.dims(), "generator output")?;
        let discriminator = self.discriminator.model();
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
        let guard = self.run.guard_mut();
        let checked = guard
            .check_loss(step, values[0])
            .and_then(|value| self.discriminator.update_with_value(step, loss, value, guard));
        let update = checked.map_err(|err| name_network(err, "discriminator"))?;
        Ok(DiscriminatorStats {
            loss: update.loss,
            real_accuracy: values[1],
            fake_accuracy: values[2],
            update,
        })
    }

    /// One generator update on `batch` (the discriminator is not changed), followed by the
    /// EMA update; returns `L_G`.
    ///
    /// # Errors
    /// As [`GanTrainer::step`].
    pub fn generator_step(&mut self, batch: &GanBatch<I, D>) -> Result<f32> {
        Ok(self.generator_update(batch)?.loss)
    }

    /// [`GanTrainer::generator_step`] with the learning rate and gradient norm of the update.
    fn generator_update(&mut self, batch: &GanBatch<I, D>) -> Result<UpdateStats> {
        let n = batch.batch_size()?;
        let step = self.run.step();
        let fake =
            self.generator.model().generate(batch.input.clone(), &batch.generator_condition)?;
        ensure_shape(&fake.dims(), &batch.real.dims(), "generator output")?;
        let out = checked_output(self.discriminator.model(), fake.clone(), batch, n)?;
        let mut loss = self.loss.generator_loss(out.logits)?;
        if let Some(term) = self.class_term(out.class_logits, batch)? {
            loss = loss.add(term);
        }
        if let Some(regularizer) = &mut self.g_regularizer {
            loss = loss.add(regularizer(&fake, batch)?);
        }
        self.generator
            .update(step, loss, self.run.guard_mut())
            .map_err(|err| name_network(err, "generator"))
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
        let quality = SampleQuality { step: self.run.step(), coverage, diversity };
        Ok((quality, self.monitor.observe_samples(quality)?))
    }

    /// The complete run state at the current step: both networks (`generator`,
    /// `discriminator`, and `generator_ema` with an EMA), both optimiser states, the step,
    /// the RNG state, the configuration, the curves and the monitor.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let metadata = GanMetadata {
            history: self.history.clone(),
            monitor: self.monitor.clone(),
            ema: self.generator.ema_state(),
        };
        let checkpoint = self.generator.write_to(self.run.start_checkpoint()?)?;
        Ok(self.discriminator.write_to(checkpoint)?.with_metadata(&metadata)?)
    }

    /// Saves [`GanTrainer::checkpoint`] into the checkpoint directory and returns its path;
    /// fails if no directory was set.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let checkpoint = self.checkpoint()?;
        Ok(self.run.save(&checkpoint)?)
    }

    /// The generator being trained (on the autodiff device).
    pub fn generator(&self) -> &G {
        self.generator.model()
    }

    /// The discriminator being trained (on the autodiff device).
    pub fn discriminator(&self) -> &Dn {
        self.discriminator.model()
    }

    /// The generator to sample from: the EMA copy if the run keeps one, else the trained
    /// generator, off autodiff and in evaluation mode.
    pub fn inference_generator(&self) -> G {
        self.generator.inference_model()
    }

    /// The number of completed steps.
    pub fn current_step(&self) -> usize {
        self.run.step()
    }

    /// Whether every step of the run is done.
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
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
        self.run.rng_mut()
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

//! Adversarial training: the alternating two-optimiser loop ([`GanTrainer`]) with `n_critic`,
//! two learning rates, an EMA of the generator, optional regularisers, monitoring
//! ([`crate::monitor`]), a NaN/Inf guard naming the step, and checkpoints of both networks,
//! both optimisers and the RNG state that resume exactly.
//!
//! ```no_run
//! # use medgen_gan::train::{GanBatch, GanTrainer, GanTrainerConfig};
//! # use medgen_gan::{GanLoss, Generator, Discriminator, Result};
//! # use medgen_core::seeded_rng;
//! # use burn::module::Module;
//! # use burn::tensor::{Distribution, Tensor};
//! # fn demo<G, D>(g: G, d: D, real: Tensor<4>) -> Result<()>
//! # where G: Module + Generator<2, 4>, D: Module + Discriminator<4> {
//! let config = GanTrainerConfig::new(1000).with_n_critic(1);
//! let mut trainer = GanTrainer::new(&config, g, d, GanLoss::NonSaturating, seeded_rng(0), &"run")?;
//! trainer.fit(
//!     |_step, _rng| {
//!         let z = Tensor::<2>::random([16, 64], Distribution::Normal(0.0, 1.0), &real.device());
//!         Ok(GanBatch::new(real.clone(), z))
//!     },
//!     |_trainer, report| {
//!         report.events.iter().for_each(|e| eprintln!("{e}"));
//!         Ok(())
//!     },
//! )?;
//! # Ok(()) }
//! ```

mod batch;
mod config;
mod objective;
mod report;
mod trainer;

#[cfg(test)]
mod trainer_tests;

pub use batch::GanBatch;
pub use config::GanTrainerConfig;
pub use objective::AdversarialLoss;
pub use report::{GanHistory, GanStepReport};
pub use trainer::{DiscriminatorRegularizer, DiscriminatorStats, GanTrainer, GeneratorRegularizer};

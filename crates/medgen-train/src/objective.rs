//! A training objective over data batches, and the two ways of running it with a
//! [`Trainer`]: one step on a given batch, or a whole run drawing its batches.
//!
//! Diffusion's denoising loss and flow matching's conditional flow-matching loss both train a
//! [`TimeConditionedNetwork`] from a batch `x` and a condition `c`; they implement
//! [`TrainingObjective::training_loss`] and inherit `train_step` and `fit`.

use burn::module::Module;
use burn::tensor::Tensor;

use super::trainer::{StepReport, Trainer};
use medgen_core::condition::Condition;
use medgen_core::error::CoreError;
use medgen_core::network::TimeConditionedNetwork;
use medgen_core::rng::SeededRng;

/// A scalar loss `L(θ; x, c)` of a time-conditioned network on a data batch `x` of rank `D`
/// (e.g. `E_t‖ε_θ(x_t, t, c) − ε‖²` or `½‖v_θ(x_t, t, c) − u_t‖²`), with its random draws
/// (times, noise, couplings) taken from the caller's generator.
pub trait TrainingObjective<const D: usize> {
    /// The objective's error type; core errors (from the trainer) convert into it.
    type Error: From<CoreError>;

    /// The loss `[1]` of `network` on the batch `x` with `condition`.
    fn training_loss<N>(
        &self,
        network: &N,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<1>, Self::Error>
    where
        N: TimeConditionedNetwork<D>;

    /// One [`Trainer`] step (loss → backward → clip → optimiser → guard → EMA → checkpoint →
    /// progress) on the batch `x` with `condition`; the random draws come from the trainer's
    /// generator.
    fn train_step<M>(
        &self,
        trainer: &mut Trainer<M>,
        x: &Tensor<D>,
        condition: &Condition<D>,
    ) -> Result<StepReport, Self::Error>
    where
        M: Module + TimeConditionedNetwork<D>,
    {
        trainer.step(|model: &M, _step, rng: &mut SeededRng| {
            self.training_loss(model, x.clone(), condition, rng)
        })
    }

    /// Runs `trainer` to its last step, taking each step's batch and condition from
    /// `batch(step, &mut rng)` (0-based step; draw from `rng` or index by `step`, so that a
    /// resumed run sees the same data as an uninterrupted one).
    fn fit<M, B>(&self, trainer: &mut Trainer<M>, mut batch: B) -> Result<(), Self::Error>
    where
        M: Module + TimeConditionedNetwork<D>,
        B: FnMut(usize, &mut SeededRng) -> Result<(Tensor<D>, Condition<D>), Self::Error>,
    {
        trainer.fit(|model: &M, step, rng: &mut SeededRng| {
            let (x, condition) = batch(step, rng)?;
            self.training_loss(model, x, &condition, rng)
        })
    }
}

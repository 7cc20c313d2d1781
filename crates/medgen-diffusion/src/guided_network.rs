//! A network bound to one sampling run's condition and classifier-free guidance, evaluated at a
//! scalar time: what every sampler ([`crate::sampling::sample`], the probability-flow ODE, the
//! score SDEs, RePaint) calls once per network evaluation.

use burn::tensor::Tensor;
use medgen_core::{ClassifierFreeGuidance, Condition, GuidanceConfig, TimeConditionedNetwork};

use crate::error::Result;
use crate::scheduler::ensure_same_shape;

/// `f_θ(x, t, c)` with guidance (medgen-core's [`ClassifierFreeGuidance`]: both branches in
/// one call on a doubled batch), for samples of `batch` items; counts its evaluations (a
/// guided evaluation counts once).
pub(crate) struct GuidedNetwork<'a, N: ?Sized, const D: usize> {
    guided: ClassifierFreeGuidance<'a, N>,
    condition: &'a Condition<D>,
    batch: usize,
    evaluations: usize,
}

impl<'a, N, const D: usize> GuidedNetwork<'a, N, D>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    /// Binds `network` to `condition` and `guidance` for samples shaped like `sample`.
    ///
    /// Errors: an `Empty` error for an empty sample, a shape error when the condition's batch
    /// differs from the sample's, and the errors of [`GuidanceConfig::validate`].
    pub(crate) fn new(
        network: &'a N,
        condition: &'a Condition<D>,
        guidance: &GuidanceConfig,
        sample: &Tensor<D>,
    ) -> Result<Self> {
        let dims = sample.dims();
        medgen_core::check::ensure_non_empty(&dims, "sample")?;
        let batch = dims[0];
        condition.ensure_batch_size(batch)?;
        guidance.validate(condition)?;
        Ok(Self {
            guided: ClassifierFreeGuidance::new(network, guidance.clone())?,
            condition,
            batch,
            evaluations: 0,
        })
    }

    /// Evaluates the (guided) network at `x` and the network time `time` (the same for every
    /// item; uploaded as a `[N]` tensor, no host read); fails with
    /// [`DiffusionError::ModelOutputShape`](crate::DiffusionError::ModelOutputShape) unless the
    /// output has `x`'s shape.
    pub(crate) fn evaluate(&mut self, x: Tensor<D>, time: f64) -> Result<Tensor<D>> {
        self.evaluations += 1;
        let t = Tensor::<1>::full([self.batch], time as f32, &x.device());
        let output = self.guided.evaluate(x.clone(), t, self.condition)?;
        ensure_same_shape(&output, &x)?;
        Ok(output)
    }

    /// The number of evaluations so far.
    pub(crate) fn evaluations(&self) -> usize {
        self.evaluations
    }
}

//! Reconstruction ensembles and their pixelwise variance.

use burn::tensor::Tensor;
use medgen_core::TimeConditionedNetwork;
use rand::Rng;

use crate::error::{ReconError, Result};
use crate::operator::MeasurementOperator;
use crate::sampler::Reconstruct;

/// The summary of `K` reconstructions of each measurement.
#[derive(Clone, Debug)]
pub struct EnsembleOutput<const D: usize> {
    /// The pixelwise mean `μ = (1/K) Σ_k x_k`, `[N, C, *S]`.
    pub mean: Tensor<D>,
    /// The pixelwise (population) variance `(1/K) Σ_k (x_k − μ)²`, `[N, C, *S]`: where the
    /// measurement leaves the image uncertain.
    pub variance: Tensor<D>,
    /// Every member, `[K · N, C, *S]` (member `k` of item `n` at `k N + n`).
    pub members: Tensor<D>,
    /// Network evaluations of the whole run.
    pub nfe: usize,
}

/// Reconstructs each measurement of `y` (`[N, …]`) `members ≥ 1` times in one batched run
/// (the measurement repeated `K` times along the batch) and summarises the members.
///
/// # Errors
/// `InvalidConfig` naming `members` when it is zero, and the sampler's errors.
pub fn reconstruct_ensemble<const D: usize>(
    sampler: &dyn Reconstruct<D>,
    members: usize,
    network: &dyn TimeConditionedNetwork<D>,
    operator: &dyn MeasurementOperator<D>,
    y: Tensor<D>,
    rng: &mut dyn Rng,
) -> Result<EnsembleOutput<D>> {
    if members == 0 {
        return Err(ReconError::config("members", "must be at least 1"));
    }
    let batch = y.dims()[0];
    let repeated = y.repeat_dim(0, members);
    let output = sampler.reconstruct(network, operator, repeated, rng)?;
    let (mean, variance) = member_statistics(output.image.clone(), members, batch);
    Ok(EnsembleOutput { mean, variance, members: output.image, nfe: output.nfe })
}

/// Pixelwise mean and variance over `members` blocks of `batch` items stacked along the batch.
fn member_statistics<const D: usize>(
    stacked: Tensor<D>,
    members: usize,
    batch: usize,
) -> (Tensor<D>, Tensor<D>) {
    let mut item = stacked.dims();
    item[0] = batch;
    let flat = stacked.reshape([members as i32, -1]);
    let mean = flat.clone().mean_dim(0);
    let variance = flat.sub(mean.clone()).powi_scalar(2).mean_dim(0);
    (mean.reshape(item), variance.reshape(item))
}

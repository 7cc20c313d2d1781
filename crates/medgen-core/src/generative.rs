//! Capabilities shared by the generative families, as small traits.
//!
//! Examples, metrics and anomaly detection are written against these, so they take any model
//! that has the capability: a diffusion model, a flow, a VAE or a GAN generator.

use burn::tensor::{Device, Tensor};

use crate::condition::Condition;
use crate::error::CoreError;
use crate::rng::SeededRng;

/// What [`Sample::sample`] returns: the samples and what they cost.
#[derive(Clone, Debug)]
pub struct Samples<const D: usize> {
    /// The samples `[n, C, ...]`.
    pub samples: Tensor<D>,
    /// The number of network evaluations (NFE) spent on the batch: solver or scheduler steps
    /// for diffusion and flow matching (a guided step counts once), one for a GAN generator,
    /// a VAE decoder or a normalizing flow's inverse pass.
    pub nfe: usize,
}

/// Draws `n` samples `x ~ p_θ(x | c)` of rank `D`: the one sampling verb of every family
/// (diffusion pipelines, flow matching, normalizing and continuous flows, GAN generators,
/// VAEs).
pub trait Sample<const D: usize> {
    /// The family's error type; core errors convert into it.
    type Error: From<CoreError>;

    /// Draws `n` samples on `device` from the seeded `rng`; the same seed gives the same
    /// samples on the same backend.
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<D>, Self::Error>;
}

/// How a [`LogDensity`] value relates to the true `log p_θ(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DensityKind {
    /// Exactly `log p_θ(x)` (normalizing flows; continuous flows up to solver tolerance).
    Exact,
    /// A lower bound (the ELBO of a VAE or the variational bound of a diffusion model).
    LowerBound,
    /// An unbiased stochastic estimate (e.g. Hutchinson's trace estimator in a CNF).
    Estimate,
}

/// Per-item log-densities in nats, `[N]`, with what kind of value they are.
#[derive(Clone, Debug)]
pub struct LogDensityValue {
    /// `log p_θ(x_i)` (or its bound/estimate) for each item, in nats.
    pub nats: Tensor<1>,
    /// Whether the value is exact, a bound or an estimate.
    pub kind: DensityKind,
}

impl LogDensityValue {
    /// Converts to bits per dimension: `bpd = −log p(x) / (d · ln 2)` for `d` dimensions.
    pub fn bits_per_dim(&self, dims: usize) -> Tensor<1> {
        self.nats.clone().neg().div_scalar(dims as f64 * std::f64::consts::LN_2)
    }
}

/// Evaluates `log p_θ(x | c)` (or a bound on it) for a batch.
pub trait LogDensity<const D: usize> {
    /// The family's error type; core errors convert into it.
    type Error: From<CoreError>;

    /// The log-density of each item of `x`.
    fn log_density(
        &self,
        x: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<LogDensityValue, Self::Error>;
}

/// An encoder/decoder pair `z = E(x)`, `x̂ = D(z)` with data rank `D` and latent rank `L`.
pub trait Autoencoder<const D: usize, const L: usize> {
    /// The family's error type; core errors convert into it.
    type Error: From<CoreError>;

    /// Maps data to latents (the posterior mean for a VAE).
    fn encode(&self, x: Tensor<D>) -> Result<Tensor<L>, Self::Error>;
    /// Maps latents back to data.
    fn decode(&self, z: Tensor<L>) -> Result<Tensor<D>, Self::Error>;
}

//! How the divergence `∇·f = tr(∂f/∂x)` of a vector field is computed, and the probe vectors
//! the estimators use.

use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, CoreError, SeededRng, TimeConditionedNetwork};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The distribution of Hutchinson's probe vectors `ε` (each with `E[ε εᵀ] = I`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeDistribution {
    /// Independent `±1` entries with probability ½ each: `Var[εᵀJε] = ½ Σ_{i≠j} (J_ij + J_ji)²`,
    /// so the diagonal of `J` adds no variance (lower than Gaussian probes, which add
    /// `2 Σ_i J_ii²`).
    #[default]
    Rademacher,
    /// Independent `N(0, 1)` entries.
    Gaussian,
}

/// How the divergence `∇·f(x) = tr J(x)`, `J = ∂f/∂x`, is computed per batch item.
///
/// - [`Exact`](Self::Exact): `Σ_{i=1}^{M} e_iᵀ J e_i` with the `M` unit vectors of one item
///   (`M` = number of elements per item); `M` Jacobian–vector products, so for low dimension.
/// - [`Hutchinson`](Self::Hutchinson): `(1/K) Σ_{k=1}^{K} ε_kᵀ J ε_k` with `K = probes`
///   random vectors, an unbiased estimate since `E[εᵀJε] = tr(J E[εεᵀ]) = tr J`.
///
/// In a continuous flow the probes are drawn once per integration and held fixed along the
/// trajectory (as in FFJORD), which keeps the ODE deterministic for adaptive solvers and the
/// estimate of `∫ ∇·f dt` unbiased.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum DivergenceMethod {
    /// The exact trace, one product with each unit vector.
    #[default]
    Exact,
    /// Hutchinson's stochastic trace estimator.
    Hutchinson {
        /// The number of probe vectors `K >= 1` per item.
        probes: usize,
        /// Their distribution.
        distribution: ProbeDistribution,
    },
}

impl burn::config::Config for DivergenceMethod {}

impl DivergenceMethod {
    /// Hutchinson's estimator with `probes` Rademacher probes.
    pub fn hutchinson(probes: usize) -> Self {
        Self::Hutchinson { probes, distribution: ProbeDistribution::Rademacher }
    }

    /// Fails with [`CoreError::InvalidConfig`] for zero probes.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Hutchinson { probes: 0, .. } => Err(CoreError::config(
                "probes",
                "Hutchinson's estimator needs at least one probe vector",
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// Whether the divergence is exact (up to round-off) rather than an estimate.
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact)
    }

    /// Draws the probe vectors for a state of shape `shape` (`[N, ...]`): nothing for
    /// [`Exact`](Self::Exact), `K` tensors of `shape` from `rng` for Hutchinson.
    pub fn draw_probes<const D: usize>(
        &self,
        shape: [usize; D],
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Probes<D>> {
        self.validate()?;
        match *self {
            Self::Exact => Ok(Probes::Basis),
            Self::Hutchinson { probes, distribution } => (0..probes)
                .map(|_| draw_probe(shape, distribution, rng, device))
                .collect::<Result<Vec<_>>>()
                .map(Probes::Sampled),
        }
    }
}

/// One probe tensor of `shape` with entries from `distribution`, drawn on the host from `rng`.
pub fn draw_probe<const D: usize>(
    shape: [usize; D],
    distribution: ProbeDistribution,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<Tensor<D>> {
    match distribution {
        ProbeDistribution::Gaussian => Ok(gaussian_noise(shape, rng, device)?),
        ProbeDistribution::Rademacher => {
            medgen_core::check::ensure_non_empty(&shape, "probe shape")?;
            let count = shape.iter().product::<usize>();
            let values: Vec<f32> =
                (0..count).map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 }).collect();
            Ok(Tensor::from_data(TensorData::new(values, shape), device))
        }
    }
}

/// The vectors a divergence is computed with (see [`DivergenceMethod`]).
#[derive(Clone, Debug)]
pub enum Probes<const D: usize> {
    /// The unit vectors `e_1, …, e_M` of each item (exact trace).
    Basis,
    /// `K` probe tensors of the state's shape `[N, ...]` (Hutchinson; averaged).
    Sampled(Vec<Tensor<D>>),
}

impl<const D: usize> Probes<D> {
    /// Checks that sampled probes have the state's shape `shape`.
    pub fn check_shape(&self, shape: [usize; D]) -> Result<()> {
        match self {
            Self::Basis => Ok(()),
            Self::Sampled(probes) if probes.is_empty() => {
                Err(CoreError::config("probes", "at least one probe tensor is needed").into())
            }
            Self::Sampled(probes) => probes.iter().try_for_each(|p| {
                medgen_core::check::ensure_shape(&p.dims(), &shape, "probe vector")
                    .map_err(Into::into)
            }),
        }
    }

    /// Whether the divergence computed with these probes is exact.
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Basis)
    }
}

/// A velocity `f(x, t)` (`[N, ...]`, the shape of `x`) and its divergence per item (`[N]`).
#[derive(Clone, Debug)]
pub struct VelocityDivergence<const D: usize> {
    /// `f(x, t)`.
    pub velocity: Tensor<D>,
    /// `∇·f(x, t)` (exact or estimated, see [`Probes`]), one value per item.
    pub divergence: Tensor<1>,
}

/// A time-conditioned vector field that can also return its divergence, as continuous
/// flows need: `(x, t) ↦ (f(x, t), ∇·f(x, t))`.
///
/// [`MlpVectorField`](super::MlpVectorField) implements it with forward-mode tangents
/// (differentiable by first-order autodiff, so usable for maximum-likelihood training);
/// [`VjpField`](super::VjpField) wraps any [`TimeConditionedNetwork`] and uses one
/// vector–Jacobian product per probe (for likelihood evaluation).
pub trait DivergenceField<const D: usize>: TimeConditionedNetwork<D> {
    /// Evaluates `f(x, t, c)` and `Σ_k v_kᵀ J v_k` (scaled by `1/K` for sampled probes) with
    /// `J = ∂f/∂x` taken per item, for `x: [N, ...]`, `t: [N]`.
    fn velocity_divergence(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
        probes: &Probes<D>,
    ) -> Result<VelocityDivergence<D>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn zero_probes_are_rejected_and_probes_have_unit_second_moment() {
        let device = test_device();
        let mut rng = seeded_rng(0);
        let zero = DivergenceMethod::hutchinson(0);
        assert!(matches!(
            zero.draw_probes([2, 3], &mut rng, &device),
            Err(crate::FlowError::Core(CoreError::InvalidConfig { .. }))
        ));
        for distribution in [ProbeDistribution::Rademacher, ProbeDistribution::Gaussian] {
            let p = draw_probe([4000, 2], distribution, &mut rng, &device).unwrap();
            let v = p.try_into_vec_as::<f32>().unwrap();
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            let second = v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
            assert!(mean.abs() < 0.05, "{distribution:?} mean {mean}");
            assert!((second - 1.0).abs() < 0.06, "{distribution:?} E[ε²] {second}");
            if distribution == ProbeDistribution::Rademacher {
                assert!(v.iter().all(|x| x.abs() == 1.0));
            }
        }
    }
}

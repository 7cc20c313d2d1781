//! Couplings of a source batch (noise) with a target batch (data): independent, exact
//! minibatch optimal transport, and entropic (Sinkhorn) optimal transport.

use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::assignment::linear_sum_assignment;
use super::cost::CostMatrix;
use super::sinkhorn::SinkhornConfig;
use crate::error::Result;

/// How the items of a source batch `x₀` (`[N, …]`) are paired with those of a target batch
/// `x₁` (`[N, …]`) before the conditional path is sampled (torchcfm's `OTPlanSampler`).
///
/// - [`Independent`](Self::Independent): `(x₀ᵢ, x₁ᵢ)` as given, i.e. `q(x₀) q(x₁)` (I-CFM).
/// - [`ExactOptimalTransport`](Self::ExactOptimalTransport): the permutation `π` minimising
///   `Σᵢ ‖x₀ᵢ − x₁_{π(i)}‖²`, found by an exact assignment solver
///   ([`linear_sum_assignment`]); with uniform marginals of equal size the exact OT plan
///   (POT's `emd`) is this permutation scaled by `1/N`, so the pairs are `(x₀ᵢ, x₁_{π(i)})`
///   (OT-CFM).
/// - [`Sinkhorn`](Self::Sinkhorn): `N` pairs drawn with replacement from the entropic plan
///   ([`SinkhornConfig`]) with probability `π_ij / Σπ` (SB-CFM uses `ε = 2σ²`).
///
/// The OT couplings read both batches back to the host (`O(N²)` costs in `f64`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Coupling {
    /// The independent coupling.
    #[default]
    Independent,
    /// Exact minibatch optimal transport for the squared Euclidean cost.
    ExactOptimalTransport,
    /// Entropic minibatch optimal transport for the squared Euclidean cost.
    Sinkhorn(SinkhornConfig),
}

impl burn::config::Config for Coupling {}

/// The pairs chosen by a [`Coupling`]: pair `k` is `(x₀[source[k]], x₁[target[k]])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoupledIndices {
    /// Source indices, one per pair.
    pub source: Vec<usize>,
    /// Target indices, one per pair.
    pub target: Vec<usize>,
}

impl CoupledIndices {
    /// The source indices as an `Int` tensor `[K]` on `device` (for `Tensor::select`).
    pub fn source_tensor(&self, device: &burn::tensor::Device) -> Tensor<1, Int> {
        index_tensor(&self.source, device)
    }

    /// The target indices as an `Int` tensor `[K]` on `device` (also for the condition, which
    /// travels with the data `x₁`).
    pub fn target_tensor(&self, device: &burn::tensor::Device) -> Tensor<1, Int> {
        index_tensor(&self.target, device)
    }

    /// Whether every pair is `(i, i)` in order (nothing to reorder).
    pub fn is_identity(&self) -> bool {
        self.source.iter().enumerate().all(|(k, &i)| i == k)
            && self.target.iter().enumerate().all(|(k, &j)| j == k)
    }
}

impl Coupling {
    /// Checks the Sinkhorn settings, if any.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Sinkhorn(config) => config.validate(),
            _ => Ok(()),
        }
    }

    /// The pairs of source items `x₀` and target items `x₁` (batches of one shape `[N, …]`),
    /// drawing from `rng` for the Sinkhorn coupling only.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`](medgen_core::CoreError::ShapeMismatch) for batches of different shapes, [`CoreError::Empty`](medgen_core::CoreError::Empty)
    /// for empty batches, [`CoreError::NonFinite`](medgen_core::CoreError::NonFinite) for NaN/Inf (OT couplings read the values),
    /// [`CoreError::InvalidConfig`](medgen_core::CoreError::InvalidConfig) for invalid Sinkhorn settings.
    pub fn pair_indices<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: &Tensor<D>,
        x1: &Tensor<D>,
        rng: &mut R,
    ) -> Result<CoupledIndices> {
        self.validate()?;
        let dims = x0.dims();
        medgen_core::check::ensure_non_empty(&dims, "source batch x0")?;
        medgen_core::check::ensure_shape(&x1.dims(), &dims, "target batch x1")?;
        let n = dims[0];
        match self {
            Self::Independent => {
                Ok(CoupledIndices { source: (0..n).collect(), target: (0..n).collect() })
            }
            Self::ExactOptimalTransport => {
                let cost = CostMatrix::squared_euclidean(x0, x1)?;
                Ok(CoupledIndices {
                    source: (0..n).collect(),
                    target: linear_sum_assignment(&cost)?,
                })
            }
            Self::Sinkhorn(config) => {
                let cost = CostMatrix::squared_euclidean(x0, x1)?;
                let (source, target) = config.plan(&cost)?.sample_pairs(n, rng);
                Ok(CoupledIndices { source, target })
            }
        }
    }

    /// Reorders `x₀` and `x₁` into coupled pairs (see [`Coupling::pair_indices`]) and returns
    /// them with the indices (use [`CoupledIndices::target_tensor`] to reorder a condition).
    pub fn couple<const D: usize, R: Rng + ?Sized>(
        &self,
        x0: Tensor<D>,
        x1: Tensor<D>,
        rng: &mut R,
    ) -> Result<(Tensor<D>, Tensor<D>, CoupledIndices)> {
        let indices = self.pair_indices(&x0, &x1, rng)?;
        if indices.is_identity() {
            return Ok((x0, x1, indices));
        }
        let device = x0.device();
        let x0 = x0.select(0, indices.source_tensor(&device));
        let x1 = x1.select(0, indices.target_tensor(&device));
        Ok((x0, x1, indices))
    }
}

fn index_tensor(indices: &[usize], device: &burn::tensor::Device) -> Tensor<1, Int> {
    let values: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [indices.len()]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::assignment::assignment_cost;
    use medgen_core::noise::gaussian_noise;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// `min_π Σᵢ ‖x₀ᵢ − x₁_{π(i)}‖²` over all permutations, by enumeration.
    fn brute_force(cost: &CostMatrix, prefix: &mut Vec<usize>, best: &mut f64) {
        let n = cost.rows();
        if prefix.len() == n {
            *best = best.min(assignment_cost(cost, prefix).unwrap());
            return;
        }
        for j in 0..n {
            if !prefix.contains(&j) {
                prefix.push(j);
                brute_force(cost, prefix, best);
                prefix.pop();
            }
        }
    }

    #[test]
    fn exact_coupling_cost_is_the_brute_force_minimum() {
        let device = test_device();
        let mut rng = seeded_rng(5);
        for n in [1, 2, 4, 6] {
            let x0 = gaussian_noise([n, 1, 2, 2], &mut rng, &device).unwrap();
            let x1 = gaussian_noise([n, 1, 2, 2], &mut rng, &device).unwrap().add_scalar(1.0);
            let cost = CostMatrix::squared_euclidean(&x0, &x1).unwrap();
            let (px0, px1, pairs) =
                Coupling::ExactOptimalTransport.couple(x0.clone(), x1, &mut rng).unwrap();
            let mut best = f64::INFINITY;
            brute_force(&cost, &mut Vec::new(), &mut best);
            let got = assignment_cost(&cost, &pairs.target).unwrap();
            assert!((got - best).abs() < 1e-9, "n={n}: {got} vs {best}");
            // The reordered batches carry exactly that cost.
            let paired: f32 = px1.sub(px0).square().sum().into_scalar();
            assert!((f64::from(paired) - best).abs() < 1e-3 * (1.0 + best));
        }
    }

    #[test]
    fn sinkhorn_with_small_epsilon_samples_the_exact_pairs() {
        let device = test_device();
        let mut rng = seeded_rng(9);
        let x0 = gaussian_noise([5, 3], &mut rng, &device).unwrap();
        let x1 = gaussian_noise([5, 3], &mut rng, &device).unwrap();
        let exact = Coupling::ExactOptimalTransport.pair_indices(&x0, &x1, &mut rng).unwrap();
        let sinkhorn = Coupling::Sinkhorn(SinkhornConfig::new(1e-3).with_max_iterations(20_000))
            .pair_indices(&x0, &x1, &mut rng)
            .unwrap();
        assert_eq!(sinkhorn.source.len(), 5);
        for (i, j) in sinkhorn.source.iter().zip(&sinkhorn.target) {
            assert_eq!(exact.target[*i], *j, "pair ({i}, {j}) is not optimal");
        }
    }

    #[test]
    fn independent_coupling_keeps_the_order_and_bad_input_fails() {
        let device = test_device();
        let mut rng = seeded_rng(0);
        let x = Tensor::<2>::zeros([3, 2], &device);
        let pairs = Coupling::Independent.pair_indices(&x, &x, &mut rng).unwrap();
        assert!(pairs.is_identity());
        let other = Tensor::<2>::zeros([4, 2], &device);
        for coupling in [Coupling::Independent, Coupling::ExactOptimalTransport] {
            assert!(coupling.pair_indices(&x, &other, &mut rng).is_err());
        }
        let nan = Tensor::<2>::from_floats([[f32::NAN, 0.0], [0.0, 0.0], [0.0, 0.0]], &device);
        assert!(Coupling::ExactOptimalTransport.pair_indices(&x, &nan, &mut rng).is_err());
        let bad = Coupling::Sinkhorn(SinkhornConfig::new(-1.0));
        assert!(bad.pair_indices(&x, &x, &mut rng).is_err());
    }
}

//! Statistics of an ensemble of sampled masks: mean, majority vote, variance and entropy.

use burn::prelude::*;
use medgen_core::CoreError;

use crate::error::Result;

/// Pixelwise statistics of `K` sampled binary masks `m_k` (each `[N, C, *spatial]`):
///
/// - `mean`: `p̄ = (1/K) Σ_k m_k`, the foreground frequency;
/// - `majority`: `1{p̄ > 1/2}` (ties, possible for even `K`, go to background);
/// - `variance`: `(1/K) Σ_k (m_k − p̄)²`, which for binary masks equals `p̄ (1 − p̄)`;
/// - `entropy`: the binary entropy of the mean in nats,
///   `H = −p̄ ln p̄ − (1 − p̄) ln(1 − p̄)` with `0 ln 0 = 0`, in `[0, ln 2]`.
#[derive(Clone, Debug)]
pub struct EnsembleStats<const D: usize> {
    /// The mean mask `p̄`.
    pub mean: Tensor<D>,
    /// The majority mask.
    pub majority: Tensor<D>,
    /// The pixelwise variance.
    pub variance: Tensor<D>,
    /// The pixelwise binary entropy (nats).
    pub entropy: Tensor<D>,
}

impl<const D: usize> EnsembleStats<D> {
    /// The statistics of `masks` (`K ≥ 1` tensors of one shape, values in `[0, 1]`; soft masks
    /// give the same formulas with `p̄` the mean probability). Stays on the masks' device.
    ///
    /// # Errors
    /// [`CoreError::Empty`] for no masks, [`CoreError::ShapeMismatch`] for masks of different
    /// shapes.
    pub fn from_masks(masks: &[Tensor<D>]) -> Result<Self> {
        let first = masks
            .first()
            .ok_or_else(|| CoreError::Empty { what: "ensemble of masks (K = 0)".into() })?;
        let dims = first.dims();
        if let Some(bad) = masks.iter().find(|m| m.dims() != dims) {
            return Err(CoreError::shape("ensemble mask", format!("{dims:?}"), &bad.dims()).into());
        }
        let k = masks.len() as f64;
        let mean =
            masks.iter().skip(1).fold(first.clone(), |acc, m| acc.add(m.clone())).div_scalar(k);
        let variance = masks
            .iter()
            .map(|m| m.clone().sub(mean.clone()).square())
            .reduce(Tensor::add)
            .unwrap_or_else(|| mean.zeros_like())
            .div_scalar(k);
        let q = mean.clone().neg().add_scalar(1.0);
        // x ln x with 0 ln 0 = 0: the clamp only changes the logarithm where x = 0.
        let xlogx = |x: Tensor<D>| x.clone().mul(x.clamp_min(f32::MIN_POSITIVE).log());
        let entropy = xlogx(mean.clone()).add(xlogx(q)).neg();
        Ok(Self { majority: mean.clone().greater_elem(0.5).float(), mean, variance, entropy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn hand_made_ensemble_matches_closed_forms() {
        let device = test_device();
        // Four samples of four pixels: the pixels are on in 0, 1, 2 and 4 of the samples.
        let rows = [
            [0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let masks: Vec<Tensor<4>> = rows
            .iter()
            .map(|r| Tensor::<1>::from_floats(*r, &device).reshape([1, 1, 2, 2]))
            .collect();
        let stats = EnsembleStats::from_masks(&masks).unwrap();
        let v = |t: Tensor<4>| t.try_into_vec_as::<f32>().unwrap();
        let p = [0.0f64, 0.25, 0.5, 1.0];
        let mean = v(stats.mean);
        let var = v(stats.variance);
        let ent = v(stats.entropy);
        assert_eq!(v(stats.majority), vec![0.0, 0.0, 0.0, 1.0]);
        for (i, &p) in p.iter().enumerate() {
            let h =
                if p == 0.0 || p == 1.0 { 0.0 } else { -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()) };
            assert_eq!(f64::from(mean[i]), p);
            assert!((f64::from(var[i]) - p * (1.0 - p)).abs() < 1e-7, "{i}");
            assert!((f64::from(ent[i]) - h).abs() < 1e-6, "{i}: {} vs {h}", ent[i]);
        }
        assert_eq!(ent[0], 0.0);
        assert_eq!(ent[3], 0.0);
        assert!((f64::from(ent[2]) - 2f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn single_sample_and_bad_ensembles() {
        let device = test_device();
        let m = Tensor::<4>::from_floats([[[[1.0, 0.0]]]], &device);
        let stats = EnsembleStats::from_masks(std::slice::from_ref(&m)).unwrap();
        assert_eq!(stats.majority.try_into_vec_as::<f32>().unwrap(), vec![1.0, 0.0]);
        assert_eq!(stats.variance.try_into_vec_as::<f32>().unwrap(), vec![0.0, 0.0]);
        assert!(EnsembleStats::<4>::from_masks(&[]).is_err());
        let other = Tensor::<4>::zeros([1, 1, 1, 3], &device);
        assert!(EnsembleStats::from_masks(&[m, other]).is_err());
    }
}

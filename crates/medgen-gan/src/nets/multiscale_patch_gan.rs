//! A multi-scale PatchGAN (Wang et al. 2018, pix2pixHD): PatchGANs on average-pooled copies.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::module::{adaptive_avg_pool2d, adaptive_avg_pool3d};
use burn::tensor::{Device, Tensor};
use medgen_core::{Condition, CoreError};

use super::patch_gan::{PatchGan, PatchGanConfig};
use super::rank::{check_positive, with_rank};
use crate::error::{GanError, Result};
use crate::network::{Discriminator, DiscriminatorOutput};

/// Configuration of a [`MultiScalePatchGan`].
#[derive(Config, Debug)]
pub struct MultiScalePatchGanConfig {
    /// The PatchGAN used at every scale (each scale has its own weights).
    pub patch_gan: PatchGanConfig,
    /// Number of scales `S ≥ 1` (pix2pixHD uses 3).
    #[config(default = 3)]
    pub num_scales: usize,
}

/// `S` PatchGANs judging the input at full, half, quarter, … resolution:
///
/// ```text
/// x⁽⁰⁾ = x,   x⁽ˢ⁾ = avgpool_2(x⁽ˢ⁻¹⁾)        (2 × 2 or 2 × 2 × 2 means; same for the condition)
/// logits = [flatten(D₀(x⁽⁰⁾)), …, flatten(D_{S−1}(x⁽ˢ⁻¹⁾))]      [N, Σ_s P_s]
/// ```
///
/// The coarse scales see larger context for the same patch size; concatenating all logits
/// makes every loss of [`crate::GanLoss`] average over patches of all scales (weighted by
/// their counts). Every spatial side must be a multiple of `2^{S−1} · 2^L` with at least
/// three coarsest patches per axis.
#[derive(Module, Debug)]
pub struct MultiScalePatchGan {
    /// One PatchGAN per scale, finest first.
    pub scales: Vec<PatchGan>,
}

impl MultiScalePatchGanConfig {
    /// Builds the discriminators; fails on `num_scales = 0` or an invalid PatchGAN config.
    pub fn init(&self, device: &Device) -> Result<MultiScalePatchGan> {
        check_positive(self.num_scales, "num_scales")?;
        if self.num_scales > 8 {
            return Err(CoreError::config("num_scales", "must be at most 8").into());
        }
        let scales = (0..self.num_scales)
            .map(|_| self.patch_gan.init(device))
            .collect::<Result<Vec<_>>>()?;
        Ok(MultiScalePatchGan { scales })
    }
}

impl MultiScalePatchGan {
    /// The logit maps of all scales, finest first (see [`PatchGan::logit_map`]).
    ///
    /// Fails with a typed error for input a scale rejects (its sides must stay a multiple of
    /// the PatchGAN's stride product after halving).
    pub fn logit_maps<const D: usize>(
        &self,
        x: Tensor<D>,
        condition_image: Option<&Tensor<D>>,
    ) -> Result<Vec<Tensor<D>>> {
        let mut maps = Vec::with_capacity(self.scales.len());
        let (mut x, mut c) = (x, condition_image.cloned());
        for (s, scale) in self.scales.iter().enumerate() {
            if s > 0 {
                x = half_average(x)?;
                c = c.map(half_average).transpose()?;
            }
            maps.push(scale.logit_map(x.clone(), c.as_ref())?);
        }
        Ok(maps)
    }
}

impl<const D: usize> Discriminator<D> for MultiScalePatchGan {
    /// Logits of all scales, flattened and concatenated: `[N, Σ_s P_s]`.
    fn discriminate(&self, x: Tensor<D>, condition: &Condition<D>) -> Result<DiscriminatorOutput> {
        if condition.class.is_some() || condition.embedding.is_some() {
            return Err(GanError::ConditionMismatch {
                network: "MultiScalePatchGan",
                reason: "class labels and embeddings are not used; pass only condition.image"
                    .into(),
            });
        }
        let maps = self.logit_maps(x, condition.image.as_ref())?;
        let flat = maps
            .into_iter()
            .map(|m| {
                let n = m.dims()[0];
                m.reshape([n as i64, -1])
            })
            .collect();
        Ok(DiscriminatorOutput { logits: Tensor::cat(flat, 1), class_logits: None })
    }
}

/// Means over non-overlapping `2 × 2` (`2 × 2 × 2`) blocks; fails on an odd side.
fn half_average<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>> {
    let dims = x.dims();
    if dims[2..].iter().any(|n| n % 2 != 0) {
        return Err(CoreError::shape(
            "multi-scale PatchGAN input",
            "even spatial sides at every scale but the coarsest",
            &dims,
        )
        .into());
    }
    Ok(match D {
        4 => with_rank(adaptive_avg_pool2d(with_rank(x), [dims[2] / 2, dims[3] / 2])),
        5 => with_rank(adaptive_avg_pool3d(with_rank(x), [dims[2] / 2, dims[3] / 2, dims[4] / 2])),
        _ => {
            return Err(CoreError::InvalidRank {
                what: "multi-scale PatchGAN input".into(),
                expected: 4,
                got: D,
            }
            .into());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::NormKind;
    use medgen_testing::test_device;

    #[test]
    fn logits_of_all_scales_are_concatenated() {
        let device = test_device();
        let patch = |d| {
            PatchGanConfig::new(d, 1)
                .with_base_channels(2)
                .with_num_layers(1)
                .with_norm(NormKind::Instance)
        };
        let d2 = MultiScalePatchGanConfig::new(patch(2)).with_num_scales(2).init(&device).unwrap();
        let out = d2
            .discriminate(Tensor::<4>::ones([2, 1, 16, 16], &device), &Condition::none())
            .unwrap();
        assert_eq!(out.logits.dims(), [2, 36 + 4]);
        let d3 = MultiScalePatchGanConfig::new(patch(3)).with_num_scales(2).init(&device).unwrap();
        let out = d3
            .discriminate(Tensor::<5>::ones([1, 1, 16, 16, 16], &device), &Condition::none())
            .unwrap();
        assert_eq!(out.logits.dims(), [1, 216 + 8]);
        // 16 → 8 → 4 at the third scale: 4 / 2 < 3 patches.
        let d = MultiScalePatchGanConfig::new(patch(2)).init(&device).unwrap();
        assert!(
            d.discriminate(Tensor::<4>::ones([1, 1, 16, 16], &device), &Condition::none()).is_err()
        );
    }

    #[test]
    fn half_average_takes_block_means() {
        let device = test_device();
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0]]]], &device);
        let y = half_average(x).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![2.5, 6.5]);
        let v = Tensor::<5>::ones([1, 1, 2, 2, 2], &device).mul_scalar(3.0);
        assert_eq!(half_average(v).unwrap().into_scalar::<f32>(), 3.0);
        assert!(half_average(Tensor::<4>::ones([1, 1, 3, 2], &device)).is_err());
    }
}

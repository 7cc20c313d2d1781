//! Training an SDF segmenter with medgen-core's [`Trainer`]: each step draws a batch (with
//! augmentation, or random patches) from the run's generator and minimises the generator's
//! loss.

use burn::config::Config;
use burn::module::Module;
use medgen_core::{CoreError, SeededRng, TimeConditionedNetwork};
use medgen_train::{StepReport, Trainer};

use super::augment::AugmentConfig;
use super::dataset::{SegmentationBatch, SegmentationDataset};
use super::generator::SdfGenerator;
use super::patches::PatchConfig;
use crate::error::{Result, SegError};

/// How training batches are drawn from a [`SegmentationDataset`].
#[derive(Config, Debug, PartialEq)]
pub struct SegmentationTrainingConfig {
    /// Items per step (drawn uniformly with replacement).
    #[config(default = 16)]
    pub batch_size: usize,
    /// Augmentation of each item (`None`: none).
    #[config(default = "Some(AugmentConfig::new())")]
    pub augment: Option<AugmentConfig>,
    /// Train on one random patch per item with positional channels (`None`: whole items).
    #[config(default = "None")]
    pub patches: Option<PatchConfig>,
}

/// One [`Trainer`] step of the network `M` (loss → backward → clipping → optimiser → EMA →
/// checkpoint → progress): a batch from `data` as configured by `config`, drawn from the
/// trainer's generator, then [`SdfGenerator::training_loss`].
///
/// # Errors
/// `batch_size = 0`, data whose rank is not `D − 2` spatial axes, a network on no device, and
/// the errors of the loss and the trainer ([`CoreError::Diverged`] for a NaN loss).
pub fn segmentation_step<const D: usize, M>(
    trainer: &mut Trainer<M>,
    generator: &SdfGenerator,
    data: &SegmentationDataset,
    config: &SegmentationTrainingConfig,
) -> Result<StepReport>
where
    M: Module + TimeConditionedNetwork<D>,
{
    if config.batch_size == 0 {
        return Err(CoreError::config("batch_size", "must be at least 1").into());
    }
    trainer.step(|model: &M, _step, rng: &mut SeededRng| -> Result<_, SegError> {
        let device = model
            .devices()
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::config("network", "has no parameters on any device"))?;
        let augment = config.augment.as_ref();
        let batch: SegmentationBatch<D> = match &config.patches {
            None => data.random_batch(config.batch_size, augment, rng, &device)?,
            Some(patches) => {
                data.random_patch_batch(config.batch_size, patches, augment, rng, &device)?
            }
        };
        generator.training_loss(model, batch.images, batch.sdf, rng)
    })
}

/// Runs `trainer` to its last step with [`segmentation_step`], then closes its progress
/// display.
pub fn fit_segmenter<const D: usize, M>(
    trainer: &mut Trainer<M>,
    generator: &SdfGenerator,
    data: &SegmentationDataset,
    config: &SegmentationTrainingConfig,
) -> Result<()>
where
    M: Module + TimeConditionedNetwork<D>,
{
    while !trainer.is_finished() {
        segmentation_step::<D, M>(trainer, generator, data, config)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{DiffusionSdfConfig, SdfGeneratorConfig};
    use crate::segmenter::SdfSegmenterConfig;
    use burn::optim::AdamWConfig;
    use medgen_core::seeded_rng;
    use medgen_sdf::SdfConfig;
    use medgen_testing::test_device;
    use medgen_testing::testing_on_wgpu;
    use medgen_train::{EmaConfig, TrainerConfig, WarmupCosineConfig};

    /// Discs of random centre and radius on 8 × 8 images that show them (image = 2m − 1).
    fn discs(n: usize) -> SegmentationDataset {
        let mut masks = Vec::new();
        for i in 0..n {
            let (cy, cx, r) =
                (3.0 + (i % 3) as f64 * 0.5, 3.5 - (i % 2) as f64, 1.5 + (i % 4) as f64 * 0.5);
            masks.extend((0..64).map(|p| {
                let (y, x) = ((p / 8) as f64 - cy, (p % 8) as f64 - cx);
                y * y + x * x <= r * r
            }));
        }
        let images = masks.iter().map(|&m| if m { 1.0 } else { -1.0 }).collect();
        SegmentationDataset::new(
            images,
            1,
            masks,
            1,
            &[8, 8],
            &SdfConfig::truncated_normalized(2.0),
        )
        .unwrap()
    }

    #[test]
    fn a_tiny_training_run_lowers_the_loss() {
        let steps = if testing_on_wgpu() { 6 } else { 40 };
        let device = test_device().autodiff();
        let data = discs(12);
        for generator in [
            SdfGeneratorConfig::default(),
            SdfGeneratorConfig::Diffusion(DiffusionSdfConfig::new()),
        ] {
            let config = SdfSegmenterConfig::new(1, 1)
                .with_sdf(data.sdf_config().clone())
                .with_generator(generator)
                .with_base_channels(8)
                .with_channel_mults(vec![1, 2])
                .with_num_res_blocks(1)
                .with_attention_resolutions(vec![])
                .with_groups(4);
            let network =
                medgen_core::init_seeded(&device, &mut seeded_rng(1), |d| config.init_network(d))
                    .unwrap();
            let trainer_config =
                TrainerConfig::new(WarmupCosineConfig::new(3e-3, steps).with_warmup_steps(2))
                    .with_max_grad_norm(Some(1.0))
                    .with_ema(Some(EmaConfig::new().with_decay(0.9)));
            let mut trainer = Trainer::new(
                &trainer_config,
                network,
                AdamWConfig::new().init(),
                seeded_rng(3),
                &"discs",
            )
            .unwrap();
            let generator = config.generator.init().unwrap();
            let training = SegmentationTrainingConfig::new().with_batch_size(8);
            fit_segmenter::<4, _>(&mut trainer, &generator, &data, &training).unwrap();
            let losses = trainer.history().losses().to_vec();
            let k = (steps / 4).max(1);
            let first: f32 = losses[..k].iter().sum::<f32>() / k as f32;
            let last: f32 = losses[steps - k..].iter().sum::<f32>() / k as f32;
            assert!(last < first, "{:?}: {first} → {last}", config.generator);
            let zero = SegmentationTrainingConfig::new().with_batch_size(0);
            assert!(segmentation_step::<4, _>(&mut trainer, &generator, &data, &zero).is_err());
        }
    }

    #[test]
    fn patch_based_3d_training_steps_run_with_positional_channels() {
        let device = test_device().autodiff();
        // Two 6 × 8 × 8 volumes showing a ball.
        let mut masks = Vec::new();
        for r in [2.0f64, 3.0] {
            masks.extend((0..6 * 64).map(|v| {
                let (z, y, x) =
                    ((v / 64) as f64 - 2.5, ((v / 8) % 8) as f64 - 3.5, (v % 8) as f64 - 3.5);
                z * z + y * y + x * x <= r * r
            }));
        }
        let images = masks.iter().map(|&m| if m { 1.0 } else { -1.0 }).collect();
        let sdf = SdfConfig::truncated_normalized(2.0);
        let data = SegmentationDataset::new(images, 1, masks, 1, &[6, 8, 8], &sdf).unwrap();
        let config = SdfSegmenterConfig::new(1, 1)
            .with_spatial_dims(3)
            .with_positional_encoding(true)
            .with_sdf(sdf)
            .with_base_channels(8)
            .with_channel_mults(vec![1])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_groups(4);
        let network =
            medgen_core::init_seeded(&device, &mut seeded_rng(2), |d| config.init_network(d))
                .unwrap();
        let trainer_config = TrainerConfig::new(WarmupCosineConfig::new(1e-3, 2));
        let mut trainer =
            Trainer::new(&trainer_config, network, AdamWConfig::new().init(), seeded_rng(0), &"3d")
                .unwrap();
        let training = SegmentationTrainingConfig::new()
            .with_batch_size(2)
            .with_patches(Some(super::super::patches::PatchConfig::new(vec![4, 4, 4])));
        let generator = config.generator.init().unwrap();
        fit_segmenter::<5, _>(&mut trainer, &generator, &data, &training).unwrap();
        assert!(trainer.history().losses().iter().all(|l| l.is_finite() && *l > 0.0));
    }
}

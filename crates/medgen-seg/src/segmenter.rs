//! The SDF segmentation model: an image-conditioned U-Net paired with a generative sampler
//! over truncated, normalised SDF maps, and its inference (implicit ensembles).

use burn::config::Config;
use burn::prelude::*;
use medgen_core::{CoreError, TimeConditionedNetwork};
use medgen_nn::{UNet, UNetConfig};
use rand::Rng;

use super::encoding::{ensure_normalized, sdf_to_masks};
use super::ensemble::EnsembleStats;
use super::generator::{SdfGenerator, SdfGeneratorConfig};
use super::patches::{PatchConfig, predict_by_patches};
use crate::error::Result;
use medgen_sdf::SdfConfig;

/// Configuration of an [`SdfSegmenter`] and of its U-Net.
///
/// The network is `v_θ(m̃_t, t, x)`: a [`UNet`] with `in_channels = out_channels = classes`
/// (one SDF channel per class) and the image `x` (plus `S` positional channels when
/// `positional_encoding` is on, for patch-based 3D models) concatenated on channels.
#[derive(Config, Debug)]
pub struct SdfSegmenterConfig {
    /// Channels of the input images.
    pub image_channels: usize,
    /// Classes `K`, one binary mask (and SDF channel) each.
    pub classes: usize,
    /// Spatial axes: 2 (images) or 3 (volumes).
    #[config(default = 2)]
    pub spatial_dims: usize,
    /// Append `S` coordinate channels (see
    /// [`positional_channels`](crate::positional_channels)) to the conditioning
    /// image: needed for patch-based training and inference.
    #[config(default = false)]
    pub positional_encoding: bool,
    /// Mask → SDF conversion; must truncate and normalise to `[−1, 1]`.
    #[config(default = "SdfConfig::truncated_normalized(4.0)")]
    pub sdf: SdfConfig,
    /// The generative model over SDFs (default: flow matching).
    #[config(default = "SdfGeneratorConfig::default()")]
    pub generator: SdfGeneratorConfig,
    /// U-Net base channels.
    #[config(default = 32)]
    pub base_channels: usize,
    /// U-Net channel multipliers per level.
    #[config(default = "vec![1, 2, 2]")]
    pub channel_mults: Vec<usize>,
    /// U-Net residual blocks per level.
    #[config(default = 2)]
    pub num_res_blocks: usize,
    /// U-Net attention resolutions (downsampling factors).
    #[config(default = "vec![4]")]
    pub attention_resolutions: Vec<usize>,
    /// Group-norm groups.
    #[config(default = 8)]
    pub groups: usize,
    /// Dropout in residual blocks.
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl SdfSegmenterConfig {
    /// Channels of the conditioning image the network takes: `C_img (+ S)`.
    pub fn condition_channels(&self) -> usize {
        self.image_channels + if self.positional_encoding { self.spatial_dims } else { 0 }
    }

    /// The U-Net configuration of the velocity (or denoising) network.
    pub fn unet(&self) -> UNetConfig {
        UNetConfig::new(self.classes, self.classes)
            .with_spatial_dims(self.spatial_dims)
            .with_base_channels(self.base_channels)
            .with_channel_mults(self.channel_mults.clone())
            .with_num_res_blocks(self.num_res_blocks)
            .with_attention_resolutions(self.attention_resolutions.clone())
            .with_groups(self.groups)
            .with_dropout(self.dropout)
            .with_cond_image_channels(self.condition_channels())
    }

    /// Checks every field (channel counts ≥ 1, a normalised SDF, the U-Net, the generator).
    pub fn validate(&self) -> Result<()> {
        if self.image_channels == 0 || self.classes == 0 {
            return Err(CoreError::config("image_channels/classes", "must be at least 1").into());
        }
        ensure_normalized(&self.sdf)?;
        self.unet().validate()?;
        self.generator.init()?;
        Ok(())
    }

    /// A freshly initialised network on `device` (call it through `medgen_core::init_seeded`
    /// so that the weights come from your seeded generator).
    pub fn init_network(&self, device: &Device) -> Result<UNet> {
        self.validate()?;
        Ok(self.unet().init(device)?)
    }
}

/// `K` sampled segmentations of a batch and their ensemble statistics.
#[derive(Clone, Debug)]
pub struct Segmentation<const D: usize> {
    /// The sampled SDFs, `K` tensors `[N, classes, *spatial]`.
    pub sdf: Vec<Tensor<D>>,
    /// The masks `1{m̃ ≤ 0}` of the samples (same shapes, 0/1).
    pub masks: Vec<Tensor<D>>,
    /// Mean, majority, variance and entropy of the masks.
    pub stats: EnsembleStats<D>,
    /// Network evaluations per sample (NFE of one ODE/DDIM trajectory).
    pub nfe: usize,
}

/// An SDF segmenter: a network `v_θ(m̃_t, t, x)` (any [`TimeConditionedNetwork`], by default
/// a [`UNet`]) with the [`SdfGenerator`] and [`SdfConfig`] it was trained with.
///
/// Inference draws `K` SDF samples per image by integrating the generative model from
/// independent noise, reads each as a mask `m = 1{m̃ ≤ 0}`, and summarises the implicit
/// ensemble ([`EnsembleStats`]): the mean mask, the majority mask, and pixelwise variance and
/// entropy as uncertainty maps.
#[derive(Clone, Debug)]
pub struct SdfSegmenter<N = UNet> {
    network: N,
    generator: SdfGenerator,
    sdf: SdfConfig,
    classes: usize,
    condition_channels: usize,
}

impl<N> SdfSegmenter<N> {
    /// Pairs a (trained) `network` with the generator and SDF settings of `config`.
    pub fn new(network: N, config: &SdfSegmenterConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            network,
            generator: config.generator.init()?,
            sdf: config.sdf.clone(),
            classes: config.classes,
            condition_channels: config.condition_channels(),
        })
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The generative model.
    pub fn generator(&self) -> &SdfGenerator {
        &self.generator
    }

    /// The SDF settings.
    pub fn sdf_config(&self) -> &SdfConfig {
        &self.sdf
    }

    /// Draws `samples` segmentations of each image of `images` (`[N, C_cond, *spatial]`) with
    /// `steps` solver steps; the `K·N` trajectories run as one network batch.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for `samples = 0` or `steps = 0`,
    /// [`CoreError::ShapeMismatch`] for images with the wrong channel count,
    /// [`CoreError::NonFinite`] for NaN/Inf images, and the network's errors.
    pub fn segment<const D: usize, R>(
        &self,
        images: Tensor<D>,
        samples: usize,
        steps: usize,
        rng: &mut R,
    ) -> Result<Segmentation<D>>
    where
        N: TimeConditionedNetwork<D>,
        R: Rng,
    {
        self.check_images(&images, samples)?;
        let n = images.dims()[0];
        let generated = self.generator.sample(
            &self.network,
            images.repeat_dim(0, samples),
            self.classes,
            steps,
            rng,
        )?;
        self.summarise(
            (0..samples).map(|k| generated.sdf.clone().narrow(0, k * n, n)).collect(),
            generated.nfe,
        )
    }

    /// Whole-volume segmentation of `volume` (`[N, C_img, *spatial]`, without positional
    /// channels) by overlapping patches ([`predict_by_patches`]): each patch gets its
    /// positional channels, `samples` SDF samples are drawn per patch, and the SDFs of each
    /// sample are blended across patches before thresholding. Needs a segmenter built with
    /// `positional_encoding`.
    ///
    /// # Errors
    /// Those of [`SdfSegmenter::segment`] and of the patch layout.
    pub fn segment_volume<const D: usize, R>(
        &self,
        volume: Tensor<D>,
        patches: &PatchConfig,
        samples: usize,
        steps: usize,
        rng: &mut R,
    ) -> Result<Segmentation<D>>
    where
        N: TimeConditionedNetwork<D>,
        R: Rng,
    {
        let dims = volume.dims();
        if dims.get(1).map(|c| c + D - 2) != Some(self.condition_channels) {
            return Err(CoreError::shape(
                "volume",
                format!(
                    "[N, {}, *spatial] (positional channels are added per patch)",
                    self.condition_channels.saturating_sub(D - 2)
                ),
                &dims,
            )
            .into());
        }
        self.check_samples_steps(samples, steps)?;
        let n = dims[0];
        let mut nfe = 0;
        let sdf =
            predict_by_patches(volume.repeat_dim(0, samples), patches, self.classes, |patch| {
                let out = self.generator.sample(&self.network, patch, self.classes, steps, rng)?;
                nfe = out.nfe;
                Ok(out.sdf)
            })?;
        self.summarise((0..samples).map(|k| sdf.clone().narrow(0, k * n, n)).collect(), nfe)
    }

    fn summarise<const D: usize>(
        &self,
        sdf: Vec<Tensor<D>>,
        nfe: usize,
    ) -> Result<Segmentation<D>> {
        let masks =
            sdf.iter().map(|s| sdf_to_masks(s.clone(), &self.sdf)).collect::<Result<Vec<_>>>()?;
        let stats = EnsembleStats::from_masks(&masks)?;
        Ok(Segmentation { sdf, masks, stats, nfe })
    }

    fn check_samples_steps(&self, samples: usize, steps: usize) -> Result<()> {
        if samples == 0 || steps == 0 {
            return Err(CoreError::config(
                "samples/steps",
                format!("must be at least 1, got {samples} samples and {steps} steps"),
            )
            .into());
        }
        Ok(())
    }

    fn check_images<const D: usize>(&self, images: &Tensor<D>, samples: usize) -> Result<()> {
        self.check_samples_steps(samples, 1)?;
        let dims = images.dims();
        medgen_core::check::ensure_non_empty(&dims, "images")?;
        if dims[1] != self.condition_channels {
            return Err(CoreError::shape(
                "images",
                format!("[N, {}, *spatial]", self.condition_channels),
                &dims,
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegError;
    use crate::encoding::masks_to_sdf;
    use medgen_core::{Condition, seeded_rng};
    use medgen_testing::test_device;

    fn tiny(positional: bool, spatial_dims: usize) -> SdfSegmenterConfig {
        SdfSegmenterConfig::new(1, 1)
            .with_spatial_dims(spatial_dims)
            .with_positional_encoding(positional)
            .with_sdf(SdfConfig::truncated_normalized(2.0))
            .with_base_channels(8)
            .with_channel_mults(vec![1])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_groups(4)
    }

    #[test]
    fn an_oracle_segmenter_returns_the_reference_and_zero_uncertainty() {
        let device = test_device();
        // The images are the reference masks; the oracle flows straight to their SDF.
        let masks = Tensor::<4>::from_data(
            TensorData::new(
                (0..2 * 36).map(|i| f32::from(u8::from((i % 36) % 7 < 3))).collect::<Vec<_>>(),
                [2, 1, 6, 6],
            ),
            &device,
        );
        let config = tiny(false, 2);
        let sdf_config = config.sdf.clone();
        let oracle = move |x: Tensor<4>, t: Tensor<1>, c: &Condition<4>| {
            let image = c.image.clone().expect("image condition");
            let target =
                masks_to_sdf(image, &sdf_config).map_err(|e| CoreError::config("oracle", e))?;
            let n = x.dims()[0];
            let remaining = t.div_scalar(1000.0).neg().add_scalar(1.0).reshape([n, 1, 1, 1]);
            Ok(target.sub(x).div(remaining))
        };
        let segmenter = SdfSegmenter::new(oracle, &config).unwrap();
        let out = segmenter.segment(masks.clone(), 4, 3, &mut seeded_rng(2)).unwrap();
        assert_eq!(out.masks.len(), 4);
        assert_eq!(out.nfe, 3);
        let want = masks.try_into_vec_as::<f32>().unwrap();
        for m in &out.masks {
            assert_eq!(m.clone().try_into_vec_as::<f32>().unwrap(), want);
        }
        assert_eq!(out.stats.majority.try_into_vec_as::<f32>().unwrap(), want);
        assert!(out.stats.entropy.try_into_vec_as::<f32>().unwrap().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn unet_segmenter_runs_in_2d_and_by_patches_in_3d_and_rejects_bad_input() {
        let device = test_device();
        let config = tiny(false, 2);
        let network =
            medgen_core::init_seeded(&device, &mut seeded_rng(0), |d| config.init_network(d))
                .unwrap();
        let segmenter = SdfSegmenter::new(network, &config).unwrap();
        let images = Tensor::<4>::zeros([2, 1, 8, 8], &device);
        let out = segmenter.segment(images.clone(), 2, 2, &mut seeded_rng(0)).unwrap();
        assert_eq!(out.stats.mean.dims(), [2, 1, 8, 8]);
        let mut rng = seeded_rng(0);
        for (samples, steps) in [(0, 3), (2, 0)] {
            assert!(matches!(
                segmenter.segment(images.clone(), samples, steps, &mut rng),
                Err(SegError::Core(CoreError::InvalidConfig { .. }))
            ));
        }
        let wrong = Tensor::<4>::zeros([2, 3, 8, 8], &device);
        assert!(segmenter.segment(wrong, 1, 1, &mut rng).is_err());
        let nan = Tensor::<4>::full([1, 1, 8, 8], f32::NAN, &device);
        assert!(matches!(
            segmenter.segment(nan, 1, 1, &mut rng),
            Err(SegError::Core(CoreError::NonFinite { .. }))
        ));

        let config3 = tiny(true, 3);
        let segmenter3 =
            SdfSegmenter::new(config3.init_network(&device).unwrap(), &config3).unwrap();
        let volume = Tensor::<5>::zeros([1, 1, 6, 4, 4], &device);
        let patches = PatchConfig::new(vec![4, 4, 4]);
        let out = segmenter3.segment_volume(volume, &patches, 2, 1, &mut rng).unwrap();
        assert_eq!(out.masks[0].dims(), [1, 1, 6, 4, 4]);
        assert!(config.clone().with_sdf(SdfConfig::new()).validate().is_err());
    }
}

//! Training pairs (image, masks) with their signed distance maps computed once and cached.

use burn::prelude::*;
use medgen_core::CoreError;
use medgen_core::check::ensure_finite_values;
use rand::{Rng, RngExt};

use super::augment::AugmentConfig;
use super::encoding::{ensure_normalized, host_sdf};
use super::patches::{PatchConfig, crop_per_item, positional_channels};
use crate::error::Result;
use medgen_sdf::SdfConfig;
use medgen_sdf::mask::{read_binary_mask, read_values};

/// One training batch of a [`SegmentationDataset`].
#[derive(Clone, Debug)]
pub struct SegmentationBatch<const D: usize> {
    /// Images `[B, C_img, *spatial]` (with `S` positional channels appended for patches).
    pub images: Tensor<D>,
    /// Target SDFs `[B, K, *spatial]`, values in `[−1, 1]`.
    pub sdf: Tensor<D>,
    /// The masks the SDFs describe, `[B, K, *spatial]` of 0/1.
    pub masks: Tensor<D>,
}

/// `N` images `[C_img, *spatial]` with `K` binary masks `[K, *spatial]` each (one channel per
/// class) and their truncated, normalised SDFs, computed once at construction with
/// [`signed_distance`](medgen_sdf::signed_distance) and cached (all on the host).
#[derive(Clone, Debug)]
pub struct SegmentationDataset {
    images: Vec<f32>,
    masks: Vec<bool>,
    sdf: Vec<f32>,
    image_channels: usize,
    classes: usize,
    spatial: Vec<usize>,
    config: SdfConfig,
}

impl SegmentationDataset {
    /// Builds the data set from row-major host buffers: `images` `[N, C_img, *spatial]`,
    /// `masks` `[N, K, *spatial]`, `spatial` with 2 or 3 axes.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] when the buffers do not fit `spatial`, the channel counts
    /// and each other (image/mask size mismatch), [`CoreError::Empty`] for no items,
    /// [`CoreError::NonFinite`] for NaN/Inf pixels, and [`CoreError::InvalidConfig`] for zero
    /// channels or an SDF configuration without truncation and normalisation. An empty mask
    /// is valid (its SDF is `+1` everywhere).
    pub fn new(
        images: Vec<f32>,
        image_channels: usize,
        masks: Vec<bool>,
        classes: usize,
        spatial: &[usize],
        config: &SdfConfig,
    ) -> Result<Self> {
        ensure_normalized(config)?;
        if !(2..=3).contains(&spatial.len()) {
            return Err(CoreError::shape("spatial size", "2 or 3 axes", spatial).into());
        }
        if image_channels == 0 || classes == 0 {
            return Err(CoreError::config("image_channels/classes", "must be at least 1").into());
        }
        let len: usize = spatial.iter().product();
        medgen_core::check::ensure_non_empty(spatial, "spatial size")?;
        let n = images.len() / (image_channels * len);
        if n == 0 {
            return Err(CoreError::Empty { what: "segmentation data set".into() }.into());
        }
        if images.len() != n * image_channels * len {
            return Err(CoreError::shape(
                "images",
                format!("[N, {image_channels}, {spatial:?}]"),
                &[images.len()],
            )
            .into());
        }
        if masks.len() != n * classes * len {
            return Err(CoreError::shape(
                "masks",
                format!("[{n}, {classes}, {spatial:?}] to match the images"),
                &[masks.len()],
            )
            .into());
        }
        ensure_finite_values(&images, "images")?;
        let mut sdf = Vec::with_capacity(masks.len());
        for item in masks.chunks(classes * len) {
            sdf.extend(host_sdf(item, classes, spatial, config)?);
        }
        Ok(Self {
            images,
            masks,
            sdf,
            image_channels,
            classes,
            spatial: spatial.to_vec(),
            config: config.clone(),
        })
    }

    /// Builds the data set from tensors `images` `[N, C_img, *spatial]` and `masks`
    /// `[N, K, *spatial]` (values exactly 0 or 1), read back once.
    ///
    /// # Errors
    /// As [`SegmentationDataset::new`], plus
    /// [`CoreError::NonBinaryMask`] and a
    /// [`CoreError::ShapeMismatch`] when the images' and masks' `N` or spatial sizes differ.
    pub fn from_tensors<const D: usize>(
        images: Tensor<D>,
        masks: Tensor<D>,
        config: &SdfConfig,
    ) -> Result<Self> {
        let (id, md) = (images.dims(), masks.dims());
        if D < 4 || id[0] != md[0] || id[2..] != md[2..] {
            return Err(CoreError::shape(
                "masks",
                format!(
                    "[{}, K, {:?}] like the images",
                    id.first().unwrap_or(&0),
                    id.get(2..).unwrap_or(&[])
                ),
                &md,
            )
            .into());
        }
        let (mask, _) = read_binary_mask(masks, "masks")?;
        let images = read_values(images, "images")?;
        Self::new(images, id[1], mask, md[1], &id[2..], config)
    }

    /// The number of items `N`.
    pub fn len(&self) -> usize {
        self.masks.len() / (self.classes * self.item_len())
    }

    /// Whether there is no item (never true for a constructed data set).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels of the images.
    pub fn image_channels(&self) -> usize {
        self.image_channels
    }

    /// Classes `K` (SDF channels).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The spatial size.
    pub fn spatial(&self) -> &[usize] {
        &self.spatial
    }

    /// The SDF configuration of the cached targets.
    pub fn sdf_config(&self) -> &SdfConfig {
        &self.config
    }

    fn item_len(&self) -> usize {
        self.spatial.iter().product()
    }

    /// The cached SDF of item `i` (`[K, *spatial]`), or `None` out of range.
    pub fn cached_sdf(&self, i: usize) -> Option<&[f32]> {
        let len = self.classes * self.item_len();
        self.sdf.get(i * len..(i + 1) * len)
    }

    /// The masks of item `i` (`[K, *spatial]`), or `None` out of range.
    pub fn mask(&self, i: usize) -> Option<&[bool]> {
        let len = self.classes * self.item_len();
        self.masks.get(i * len..(i + 1) * len)
    }

    /// The image of item `i` (`[C_img, *spatial]`), or `None` out of range.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let len = self.image_channels * self.item_len();
        self.images.get(i * len..(i + 1) * len)
    }

    /// The items `indices` as tensors `[B, ·, *spatial]` (`D = spatial axes + 2`) on
    /// `device`, each transformed by its own draw of `augment` (one draw per item, in order,
    /// from `rng`), identically for image, masks and SDF. Flips move the cached SDF; a
    /// rotation recomputes the SDF of the rotated masks, so `masks = 1{sdf ≤ 0}` holds
    /// exactly in every batch.
    ///
    /// # Errors
    /// [`CoreError::InvalidRank`] for the wrong `D`, [`CoreError::Empty`] for no indices,
    /// [`CoreError::ShapeMismatch`] for an index out of range, and invalid augmentation
    /// settings.
    pub fn batch<const D: usize, R: Rng + ?Sized>(
        &self,
        indices: &[usize],
        augment: Option<&AugmentConfig>,
        rng: &mut R,
        device: &Device,
    ) -> Result<SegmentationBatch<D>> {
        if D != self.spatial.len() + 2 {
            return Err(CoreError::InvalidRank {
                what: "segmentation batch".into(),
                expected: self.spatial.len() + 2,
                got: D,
            }
            .into());
        }
        if indices.is_empty() {
            return Err(CoreError::Empty { what: "batch indices".into() }.into());
        }
        let (h, w) = (self.spatial[self.spatial.len() - 2], self.spatial[self.spatial.len() - 1]);
        let (mut images, mut masks, mut sdf) = (Vec::new(), Vec::new(), Vec::new());
        for &i in indices {
            let (Some(image), Some(mask), Some(cached)) =
                (self.image(i), self.mask(i), self.cached_sdf(i))
            else {
                return Err(
                    CoreError::shape("batch index", format!("< {}", self.len()), &[i]).into()
                );
            };
            match augment {
                None => {
                    images.extend_from_slice(image);
                    masks.extend(mask.iter().map(|&m| f32::from(u8::from(m))));
                    sdf.extend_from_slice(cached);
                }
                Some(config) => {
                    let aug = config.draw(rng)?;
                    images.extend(aug.apply_image(image, h, w)?);
                    let moved = aug.apply_mask(mask, h, w)?;
                    if aug.is_grid_symmetry() {
                        sdf.extend(aug.apply_nearest(cached, h, w, 1.0)?);
                    } else {
                        sdf.extend(host_sdf(&moved, self.classes, &self.spatial, &self.config)?);
                    }
                    masks.extend(moved.iter().map(|&m| f32::from(u8::from(m))));
                }
            }
        }
        let tensor = |values: Vec<f32>, channels: usize| {
            let mut shape = [0; D];
            shape[0] = indices.len();
            shape[1] = channels;
            shape[2..].copy_from_slice(&self.spatial);
            Tensor::<D>::from_data(TensorData::new(values, shape), device)
        };
        Ok(SegmentationBatch {
            images: tensor(images, self.image_channels),
            sdf: tensor(sdf, self.classes),
            masks: tensor(masks, self.classes),
        })
    }

    /// `batch_size` items drawn uniformly with replacement from `rng`, then
    /// [`SegmentationDataset::batch`].
    pub fn random_batch<const D: usize, R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        augment: Option<&AugmentConfig>,
        rng: &mut R,
        device: &Device,
    ) -> Result<SegmentationBatch<D>> {
        let indices: Vec<usize> =
            (0..batch_size).map(|_| rng.random_range(0..self.len())).collect();
        self.batch(&indices, augment, rng, device)
    }

    /// A batch of random patches for patch-based training: [`SegmentationDataset::random_batch`],
    /// then each item cropped at its own uniform origin ([`PatchConfig::random_origins`]) with
    /// the [positional channels](positional_channels) of that origin appended to the image,
    /// so `images` is `[B, C_img + S, *patch]` and `sdf`, `masks` are `[B, K, *patch]`.
    pub fn random_patch_batch<const D: usize, R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        patches: &PatchConfig,
        augment: Option<&AugmentConfig>,
        rng: &mut R,
        device: &Device,
    ) -> Result<SegmentationBatch<D>> {
        let full = self.random_batch::<D, R>(batch_size, augment, rng, device)?;
        let origins = patches.random_origins(&self.spatial, batch_size, rng)?;
        let size = &patches.patch_size;
        let position = positional_channels::<D>(&origins, size, &self.spatial, device)?;
        Ok(SegmentationBatch {
            images: Tensor::cat(vec![crop_per_item(full.images, &origins, size)?, position], 1),
            sdf: crop_per_item(full.sdf, &origins, size)?,
            masks: crop_per_item(full.masks, &origins, size)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegError;
    use crate::encoding::sdf_to_masks;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// Two 10 × 12 items: a rectangle (class 0) and a disc (class 1); images = class-0 mask.
    fn toy() -> SegmentationDataset {
        let (h, w) = (10, 12);
        let mut masks = Vec::new();
        let mut images = Vec::new();
        for item in 0..2 {
            let rect: Vec<bool> = (0..h * w)
                .map(|i| (2 + item..7).contains(&(i / w)) && (3..8 + item).contains(&(i % w)))
                .collect();
            let disc: Vec<bool> = (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f64 - 5.0, (i % w) as f64 - 6.0 + item as f64);
                    y * y + x * x <= 6.0
                })
                .collect();
            images.extend(rect.iter().map(|&m| f32::from(u8::from(m))));
            masks.extend(rect);
            masks.extend(disc);
        }
        SegmentationDataset::new(
            images,
            1,
            masks,
            2,
            &[h, w],
            &SdfConfig::truncated_normalized(3.0),
        )
        .unwrap()
    }

    #[test]
    fn augmented_batches_keep_image_mask_and_sdf_consistent() {
        let data = toy();
        let device = test_device();
        let augment = AugmentConfig::new()
            .with_max_rotation_degrees(20.0)
            .with_image_interpolation(super::super::augment::ImageInterpolation::Nearest);
        let flips_only = AugmentConfig::new().with_max_rotation_degrees(0.0);
        let mut rng = seeded_rng(3);
        for round in 0..5 {
            // Round 1 flips only (the cached SDF is moved), later rounds also rotate.
            let augment = match round {
                0 => None,
                1 => Some(&flips_only),
                _ => Some(&augment),
            };
            let batch = data.batch::<4, _>(&[0, 1, 1], augment, &mut rng, &device).unwrap();
            assert_eq!(batch.sdf.dims(), [3, 2, 10, 12]);
            let masks = batch.masks.clone().try_into_vec_as::<f32>().unwrap();
            let back = sdf_to_masks(batch.sdf.clone(), data.sdf_config()).unwrap();
            assert_eq!(back.try_into_vec_as::<f32>().unwrap(), masks, "round {round}");
            // The image is the class-0 mask, moved by the same transform.
            let images = batch.images.try_into_vec_as::<f32>().unwrap();
            for item in 0..3 {
                assert_eq!(
                    &images[item * 120..(item + 1) * 120],
                    &masks[item * 240..item * 240 + 120]
                );
            }
            // The SDF is the SDF of the moved masks, recomputed from scratch.
            let sdf = batch.sdf.try_into_vec_as::<f32>().unwrap();
            let moved: Vec<bool> = masks[..240].iter().map(|&m| m == 1.0).collect();
            let want = host_sdf(&moved, 2, &[10, 12], data.sdf_config()).unwrap();
            assert_eq!(&sdf[..240], &want[..]);
        }
    }

    #[test]
    fn patches_carry_positions_and_bad_inputs_are_typed_errors() {
        let data = toy();
        let device = test_device();
        let patches = PatchConfig::new(vec![4, 6]);
        let batch = data
            .random_patch_batch::<4, _>(5, &patches, None, &mut seeded_rng(1), &device)
            .unwrap();
        assert_eq!(batch.images.dims(), [5, 3, 4, 6]);
        assert_eq!(batch.sdf.dims(), [5, 2, 4, 6]);
        let config = SdfConfig::truncated_normalized(3.0);
        // Image/mask size mismatch, NaN pixels, empty data, unnormalised SDFs, bad indices.
        assert!(matches!(
            SegmentationDataset::new(vec![0.0; 12], 1, vec![false; 10], 1, &[3, 4], &config),
            Err(SegError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let mut nan = vec![0.0; 12];
        nan[3] = f32::NAN;
        assert!(matches!(
            SegmentationDataset::new(nan, 1, vec![false; 12], 1, &[3, 4], &config),
            Err(SegError::Core(CoreError::NonFinite { .. }))
        ));
        assert!(SegmentationDataset::new(vec![], 1, vec![], 1, &[3, 4], &config).is_err());
        assert!(
            SegmentationDataset::new(
                vec![0.0; 12],
                1,
                vec![false; 12],
                1,
                &[3, 4],
                &SdfConfig::new()
            )
            .is_err()
        );
        // An empty mask is valid: its SDF is +1 everywhere.
        let empty =
            SegmentationDataset::new(vec![0.0; 12], 1, vec![false; 12], 1, &[3, 4], &config)
                .unwrap();
        assert!(empty.cached_sdf(0).unwrap().iter().all(|&v| v == 1.0));
        assert!(data.batch::<4, _>(&[2], None, &mut seeded_rng(0), &device).is_err());
        assert!(data.batch::<5, _>(&[0], None, &mut seeded_rng(0), &device).is_err());
        let images = Tensor::<4>::zeros([2, 1, 4, 4], &device);
        let masks = Tensor::<4>::zeros([2, 1, 4, 5], &device);
        assert!(SegmentationDataset::from_tensors(images.clone(), masks, &config).is_err());
        let soft = Tensor::<4>::full([2, 1, 4, 4], 0.5, &device);
        assert!(matches!(
            SegmentationDataset::from_tensors(images, soft, &config),
            Err(SegError::Core(CoreError::NonBinaryMask { .. }))
        ));
    }
}

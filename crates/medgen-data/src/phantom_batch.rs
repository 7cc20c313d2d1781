//! A batch of generated phantoms on the host, and its conversion to tensors, data sets and
//! MedMNIST-style arrays.

use burn::prelude::*;

use super::anatomy::tissue;
use super::dataset::ImageDataset;
use super::host_tensor::{float_tensor, int_tensor};
use super::intensity::IntensityMapping;
use super::medmnist::{MedMnistArrays, MedMnistSplit};
use super::npy::{NpyArray, NpyValues};
use medgen_core::error::Result;

/// Per-subject covariates of a phantom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhantomCovariates {
    /// Age in `[0, 1]`; the ventricles grow linearly with it.
    pub age: f32,
    /// Pathology class: 0 no visible lesion, 1 hypo-intense lesions, 2 hyper-intense lesions.
    pub class: u8,
    /// Ventricle pixels / brain pixels (labels 2 to 6).
    pub ventricle_fraction: f32,
    /// Lesion pixels / brain pixels.
    pub lesion_fraction: f32,
    /// Sex: 0 female, 1 male (male heads are larger when the configuration's
    /// `sex_head_difference` is positive).
    pub sex: u8,
    /// Brain volume: brain pixels (labels 2 to 6) / all pixels. It grows with head size (sex)
    /// and shrinks with age (the CSF shell widens).
    pub brain_fraction: f32,
}

impl PhantomCovariates {
    /// The number of values in [`Self::vector`].
    pub const DIM: usize = 5;

    /// `[age, ventricle_fraction, lesion_fraction, sex, brain_fraction]`, the covariate vector
    /// of data sets (the first three columns keep their places from earlier releases).
    pub fn vector(&self) -> [f32; 5] {
        [
            self.age,
            self.ventricle_fraction,
            self.lesion_fraction,
            f32::from(self.sex),
            self.brain_fraction,
        ]
    }
}

/// `N` generated phantoms (2D `[N, 1, H, W]` or 3D `[N, 1, D, H, W]`), held on the host.
///
/// `images` are in `[0, 1]` (map them with [`IntensityMapping::unit`] to [-1, 1]); `labels`
/// are tissue label maps (see [`tissue`]); all buffers are C-order.
#[derive(Clone, Debug, PartialEq)]
pub struct PhantomBatch {
    /// The spatial size, `[H, W]` or `[D, H, W]`.
    pub spatial: Vec<usize>,
    /// Intensities in `[0, 1]`, `[N, 1, spatial...]`.
    pub images: Vec<f32>,
    /// Tissue labels, `[N, 1, spatial...]`.
    pub labels: Vec<u8>,
    /// One entry per subject.
    pub covariates: Vec<PhantomCovariates>,
}

/// A [`PhantomBatch`] on a device, rank `D = 4` (2D) or `D = 5` (3D).
#[derive(Clone, Debug)]
pub struct PhantomTensors<const D: usize> {
    /// Images mapped to [-1, 1]: `2 x - 1`, shape `[N, 1, ...]`.
    pub images: Tensor<D>,
    /// Tissue labels `[N, 1, ...]`.
    pub labels: Tensor<D, Int>,
    /// Lesion masks (1.0 inside, 0.0 outside), `[N, 1, ...]`.
    pub lesion_masks: Tensor<D>,
    /// Ventricle masks (1.0 inside), `[N, 1, ...]`.
    pub ventricle_masks: Tensor<D>,
    /// Pathology classes `[N]`.
    pub classes: Tensor<1, Int>,
    /// Covariates `[N, 3]`: age, ventricle fraction, lesion fraction.
    pub covariates: Tensor<2>,
}

impl<const D: usize> PhantomTensors<D> {
    /// The number of phantoms `N`.
    pub fn len(&self) -> usize {
        self.classes.dims()[0]
    }

    /// Whether there are no phantoms.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The phantoms at `indices` (`[B]`, values in `0..N`, repeats allowed), every field
    /// selected alike; stays on the device.
    pub fn select(&self, indices: Tensor<1, Int>) -> Self {
        Self {
            images: self.images.clone().select(0, indices.clone()),
            labels: self.labels.clone().select(0, indices.clone()),
            lesion_masks: self.lesion_masks.clone().select(0, indices.clone()),
            ventricle_masks: self.ventricle_masks.clone().select(0, indices.clone()),
            classes: self.classes.clone().select(0, indices.clone()),
            covariates: self.covariates.clone().select(0, indices),
        }
    }

    /// A mini-batch of `batch` phantoms drawn uniformly with replacement from the caller's
    /// generator: indices `i_k ~ U{0, …, N−1}`, then [`Self::select`].
    ///
    /// # Errors
    /// [`medgen_core::CoreError::Empty`] naming `phantoms` when there are none, or naming
    /// `batch` when it is zero.
    pub fn random_batch<R: rand::Rng + ?Sized>(&self, batch: usize, rng: &mut R) -> Result<Self> {
        use rand::RngExt;
        let n = self.len();
        if n == 0 {
            return Err(medgen_core::CoreError::Empty { what: "phantoms".into() });
        }
        if batch == 0 {
            return Err(medgen_core::CoreError::Empty { what: "batch".into() });
        }
        let indices: Vec<i64> = (0..batch).map(|_| rng.random_range(0..n) as i64).collect();
        let indices = int_tensor(indices, &[batch], &self.classes.device(), "batch indices")?;
        Ok(self.select(indices))
    }
}

impl PhantomBatch {
    /// The number of phantoms `N`.
    pub fn len(&self) -> usize {
        self.covariates.len()
    }

    /// Whether the batch is empty (never true for a generated batch).
    pub fn is_empty(&self) -> bool {
        self.covariates.is_empty()
    }

    /// `[N, 1, spatial...]`.
    pub fn shape(&self) -> Vec<usize> {
        let mut shape = vec![self.len(), 1];
        shape.extend_from_slice(&self.spatial);
        shape
    }

    /// Pixels (voxels) per phantom.
    pub fn item_len(&self) -> usize {
        self.spatial.iter().product()
    }

    /// Checks that a (possibly hand-built) batch is consistent: a 2D or 3D non-empty
    /// `spatial` shape, and `images` and `labels` holding `N` items of that shape.
    ///
    /// # Errors
    /// [`medgen_core::CoreError::InvalidRank`] naming `phantom spatial shape`,
    /// [`medgen_core::CoreError::Empty`], or [`medgen_core::CoreError::ShapeMismatch`] naming
    /// `phantom images` or `phantom labels`.
    pub(crate) fn check_layout(&self) -> Result<()> {
        use medgen_core::CoreError;
        if !(self.spatial.len() == 2 || self.spatial.len() == 3) {
            return Err(CoreError::InvalidRank {
                what: "phantom spatial shape ([H, W] or [D, H, W])".into(),
                expected: 2,
                got: self.spatial.len(),
            });
        }
        medgen_core::check::ensure_non_empty(&self.shape(), "phantom batch")?;
        let expected = self.spatial.iter().try_fold(self.len(), |acc, &n| acc.checked_mul(n));
        for (what, len) in
            [("phantom images", self.images.len()), ("phantom labels", self.labels.len())]
        {
            if expected != Some(len) {
                return Err(CoreError::shape(what, format!("{:?}", self.shape()), &[len]));
            }
        }
        Ok(())
    }

    /// The image of phantom `i` (`[spatial...]`, values in `[0, 1]`).
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.item_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The label map of phantom `i`.
    pub fn label_map(&self, i: usize) -> &[u8] {
        let n = self.item_len();
        &self.labels[i * n..(i + 1) * n]
    }

    /// The lesion mask of phantom `i` (1 where `label == 6`).
    pub fn lesion_mask(&self, i: usize) -> Vec<u8> {
        mask_of(self.label_map(i), tissue::LESION)
    }

    /// The ventricle mask of phantom `i` (1 where `label == 5`).
    pub fn ventricle_mask(&self, i: usize) -> Vec<u8> {
        mask_of(self.label_map(i), tissue::VENTRICLE)
    }

    /// All lesion masks, `[N, 1, spatial...]`.
    pub fn lesion_masks(&self) -> Vec<u8> {
        mask_of(&self.labels, tissue::LESION)
    }

    /// All ventricle masks, `[N, 1, spatial...]`.
    pub fn ventricle_masks(&self) -> Vec<u8> {
        mask_of(&self.labels, tissue::VENTRICLE)
    }

    /// The pathology classes `[N]`.
    pub fn classes(&self) -> Vec<i64> {
        self.covariates.iter().map(|c| i64::from(c.class)).collect()
    }

    /// Uploads the batch; `D` must be 4 for 2D and 5 for 3D phantoms
    /// (else [`medgen_core::CoreError::InvalidRank`]).
    pub fn to_tensors<const D: usize>(&self, device: &Device) -> Result<PhantomTensors<D>> {
        let shape = self.shape();
        let as_float = |mask: Vec<u8>| mask.into_iter().map(f32::from).collect::<Vec<_>>();
        let mut images = self.images.clone();
        IntensityMapping::unit().forward_in_place(&mut images, "phantom images")?;
        let covariates: Vec<f32> = self.covariates.iter().flat_map(|c| c.vector()).collect();
        Ok(PhantomTensors {
            images: float_tensor(images, &shape, device, "phantom images")?,
            labels: int_tensor(
                self.labels.iter().map(|&l| i64::from(l)).collect(),
                &shape,
                device,
                "phantom labels",
            )?,
            lesion_masks: float_tensor(
                as_float(self.lesion_masks()),
                &shape,
                device,
                "lesion masks",
            )?,
            ventricle_masks: float_tensor(
                as_float(self.ventricle_masks()),
                &shape,
                device,
                "ventricle masks",
            )?,
            classes: int_tensor(self.classes(), &[self.len()], device, "phantom classes")?,
            covariates: float_tensor(
                covariates,
                &[self.len(), PhantomCovariates::DIM],
                device,
                "phantom covariates",
            )?,
        })
    }

    /// An [`ImageDataset`] of the images mapped to [-1, 1] (mapping [`IntensityMapping::unit`]),
    /// with the pathology classes as labels and `[age, ventricle_fraction, lesion_fraction]`
    /// as covariates.
    pub fn to_dataset(&self) -> Result<ImageDataset> {
        let mapping = IntensityMapping::unit();
        let mut images = self.images.clone();
        mapping.forward_in_place(&mut images, "phantom images")?;
        let covariates = self.covariates.iter().flat_map(|c| c.vector()).collect();
        ImageDataset::new(images, self.shape())?
            .with_mapping(mapping)
            .with_labels(self.classes())?
            .with_covariates(covariates, PhantomCovariates::DIM)
    }

    /// The batch as MedMNIST-style arrays for `split`: `uint8` images `N×H×W` (or `N×D×H×W`)
    /// with `round(255 x)`, and `uint8` pathology labels `N×1`; save them with
    /// [`crate::save_npz_medmnist`].
    pub fn to_medmnist(&self, split: MedMnistSplit) -> Result<MedMnistArrays> {
        let mut image_shape = vec![self.len()];
        image_shape.extend_from_slice(&self.spatial);
        let pixels =
            self.images.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        let classes = self.covariates.iter().map(|c| c.class).collect();
        Ok(MedMnistArrays {
            split,
            images: NpyArray::new(image_shape, NpyValues::U8(pixels))?,
            labels: NpyArray::new(vec![self.len(), 1], NpyValues::U8(classes))?,
        })
    }
}

fn mask_of(labels: &[u8], label: u8) -> Vec<u8> {
    labels.iter().map(|&l| u8::from(l == label)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medmnist::{NpzImageConfig, NpzImageSet, save_npz_medmnist};
    use crate::npz::NpzCompression;
    use crate::phantom_config::PhantomConfig;
    use medgen_core::rng::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn tensors_match_the_host_batch() {
        let device = test_device();
        let batch = PhantomConfig::new(8)
            .with_lesion_probability(1.0)
            .generate_batch(2, &mut seeded_rng(4))
            .unwrap();
        let t = batch.to_tensors::<4>(&device).unwrap();
        assert_eq!(t.images.dims(), [2, 1, 8, 8]);
        let images: Vec<f32> = t.images.try_into_vec_as().unwrap();
        for (y, x) in images.iter().zip(&batch.images) {
            assert!((y - (2.0 * x - 1.0)).abs() < 1e-6);
        }
        let lesions: f32 = t.lesion_masks.sum().into_scalar();
        assert_eq!(lesions as usize, batch.lesion_masks().iter().filter(|&&m| m == 1).count());
        let labels: Vec<i64> = t.labels.try_into_vec_as().unwrap();
        assert!(labels.iter().zip(&batch.labels).all(|(a, b)| *a == i64::from(*b)));
        assert_eq!(t.covariates.dims(), [2, PhantomCovariates::DIM]);
        assert!(batch.to_tensors::<5>(&device).is_err());
        let vol = PhantomConfig::new(6).generate_volume_batch(1, &mut seeded_rng(4)).unwrap();
        assert_eq!(vol.to_tensors::<5>(&device).unwrap().images.dims(), [1, 1, 6, 6, 6]);
    }

    #[test]
    fn dataset_and_medmnist_export_round_trip() {
        let batch = PhantomConfig::new(8).generate_batch(3, &mut seeded_rng(6)).unwrap();
        let ds = batch.to_dataset().unwrap();
        assert_eq!(ds.shape(), &[3, 1, 8, 8]);
        assert_eq!(ds.labels().unwrap(), batch.classes().as_slice());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phantoms.npz");
        let train = batch.to_medmnist(MedMnistSplit::Train).unwrap();
        save_npz_medmnist(&path, &[train], NpzCompression::Deflated).unwrap();
        let set = NpzImageSet::load(&path, MedMnistSplit::Train, &NpzImageConfig::new()).unwrap();
        assert_eq!(set.shape, vec![3, 1, 8, 8]);
        for (y, x) in set.images.iter().zip(&batch.images) {
            // uint8 quantisation: |error| <= 0.5 / 255 in [0, 1], doubled in [-1, 1].
            assert!((y - (2.0 * x - 1.0)).abs() <= 1.0 / 255.0 + 1e-6);
        }
    }
}

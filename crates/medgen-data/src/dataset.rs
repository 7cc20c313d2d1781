//! An in-memory data set of images or volumes with optional labels and covariates.

use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;

use super::host_tensor::{float_tensor, int_tensor};
use super::intensity::IntensityMapping;
use medgen_core::check::{ensure_finite_values, ensure_non_empty};
use medgen_core::error::{CoreError, Result};

/// One item of an [`ImageDataset`]: an image `[C, H, W]` or volume `[C, D, H, W]` (flat,
/// C-order `image`, values in [-1, 1]), its class label and its covariate vector.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageItem {
    /// The pixel values, C-order, `shape.iter().product()` of them.
    pub image: Vec<f32>,
    /// `[C, H, W]` or `[C, D, H, W]`.
    pub shape: Vec<usize>,
    /// The class label, if the data set has labels.
    pub label: Option<i64>,
    /// The covariates (e.g. age), if the data set has them.
    pub covariates: Option<Vec<f32>>,
}

/// `N` images `[N, C, H, W]` or volumes `[N, C, D, H, W]` held on the host as `f32` (normally
/// in [-1, 1]), with optional labels (`N` class indices), optional covariates (`[N, K]`) and
/// the [`IntensityMapping`] that maps the images back to raw units.
///
/// It implements Burn's [`Dataset`] (for `DataLoaderBuilder`), and has seeded shuffling,
/// splitting and batching (see `shuffled`, `split` and `batches`) for hand-written loops.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataset {
    images: Vec<f32>,
    shape: Vec<usize>,
    labels: Option<Vec<i64>>,
    covariates: Option<Vec<f32>>,
    covariate_dim: usize,
    mapping: IntensityMapping,
}

impl ImageDataset {
    /// A data set of the C-order `images` of shape `[N, C, H, W]` or `[N, C, D, H, W]`, with
    /// the mapping [`IntensityMapping::unit`] (override with [`Self::with_mapping`]).
    ///
    /// Fails with [`CoreError::InvalidRank`] for another rank, [`CoreError::Empty`] if a
    /// dimension is 0, [`CoreError::ShapeMismatch`] if `images.len()` does not match, and
    /// [`CoreError::NonFinite`] for NaN/Inf.
    pub fn new(images: Vec<f32>, shape: Vec<usize>) -> Result<Self> {
        if !(shape.len() == 4 || shape.len() == 5) {
            return Err(CoreError::InvalidRank {
                what: "data set images ([N, C, H, W] or [N, C, D, H, W])".into(),
                expected: 4,
                got: shape.len(),
            });
        }
        ensure_non_empty(&shape, "data set images")?;
        let expected: usize = shape.iter().product();
        if expected != images.len() {
            return Err(CoreError::shape(
                "data set images",
                format!("{shape:?} ({expected} values)"),
                &[images.len()],
            ));
        }
        ensure_finite_values(&images, "data set images")?;
        Ok(Self {
            images,
            shape,
            labels: None,
            covariates: None,
            covariate_dim: 0,
            mapping: IntensityMapping::unit(),
        })
    }

    /// Attaches one class label per item; fails with [`CoreError::ShapeMismatch`] unless there
    /// are exactly `N` labels, and [`CoreError::InvalidConfig`] for a negative label.
    pub fn with_labels(mut self, labels: Vec<i64>) -> Result<Self> {
        if labels.len() != self.len() {
            return Err(CoreError::shape("labels", format!("[{}]", self.len()), &[labels.len()]));
        }
        if let Some(bad) = labels.iter().find(|&&l| l < 0) {
            return Err(CoreError::config(
                "labels",
                format!("class labels must be >= 0, got {bad}"),
            ));
        }
        self.labels = Some(labels);
        Ok(self)
    }

    /// Attaches `dim` covariates per item (C-order `[N, dim]`); fails with
    /// [`CoreError::ShapeMismatch`] on a length mismatch or `dim == 0`, and
    /// [`CoreError::NonFinite`] for NaN/Inf.
    pub fn with_covariates(mut self, covariates: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || covariates.len() != self.len() * dim {
            return Err(CoreError::shape(
                "covariates",
                format!("[{}, {dim}] with dim >= 1", self.len()),
                &[covariates.len()],
            ));
        }
        ensure_finite_values(&covariates, "covariates")?;
        self.covariates = Some(covariates);
        self.covariate_dim = dim;
        Ok(self)
    }

    /// Replaces the stored intensity mapping (used to map outputs back to raw units).
    pub fn with_mapping(mut self, mapping: IntensityMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// The number of items `N`.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Always `false`: a data set is never empty (construction rejects it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The full shape `[N, C, H, W]` or `[N, C, D, H, W]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The shape of one item, `[C, H, W]` or `[C, D, H, W]`.
    pub fn item_shape(&self) -> &[usize] {
        &self.shape[1..]
    }

    /// All images, C-order.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// The labels, if any.
    pub fn labels(&self) -> Option<&[i64]> {
        self.labels.as_deref()
    }

    /// The covariates `[N, K]` (C-order) and `K`, if any.
    pub fn covariates(&self) -> Option<(&[f32], usize)> {
        self.covariates.as_deref().map(|c| (c, self.covariate_dim))
    }

    /// The intensity mapping from raw units to the stored values.
    pub fn mapping(&self) -> IntensityMapping {
        self.mapping
    }

    /// The number of values in one item, `prod(item_shape)`.
    pub fn item_len(&self) -> usize {
        self.item_shape().iter().product()
    }

    /// Item `index`, or `None` past the end.
    pub fn item(&self, index: usize) -> Option<ImageItem> {
        if index >= self.len() {
            return None;
        }
        let len = self.item_len();
        let dim = self.covariate_dim;
        Some(ImageItem {
            image: self.images[index * len..(index + 1) * len].to_vec(),
            shape: self.item_shape().to_vec(),
            label: self.labels.as_ref().map(|l| l[index]),
            covariates: self
                .covariates
                .as_ref()
                .map(|c| c[index * dim..(index + 1) * dim].to_vec()),
        })
    }

    /// A new data set made of the items at `indices`, in that order (repeats allowed).
    ///
    /// Fails with [`CoreError::Empty`] for no indices and [`CoreError::InvalidConfig`] for an
    /// index `>= N`.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        if indices.is_empty() {
            return Err(CoreError::Empty { what: "selected items".into() });
        }
        if let Some(bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(CoreError::config(
                "index",
                format!("{bad} is out of range for {} items", self.len()),
            ));
        }
        let len = self.item_len();
        let dim = self.covariate_dim;
        let mut images = Vec::with_capacity(indices.len() * len);
        for &i in indices {
            images.extend_from_slice(&self.images[i * len..(i + 1) * len]);
        }
        let mut shape = self.shape.clone();
        shape[0] = indices.len();
        Ok(Self {
            images,
            shape,
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
            covariates: self.covariates.as_ref().map(|c| {
                indices.iter().flat_map(|&i| c[i * dim..(i + 1) * dim].iter().copied()).collect()
            }),
            covariate_dim: dim,
            mapping: self.mapping,
        })
    }

    /// All images as one tensor `[N, C, H, W]` (`D = 4`) or `[N, C, D, H, W]` (`D = 5`).
    ///
    /// Fails with [`CoreError::InvalidRank`] if `D` is not the data set's rank.
    pub fn images_tensor<const D: usize>(&self, device: &Device) -> Result<Tensor<D>> {
        float_tensor(self.images.clone(), &self.shape, device, "data set images")
    }

    /// All labels as an `Int` tensor `[N]`, if any.
    pub fn labels_tensor(&self, device: &Device) -> Option<Tensor<1, Int>> {
        let labels = self.labels.clone()?;
        int_tensor(labels, &[self.len()], device, "labels").ok()
    }
}

impl Dataset<ImageItem> for ImageDataset {
    /// Item `index`; panics if `index >= len()`, as Burn's [`Dataset`] contract states.
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        Ok(self.item(index).unwrap_or_else(|| {
            panic!("Index out of bounds for dataset: {index} >= {}", self.len())
        }))
    }

    fn len(&self) -> usize {
        ImageDataset::len(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn toy() -> ImageDataset {
        // 3 items of [1, 2, 2]; item i holds values 4i..4i+4 scaled.
        let images: Vec<f32> = (0..12).map(|v| v as f32 / 12.0).collect();
        ImageDataset::new(images, vec![3, 1, 2, 2])
            .unwrap()
            .with_labels(vec![0, 1, 2])
            .unwrap()
            .with_covariates(vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0], 2)
            .unwrap()
    }

    #[test]
    fn items_and_selection_keep_images_labels_and_covariates_together() {
        let ds = toy();
        let item = Dataset::get(&ds, 1).unwrap();
        assert_eq!(item.image, vec![4.0 / 12.0, 5.0 / 12.0, 6.0 / 12.0, 7.0 / 12.0]);
        assert_eq!(item.label, Some(1));
        assert_eq!(item.covariates, Some(vec![1.0, 11.0]));
        let sel = ds.select(&[2, 0]).unwrap();
        assert_eq!(sel.shape(), &[2, 1, 2, 2]);
        assert_eq!(sel.labels(), Some(&[2, 0][..]));
        assert_eq!(sel.covariates().unwrap().0, &[2.0, 12.0, 0.0, 10.0]);
        assert_eq!(sel.item(0).unwrap().image, ds.item(2).unwrap().image);
    }

    #[test]
    fn tensors_have_the_data_set_shape() {
        let device = test_device();
        let ds = toy();
        let t = ds.images_tensor::<4>(&device).unwrap();
        assert_eq!(t.dims(), [3, 1, 2, 2]);
        let sum: f32 = t.sum().into_scalar();
        assert!((sum - 66.0 / 12.0).abs() < 1e-5);
        assert!(ds.images_tensor::<5>(&device).is_err());
        let labels: Vec<i64> = ds.labels_tensor(&device).unwrap().try_into_vec_as().unwrap();
        assert_eq!(labels, vec![0, 1, 2]);
    }

    #[test]
    fn bad_construction_is_a_typed_error() {
        assert!(matches!(
            ImageDataset::new(vec![], vec![0, 1, 2, 2]),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            ImageDataset::new(vec![0.0; 4], vec![1, 4]),
            Err(CoreError::InvalidRank { .. })
        ));
        assert!(matches!(
            ImageDataset::new(vec![0.0; 3], vec![1, 1, 2, 2]),
            Err(CoreError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            ImageDataset::new(vec![0.0, 1.0, f32::NAN, 0.0], vec![1, 1, 2, 2]),
            Err(CoreError::NonFinite { .. })
        ));
        assert!(toy().with_labels(vec![1]).is_err());
        assert!(toy().with_labels(vec![0, -1, 2]).is_err());
        assert!(toy().with_covariates(vec![0.0; 3], 2).is_err());
        assert!(toy().select(&[3]).is_err());
        assert!(toy().select(&[]).is_err());
    }
}

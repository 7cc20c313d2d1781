//! Turning [`ImageItem`]s into tensor batches: a Burn [`Batcher`] and a seeded epoch iterator.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use rand::Rng;

use super::dataset::{ImageDataset, ImageItem};
use super::host_tensor::{float_tensor, int_tensor};
use super::split::permutation;
use medgen_core::error::{CoreError, Result};

/// A batch of `B` items on a device.
#[derive(Clone, Debug)]
pub struct ImageBatch<const D: usize> {
    /// Images `[B, C, H, W]` (`D = 4`) or volumes `[B, C, D, H, W]` (`D = 5`).
    pub images: Tensor<D>,
    /// Class labels `[B]`, when every item has one.
    pub labels: Option<Tensor<1, Int>>,
    /// Covariates `[B, K]`, when every item has them.
    pub covariates: Option<Tensor<2>>,
}

/// Stacks [`ImageItem`]s of one shape into an [`ImageBatch`] of rank `D`.
#[derive(Clone, Debug)]
pub struct ImageBatcher<const D: usize> {
    item_shape: Vec<usize>,
}

impl<const D: usize> ImageBatcher<D> {
    /// A batcher for items of `item_shape` (`[C, H, W]` for `D = 4`, `[C, D, H, W]` for `D = 5`).
    ///
    /// Fails with [`CoreError::InvalidRank`] unless `item_shape.len() + 1 == D`.
    pub fn new(item_shape: &[usize]) -> Result<Self> {
        if item_shape.len() + 1 != D {
            return Err(CoreError::InvalidRank {
                what: "batch (items plus a batch axis)".into(),
                expected: D,
                got: item_shape.len() + 1,
            });
        }
        Ok(Self { item_shape: item_shape.to_vec() })
    }

    /// A batcher for the items of `dataset`.
    pub fn for_dataset(dataset: &ImageDataset) -> Result<Self> {
        Self::new(dataset.item_shape())
    }

    /// Builds the batch, or fails with [`CoreError::Empty`] for no items and
    /// [`CoreError::ShapeMismatch`] if an item's shape differs from the batcher's.
    pub fn try_batch(&self, items: Vec<ImageItem>, device: &Device) -> Result<ImageBatch<D>> {
        if items.is_empty() {
            return Err(CoreError::Empty { what: "batch items".into() });
        }
        if let Some(bad) = items.iter().find(|item| item.shape != self.item_shape) {
            return Err(CoreError::shape(
                "batch item",
                format!("{:?}", self.item_shape),
                &bad.shape,
            ));
        }
        let b = items.len();
        let mut shape = vec![b];
        shape.extend_from_slice(&self.item_shape);
        let labels: Option<Vec<i64>> = items.iter().map(|item| item.label).collect();
        let covariates: Option<Vec<Vec<f32>>> =
            items.iter().map(|item| item.covariates.clone()).collect();
        let images: Vec<f32> = items.into_iter().flat_map(|item| item.image).collect();
        let labels =
            labels.map(|l| int_tensor::<1>(l, &[b], device, "batch labels")).transpose()?;
        let covariates = covariates
            .map(|rows| {
                let k = rows[0].len();
                let flat: Vec<f32> = rows.into_iter().flatten().collect();
                float_tensor::<2>(flat, &[b, k], device, "batch covariates")
            })
            .transpose()?;
        Ok(ImageBatch {
            images: float_tensor(images, &shape, device, "batch images")?,
            labels,
            covariates,
        })
    }
}

impl<const D: usize> Batcher<ImageItem, ImageBatch<D>> for ImageBatcher<D> {
    /// [`ImageBatcher::try_batch`] for Burn's data loader.
    ///
    /// # Panics
    /// Panics on an empty or mixed-shape item list: Burn's trait has no error channel, and a
    /// data loader built from one [`ImageDataset`] never produces either.
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch<D> {
        self.try_batch(items, device).unwrap_or_else(|err| panic!("ImageBatcher: {err}"))
    }
}

/// One epoch of shuffled batches of an [`ImageDataset`], built on the host and uploaded lazily
/// (one upload per batch). The last batch holds the remaining `N mod batch_size` items when
/// `N` is not a multiple of the batch size.
pub struct BatchIter<'a, const D: usize> {
    dataset: &'a ImageDataset,
    batcher: ImageBatcher<D>,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    device: Device,
}

impl<const D: usize> Iterator for BatchIter<'_, D> {
    type Item = ImageBatch<D>;

    fn next(&mut self) -> Option<ImageBatch<D>> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let items: Vec<ImageItem> =
            self.order[self.next..end].iter().filter_map(|&i| self.dataset.item(i)).collect();
        self.next = end;
        self.batcher.try_batch(items, &self.device).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl<const D: usize> ExactSizeIterator for BatchIter<'_, D> {}

impl ImageDataset {
    /// One epoch of batches of `batch_size` items in a random order drawn from `rng`, as
    /// tensors of rank `D` on `device` (`[B, C, H, W]` for `D = 4`, `[B, C, D, H, W]` for
    /// `D = 5`).
    ///
    /// Fails with [`CoreError::InvalidConfig`] for `batch_size == 0` and
    /// [`CoreError::InvalidRank`] if `D` does not match the data set.
    pub fn batches<const D: usize, R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut R,
        device: &Device,
    ) -> Result<BatchIter<'_, D>> {
        if batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        Ok(BatchIter {
            dataset: self,
            batcher: ImageBatcher::for_dataset(self)?,
            order: permutation(self.len(), rng),
            batch_size,
            next: 0,
            device: device.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::rng::seeded_rng;
    use medgen_testing::test_device;

    fn numbered(n: usize) -> ImageDataset {
        // Item i is a 1x2x2 image filled with i; covariate = 10 i.
        let images: Vec<f32> = (0..n).flat_map(|i| [i as f32; 4]).collect();
        ImageDataset::new(images, vec![n, 1, 2, 2])
            .unwrap()
            .with_labels((0..n as i64).collect())
            .unwrap()
            .with_covariates((0..n).map(|i| 10.0 * i as f32).collect(), 1)
            .unwrap()
    }

    #[test]
    fn an_epoch_visits_every_item_once_with_its_label() {
        let device = test_device();
        let ds = numbered(7);
        let batches: Vec<ImageBatch<4>> =
            ds.batches(3, &mut seeded_rng(5), &device).unwrap().collect();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[2].images.dims(), [1, 1, 2, 2]);
        let mut seen = Vec::new();
        for batch in batches {
            let images: Vec<f32> = batch.images.try_into_vec_as().unwrap();
            let labels: Vec<i64> = batch.labels.unwrap().try_into_vec_as().unwrap();
            let cov: Vec<f32> = batch.covariates.unwrap().try_into_vec_as().unwrap();
            for (k, &label) in labels.iter().enumerate() {
                assert!(images[4 * k..4 * k + 4].iter().all(|&v| v == label as f32));
                assert_eq!(cov[k], 10.0 * label as f32);
            }
            seen.extend(labels);
        }
        let order = seen.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<i64>>());
        assert_ne!(order, seen, "seed 5 should shuffle");
    }

    #[test]
    fn burn_batcher_stacks_items() {
        let device = test_device();
        let ds = numbered(3);
        let batcher = ImageBatcher::<4>::for_dataset(&ds).unwrap();
        let items = vec![ds.item(2).unwrap(), ds.item(0).unwrap()];
        let batch = Batcher::batch(&batcher, items, &device);
        let images: Vec<f32> = batch.images.try_into_vec_as().unwrap();
        assert_eq!(images, vec![2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn works_with_burns_data_loader() {
        use burn::data::dataloader::DataLoaderBuilder;
        let device = test_device();
        let ds = numbered(5);
        let loader = DataLoaderBuilder::new(ImageBatcher::<4>::for_dataset(&ds).unwrap())
            .batch_size(2)
            .set_device(device)
            .build(ds);
        let sizes: Vec<usize> =
            loader.iter().map(|batch| batch.unwrap().images.dims()[0]).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let device = test_device();
        let ds = numbered(3);
        assert!(matches!(
            ds.batches::<4, _>(0, &mut seeded_rng(0), &device),
            Err(CoreError::InvalidConfig { .. })
        ));
        assert!(matches!(
            ds.batches::<5, _>(2, &mut seeded_rng(0), &device),
            Err(CoreError::InvalidRank { .. })
        ));
        let batcher = ImageBatcher::<4>::new(&[1, 3, 3]).unwrap();
        assert!(batcher.try_batch(vec![], &device).is_err());
        assert!(batcher.try_batch(vec![ds.item(0).unwrap()], &device).is_err());
    }
}

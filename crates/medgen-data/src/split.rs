//! Seeded shuffling and train/validation splits of an [`ImageDataset`].

use rand::{Rng, RngExt};

use super::dataset::ImageDataset;
use medgen_core::error::{CoreError, Result};

/// A uniformly random permutation of `0..n` (Fisher–Yates), drawn from `rng`.
pub fn permutation<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

impl ImageDataset {
    /// A copy with the items in a random order drawn from `rng` (same seed, same order).
    pub fn shuffled<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let order = permutation(self.len(), rng);
        self.select(&order).expect("a permutation of a non-empty data set is a valid selection")
    }

    /// Splits the items at random into `(train, validation)`, with
    /// `n_val = round(val_fraction · N)` validation items; each part keeps the original order
    /// of its items.
    ///
    /// Fails with [`CoreError::InvalidConfig`] if `val_fraction` is not in `(0, 1)` or if
    /// either part would be empty.
    pub fn split<R: Rng + ?Sized>(&self, val_fraction: f64, rng: &mut R) -> Result<(Self, Self)> {
        if val_fraction.is_nan() || val_fraction <= 0.0 || val_fraction >= 1.0 {
            return Err(CoreError::config(
                "val_fraction",
                format!("must lie in (0, 1), got {val_fraction}"),
            ));
        }
        let n = self.len();
        let n_val = (val_fraction * n as f64).round() as usize;
        if n_val == 0 || n_val >= n {
            return Err(CoreError::config(
                "val_fraction",
                format!("{val_fraction} of {n} items leaves an empty train or validation part"),
            ));
        }
        let order = permutation(n, rng);
        let (mut val, mut train) = (order[..n_val].to_vec(), order[n_val..].to_vec());
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.select(&train)?, self.select(&val)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::rng::seeded_rng;

    fn numbered(n: usize) -> ImageDataset {
        let images: Vec<f32> = (0..n).map(|i| i as f32).collect();
        ImageDataset::new(images, vec![n, 1, 1, 1])
            .unwrap()
            .with_labels((0..n as i64).collect())
            .unwrap()
    }

    #[test]
    fn permutation_is_a_seeded_permutation() {
        let p = permutation(50, &mut seeded_rng(3));
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(p, permutation(50, &mut seeded_rng(3)));
        assert_ne!(p, permutation(50, &mut seeded_rng(4)));
        assert_ne!(p, sorted);
    }

    #[test]
    fn shuffle_moves_images_with_their_labels() {
        let ds = numbered(20).shuffled(&mut seeded_rng(1));
        let labels = ds.labels().unwrap();
        for (image, label) in ds.images().iter().zip(labels) {
            assert_eq!(*image, *label as f32);
        }
        assert_ne!(labels, (0..20).collect::<Vec<i64>>().as_slice());
    }

    #[test]
    fn split_partitions_the_items() {
        let ds = numbered(10);
        let (train, val) = ds.split(0.3, &mut seeded_rng(9)).unwrap();
        assert_eq!((train.len(), val.len()), (7, 3));
        let mut all: Vec<i64> = train.labels().unwrap().to_vec();
        all.extend_from_slice(val.labels().unwrap());
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<i64>>());
        let (train2, _) = ds.split(0.3, &mut seeded_rng(9)).unwrap();
        assert_eq!(train, train2);
    }

    #[test]
    fn bad_fractions_are_rejected() {
        let ds = numbered(10);
        for f in [0.0, 1.0, -0.1, 1.5, f64::NAN, 0.01, 0.99] {
            let err = ds.split(f, &mut seeded_rng(0)).unwrap_err();
            assert!(matches!(err, CoreError::InvalidConfig { .. }), "{f}");
        }
    }
}

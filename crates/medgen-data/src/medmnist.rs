//! `.npz` image sets in the MedMNIST layout: `{train,val,test}_{images,labels}`.

use std::path::Path;

use burn::prelude::*;

use super::dataset::ImageDataset;
use super::intensity::{IntensityMapping, IntensityRange};
use super::npy::NpyArray;
use super::npz::{NpzCompression, NpzReader, write_npz};
use medgen_core::error::{CoreError, Result};

/// One of the three MedMNIST splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MedMnistSplit {
    /// `train_images` / `train_labels`.
    Train,
    /// `val_images` / `val_labels`.
    Val,
    /// `test_images` / `test_labels`.
    Test,
}

impl MedMnistSplit {
    /// The key prefix: `train`, `val` or `test`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// The images key, e.g. `train_images`.
    pub fn images_key(self) -> String {
        format!("{}_images", self.prefix())
    }

    /// The labels key, e.g. `train_labels`.
    pub fn labels_key(self) -> String {
        format!("{}_labels", self.prefix())
    }
}

/// Where the channel axis of the stored images is.
#[derive(Config, Debug, PartialEq)]
pub enum ImageLayout {
    /// Rank 3 `N×H×W` has no channel axis; rank 4 is `N×H×W×C` when the last axis has 1, 3
    /// or 4 entries and `N×D×H×W` (volumes, as in the MedMNIST 3D sets) otherwise; rank 5 is
    /// `N×D×H×W×C`.
    Auto,
    /// The last axis holds channels: `N×H×W×C` or `N×D×H×W×C`.
    ChannelsLast,
    /// No channel axis: `N×H×W` or `N×D×H×W`.
    NoChannels,
}

/// Options of [`NpzImageSet::load`].
#[derive(Config, Debug)]
pub struct NpzImageConfig {
    /// Intensity window; `DtypeRange` is the stored integer type's range (`[0, 255]` for
    /// MedMNIST's `uint8`), min/max for floats and wide integers.
    #[config(default = "IntensityRange::DtypeRange")]
    pub intensity: IntensityRange,
    /// Where the channel axis is.
    #[config(default = "ImageLayout::Auto")]
    pub layout: ImageLayout,
}

/// One split of an `.npz` image set: images `[N, C, H, W]` or `[N, C, D, H, W]` in [-1, 1],
/// labels `[N, K]` (`K = 1` for class labels, `K > 1` for multi-label sets such as
/// ChestMNIST), and the [`IntensityMapping`] that maps images back to stored values.
#[derive(Clone, Debug, PartialEq)]
pub struct NpzImageSet {
    /// Images, C-order, mapped to [-1, 1].
    pub images: Vec<f32>,
    /// `[N, C, H, W]` or `[N, C, D, H, W]`.
    pub shape: Vec<usize>,
    /// Labels `[N, label_columns]`, C-order.
    pub labels: Vec<i64>,
    /// `K`, the number of label columns.
    pub label_columns: usize,
    /// The mapping from stored values to [-1, 1].
    pub mapping: IntensityMapping,
}

impl NpzImageSet {
    /// Loads `split` from the MedMNIST-style archive at `path`.
    ///
    /// Fails with [`CoreError::Format`] (naming the file and key) if a key is missing or a
    /// member is corrupt, [`CoreError::InvalidRank`] / [`CoreError::ShapeMismatch`] for images
    /// that are not rank 3 to 5 or labels that are not `N` or `N×K`, [`CoreError::NonFinite`]
    /// for NaN/Inf in float images, and [`CoreError::Empty`] for zero images.
    pub fn load(
        path: impl AsRef<Path>,
        split: MedMnistSplit,
        config: &NpzImageConfig,
    ) -> Result<Self> {
        let path = path.as_ref();
        let mut npz = NpzReader::open(path)?;
        let images_key = split.images_key();
        let labels_key = split.labels_key();
        let images = npz.read(&images_key)?;
        let labels = npz.read(&labels_key)?;
        let what = |key: &str| format!("{}[{key}]", path.display());
        Self::from_arrays(&images, &labels, config, &what(&images_key), &what(&labels_key))
    }

    /// Builds a set from in-memory arrays (see [`Self::load`]); `images_what` and
    /// `labels_what` name them in errors.
    pub fn from_arrays(
        images: &NpyArray,
        labels: &NpyArray,
        config: &NpzImageConfig,
        images_what: &str,
        labels_what: &str,
    ) -> Result<Self> {
        let shape = nchw_shape(images.shape(), &config.layout, images_what)?;
        medgen_core::check::ensure_non_empty(&shape, images_what)?;
        let n = shape[0];
        let label_columns = match labels.shape() {
            [m] if *m == n => 1,
            [m, k] if *m == n && *k >= 1 => *k,
            other => {
                return Err(CoreError::shape(labels_what, format!("[{n}] or [{n}, K]"), other));
            }
        };
        let raw = images.to_f32(images_what)?;
        let mapping = match (&config.intensity, images.dtype().intensity_range()) {
            (IntensityRange::DtypeRange, Some((low, high))) => IntensityMapping::new(low, high)?,
            (range, _) => IntensityMapping::fit(&raw, range, images_what)?,
        };
        // A stored channel axis keeps the rank; a missing one was inserted as C = 1.
        let channels_last = images.shape().len() == shape.len();
        let mut images = if channels_last {
            let spatial: usize = shape[2..].iter().product();
            channels_last_to_first(&raw, n, spatial, shape[1])
        } else {
            raw
        };
        mapping.forward_in_place(&mut images, images_what)?;
        Ok(Self { images, shape, labels: labels.to_i64(labels_what)?, label_columns, mapping })
    }

    /// The number of images `N`.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the set has no images (never true for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The images and labels as an [`ImageDataset`]: single-column labels become class
    /// labels; multi-label sets (`K > 1`) become `K` covariates per item (0/1 values).
    pub fn to_dataset(&self) -> Result<ImageDataset> {
        let dataset =
            ImageDataset::new(self.images.clone(), self.shape.clone())?.with_mapping(self.mapping);
        if self.label_columns == 1 {
            dataset.with_labels(self.labels.clone())
        } else {
            let covariates = self.labels.iter().map(|&l| l as f32).collect();
            dataset.with_covariates(covariates, self.label_columns)
        }
    }
}

/// The `[N, C, spatial...]` shape of stored images of `stored` shape under `layout`.
fn nchw_shape(stored: &[usize], layout: &ImageLayout, what: &str) -> Result<Vec<usize>> {
    let channels_last = match layout {
        ImageLayout::ChannelsLast => true,
        ImageLayout::NoChannels => false,
        ImageLayout::Auto => match stored.len() {
            3 => false,
            4 => matches!(stored[3], 1 | 3 | 4),
            _ => true,
        },
    };
    let spatial_rank = stored.len().saturating_sub(1 + usize::from(channels_last));
    if !(stored.len() >= 3 && (spatial_rank == 2 || spatial_rank == 3)) {
        return Err(CoreError::InvalidRank {
            what: format!("{what} (images N×H×W[×C] or N×D×H×W[×C])"),
            expected: if channels_last { 4 } else { 3 },
            got: stored.len(),
        });
    }
    let mut shape = vec![stored[0]];
    if channels_last {
        shape.push(stored[stored.len() - 1]);
        shape.extend_from_slice(&stored[1..stored.len() - 1]);
    } else {
        shape.push(1);
        shape.extend_from_slice(&stored[1..]);
    }
    Ok(shape)
}

/// `[N, S, C]` (pixel-interleaved) to `[N, C, S]` (planar).
pub(crate) fn channels_last_to_first(
    values: &[f32],
    n: usize,
    spatial: usize,
    c: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for item in 0..n {
        let base = item * spatial * c;
        for s in 0..spatial {
            for ch in 0..c {
                out[base + ch * spatial + s] = values[base + s * c + ch];
            }
        }
    }
    out
}

/// The arrays of one split to save in the MedMNIST layout.
#[derive(Clone, Debug, PartialEq)]
pub struct MedMnistArrays {
    /// Which split.
    pub split: MedMnistSplit,
    /// Images, normally `uint8` `N×H×W` (or `N×H×W×C`).
    pub images: NpyArray,
    /// Labels, normally `N×1`.
    pub labels: NpyArray,
}

/// Saves splits as a MedMNIST-style `.npz` (keys `{split}_images`, `{split}_labels`).
///
/// Fails with [`CoreError::ShapeMismatch`] if a split's images and labels disagree on `N`,
/// [`CoreError::InvalidConfig`] if a split appears twice, and [`CoreError::Io`].
pub fn save_npz_medmnist(
    path: impl AsRef<Path>,
    splits: &[MedMnistArrays],
    compression: NpzCompression,
) -> Result<()> {
    for s in splits {
        let n_images = s.images.shape().first().copied().unwrap_or(0);
        let n_labels = s.labels.shape().first().copied().unwrap_or(0);
        if n_images != n_labels {
            return Err(CoreError::shape(
                s.split.labels_key(),
                format!("[{n_images}, ..] to match {}", s.split.images_key()),
                s.labels.shape(),
            ));
        }
    }
    let keys: Vec<(String, String)> =
        splits.iter().map(|s| (s.split.images_key(), s.split.labels_key())).collect();
    let arrays: Vec<(&str, &NpyArray)> = splits
        .iter()
        .zip(&keys)
        .flat_map(|(s, (ik, lk))| [(ik.as_str(), &s.images), (lk.as_str(), &s.labels)])
        .collect();
    write_npz(path, &arrays, compression)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::NpyValues;

    fn u8_split(split: MedMnistSplit, n: usize, shape: &[usize]) -> MedMnistArrays {
        let len: usize = shape.iter().product();
        MedMnistArrays {
            split,
            images: NpyArray::new(
                shape.to_vec(),
                NpyValues::U8((0..len).map(|v| (v * 17 % 256) as u8).collect()),
            )
            .unwrap(),
            labels: NpyArray::new(vec![n, 1], NpyValues::U8((0..n as u8).collect())).unwrap(),
        }
    }

    #[test]
    fn grey_split_round_trips_through_npz() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mini.npz");
        let train = u8_split(MedMnistSplit::Train, 3, &[3, 2, 2]);
        let test = u8_split(MedMnistSplit::Test, 2, &[2, 2, 2]);
        save_npz_medmnist(&path, &[train.clone(), test], NpzCompression::Deflated).unwrap();
        let set = NpzImageSet::load(&path, MedMnistSplit::Train, &NpzImageConfig::new()).unwrap();
        assert_eq!(set.shape, vec![3, 1, 2, 2]);
        assert_eq!(set.labels, vec![0, 1, 2]);
        assert_eq!(set.label_columns, 1);
        let NpyValues::U8(raw) = train.images.values() else { unreachable!() };
        for (y, &x) in set.images.iter().zip(raw) {
            assert!((y - (2.0 * x as f32 / 255.0 - 1.0)).abs() < 1e-6);
            assert!((set.mapping.inverse_value(*y) - x as f32).abs() < 1e-4);
        }
        let ds = set.to_dataset().unwrap();
        assert_eq!(ds.labels(), Some(&[0, 1, 2][..]));
        let err = NpzImageSet::load(&path, MedMnistSplit::Val, &NpzImageConfig::new()).unwrap_err();
        assert!(err.to_string().contains("val_images"), "{err}");
    }

    #[test]
    fn rgb_images_become_planar_channels() {
        // One 1x2 RGB image: pixels (1,2,3) and (4,5,6) -> planes [1,4], [2,5], [3,6].
        let images =
            NpyArray::new(vec![1, 1, 2, 3], NpyValues::U8(vec![1, 2, 3, 4, 5, 6])).unwrap();
        let labels = NpyArray::new(vec![1], NpyValues::I64(vec![4])).unwrap();
        let cfg =
            NpzImageConfig::new().with_intensity(IntensityRange::Fixed { low: 0.0, high: 10.0 });
        let set = NpzImageSet::from_arrays(&images, &labels, &cfg, "img", "lab").unwrap();
        assert_eq!(set.shape, vec![1, 3, 1, 2]);
        let raw: Vec<f32> = set.images.iter().map(|&y| set.mapping.inverse_value(y)).collect();
        let expected = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        for (r, e) in raw.iter().zip(expected) {
            assert!((r - e).abs() < 1e-5, "{raw:?}");
        }
        // Volumes N×D×H×W (last axis not 1/3/4) keep one channel.
        let vol = NpyArray::new(vec![1, 2, 2, 5], NpyValues::F32(vec![0.5; 20])).unwrap();
        let set =
            NpzImageSet::from_arrays(&vol, &labels, &NpzImageConfig::new(), "v", "l").unwrap();
        assert_eq!(set.shape, vec![1, 1, 2, 2, 5]);
        assert!(set.images.iter().all(|&v| v == 0.0), "constant image maps to 0");
    }

    #[test]
    fn bad_arrays_are_typed_errors() {
        let cfg = NpzImageConfig::new();
        let labels = NpyArray::new(vec![2], NpyValues::U8(vec![0, 1])).unwrap();
        let rank2 = NpyArray::new(vec![2, 4], NpyValues::U8(vec![0; 8])).unwrap();
        assert!(matches!(
            NpzImageSet::from_arrays(&rank2, &labels, &cfg, "i", "l"),
            Err(CoreError::InvalidRank { .. })
        ));
        let images = NpyArray::new(
            vec![2, 2, 2],
            NpyValues::F32(vec![0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0]),
        )
        .unwrap();
        assert!(matches!(
            NpzImageSet::from_arrays(&images, &labels, &cfg, "train_images", "l"),
            Err(CoreError::NonFinite { .. })
        ));
        let ok_images = NpyArray::new(vec![2, 2, 2], NpyValues::U8(vec![0; 8])).unwrap();
        let wrong_n = NpyArray::new(vec![3, 1], NpyValues::U8(vec![0; 3])).unwrap();
        assert!(matches!(
            NpzImageSet::from_arrays(&ok_images, &wrong_n, &cfg, "i", "l"),
            Err(CoreError::ShapeMismatch { .. })
        ));
        let multi = NpyArray::new(vec![2, 3], NpyValues::U8(vec![0, 1, 1, 1, 0, 0])).unwrap();
        let set = NpzImageSet::from_arrays(&ok_images, &multi, &cfg, "i", "l").unwrap();
        let ds = set.to_dataset().unwrap();
        assert_eq!(ds.covariates().unwrap(), (&[0.0, 1.0, 1.0, 1.0, 0.0, 0.0][..], 3));
    }
}

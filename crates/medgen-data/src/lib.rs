//! Data: the synthetic phantom data set, loaders for `.npy`/`.npz` (MedMNIST layout), PNG
//! folders, NIfTI volumes and DICOM files and series, intensity mapping to [-1, 1], and in-memory data sets with
//! seeded shuffling, splitting and batching.
//!
//! ```no_run
//! use medgen_data::{MedMnistSplit, NpzCompression, PhantomConfig, save_npz_medmnist};
//! use medgen_core::seeded_rng;
//! use medgen_testing::test_device;
//!
//! let mut rng = seeded_rng(0);
//! let batch = PhantomConfig::new(64).generate_batch(16, &mut rng)?;
//! let tensors = batch.to_tensors::<4>(&test_device())?; // images [16, 1, 64, 64] in [-1, 1]
//! let train = batch.to_medmnist(MedMnistSplit::Train)?;
//! save_npz_medmnist("phantoms.npz", &[train], NpzCompression::Deflated)?;
//! # Ok::<(), medgen_core::CoreError>(())
//! ```

mod anatomy;
pub mod annotation;
pub mod batcher;
pub mod dataset;
pub mod dicom;
pub mod dicom_error;
pub mod dicom_metadata;
mod dicom_rle;
pub mod dicom_series;
mod host_tensor;
pub mod intensity;
pub mod medmnist;
pub mod nifti;
pub mod npy;
mod npy_header;
pub mod npz;
pub mod paired_phantoms;
pub mod phantom;
pub mod phantom_batch;
pub mod phantom_config;
pub mod png_folder;
pub mod split;

pub use annotation::LesionAnnotations;
pub use batcher::{BatchIter, ImageBatch, ImageBatcher};
pub use dataset::{ImageDataset, ImageItem};
pub use dicom::{DicomImage, decode_dicom, read_dicom};
pub use dicom_error::DicomError;
pub use dicom_metadata::DicomMetadata;
pub use dicom_series::read_dicom_series;
pub use intensity::{IntensityMapping, IntensityRange};
pub use medmnist::{
    ImageLayout, MedMnistArrays, MedMnistSplit, NpzImageConfig, NpzImageSet, save_npz_medmnist,
};
pub use nifti::{
    ByteOrder, NiftiDatatype, NiftiVersion, NiftiVolume, NiftiWriteConfig, decode_nifti,
    encode_nifti, parse_nifti, read_nifti, write_nifti,
};
pub use npy::{NpyArray, NpyDtype, NpyValues, read_npy, read_npy_from, write_npy, write_npy_to};
pub use npz::{NpzCompression, NpzReader, read_npz, read_npz_bytes, write_npz};
pub use paired_phantoms::{
    LowDoseNoise, PairedImages, TissueContrast, contrast_pairs, low_dose_pairs,
};
pub use phantom::{PHANTOM_CLASSES, tissue};
pub use phantom_batch::{PhantomBatch, PhantomCovariates, PhantomTensors};
pub use phantom_config::PhantomConfig;
pub use png_folder::{
    ColorMode, PNG_MAX_INFLATION, PngFolder, PngFolderConfig, PngImage, decode_png,
    decode_png_bytes, load_png_folder,
};
pub use split::permutation;

/// The volume type every volume reader returns (NIfTI files, DICOM files and series): `f32`
/// voxels with `i` fastest, their spacing and affine.
pub type Volume = NiftiVolume;

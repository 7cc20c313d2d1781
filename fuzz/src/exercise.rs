//! One function per parser: arbitrary bytes in, nothing out. Each reads the bytes the way a
//! user's file would be read and, when that succeeds, uses the result the way a loader does
//! (conversions, intensity windows, loading tensors into modules). Any outcome but a panic,
//! an abort or a runaway allocation is a pass: a malformed file must come back as an error.
//!
//! The functions are shared by the libFuzzer targets (`fuzz/fuzz_targets`) and by the stable
//! replay test `tests/suite/fuzz_corpus.rs`, which includes this file with `#[path]`.

use std::path::Path;

use medgen_core::burn::nn::LinearConfig;
use medgen_core::burn::optim::AdamConfig;
use medgen_core::burn::tensor::Device;
use medgen_data::{IntensityRange, NpyArray};
use medgen_train::Checkpoint;

/// The name parse errors carry.
fn origin() -> &'static Path {
    Path::new("fuzz-input")
}

/// Converts a parsed array as the data loaders do (both numeric views).
fn use_array(array: &NpyArray) {
    let _ = array.to_f32("fuzz array");
    let _ = array.to_i64("fuzz array");
    // A parsed array holds exactly the product of its shape (which therefore cannot overflow).
    let len = array.shape().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    assert_eq!(len, Some(array.values().len()), "shape {:?} of {:?}", array.shape(), array.dtype());
}

/// A `.npy` file: `read_npy_from`, then the numeric conversions.
pub fn npy(bytes: &[u8]) {
    if let Ok(array) = medgen_data::read_npy_from(bytes, origin()) {
        use_array(&array);
    }
}

/// A `.npz` archive: every member through the `.npy` reader, then the conversions.
pub fn npz(bytes: &[u8]) {
    if let Ok(arrays) = medgen_data::read_npz_bytes(bytes.to_vec(), origin()) {
        for (_, array) in &arrays {
            use_array(array);
        }
    }
}

/// A `.nii` or `.nii.gz` image: `decode_nifti`, then the shape and a percentile window.
pub fn nifti(bytes: &[u8]) {
    if let Ok(volume) = medgen_data::decode_nifti(bytes, origin()) {
        let _ = volume.shape_3d();
        let _ = volume.intensity_mapping(&IntensityRange::MinMax);
        let _ = volume.intensity_mapping(&IntensityRange::Percentile { lower: 1.0, upper: 99.0 });
    }
}

/// A DICOM file: `decode_dicom`, then the volume's shape, a min/max window and the slice
/// geometry. A decoded image holds exactly `Columns · Rows · frames` voxels.
pub fn dicom(bytes: &[u8]) {
    if let Ok(image) = medgen_data::decode_dicom(bytes, origin()) {
        let volume = &image.volume;
        assert_eq!(volume.data.len(), volume.dims.iter().product::<usize>());
        let _ = volume.shape_3d();
        let _ = volume.intensity_mapping(&IntensityRange::MinMax);
        let _ = (image.metadata.slice_location(), image.metadata.window());
    }
}

/// One PNG folder entry: `decode_png_bytes`.
pub fn png(bytes: &[u8]) {
    if let Ok(image) = medgen_data::decode_png_bytes(bytes, origin()) {
        // A decoded image holds exactly `H · W · C` samples.
        assert_eq!(image.width * image.height * image.channels, image.samples.len());
    }
}

/// A checkpoint: `Checkpoint::from_bytes`, then every stored module loaded into a small
/// `Linear` and every optimiser state into Adam, as a resume does. The bytes are tried as
/// they are and once more with their checksums resealed ([`reseal_checksums`]), so that
/// mutations reach the JSON header and the record decoders behind the CRC checks.
pub fn checkpoint(bytes: &[u8]) {
    load_checkpoint(bytes);
    if let Some(resealed) = reseal_checksums(bytes) {
        load_checkpoint(&resealed);
    }
}

fn load_checkpoint(bytes: &[u8]) {
    let Ok(checkpoint) = Checkpoint::from_bytes(bytes, origin()) else {
        return;
    };
    let _ = (checkpoint.step(), checkpoint.rng(), checkpoint.config(), checkpoint.metadata());
    // The CPU backend, compiled into every build; the parsers never touch a GPU.
    let device = Device::flex();
    let modules: Vec<String> = checkpoint.module_names().map(str::to_string).collect();
    for name in &modules {
        let _ = checkpoint.load_module(name, LinearConfig::new(2, 3).init(&device));
    }
    let optimizers: Vec<String> = checkpoint.optimizer_names().map(str::to_string).collect();
    for name in &optimizers {
        let _ = checkpoint.load_optimizer(name, AdamConfig::new().init());
    }
}

/// CRC-32 (IEEE) as the checkpoint container computes it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// The checkpoint `bytes` with the CRC of every section and of the header recomputed
/// (the layout of `medgen_train`'s container: magic and version, header length `u64`,
/// header CRC `u32`, JSON header listing the sections' lengths and CRCs, section bytes), or
/// `None` when the bytes do not have that shape.
pub fn reseal_checksums(bytes: &[u8]) -> Option<Vec<u8>> {
    let header_len = u64::from_le_bytes(bytes.get(12..20)?.try_into().ok()?);
    let header_end = 24usize.checked_add(usize::try_from(header_len).ok()?)?;
    let mut header: serde_json::Value = serde_json::from_slice(bytes.get(24..header_end)?).ok()?;
    let mut offset = header_end;
    for section in header.get_mut("sections")?.as_array_mut()? {
        let len = usize::try_from(section.get("len")?.as_u64()?).ok()?;
        let end = offset.checked_add(len)?;
        let crc = crc32(bytes.get(offset..end)?);
        *section.get_mut("crc32")? = crc.into();
        offset = end;
    }
    let header = serde_json::to_vec(&header).ok()?;
    let mut resealed = bytes[..12].to_vec();
    resealed.extend_from_slice(&(header.len() as u64).to_le_bytes());
    resealed.extend_from_slice(&crc32(&header).to_le_bytes());
    resealed.extend_from_slice(&header);
    resealed.extend_from_slice(&bytes[header_end..]);
    Some(resealed)
}

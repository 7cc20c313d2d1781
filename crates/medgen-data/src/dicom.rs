//! Reading DICOM images (`.dcm`, single- or multi-frame) into medgen's volume type.
//!
//! A file is parsed with the `dicom-object` crate and its pixel data decoded with
//! `dicom-pixeldata` (the dicom-rs project: pure Rust, the only maintained DICOM stack on
//! crates.io). They are built without default features and with pure-Rust codecs only, so no C
//! library is compiled. Decoded transfer syntaxes:
//!
//! | transfer syntax | UID |
//! |---|---|
//! | Implicit VR Little Endian | `1.2.840.10008.1.2` |
//! | Explicit VR Little Endian | `1.2.840.10008.1.2.1` |
//! | Deflated Explicit VR Little Endian | `1.2.840.10008.1.2.1.99` |
//! | Explicit VR Big Endian (retired) | `1.2.840.10008.1.2.2` |
//! | RLE Lossless (medgen's own decoder, `dicom_rle.rs`: 8, 16 and 32 bits) | `1.2.840.10008.1.2.5` |
//! | JPEG Baseline, Extended, Lossless (`jpeg-decoder`) | `1.2.840.10008.1.2.4.50`, `.51`, `.57`, `.70` |
//!
//! Pixel decoders that panic on a damaged stream are run under `catch_unwind`, so such a file is
//! a [`DicomError::Corrupt`] rather than a crash (the panic message is still printed by the
//! panic hook). One hazard remains in dicom-rs: it allocates the length an element header
//! claims (up to 4 GiB) before finding that the data is shorter, so a damaged header can cost
//! that much memory for an instant before the [`DicomError::Truncated`]. Anything else, notably JPEG-LS (`1.2.840.10008.1.2.4.80/81`, which needs CharLS) and
//! JPEG 2000 (`1.2.840.10008.1.2.4.90/91`, which needs OpenJPEG), is refused with
//! [`DicomError::UnsupportedTransferSyntax`] naming the UID.
//!
//! # Values and layout
//! Each voxel is `v = RescaleSlope · stored + RescaleIntercept` as `f32` (Hounsfield units for
//! CT; [`DicomMetadata`] holds the slope, intercept and the display windows). Signed samples
//! with `BitsStored < BitsAllocated` are sign-extended from bit `BitsStored − 1`. Only
//! grey-scale images are read (`SamplesPerPixel = 1`; 8, 16 or 32 bits allocated, 32 not in
//! JPEG); others are refused with [`DicomError::Unsupported`]. RT dose files are not scaled by
//! `DoseGridScaling`.
//!
//! The result is a [`NiftiVolume`] (alias [`crate::Volume`]) with `dims = [Columns, Rows,
//! frames, 1]`: DICOM stores a frame row by row, so the column index `i` varies fastest, as in
//! NIfTI, and a tensor from [`NiftiVolume::to_tensor_3d`] is `[1, 1, frames, Rows, Columns]`.
//! `spacing = [Δcol, Δrow, Δz, 1]` with `PixelSpacing = (Δrow, Δcol)` and `Δz` from
//! [`DicomMetadata`]'s `SpacingBetweenSlices`, `GridFrameOffsetVector` or `SliceThickness`
//! (series: from the slice positions, see [`crate::dicom_series`]). When the orientation and
//! position are known the volume's `sform` is set to the voxel-to-world affine in NIfTI's RAS
//! frame (DICOM's LPS with x and y negated):
//!
//! `world = diag(−1, −1, 1) · (p + i · Δcol · r + j · Δrow · c + k · Δz · n)`.
//!
//! Frames of a multi-frame file are taken in stored order along `n`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};

use super::dicom_error::DicomError;
use super::dicom_metadata::{DicomMetadata, PIXEL_DATA};
use super::dicom_rle::{RLE_LOSSLESS, decode_rle};
use super::nifti::{ByteOrder, NiftiDatatype, NiftiVersion, NiftiVolume};

/// The largest ratio of decoded to encapsulated pixel bytes accepted: far above what RLE or
/// JPEG reach on real images, low enough that a few bytes cannot claim gigabytes.
const MAX_COMPRESSION_RATIO: usize = 1024;

/// A DICOM image or series: the voxels and the attributes they were read with.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomImage {
    /// The voxels, rescaled to modality units (see the module docs for layout and spacing).
    pub volume: NiftiVolume,
    /// The attributes of the first slice (the file itself for a single file).
    pub metadata: DicomMetadata,
    /// The attributes of every file in slice order: one entry for a single file, one per file
    /// for a series. Rescale slope and intercept may differ from slice to slice; each slice of
    /// [`Self::volume`] was rescaled with its own.
    pub slices: Vec<DicomMetadata>,
}

/// One decoded file: its attributes and its rescaled voxels, frame after frame.
pub(crate) struct DecodedDicom {
    pub(crate) metadata: DicomMetadata,
    pub(crate) values: Vec<f32>,
}

/// Reads one DICOM file (single- or multi-frame) into a volume of `[Columns, Rows, frames]`.
///
/// Fails with [`DicomError::Io`] if the file cannot be read, and as [`decode_dicom`] does.
pub fn read_dicom(path: impl AsRef<Path>) -> Result<DicomImage, DicomError> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|source| DicomError::Io { path: path.into(), source })?;
    decode_dicom(&bytes, path)
}

/// Parses a DICOM file held in memory (a Part 10 file: 128-byte preamble and `DICM`, or `DICM`
/// first); `origin` names it in errors and in [`DicomMetadata::source`].
///
/// Fails with [`DicomError::Truncated`] when the data ends early,
/// [`DicomError::Corrupt`] for bytes that are not a well-formed DICOM file,
/// [`DicomError::UnsupportedTransferSyntax`] for an encoding medgen does not decode (see the
/// module docs), [`DicomError::Unsupported`] for colour, 1-bit or 64-bit images, and
/// [`DicomError::MissingTag`] / [`DicomError::InvalidTag`] for absent or unusable attributes.
pub fn decode_dicom(bytes: &[u8], origin: &Path) -> Result<DicomImage, DicomError> {
    let decoded = decode_file(bytes, origin)?;
    let meta = &decoded.metadata;
    let volume = build_volume(decoded.values, meta, meta.number_of_frames, meta.frame_spacing())?;
    Ok(DicomImage { volume, metadata: decoded.metadata.clone(), slices: vec![decoded.metadata] })
}

/// Parses one file and decodes all its frames to rescaled `f32` values.
pub(crate) fn decode_file(bytes: &[u8], origin: &Path) -> Result<DecodedDicom, DicomError> {
    let corrupt = |reason: String| DicomError::Corrupt { path: origin.into(), reason };
    let body = if bytes.get(128..132) == Some(b"DICM") {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else if bytes.len() < 132 {
        let reason = format!("{} bytes is too short for the preamble and `DICM`", bytes.len());
        return Err(DicomError::Truncated { path: origin.into(), reason });
    } else {
        return Err(corrupt("no `DICM` magic at byte 128 (not a DICOM Part 10 file)".into()));
    };
    // dicom-rs is not written against hostile input; a panic in it is a corrupt file to us.
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        OpenFileOptions::new().read_preamble(ReadPreamble::Never).from_reader(body)
    }))
    .map_err(|panic| corrupt(format!("the DICOM parser failed: {}", panic_message(&*panic))))?;
    let obj = parsed.map_err(|e| read_error(e, origin))?;
    let uid = obj.meta().transfer_syntax().to_string();
    let unsupported = |name: &str| DicomError::UnsupportedTransferSyntax {
        path: origin.into(),
        uid: uid.clone(),
        name: name.to_string(),
    };
    let ts = TransferSyntaxRegistry.get(&uid).ok_or_else(|| unsupported("unknown"))?;
    if !ts.can_decode_all() {
        return Err(unsupported(ts.name()));
    }
    let metadata = DicomMetadata::read(&obj, origin, &uid)?;
    let expected = check_pixel_layout(&obj, &metadata, ts.is_encapsulated_pixel_data())?;
    let decoded = if uid == RLE_LOSSLESS {
        let fragments = obj.get(PIXEL_DATA.tag).and_then(|e| e.fragments()).ok_or_else(|| {
            corrupt("RLE Lossless pixel data is not an encapsulated fragment sequence".into())
        })?;
        let pixels = metadata.rows * metadata.columns;
        let width = usize::from(metadata.bits_allocated / 8);
        decode_rle(fragments, metadata.number_of_frames, pixels, width, origin)?
    } else {
        catch_unwind(AssertUnwindSafe(|| obj.decode_pixel_data().map(|d| d.to_owned().into_data())))
            .map_err(|panic| {
                corrupt(format!("the pixel decoder failed: {}", panic_message(&*panic)))
            })?
            .map_err(|e| {
                let reason = format!("cannot decode the pixel data: {}", error_chain(&e));
                if is_eof(&e) {
                    DicomError::Truncated { path: origin.into(), reason }
                } else {
                    corrupt(reason)
                }
            })?
    };
    if decoded.len() < expected {
        let reason = format!(
            "the pixel data holds {} bytes, {} rows x {} columns x {} frames need {expected}",
            decoded.len(),
            metadata.rows,
            metadata.columns,
            metadata.number_of_frames
        );
        return Err(DicomError::Truncated { path: origin.into(), reason });
    }
    let values = rescaled_values(&decoded[..expected], &metadata);
    Ok(DecodedDicom { metadata, values })
}

/// Checks the image is one medgen reads and that the pixel data can hold it; returns the
/// decoded size in bytes.
fn check_pixel_layout(
    obj: &dicom_object::InMemDicomObject,
    meta: &DicomMetadata,
    compressed: bool,
) -> Result<usize, DicomError> {
    let path = || meta.source.clone();
    let samples = obj
        .get(super::dicom_metadata::SAMPLES_PER_PIXEL.tag)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1);
    if samples != 1 {
        let reason = format!(
            "{samples} samples per pixel ({}): only grey-scale images are read",
            meta.photometric_interpretation
        );
        return Err(DicomError::Unsupported { path: path(), reason });
    }
    if ![8, 16, 32].contains(&meta.bits_allocated) {
        let reason =
            format!("{} bits allocated per pixel (8, 16 or 32 are read)", meta.bits_allocated);
        return Err(DicomError::Unsupported { path: path(), reason });
    }
    if compressed && meta.bits_allocated == 32 && meta.transfer_syntax != RLE_LOSSLESS {
        let reason = format!(
            "32 bits allocated in JPEG pixel data ({}): the JPEG decoder reads 8 and 16 bits",
            meta.transfer_syntax
        );
        return Err(DicomError::Unsupported { path: path(), reason });
    }
    let expected =
        [meta.rows, meta.columns, meta.number_of_frames, meta.bits_allocated as usize / 8]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| DicomError::Corrupt {
                path: path(),
                reason: "the image size overflows".into(),
            })?;
    let element = obj
        .get(PIXEL_DATA.tag)
        .ok_or_else(|| DicomError::MissingTag { path: path(), tag: PIXEL_DATA.name })?;
    if let Some(fragments) = element.fragments() {
        let stored: usize = fragments.iter().map(Vec::len).sum();
        if stored.saturating_mul(MAX_COMPRESSION_RATIO) < expected {
            let reason = format!(
                "{stored} bytes of compressed pixel data cannot hold the {expected} bytes \
                 the header claims"
            );
            return Err(DicomError::Corrupt { path: path(), reason });
        }
    } else if let Some(primitive) = element.value().primitive() {
        let stored = primitive.calculate_byte_len();
        if stored < expected {
            let reason = format!(
                "the pixel data holds {stored} bytes, {} rows x {} columns x {} frames x {} \
                 bytes need {expected}",
                meta.rows,
                meta.columns,
                meta.number_of_frames,
                meta.bits_allocated / 8
            );
            return Err(DicomError::Truncated { path: path(), reason });
        }
    }
    Ok(expected)
}

/// `slope · stored + intercept` for every sample of `bytes` (native byte order, as the
/// decoder leaves them).
fn rescaled_values(bytes: &[u8], meta: &DicomMetadata) -> Vec<f32> {
    let (slope, intercept) = (meta.rescale_slope, meta.rescale_intercept);
    let width = meta.bits_allocated as usize / 8;
    let extend = meta.signed && meta.bits_stored < meta.bits_allocated;
    let stored_bits = u32::from(meta.bits_stored);
    bytes
        .chunks_exact(width)
        .map(|b| {
            let raw: i64 = match (width, meta.signed) {
                (1, false) => i64::from(b[0]),
                (1, true) => i64::from(b[0] as i8),
                (2, false) => i64::from(u16::from_ne_bytes([b[0], b[1]])),
                (2, true) => i64::from(i16::from_ne_bytes([b[0], b[1]])),
                (_, false) => i64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
                (_, true) => i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            };
            let stored = if extend {
                // Keep the low `BitsStored` bits and read them as two's complement.
                let low = raw & ((1i64 << stored_bits) - 1);
                if low >> (stored_bits - 1) == 1 { low - (1i64 << stored_bits) } else { low }
            } else {
                raw
            };
            (slope * stored as f64 + intercept) as f32
        })
        .collect()
}

/// The volume of `frames` slices of `meta`'s size holding `values`, `dz` apart.
pub(crate) fn build_volume(
    values: Vec<f32>,
    meta: &DicomMetadata,
    frames: usize,
    dz: f64,
) -> Result<NiftiVolume, DicomError> {
    let [dx, dy] = meta.in_plane_spacing();
    let datatype = match (meta.bits_allocated, meta.signed) {
        (8, false) => NiftiDatatype::U8,
        (8, true) => NiftiDatatype::I8,
        (16, false) => NiftiDatatype::U16,
        (16, true) => NiftiDatatype::I16,
        (_, false) => NiftiDatatype::U32,
        (_, true) => NiftiDatatype::I32,
    };
    let sform = match (meta.image_orientation, meta.image_position, meta.slice_normal()) {
        (Some(o), Some(p), Some(n)) => Some(std::array::from_fn(|axis| {
            // RAS = diag(-1, -1, 1) · LPS.
            let flip = if axis < 2 { -1.0 } else { 1.0 };
            [flip * o[axis] * dx, flip * o[3 + axis] * dy, flip * n[axis] * dz, flip * p[axis]]
        })),
        _ => None,
    };
    let spacing = [dx as f32, dy as f32, dz as f32, 1.0];
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(DicomError::InvalidTag {
            path: meta.source.clone(),
            tag: super::dicom_metadata::PIXEL_SPACING.name,
            reason: format!("the voxel spacing {spacing:?} is not finite and positive in f32"),
        });
    }
    debug_assert_eq!(values.len(), meta.columns * meta.rows * frames);
    Ok(NiftiVolume {
        data: values,
        dims: [meta.columns, meta.rows, frames, 1],
        ndim: 3,
        spacing,
        datatype,
        version: NiftiVersion::One,
        byte_order: ByteOrder::Little,
        sform,
    })
}

/// Maps dicom-object's read errors onto the typed variants.
fn read_error(err: dicom_object::ReadError, origin: &Path) -> DicomError {
    use dicom_object::ReadError as E;
    let path = origin.to_path_buf();
    match err {
        E::ReadUnrecognizedTransferSyntax { uid, .. } => {
            let uid = uid.trim_end_matches(|c: char| c == '\0' || c.is_whitespace()).to_string();
            DicomError::UnsupportedTransferSyntax { path, uid, name: "unknown".into() }
        }
        E::ReadUnsupportedTransferSyntax { uid, name, .. }
        | E::ReadUnsupportedTransferSyntaxWithSuggestion { uid, name, .. } => {
            DicomError::UnsupportedTransferSyntax { path, uid: uid.into(), name: name.into() }
        }
        other if is_eof(&other) => DicomError::Truncated { path, reason: error_chain(&other) },
        other => DicomError::Corrupt { path, reason: error_chain(&other) },
    }
}

/// The error's message followed by those of its sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = e.source();
    }
    message
}

/// Whether the data ran out: an `UnexpectedEof` I/O error anywhere in the chain.
fn is_eof(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("unexpected end of") || text.contains("failed to fill whole buffer") {
            return true;
        }
        current = e.source();
    }
    false
}

/// The text a panic carried, for the error message.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

//! Reading and writing NIfTI-1 and NIfTI-2 volumes (`.nii`, `.nii.gz`).
//!
//! The header is parsed here (no external NIfTI crate); gzip goes through `flate2`. The byte
//! order is detected from `sizeof_hdr` (348 or 540, possibly byte-swapped), and both
//! single-file magics `n+1` and `n+2` are read. Two-file `.hdr/.img` pairs are not supported.
//!
//! # Axis order
//! NIfTI stores voxel `(i, j, k, t)` at linear index `i + nx (j + ny (k + nz t))`: `i` varies
//! fastest. Read as a C-order array this is `[t][k][j][i]`, so medgen's tensors use
//! **`D = k` (slices), `H = j` (rows), `W = i` (columns)** and no data is reordered:
//! a 3D volume becomes `[1, 1, nz, ny, nx]`, a 4D series `[nt, 1, nz, ny, nx]`, and axial slices
//! (constant `k`) `[nz, 1, ny, nx]`.

use std::io::{Read, Write};
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::host_tensor::float_tensor;
use super::intensity::{IntensityMapping, IntensityRange};
use medgen_core::error::{CoreError, Result};

/// A voxel data type, with its NIfTI `datatype` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NiftiDatatype {
    /// `DT_UINT8` (2).
    U8,
    /// `DT_INT8` (256).
    I8,
    /// `DT_INT16` (4).
    I16,
    /// `DT_UINT16` (512).
    U16,
    /// `DT_INT32` (8).
    I32,
    /// `DT_UINT32` (768).
    U32,
    /// `DT_INT64` (1024).
    I64,
    /// `DT_UINT64` (1280).
    U64,
    /// `DT_FLOAT32` (16).
    F32,
    /// `DT_FLOAT64` (64).
    F64,
}

impl NiftiDatatype {
    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            Self::U8 => 2,
            Self::I16 => 4,
            Self::I32 => 8,
            Self::F32 => 16,
            Self::F64 => 64,
            Self::I8 => 256,
            Self::U16 => 512,
            Self::U32 => 768,
            Self::I64 => 1024,
            Self::U64 => 1280,
        }
    }

    /// The type with NIfTI code `code`, if supported.
    pub fn from_code(code: i16) -> Option<Self> {
        [
            Self::U8,
            Self::I8,
            Self::I16,
            Self::U16,
            Self::I32,
            Self::U32,
            Self::I64,
            Self::U64,
            Self::F32,
            Self::F64,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// The representable range of an integer type, `None` for floats.
    fn integer_range(self) -> Option<(f64, f64)> {
        Some(match self {
            Self::U8 => (0.0, u8::MAX as f64),
            Self::I8 => (i8::MIN as f64, i8::MAX as f64),
            Self::I16 => (i16::MIN as f64, i16::MAX as f64),
            Self::U16 => (0.0, u16::MAX as f64),
            Self::I32 => (i32::MIN as f64, i32::MAX as f64),
            Self::U32 => (0.0, u32::MAX as f64),
            Self::I64 => (i64::MIN as f64, i64::MAX as f64),
            Self::U64 => (0.0, u64::MAX as f64),
            Self::F32 | Self::F64 => return None,
        })
    }
}

/// The NIfTI header version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NiftiVersion {
    /// NIfTI-1: 348-byte header, magic `n+1`.
    One,
    /// NIfTI-2: 540-byte header, magic `n+2`, 64-bit dimensions and double-precision fields.
    Two,
}

/// The byte order of a file's header and voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ByteOrder {
    /// Little-endian (what almost every writer produces).
    Little,
    /// Big-endian.
    Big,
}

/// A NIfTI volume with voxel values as `f32`, after `scl_slope`/`scl_inter` scaling.
///
/// `data` is in NIfTI order (`i` fastest; see the module docs for the tensor axis order).
/// Integer voxels wider than 24 bits may lose precision in `f32`. NaN voxels in float files are
/// kept as read; [`NiftiVolume::intensity_mapping`] rejects them.
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiVolume {
    /// Voxel values `v = scl_slope · stored + scl_inter` (or `stored` when the slope is 0).
    pub data: Vec<f32>,
    /// `[nx, ny, nz, nt]` (`dim[1..=4]`, padded with 1 beyond `ndim`).
    pub dims: [usize; 4],
    /// The number of dimensions in the header, `dim[0]` (1 to 4).
    pub ndim: usize,
    /// Voxel spacing `pixdim[1..=4]` (mm and s in the usual units; padded with 1).
    pub spacing: [f32; 4],
    /// The stored voxel type.
    pub datatype: NiftiDatatype,
    /// The header version the volume was read from.
    pub version: NiftiVersion,
    /// The byte order it was read from.
    pub byte_order: ByteOrder,
    /// The `sform` affine rows (`srow_x`, `srow_y`, `srow_z`) when `sform_code > 0`.
    pub sform: Option<[[f64; 4]; 3]>,
}

/// Byte offsets and field widths of one header version.
struct Layout {
    size: usize,
    magic_at: usize,
    magic: &'static [u8],
    datatype_at: usize,
    bitpix_at: usize,
    dim_at: usize,
    /// Width of `dim[]` entries (2 or 8) and of the `qform_code`/`sform_code` pair (2 or 4).
    int_width: usize,
    code_width: usize,
    /// Width of `pixdim`, `scl_*`, `srow_*` (4 or 8).
    float_width: usize,
    pixdim_at: usize,
    vox_offset_at: usize,
    scl_slope_at: usize,
    scl_inter_at: usize,
    sform_code_at: usize,
    srow_at: usize,
}

const NIFTI1: Layout = Layout {
    size: 348,
    magic_at: 344,
    magic: b"n+1\0",
    datatype_at: 70,
    bitpix_at: 72,
    dim_at: 40,
    int_width: 2,
    code_width: 2,
    float_width: 4,
    pixdim_at: 76,
    vox_offset_at: 108,
    scl_slope_at: 112,
    scl_inter_at: 116,
    sform_code_at: 254,
    srow_at: 280,
};

const NIFTI2: Layout = Layout {
    size: 540,
    magic_at: 4,
    magic: b"n+2\0\r\n\x1a\n",
    datatype_at: 12,
    bitpix_at: 14,
    dim_at: 16,
    int_width: 8,
    code_width: 4,
    float_width: 8,
    pixdim_at: 104,
    vox_offset_at: 168,
    scl_slope_at: 176,
    scl_inter_at: 184,
    sform_code_at: 348,
    srow_at: 400,
};

impl Layout {
    fn of(version: NiftiVersion) -> &'static Layout {
        match version {
            NiftiVersion::One => &NIFTI1,
            NiftiVersion::Two => &NIFTI2,
        }
    }
}

/// Reads fixed-width numbers from a byte buffer in one byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    order: ByteOrder,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[at..at + N]);
        if self.order == ByteOrder::Big {
            out.reverse();
        }
        out
    }

    /// A signed integer of `width` bytes (1, 2, 4 or 8).
    fn int(&self, at: usize, width: usize) -> i64 {
        match width {
            1 => i64::from(self.bytes[at] as i8),
            2 => i64::from(i16::from_le_bytes(self.array(at))),
            4 => i64::from(i32::from_le_bytes(self.array(at))),
            _ => i64::from_le_bytes(self.array(at)),
        }
    }

    /// A float of `width` bytes (4 or 8).
    fn float(&self, at: usize, width: usize) -> f64 {
        match width {
            4 => f64::from(f32::from_le_bytes(self.array(at))),
            _ => f64::from_le_bytes(self.array(at)),
        }
    }

    /// Voxel `index` of type `t` starting at byte `start`, as `f64`.
    fn voxel(&self, start: usize, index: usize, t: NiftiDatatype) -> f64 {
        let at = start + index * t.size();
        match t {
            NiftiDatatype::U8 => f64::from(self.bytes[at]),
            NiftiDatatype::I8 => f64::from(self.bytes[at] as i8),
            NiftiDatatype::I16 => f64::from(i16::from_le_bytes(self.array(at))),
            NiftiDatatype::U16 => f64::from(u16::from_le_bytes(self.array(at))),
            NiftiDatatype::I32 => f64::from(i32::from_le_bytes(self.array(at))),
            NiftiDatatype::U32 => f64::from(u32::from_le_bytes(self.array(at))),
            NiftiDatatype::I64 => i64::from_le_bytes(self.array(at)) as f64,
            NiftiDatatype::U64 => u64::from_le_bytes(self.array(at)) as f64,
            NiftiDatatype::F32 => f64::from(f32::from_le_bytes(self.array(at))),
            NiftiDatatype::F64 => f64::from_le_bytes(self.array(at)),
        }
    }
}

/// Writes fixed-width numbers into a byte buffer in one byte order.
struct FieldWriter {
    bytes: Vec<u8>,
    order: ByteOrder,
}

impl FieldWriter {
    fn put(&mut self, at: usize, mut le_bytes: Vec<u8>) {
        if self.order == ByteOrder::Big {
            le_bytes.reverse();
        }
        self.bytes[at..at + le_bytes.len()].copy_from_slice(&le_bytes);
    }

    fn int(&mut self, at: usize, width: usize, v: i64) {
        let bytes = match width {
            2 => (v as i16).to_le_bytes().to_vec(),
            4 => (v as i32).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        };
        self.put(at, bytes);
    }

    fn float(&mut self, at: usize, width: usize, v: f64) {
        let bytes = match width {
            4 => (v as f32).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        };
        self.put(at, bytes);
    }

    /// Appends voxel `q` (already rounded and in range for integer types) as type `t`.
    fn push_voxel(&mut self, q: f64, t: NiftiDatatype) {
        let mut bytes = match t {
            NiftiDatatype::U8 => vec![q as u8],
            NiftiDatatype::I8 => vec![(q as i8) as u8],
            NiftiDatatype::I16 => (q as i16).to_le_bytes().to_vec(),
            NiftiDatatype::U16 => (q as u16).to_le_bytes().to_vec(),
            NiftiDatatype::I32 => (q as i32).to_le_bytes().to_vec(),
            NiftiDatatype::U32 => (q as u32).to_le_bytes().to_vec(),
            NiftiDatatype::I64 => (q as i64).to_le_bytes().to_vec(),
            NiftiDatatype::U64 => (q as u64).to_le_bytes().to_vec(),
            NiftiDatatype::F32 => (q as f32).to_le_bytes().to_vec(),
            NiftiDatatype::F64 => q.to_le_bytes().to_vec(),
        };
        if self.order == ByteOrder::Big {
            bytes.reverse();
        }
        self.bytes.extend_from_slice(&bytes);
    }
}

/// Reads a `.nii` or `.nii.gz` file (gzip is detected from the content, not the name).
///
/// Fails with [`CoreError::Io`] if the file cannot be read and [`CoreError::Format`] naming the
/// file for a bad `sizeof_hdr` or magic, unsupported datatype, invalid dimensions, or data
/// shorter than the header promises (truncation).
pub fn read_nifti(path: impl AsRef<Path>) -> Result<NiftiVolume> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    decode_nifti(&raw, path)
}

/// Parses a NIfTI-1 or NIfTI-2 image held in memory, gzip-compressed (`.nii.gz`, detected by
/// the gzip magic `1f 8b`) or not; `origin` names it in errors.
///
/// Fails with [`CoreError::Format`] as [`read_nifti`] does, and for a broken gzip stream.
pub fn decode_nifti(raw: &[u8], origin: &Path) -> Result<NiftiVolume> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| CoreError::format("NIfTI", origin, format!("bad gzip stream: {e}")))?;
        parse_nifti(&out, origin)
    } else {
        parse_nifti(raw, origin)
    }
}

/// Parses an uncompressed NIfTI-1 or NIfTI-2 image held in memory; `origin` names it in errors.
pub fn parse_nifti(bytes: &[u8], origin: &Path) -> Result<NiftiVolume> {
    let bad = |reason: String| CoreError::format("NIfTI", origin, reason);
    if bytes.len() < 4 {
        return Err(bad(format!("{} bytes is too short for a header", bytes.len())));
    }
    let sizeof_hdr = |order| Fields { bytes, order }.int(0, 4);
    let (version, order) = match (sizeof_hdr(ByteOrder::Little), sizeof_hdr(ByteOrder::Big)) {
        (348, _) => (NiftiVersion::One, ByteOrder::Little),
        (540, _) => (NiftiVersion::Two, ByteOrder::Little),
        (_, 348) => (NiftiVersion::One, ByteOrder::Big),
        (_, 540) => (NiftiVersion::Two, ByteOrder::Big),
        (le, _) => return Err(bad(format!("sizeof_hdr is {le}, expected 348 or 540"))),
    };
    let layout = Layout::of(version);
    if bytes.len() < layout.size {
        return Err(bad(format!("truncated header: {} of {} bytes", bytes.len(), layout.size)));
    }
    let magic = &bytes[layout.magic_at..layout.magic_at + 4];
    if magic != &layout.magic[..4] {
        let hint = if magic == b"ni1\0" || magic == b"ni2\0" {
            " (two-file .hdr/.img NIfTI is not supported)"
        } else {
            ""
        };
        return Err(bad(format!("bad magic {magic:?}{hint}")));
    }
    let f = Fields { bytes, order };
    let code = f.int(layout.datatype_at, 2) as i16;
    let datatype = NiftiDatatype::from_code(code)
        .ok_or_else(|| bad(format!("unsupported datatype {code}")))?;
    let bitpix = f.int(layout.bitpix_at, 2);
    if bitpix != 8 * datatype.size() as i64 {
        return Err(bad(format!("bitpix {bitpix} does not match datatype {datatype:?}")));
    }
    let dim: Vec<i64> =
        (0..8).map(|k| f.int(layout.dim_at + k * layout.int_width, layout.int_width)).collect();
    let ndim = dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(bad(format!("dim[0] = {ndim} must be in 1..=7")));
    }
    let ndim = ndim as usize;
    if let Some(k) = (1..=ndim).find(|&k| dim[k] < 1) {
        return Err(bad(format!("dim[{k}] = {} must be >= 1", dim[k])));
    }
    if let Some(k) = (5..=ndim).find(|&k| dim[k] != 1) {
        return Err(bad(format!("dim[{k}] = {}: only up to 4 dimensions are supported", dim[k])));
    }
    let mut dims = [1usize; 4];
    let mut spacing = [1f32; 4];
    for k in 1..=ndim.min(4) {
        dims[k - 1] = usize::try_from(dim[k]).map_err(|_| bad("dimension too large".into()))?;
        let p = f.float(layout.pixdim_at + k * layout.float_width, layout.float_width) as f32;
        spacing[k - 1] = p;
    }
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("voxel count overflows".into()))?;
    let vox_offset = match version {
        NiftiVersion::One => f.float(layout.vox_offset_at, 4),
        NiftiVersion::Two => f.int(layout.vox_offset_at, 8) as f64,
    };
    if vox_offset.is_nan() || vox_offset < layout.size as f64 || vox_offset.fract() != 0.0 {
        return Err(bad(format!("vox_offset {vox_offset} must be an integer >= {}", layout.size)));
    }
    let start = vox_offset as usize;
    let needed = count
        .checked_mul(datatype.size())
        .and_then(|n| n.checked_add(start))
        .ok_or_else(|| bad("data size overflows".into()))?;
    if bytes.len() < needed {
        return Err(bad(format!("truncated data: {} bytes, header needs {needed}", bytes.len())));
    }
    let slope = f.float(layout.scl_slope_at, layout.float_width);
    let inter = f.float(layout.scl_inter_at, layout.float_width);
    let (slope, inter) = if slope == 0.0 || !slope.is_finite() || !inter.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, inter)
    };
    let data = (0..count).map(|i| (slope * f.voxel(start, i, datatype) + inter) as f32).collect();
    let sform = (f.int(layout.sform_code_at, layout.code_width) > 0).then(|| {
        std::array::from_fn(|row| {
            std::array::from_fn(|col| {
                let at = layout.srow_at + (4 * row + col) * layout.float_width;
                f.float(at, layout.float_width)
            })
        })
    });
    Ok(NiftiVolume {
        data,
        dims,
        ndim: ndim.min(4),
        spacing,
        datatype,
        version,
        byte_order: order,
        sform,
    })
}

impl NiftiVolume {
    /// A float32 volume of `dims = [nx, ny, nz, nt]` (NIfTI order, `i` fastest) and `spacing`,
    /// e.g. to save a result. `ndim` is the highest axis with more than one voxel (at least 3).
    ///
    /// Fails with [`CoreError::ShapeMismatch`] if `data.len() != nx·ny·nz·nt`,
    /// [`CoreError::Empty`] for a zero dimension, and [`CoreError::InvalidConfig`] for a
    /// spacing that is not finite and positive.
    pub fn new(data: Vec<f32>, dims: [usize; 4], spacing: [f32; 4]) -> Result<Self> {
        medgen_core::check::ensure_non_empty(&dims, "NIfTI dims")?;
        if data.len() != dims.iter().product::<usize>() {
            return Err(CoreError::shape("NIfTI data", format!("{dims:?}"), &[data.len()]));
        }
        if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(CoreError::config(
                "spacing",
                format!("must be finite and positive, got {spacing:?}"),
            ));
        }
        let ndim = if dims[3] > 1 { 4 } else { 3 };
        Ok(Self {
            data,
            dims,
            ndim,
            spacing,
            datatype: NiftiDatatype::F32,
            version: NiftiVersion::One,
            byte_order: ByteOrder::Little,
            sform: None,
        })
    }

    /// A volume from a tensor `[1, 1, D, H, W]` (`D = nz`, `H = ny`, `W = nx`) and the spacing
    /// `[dx, dy, dz]` of its `i, j, k` axes; reads the tensor back to the host.
    pub fn from_tensor_3d(tensor: Tensor<5>, spacing: [f32; 3]) -> Result<Self> {
        let [n, c, d, h, w] = tensor.dims();
        if n != 1 || c != 1 {
            return Err(CoreError::shape("NIfTI tensor", "[1, 1, D, H, W]", &[n, c, d, h, w]));
        }
        let data = medgen_core::read_values::<f32, 5, _>(tensor, "NIfTI tensor")?;
        Self::new(data, [w, h, d, 1], [spacing[0], spacing[1], spacing[2], 1.0])
    }

    /// `[nz, ny, nx]`, the `[D, H, W]` of one time point.
    pub fn shape_3d(&self) -> [usize; 3] {
        [self.dims[2], self.dims[1], self.dims[0]]
    }

    /// The volume as a tensor `[1, 1, nz, ny, nx]`.
    ///
    /// Fails with [`CoreError::InvalidRank`] for a 4D series with `nt > 1` (use
    /// [`Self::to_tensor_series`]).
    pub fn to_tensor_3d(&self, device: &Device) -> Result<Tensor<5>> {
        if self.dims[3] > 1 {
            return Err(CoreError::InvalidRank {
                what: format!("NIfTI volume with {} time points", self.dims[3]),
                expected: 3,
                got: 4,
            });
        }
        let [d, h, w] = self.shape_3d();
        float_tensor(self.data.clone(), &[1, 1, d, h, w], device, "NIfTI volume")
    }

    /// All time points as a batch of volumes `[nt, 1, nz, ny, nx]` (`nt = 1` for 3D files).
    pub fn to_tensor_series(&self, device: &Device) -> Result<Tensor<5>> {
        let [d, h, w] = self.shape_3d();
        float_tensor(self.data.clone(), &[self.dims[3], 1, d, h, w], device, "NIfTI series")
    }

    /// Axial slices (constant `k`) as a batch of images `[nt · nz, 1, ny, nx]`, time-major.
    pub fn axial_slices(&self, device: &Device) -> Result<Tensor<4>> {
        let [d, h, w] = self.shape_3d();
        float_tensor(self.data.clone(), &[self.dims[3] * d, 1, h, w], device, "NIfTI slices")
    }

    /// The intensity window of the voxels chosen by `range` (`DtypeRange` uses the stored
    /// integer type's range for 8- and 16-bit data without scaling, else min/max); fails with
    /// [`CoreError::NonFinite`] if a voxel is NaN/Inf.
    pub fn intensity_mapping(&self, range: &IntensityRange) -> Result<IntensityMapping> {
        if matches!(range, IntensityRange::DtypeRange)
            && self.datatype.size() <= 2
            && let Some((low, high)) = self.datatype.integer_range()
        {
            let (lo, hi) = self
                .data
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            medgen_core::check::ensure_finite_values(&[lo, hi], "NIfTI voxels")?;
            if lo >= low as f32 && hi <= high as f32 {
                return IntensityMapping::new(low as f32, high as f32);
            }
        }
        IntensityMapping::fit(&self.data, range, "NIfTI voxels")
    }
}

/// How [`write_nifti`] stores a volume.
#[derive(Config, Debug)]
pub struct NiftiWriteConfig {
    /// Voxel type. Integer types store `q = round((v - inter) / slope)` with `slope = 1,
    /// inter = 0` when every value is an integer in range, else the affine map of
    /// `[min, max]` onto the type's range (written to `scl_slope`/`scl_inter`).
    #[config(default = "NiftiDatatype::F32")]
    pub datatype: NiftiDatatype,
    /// Header version.
    #[config(default = "NiftiVersion::One")]
    pub version: NiftiVersion,
    /// Byte order.
    #[config(default = "ByteOrder::Little")]
    pub byte_order: ByteOrder,
}

/// Writes `volume` to `path`, gzip-compressed when the name ends in `.gz`.
///
/// The header holds `dim`, `pixdim`, `scl_slope`/`scl_inter`, the `sform` (when the volume has
/// one, else `qform_code = sform_code = 0`) and `xyzt_units` = mm and s. Fails with
/// [`CoreError::NonFinite`] for NaN/Inf voxels stored as integers and [`CoreError::Io`].
pub fn write_nifti(
    path: impl AsRef<Path>,
    volume: &NiftiVolume,
    config: &NiftiWriteConfig,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_nifti(volume, config)?;
    let io = |e| CoreError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if gz {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        enc.write_all(&bytes).map_err(io)?;
        enc.finish().map_err(io)?.flush().map_err(io)
    } else {
        let mut file = file;
        file.write_all(&bytes).map_err(io)
    }
}

/// Encodes `volume` as a single-file NIfTI image in memory.
pub fn encode_nifti(volume: &NiftiVolume, config: &NiftiWriteConfig) -> Result<Vec<u8>> {
    let layout = Layout::of(config.version);
    let t = config.datatype;
    let (slope, inter) = storage_scaling(&volume.data, t)?;
    let vox_offset = layout.size + 4;
    let mut w = FieldWriter { bytes: vec![0u8; vox_offset], order: config.byte_order };
    w.int(0, 4, layout.size as i64);
    w.bytes[layout.magic_at..layout.magic_at + layout.magic.len()].copy_from_slice(layout.magic);
    w.int(layout.datatype_at, 2, i64::from(t.code()));
    w.int(layout.bitpix_at, 2, 8 * t.size() as i64);
    let ndim = volume.ndim.clamp(1, 4);
    w.int(layout.dim_at, layout.int_width, ndim as i64);
    for k in 1..8 {
        let d = if k <= ndim { volume.dims[k - 1] as i64 } else { 1 };
        w.int(layout.dim_at + k * layout.int_width, layout.int_width, d);
    }
    // pixdim[0] is qfac: 1 for a right-handed frame.
    w.float(layout.pixdim_at, layout.float_width, 1.0);
    for k in 1..8 {
        let p = if k <= 4 { f64::from(volume.spacing[k - 1]) } else { 1.0 };
        w.float(layout.pixdim_at + k * layout.float_width, layout.float_width, p);
    }
    match config.version {
        NiftiVersion::One => w.float(layout.vox_offset_at, 4, vox_offset as f64),
        NiftiVersion::Two => w.int(layout.vox_offset_at, 8, vox_offset as i64),
    }
    w.float(layout.scl_slope_at, layout.float_width, slope);
    w.float(layout.scl_inter_at, layout.float_width, inter);
    // xyzt_units: NIFTI_UNITS_MM (2) | NIFTI_UNITS_SEC (8).
    match config.version {
        NiftiVersion::One => w.bytes[123] = 10,
        NiftiVersion::Two => w.int(500, 4, 10),
    }
    if let Some(rows) = volume.sform {
        w.int(layout.sform_code_at, layout.code_width, 1);
        for (r, row) in rows.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                w.float(layout.srow_at + (4 * r + c) * layout.float_width, layout.float_width, v);
            }
        }
    }
    w.bytes.reserve(volume.data.len() * t.size());
    for &v in &volume.data {
        let stored = (f64::from(v) - inter) / slope;
        let q = match t.integer_range() {
            Some((lo, hi)) => stored.round().clamp(lo, hi),
            None => stored,
        };
        w.push_voxel(q, t);
    }
    Ok(w.bytes)
}

/// `(scl_slope, scl_inter)` for storing `data` as `t` (see [`NiftiWriteConfig::datatype`]).
fn storage_scaling(data: &[f32], t: NiftiDatatype) -> Result<(f64, f64)> {
    let Some((lo, hi)) = t.integer_range() else {
        return Ok((1.0, 0.0));
    };
    medgen_core::check::ensure_finite_values(data, "NIfTI voxels stored as integers")?;
    let (min, max) = data.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(f64::from(v)), b.max(f64::from(v)))
    });
    let integral = data.iter().all(|v| v.fract() == 0.0);
    if data.is_empty() || (integral && min >= lo && max <= hi) {
        return Ok((1.0, 0.0));
    }
    if max == min {
        return Ok((1.0, min));
    }
    let slope = (max - min) / (hi - lo);
    Ok((slope, min - lo * slope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    fn ramp(dims: [usize; 4]) -> NiftiVolume {
        let n: usize = dims.iter().product();
        let data = (0..n).map(|v| v as f32 - 3.0).collect();
        NiftiVolume::new(data, dims, [0.5, 0.75, 2.0, 1.0]).unwrap()
    }

    #[test]
    fn every_datatype_version_and_byte_order_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let volume = ramp([3, 2, 2, 1]);
        let unsigned =
            NiftiVolume { data: volume.data.iter().map(|v| v + 3.0).collect(), ..volume.clone() };
        let types = [
            NiftiDatatype::U8,
            NiftiDatatype::I8,
            NiftiDatatype::I16,
            NiftiDatatype::U16,
            NiftiDatatype::I32,
            NiftiDatatype::U32,
            NiftiDatatype::I64,
            NiftiDatatype::U64,
            NiftiDatatype::F32,
            NiftiDatatype::F64,
        ];
        for t in types {
            for version in [NiftiVersion::One, NiftiVersion::Two] {
                for order in [ByteOrder::Little, ByteOrder::Big] {
                    let source = if matches!(
                        t,
                        NiftiDatatype::U8
                            | NiftiDatatype::U16
                            | NiftiDatatype::U32
                            | NiftiDatatype::U64
                    ) {
                        &unsigned
                    } else {
                        &volume
                    };
                    let cfg = NiftiWriteConfig::new()
                        .with_datatype(t)
                        .with_version(version)
                        .with_byte_order(order);
                    let path = dir.path().join(format!("{t:?}_{version:?}_{order:?}.nii"));
                    write_nifti(&path, source, &cfg).unwrap();
                    let back = read_nifti(&path).unwrap();
                    assert_eq!(back.data, source.data, "{t:?} {version:?} {order:?}");
                    assert_eq!(back.dims, [3, 2, 2, 1]);
                    assert_eq!(back.ndim, 3);
                    assert_eq!(back.spacing, [0.5, 0.75, 2.0, 1.0]);
                    assert_eq!((back.datatype, back.version, back.byte_order), (t, version, order));
                }
            }
        }
    }

    #[test]
    fn gzip_int16_scaling_and_4d_series() {
        let dir = tempfile::tempdir().unwrap();
        let mut volume = ramp([2, 2, 1, 3]);
        volume.data.iter_mut().for_each(|v| *v *= 0.37);
        volume.sform = Some([[0.5, 0.0, 0.0, -10.0], [0.0, 0.75, 0.0, 4.0], [0.0, 0.0, 2.0, 1.5]]);
        let path = dir.path().join("series.nii.gz");
        write_nifti(&path, &volume, &NiftiWriteConfig::new().with_datatype(NiftiDatatype::I16))
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap()[..2], [0x1f, 0x8b]);
        let back = read_nifti(&path).unwrap();
        assert_eq!((back.dims, back.ndim), ([2, 2, 1, 3], 4));
        assert_eq!(back.sform, volume.sform);
        let range = volume.data.iter().fold(0f32, |a, v| a.max(v.abs())) * 2.0;
        for (a, b) in back.data.iter().zip(&volume.data) {
            assert!((a - b).abs() <= range / 65535.0, "{a} vs {b}");
        }
        let device = test_device();
        assert!(back.to_tensor_3d(&device).is_err());
        assert_eq!(back.to_tensor_series(&device).unwrap().dims(), [3, 1, 1, 2, 2]);
        assert_eq!(back.axial_slices(&device).unwrap().dims(), [3, 1, 2, 2]);
    }

    /// A big-endian NIfTI-1 int16 file built byte by byte from the standard's offsets,
    /// independently of the writer: checks scl_slope/scl_inter and vox_offset handling.
    #[test]
    fn hand_built_big_endian_header_with_scaling() {
        let mut h = vec![0u8; 400];
        h[0..4].copy_from_slice(&348i32.to_be_bytes());
        for (k, d) in [3i16, 2, 2, 1, 1, 1, 1, 1].iter().enumerate() {
            h[40 + 2 * k..42 + 2 * k].copy_from_slice(&d.to_be_bytes());
        }
        h[70..72].copy_from_slice(&4i16.to_be_bytes()); // DT_INT16
        h[72..74].copy_from_slice(&16i16.to_be_bytes());
        for (k, p) in [1f32, 1.5, 2.5, 3.0].iter().enumerate() {
            h[76 + 4 * k..80 + 4 * k].copy_from_slice(&p.to_be_bytes());
        }
        h[108..112].copy_from_slice(&392f32.to_be_bytes()); // vox_offset past a gap
        h[112..116].copy_from_slice(&2f32.to_be_bytes()); // scl_slope
        h[116..120].copy_from_slice(&(-1f32).to_be_bytes()); // scl_inter
        h[344..348].copy_from_slice(b"n+1\0");
        h.truncate(392);
        for v in [-2i16, 0, 5, 100] {
            h.extend_from_slice(&v.to_be_bytes());
        }
        let volume = parse_nifti(&h, Path::new("hand.nii")).unwrap();
        assert_eq!(volume.data, vec![-5.0, -1.0, 9.0, 199.0]);
        assert_eq!(volume.dims, [2, 2, 1, 1]);
        assert_eq!(volume.spacing, [1.5, 2.5, 3.0, 1.0]);
        assert_eq!(volume.byte_order, ByteOrder::Big);
        // Slope 0 means no scaling.
        h[112..116].copy_from_slice(&0f32.to_be_bytes());
        let raw = parse_nifti(&h, Path::new("hand.nii")).unwrap();
        assert_eq!(raw.data, vec![-2.0, 0.0, 5.0, 100.0]);
        // Tensor layout: W = i fastest, so [1, 1, nz, ny, nx] keeps the order.
        let t = raw.to_tensor_3d(&test_device()).unwrap();
        assert_eq!(t.dims(), [1, 1, 1, 2, 2]);
        let row1: Vec<f32> = t.slice([0..1, 0..1, 0..1, 1..2, 0..2]).try_into_vec_as().unwrap();
        assert_eq!(row1, vec![5.0, 100.0]);
    }

    #[test]
    fn corrupt_files_are_typed_errors() {
        let bytes = encode_nifti(&ramp([2, 2, 2, 1]), &NiftiWriteConfig::new()).unwrap();
        let origin = Path::new("bad.nii");
        let is_format = |r: Result<NiftiVolume>| matches!(r, Err(CoreError::Format { .. }));
        assert!(is_format(parse_nifti(&bytes[..200], origin)));
        assert!(is_format(parse_nifti(&bytes[..bytes.len() - 1], origin)));
        let mut magic = bytes.clone();
        magic[344..348].copy_from_slice(b"abc\0");
        assert!(is_format(parse_nifti(&magic, origin)));
        let mut dims = bytes.clone();
        dims[42..44].copy_from_slice(&0i16.to_le_bytes());
        assert!(is_format(parse_nifti(&dims, origin)));
        let mut rank = bytes.clone();
        rank[40..42].copy_from_slice(&9i16.to_le_bytes());
        assert!(is_format(parse_nifti(&rank, origin)));
        let mut size = bytes.clone();
        size[0..4].copy_from_slice(&100i32.to_le_bytes());
        let err = parse_nifti(&size, origin).unwrap_err();
        assert!(err.to_string().contains("bad.nii") && err.to_string().contains("sizeof_hdr"));
        let mut dtype = bytes;
        dtype[70..72].copy_from_slice(&32i16.to_le_bytes()); // complex64
        assert!(is_format(parse_nifti(&dtype, origin)));
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("cut.nii.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        assert!(is_format(read_nifti(&gz)));
    }

    #[test]
    fn mapping_of_nan_voxels_is_rejected() {
        let mut volume = ramp([2, 1, 1, 1]);
        volume.data[0] = f32::NAN;
        assert!(matches!(
            volume.intensity_mapping(&IntensityRange::MinMax),
            Err(CoreError::NonFinite { .. })
        ));
        let ok = ramp([2, 2, 1, 1]).intensity_mapping(&IntensityRange::MinMax).unwrap();
        assert_eq!((ok.low, ok.high), (-3.0, 0.0));
    }
}

//! What a DICOM file says about its image: [`DicomMetadata`], read from the attributes of the
//! image pixel, image plane and VOI LUT modules.
//!
//! # Geometry
//! DICOM positions are in the patient frame LPS (x to the patient's left, y to posterior, z to
//! head), in mm. With `ImageOrientationPatient = (r, c)` (row and column direction cosines),
//! `PixelSpacing = (Δrow, Δcol)` (the distance between rows, then between columns) and
//! `ImagePositionPatient = p` (the centre of the first transmitted pixel), pixel `(i, j)` of a
//! slice (`i` the column index, `j` the row index) lies at
//!
//! `x(i, j) = p + i · Δcol · r + j · Δrow · c`,
//!
//! and slices are stacked along the normal `n = r × c`. The slice's signed distance along the
//! normal is `d = n · p`, which is what a series is sorted by ([`crate::dicom_series`]).
//!
//! # Intensities
//! The modality LUT is linear: `v = RescaleSlope · stored + RescaleIntercept` (slope 1 and
//! intercept 0 when absent), which gives Hounsfield units for CT. The window
//! (`WindowCenter`, `WindowWidth`) is only kept as metadata: it is a display choice, and
//! medgen maps intensities itself ([`crate::IntensityMapping`]).

use std::path::{Path, PathBuf};

use dicom_object::{InMemDicomObject, Tag};

use super::dicom_error::DicomError;

/// An attribute the readers use: its tag and its name for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attr {
    pub(crate) tag: Tag,
    pub(crate) name: &'static str,
}

const fn attr(group: u16, element: u16, name: &'static str) -> Attr {
    Attr { tag: Tag(group, element), name }
}

pub(crate) const STUDY_INSTANCE_UID: Attr = attr(0x0020, 0x000D, "StudyInstanceUID (0020,000D)");
pub(crate) const SERIES_INSTANCE_UID: Attr = attr(0x0020, 0x000E, "SeriesInstanceUID (0020,000E)");
pub(crate) const SOP_INSTANCE_UID: Attr = attr(0x0008, 0x0018, "SOPInstanceUID (0008,0018)");
pub(crate) const MODALITY: Attr = attr(0x0008, 0x0060, "Modality (0008,0060)");
pub(crate) const INSTANCE_NUMBER: Attr = attr(0x0020, 0x0013, "InstanceNumber (0020,0013)");
pub(crate) const IMAGE_POSITION: Attr = attr(0x0020, 0x0032, "ImagePositionPatient (0020,0032)");
pub(crate) const IMAGE_ORIENTATION: Attr =
    attr(0x0020, 0x0037, "ImageOrientationPatient (0020,0037)");
pub(crate) const SLICE_THICKNESS: Attr = attr(0x0018, 0x0050, "SliceThickness (0018,0050)");
pub(crate) const SPACING_BETWEEN_SLICES: Attr =
    attr(0x0018, 0x0088, "SpacingBetweenSlices (0018,0088)");
pub(crate) const SAMPLES_PER_PIXEL: Attr = attr(0x0028, 0x0002, "SamplesPerPixel (0028,0002)");
pub(crate) const PHOTOMETRIC: Attr = attr(0x0028, 0x0004, "PhotometricInterpretation (0028,0004)");
pub(crate) const NUMBER_OF_FRAMES: Attr = attr(0x0028, 0x0008, "NumberOfFrames (0028,0008)");
pub(crate) const ROWS: Attr = attr(0x0028, 0x0010, "Rows (0028,0010)");
pub(crate) const COLUMNS: Attr = attr(0x0028, 0x0011, "Columns (0028,0011)");
pub(crate) const PIXEL_SPACING: Attr = attr(0x0028, 0x0030, "PixelSpacing (0028,0030)");
pub(crate) const IMAGER_PIXEL_SPACING: Attr =
    attr(0x0018, 0x1164, "ImagerPixelSpacing (0018,1164)");
pub(crate) const BITS_ALLOCATED: Attr = attr(0x0028, 0x0100, "BitsAllocated (0028,0100)");
pub(crate) const BITS_STORED: Attr = attr(0x0028, 0x0101, "BitsStored (0028,0101)");
pub(crate) const PIXEL_REPRESENTATION: Attr =
    attr(0x0028, 0x0103, "PixelRepresentation (0028,0103)");
pub(crate) const WINDOW_CENTER: Attr = attr(0x0028, 0x1050, "WindowCenter (0028,1050)");
pub(crate) const WINDOW_WIDTH: Attr = attr(0x0028, 0x1051, "WindowWidth (0028,1051)");
pub(crate) const RESCALE_INTERCEPT: Attr = attr(0x0028, 0x1052, "RescaleIntercept (0028,1052)");
pub(crate) const RESCALE_SLOPE: Attr = attr(0x0028, 0x1053, "RescaleSlope (0028,1053)");
pub(crate) const GRID_FRAME_OFFSETS: Attr =
    attr(0x3004, 0x000C, "GridFrameOffsetVector (3004,000C)");
pub(crate) const PIXEL_DATA: Attr = attr(0x7FE0, 0x0010, "PixelData (7FE0,0010)");

/// The attributes of one DICOM file that describe its image (see the module docs for the
/// geometry and the rescale formula).
#[derive(Clone, Debug, PartialEq)]
pub struct DicomMetadata {
    /// The file the attributes were read from (the `origin` for in-memory bytes).
    pub source: PathBuf,
    /// The transfer syntax UID of the file meta group.
    pub transfer_syntax: String,
    /// `Modality` (`CT`, `MR`, ...), if present.
    pub modality: Option<String>,
    /// `PhotometricInterpretation` (`MONOCHROME1` means low values display white; the stored
    /// values are kept as they are).
    pub photometric_interpretation: String,
    /// `Rows`: the image height.
    pub rows: usize,
    /// `Columns`: the image width.
    pub columns: usize,
    /// `NumberOfFrames` (1 when absent).
    pub number_of_frames: usize,
    /// `BitsAllocated` per stored sample (8, 16 or 32).
    pub bits_allocated: u16,
    /// `BitsStored` (defaults to `bits_allocated`).
    pub bits_stored: u16,
    /// `PixelRepresentation == 1`: stored samples are two's-complement signed.
    pub signed: bool,
    /// `RescaleSlope` (1 when absent).
    pub rescale_slope: f64,
    /// `RescaleIntercept` (0 when absent).
    pub rescale_intercept: f64,
    /// `WindowCenter` values (several when the file offers several windows; empty if absent).
    pub window_centers: Vec<f64>,
    /// `WindowWidth` values, one per centre.
    pub window_widths: Vec<f64>,
    /// `PixelSpacing` as `[Δrow, Δcol]` in mm (falls back to `ImagerPixelSpacing`).
    pub pixel_spacing: Option<[f64; 2]>,
    /// `SliceThickness` in mm.
    pub slice_thickness: Option<f64>,
    /// `SpacingBetweenSlices` in mm.
    pub spacing_between_slices: Option<f64>,
    /// `GridFrameOffsetVector` (RT dose): each frame's offset along the normal, in mm.
    pub frame_offsets: Vec<f64>,
    /// `ImagePositionPatient` (LPS, mm): the centre of the first pixel.
    pub image_position: Option<[f64; 3]>,
    /// `ImageOrientationPatient`: row direction cosines, then column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
    /// `InstanceNumber`.
    pub instance_number: Option<i64>,
    /// `StudyInstanceUID`.
    pub study_instance_uid: Option<String>,
    /// `SeriesInstanceUID`.
    pub series_instance_uid: Option<String>,
    /// `SOPInstanceUID`.
    pub sop_instance_uid: Option<String>,
}

impl DicomMetadata {
    /// Reads the attributes of `obj`, the data set of file `source` encoded with
    /// `transfer_syntax`.
    ///
    /// Fails with [`DicomError::MissingTag`] when `Rows`, `Columns`, `BitsAllocated` or
    /// `PixelData` is absent and [`DicomError::InvalidTag`] for a value that cannot be used
    /// (a zero size, a non-positive spacing, an orientation that is not two unit vectors).
    pub(crate) fn read(
        obj: &InMemDicomObject,
        source: &Path,
        transfer_syntax: &str,
    ) -> Result<Self, DicomError> {
        let a = Attributes { obj, path: source };
        if obj.get(PIXEL_DATA.tag).is_none() {
            return Err(a.missing(PIXEL_DATA));
        }
        let rows = a.required_size(ROWS)?;
        let columns = a.required_size(COLUMNS)?;
        let number_of_frames = match a.floats(NUMBER_OF_FRAMES)? {
            Some(v) => a.size_from(NUMBER_OF_FRAMES, v[0])?,
            None => 1,
        };
        let bits_allocated = a.required_u16(BITS_ALLOCATED)?;
        let bits_stored = a.u16_or(BITS_STORED, bits_allocated)?;
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(a.invalid(
                BITS_STORED,
                format!("{bits_stored} bits stored in {bits_allocated} allocated"),
            ));
        }
        let signed = a.u16_or(PIXEL_REPRESENTATION, 0)? == 1;
        let rescale_slope = a.finite(RESCALE_SLOPE)?.unwrap_or(1.0);
        let rescale_intercept = a.finite(RESCALE_INTERCEPT)?.unwrap_or(0.0);
        let window_centers = a.floats(WINDOW_CENTER)?.unwrap_or_default();
        let window_widths = a.floats(WINDOW_WIDTH)?.unwrap_or_default();
        let pixel_spacing = match a.fixed::<2>(PIXEL_SPACING)? {
            Some(s) => Some(s),
            None => a.fixed::<2>(IMAGER_PIXEL_SPACING)?,
        };
        if let Some(s) = pixel_spacing
            && !s.iter().all(|v| v.is_finite() && *v > 0.0)
        {
            return Err(a.invalid(PIXEL_SPACING, format!("{s:?} must be finite and positive")));
        }
        let image_orientation = a.fixed::<6>(IMAGE_ORIENTATION)?;
        if let Some(o) = image_orientation {
            let unit = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-2;
            if !(unit(&o[..3]) && unit(&o[3..])) {
                return Err(a.invalid(IMAGE_ORIENTATION, format!("{o:?} are not unit vectors")));
            }
        }
        Ok(Self {
            source: source.to_path_buf(),
            transfer_syntax: transfer_syntax.to_string(),
            modality: a.string(MODALITY),
            photometric_interpretation: a.string(PHOTOMETRIC).unwrap_or_default(),
            rows,
            columns,
            number_of_frames,
            bits_allocated,
            bits_stored,
            signed,
            rescale_slope,
            rescale_intercept,
            window_centers,
            window_widths,
            pixel_spacing,
            slice_thickness: a.finite(SLICE_THICKNESS)?,
            spacing_between_slices: a.finite(SPACING_BETWEEN_SLICES)?,
            frame_offsets: a.floats(GRID_FRAME_OFFSETS)?.unwrap_or_default(),
            image_position: a.fixed::<3>(IMAGE_POSITION)?,
            image_orientation,
            instance_number: a.floats(INSTANCE_NUMBER)?.map(|v| v[0] as i64),
            study_instance_uid: a.string(STUDY_INSTANCE_UID),
            series_instance_uid: a.string(SERIES_INSTANCE_UID),
            sop_instance_uid: a.string(SOP_INSTANCE_UID),
        })
    }

    /// The slice normal `n = r × c` from `ImageOrientationPatient`, if present.
    pub fn slice_normal(&self) -> Option<[f64; 3]> {
        let o = self.image_orientation?;
        Some([o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]])
    }

    /// The signed distance `n · p` of the first pixel along the slice normal, if both the
    /// position and the orientation are present.
    pub fn slice_location(&self) -> Option<f64> {
        let (n, p) = (self.slice_normal()?, self.image_position?);
        Some(n[0] * p[0] + n[1] * p[1] + n[2] * p[2])
    }

    /// The first window as `(centre, width)`, if the file has one.
    pub fn window(&self) -> Option<(f64, f64)> {
        Some((*self.window_centers.first()?, *self.window_widths.first()?))
    }

    /// The in-plane spacing `[Δcol, Δrow]` (x then y, as medgen's volumes order it), 1 mm
    /// where the file gives none.
    pub(crate) fn in_plane_spacing(&self) -> [f64; 2] {
        self.pixel_spacing.map_or([1.0, 1.0], |[row, col]| [col, row])
    }

    /// The distance between the frames of a multi-frame file (or the slices of a
    /// single-frame one, when no positions say otherwise): `SpacingBetweenSlices`, else the
    /// first step of `GridFrameOffsetVector`, else `SliceThickness`, else 1 mm.
    pub(crate) fn frame_spacing(&self) -> f64 {
        let grid = match self.frame_offsets.as_slice() {
            [a, b, ..] => Some((b - a).abs()),
            _ => None,
        };
        [self.spacing_between_slices, grid, self.slice_thickness]
            .into_iter()
            .flatten()
            .find(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0)
    }
}

/// Typed access to the attributes of one data set, with errors naming the file.
struct Attributes<'a> {
    obj: &'a InMemDicomObject,
    path: &'a Path,
}

impl Attributes<'_> {
    fn missing(&self, attr: Attr) -> DicomError {
        DicomError::MissingTag { path: self.path.to_path_buf(), tag: attr.name }
    }

    fn invalid(&self, attr: Attr, reason: impl Into<String>) -> DicomError {
        DicomError::InvalidTag {
            path: self.path.to_path_buf(),
            tag: attr.name,
            reason: reason.into(),
        }
    }

    /// The attribute's text, trimmed of DICOM padding, or `None` when absent or empty.
    fn string(&self, attr: Attr) -> Option<String> {
        let element = self.obj.get(attr.tag)?;
        let text = match unknown_bytes(element) {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => element.to_str().ok()?.into_owned(),
        };
        let text = trim_padding(&text);
        (!text.is_empty()).then(|| text.to_string())
    }

    /// The attribute's numbers (binary or decimal/integer strings), `None` when absent or
    /// empty; an error when present but not numeric.
    fn floats(&self, attr: Attr) -> Result<Option<Vec<f64>>, DicomError> {
        let Some(element) = self.obj.get(attr.tag) else {
            return Ok(None);
        };
        if let Some(bytes) = unknown_bytes(element) {
            return self.unknown_numbers(attr, &bytes).map(|v| (!v.is_empty()).then_some(v));
        }
        if element.to_str().is_ok_and(|t| trim_padding(&t).is_empty()) {
            return Ok(None);
        }
        let values = element
            .to_multi_float64()
            .map_err(|e| self.invalid(attr, format!("not a number ({e})")))?;
        Ok((!values.is_empty()).then_some(values))
    }

    /// The numbers of a value of VR `UN` (an explicit-VR file whose writer did not know the
    /// attribute): decimal strings separated by `\`, else one little-endian `u16` (`US`).
    fn unknown_numbers(&self, attr: Attr, bytes: &[u8]) -> Result<Vec<f64>, DicomError> {
        if bytes.iter().all(|b| b.is_ascii_digit() || b" +-.eE\\\0".contains(b)) {
            let text = String::from_utf8_lossy(bytes);
            return trim_padding(&text)
                .split('\\')
                .map(trim_padding)
                .filter(|t| !t.is_empty())
                .map(str::parse::<f64>)
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|e| self.invalid(attr, format!("not a number ({e})")));
        }
        match bytes {
            [a, b] => Ok(vec![f64::from(u16::from_le_bytes([*a, *b]))]),
            _ => Err(self.invalid(attr, format!("{} bytes of unknown VR", bytes.len()))),
        }
    }

    /// The first value, which must be finite.
    fn finite(&self, attr: Attr) -> Result<Option<f64>, DicomError> {
        match self.floats(attr)? {
            Some(v) if !v[0].is_finite() => {
                Err(self.invalid(attr, format!("{} is not finite", v[0])))
            }
            other => Ok(other.map(|v| v[0])),
        }
    }

    /// Exactly `N` values (more are ignored), when present.
    fn fixed<const N: usize>(&self, attr: Attr) -> Result<Option<[f64; N]>, DicomError> {
        let Some(values) = self.floats(attr)? else {
            return Ok(None);
        };
        if values.len() < N || values.iter().take(N).any(|v| !v.is_finite()) {
            return Err(self.invalid(attr, format!("expected {N} finite numbers, got {values:?}")));
        }
        Ok(Some(std::array::from_fn(|k| values[k])))
    }

    fn size_from(&self, attr: Attr, value: f64) -> Result<usize, DicomError> {
        if !(value >= 1.0 && value.fract() == 0.0 && value <= u32::MAX as f64) {
            return Err(self.invalid(attr, format!("{value} is not a positive integer")));
        }
        Ok(value as usize)
    }

    fn required_size(&self, attr: Attr) -> Result<usize, DicomError> {
        let values = self.floats(attr)?.ok_or_else(|| self.missing(attr))?;
        self.size_from(attr, values[0])
    }

    fn u16_or(&self, attr: Attr, default: u16) -> Result<u16, DicomError> {
        match self.floats(attr)? {
            None => Ok(default),
            Some(v) if v[0] >= 0.0 && v[0] <= f64::from(u16::MAX) && v[0].fract() == 0.0 => {
                Ok(v[0] as u16)
            }
            Some(v) => {
                Err(self.invalid(attr, format!("{} is not a 16-bit unsigned integer", v[0])))
            }
        }
    }

    fn required_u16(&self, attr: Attr) -> Result<u16, DicomError> {
        if self.obj.get(attr.tag).is_none() {
            return Err(self.missing(attr));
        }
        self.u16_or(attr, 0)
    }
}

/// The raw bytes of an element whose VR is `UN` (unknown), `None` for any other VR.
fn unknown_bytes(element: &dicom_object::mem::InMemElement) -> Option<Vec<u8>> {
    if element.vr().to_string() != "UN" {
        return None;
    }
    element.value().to_bytes().ok().map(|b| b.into_owned())
}

/// `text` without the NUL and space padding DICOM values carry.
fn trim_padding(text: &str) -> &str {
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace())
}

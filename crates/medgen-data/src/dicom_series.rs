//! Reading a folder holding one DICOM series (one single-frame file per slice) as one volume.
//!
//! # Slice order
//! Every file is decoded with [`crate::dicom`]'s reader; the slices are then sorted by their
//! distance along the slice normal, `d = n · p` with `n = r × c` the cross product of
//! `ImageOrientationPatient`'s row and column cosines and `p` the slice's
//! `ImagePositionPatient` (see [`crate::dicom_metadata`]). File names and `InstanceNumber`
//! often disagree with the anatomy, positions do not. When a file lacks the position or the
//! orientation, the slices are sorted by `InstanceNumber`, and when one lacks that too, by file
//! name.
//!
//! # Slice spacing
//! With positions, `Δz` is the mean of the steps `d[k+1] − d[k]`; the steps must agree to 1%
//! (a gap or a duplicate slice is an error rather than a silently stretched volume). Without
//! positions, `Δz` comes from the first slice's `SpacingBetweenSlices`, else
//! `SliceThickness`, else 1 mm.
//!
//! All files must have the same `Rows` and `Columns`, one frame each, the same
//! `SeriesInstanceUID` and the same orientation. Each slice is rescaled with its own
//! `RescaleSlope` and `RescaleIntercept`.

use std::path::{Path, PathBuf};

use super::dicom::{DecodedDicom, DicomImage, build_volume, decode_file};
use super::dicom_error::DicomError;

/// Relative disagreement allowed between the steps of a series' slice positions.
const SPACING_TOLERANCE: f64 = 1e-2;

/// Slices closer than this along the normal (mm) are at the same position.
const MIN_STEP_MM: f64 = 1e-6;

/// Reads every file of folder `dir` (not its subfolders; names starting with `.` and
/// `DICOMDIR` are skipped) as the slices of one series, in slice order (module docs).
///
/// The volume is `[Columns, Rows, slices]` with the first slice at `k = 0`;
/// [`DicomImage::slices`] holds each file's attributes in the same order.
///
/// Fails with [`DicomError::Io`] if the folder or a file cannot be read,
/// [`DicomError::EmptySeries`] for a folder without files, any error of
/// [`crate::read_dicom`] for a file (naming that file), and
/// [`DicomError::InconsistentSeries`] when the files differ in size, series, orientation or
/// frame count, or their positions are duplicated or unevenly spaced.
pub fn read_dicom_series(dir: impl AsRef<Path>) -> Result<DicomImage, DicomError> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DicomError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.eq_ignore_ascii_case("DICOMDIR") {
            continue;
        }
        if entry.file_type().map_err(io(&entry.path()))?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DicomError::EmptySeries { dir: dir.to_path_buf() });
    }
    let mut slices = Vec::with_capacity(files.len());
    for file in &files {
        let bytes = std::fs::read(file).map_err(io(file))?;
        slices.push(decode_file(&bytes, file)?);
    }
    check_consistency(dir, &slices)?;
    let dz = sort_slices(dir, &mut slices)?;
    let first = slices[0].metadata.clone();
    let count = slices.len();
    let mut values = Vec::with_capacity(first.rows * first.columns * count);
    let mut metadata = Vec::with_capacity(count);
    for slice in slices {
        values.extend_from_slice(&slice.values);
        metadata.push(slice.metadata);
    }
    let volume = build_volume(values, &first, count, dz)?;
    Ok(DicomImage { volume, metadata: first, slices: metadata })
}

fn inconsistent(dir: &Path, reason: String) -> DicomError {
    DicomError::InconsistentSeries { dir: dir.to_path_buf(), reason }
}

/// Same size, one frame, one series and one orientation in every file.
fn check_consistency(dir: &Path, slices: &[DecodedDicom]) -> Result<(), DicomError> {
    let first = &slices[0].metadata;
    let name = |p: &PathBuf| {
        p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
    };
    for slice in slices {
        let m = &slice.metadata;
        if m.number_of_frames != 1 {
            return Err(inconsistent(
                dir,
                format!(
                    "{} has {} frames; a series folder holds single-frame files (read a \
                     multi-frame file with read_dicom)",
                    name(&m.source),
                    m.number_of_frames
                ),
            ));
        }
        if (m.rows, m.columns) != (first.rows, first.columns) {
            return Err(inconsistent(
                dir,
                format!(
                    "{} is {} x {} (rows x columns) but {} is {} x {}",
                    name(&m.source),
                    m.rows,
                    m.columns,
                    name(&first.source),
                    first.rows,
                    first.columns
                ),
            ));
        }
        if let (Some(a), Some(b)) = (&m.series_instance_uid, &first.series_instance_uid)
            && a != b
        {
            return Err(inconsistent(
                dir,
                format!(
                    "{} belongs to series {a} but {} to series {b}",
                    name(&m.source),
                    name(&first.source)
                ),
            ));
        }
        if let (Some(a), Some(b)) = (m.image_orientation, first.image_orientation)
            && a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4)
        {
            return Err(inconsistent(
                dir,
                format!("{} is oriented {a:?} but {} {b:?}", name(&m.source), name(&first.source)),
            ));
        }
    }
    Ok(())
}

/// Sorts the slices (module docs) and returns the slice spacing `Δz`.
fn sort_slices(dir: &Path, slices: &mut [DecodedDicom]) -> Result<f64, DicomError> {
    let fallback = slices[0].metadata.frame_spacing();
    if slices.len() < 2 {
        return Ok(fallback);
    }
    let normal = slices[0].metadata.slice_normal();
    let locations: Option<Vec<f64>> = slices
        .iter()
        .map(|s| {
            let p = s.metadata.image_position?;
            let n = normal?;
            Some(n[0] * p[0] + n[1] * p[1] + n[2] * p[2])
        })
        .collect();
    if let Some(locations) = locations {
        let mut order: Vec<usize> = (0..slices.len()).collect();
        order.sort_by(|&a, &b| locations[a].total_cmp(&locations[b]));
        let sorted: Vec<f64> = order.iter().map(|&k| locations[k]).collect();
        let steps: Vec<f64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = steps.iter().sum::<f64>() / steps.len() as f64;
        let (min, max) = steps
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &s| (a.min(s), b.max(s)));
        if !(min > MIN_STEP_MM && mean.is_finite()) {
            let k = steps.iter().position(|s| s.is_nan() || *s <= MIN_STEP_MM).unwrap_or(0);
            let (a, b) = (&slices[order[k]].metadata.source, &slices[order[k + 1]].metadata.source);
            return Err(inconsistent(
                dir,
                format!(
                    "{} and {} lie at the same position along the slice normal ({} mm)",
                    a.display(),
                    b.display(),
                    sorted[k]
                ),
            ));
        }
        if max - min > SPACING_TOLERANCE * mean {
            return Err(inconsistent(
                dir,
                format!("the slice spacing varies from {min} to {max} mm (a missing slice?)"),
            ));
        }
        apply_order(slices, &order);
        return Ok(mean);
    }
    if slices.iter().all(|s| s.metadata.instance_number.is_some()) {
        // A stable sort keeps the file-name order between equal instance numbers.
        let mut order: Vec<usize> = (0..slices.len()).collect();
        order.sort_by_key(|&k| slices[k].metadata.instance_number);
        apply_order(slices, &order);
    }
    Ok(fallback)
}

/// Permutes `slices` so that `slices[k]` becomes the old `slices[order[k]]`.
fn apply_order(slices: &mut [DecodedDicom], order: &[usize]) {
    let mut taken: Vec<Option<DecodedDicom>> = Vec::with_capacity(slices.len());
    for slice in slices.iter_mut() {
        let empty = DecodedDicom { metadata: slice.metadata.clone(), values: Vec::new() };
        taken.push(Some(std::mem::replace(slice, empty)));
    }
    for (slot, &k) in slices.iter_mut().zip(order) {
        if let Some(slice) = taken[k].take() {
            *slot = slice;
        }
    }
}

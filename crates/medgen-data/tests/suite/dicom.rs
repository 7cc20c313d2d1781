//! The DICOM readers against real files: pydicom's and nibabel's test images, copied into
//! `tests/fixtures/dicom` by `make_fixtures.py`, which also wrote pydicom's view of each file
//! (`dicom.json`: shape, spacing, rescale and window attributes, statistics of the rescaled
//! pixels) and a shuffled three-slice CT series. Bad input (truncated and random bytes,
//! unsupported transfer syntaxes, colour, empty and mismatched folders) must give the typed
//! error naming the problem, never a panic.

use std::path::{Path, PathBuf};

use medgen_core::CoreError;
use medgen_data::{DicomError, DicomImage, decode_dicom, read_dicom, read_dicom_series};
use medgen_testing::test_device;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("dicom.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn files_expecting(what: &str) -> Vec<(String, Value)> {
    let json = expected();
    let files: Vec<(String, Value)> = json["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["expect"] == what)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(!files.is_empty(), "no fixture expects {what}");
    files
}

fn floats(v: &Value) -> Option<Vec<f64>> {
    v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap()).collect())
}

/// `|a - b| <= 1e-4 · max(|b|, 1)`.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1.0)
}

fn stats(values: &[f32]) -> [f64; 4] {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(f64::from(v)), b.max(f64::from(v)))
    });
    [min, max, mean, var.sqrt()]
}

fn read(name: &str) -> DicomImage {
    read_dicom(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_decodable_file_matches_pydicom() {
    let files = files_expecting("ok");
    assert!(files.len() >= 8, "{} decodable fixtures", files.len());
    for (name, want) in files {
        let image = read(&name);
        let (v, m) = (&image.volume, &image.metadata);
        let (rows, columns) = (want["rows"].as_u64().unwrap(), want["columns"].as_u64().unwrap());
        let frames = want["frames"].as_u64().unwrap();
        assert_eq!(v.dims, [columns as usize, rows as usize, frames as usize, 1], "{name}");
        assert_eq!(v.data.len(), (rows * columns * frames) as usize, "{name}");
        assert_eq!((m.rows, m.columns, m.number_of_frames), (v.dims[1], v.dims[0], v.dims[2]));
        assert_eq!(m.transfer_syntax, want["transfer_syntax"].as_str().unwrap(), "{name}");
        assert_eq!(m.modality.as_deref().unwrap_or(""), want["modality"].as_str().unwrap());
        assert_eq!(
            m.photometric_interpretation,
            want["photometric_interpretation"].as_str().unwrap()
        );
        // PixelSpacing is (between rows, between columns); the volume's x is the column axis.
        match floats(&want["pixel_spacing"]) {
            Some(s) => {
                assert!(
                    close(f64::from(v.spacing[0]), s[1]) && close(f64::from(v.spacing[1]), s[0])
                );
                assert_eq!(m.pixel_spacing, Some([s[0], s[1]]), "{name}");
            }
            None => assert_eq!(&v.spacing[..2], &[1.0, 1.0], "{name}"),
        }
        assert_eq!(m.slice_thickness, want["slice_thickness"].as_f64(), "{name}");
        assert_eq!(m.rescale_slope, want["rescale_slope"].as_f64().unwrap_or(1.0), "{name}");
        assert_eq!(m.rescale_intercept, want["rescale_intercept"].as_f64().unwrap_or(0.0));
        assert_eq!(m.window_centers, floats(&want["window_center"]).unwrap_or_default());
        assert_eq!(m.window_widths, floats(&want["window_width"]).unwrap_or_default());
        let position = floats(&want["image_position_patient"]);
        assert_eq!(m.image_position.map(|p| p.to_vec()), position, "{name}");
        let [min, max, mean, std] = stats(&v.data);
        let s = &want["stats"];
        for (what, got, reference) in [
            ("min", min, s["min"].as_f64().unwrap()),
            ("max", max, s["max"].as_f64().unwrap()),
            ("mean", mean, s["mean"].as_f64().unwrap()),
            ("std", std, s["std"].as_f64().unwrap()),
        ] {
            assert!(close(got, reference), "{name} {what}: {got} vs pydicom {reference}");
        }
        // The first row of the first frame, value by value: checks the pixel order too.
        let row = floats(&want["first_row"]).unwrap();
        assert_eq!(row.len(), columns as usize);
        for (i, (&got, &reference)) in v.data.iter().zip(&row).enumerate() {
            assert!(close(f64::from(got), reference), "{name} pixel {i}: {got} vs {reference}");
        }
        assert_eq!(image.slices, vec![image.metadata.clone()]);
    }
}

#[test]
fn ct_values_are_hounsfield_units_with_spacing_and_affine() {
    let image = read("CT_small.dcm");
    let m = &image.metadata;
    assert_eq!((m.rescale_slope, m.rescale_intercept), (1.0, -1024.0));
    // Air is around -1000 HU; CT_small holds body and air.
    assert!(image.volume.data.iter().any(|&v| v < -800.0));
    // No SpacingBetweenSlices: a single slice is SliceThickness thick.
    assert_eq!(image.volume.spacing, [0.661468, 0.661468, 5.0, 1.0]);
    // Axial orientation: the affine is diag(-dx, -dy, dz) with the LPS position negated in x, y.
    let sform = image.volume.sform.unwrap();
    let p = m.image_position.unwrap();
    let expect =
        [[-0.661468, 0.0, 0.0, -p[0]], [0.0, -0.661468, 0.0, -p[1]], [0.0, 0.0, 5.0, p[2]]];
    for (got, want) in sform.iter().flatten().zip(expect.iter().flatten()) {
        assert!((got - want).abs() < 1e-9, "{sform:?}");
    }
    let device = test_device();
    assert_eq!(image.volume.to_tensor_3d(&device).unwrap().dims(), [1, 1, 1, 128, 128]);
    assert_eq!(image.volume.axial_slices(&device).unwrap().dims(), [1, 1, 128, 128]);
}

#[test]
fn one_image_in_every_encoding_gives_the_same_voxels() {
    let reference = read("MR_small.dcm");
    for name in ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"] {
        let image = read(name);
        assert_eq!(image.volume.data, reference.volume.data, "{name}");
        assert_eq!(image.volume.spacing, reference.volume.spacing, "{name}");
    }
    assert_eq!(reference.metadata.window(), Some((600.0, 1600.0)));
}

#[test]
fn multi_frame_files_are_volumes_with_the_frame_offsets_as_spacing() {
    let plain = read("rtdose.dcm");
    assert_eq!(plain.volume.dims, [10, 10, 15, 1]);
    assert_eq!(plain.volume.shape_3d(), [15, 10, 10]);
    assert_eq!(plain.metadata.frame_offsets.len(), 15);
    // GridFrameOffsetVector steps by 5 mm.
    assert_eq!(plain.volume.spacing, [10.0, 10.0, 5.0, 1.0]);
    assert_eq!(plain.volume.datatype, medgen_data::NiftiDatatype::U32);
    // Frame k is the k-th block of Rows x Columns voxels.
    let bytes = std::fs::read(fixtures().join("rtdose.dcm")).unwrap();
    let last = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(*plain.volume.data.last().unwrap(), last as f32);
    let rle = read("rtdose_rle.dcm");
    assert_eq!(rle.volume.data, plain.volume.data);
    let device = test_device();
    assert_eq!(plain.volume.to_tensor_3d(&device).unwrap().dims(), [1, 1, 15, 10, 10]);
}

#[test]
fn a_series_is_sorted_by_position_along_the_normal() {
    let json = expected();
    let want = &json["series"];
    let image = read_dicom_series(fixtures().join(want["dir"].as_str().unwrap())).unwrap();
    let order: Vec<String> = image
        .slices
        .iter()
        .map(|m| m.source.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected_order: Vec<String> = want["files_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, expected_order);
    // Neither the file names nor InstanceNumber give that order.
    let mut by_name = order.clone();
    by_name.sort();
    assert_ne!(order, by_name);
    let instances: Vec<i64> = image.slices.iter().map(|m| m.instance_number.unwrap()).collect();
    assert!(instances.windows(2).all(|w| w[0] > w[1]), "{instances:?}");
    assert_eq!(image.volume.dims, [128, 128, 3, 1]);
    let dz = f64::from(image.volume.spacing[2]);
    assert!(close(dz, want["z_spacing"].as_f64().unwrap()), "dz = {dz}");
    assert_eq!(image.metadata, image.slices[0]);
    // Each slice is CT_small rescaled with its own intercept (100 HU apart in slice order).
    let single = read("CT_small.dcm").volume.data;
    let intercepts = floats(&want["rescale_intercepts_in_order"]).unwrap();
    let plane = 128 * 128;
    for (k, intercept) in intercepts.iter().enumerate() {
        assert_eq!(image.slices[k].rescale_intercept, *intercept);
        let offset = (*intercept + 1024.0) as f32;
        let slice = &image.volume.data[k * plane..(k + 1) * plane];
        assert!(slice.iter().zip(&single).all(|(a, b)| *a == b + offset), "slice {k}");
    }
    // The affine steps dz along the normal (+z for an axial series) from the first slice.
    let sform = image.volume.sform.unwrap();
    assert!((sform[2][2] - 2.5).abs() < 1e-9 && sform[0][2] == 0.0, "{sform:?}");
    assert_eq!(sform[2][3], image.slices[0].image_position.unwrap()[2]);
}

#[test]
fn unsupported_transfer_syntaxes_are_typed_errors_naming_the_uid() {
    for (name, want) in files_expecting("unsupported_transfer_syntax") {
        let err = read_dicom(fixtures().join(&name)).unwrap_err();
        let message = err.to_string();
        let DicomError::UnsupportedTransferSyntax { uid, path, .. } = err else {
            panic!("{name}: {err:?}");
        };
        assert_eq!(uid, want["transfer_syntax"].as_str().unwrap());
        assert!(path.ends_with(&name) && message.contains(&uid) && message.contains(&name));
    }
}

#[test]
fn colour_images_are_refused_by_name() {
    let mut reasons = Vec::new();
    for (name, _) in files_expecting("unsupported") {
        match read_dicom(fixtures().join(&name)).unwrap_err() {
            DicomError::Unsupported { path, reason } => {
                assert!(path.ends_with(&name));
                reasons.push(reason);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(reasons.iter().any(|r| r.contains("3 samples per pixel")), "{reasons:?}");
}

#[test]
fn truncated_files_are_typed_errors() {
    // A file pydicom ships cut short in its pixel data.
    for (name, _) in files_expecting("truncated") {
        let err = read_dicom(fixtures().join(&name)).unwrap_err();
        assert!(matches!(err, DicomError::Truncated { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(&name));
    }
    // CT_small cut inside the pixel data, inside the data set and inside the preamble.
    let bytes = std::fs::read(fixtures().join("CT_small.dcm")).unwrap();
    let origin = Path::new("cut.dcm");
    for keep in [bytes.len() - 1, bytes.len() - 5000, 700, 20] {
        let err = decode_dicom(&bytes[..keep], origin).unwrap_err();
        assert!(matches!(err, DicomError::Truncated { .. }), "cut at {keep}: {err:?}");
        assert!(err.to_string().contains("cut.dcm"));
    }
    // Every other cut point is an error too, whatever it hits.
    for keep in (0..bytes.len()).step_by(97) {
        assert!(decode_dicom(&bytes[..keep], origin).is_err(), "cut at {keep}");
    }
}

#[test]
fn random_bytes_are_typed_errors() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let origin = Path::new("garbage.dcm");
    for len in [0, 3, 131, 132, 500, 4096] {
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let err = decode_dicom(&bytes, origin).unwrap_err();
        assert!(
            matches!(err, DicomError::Corrupt { .. } | DicomError::Truncated { .. }),
            "{len} bytes: {err:?}"
        );
    }
    let garbage: Vec<u8> = (0..600).map(|_| next() as u8).collect();
    let err = decode_dicom(&garbage, origin).unwrap_err();
    assert!(matches!(&err, DicomError::Corrupt { reason, .. } if reason.contains("DICM")), "{err}");
    // The right magic followed by garbage, and real files with bytes flipped.
    let mut magic = vec![0u8; 128];
    magic.extend_from_slice(b"DICM");
    magic.extend((0..600).map(|_| next() as u8));
    assert!(decode_dicom(&magic, origin).is_err());
    // Bytes changed inside the RLE segments (the last 4000 bytes of the file; element lengths
    // are left alone, since dicom-rs allocates whatever length a header claims): dicom-rs's own
    // RLE decoder panicked on a segment that decodes short, medgen's returns an error.
    let real = std::fs::read(fixtures().join("MR_small_RLE.dcm")).unwrap();
    let mut failures = 0;
    for _ in 0..200 {
        let mut bytes = real.clone();
        for _ in 0..4 {
            let at = real.len() - 1 - (next() as usize) % 4000;
            bytes[at] = next() as u8;
        }
        // Anything but a panic: a changed pixel may still decode.
        match decode_dicom(&bytes, origin) {
            Ok(image) => assert_eq!(image.volume.data.len(), 64 * 64),
            Err(DicomError::Truncated { .. } | DicomError::Corrupt { .. }) => failures += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(failures > 0);
}

#[test]
fn series_folders_that_are_not_one_series_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_dicom_series(dir.path()).unwrap_err();
    assert!(matches!(&err, DicomError::EmptySeries { dir: d } if d == dir.path()), "{err:?}");
    std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
    assert!(matches!(read_dicom_series(dir.path()), Err(DicomError::EmptySeries { .. })));

    let missing = dir.path().join("missing");
    assert!(matches!(read_dicom_series(&missing), Err(DicomError::Io { .. })));

    // Different image sizes.
    let mixed = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("CT_small.dcm"), mixed.path().join("1.dcm")).unwrap();
    std::fs::copy(fixtures().join("MR_small.dcm"), mixed.path().join("2.dcm")).unwrap();
    let err = read_dicom_series(mixed.path()).unwrap_err();
    assert!(
        matches!(&err, DicomError::InconsistentSeries { reason, .. } if reason.contains("64 x 64")),
        "{err:?}"
    );

    // The same slice twice.
    let twice = tempfile::tempdir().unwrap();
    for name in ["1.dcm", "2.dcm"] {
        std::fs::copy(fixtures().join("CT_small.dcm"), twice.path().join(name)).unwrap();
    }
    let err = read_dicom_series(twice.path()).unwrap_err();
    assert!(
        matches!(&err, DicomError::InconsistentSeries { reason, .. } if reason.contains("same position")),
        "{err:?}"
    );

    // A multi-frame file among them.
    let multi = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("rtdose.dcm"), multi.path().join("1.dcm")).unwrap();
    std::fs::copy(fixtures().join("rtdose.dcm"), multi.path().join("2.dcm")).unwrap();
    let err = read_dicom_series(multi.path()).unwrap_err();
    assert!(
        matches!(&err, DicomError::InconsistentSeries { reason, .. } if reason.contains("15 frames")),
        "{err:?}"
    );

    // A bad file names itself.
    let bad = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("CT_small.dcm"), bad.path().join("1.dcm")).unwrap();
    std::fs::write(bad.path().join("2.dcm"), b"not a dicom file at all").unwrap();
    let err = read_dicom_series(bad.path()).unwrap_err();
    assert!(err.path().ends_with("2.dcm"), "{err:?}");

    // One file is a series of one slice.
    let one = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures().join("CT_small.dcm"), one.path().join("1.dcm")).unwrap();
    assert_eq!(read_dicom_series(one.path()).unwrap().volume, read("CT_small.dcm").volume);
}

#[test]
fn dicom_errors_convert_to_the_crate_error() {
    let err = read_dicom(fixtures().join("JPEG2000.dcm")).unwrap_err();
    let core: CoreError = err.into();
    match core {
        CoreError::Format { format, path, reason } => {
            assert_eq!(format, "DICOM");
            assert!(path.ends_with("JPEG2000.dcm") && reason.contains("1.2.840.10008.1.2.4.91"));
        }
        other => panic!("{other:?}"),
    }
    let io: CoreError = read_dicom(fixtures().join("absent.dcm")).unwrap_err().into();
    assert!(matches!(io, CoreError::Io { .. }));
}

#[test]
fn a_series_without_positions_is_sorted_by_instance_number() {
    let json = expected();
    let want = &json["series_no_position"];
    let image = read_dicom_series(fixtures().join(want["dir"].as_str().unwrap())).unwrap();
    let order: Vec<String> = image
        .slices
        .iter()
        .map(|m| m.source.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected_order: Vec<&str> =
        want["files_in_order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(order, expected_order);
    assert!(image.slices.iter().all(|m| m.image_position.is_none()));
    assert_eq!(image.volume.dims, [64, 64, 2, 1]);
    assert!(image.volume.sform.is_none());
    // No positions: the spacing between slices is the slice thickness.
    let dz = f64::from(image.volume.spacing[2]);
    assert!(close(dz, want["z_spacing"].as_f64().unwrap()), "dz = {dz}");
    let single = read("MR_small.dcm").volume.data;
    let intercepts = floats(&want["rescale_intercepts_in_order"]).unwrap();
    for (k, intercept) in intercepts.iter().enumerate() {
        let slice = &image.volume.data[k * 64 * 64..(k + 1) * 64 * 64];
        assert!(slice.iter().zip(&single).all(|(a, b)| *a == b + *intercept as f32), "slice {k}");
    }
}

//! The public API of `medgen-data`, used as a dependent crate would use it: synthetic phantom
//! batches and their tensors (`2x − 1` of the host images, masks from the label maps), seeded
//! mini-batches, `.npy`/`.npz`/MedMNIST/NIfTI write-then-read round trips in a temporary
//! directory, a hand-encoded PNG folder, in-memory data sets with seeded splits and batches,
//! the intensity mapping's closed form, and the typed error (variant and offending argument or
//! format in the message) for bad configurations, bad arrays and truncated files.

use std::path::Path;

use medgen_core::burn::tensor::{Int, Tensor};
use medgen_core::{CoreError, seeded_rng};
use medgen_data::{
    ByteOrder, ImageDataset, IntensityMapping, IntensityRange, MedMnistSplit, NiftiDatatype,
    NiftiVersion, NiftiVolume, NiftiWriteConfig, NpyArray, NpyValues, NpzCompression,
    NpzImageConfig, NpzImageSet, NpzReader, PhantomConfig, PngFolderConfig, load_png_folder,
    read_nifti, read_npy, read_npz, save_npz_medmnist, tissue, write_nifti, write_npy, write_npz,
};
use medgen_testing::assert_err;
use medgen_testing::{host, test_device};

/// Writes the first `keep` bytes of `path` back to it.
fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap();
    assert!(keep < bytes.len(), "nothing to truncate");
    std::fs::write(path, &bytes[..keep]).unwrap();
}

#[test]
fn phantom_batches_upload_as_tensors() {
    let device = test_device();
    let config = PhantomConfig::new(16).with_lesion_probability(1.0);
    let batch = config.generate_batch(3, &mut seeded_rng(4)).unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.shape(), vec![3, 1, 16, 16]);
    assert!(batch.images.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(batch.classes().iter().all(|&c| c == 1 || c == 2), "every subject has lesions");
    assert_eq!(batch, config.generate_batch(3, &mut seeded_rng(4)).unwrap(), "seeded");

    let tensors = batch.to_tensors::<4>(&device).unwrap();
    assert_eq!(tensors.len(), 3);
    assert_eq!(tensors.images.dims(), [3, 1, 16, 16]);
    for (y, x) in host::<f32, 4, _>(tensors.images.clone()).iter().zip(&batch.images) {
        assert!((y - (2.0 * x - 1.0)).abs() < 1e-6, "images must be 2x − 1");
    }
    let labels = host::<i64, 4, _>(tensors.labels.clone());
    assert!(labels.iter().zip(&batch.labels).all(|(a, b)| *a == i64::from(*b)));
    let lesions = host::<f32, 4, _>(tensors.lesion_masks.clone());
    let ventricles = host::<f32, 4, _>(tensors.ventricle_masks.clone());
    for ((&label, lesion), ventricle) in batch.labels.iter().zip(lesions).zip(ventricles) {
        assert_eq!(lesion, f32::from(u8::from(label == tissue::LESION)));
        assert_eq!(ventricle, f32::from(u8::from(label == tissue::VENTRICLE)));
    }
    assert_eq!(host::<i64, 1, _>(tensors.classes.clone()), batch.classes());
    let covariates = host::<f32, 2, _>(tensors.covariates.clone());
    let expected: Vec<f32> = batch.covariates.iter().flat_map(|c| c.vector()).collect();
    assert_eq!(covariates, expected);

    // A mini-batch drawn with replacement holds copies of the phantoms, every field alike.
    let mini = tensors.random_batch(5, &mut seeded_rng(9)).unwrap();
    assert_eq!(mini.len(), 5);
    let mini_images = host::<f32, 4, _>(mini.images);
    let mini_classes = host::<i64, 1, _>(mini.classes);
    for (item, class) in mini_images.chunks(256).zip(&mini_classes) {
        let source = (0..3)
            .find(|&i| {
                batch.image(i).iter().zip(item).all(|(x, y)| (2.0 * x - 1.0 - y).abs() < 1e-6)
            })
            .expect("a mini-batch item is one of the phantoms");
        assert_eq!(*class, batch.classes()[source]);
    }
    let again = tensors.random_batch(5, &mut seeded_rng(9)).unwrap();
    assert_eq!(
        host::<i64, 1, _>(again.classes),
        mini_classes,
        "the same seed draws the same items"
    );
}

#[test]
fn the_centre_slice_of_a_clean_volume_is_the_2d_phantom() {
    let clean =
        PhantomConfig::new(12).with_depth(Some(5)).with_lesion_probability(0.0).with_noise_std(0.0);
    let image = clean.generate_batch(1, &mut seeded_rng(3)).unwrap();
    let volume = clean.generate_volume_batch(1, &mut seeded_rng(3)).unwrap();
    assert_eq!(volume.shape(), vec![1, 1, 5, 12, 12]);
    let centre = &volume.image(0)[2 * 144..3 * 144];
    assert_eq!(centre, image.image(0));
    let tensors = volume.to_tensors::<5>(&test_device()).unwrap();
    assert_eq!(tensors.images.dims(), [1, 1, 5, 12, 12]);
}

#[test]
fn bad_phantom_requests_are_typed_errors() {
    let device = test_device();
    let config = PhantomConfig::new(8);
    assert_err!(
        PhantomConfig::new(2).generate_batch(1, &mut seeded_rng(0)),
        CoreError::InvalidConfig { .. },
        "size"
    );
    assert_err!(
        config.clone().with_lesion_probability(1.5).validate(),
        CoreError::InvalidConfig { .. },
        "lesion_probability"
    );
    assert_err!(
        config.clone().with_max_lesions(0).validate(),
        CoreError::InvalidConfig { .. },
        "max_lesions"
    );
    assert_err!(
        config.clone().with_noise_std(f64::NAN).validate(),
        CoreError::InvalidConfig { .. },
        "noise_std"
    );
    assert_err!(
        config.generate_batch(0, &mut seeded_rng(0)),
        CoreError::Empty { .. },
        "phantom batch"
    );
    let batch = config.generate_batch(2, &mut seeded_rng(0)).unwrap();
    assert_err!(
        batch.to_tensors::<5>(&device),
        CoreError::InvalidRank { expected: 5, got: 4, .. },
        "phantom images"
    );
    let tensors = batch.to_tensors::<4>(&device).unwrap();
    assert_err!(tensors.random_batch(0, &mut seeded_rng(0)), CoreError::Empty { .. }, "batch");
}

#[test]
fn npy_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let arrays = [
        NpyArray::new(vec![2, 3], NpyValues::F32(vec![0.5, -1.0, 2.25, 0.0, 1e-3, -7.5])).unwrap(),
        NpyArray::new(vec![4], NpyValues::U8(vec![0, 1, 128, 255])).unwrap(),
        NpyArray::new(vec![1, 2, 1], NpyValues::I64(vec![-5, i64::MAX])).unwrap(),
        NpyArray::new(vec![], NpyValues::F64(vec![std::f64::consts::PI])).unwrap(),
    ];
    for (i, array) in arrays.iter().enumerate() {
        let path = dir.path().join(format!("a{i}.npy"));
        write_npy(&path, array).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(&back, array);
        assert_eq!(back.shape(), array.shape());
    }
    assert_eq!(arrays[1].to_f32("bytes").unwrap(), vec![0.0, 1.0, 128.0, 255.0]);
    assert_eq!(arrays[2].to_i64("labels").unwrap(), vec![-5, i64::MAX]);
}

#[test]
fn bad_npy_arrays_and_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert_err!(
        NpyArray::new(vec![2, 2], NpyValues::F32(vec![1.0; 3])),
        CoreError::ShapeMismatch { .. },
        "npy values"
    );
    let fractional = NpyArray::new(vec![2], NpyValues::F32(vec![1.0, 1.5])).unwrap();
    assert_err!(fractional.to_i64("train_labels"), CoreError::InvalidConfig { .. }, "train_labels");
    let nan = NpyArray::new(vec![2], NpyValues::F64(vec![1.0, f64::NAN])).unwrap();
    assert_err!(nan.to_f32("scan"), CoreError::NonFinite { .. }, "scan");

    let path = dir.path().join("cut.npy");
    let array = NpyArray::new(vec![8, 8], NpyValues::F32(vec![1.0; 64])).unwrap();
    write_npy(&path, &array).unwrap();
    truncate(&path, 200);
    let err = read_npy(&path).unwrap_err();
    assert!(matches!(err, CoreError::Format { format: "npy", .. }), "{err:?}");
    assert!(err.to_string().contains("npy") && err.to_string().contains("cut.npy"), "{err}");
    truncate(&path, 5);
    assert!(matches!(read_npy(&path), Err(CoreError::Format { format: "npy", .. })));
    assert_err!(read_npy(dir.path().join("missing.npy")), CoreError::Io { .. }, "missing.npy");
}

#[test]
fn npz_archives_round_trip_in_both_compressions() {
    let dir = tempfile::tempdir().unwrap();
    let images =
        NpyArray::new(vec![2, 2, 2], NpyValues::U8(vec![0, 10, 20, 30, 40, 50, 60, 70])).unwrap();
    let labels = NpyArray::new(vec![2, 1], NpyValues::I64(vec![1, 0])).unwrap();
    for compression in [NpzCompression::Stored, NpzCompression::Deflated] {
        let path = dir.path().join(format!("{compression:?}.npz"));
        write_npz(&path, &[("labels", &labels), ("images", &images)], compression).unwrap();
        let all = read_npz(&path).unwrap();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["images", "labels"], "sorted by key");
        assert_eq!(all[0].1, images);
        assert_eq!(all[1].1, labels);
        let mut reader = NpzReader::open(&path).unwrap();
        assert!(reader.contains("labels") && !reader.contains("masks"));
        assert_eq!(reader.read("labels").unwrap(), labels);
        assert_err!(reader.read("masks"), CoreError::Format { format: "npz", .. }, "masks");
    }
}

#[test]
fn bad_npz_archives_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let array = NpyArray::new(vec![3], NpyValues::F32(vec![1.0, 2.0, 3.0])).unwrap();
    let path = dir.path().join("twice.npz");
    assert_err!(
        write_npz(&path, &[("x", &array), ("x", &array)], NpzCompression::Stored),
        CoreError::InvalidConfig { .. },
        "npz key"
    );
    assert_err!(
        write_npz(&path, &[("", &array)], NpzCompression::Stored),
        CoreError::InvalidConfig { .. },
        "npz key"
    );
    let path = dir.path().join("cut.npz");
    write_npz(&path, &[("x", &array)], NpzCompression::Deflated).unwrap();
    truncate(&path, 30);
    let err = NpzReader::open(&path).unwrap_err();
    assert!(matches!(err, CoreError::Format { format: "npz", .. }), "{err:?}");
    assert!(err.to_string().contains("npz") && err.to_string().contains("cut.npz"), "{err}");
    assert_err!(read_npz(dir.path().join("none.npz")), CoreError::Io { .. }, "none.npz");
}

#[test]
fn phantoms_round_trip_through_a_medmnist_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phantoms.npz");
    let config = PhantomConfig::new(8);
    let train = config.generate_batch(3, &mut seeded_rng(6)).unwrap();
    let test = config.generate_batch(2, &mut seeded_rng(7)).unwrap();
    let splits = [
        train.to_medmnist(MedMnistSplit::Train).unwrap(),
        test.to_medmnist(MedMnistSplit::Test).unwrap(),
    ];
    save_npz_medmnist(&path, &splits, NpzCompression::Deflated).unwrap();
    let keys = NpzReader::open(&path).unwrap().keys();
    assert_eq!(keys, ["test_images", "test_labels", "train_images", "train_labels"]);

    let set = NpzImageSet::load(&path, MedMnistSplit::Train, &NpzImageConfig::new()).unwrap();
    assert_eq!(set.shape, vec![3, 1, 8, 8]);
    assert_eq!(set.label_columns, 1);
    assert_eq!(set.labels, train.classes());
    assert_eq!(set.mapping, IntensityMapping::new(0.0, 255.0).unwrap());
    for (y, x) in set.images.iter().zip(&train.images) {
        // uint8 quantisation: |error| ≤ 0.5/255 in [0, 1], doubled in [-1, 1].
        assert!((y - (2.0 * x - 1.0)).abs() <= 1.0 / 255.0 + 1e-6);
    }
    let dataset = set.to_dataset().unwrap();
    assert_eq!(dataset.labels().unwrap(), train.classes().as_slice());
    assert_err!(
        NpzImageSet::load(&path, MedMnistSplit::Val, &NpzImageConfig::new()),
        CoreError::Format { format: "npz", .. },
        "val_images"
    );
    let mismatched =
        medgen_data::MedMnistArrays { labels: splits[1].labels.clone(), ..splits[0].clone() };
    assert_err!(
        save_npz_medmnist(dir.path().join("bad.npz"), &[mismatched], NpzCompression::Stored),
        CoreError::ShapeMismatch { .. },
        "train_labels"
    );
}

/// A 3 × 2 × 2 volume with integer values, `i` fastest.
fn small_volume() -> NiftiVolume {
    let data: Vec<f32> = (0..12).map(|v| v as f32 * 3.0 - 10.0).collect();
    NiftiVolume::new(data, [3, 2, 2, 1], [0.5, 1.0, 2.5, 1.0]).unwrap()
}

#[test]
fn nifti_volumes_round_trip_in_every_container() {
    let dir = tempfile::tempdir().unwrap();
    let volume = small_volume();
    assert_eq!(volume.shape_3d(), [2, 2, 3]);
    let configs = [
        ("plain.nii", NiftiWriteConfig::new()),
        ("zipped.nii.gz", NiftiWriteConfig::new()),
        (
            "v2_big.nii",
            NiftiWriteConfig::new().with_version(NiftiVersion::Two).with_byte_order(ByteOrder::Big),
        ),
        ("int16.nii.gz", NiftiWriteConfig::new().with_datatype(NiftiDatatype::I16)),
    ];
    for (name, config) in configs {
        let path = dir.path().join(name);
        write_nifti(&path, &volume, &config).unwrap();
        let back = read_nifti(&path).unwrap();
        assert_eq!(back.data, volume.data, "{name}");
        assert_eq!(back.dims, [3, 2, 2, 1], "{name}");
        assert_eq!(back.spacing, volume.spacing, "{name}");
        assert_eq!(back.datatype, config.datatype, "{name}");
        assert_eq!(back.version, config.version, "{name}");
        assert_eq!(back.byte_order, config.byte_order, "{name}");
    }

    // [1, 1, nz, ny, nx] with i fastest: the tensor is the data in the same order.
    let device = test_device();
    let tensor = volume.to_tensor_3d(&device).unwrap();
    assert_eq!(tensor.dims(), [1, 1, 2, 2, 3]);
    assert_eq!(host::<f32, 5, _>(tensor.clone()), volume.data);
    assert_eq!(volume.axial_slices(&device).unwrap().dims(), [2, 1, 2, 3]);
    let again = NiftiVolume::from_tensor_3d(tensor, [0.5, 1.0, 2.5]).unwrap();
    assert_eq!(again, volume);
}

#[test]
fn bad_nifti_volumes_and_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert_err!(
        NiftiVolume::new(vec![0.0; 5], [3, 2, 1, 1], [1.0; 4]),
        CoreError::ShapeMismatch { .. },
        "NIfTI data"
    );
    assert_err!(
        NiftiVolume::new(vec![0.0; 6], [3, 2, 1, 1], [1.0, -1.0, 1.0, 1.0]),
        CoreError::InvalidConfig { .. },
        "spacing"
    );
    assert_err!(
        NiftiVolume::new(vec![], [0, 2, 1, 1], [1.0; 4]),
        CoreError::Empty { .. },
        "NIfTI dims"
    );
    let series = NiftiVolume::new(vec![0.0; 12], [3, 2, 1, 2], [1.0; 4]).unwrap();
    assert_err!(
        series.to_tensor_3d(&test_device()),
        CoreError::InvalidRank { expected: 3, got: 4, .. },
        "2 time points"
    );

    let path = dir.path().join("cut.nii");
    write_nifti(&path, &small_volume(), &NiftiWriteConfig::new()).unwrap();
    truncate(&path, 360); // the header and 4 bytes of padding survive; the voxels do not.
    let err = read_nifti(&path).unwrap_err();
    assert!(matches!(err, CoreError::Format { format: "NIfTI", .. }), "{err:?}");
    assert!(err.to_string().contains("truncated data") && err.to_string().contains("cut.nii"));
    truncate(&path, 100);
    assert_err!(read_nifti(&path), CoreError::Format { format: "NIfTI", .. }, "truncated header");
    std::fs::write(&path, b"not a nifti file at all").unwrap();
    assert_err!(read_nifti(&path), CoreError::Format { format: "NIfTI", .. }, "sizeof_hdr");
}

/// CRC-32 (IEEE) as PNG chunks need it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// An 8-bit grey PNG of `rows`, encoded by hand (one stored deflate block).
fn grey_png(rows: &[&[u8]]) -> Vec<u8> {
    let (height, width) = (rows.len() as u32, rows[0].len() as u32);
    let mut raw = Vec::new();
    for row in rows {
        raw.push(0); // filter type None
        raw.extend_from_slice(row);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // bit depth 8, grey, deflate, filter 0, no interlace
    let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

#[test]
fn png_folders_load_sorted_and_mapped_to_minus_one_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.png"), grey_png(&[&[0, 255], &[51, 204]])).unwrap();
    std::fs::write(dir.path().join("a.PNG"), grey_png(&[&[255, 255], &[0, 0]])).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let folder = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap();
    let names: Vec<_> = folder.files.iter().map(|f| f.file_name().unwrap().to_owned()).collect();
    assert_eq!(names, ["a.PNG", "b.png"]);
    assert_eq!(folder.dataset.shape(), &[2, 1, 2, 2]);
    // y = 2 x / 255 − 1.
    let expected = [1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -0.6, 0.6];
    for (y, e) in folder.dataset.images().iter().zip(expected) {
        assert!((y - e).abs() < 1e-6, "{y} vs {e}");
    }

    std::fs::write(dir.path().join("c.png"), b"\x89PNG but broken").unwrap();
    assert_err!(
        load_png_folder(dir.path(), &PngFolderConfig::new()),
        CoreError::Format { format: "PNG", .. },
        "c.png"
    );
    let empty = tempfile::tempdir().unwrap();
    assert_err!(
        load_png_folder(empty.path(), &PngFolderConfig::new()),
        CoreError::Empty { .. },
        "PNG folder"
    );
}

fn numbered(n: usize) -> ImageDataset {
    let images: Vec<f32> = (0..n * 4).map(|v| v as f32 / 100.0).collect();
    ImageDataset::new(images, vec![n, 1, 2, 2])
        .unwrap()
        .with_labels((0..n as i64).collect())
        .unwrap()
}

#[test]
fn datasets_split_shuffle_and_batch_with_a_seed() {
    let device = test_device();
    let dataset = numbered(10);
    assert_eq!((dataset.len(), dataset.item_len()), (10, 4));
    let item = dataset.item(3).unwrap();
    assert_eq!(item.label, Some(3));
    assert_eq!(item.image, vec![0.12, 0.13, 0.14, 0.15]);
    assert!(dataset.item(10).is_none());

    let (train, val) = dataset.split(0.3, &mut seeded_rng(1)).unwrap();
    assert_eq!((train.len(), val.len()), (7, 3));
    let mut all: Vec<i64> =
        train.labels().unwrap().iter().chain(val.labels().unwrap()).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "a split is a partition");
    let (train_again, _) = dataset.split(0.3, &mut seeded_rng(1)).unwrap();
    assert_eq!(train, train_again);

    let shuffled = dataset.shuffled(&mut seeded_rng(2));
    let mut order = shuffled.labels().unwrap().to_vec();
    assert_ne!(order, (0..10).collect::<Vec<_>>());
    order.sort_unstable();
    assert_eq!(order, (0..10).collect::<Vec<_>>());

    let batches: Vec<_> =
        dataset.batches::<4, _>(4, &mut seeded_rng(3), &device).unwrap().collect();
    assert_eq!(batches.iter().map(|b| b.images.dims()[0]).collect::<Vec<_>>(), [4, 4, 2]);
    let mut seen: Vec<i64> =
        batches.iter().flat_map(|b| host::<i64, 1, _>(b.labels.clone().unwrap())).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>(), "an epoch visits every item once");
    // Every image stays with its label: item i holds (4i + k) / 100.
    for batch in &batches {
        let labels = host::<i64, 1, _>(batch.labels.clone().unwrap());
        let images = host::<f32, 4, _>(batch.images.clone());
        for (label, image) in labels.iter().zip(images.chunks(4)) {
            assert!((image[0] - *label as f32 * 0.04).abs() < 1e-6);
        }
    }
    let labels: Tensor<1, Int> = dataset.labels_tensor(&device).unwrap();
    assert_eq!(host::<i64, 1, _>(labels), (0..10).collect::<Vec<_>>());
}

#[test]
fn bad_datasets_are_typed_errors() {
    let device = test_device();
    assert_err!(
        ImageDataset::new(vec![0.0; 4], vec![1, 2, 2]),
        CoreError::InvalidRank { got: 3, .. },
        "data set images"
    );
    assert_err!(
        ImageDataset::new(vec![0.0; 5], vec![1, 1, 2, 2]),
        CoreError::ShapeMismatch { .. },
        "data set images"
    );
    assert_err!(
        ImageDataset::new(vec![0.0, f32::NAN, 0.0, 0.0], vec![1, 1, 2, 2]),
        CoreError::NonFinite { .. },
        "data set images"
    );
    let dataset = numbered(4);
    assert_err!(dataset.clone().with_labels(vec![0, 1]), CoreError::ShapeMismatch { .. }, "labels");
    assert_err!(
        dataset.clone().with_labels(vec![0, 1, -2, 3]),
        CoreError::InvalidConfig { .. },
        "labels"
    );
    assert_err!(
        dataset.clone().with_covariates(vec![0.0; 3], 1),
        CoreError::ShapeMismatch { .. },
        "covariates"
    );
    assert_err!(
        dataset.split(1.5, &mut seeded_rng(0)),
        CoreError::InvalidConfig { .. },
        "val_fraction"
    );
    assert_err!(
        dataset.split(0.01, &mut seeded_rng(0)),
        CoreError::InvalidConfig { .. },
        "val_fraction"
    );
    assert_err!(dataset.select(&[0, 9]), CoreError::InvalidConfig { .. }, "index");
    assert_err!(
        dataset.batches::<4, _>(0, &mut seeded_rng(0), &device),
        CoreError::InvalidConfig { .. },
        "batch_size"
    );
    assert_err!(
        dataset.batches::<5, _>(2, &mut seeded_rng(0), &device),
        CoreError::InvalidRank { expected: 5, got: 4, .. },
        "batch"
    );
}

#[test]
fn intensity_mapping_matches_its_closed_form() {
    let device = test_device();
    let mapping = IntensityMapping::new(-1000.0, 1000.0).unwrap();
    assert_eq!(mapping.forward_value(-1000.0), -1.0);
    assert_eq!(mapping.forward_value(500.0), 0.5);
    assert_eq!(mapping.inverse_value(0.25), 250.0);
    let y = mapping.forward_tensor(Tensor::<1>::from_floats([0.0, 1000.0, 3000.0], &device));
    let back = host::<f32, 1, _>(mapping.inverse_tensor(y.clone()));
    for ((y, x), (y_want, x_want)) in
        host::<f32, 1, _>(y).into_iter().zip(back).zip([(0.0, 0.0), (1.0, 1000.0), (3.0, 3000.0)])
    {
        assert!((y - y_want).abs() < 1e-6 && (x - x_want).abs() < 1e-3, "{y} -> {x}");
    }
    // Percentile windows interpolate between order statistics and clip.
    let values: Vec<f32> = (0..=100).map(|v| v as f32).collect();
    let window = IntensityRange::Percentile { lower: 10.0, upper: 90.0 };
    let fitted = IntensityMapping::fit(&values, &window, "scan").unwrap();
    assert_eq!((fitted.low, fitted.high, fitted.clip), (10.0, 90.0, true));
    assert_eq!(fitted.forward_value(100.0), 1.0);

    assert_err!(
        IntensityMapping::new(2.0, 1.0),
        CoreError::InvalidConfig { .. },
        "intensity window"
    );
    let reversed = IntensityRange::Percentile { lower: 90.0, upper: 10.0 };
    assert_err!(
        IntensityMapping::fit(&values, &reversed, "scan"),
        CoreError::InvalidConfig { .. },
        "percentile"
    );
    assert_err!(
        IntensityMapping::fit(&[1.0, f32::INFINITY], &IntensityRange::MinMax, "scan"),
        CoreError::NonFinite { .. },
        "scan"
    );
    assert_err!(
        IntensityMapping::fit(&[], &IntensityRange::MinMax, "scan"),
        CoreError::Empty { .. },
        "scan"
    );
}

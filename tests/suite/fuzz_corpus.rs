//! Replays the fuzzers' inputs on stable: every file under `fuzz/seeds/<target>`,
//! `fuzz/corpus/<target>` and `fuzz/regressions/<target>` goes through the same function the
//! libFuzzer target `<target>` calls (`fuzz/src/exercise.rs`), so a crash the fuzzer once
//! found, or any corpus input, fails CI here if it panics again. The fuzzer itself runs with
//! `fuzz/run.sh` on nightly (see docs/reliability.md).
//!
//! `cargo test --test suite -- --ignored fuzz_corpus::write_seed_corpus` rewrites `fuzz/seeds`: valid
//! files of every kind the parsers accept, written by medgen's own writers (DICOM, which medgen
//! does not write: small real files from `crates/medgen-data/tests/fixtures/dicom`).

use std::fs;
use std::path::{Path, PathBuf};

use medgen_core::burn::nn::LinearConfig;
use medgen_core::burn::optim::{AdamConfig, GradientsParams};
use medgen_core::burn::tensor::{Device, Tensor};
use medgen_core::{CoreError, init_seeded, seeded_rng};
use medgen_data::{
    ByteOrder, NiftiDatatype, NiftiVersion, NiftiVolume, NiftiWriteConfig, NpyArray, NpyValues,
    NpzCompression, write_nifti, write_npy, write_npz,
};
use medgen_train::Checkpoint;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/exercise.rs"]
mod exercise;

/// What a fuzz target does with one input.
type Exercise = fn(&[u8]);

/// The fuzz targets and the function each calls.
const TARGETS: [(&str, Exercise); 6] = [
    ("npy", exercise::npy),
    ("npz", exercise::npz),
    ("nifti", exercise::nifti),
    ("dicom", exercise::dicom),
    ("png", exercise::png),
    ("checkpoint", exercise::checkpoint),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_seed_corpus_and_regression_input_is_handled_without_panicking() {
    let mut replayed = 0;
    for (target, exercise) in TARGETS {
        let seeds = files_in(&fuzz_dir().join("seeds").join(target));
        assert!(!seeds.is_empty(), "no seed inputs for the `{target}` target");
        for kind in ["seeds", "corpus", "regressions"] {
            for file in files_in(&fuzz_dir().join(kind).join(target)) {
                let bytes = fs::read(&file).unwrap();
                exercise(&bytes);
                replayed += 1;
            }
        }
    }
    eprintln!("replayed {replayed} fuzz inputs");
}

/// The seeds must parse: a seed that errors would start the fuzzer from nothing.
#[test]
fn the_seeds_are_valid_files() {
    let origin = Path::new("seed");
    for file in files_in(&fuzz_dir().join("seeds/npy")) {
        medgen_data::read_npy_from(&fs::read(&file).unwrap()[..], origin).unwrap();
    }
    for file in files_in(&fuzz_dir().join("seeds/npz")) {
        assert!(!medgen_data::read_npz_bytes(fs::read(&file).unwrap(), origin).unwrap().is_empty());
    }
    for file in files_in(&fuzz_dir().join("seeds/nifti")) {
        medgen_data::decode_nifti(&fs::read(&file).unwrap(), origin).unwrap();
    }
    for file in files_in(&fuzz_dir().join("seeds/dicom")) {
        medgen_data::decode_dicom(&fs::read(&file).unwrap(), origin).unwrap();
    }
    for file in files_in(&fuzz_dir().join("seeds/png")) {
        medgen_data::decode_png_bytes(&fs::read(&file).unwrap(), origin).unwrap();
    }
    for file in files_in(&fuzz_dir().join("seeds/checkpoint")) {
        let bytes = fs::read(&file).unwrap();
        let checkpoint = Checkpoint::from_bytes(&bytes, origin).unwrap();
        // Resealing the checksums of an intact file keeps it intact (the fuzz target relies on
        // it to reach the records behind the CRCs).
        let resealed = exercise::reseal_checksums(&bytes).expect("a checkpoint layout");
        let again = Checkpoint::from_bytes(&resealed, origin).unwrap();
        assert_eq!((again.step(), again.config()), (checkpoint.step(), checkpoint.config()));
    }
}

fn regression(target: &str, name: &str) -> Vec<u8> {
    fs::read(fuzz_dir().join("regressions").join(target).join(name)).unwrap()
}

/// Each input the fuzzers crashed or stalled on is now a typed error naming the problem.
#[test]
fn the_inputs_the_fuzzers_found_are_typed_errors() {
    let origin = Path::new("regression");
    let reason = |err: CoreError| match err {
        CoreError::Format { reason, .. } | CoreError::CheckpointMismatch { reason, .. } => reason,
        other => panic!("unexpected error {other:?}"),
    };
    // A PNG header claiming 67 GB of pixels in a few hundred bytes.
    let err = medgen_data::decode_png_bytes(&regression("png", "huge_claimed_size.png"), origin);
    let message = reason(err.unwrap_err());
    assert!(message.contains("claims"), "{message}");
    // A .npy header of nested brackets that took npyz's parser seconds.
    let err = medgen_data::read_npy_from(&regression("npy", "slow_nested_header.npy")[..], origin);
    assert!(reason(err.unwrap_err()).contains("nest"));
    // A zip member claiming an impossible size (was a capacity-overflow panic).
    let npz = regression("npz", "huge_claimed_member_size.npz");
    assert!(medgen_data::read_npz_bytes(npz, origin).is_err());
    // Checkpoints whose records Burn would panic on.
    let cases = [
        ("optimizer_tensor_without_parameter_id.ckpt", "names no parameter"),
        ("optimizer_state_rank_17.ckpt", "rank 17, above 8"),
        ("optimizer_rank_disagrees_with_tensor.ckpt", "its parameter's state rank"),
        ("float_weight_stored_as_i32.ckpt", "is stored as"),
    ];
    for (name, expected) in cases {
        let resealed = exercise::reseal_checksums(&regression("checkpoint", name)).unwrap();
        let checkpoint = Checkpoint::from_bytes(&resealed, origin).unwrap();
        let device = Device::flex();
        let mut reasons = Vec::new();
        for module in checkpoint.module_names() {
            if let Err(err) = checkpoint.load_module(module, LinearConfig::new(2, 3).init(&device))
            {
                reasons.push(reason(err));
            }
        }
        for optimizer in checkpoint.optimizer_names() {
            if let Err(err) = checkpoint.load_optimizer(optimizer, AdamConfig::new().init()) {
                reasons.push(reason(err));
            }
        }
        assert!(reasons.iter().any(|r| r.contains(expected)), "{name}: {reasons:?}");
    }
}

fn write_png(path: &Path, width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) {
    let file = fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == png::ColorType::Indexed {
        encoder.set_palette(vec![0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 0, 0]);
    }
    let samples = match color {
        png::ColorType::Grayscale | png::ColorType::Indexed => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
    };
    let bits = match depth {
        png::BitDepth::Sixteen => 16,
        png::BitDepth::Eight => 8,
        png::BitDepth::Four => 4,
        png::BitDepth::Two => 2,
        png::BitDepth::One => 1,
    };
    let row_bytes = (width as usize * samples * bits).div_ceil(8);
    let data: Vec<u8> = (0..row_bytes * height as usize).map(|i| (i * 37 % 251) as u8).collect();
    let data = if color == png::ColorType::Indexed {
        data.iter().map(|b| b & if bits == 8 { 3 } else { 0x55 }).collect()
    } else {
        data
    };
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
}

#[test]
#[ignore = "rewrites fuzz/seeds; run by hand when a parser gains a format"]
fn write_seed_corpus() {
    let seeds = fuzz_dir().join("seeds");
    for (target, _) in TARGETS {
        let dir = seeds.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
    }
    // npy: one small array of every dtype, 1-D to 3-D.
    let arrays = [
        ("u8", NpyArray::new(vec![2, 3], NpyValues::U8(vec![0, 1, 2, 3, 254, 255])).unwrap()),
        ("i16", NpyArray::new(vec![4], NpyValues::I16(vec![-3, 0, 7, i16::MAX])).unwrap()),
        ("u16", NpyArray::new(vec![2, 2], NpyValues::U16(vec![0, 1, 2, 65535])).unwrap()),
        ("i32", NpyArray::new(vec![1, 3], NpyValues::I32(vec![-1, 0, 1])).unwrap()),
        ("i64", NpyArray::new(vec![3], NpyValues::I64(vec![0, 1, 2])).unwrap()),
        (
            "f32",
            NpyArray::new(vec![2, 2, 2], NpyValues::F32((0..8).map(|i| i as f32 / 3.0).collect()))
                .unwrap(),
        ),
        ("f64", NpyArray::new(vec![2], NpyValues::F64(vec![-0.5, 1e300])).unwrap()),
    ];
    for (name, array) in &arrays {
        write_npy(seeds.join(format!("npy/{name}.npy")), array).unwrap();
    }
    // npz: numpy.savez and numpy.savez_compressed layouts.
    let members: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    write_npz(seeds.join("npz/stored.npz"), &members[..3], NpzCompression::Stored).unwrap();
    write_npz(seeds.join("npz/deflated.npz"), &members[3..], NpzCompression::Deflated).unwrap();
    // NIfTI: both versions, both byte orders, integer and float voxels, plain and gzip.
    let volume =
        NiftiVolume::new((0..24).map(|i| i as f32).collect(), [2, 3, 4, 1], [1.0, 0.5, 2.0, 1.0])
            .unwrap();
    let variants = [
        ("v1_f32_le.nii", NiftiVersion::One, NiftiDatatype::F32, ByteOrder::Little),
        ("v1_i16_be.nii", NiftiVersion::One, NiftiDatatype::I16, ByteOrder::Big),
        ("v2_u8_le.nii", NiftiVersion::Two, NiftiDatatype::U8, ByteOrder::Little),
        ("v2_f64_be.nii.gz", NiftiVersion::Two, NiftiDatatype::F64, ByteOrder::Big),
        ("v1_u16_le.nii.gz", NiftiVersion::One, NiftiDatatype::U16, ByteOrder::Little),
    ];
    for (name, version, datatype, byte_order) in variants {
        let config = NiftiWriteConfig::new()
            .with_version(version)
            .with_datatype(datatype)
            .with_byte_order(byte_order);
        write_nifti(seeds.join("nifti").join(name), &volume, &config).unwrap();
    }
    // DICOM: real files under the 16 KiB input cap, one per decoded transfer syntax, and a
    // multi-frame one.
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/medgen-data/tests/fixtures/dicom");
    for name in [
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "image_dfl.dcm",
        "rtdose.dcm",
    ] {
        fs::copy(fixtures.join(name), seeds.join("dicom").join(name)).unwrap();
    }
    // PNG: every colour type and bit depth the folder loader expands.
    use png::{BitDepth as B, ColorType as C};
    let pngs = [
        ("grey8", C::Grayscale, B::Eight),
        ("grey16", C::Grayscale, B::Sixteen),
        ("grey1", C::Grayscale, B::One),
        ("grey_alpha8", C::GrayscaleAlpha, B::Eight),
        ("rgb8", C::Rgb, B::Eight),
        ("rgba16", C::Rgba, B::Sixteen),
        ("palette2", C::Indexed, B::Two),
    ];
    for (name, color, depth) in pngs {
        write_png(&seeds.join(format!("png/{name}.png")), 5, 3, color, depth);
    }
    // Checkpoint: a model, an Adam state after one step, metadata.
    let device = Device::flex().autodiff();
    let model = init_seeded(&device, &mut seeded_rng(0), |d| {
        Ok::<_, CoreError>(LinearConfig::new(2, 3).init(d))
    })
    .unwrap();
    let mut optimizer = AdamConfig::new().init();
    let loss = model.forward(Tensor::<2>::ones([4, 2], &device)).square().mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(1e-3, model, grads);
    let rng = seeded_rng(1);
    let checkpoint = Checkpoint::new(1, &rng, &"seed run")
        .unwrap()
        .with_module("model", &model)
        .unwrap()
        .with_metadata(&vec![0.5_f32])
        .unwrap();
    checkpoint.save(seeds.join("checkpoint/model.ckpt")).unwrap();
    let with_optimizer = checkpoint.with_optimizer("optimizer", &optimizer).unwrap();
    with_optimizer.save(seeds.join("checkpoint/model_and_adam.ckpt")).unwrap();
}

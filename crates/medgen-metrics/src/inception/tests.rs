//! Structural tests of the FID Inception network with random weights: parameter paths and
//! shapes against the PyTorch state dict, block output shapes, preprocessing, and loading a
//! synthetic `.pth` checkpoint.

use burn::module::Module;
use burn::tensor::{Distribution, Tensor, TensorData};
use burn_store::ModuleSnapshot;
use medgen_core::CoreError;
use medgen_testing::test_device;
use medgen_testing::testing_on_wgpu;

use super::pth_writer::{PthTensor, write_pth};
use super::*;
use crate::error::MetricsError;
use crate::{FrechetOptions, fid};

/// `(key, shape)` of the PyTorch state dict, from `tests/fixtures/`.
fn expected_state_dict() -> Vec<(String, Vec<usize>)> {
    let path =
        format!("{}/tests/fixtures/inception_state_dict_keys.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let (key, shape) = line.split_once(' ').expect("`key shape` lines");
            let shape = shape.split(',').map(|v| v.parse().unwrap()).collect();
            (key.to_string(), shape)
        })
        .collect()
}

/// The PyTorch name and shape of a Burn parameter: batch-norm `gamma`/`beta` are
/// `weight`/`bias`, and the `fc` weight is stored transposed (`[out, in]`).
fn pytorch_name_and_shape(name: &str, shape: &[usize]) -> (String, Vec<usize>) {
    let key = if let Some(prefix) = name.strip_suffix(".bn.gamma") {
        format!("{prefix}.bn.weight")
    } else if let Some(prefix) = name.strip_suffix(".bn.beta") {
        format!("{prefix}.bn.bias")
    } else {
        name.to_string()
    };
    let shape =
        if key == "fc.weight" { shape.iter().rev().copied().collect() } else { shape.to_vec() };
    (key, shape)
}

fn network(config: &InceptionV3Config) -> InceptionV3 {
    config.init(&test_device()).unwrap()
}

#[test]
fn parameter_paths_and_shapes_match_the_pytorch_state_dict() {
    let net = network(&InceptionV3Config::new());
    let mut actual: Vec<(String, Vec<usize>)> = net
        .collect(None, None, false)
        .iter()
        .map(|t| pytorch_name_and_shape(&t.name, &t.shape.to_vec()))
        .collect();
    let mut expected = expected_state_dict();
    assert_eq!(expected.len(), 472);
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected);
    // Burn counts the batch-norm running statistics as parameters too.
    let numel: usize = expected.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    assert_eq!(net.num_params(), numel);
}

#[test]
fn blocks_and_features_have_pytorch_fid_shapes() {
    if testing_on_wgpu() {
        return; // a full Inception forward is too slow on software Vulkan
    }
    let device = test_device();
    // At the minimal input 75 × 75 every block output keeps at least one pixel.
    let config = InceptionV3Config::new().with_input_size(MIN_INPUT_SIZE);
    let net = network(&config);
    let x = Tensor::<4>::random([2, 3, 75, 75], Distribution::Default, &device);
    let blocks = net.forward_blocks(net.preprocess(x.clone()).unwrap(), 3);
    let shapes: Vec<[usize; 4]> = blocks.iter().map(|b| b.dims()).collect();
    assert_eq!(shapes, [[2, 64, 17, 17], [2, 192, 7, 7], [2, 768, 3, 3], [2, 2048, 1, 1]]);
    let features = net.features(x.clone()).unwrap();
    assert_eq!(features.dims(), [2, 2048]);
    let pooled = blocks[3].clone().reshape([2, 2048]);
    let diff = features.sub(pooled).abs().max().into_scalar::<f32>();
    assert!(diff <= 1e-6, "{diff}");
    let logits = net.logits(x).unwrap();
    assert_eq!(logits.dims(), [2, FID_NUM_CLASSES]);
    assert!(logits.is_finite().all().into_scalar::<bool>());
    // A grayscale input of another size is repeated to RGB and resized.
    let gray = Tensor::<4>::random([1, 1, 20, 30], Distribution::Default, &device);
    assert_eq!(net.features(gray).unwrap().dims(), [1, 2048]);
    for dim in [64, 192, 768] {
        let net = network(&config.clone().with_feature_dim(dim));
        let x = Tensor::<4>::random([2, 3, 75, 75], Distribution::Default, &device);
        assert_eq!(net.features(x).unwrap().dims(), [2, dim]);
    }
}

#[test]
fn preprocessing_resizes_with_half_pixel_centres_and_maps_to_minus_one_one() {
    // Bilinear resizing reproduces a linear ramp f(r, c) = (r + 3c)/600 at the half-pixel
    // sample points of `align_corners = False`: 150 → 75 samples at r = 2i + 0.5.
    let net = network(&InceptionV3Config::new().with_input_size(75));
    let n = 150;
    let ramp: Vec<f32> =
        (0..n * n).map(|k| ((k / n) as f32 + 3.0 * (k % n) as f32) / 600.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(ramp, [1, 1, n, n]), &test_device());
    let y = net.preprocess(x).unwrap();
    assert_eq!(y.dims(), [1, 3, 75, 75]);
    let values = y.try_into_vec_as::<f32>().unwrap();
    for c in 0..3 {
        for i in [0, 1, 40, 74] {
            for j in [0, 7, 74] {
                let (r, s) = (2.0 * i as f32 + 0.5, 2.0 * j as f32 + 0.5);
                let expected = 2.0 * (r + 3.0 * s) / 600.0 - 1.0;
                let got = values[c * 75 * 75 + i * 75 + j];
                assert!((got - expected).abs() < 1e-5, "({i}, {j}): {got} vs {expected}");
            }
        }
    }
}

#[test]
fn fid_pooling_excludes_padding_and_the_last_block_max_pools() {
    let x = Tensor::<4>::from_data(
        TensorData::new((1..=9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]),
        &test_device(),
    );
    let avg = tf_avg_pool_3x3(x.clone()).into_data().convert::<f32>();
    // Corner (0,0): mean of 1, 2, 4, 5; edge (0,1): mean of 1..6; centre: mean of 1..9.
    let avg = avg.as_slice::<f32>().unwrap();
    assert!((avg[0] - 3.0).abs() < 1e-6);
    assert!((avg[1] - 3.5).abs() < 1e-6);
    assert!((avg[4] - 5.0).abs() < 1e-6);
    let max = max_pool_3x3_same(x.clone()).into_data().convert::<f32>();
    assert_eq!(max.as_slice::<f32>().unwrap(), &[5., 6., 6., 8., 9., 9., 8., 9., 9.]);
    assert_eq!(max_pool_3x3_stride2(x).dims(), [1, 1, 1, 1]);
}

#[test]
fn fid_runs_on_the_network() {
    if testing_on_wgpu() {
        return;
    }
    let device = test_device();
    let net = network(&InceptionV3Config::new().with_feature_dim(64).with_resize_input(false));
    let real = Tensor::<4>::random([3, 3, 75, 75], Distribution::Default, &device);
    let fake = Tensor::<4>::random([3, 3, 75, 75], Distribution::Uniform(0.5, 1.0), &device);
    let same = fid(&net, real.clone(), real.clone(), 2, &FrechetOptions::new()).unwrap();
    assert!(same.distance < 1e-6, "{}", same.distance);
    let different = fid(&net, real, fake, 2, &FrechetOptions::new()).unwrap();
    assert!(different.distance > 1e-3 && different.rank_deficient);
}

/// The tensors of `net` as a PyTorch state dict (plus one `num_batches_tracked` buffer,
/// which the loader must ignore), leaving out the keys in `skip`.
fn state_dict_of(net: &InceptionV3, skip: &[&str]) -> Vec<PthTensor> {
    let mut tensors: Vec<PthTensor> = net
        .collect(None, None, false)
        .into_iter()
        .filter_map(|t| {
            let (key, shape) = pytorch_name_and_shape(&t.name, &t.shape.to_vec());
            if skip.contains(&key.as_str()) {
                return None;
            }
            let bytes = t.to_bytes().unwrap().to_vec();
            let bytes =
                if key == "fc.weight" { transpose_f32(&bytes, shape[1], shape[0]) } else { bytes };
            Some(PthTensor { key, shape, storage: "FloatStorage", bytes })
        })
        .collect();
    tensors.push(PthTensor {
        key: "Conv2d_1a_3x3.bn.num_batches_tracked".into(),
        shape: vec![],
        storage: "LongStorage",
        bytes: 7i64.to_le_bytes().to_vec(),
    });
    tensors
}

/// A row-major `rows × cols` matrix of `f32` bytes, transposed.
fn transpose_f32(bytes: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    for i in 0..rows {
        for j in 0..cols {
            let (src, dst) = (4 * (i * cols + j), 4 * (j * rows + i));
            out[dst..dst + 4].copy_from_slice(&bytes[src..src + 4]);
        }
    }
    out
}

#[test]
fn pytorch_checkpoint_round_trip_loads_every_parameter() {
    if testing_on_wgpu() {
        return; // 24M parameters read back twice: too slow on software Vulkan
    }
    let dir = tempfile::tempdir().unwrap();
    let config = InceptionV3Config::new();
    let source = network(&config);
    let path = dir.path().join(FID_WEIGHTS_FILE);
    write_pth(&path, &state_dict_of(&source, &[])).unwrap();
    let loaded = config.init_pretrained(&path, &test_device()).unwrap();
    let expected = source.collect(None, None, false);
    let actual = loaded.collect(None, None, false);
    assert_eq!(expected.len(), actual.len());
    for (e, a) in expected.iter().zip(&actual) {
        assert_eq!(e.name, a.name);
        assert!(
            e.to_bytes().unwrap()[..] == a.to_bytes().unwrap()[..],
            "{} differs after loading",
            e.name
        );
    }
    // A checkpoint without `fc.bias` and a missing file are typed errors.
    let partial = dir.path().join("partial.pth");
    write_pth(&partial, &state_dict_of(&source, &["fc.bias"])).unwrap();
    for bad in [partial, dir.path().join("absent.pth")] {
        assert!(matches!(
            network(&config).load_pytorch_weights(&bad),
            Err(MetricsError::Weights { .. })
        ));
    }
}

#[test]
fn invalid_configs_and_inputs_are_typed_errors() {
    let device = test_device();
    for config in [
        InceptionV3Config::new().with_feature_dim(100),
        InceptionV3Config::new().with_input_size(74),
    ] {
        assert!(matches!(
            config.init(&device),
            Err(MetricsError::Core(CoreError::InvalidConfig { .. }))
        ));
    }
    let net = network(&InceptionV3Config::new().with_resize_input(false));
    let two_channels = Tensor::<4>::zeros([1, 2, 80, 80], &device);
    let small = Tensor::<4>::zeros([1, 3, 74, 80], &device);
    let empty = Tensor::<4>::zeros([0, 3, 80, 80], &device);
    for (x, what) in [(two_channels, "channels"), (small, "size"), (empty, "empty")] {
        let result = net.features(x);
        assert!(
            matches!(result, Err(CoreError::ShapeMismatch { .. } | CoreError::Empty { .. })),
            "{what}: {result:?}"
        );
    }
}

//! The public API of `medgen-nn`, used as a dependent crate would use it: the U-Net built
//! from `UNetConfig::small` (and a tiny 3D one) evaluated through
//! `medgen_core::TimeConditionedNetwork` (output shape = input shape, seeded initialisation,
//! the learned null condition), the MLP and 1x1 convolutions against their formulas computed
//! on the host, autodiff gradients of an affine layer in closed form, sinusoidal time features,
//! nearest upsampling and the strided downsampling shape, and the typed error (variant and
//! offending argument in the message) of every configuration or input that cannot work.

use medgen_core::burn::tensor::{Device, Int, Tensor, TensorData};
use medgen_core::check::ensure_finite;
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, CoreError, TimeConditionedNetwork, init_seeded, seeded_rng};
use medgen_nn::{
    AttentionBlockConfig, ConditionEmbeddingConfig, DownsampleConfig, MlpConfig, ResBlockConfig,
    SinusoidalEmbeddingConfig, SpatialConv, SpatialConvConfig, TimeEmbeddingConfig, UNet,
    UNetConfig, UpsampleConfig, upsample_nearest2x,
};
use medgen_testing::assert_err;
use medgen_testing::{host, max_abs_diff, test_device, testing_on_wgpu};

/// The side of the test images: a multiple of the small U-Net's `2^(L-1) = 4`.
fn side() -> usize {
    if testing_on_wgpu() { 4 } else { 8 }
}

/// A module built through `init_seeded` (seed 0): every test builds its modules this way, so
/// that no test draws from Burn's device generator while another one materialises a seeded
/// network (which made `small_unet_keeps_the_input_shape_and_is_seeded` flaky on wgpu).
fn seeded<M: medgen_core::burn::module::Module>(
    init: impl FnOnce(&Device) -> medgen_core::Result<M>,
) -> M {
    init_seeded(&test_device(), &mut seeded_rng(0), init).unwrap()
}

fn seeded_unet(config: &UNetConfig, seed: u64) -> UNet {
    init_seeded(&test_device(), &mut seeded_rng(seed), |d| config.init(d)).unwrap()
}

fn noise<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    gaussian_noise(shape, &mut seeded_rng(seed), &test_device()).unwrap()
}

#[test]
fn small_unet_keeps_the_input_shape_and_is_seeded() {
    let device = test_device();
    let config = UNetConfig::small(1);
    let unet = seeded_unet(&config, 3);
    assert_eq!((unet.spatial_dims(), unet.in_channels(), unet.out_channels()), (2, 1, 1));
    assert_eq!(unet.cond_image_channels(), 0);
    assert_eq!(unet.size_multiple(), 4);

    let s = side();
    let x = noise([2, 1, s, s], 10);
    let t = Tensor::<1>::from_floats([5.0, 500.0], &device);
    let y = unet.evaluate(x.clone(), t.clone(), &Condition::none()).unwrap();
    assert_eq!(y.dims(), [2, 1, s, s]);
    ensure_finite(&y, "U-Net output").unwrap();
    assert!(max_abs_diff(y.clone(), x.clone()) > 0.0, "the network must not be the identity");

    // The same seed gives the same network; another seed another one.
    let again = seeded_unet(&config, 3).evaluate(x.clone(), t.clone(), &Condition::none());
    assert!(max_abs_diff(y.clone(), again.unwrap()) < 1e-6);
    let other = seeded_unet(&config, 4).evaluate(x, t, &Condition::none());
    assert!(max_abs_diff(y, other.unwrap()) > 1e-4);
}

#[test]
fn tiny_3d_unet_with_attention_keeps_the_input_shape() {
    let config = UNetConfig::new(2, 3)
        .with_spatial_dims(3)
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![2])
        .with_num_heads(2)
        .with_groups(4);
    let unet = seeded_unet(&config, 0);
    assert_eq!(unet.size_multiple(), 2);
    let x = noise([1, 2, 2, 2, 4], 1);
    let t = Tensor::<1>::from_floats([0.5], &test_device());
    let y = unet.evaluate(x, t, &Condition::none()).unwrap();
    assert_eq!(y.dims(), [1, 3, 2, 2, 4]);
    ensure_finite(&y, "3D U-Net output").unwrap();
}

#[test]
fn class_conditioning_changes_the_output_and_keep_zero_is_the_null_class() {
    let device = test_device();
    let unet = seeded_unet(&UNetConfig::small(1).with_num_classes(Some(3)), 6);
    let s = side();
    let x = noise([2, 1, s, s], 2);
    let t = Tensor::<1>::from_floats([100.0, 100.0], &device);
    let labelled = |labels: [i32; 2]| {
        Condition::<4>::none().with_class(Tensor::<1, Int>::from_ints(labels, &device))
    };
    let run = |c: &Condition<4>| unet.evaluate(x.clone(), t.clone(), c).unwrap();
    let y01 = run(&labelled([0, 1]));
    let y22 = run(&labelled([2, 2]));
    assert!(max_abs_diff(y01.clone(), y22) > 1e-5, "labels must change the output");
    // keep = 0 replaces any label by the learned null class.
    let null_a = run(&labelled([0, 1]).to_null(2, &device));
    let null_b = run(&labelled([2, 2]).to_null(2, &device));
    assert!(max_abs_diff(null_a.clone(), null_b) < 1e-6);
    assert!(max_abs_diff(y01, null_a) > 1e-5);
}

#[test]
fn unet_configs_that_cannot_work_are_invalid_config_errors() {
    let device = test_device();
    let small = UNetConfig::small(1);
    let cases = [
        (small.clone().with_groups(3), "groups"),
        (small.clone().with_groups(0), "groups"),
        (UNetConfig::small(0), "in_channels"),
        (small.clone().with_base_channels(7), "base_channels"),
        (small.clone().with_channel_mults(vec![]), "channel_mults"),
        (small.clone().with_channel_mults(vec![1, 0]), "channel_mults"),
        (small.clone().with_num_res_blocks(0), "num_res_blocks"),
        (small.clone().with_spatial_dims(4), "spatial_dims"),
        (small.clone().with_dropout(1.5), "dropout"),
        (small.clone().with_max_period(0.5), "max_period"),
        (small.clone().with_num_classes(Some(0)), "num_classes"),
        (small.clone().with_attention_resolutions(vec![3]), "attention_resolutions"),
        (small.clone().with_attention_resolutions(vec![8]), "attention_resolutions"),
        (small.clone().with_middle_attention(true).with_num_heads(3), "num_heads"),
    ];
    for (config, name) in cases {
        assert!(config.validate().is_err(), "{config:?}");
        assert_err!(config.init(&device), CoreError::InvalidConfig { .. }, name);
    }
    assert!(small.validate().is_ok());
}

#[test]
fn unet_inputs_that_do_not_fit_are_typed_errors() {
    let device = test_device();
    let unet = seeded_unet(&UNetConfig::small(1), 0);
    let t = Tensor::<1>::from_floats([1.0, 2.0], &device);
    let none = Condition::<4>::none();
    let eval = |x: Tensor<4>, t: Tensor<1>, c: &Condition<4>| unet.evaluate(x, t, c);

    assert_err!(
        eval(Tensor::zeros([2, 3, 4, 4], &device), t.clone(), &none),
        CoreError::ShapeMismatch { .. },
        "x_t"
    );
    assert_err!(
        eval(Tensor::zeros([2, 1, 4, 6], &device), t.clone(), &none),
        CoreError::ShapeMismatch { .. },
        "x_t"
    );
    let err =
        eval(Tensor::zeros([2, 1, 4, 4], &device), Tensor::zeros([3], &device), &none).unwrap_err();
    assert!(matches!(err, CoreError::ShapeMismatch { ref what, .. } if what == "t"), "{err:?}");
    assert!(err.to_string().starts_with("t: "), "{err}");
    assert_err!(
        eval(Tensor::zeros([0, 1, 4, 4], &device), Tensor::zeros([0], &device), &none),
        CoreError::Empty { .. },
        "x_t"
    );
    let volume = Tensor::<5>::zeros([2, 1, 4, 4, 4], &device);
    assert_err!(
        unet.evaluate(volume, t.clone(), &Condition::none()),
        CoreError::InvalidRank { expected: 4, got: 5, .. },
        "x_t"
    );
    let x = Tensor::<4>::zeros([2, 1, 4, 4], &device);
    let with_class = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1], &device));
    assert_err!(
        eval(x.clone(), t.clone(), &with_class),
        CoreError::InvalidConfig { .. },
        "condition.class"
    );
    let with_image = Condition::none().with_image(Tensor::zeros([2, 1, 4, 4], &device));
    assert_err!(
        eval(x.clone(), t.clone(), &with_image),
        CoreError::InvalidConfig { .. },
        "condition.image"
    );
    let class_net = seeded_unet(&UNetConfig::small(1).with_num_classes(Some(2)), 0);
    assert_err!(
        class_net.evaluate(x.clone(), t.clone(), &none),
        CoreError::InvalidConfig { .. },
        "condition.class"
    );
    let three_labels =
        Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 1, 1], &device));
    assert_err!(
        class_net.evaluate(x, t, &three_labels),
        CoreError::ShapeMismatch { .. },
        "condition"
    );
}

#[test]
fn mlp_matches_its_formula() {
    let device = test_device();
    let config = MlpConfig::uniform(3, 4, 1, 2);
    assert_eq!(config.dims, vec![3, 4, 2]);
    let mlp = init_seeded(&device, &mut seeded_rng(1), |d| config.init(d)).unwrap();
    assert_eq!(mlp.layers.len(), 2);
    let xs = [[0.5f32, -1.0, 2.0], [0.0, 0.25, -0.75]];
    let y = host::<f32, 2, _>(mlp.forward(Tensor::<2>::from_floats(xs, &device)));
    assert_eq!(y.len(), 4);

    // y = W₂ᵀ SiLU(W₁ᵀ x + b₁) + b₂ with Burn's [d_in, d_out] weight layout.
    let affine = |layer: usize, x: &[f32]| -> Vec<f32> {
        let w = host::<f32, 2, _>(mlp.layers[layer].weight.val());
        let b = host::<f32, 1, _>(mlp.layers[layer].bias.as_ref().unwrap().val());
        let out = b.len();
        (0..out)
            .map(|j| b[j] + x.iter().enumerate().map(|(i, xi)| xi * w[i * out + j]).sum::<f32>())
            .collect()
    };
    let silu = |v: f32| v / (1.0 + (-v).exp());
    for (n, x) in xs.iter().enumerate() {
        let hidden: Vec<f32> = affine(0, x).into_iter().map(silu).collect();
        let expected = affine(1, &hidden);
        for (j, e) in expected.iter().enumerate() {
            assert!(
                (y[2 * n + j] - e).abs() < 1e-5,
                "item {n}, output {j}: {} vs {e}",
                y[2 * n + j]
            );
        }
    }
}

#[test]
fn affine_layer_gradients_match_the_closed_form() {
    // L = Σ_n Σ_j (x_n W + b)_j: ∂L/∂b_j = N and ∂L/∂W_ij = Σ_n x_ni.
    let device = test_device().autodiff();
    let mlp =
        init_seeded(&device, &mut seeded_rng(2), |d| MlpConfig::new(vec![3, 2]).init(d)).unwrap();
    let x = Tensor::<2>::from_floats([[1.0, 2.0, -1.0], [0.5, -3.0, 4.0]], &device);
    let grads = mlp.forward(x).sum().backward();
    let layer = &mlp.layers[0];
    let dw = host::<f32, 2, _>(layer.weight.val().grad(&grads).unwrap());
    let db = host::<f32, 1, _>(layer.bias.as_ref().unwrap().val().grad(&grads).unwrap());
    assert_eq!(db, vec![2.0, 2.0]);
    assert_eq!(dw, vec![1.5, 1.5, -1.0, -1.0, 3.0, 3.0]);
}

#[test]
fn bad_mlp_widths_name_mlp_dims() {
    let device = test_device();
    assert_err!(MlpConfig::new(vec![3]).init(&device), CoreError::InvalidConfig { .. }, "mlp.dims");
    assert_err!(
        MlpConfig::uniform(3, 0, 1, 2).init(&device),
        CoreError::InvalidConfig { .. },
        "mlp.dims"
    );
    assert!(MlpConfig::uniform(3, 4, 0, 2).init(&device).is_ok());
}

#[test]
fn sinusoidal_features_match_their_formula() {
    let device = test_device();
    // dim 4, P = 10⁴: frequencies 1 and 10⁻², cosines first.
    let embedding = SinusoidalEmbeddingConfig::new(4).init().unwrap();
    let times = [0.0f32, 1.5, 10.0];
    // GPU sine and cosine are only specified to about 1e-3 absolute.
    let tolerance = if testing_on_wgpu() { 1e-3 } else { 1e-5 };
    let features = host::<f32, 2, _>(embedding.forward(Tensor::<1>::from_floats(times, &device)));
    for (n, t) in times.iter().enumerate() {
        let expected = [t.cos(), (0.01 * t).cos(), t.sin(), (0.01 * t).sin()];
        for (k, e) in expected.iter().enumerate() {
            let got = features[4 * n + k];
            assert!((got - e).abs() < tolerance, "t = {t}, feature {k}: {got} vs {e}");
        }
    }
    let time_mlp = seeded(|d| TimeEmbeddingConfig::new(4, 6).init(d));
    assert_eq!(time_mlp.forward(Tensor::<1>::from_floats(times, &device)).dims(), [3, 6]);

    assert_err!(SinusoidalEmbeddingConfig::new(3).init(), CoreError::InvalidConfig { .. }, "dim");
    assert_err!(
        SinusoidalEmbeddingConfig::new(4).with_max_period(1.0).init(),
        CoreError::InvalidConfig { .. },
        "max_period"
    );
    assert_err!(
        TimeEmbeddingConfig::new(4, 0).init(&device),
        CoreError::InvalidConfig { .. },
        "embed_dim"
    );
}

#[test]
fn pointwise_convolution_matches_its_formula() {
    let device = test_device();
    let config = SpatialConvConfig::new(2, [2, 3]).with_kernel_size(1).with_padding(0);
    let conv = init_seeded(&device, &mut seeded_rng(4), |d| config.init(d)).unwrap();
    assert_eq!(conv.spatial_dims(), 2);
    let SpatialConv::Conv2d(inner) = &conv else { panic!("a 2D config must build a Conv2d") };
    let w = host::<f32, 4, _>(inner.weight.val()); // [C_out, C_in, 1, 1]
    let b = host::<f32, 1, _>(inner.bias.as_ref().unwrap().val());
    let values: Vec<f32> = (0..8).map(|v| v as f32 * 0.5 - 1.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [1, 2, 2, 2]), &device);
    let y = host::<f32, 4, _>(conv.forward(x));
    assert_eq!(y.len(), 12);
    // y[o, p] = b[o] + Σ_i w[o, i] x[i, p].
    for o in 0..3 {
        for p in 0..4 {
            let expected = b[o] + w[2 * o] * values[p] + w[2 * o + 1] * values[4 + p];
            assert!((y[4 * o + p] - expected).abs() < 1e-5, "o = {o}, p = {p}");
        }
    }
}

#[test]
fn resolution_changes_follow_their_shape_formulas() {
    let device = test_device();
    let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &device);
    #[rustfmt::skip]
    let expected = vec![
        1.0, 1.0, 2.0, 2.0,
        1.0, 1.0, 2.0, 2.0,
        3.0, 3.0, 4.0, 4.0,
        3.0, 3.0, 4.0, 4.0,
    ];
    assert_eq!(host::<f32, 4, _>(upsample_nearest2x(x)), expected);
    let volume = Tensor::<5>::from_floats([[[[[1.0, 2.0]], [[3.0, 4.0]]]]], &device);
    let doubled = upsample_nearest2x(volume);
    assert_eq!(doubled.dims(), [1, 1, 4, 2, 4]);
    let values = host::<f32, 5, _>(doubled);
    assert_eq!(&values[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    assert_eq!(&values[24..], &[3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]);

    // A stride-2 3x3 convolution with padding 1 maps n to ⌊(n − 1)/2⌋ + 1.
    let down = seeded(|d| DownsampleConfig::new(2, 2).init(d));
    assert_eq!(down.forward(Tensor::<4>::zeros([1, 2, 5, 4], &device)).dims(), [1, 2, 3, 2]);
    let up = seeded(|d| UpsampleConfig::new(3, 2).init(d));
    assert_eq!(up.forward(Tensor::<5>::zeros([1, 2, 1, 2, 3], &device)).dims(), [1, 2, 2, 4, 6]);
}

#[test]
fn blocks_keep_or_change_channels_as_configured() {
    let device = test_device();
    let res = seeded(|d| ResBlockConfig::new(2, 4, 8, 6).with_groups(2).init(d));
    assert!(res.skip.is_some(), "a channel change needs a 1x1 skip convolution");
    let y =
        res.forward(Tensor::<4>::ones([2, 4, 2, 2], &device), Tensor::<2>::ones([2, 6], &device));
    assert_eq!(y.dims(), [2, 8, 2, 2]);
    let attention = AttentionBlockConfig::new(2, 4).with_num_heads(2).with_groups(2);
    let attention = seeded(|d| attention.init(d));
    let x = noise([1, 4, 2, 3], 8);
    assert_eq!(attention.forward(x).dims(), [1, 4, 2, 3]);
    let embed = seeded(|d| ConditionEmbeddingConfig::new(6).with_num_classes(Some(3)).init(d));
    assert_eq!(embed.num_classes(), Some(3));
    assert_eq!(embed.embedding_dim(), None);
}

#[test]
fn block_configs_that_cannot_work_are_invalid_config_errors() {
    let device = test_device();
    assert_err!(
        SpatialConvConfig::new(2, [0, 4]).init(&device),
        CoreError::InvalidConfig { .. },
        "channels"
    );
    assert_err!(
        SpatialConvConfig::new(1, [2, 4]).init(&device),
        CoreError::InvalidConfig { .. },
        "spatial_dims"
    );
    assert_err!(
        ResBlockConfig::new(2, 6, 8, 4).with_groups(4).init(&device),
        CoreError::InvalidConfig { .. },
        "groups"
    );
    assert_err!(
        ResBlockConfig::new(2, 4, 4, 0).init(&device),
        CoreError::InvalidConfig { .. },
        "emb_dim"
    );
    assert_err!(
        AttentionBlockConfig::new(2, 8).with_num_heads(3).with_groups(4).init(&device),
        CoreError::InvalidConfig { .. },
        "num_heads"
    );
    assert_err!(
        AttentionBlockConfig::new(2, 8).with_groups(3).init(&device),
        CoreError::InvalidConfig { .. },
        "groups"
    );
    assert_err!(
        ConditionEmbeddingConfig::new(0).init(&device),
        CoreError::InvalidConfig { .. },
        "emb_dim"
    );
    assert_err!(
        ConditionEmbeddingConfig::new(4).with_embedding_dim(Some(0)).init(&device),
        CoreError::InvalidConfig { .. },
        "embedding_dim"
    );
}

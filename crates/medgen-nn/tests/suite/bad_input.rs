//! Bad inputs to the public API of `medgen-nn`, beyond those of `tests/suite/api.rs`: block and
//! U-Net configurations that cannot work (zero-size kernels and strides, zero channels, group
//! counts and head counts that do not divide the channels, attention at a resolution the U-Net
//! never reaches, NaN dropout), and U-Net inputs of the wrong rank, spatial size or
//! conditioning (missing, misshapen or unexpected image and vector conditions). Each case
//! asserts the exact `CoreError` variant and that the message names the offending argument.

use medgen_core::burn::tensor::Tensor;
use medgen_core::{Condition, CoreError, TimeConditionedNetwork};
use medgen_nn::{
    AttentionBlockConfig, ConditionEmbeddingConfig, DownsampleConfig, MlpConfig, ResBlockConfig,
    SinusoidalEmbeddingConfig, SpatialConvConfig, TimeEmbeddingConfig, UNet, UNetConfig,
    UpsampleConfig,
};
use medgen_testing::{assert_err, test_device};

/// The smallest U-Net with two levels (size multiple 2), for input checks.
fn tiny(in_channels: usize) -> UNetConfig {
    UNetConfig::new(in_channels, 1)
        .with_base_channels(4)
        .with_channel_mults(vec![1, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(2)
}

fn build(config: &UNetConfig) -> UNet {
    config.init(&test_device()).unwrap()
}

/// Zero-size kernels, zero strides in 3D and zero channels are refused by every convolution.
#[test]
fn zero_sized_convolutions_are_refused() {
    let device = test_device();
    assert_err!(
        SpatialConvConfig::new(2, [1, 1]).with_kernel_size(0).init(&device),
        CoreError::InvalidConfig { .. },
        "kernel_size"
    );
    assert_err!(
        SpatialConvConfig::new(3, [1, 1]).with_stride(0).init(&device),
        CoreError::InvalidConfig { .. },
        "stride"
    );
    assert_err!(
        DownsampleConfig::new(2, 0).init(&device),
        CoreError::InvalidConfig { .. },
        "channels"
    );
    assert_err!(
        UpsampleConfig::new(4, 2).init(&device),
        CoreError::InvalidConfig { .. },
        "spatial_dims"
    );
}

/// Residual and attention blocks refuse zero channels, head counts that do not divide the
/// channels, and a dropout that is not a probability in `[0, 1)`.
#[test]
fn block_configs_that_cannot_work_are_refused() {
    let device = test_device();
    assert_err!(
        ResBlockConfig::new(2, 0, 8, 4).with_groups(2).init(&device),
        CoreError::InvalidConfig { .. },
        "channels"
    );
    assert_err!(
        ResBlockConfig::new(2, 4, 4, 4).with_groups(2).with_dropout(f64::NAN).init(&device),
        CoreError::InvalidConfig { .. },
        "dropout"
    );
    assert_err!(
        ResBlockConfig::new(2, 4, 4, 4).with_groups(2).with_dropout(1.0).init(&device),
        CoreError::InvalidConfig { .. },
        "dropout"
    );
    assert_err!(
        AttentionBlockConfig::new(3, 8).with_num_heads(0).with_groups(4).init(&device),
        CoreError::InvalidConfig { .. },
        "num_heads"
    );
    assert_err!(
        AttentionBlockConfig::new(1, 8).with_groups(4).init(&device),
        CoreError::InvalidConfig { .. },
        "spatial_dims"
    );
}

/// Embedding widths that cannot work: odd or zero sinusoidal widths, NaN periods, zero class
/// counts and a zero output width of an MLP.
#[test]
fn embedding_configs_that_cannot_work_are_refused() {
    let device = test_device();
    assert_err!(SinusoidalEmbeddingConfig::new(0).init(), CoreError::InvalidConfig { .. }, "dim");
    assert_err!(
        SinusoidalEmbeddingConfig::new(4).with_max_period(f64::NAN).init(),
        CoreError::InvalidConfig { .. },
        "max_period"
    );
    assert_err!(
        TimeEmbeddingConfig::new(5, 8).init(&device),
        CoreError::InvalidConfig { .. },
        "dim"
    );
    assert_err!(
        ConditionEmbeddingConfig::new(4).with_num_classes(Some(0)).init(&device),
        CoreError::InvalidConfig { .. },
        "num_classes"
    );
    assert_err!(
        MlpConfig::uniform(3, 4, 1, 0).init(&device),
        CoreError::InvalidConfig { .. },
        "mlp.dims"
    );
}

/// U-Net configurations that cannot work: attention at factor 4 of a two-level network (a
/// resolution never reached), a zero factor, zero output channels, groups that do not divide a
/// deeper level, a zero vector-condition width, NaN dropout and zero heads for the middle
/// attention.
#[test]
fn unet_configs_that_cannot_work_are_refused() {
    let device = test_device();
    let cases = [
        (tiny(1).with_attention_resolutions(vec![4]), "attention_resolutions"),
        (tiny(1).with_spatial_dims(3).with_attention_resolutions(vec![0]), "attention_resolutions"),
        (UNetConfig::new(1, 0), "out_channels"),
        (tiny(1).with_base_channels(8).with_channel_mults(vec![1, 3]).with_groups(16), "groups"),
        (tiny(1).with_base_channels(8).with_channel_mults(vec![2, 3]).with_groups(16), "groups"),
        (tiny(1).with_embedding_dim(Some(0)), "embedding_dim"),
        (tiny(1).with_dropout(f64::NAN), "dropout"),
        (tiny(1).with_middle_attention(true).with_num_heads(0), "num_heads"),
        (tiny(1).with_channel_mults(vec![1; 17]), "channel_mults"),
        (tiny(1).with_channel_mults(vec![1, usize::MAX]), "channel_mults"),
    ];
    for (config, name) in cases {
        assert_err!(config.init(&device), CoreError::InvalidConfig { .. }, name);
    }
}

/// A 3D U-Net refuses a 2D batch (wrong rank) and volumes whose sides are not multiples of
/// its size multiple.
#[test]
fn unet_inputs_of_the_wrong_rank_or_size_are_refused() {
    let device = test_device();
    let volume_net = build(&tiny(1).with_spatial_dims(3));
    let t = Tensor::<1>::zeros([1], &device);
    assert_err!(
        volume_net.evaluate(
            Tensor::<4>::zeros([1, 1, 4, 4], &device),
            t.clone(),
            &Condition::none()
        ),
        CoreError::InvalidRank { expected: 5, got: 4, .. },
        "x_t"
    );
    assert_err!(
        volume_net.evaluate(Tensor::<5>::zeros([1, 1, 2, 3, 2], &device), t, &Condition::none()),
        CoreError::ShapeMismatch { .. },
        "x_t"
    );
}

/// Conditioning that does not fit the network: a missing or misshapen image, an embedding of
/// the wrong width, an embedding the network was built without, and a keep mask of another
/// batch size.
#[test]
fn unet_conditions_that_do_not_fit_are_refused() {
    let device = test_device();
    let x = Tensor::<4>::zeros([2, 1, 4, 4], &device);
    let t = Tensor::<1>::zeros([2], &device);

    let image_net = build(&tiny(1).with_cond_image_channels(1));
    assert_err!(
        image_net.evaluate(x.clone(), t.clone(), &Condition::none()),
        CoreError::InvalidConfig { .. },
        "condition.image"
    );
    let narrow_image = Condition::none().with_image(Tensor::zeros([2, 1, 4, 2], &device));
    assert_err!(
        image_net.evaluate(x.clone(), t.clone(), &narrow_image),
        CoreError::ShapeMismatch { .. },
        "condition.image"
    );

    let vector_net = build(&tiny(1).with_embedding_dim(Some(3)));
    let wide = Condition::none().with_embedding(Tensor::zeros([2, 4], &device));
    assert_err!(
        vector_net.evaluate(x.clone(), t.clone(), &wide),
        CoreError::ShapeMismatch { .. },
        "condition.embedding"
    );
    let plain_net = build(&tiny(1));
    let covariates = Condition::none().with_embedding(Tensor::zeros([2, 3], &device));
    assert_err!(
        plain_net.evaluate(x.clone(), t.clone(), &covariates),
        CoreError::InvalidConfig { .. },
        "condition.embedding"
    );
    let three_keeps = Condition { keep: Some(Tensor::ones([3], &device)), ..covariates };
    assert_err!(
        vector_net.evaluate(x, t, &three_keeps),
        CoreError::ShapeMismatch { .. },
        "condition"
    );
}

//! Bad inputs to the public API of `medgen-vae`, beyond those of `tests/suite/api.rs`: decoder
//! outputs with an odd, zero or missing channel axis for a Gaussian posterior, convolution
//! stacks with no or zero-width levels, feature channels appended to a tensor without a
//! channel axis or from another batch, likelihoods whose decoder output does not fit the data,
//! latent walks between codes of different shapes, with one step or beyond the code, latent
//! scales from constant or NaN codes, encoding with a zero batch size, latent discriminators
//! of zero size or fed codes of the wrong size, corruption and adversarial weights out of
//! range, and condition embeddings and keep masks of the wrong size. Each case asserts the
//! exact `VaeError` variant and that the message names the offending argument.

use medgen_core::burn::tensor::{Int, Tensor};
use medgen_core::{Condition, CoreError, seeded_rng};
use medgen_testing::{assert_err, test_device};
use medgen_vae::{
    AdversarialAeConfig, AeConfig, BackboneConfig, ConditionSpec, ConvStack, Corruption,
    DiagonalGaussian, LatentDiscriminatorConfig, LatentScale, Likelihood, PatchAdversarialConfig,
    VaeConfig, VaeError, append_channels, encode_dataset, interpolate_latents, latent_traversal,
};

/// A vector backbone: 3 data values, 2 latent values, one hidden layer of 4.
fn vector_backbone() -> BackboneConfig {
    BackboneConfig::new(0, 3, 2).with_hidden(vec![4])
}

/// A decoder output with an odd or zero channel count, or no channel axis at all, cannot be
/// split into a mean and a log-variance (this used to panic).
#[test]
fn gaussians_from_channels_need_an_even_positive_channel_count() {
    let device = test_device();
    assert_err!(
        DiagonalGaussian::from_channels(Tensor::<4>::zeros([1, 3, 2, 2], &device)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "h"
    );
    assert_err!(
        DiagonalGaussian::from_channels(Tensor::<4>::zeros([1, 0, 2, 2], &device)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "h"
    );
    assert_err!(
        DiagonalGaussian::from_channels(Tensor::<1>::zeros([4], &device)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "h"
    );
}

/// A convolution stack needs at least one level and no zero-width layer, encoder or decoder
/// (an empty list used to panic on indexing).
#[test]
fn conv_stacks_need_levels_of_positive_width() {
    let device = test_device();
    assert_err!(
        ConvStack::encoder(2, 1, &[], 2, &device),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "channels"
    );
    assert_err!(
        ConvStack::decoder(2, 1, &[], 2, &device),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "channels"
    );
    assert_err!(
        ConvStack::decoder(2, 2, &[4, 0], 1, &device),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "channels"
    );
}

/// Feature channels cannot be appended to a tensor without a channel axis or from a feature
/// batch of another size (both used to panic in the reshape).
#[test]
fn appended_channels_need_a_channel_axis_and_one_batch() {
    let device = test_device();
    let features = Tensor::<2>::zeros([2, 3], &device);
    assert_err!(
        append_channels(Tensor::<1>::zeros([2], &device), Some(&features)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "x"
    );
    assert_err!(
        append_channels(Tensor::<4>::zeros([3, 1, 2, 2], &device), Some(&features)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "features"
    );
}

/// A decoder output shaped unlike the data (or, for a learned variance, without twice its
/// channels) is a shape error naming `h`; so is the mean of an odd-channel learned-variance
/// output.
#[test]
fn likelihoods_need_decoder_outputs_that_fit_the_data() {
    let device = test_device();
    let x = || Tensor::<4>::zeros([2, 1, 2, 2], &device);
    assert_err!(
        Likelihood::Gaussian { std: 1.0 }.log_prob(Tensor::zeros([2, 1, 2, 3], &device), x()),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "h"
    );
    let learned = Likelihood::GaussianLearnedVariance { min_log_var: -10.0 };
    assert_err!(learned.log_prob(x(), x()), VaeError::Core(CoreError::ShapeMismatch { .. }), "h");
    assert_err!(
        learned.mean(Tensor::<4>::zeros([2, 3, 2, 2], &device)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "h"
    );
}

/// Interpolation refuses end points of different shapes and a single step; traversal refuses
/// an index beyond the code.
#[test]
fn latent_walks_reject_misfitting_codes_and_steps() {
    let device = test_device();
    let code = || Tensor::<2>::zeros([1, 4], &device);
    assert_err!(
        interpolate_latents(code(), Tensor::zeros([1, 3], &device), 3, false),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "interpolation end point"
    );
    assert_err!(
        interpolate_latents(code(), code(), 1, true),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    assert_err!(
        latent_traversal(code(), 4, &[0.0, 1.0]),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "traversal"
    );
}

/// A latent scale cannot be estimated from constant or NaN codes; a data set cannot be encoded
/// in batches of zero.
#[test]
fn latent_scales_and_encoding_reject_degenerate_inputs() {
    let device = test_device();
    assert_err!(
        LatentScale::estimate(&Tensor::<4>::ones([2, 1, 2, 2], &device)),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "latents"
    );
    let nan = Tensor::<2>::from_floats([[0.0, f32::NAN]], &device);
    assert_err!(
        LatentScale::estimate(&nan),
        VaeError::Core(CoreError::NonFinite { .. }),
        "latents"
    );
    let ae = AeConfig::new(vector_backbone()).init(&device).unwrap();
    assert_err!(
        encode_dataset(&ae, &Tensor::<2>::zeros([2, 3], &device), 0),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "batch_size"
    );
}

/// A latent discriminator needs a positive code size and codes of that size.
#[test]
fn latent_discriminators_reject_zero_and_misfitting_sizes() {
    let device = test_device();
    assert_err!(
        LatentDiscriminatorConfig::new(0).init(&device),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "latent_size"
    );
    let discriminator =
        LatentDiscriminatorConfig::new(4).with_hidden(vec![4]).init(&device).unwrap();
    assert_err!(
        discriminator.forward(Tensor::<2>::zeros([2, 3], &device)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "latent code"
    );
}

/// Corruptions with a probability above one or a NaN noise level, and adversarial or KL
/// weights that are NaN or negative, are refused.
#[test]
fn corruption_and_adversarial_weights_out_of_range_are_refused() {
    let device = test_device();
    let masking = Corruption::Masking { p: 1.5, fill: 0.0 };
    assert_err!(
        masking.apply(Tensor::<2>::zeros([1, 3], &device), &mut seeded_rng(0)),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "corruption.p/fill"
    );
    let nan_noise = Some(Corruption::Gaussian { std: f64::NAN });
    assert_err!(
        AeConfig::new(vector_backbone()).with_corruption(nan_noise).init(&device),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "corruption.std"
    );
    assert_err!(
        AdversarialAeConfig::new().with_adversarial_weight(f64::NAN).init(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "adversarial_weight"
    );
    assert_err!(
        PatchAdversarialConfig::new().with_kl_weight(-1.0).init(),
        VaeError::Core(CoreError::InvalidConfig { .. }),
        "kl_weight"
    );
}

/// A conditional VAE refuses covariates of the wrong width and a keep mask for another batch
/// size.
#[test]
fn condition_embeddings_and_keep_masks_must_fit_the_batch() {
    let device = test_device();
    let spec = ConditionSpec::new().with_num_classes(Some(2)).with_embedding_dim(Some(2));
    let vae = VaeConfig::new(vector_backbone()).with_condition(spec).init(&device).unwrap();
    let x = || Tensor::<2>::zeros([2, 3], &device);
    let condition = |width: usize| {
        Condition::<2>::none()
            .with_class(Tensor::<1, Int>::from_ints([0, 1], &device))
            .with_embedding(Tensor::zeros([2, width], &device))
    };
    assert_err!(
        vae.elbo(x(), &condition(3), &mut seeded_rng(0)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "condition.embedding"
    );
    let mut keep_three = condition(2);
    keep_three.keep = Some(Tensor::ones([3], &device));
    assert_err!(
        vae.elbo(x(), &keep_three, &mut seeded_rng(0)),
        VaeError::Core(CoreError::ShapeMismatch { .. }),
        "condition.keep"
    );
}

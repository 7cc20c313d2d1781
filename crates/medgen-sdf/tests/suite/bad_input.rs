//! Bad inputs to the public API of `medgen-sdf`, beyond those of `tests/suite/api.rs`: truncation
//! distances that are infinite or that overflow or underflow once scaled by the spacing (which
//! would give NaN or all-zero normalised SDFs), spacings whose squared distances overflow or
//! underflow, spacings of the wrong length for a batch, masks holding NaN or values other than
//! 0 and 1, zero-sized batches, misshapen volume batches and shapes, and empty SDFs. Each case
//! asserts the exact `CoreError` variant (inside `SdfError::Core`) and that the message names
//! the offending argument.

use medgen_core::CoreError;
use medgen_core::burn::tensor::Tensor;
use medgen_sdf::{
    EdtOptions, SdfConfig, SdfError, SignConvention, Truncation, distance_transform_edt,
    distance_transform_edt_tensor, mask_from_sdf_tensor, read_binary_mask, signed_distance,
    signed_distance_tensor,
};
use medgen_testing::{assert_err, test_device};

/// A 4 × 4 mask with a 2 × 2 square inside.
fn square() -> Vec<bool> {
    (0..16).map(|i| [5, 6, 9, 10].contains(&i)).collect()
}

/// An infinite physical truncation, and pixel truncations that overflow to `∞` or underflow to
/// 0 once multiplied by the finest spacing, are refused: normalising by them would give
/// all-zero or NaN maps.
#[test]
fn truncations_that_vanish_or_overflow_are_refused() {
    let sdf = |config: SdfConfig| signed_distance(&square(), &[4, 4], &config);
    assert_err!(
        sdf(SdfConfig::new().with_truncation(Truncation::Physical(f64::INFINITY))),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "truncation"
    );
    assert_err!(
        sdf(SdfConfig::truncated_normalized(1e-200).with_sampling(Some(vec![1e-150]))),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "truncation"
    );
    assert_err!(
        sdf(SdfConfig::truncated_normalized(1e200).with_sampling(Some(vec![1e150]))),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "truncation"
    );
}

/// Spacings whose squared distances overflow to `∞` or underflow to 0 across the array are
/// refused rather than giving infinite or zero distances to a background pixel.
#[test]
fn spacings_whose_squares_overflow_or_underflow_are_refused() {
    let mask = [false, true, true, true];
    let edt = |sampling: Vec<f64>| {
        distance_transform_edt(&mask, &[2, 2], &EdtOptions::new().with_sampling(Some(sampling)))
    };
    assert_err!(edt(vec![1e160, 1.0]), SdfError::Core(CoreError::InvalidConfig { .. }), "sampling");
    assert_err!(edt(vec![1e-170]), SdfError::Core(CoreError::InvalidConfig { .. }), "sampling");
    assert_err!(
        signed_distance(&square(), &[4, 4], &SdfConfig::new().with_sampling(Some(vec![1e200]))),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "sampling"
    );
}

/// A batch transform with one spacing per axis of the *batch* (not of the items), a zero
/// thread count, a NaN mask value and a mask value of 2 are refused.
#[test]
fn batch_transforms_reject_bad_spacing_threads_and_values() {
    let device = test_device();
    let masks = || Tensor::<3>::ones([2, 3, 3], &device);
    let per_batch_axis = EdtOptions::new().with_sampling(Some(vec![1.0, 1.0, 1.0]));
    assert_err!(
        distance_transform_edt_tensor(masks(), &per_batch_axis),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "sampling"
    );
    assert_err!(
        distance_transform_edt_tensor(masks(), &EdtOptions::new().with_threads(Some(0))),
        SdfError::Core(CoreError::InvalidConfig { .. }),
        "threads"
    );
    let nan = Tensor::<3>::from_floats([[[1.0, f32::NAN], [0.0, 1.0]]], &device);
    assert_err!(
        distance_transform_edt_tensor(nan, &EdtOptions::new()),
        SdfError::Core(CoreError::NonBinaryMask { index: 1, .. }),
        "masks"
    );
    let two = Tensor::<4>::from_floats([[[[0.0, 2.0], [1.0, 1.0]]]], &device);
    assert_err!(
        signed_distance_tensor(two, &SdfConfig::new()),
        SdfError::Core(CoreError::NonBinaryMask { index: 1, .. }),
        "masks"
    );
}

/// Zero-sized batches and volume batches with two channels are refused by the SDF of a
/// tensor; an empty tensor is refused by the mask reader and by the inverse map.
#[test]
fn empty_and_misshapen_batches_are_refused() {
    let device = test_device();
    assert_err!(
        signed_distance_tensor(Tensor::<4>::zeros([0, 1, 4, 4], &device), &SdfConfig::new()),
        SdfError::Core(CoreError::Empty { .. }),
        "masks"
    );
    assert_err!(
        signed_distance_tensor(Tensor::<5>::zeros([1, 2, 2, 2, 2], &device), &SdfConfig::new()),
        SdfError::Core(CoreError::ShapeMismatch { .. }),
        "masks"
    );
    assert_err!(
        read_binary_mask(Tensor::<2>::zeros([3, 0], &device), "labels"),
        SdfError::Core(CoreError::Empty { .. }),
        "labels"
    );
    assert_err!(
        mask_from_sdf_tensor(
            Tensor::<4>::zeros([1, 1, 0, 2], &device),
            0.0,
            SignConvention::NegativeInside
        ),
        SdfError::Core(CoreError::Empty { .. }),
        "sdf"
    );
}

/// A shape with no axis, a 3D shape that does not fit the mask and a mask value outside
/// `{0, 1}` (negative one) are refused by the host transforms.
#[test]
fn host_transforms_reject_misfitting_shapes_and_values() {
    assert_err!(
        signed_distance(&square(), &[], &SdfConfig::new()),
        SdfError::Core(CoreError::ShapeMismatch { .. }),
        "mask shape"
    );
    assert_err!(
        signed_distance(&square(), &[2, 2, 2], &SdfConfig::new()),
        SdfError::Core(CoreError::ShapeMismatch { .. }),
        "mask"
    );
    let negative = Tensor::<2>::from_floats([[0.0, -1.0]], &test_device());
    assert_err!(
        read_binary_mask(negative, "prediction"),
        SdfError::Core(CoreError::NonBinaryMask { index: 1, .. }),
        "prediction"
    );
}

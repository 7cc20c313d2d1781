//! Bad inputs to the public API of `medgen-seg`, beyond those of `tests/suite/api.rs`: blend weights
//! asked for beyond the patch (zero), patch layouts with zero strides or the wrong number of
//! axes, crops and positional channels that do not fit the volume, stitchers fed patches out
//! of place, of the wrong shape or holding NaN (from a model, through `predict_by_patches`) or
//! left with uncovered voxels, segmenters whose network returns NaN or that are given a volume
//! with the wrong channel count, uncertainty calibration against an error mask that is
//! all false or of another length or with NaN uncertainties, boundary bands that are NaN,
//! rotations out of range, augmented buffers that are not whole planes, and ambiguous
//! phantoms with no annotator or too large an offset. Each case asserts the exact `SegError`
//! variant and that the message names the offending argument.

use medgen_core::burn::tensor::Tensor;
use medgen_core::{Condition, CoreError, seeded_rng};
use medgen_data::PhantomConfig;
use medgen_flow::FlowError;
use medgen_seg::{
    AmbiguousPhantoms, AugmentConfig, Augmentation, PatchBlend, PatchConfig, PatchStitcher,
    SdfSegmenter, SegError, boundary_uncertainty, crop, crop_per_item, positional_channels,
    predict_by_patches, uncertainty_error_correlation,
};
use medgen_testing::{assert_err, test_device};

use crate::common::tiny_config;

/// Every blend weighs voxels beyond the patch side by zero (this used to underflow or index
/// past the patch).
#[test]
fn blend_weights_beyond_the_patch_are_zero() {
    for blend in [PatchBlend::Constant, PatchBlend::Linear, PatchBlend::Gaussian] {
        assert!(blend.weight(3, 4) > 0.0, "{blend:?} inside the patch");
        assert_eq!(blend.weight(4, 4), 0.0, "{blend:?} at the patch side");
        assert_eq!(blend.weight(9, 4), 0.0, "{blend:?} beyond the patch");
        assert_eq!(blend.weight(0, 0), 0.0, "{blend:?} of an empty side");
    }
}

/// A zero stride, a stride for another number of axes and a patch size for another number of
/// axes are refused by the layout.
#[test]
fn patch_layouts_reject_zero_strides_and_wrong_axes() {
    let patches = PatchConfig::new(vec![4, 4]);
    assert_err!(
        patches.clone().with_stride(Some(vec![0, 2])).origins(&[8, 8]),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "stride"
    );
    assert_err!(
        patches.clone().with_stride(Some(vec![2])).random_origins(&[8, 8], 2, &mut seeded_rng(0)),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "stride"
    );
    assert_err!(
        patches.origins(&[8, 8, 8]),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "patch_size"
    );
}

/// A crop that leaves the volume, one origin short of the batch, and positional channels for
/// another number of axes are shape errors.
#[test]
fn crops_and_positions_must_fit_the_volume() {
    let device = test_device();
    let volume = || Tensor::<4>::zeros([2, 1, 6, 6], &device);
    assert_err!(
        crop(volume(), &[4, 0], &[4, 4]),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch"
    );
    assert_err!(
        crop_per_item(volume(), &[vec![0, 0]], &[4, 4]),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch origins"
    );
    assert_err!(
        positional_channels::<4>(&[vec![0, 0, 0]], &[4, 4], &[6, 6], &device),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "positional channels"
    );
}

/// A stitcher refuses a patch larger than the volume, an origin that pushes the patch out,
/// outputs of the wrong shape and voxels that no patch covered.
#[test]
fn stitchers_reject_misplaced_patches_and_gaps() {
    let device = test_device();
    assert_err!(
        PatchStitcher::new(1, 1, &[4, 4], &[5, 4], PatchBlend::Constant),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch size"
    );
    let mut stitcher = PatchStitcher::new(1, 1, &[4, 4], &[2, 2], PatchBlend::Constant).unwrap();
    let patch = || Tensor::<4>::ones([1, 1, 2, 2], &device);
    assert_err!(
        stitcher.add(&[3, 0], patch()),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch origin"
    );
    assert_err!(
        stitcher.add(&[0, 0], Tensor::<4>::ones([1, 2, 2, 2], &device)),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch output"
    );
    stitcher.add(&[0, 0], patch()).unwrap();
    assert_err!(
        stitcher.finish::<4>(&device),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "patches"
    );
}

/// A model that returns NaN for a patch, or a patch of the wrong channel count, stops patch
/// inference with a typed error instead of a NaN volume.
#[test]
fn patch_inference_rejects_nan_and_misshapen_model_outputs() {
    let device = test_device();
    let volume = || Tensor::<4>::ones([1, 1, 4, 4], &device);
    let patches = PatchConfig::new(vec![2, 2]);
    assert_err!(
        predict_by_patches(volume(), &patches, 1, |p: Tensor<4>| Ok(p
            .narrow(1, 0, 1)
            .mul_scalar(f32::NAN))),
        SegError::Core(CoreError::NonFinite { .. }),
        "patch output"
    );
    assert_err!(
        predict_by_patches(volume(), &patches, 1, |p: Tensor<4>| Ok(p)),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "patch output"
    );
}

/// A segmenter whose network returns NaN stops with a non-finite ODE state; a whole-volume
/// segmentation needs a segmenter with positional channels.
#[test]
fn segmenters_reject_nan_networks_and_volumes_without_positions() {
    let device = test_device();
    let nan =
        |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x.mul_scalar(f32::NAN));
    let segmenter = SdfSegmenter::new(nan, &tiny_config()).unwrap();
    let images = || Tensor::<4>::zeros([1, 1, 4, 4], &device);
    assert_err!(
        segmenter.segment(images(), 1, 1, &mut seeded_rng(0)),
        SegError::Flow(FlowError::Core(CoreError::NonFinite { .. })),
        "ODE state"
    );
    assert_err!(
        segmenter.segment_volume(images(), &PatchConfig::new(vec![2, 2]), 1, 1, &mut seeded_rng(0)),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "volume"
    );
}

/// Calibration refuses an error mask of another length, an all-false (empty) error mask,
/// NaN uncertainties and a NaN boundary band.
#[test]
fn calibration_rejects_empty_masks_nan_and_misfitting_lengths() {
    let uncertainty = [0.1, 0.4, 0.2, 0.9];
    assert_err!(
        uncertainty_error_correlation(&uncertainty, &[true, false]),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "error"
    );
    assert_err!(
        uncertainty_error_correlation(&uncertainty, &[false; 4]),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "uncertainty/error"
    );
    assert_err!(
        uncertainty_error_correlation(&[0.1, f64::NAN], &[true, false]),
        SegError::Core(CoreError::NonFinite { .. }),
        "uncertainty"
    );
    assert_err!(
        boundary_uncertainty(&uncertainty, &[true, false, false, false], &[2, 2], f64::NAN),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "band"
    );
}

/// A NaN rotation range, a buffer that is not whole planes, and ambiguous phantoms with no
/// annotator or too large an offset are refused.
#[test]
fn augmentation_and_phantom_settings_out_of_range_are_refused() {
    assert_err!(
        AugmentConfig::new().with_max_rotation_degrees(f64::NAN).draw(&mut seeded_rng(0)),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "max_rotation_degrees"
    );
    assert_err!(
        Augmentation::identity().apply_image(&[0.0; 5], 2, 2),
        SegError::Core(CoreError::ShapeMismatch { .. }),
        "augmented values"
    );
    let phantoms = PhantomConfig::new(8);
    assert_err!(
        AmbiguousPhantoms::generate(&phantoms, 1, 0, 1, &mut seeded_rng(0)),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "annotators"
    );
    assert_err!(
        AmbiguousPhantoms::generate(&phantoms, 1, 2, 9, &mut seeded_rng(0)),
        SegError::Core(CoreError::InvalidConfig { .. }),
        "max_offset"
    );
}

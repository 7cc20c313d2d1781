//! The public API of `medgen-sdf`, used as a dependent crate would use it: exact distance
//! transforms and signed distance functions of tiny masks checked against distances worked
//! out by hand (isotropic and anisotropic spacing, 2-D and 3-D, host buffers and tensors),
//! the exact mask → SDF → mask round trip, and bad inputs that must fail with the exact
//! `CoreError` variant and a message naming the offending argument.

use medgen_core::CoreError;
use medgen_core::burn::tensor::{Int, Tensor, TensorData};
use medgen_sdf::{
    EdtOptions, NoBackground, SdfConfig, SdfError, SignConvention, Truncation,
    distance_transform_edt, distance_transform_edt_tensor, mask_from_sdf, mask_from_sdf_tensor,
    read_binary_mask, signed_distance, signed_distance_tensor,
};
use medgen_testing::{host, test_device};

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// A row-major boolean mask from rows of 0/1.
fn mask_of<const W: usize>(rows: &[[u8; W]]) -> Vec<bool> {
    rows.iter().flatten().map(|&v| v == 1).collect()
}

/// The 4 × 4 mask with the 2 × 2 square `[1, 3) × [1, 3)` set.
fn centred_square() -> Vec<bool> {
    mask_of(&[[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
}

fn assert_all_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

/// The shared error inside an `SdfError`.
fn core_error<T: std::fmt::Debug>(result: Result<T, SdfError>) -> CoreError {
    match result {
        Err(SdfError::Core(err)) => err,
        other => panic!("expected an SdfError::Core, got {other:?}"),
    }
}

#[test]
fn edt_of_a_single_background_pixel_is_the_euclidean_distance_to_it() {
    // Every pixel of a 3 × 4 mask is foreground except (1, 3).
    let mask = mask_of(&[[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]);
    let options = EdtOptions::new().with_return_indices(true);
    let edt = distance_transform_edt(&mask, &[3, 4], &options).unwrap();
    let (s10, s5) = (10f64.sqrt(), 5f64.sqrt());
    #[rustfmt::skip]
    let want = [
        s10, s5, SQRT2, 1.0,
        3.0, 2.0, 1.0, 0.0,
        s10, s5, SQRT2, 1.0,
    ];
    assert_eq!(edt.shape, vec![3, 4]);
    assert_all_close(&edt.distances, &want, 1e-12, "distances");
    // scipy's layout [ndim, *shape]: every nearest background pixel is (1, 3).
    let indices = edt.indices.expect("indices were asked for");
    assert_eq!(indices, [vec![1; 12], vec![3; 12]].concat());
}

#[test]
fn edt_in_one_dimension_counts_steps_to_the_nearest_zero() {
    let mask = [false, true, true, true, true, false, true];
    let edt = distance_transform_edt(&mask, &[7], &EdtOptions::new()).unwrap();
    assert_eq!(edt.distances, vec![0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 1.0]);
    assert_eq!(edt.indices, None);
}

#[test]
fn anisotropic_sampling_scales_each_axis_and_can_change_the_nearest_pixel() {
    // Background pixels A = (0, 2) and B = (2, 0) of a 3 × 3 mask; rows 2 apart, columns 0.5.
    let mask = mask_of(&[[1, 1, 0], [1, 1, 1], [0, 1, 1]]);
    let options = EdtOptions::new().with_sampling(Some(vec![2.0, 0.5])).with_return_indices(true);
    let edt = distance_transform_edt(&mask, &[3, 3], &options).unwrap();
    // d(x, y) = √((2Δr)² + (0.5Δc)²), minimised over A and B.
    let s425 = 4.25f64.sqrt();
    #[rustfmt::skip]
    let want = [
        1.0, 0.5, 0.0,
        2.0, s425, 2.0,
        0.0, 0.5, 1.0,
    ];
    assert_all_close(&edt.distances, &want, 1e-12, "anisotropic distances");
    let indices = edt.indices.unwrap();
    let nearest = |i: usize| (indices[i], indices[9 + i]);
    // (0, 0) is 1 from A but 4 from B; (2, 2) is 4 from A but 1 from B.
    assert_eq!(nearest(0), (0, 2));
    assert_eq!(nearest(8), (2, 0));
    assert_eq!(nearest(3), (2, 0)); // (1, 0): 2 from B, √5 from A
    assert_eq!(nearest(5), (0, 2)); // (1, 2): 2 from A, √5 from B

    // Swapping the spacings swaps which background pixel is nearer to the corners.
    let swapped = EdtOptions::new().with_sampling(Some(vec![0.5, 2.0]));
    let edt = distance_transform_edt(&mask, &[3, 3], &swapped).unwrap();
    assert_all_close(
        &edt.distances,
        &[1.0, 2.0, 0.0, 0.5, s425, 0.5, 0.0, 2.0, 1.0],
        1e-12,
        "swapped",
    );

    // A single spacing applies to every axis: distances scale linearly.
    let scaled = EdtOptions::new().with_sampling(Some(vec![3.0]));
    let unit = distance_transform_edt(&mask, &[3, 3], &EdtOptions::new()).unwrap();
    let edt = distance_transform_edt(&mask, &[3, 3], &scaled).unwrap();
    let want: Vec<f64> = unit.distances.iter().map(|d| 3.0 * d).collect();
    assert_all_close(&edt.distances, &want, 1e-12, "uniform spacing");
}

#[test]
fn three_dimensional_edt_with_spacing_per_axis() {
    // A 2 × 2 × 2 volume whose only background voxel is the origin.
    let mut mask = vec![true; 8];
    mask[0] = false;
    let options = EdtOptions::new().with_sampling(Some(vec![3.0, 2.0, 1.0]));
    let edt = distance_transform_edt(&mask, &[2, 2, 2], &options).unwrap();
    // Voxel (z, y, x) is √((3z)² + (2y)² + x²) from the origin.
    let want: Vec<f64> = (0..8)
        .map(|i| {
            let (z, y, x) = ((i / 4) as f64, ((i / 2) % 2) as f64, (i % 2) as f64);
            (9.0 * z * z + 4.0 * y * y + x * x).sqrt()
        })
        .collect();
    assert_all_close(&edt.distances, &want, 1e-12, "3-D distances");
    assert!((edt.distances[7] - 14f64.sqrt()).abs() < 1e-12);
}

#[test]
fn a_mask_without_background_follows_the_no_background_policy() {
    let mask = [true; 4];
    let options = EdtOptions::new().with_return_indices(true);
    let edt = distance_transform_edt(&mask, &[2, 2], &options).unwrap();
    assert!(edt.distances.iter().all(|d| *d == f64::INFINITY), "{:?}", edt.distances);
    assert_eq!(edt.indices.unwrap(), vec![-1, -1, -1, -1, 0, 0, 0, 0]);
    // scipy's artefact: the distance to the virtual point (-1, 0).
    let scipy = options.with_no_background(NoBackground::Scipy);
    let edt = distance_transform_edt(&mask, &[2, 2], &scipy).unwrap();
    assert_all_close(&edt.distances, &[1.0, SQRT2, 2.0, 5f64.sqrt()], 1e-12, "scipy policy");
}

#[test]
fn signed_distance_of_a_square_matches_hand_computed_values() {
    let mask = centred_square();
    let plain = signed_distance(&mask, &[4, 4], &SdfConfig::new()).unwrap();
    #[rustfmt::skip]
    let want = [
        SQRT2, 1.0, 1.0, SQRT2,
        1.0, -1.0, -1.0, 1.0,
        1.0, -1.0, -1.0, 1.0,
        SQRT2, 1.0, 1.0, SQRT2,
    ];
    assert_all_close(&plain, &want, 1e-12, "plain sdf");

    // Truncated at τ = 2 pixels and normalised: everything divided by 2.
    let normalised =
        signed_distance(&mask, &[4, 4], &SdfConfig::truncated_normalized(2.0)).unwrap();
    let halved: Vec<f64> = want.iter().map(|v| v / 2.0).collect();
    assert_all_close(&normalised, &halved, 1e-12, "normalised sdf");

    // Truncated at 1.2 without normalising: only the corners (√2) are clipped.
    let truncated = SdfConfig::new().with_truncation(Truncation::Pixels(1.2));
    let clipped = signed_distance(&mask, &[4, 4], &truncated).unwrap();
    let want_clipped: Vec<f64> = want.iter().map(|v| v.clamp(-1.2, 1.2)).collect();
    assert_all_close(&clipped, &want_clipped, 1e-12, "truncated sdf");

    // The other sign convention flips every sign.
    let positive = SdfConfig::new().with_sign(SignConvention::PositiveInside);
    let flipped = signed_distance(&mask, &[4, 4], &positive).unwrap();
    let negated: Vec<f64> = want.iter().map(|v| -v).collect();
    assert_all_close(&flipped, &negated, 1e-12, "positive inside");

    // Rows 2 apart, columns 1: the inside pixels are one column (1 unit) from the outside,
    // the corners √(2² + 1²) from the square.
    let spaced = SdfConfig::new().with_sampling(Some(vec![2.0, 1.0]));
    let sdf = signed_distance(&mask, &[4, 4], &spaced).unwrap();
    assert_all_close(&sdf[..4], &[5f64.sqrt(), 2.0, 2.0, 5f64.sqrt()], 1e-12, "spaced row 0");
    assert_all_close(&sdf[4..8], &[1.0, -1.0, -1.0, 1.0], 1e-12, "spaced row 1");
}

#[test]
fn physical_truncation_uses_the_spacing_units() {
    // Pixels(4) with finest spacing 0.5 is τ = 2 physical units; Physical(2) is the same.
    let mask = [false, false, false, false, false, false, false, true];
    let base = SdfConfig::new().with_sampling(Some(vec![0.5])).with_normalize(true);
    let pixels =
        signed_distance(&mask, &[8], &base.clone().with_truncation(Truncation::Pixels(4.0)))
            .unwrap();
    let physical =
        signed_distance(&mask, &[8], &base.with_truncation(Truncation::Physical(2.0))).unwrap();
    // Distances to the inside pixel: 3.5, 3, …, 0.5, then −0.5 inside; clipped at 2, / 2.
    let want = [1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, -0.25];
    assert_all_close(&pixels, &want, 1e-12, "pixel truncation");
    assert_all_close(&physical, &want, 1e-12, "physical truncation");
}

#[test]
fn mask_to_sdf_to_mask_round_trip_is_exact() {
    let mask = centred_square();
    let configs = [
        SdfConfig::new(),
        SdfConfig::truncated_normalized(1.5),
        SdfConfig::truncated_normalized(3.0).with_sign(SignConvention::PositiveInside),
        SdfConfig::new()
            .with_truncation(Truncation::Physical(0.7))
            .with_sampling(Some(vec![0.5, 2.0])),
    ];
    for config in configs {
        let sdf = signed_distance(&mask, &[4, 4], &config).unwrap();
        assert!(sdf.iter().all(|v| *v != 0.0), "{config}: a zero SDF value");
        assert_eq!(mask_from_sdf(&sdf, 0.0, config.sign).unwrap(), mask, "{config}");
    }
    // Empty and full masks give constant maps, ±1 when normalised, and still round-trip.
    let config = SdfConfig::truncated_normalized(2.0);
    let empty = signed_distance(&[false; 6], &[2, 3], &config).unwrap();
    assert_eq!(empty, vec![1.0; 6]);
    let full = signed_distance(&[true; 6], &[2, 3], &config).unwrap();
    assert_eq!(full, vec![-1.0; 6]);
    assert_eq!(mask_from_sdf(&full, 0.0, config.sign).unwrap(), vec![true; 6]);
    // A non-zero threshold moves the boundary.
    let shifted = mask_from_sdf(&[-0.5, 0.2, 0.7], 0.5, SignConvention::NegativeInside).unwrap();
    assert_eq!(shifted, vec![true, true, false]);
}

#[test]
fn tensor_edt_matches_the_host_transform_per_item() {
    let device = test_device();
    // Item 0: background only at (1, 3); item 1: no background at all.
    let item0 = mask_of(&[[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]);
    let values: Vec<f32> =
        item0.iter().map(|&m| f32::from(u8::from(m))).chain(std::iter::repeat_n(1.0, 12)).collect();
    let masks = Tensor::<3>::from_data(TensorData::new(values, [2, 3, 4]), &device);
    let options = EdtOptions::new().with_return_indices(true);
    let out = distance_transform_edt_tensor(masks, &options).unwrap();
    assert_eq!(out.distances.dims(), [2, 3, 4]);
    let distances = host::<f32, 3, _>(out.distances);
    let host_edt = distance_transform_edt(&item0, &[3, 4], &EdtOptions::new()).unwrap();
    for (i, (g, w)) in distances[..12].iter().zip(&host_edt.distances).enumerate() {
        assert!((f64::from(*g) - w).abs() < 1e-6, "item 0 pixel {i}: {g} vs {w}");
    }
    assert_eq!(distances[4], 3.0);
    assert!(distances[12..].iter().all(|d| *d == f32::INFINITY));
    // Flat index within the item: (1, 3) is 1 · 4 + 3 = 7; -1 where there is no background.
    let nearest: Tensor<3, Int> = out.nearest.expect("indices were asked for");
    let nearest = host::<i64, 3, _>(nearest);
    assert!(nearest[..12].iter().all(|&k| k == 7), "{nearest:?}");
    assert!(nearest[12..].iter().all(|&k| k == -1), "{nearest:?}");
}

#[test]
fn tensor_edt_of_volumes_uses_the_spatial_spacing() {
    let device = test_device();
    let mut values = vec![1.0f32; 8];
    values[0] = 0.0;
    let masks = Tensor::<4>::from_data(TensorData::new(values, [1, 2, 2, 2]), &device);
    let options = EdtOptions::new().with_sampling(Some(vec![3.0, 2.0, 1.0]));
    let out = distance_transform_edt_tensor(masks, &options).unwrap();
    assert!(out.nearest.is_none());
    let d = host::<f32, 4, _>(out.distances);
    assert_eq!(d[0], 0.0);
    assert_eq!(d[1], 1.0);
    assert_eq!(d[2], 2.0);
    assert_eq!(d[4], 3.0);
    assert!((d[7] - 14f32.sqrt()).abs() < 1e-6, "{d:?}");
}

#[test]
fn tensor_sdf_matches_the_host_sdf_and_round_trips() {
    let device = test_device();
    let square = centred_square();
    // Item 0: the centred square; item 1: an empty mask (a constant map).
    let values: Vec<f32> = square
        .iter()
        .map(|&m| f32::from(u8::from(m)))
        .chain(std::iter::repeat_n(0.0, 16))
        .collect();
    let masks = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 1, 4, 4]), &device);
    let config = SdfConfig::truncated_normalized(2.0);
    let sdf = signed_distance_tensor(masks, &config).unwrap();
    assert_eq!(sdf.dims(), [2, 1, 4, 4]);
    let got = host::<f32, 4, _>(sdf.clone());
    let want = signed_distance(&square, &[4, 4], &config).unwrap();
    for (i, (g, w)) in got[..16].iter().zip(&want).enumerate() {
        assert_eq!(*g, *w as f32, "pixel {i}");
    }
    assert_eq!(got[5], -0.5);
    assert!((got[0] - SQRT2 as f32 / 2.0).abs() < 1e-7);
    assert!(got[16..].iter().all(|v| *v == 1.0), "{:?}", &got[16..]);
    let back = mask_from_sdf_tensor(sdf, 0.0, config.sign).unwrap();
    assert_eq!(host::<f32, 4, _>(back), values);

    // Volumes [N, 1, D, H, W] round-trip too.
    let voxels: Vec<f32> = (0..2 * 3 * 3).map(|i| f32::from(u8::from(i % 4 == 1))).collect();
    let volume = Tensor::<5>::from_data(TensorData::new(voxels.clone(), [1, 1, 2, 3, 3]), &device);
    let config = SdfConfig::truncated_normalized(2.0).with_sign(SignConvention::PositiveInside);
    let sdf = signed_distance_tensor(volume, &config).unwrap();
    let values = host::<f32, 5, _>(sdf.clone());
    assert!(values.iter().all(|v| v.abs() <= 1.0 && *v != 0.0), "{values:?}");
    let back = mask_from_sdf_tensor(sdf, 0.0, config.sign).unwrap();
    assert_eq!(host::<f32, 5, _>(back), voxels);
}

#[test]
fn read_binary_mask_returns_the_mask_and_its_shape() {
    let device = test_device();
    let t = Tensor::<2>::from_floats([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], &device);
    let (mask, dims) = read_binary_mask(t, "labels").unwrap();
    assert_eq!(mask, vec![false, true, true, true, false, false]);
    assert_eq!(dims, [2, 3]);
}

#[test]
fn edt_rejects_bad_shapes_and_options_naming_the_argument() {
    let mask = [true, false, true, true];
    let options = EdtOptions::new();

    let err = core_error(distance_transform_edt(&mask, &[3], &options));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, got, .. } if what == "mask" && got == &[4]),
        "{err:?}"
    );
    assert!(err.to_string().contains("mask"), "{err}");

    let err = core_error(distance_transform_edt(&mask, &[], &options));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("mask shape"), "{err}");

    let err = core_error(distance_transform_edt(&[], &[0, 3], &options));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("mask"), "{err}");

    for sampling in [vec![0.0, 1.0], vec![-2.0], vec![1.0, f64::NAN], vec![1.0; 3]] {
        let bad = EdtOptions::new().with_sampling(Some(sampling.clone()));
        let err = core_error(distance_transform_edt(&mask, &[2, 2], &bad));
        assert!(
            matches!(&err, CoreError::InvalidConfig { name, .. } if name == "sampling"),
            "{sampling:?}: {err:?}"
        );
        assert!(err.to_string().contains("sampling"), "{err}");
    }

    let err = core_error(distance_transform_edt(&mask, &[2, 2], &options.with_threads(Some(0))));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "threads"), "{err:?}");
    assert!(err.to_string().contains("threads"), "{err}");
}

#[test]
fn sdf_rejects_bad_configurations_naming_the_field() {
    let mask = centred_square();

    let err = core_error(signed_distance(&mask, &[4, 4], &SdfConfig::new().with_normalize(true)));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "normalize"),
        "{err:?}"
    );
    assert!(err.to_string().contains("normalize"), "{err}");

    for truncation in
        [Truncation::Pixels(0.0), Truncation::Physical(-1.0), Truncation::Pixels(f64::NAN)]
    {
        let config = SdfConfig::new().with_truncation(truncation);
        let err = core_error(signed_distance(&mask, &[4, 4], &config));
        assert!(
            matches!(&err, CoreError::InvalidConfig { name, .. } if name == "truncation"),
            "{truncation:?}: {err:?}"
        );
        assert!(err.to_string().contains("truncation"), "{err}");
        assert!(config.validate(2).is_err());
    }

    let spaced = SdfConfig::new().with_sampling(Some(vec![1.0, 1.0, 1.0]));
    let err = core_error(signed_distance(&mask, &[4, 4], &spaced));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "sampling"), "{err:?}");
    assert!(spaced.validate(3).is_ok());

    let err = core_error(signed_distance(&mask, &[4, 5], &SdfConfig::new()));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("mask"), "{err}");
}

#[test]
fn mask_from_sdf_rejects_nan_and_empty_input() {
    let sign = SignConvention::NegativeInside;

    let err = core_error(mask_from_sdf(&[0.5, f64::NAN], 0.0, sign));
    assert!(matches!(err, CoreError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("sdf"), "{err}");

    let err = core_error(mask_from_sdf(&[], 0.0, sign));
    assert!(matches!(&err, CoreError::Empty { what } if what == "sdf"), "{err:?}");
    assert!(err.to_string().contains("sdf"), "{err}");

    let err = core_error(mask_from_sdf(&[0.5], f64::NAN, sign));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "threshold"),
        "{err:?}"
    );
    assert!(err.to_string().contains("threshold"), "{err}");
}

#[test]
fn tensor_entry_points_reject_bad_masks_naming_the_argument() {
    let device = test_device();
    let options = EdtOptions::new();

    // A soft value at flat index 2 of the batch.
    let soft = Tensor::<3>::from_floats([[[0.0, 1.0], [0.25, 1.0]]], &device);
    let err = core_error(distance_transform_edt_tensor(soft, &options));
    match &err {
        CoreError::NonBinaryMask { what, index, value } => {
            assert_eq!(what, "masks");
            assert_eq!(*index, 2);
            assert_eq!(*value, 0.25);
        }
        other => panic!("expected NonBinaryMask, got {other:?}"),
    }
    assert!(err.to_string().contains("masks"), "{err}");

    let rank1 = Tensor::<1>::zeros([4], &device);
    let err = core_error(distance_transform_edt_tensor(rank1, &options));
    assert!(matches!(err, CoreError::InvalidRank { got: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    let empty = Tensor::<3>::zeros([1, 0, 2], &device);
    let err = core_error(distance_transform_edt_tensor(empty, &options));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    let config = SdfConfig::new();
    let two_channels = Tensor::<4>::zeros([1, 2, 3, 3], &device);
    let err = core_error(signed_distance_tensor(two_channels, &config));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { got, .. } if got == &[1, 2, 3, 3]),
        "{err:?}"
    );
    assert!(err.to_string().contains("masks"), "{err}");

    let half = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
    let err = core_error(signed_distance_tensor(half, &config));
    assert!(matches!(err, CoreError::NonBinaryMask { index: 0, .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    let rank2 = Tensor::<2>::zeros([2, 2], &device);
    let err = core_error(signed_distance_tensor(rank2, &config));
    assert!(matches!(err, CoreError::InvalidRank { expected: 4, got: 2, .. }), "{err:?}");

    let nan = Tensor::<4>::from_floats([[[[0.5, f32::NAN]]]], &device);
    let err = core_error(mask_from_sdf_tensor(nan, 0.0, SignConvention::NegativeInside));
    assert!(matches!(err, CoreError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("sdf"), "{err}");

    let ok = Tensor::<4>::from_floats([[[[0.5, -0.5]]]], &device);
    let err = core_error(mask_from_sdf_tensor(ok, f64::NAN, SignConvention::NegativeInside));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "threshold"),
        "{err:?}"
    );

    let soft = Tensor::<2>::from_floats([[1.0, 0.7]], &device);
    let err = core_error(read_binary_mask(soft, "labels"));
    assert!(matches!(&err, CoreError::NonBinaryMask { index: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("labels"), "{err}");
}

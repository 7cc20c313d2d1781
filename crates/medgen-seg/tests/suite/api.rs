//! The public API of `medgen-seg`, used as a dependent crate would use it: the mask ↔ SDF
//! encoding checked against hand-computed signed distances, the cached training set, an
//! oracle network that must segment exactly, a tiny U-Net segmenter (8 × 8 images) trained
//! for a few steps with `medgen_train::Trainer` and sampled, patch layout and stitching, and
//! bad inputs that must fail with the exact error variant and a message naming the
//! offending argument.

use medgen_core::burn::optim::AdamWConfig;
use medgen_core::burn::tensor::{Tensor, TensorData};
use medgen_core::{Condition, CoreError, init_seeded, seeded_rng};
use medgen_nn::UNet;
use medgen_sdf::SdfConfig;
use medgen_seg::{
    DiffusionSdfConfig, EnsembleStats, FlowSdfConfig, PatchBlend, PatchConfig, SdfGeneratorConfig,
    SdfSegmenter, SegError, SegmentationDataset, SegmentationTrainingConfig, fit_segmenter,
    masks_to_sdf, predict_by_patches, sdf_to_masks, segmentation_step,
};
use medgen_testing::{host, max_abs_diff, test_device, testing_on_wgpu};
use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};

use crate::common::tiny_config;

const HALF_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The shared error inside a `SegError` (no `Debug` bound on `T`: segmenters built on
/// closures have none).
fn core_error<T>(result: Result<T, SegError>) -> CoreError {
    match result {
        Err(SegError::Core(err)) => err,
        Err(other) => panic!("expected a SegError::Core, got {other:?}"),
        Ok(_) => panic!("expected an error, got a value"),
    }
}

/// 0/1 values of an `n × n` mask with the square `[r0, r0 + side) × [c0, c0 + side)` set.
fn square(n: usize, r0: usize, c0: usize, side: usize) -> Vec<f32> {
    (0..n * n)
        .map(|k| {
            let inside = (r0..r0 + side).contains(&(k / n)) && (c0..c0 + side).contains(&(k % n));
            f32::from(u8::from(inside))
        })
        .collect()
}

/// Eight 8 × 8 items: squares of side 3 or 4 at varying offsets; each image shows its mask
/// as ±1.
fn squares_dataset() -> SegmentationDataset {
    let mut masks = Vec::new();
    for i in 0..8 {
        let side = 3 + i % 2;
        masks.extend(square(8, 1 + i % 3, 1 + (i / 2) % 3, side).into_iter().map(|v| v == 1.0));
    }
    let images = masks.iter().map(|&m| if m { 1.0 } else { -1.0 }).collect();
    SegmentationDataset::new(images, 1, masks, 1, &[8, 8], &SdfConfig::truncated_normalized(2.0))
        .unwrap()
}

#[test]
fn multi_class_masks_round_trip_through_hand_computed_sdfs() {
    let device = test_device();
    // Class 0: the centred 2 × 2 square of a 4 × 4 image; class 1: the single pixel (0, 0).
    let class0 = square(4, 1, 1, 2);
    let class1 = square(4, 0, 0, 1);
    let values = [class0.clone(), class1.clone()].concat();
    let masks = Tensor::<4>::from_data(TensorData::new(values.clone(), [1, 2, 4, 4]), &device);
    let config = SdfConfig::truncated_normalized(2.0);
    let sdf = masks_to_sdf(masks, &config).unwrap();
    assert_eq!(sdf.dims(), [1, 2, 4, 4]);
    let got = host::<f32, 4, _>(sdf.clone());
    // τ = 2: inside pixels one step from the outside are −½, outside pixels d / 2, capped at 1.
    let h = HALF_SQRT2;
    #[rustfmt::skip]
    let want0 = [
        h, 0.5, 0.5, h,
        0.5, -0.5, -0.5, 0.5,
        0.5, -0.5, -0.5, 0.5,
        h, 0.5, 0.5, h,
    ];
    #[rustfmt::skip]
    let want1 = [
        -0.5, 0.5, 1.0, 1.0,
        0.5, h, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0,
    ];
    for (i, (g, w)) in got.iter().zip(want0.iter().chain(&want1)).enumerate() {
        assert!((g - w).abs() < 1e-6, "value {i}: got {g}, want {w}");
    }
    let back = sdf_to_masks(sdf, &config).unwrap();
    assert_eq!(back.dims(), [1, 2, 4, 4]);
    assert_eq!(host::<f32, 4, _>(back), values);
}

#[test]
fn the_dataset_caches_each_items_sdf_and_serves_batches() {
    let data = squares_dataset();
    assert_eq!(data.len(), 8);
    assert!(!data.is_empty());
    assert_eq!(data.classes(), 1);
    assert_eq!(data.image_channels(), 1);
    assert_eq!(data.spatial(), &[8, 8]);
    assert_eq!(data.sdf_config(), &SdfConfig::truncated_normalized(2.0));
    // Item 0: a 3 × 3 square at (1, 1); its centre (2, 2) is 2 pixels from the outside,
    // capped at τ = 2: −1. Pixel (0, 0) is √2 from the corner (1, 1).
    let sdf = data.cached_sdf(0).unwrap();
    assert_eq!(sdf.len(), 64);
    assert_eq!(sdf[2 * 8 + 2], -1.0);
    assert_eq!(sdf[8 + 1], -0.5);
    assert!((sdf[0] - HALF_SQRT2).abs() < 1e-6, "{}", sdf[0]);
    assert!(data.mask(0).unwrap()[2 * 8 + 2]);
    assert_eq!(data.image(0).unwrap()[0], -1.0);
    assert!(data.cached_sdf(8).is_none());

    // A batch without augmentation holds the cached values, and masks = 1{sdf ≤ 0}.
    let device = test_device();
    let batch = data.batch::<4, _>(&[0, 3], None, &mut seeded_rng(0), &device).unwrap();
    assert_eq!(batch.images.dims(), [2, 1, 8, 8]);
    assert_eq!(batch.sdf.dims(), [2, 1, 8, 8]);
    let values = host::<f32, 4, _>(batch.sdf.clone());
    assert_eq!(&values[..64], sdf);
    assert_eq!(&values[64..], data.cached_sdf(3).unwrap());
    let masks = sdf_to_masks(batch.sdf, data.sdf_config()).unwrap();
    assert_eq!(max_abs_diff(masks, batch.masks), 0.0);

    // The same data from tensors.
    let images = Tensor::<4>::from_data(
        TensorData::new([data.image(0).unwrap(), data.image(1).unwrap()].concat(), [2, 1, 8, 8]),
        &device,
    );
    let masks = images.clone().greater_elem(0.0).float();
    let again = SegmentationDataset::from_tensors(images, masks, data.sdf_config()).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again.cached_sdf(1), data.cached_sdf(1));
}

#[test]
fn an_oracle_flow_network_segments_exactly_with_zero_uncertainty() {
    let device = test_device();
    // The images are the reference masks; the oracle's velocity carries any x_t straight to
    // their SDF: v = (m̃₁ − x) / (1 − t), the network seeing t · 1000.
    let reference = [square(8, 2, 1, 4), square(8, 0, 3, 3)].concat();
    let images = Tensor::<4>::from_data(TensorData::new(reference.clone(), [2, 1, 8, 8]), &device);
    let config = tiny_config();
    let sdf_config = config.sdf.clone();
    let oracle = move |x: Tensor<4>, t: Tensor<1>, c: &Condition<4>| {
        let image = c.image.clone().expect("the segmenter passes the image as a condition");
        let target =
            masks_to_sdf(image, &sdf_config).map_err(|e| CoreError::config("oracle", e))?;
        let n = x.dims()[0];
        let remaining = t.div_scalar(1000.0).neg().add_scalar(1.0).reshape([n, 1, 1, 1]);
        Ok(target.sub(x).div(remaining))
    };
    let segmenter = SdfSegmenter::new(oracle, &config).unwrap();
    assert_eq!(segmenter.sdf_config(), &config.sdf);
    let out = segmenter.segment(images.clone(), 3, 2, &mut seeded_rng(5)).unwrap();
    assert_eq!(out.nfe, 2);
    assert_eq!(out.sdf.len(), 3);
    assert_eq!(out.masks.len(), 3);
    let target = masks_to_sdf(images, &config.sdf).unwrap();
    for (sdf, mask) in out.sdf.iter().zip(&out.masks) {
        assert_eq!(sdf.dims(), [2, 1, 8, 8]);
        assert!(max_abs_diff(sdf.clone(), target.clone()) < 1e-4);
        assert_eq!(host::<f32, 4, _>(mask.clone()), reference);
    }
    assert_eq!(host::<f32, 4, _>(out.stats.majority), reference);
    assert_eq!(host::<f32, 4, _>(out.stats.mean), reference);
    assert!(host::<f32, 4, _>(out.stats.variance).iter().all(|&v| v == 0.0));
    assert!(host::<f32, 4, _>(out.stats.entropy).iter().all(|&v| v == 0.0));
}

#[test]
fn an_oracle_ddim_network_segments_exactly_in_as_many_evaluations_as_steps() {
    let device = test_device();
    let reference = square(8, 1, 2, 5);
    let images = Tensor::<4>::from_data(TensorData::new(reference.clone(), [1, 1, 8, 8]), &device);
    let config =
        tiny_config().with_generator(SdfGeneratorConfig::Diffusion(DiffusionSdfConfig::new()));
    let sdf_config = config.sdf.clone();
    // The default DDIM target is the clean sample x̂₀: predict the reference SDF.
    let oracle = move |_x: Tensor<4>, _t: Tensor<1>, c: &Condition<4>| {
        let image = c.image.clone().expect("image condition");
        masks_to_sdf(image, &sdf_config).map_err(|e| CoreError::config("oracle", e))
    };
    let segmenter = SdfSegmenter::new(oracle, &config).unwrap();
    let out = segmenter.segment(images, 2, 3, &mut seeded_rng(1)).unwrap();
    assert_eq!(out.nfe, 3);
    for mask in &out.masks {
        assert_eq!(host::<f32, 4, _>(mask.clone()), reference);
    }
}

#[test]
fn a_tiny_unet_segmenter_returns_k_binary_samples_and_their_statistics() {
    let device = test_device();
    let config = tiny_config();
    let network: UNet =
        init_seeded(&device, &mut seeded_rng(11), |d| config.init_network(d)).unwrap();
    let segmenter = SdfSegmenter::new(network, &config).unwrap();
    let images = Tensor::<4>::from_data(
        TensorData::new([square(8, 2, 2, 4), square(8, 0, 0, 3)].concat(), [2, 1, 8, 8]),
        &device,
    );
    let out = segmenter.segment(images.clone(), 2, 2, &mut seeded_rng(3)).unwrap();
    assert_eq!(out.nfe, 2); // Euler: one evaluation per step
    assert_eq!(out.sdf.len(), 2);
    assert_eq!(out.masks.len(), 2);
    for (sdf, mask) in out.sdf.iter().zip(&out.masks) {
        assert_eq!(sdf.dims(), [2, 1, 8, 8]);
        assert_eq!(mask.dims(), [2, 1, 8, 8]);
        let sdf = host::<f32, 4, _>(sdf.clone());
        let mask = host::<f32, 4, _>(mask.clone());
        // masks = 1{sdf ≤ 0}, pixel by pixel.
        for (s, m) in sdf.iter().zip(&mask) {
            assert!(s.is_finite());
            assert_eq!(*m, f32::from(u8::from(*s <= 0.0)), "sdf {s} gave mask {m}");
        }
    }
    // For binary masks the ensemble variance is p̄ (1 − p̄) and the majority is 1{p̄ > ½}.
    let mean = host::<f32, 4, _>(out.stats.mean.clone());
    let variance = host::<f32, 4, _>(out.stats.variance.clone());
    let majority = host::<f32, 4, _>(out.stats.majority.clone());
    let entropy = host::<f32, 4, _>(out.stats.entropy.clone());
    for i in 0..mean.len() {
        let p = mean[i];
        assert!([0.0, 0.5, 1.0].contains(&p), "mean of two masks: {p}");
        assert!((variance[i] - p * (1.0 - p)).abs() < 1e-6);
        assert_eq!(majority[i], f32::from(u8::from(p > 0.5)));
        assert!((0.0..=std::f32::consts::LN_2 + 1e-6).contains(&entropy[i]));
    }
    // The same generator state gives the same samples.
    let again = segmenter.segment(images.clone(), 2, 2, &mut seeded_rng(3)).unwrap();
    assert_eq!(max_abs_diff(out.sdf[1].clone(), again.sdf[1].clone()), 0.0);

    // Heun evaluates the network twice per step.
    let heun = tiny_config().with_generator(SdfGeneratorConfig::FlowMatching(
        FlowSdfConfig::new().with_method(medgen_core::ode::FixedStepMethod::Heun),
    ));
    let segmenter = SdfSegmenter::new(segmenter.network().clone(), &heun).unwrap();
    let out = segmenter.segment(images, 1, 1, &mut seeded_rng(3)).unwrap();
    assert_eq!(out.nfe, 2);
}

#[test]
fn training_steps_with_the_trainer_then_segmenting_with_the_trained_network() {
    let steps = 2;
    let device = test_device();
    let train_device = device.clone().autodiff();
    let data = squares_dataset();
    let config = tiny_config();
    let network: UNet =
        init_seeded(&train_device, &mut seeded_rng(7), |d| config.init_network(d)).unwrap();
    let trainer_config =
        TrainerConfig::new(WarmupCosineConfig::new(1e-3, steps).with_warmup_steps(0))
            .with_max_grad_norm(Some(1.0));
    let mut trainer =
        Trainer::new(&trainer_config, network, AdamWConfig::new().init(), seeded_rng(3), &"api")
            .unwrap();
    let generator = config.generator.init().unwrap();
    let batch = if testing_on_wgpu() { 2 } else { 4 };
    let training = SegmentationTrainingConfig::new().with_batch_size(batch).with_augment(None);

    // One explicit step, then fit to the end.
    let report = segmentation_step::<4, _>(&mut trainer, &generator, &data, &training).unwrap();
    assert_eq!(report.step, 1);
    assert!(report.loss.is_finite() && report.loss > 0.0, "{report:?}");
    assert!(report.grad_norm.is_some_and(|g| g.is_finite() && g > 0.0), "{report:?}");
    fit_segmenter::<4, _>(&mut trainer, &generator, &data, &training).unwrap();
    assert!(trainer.is_finished());
    assert_eq!(trainer.current_step(), steps);
    let losses = trainer.history().losses();
    assert_eq!(losses.len(), steps);
    assert_eq!(losses[0], report.loss);
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");

    // A finished run takes no more steps.
    let err = core_error(segmentation_step::<4, _>(&mut trainer, &generator, &data, &training));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "step"), "{err:?}");

    // The trained weights segment images on the plain device.
    let segmenter = SdfSegmenter::new(trainer.inference_model(), &config).unwrap();
    let images = Tensor::<4>::from_data(
        TensorData::new(data.image(0).unwrap().to_vec(), [1, 1, 8, 8]),
        &device,
    );
    let out = segmenter.segment(images, 1, 1, &mut seeded_rng(0)).unwrap();
    assert_eq!(out.nfe, 1);
    assert_eq!(out.masks[0].dims(), [1, 1, 8, 8]);
    assert!(host::<f32, 4, _>(out.sdf[0].clone()).iter().all(|v| v.is_finite()));
}

#[test]
fn patches_tile_the_volume_and_stitching_restores_it() {
    // Sides 6 and 8 with 4 × 4 patches and the default half-patch stride: origins 0, 2 along
    // the first axis and 0, 2, 4 along the second, the last axis fastest.
    let patches = PatchConfig::new(vec![4, 4]).with_blend(PatchBlend::Linear);
    let origins = patches.origins(&[6, 8]).unwrap();
    let want: Vec<Vec<usize>> =
        vec![vec![0, 0], vec![0, 2], vec![0, 4], vec![2, 0], vec![2, 2], vec![2, 4]];
    assert_eq!(origins, want);
    // The tent weights of a side of 4: 1, 2, 2, 1.
    let weights: Vec<f64> = (0..4).map(|i| PatchBlend::Linear.weight(i, 4)).collect();
    assert_eq!(weights, vec![1.0, 2.0, 2.0, 1.0]);
    assert_eq!(PatchBlend::Constant.weight(3, 4), 1.0);

    // A "model" that returns the image channel of each patch (dropping the two positional
    // channels) must be stitched back into the volume itself.
    let device = test_device();
    let values: Vec<f32> = (0..48).map(|i| (i * 5 % 13) as f32 / 4.0).collect();
    let volume = Tensor::<4>::from_data(TensorData::new(values, [1, 1, 6, 8]), &device);
    let mut seen = 0;
    let stitched = predict_by_patches(volume.clone(), &patches, 1, |patch: Tensor<4>| {
        assert_eq!(patch.dims(), [1, 3, 4, 4]);
        seen += 1;
        Ok(patch.narrow(1, 0, 1))
    })
    .unwrap();
    assert_eq!(seen, 6);
    assert!(max_abs_diff(stitched, volume) < 1e-6);

    let too_big = PatchConfig::new(vec![4, 9]);
    let err = core_error(too_big.origins(&[6, 8]));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "patch_size"),
        "{err:?}"
    );
    assert!(err.to_string().contains("patch_size"), "{err}");
}

#[test]
fn bad_configurations_are_typed_errors_naming_the_field() {
    let err = core_error(tiny_config().with_sdf(SdfConfig::new()).validate());
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "sdf"), "{err:?}");
    assert!(err.to_string().contains("sdf"), "{err}");

    let mut no_classes = tiny_config();
    no_classes.classes = 0;
    let err = core_error(no_classes.validate());
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "image_channels/classes"),
        "{err:?}"
    );
    assert!(err.to_string().contains("classes"), "{err}");

    let bad_time = SdfGeneratorConfig::FlowMatching(FlowSdfConfig::new().with_time_scale(0.0));
    let err = core_error(bad_time.init());
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "time_scale"),
        "{err:?}"
    );
    assert!(err.to_string().contains("time_scale"), "{err}");

    // A segmenter refuses a configuration that does not validate.
    let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x.zeros_like());
    let mut no_channels = tiny_config();
    no_channels.image_channels = 0;
    let err = core_error(SdfSegmenter::new(zero, &no_channels));
    assert!(matches!(err, CoreError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("image_channels"), "{err}");

    let data = squares_dataset();
    let generator = tiny_config().generator.init().unwrap();
    let device = test_device().autodiff();
    let config = tiny_config();
    let network: UNet =
        init_seeded(&device, &mut seeded_rng(0), |d| config.init_network(d)).unwrap();
    let mut trainer = Trainer::new(
        &TrainerConfig::new(WarmupCosineConfig::new(1e-3, 1)),
        network,
        AdamWConfig::new().init(),
        seeded_rng(0),
        &"bad",
    )
    .unwrap();
    let zero_batch = SegmentationTrainingConfig::new().with_batch_size(0);
    let err = core_error(segmentation_step::<4, _>(&mut trainer, &generator, &data, &zero_batch));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "batch_size"),
        "{err:?}"
    );
    assert!(err.to_string().contains("batch_size"), "{err}");
    assert_eq!(trainer.current_step(), 0);
}

#[test]
fn bad_images_and_masks_are_typed_errors_naming_the_argument() {
    let device = test_device();
    let config = tiny_config();
    let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok::<_, CoreError>(x.zeros_like());
    let segmenter = SdfSegmenter::new(zero, &config).unwrap();
    let images = Tensor::<4>::zeros([1, 1, 4, 4], &device);
    let mut rng = seeded_rng(0);

    let err = core_error(segmenter.segment(images.clone(), 0, 3, &mut rng));
    assert!(
        matches!(&err, CoreError::InvalidConfig { name, .. } if name == "samples/steps"),
        "{err:?}"
    );
    assert!(err.to_string().contains("samples"), "{err}");

    let err = core_error(segmenter.segment(images.clone(), 1, 0, &mut rng));
    assert!(matches!(err, CoreError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("steps"), "{err}");

    let three_channels = Tensor::<4>::zeros([1, 3, 4, 4], &device);
    let err = core_error(segmenter.segment(three_channels, 1, 1, &mut rng));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, got, .. } if what == "images" && got == &[1, 3, 4, 4]),
        "{err:?}"
    );
    assert!(err.to_string().contains("images"), "{err}");

    let nan = Tensor::<4>::full([1, 1, 4, 4], f32::NAN, &device);
    let err = core_error(segmenter.segment(nan, 1, 1, &mut rng));
    assert!(matches!(&err, CoreError::NonFinite { what } if what == "images"), "{err:?}");
    assert!(err.to_string().contains("images"), "{err}");

    let sdf = config.sdf.clone();
    let soft = Tensor::<4>::from_floats([[[[0.0, 1.0], [0.5, 1.0]]]], &device);
    let err = core_error(masks_to_sdf(soft, &sdf));
    assert!(
        matches!(&err, CoreError::NonBinaryMask { what, index: 2, .. } if what == "masks"),
        "{err:?}"
    );
    assert!(err.to_string().contains("masks"), "{err}");

    let empty = Tensor::<4>::zeros([0, 1, 2, 2], &device);
    let err = core_error(masks_to_sdf(empty, &sdf));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("masks"), "{err}");

    let nan_sdf = Tensor::<4>::from_floats([[[[0.5, f32::NAN]]]], &device);
    let err = core_error(sdf_to_masks(nan_sdf, &sdf));
    assert!(matches!(err, CoreError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("sdf"), "{err}");

    // The generator's loss checks that targets fit the images.
    let generator = config.generator.init().unwrap();
    let targets = Tensor::<4>::zeros([1, 1, 4, 5], &device);
    let err = core_error(generator.training_loss(&zero, images.clone(), targets, &mut rng));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, .. } if what == "target SDFs"),
        "{err:?}"
    );
    assert!(err.to_string().contains("target SDFs"), "{err}");

    // Ensembles need at least one mask, all of one shape.
    let err = core_error(EnsembleStats::<4>::from_masks(&[]));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("ensemble"), "{err}");
    let err = core_error(EnsembleStats::from_masks(&[
        images.clone(),
        Tensor::zeros([1, 1, 4, 5], &device),
    ]));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, .. } if what == "ensemble mask"),
        "{err:?}"
    );
}

#[test]
fn bad_training_data_is_a_typed_error_naming_the_buffer() {
    let sdf = SdfConfig::truncated_normalized(2.0);
    let images = vec![0.0f32; 2 * 16];
    let masks = vec![false; 2 * 16];

    let err = core_error(SegmentationDataset::new(
        images.clone(),
        1,
        masks[..16].to_vec(),
        1,
        &[4, 4],
        &sdf,
    ));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, got, .. } if what == "masks" && got == &[16]),
        "{err:?}"
    );
    assert!(err.to_string().contains("masks"), "{err}");

    let mut nan = images.clone();
    nan[5] = f32::NAN;
    let err = core_error(SegmentationDataset::new(nan, 1, masks.clone(), 1, &[4, 4], &sdf));
    assert!(matches!(&err, CoreError::NonFinite { what } if what == "images"), "{err:?}");
    assert!(err.to_string().contains("images"), "{err}");

    let err = core_error(SegmentationDataset::new(Vec::new(), 1, Vec::new(), 1, &[4, 4], &sdf));
    assert!(matches!(err, CoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("data set"), "{err}");

    let err = core_error(SegmentationDataset::new(
        images.clone(),
        1,
        masks.clone(),
        1,
        &[4, 4],
        &SdfConfig::new(),
    ));
    assert!(matches!(&err, CoreError::InvalidConfig { name, .. } if name == "sdf"), "{err:?}");

    let err = core_error(SegmentationDataset::new(images, 1, masks, 1, &[32], &sdf));
    assert!(matches!(err, CoreError::ShapeMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("spatial size"), "{err}");

    let data = squares_dataset();
    let device = test_device();
    let err = core_error(data.batch::<4, _>(&[8], None, &mut seeded_rng(0), &device));
    assert!(
        matches!(&err, CoreError::ShapeMismatch { what, got, .. } if what == "batch index" && got == &[8]),
        "{err:?}"
    );
    assert!(err.to_string().contains("batch index"), "{err}");

    let err = core_error(data.batch::<5, _>(&[0], None, &mut seeded_rng(0), &device));
    assert!(matches!(err, CoreError::InvalidRank { expected: 4, got: 5, .. }), "{err:?}");
}

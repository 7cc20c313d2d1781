//! Bad input at medgen-recon's public API: typed errors naming the argument, never a panic.

use crate::common::disc_image;
use burn::tensor::{Tensor, TensorData};
use medgen_core::{Condition, CoreError, seeded_rng};
use medgen_diffusion::{
    DdimSchedulerConfig, LangevinCorrectorConfig, SchedulerConfig, ScoreSde, SdeSamplerConfig,
};
use medgen_recon::sampler::Reconstruct;
use medgen_recon::{
    CenteredFft, DataConsistency, DiffusionReconstruction, FbpFilter, KSpaceOperator,
    LowDoseConfig, MaskKind, MeasurementOperator, ParallelBeamProjector, PosteriorSampling,
    ReconError, SamplingMask, ScoreReconstruction, reconstruct_ensemble,
};
use medgen_testing::{assert_err, test_device};

fn zero_network(x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>) -> Result<Tensor<4>, CoreError> {
    Ok(x.zeros_like())
}

fn ddim() -> SchedulerConfig {
    SchedulerConfig::Ddim(DdimSchedulerConfig::new())
}

#[test]
fn masks_reject_bad_accelerations_fractions_and_empty_sampling() {
    let mut rng = seeded_rng(0);
    let random = |acceleration, center_fraction| MaskKind::Random { acceleration, center_fraction };
    assert_err!(
        random(0.5, 0.08).sample(8, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "acceleration"
    );
    assert_err!(
        random(f64::NAN, 0.08).sample(8, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "acceleration"
    );
    assert_err!(
        random(4.0, 1.5).sample(8, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "center_fraction"
    );
    // A centre block larger than the W/R lines the acceleration keeps.
    let equispaced = MaskKind::Equispaced { acceleration: 8.0, center_fraction: 0.5 };
    assert_err!(
        equispaced.sample(8, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "center_fraction"
    );
    let density =
        MaskKind::VariableDensity { acceleration: 4.0, center_fraction: 0.08, power: -1.0 };
    assert_err!(
        density.sample(8, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "power"
    );
    assert_err!(
        MaskKind::Radial { spokes: 0 }.sample(8, 8, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "spokes"
    );
    assert_err!(
        random(4.0, 0.08).sample(0, 64, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "mask shape"
    );
    assert_err!(
        SamplingMask::new(2, 2, vec![false; 4]),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "mask"
    );
    assert_err!(
        SamplingMask::new(2, 2, vec![true; 3]),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "mask"
    );
    assert_err!(
        SamplingMask::from_columns(4, &[false, false]),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "mask"
    );
}

#[test]
fn kspace_operators_reject_wrong_shapes_and_nan() {
    let device = test_device();
    let mask = SamplingMask::full(8, 8).unwrap();
    assert_err!(
        KSpaceOperator::new(&[8, 6], 1, mask.clone(), &device),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "mask"
    );
    assert_err!(
        KSpaceOperator::new(&[8, 8], 3, mask.clone(), &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "image_channels"
    );
    assert_err!(
        KSpaceOperator::new(&[8], 1, mask.clone(), &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "spatial"
    );
    assert_err!(
        CenteredFft::new(&[8, 0], &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "spatial"
    );
    let op = KSpaceOperator::new(&[8, 8], 1, mask, &device).unwrap();
    assert_err!(
        op.forward(Tensor::<4>::zeros([1, 2, 8, 8], &device)),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "image"
    );
    assert_err!(
        op.adjoint(Tensor::<4>::zeros([1, 1, 8, 8], &device)),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "measurement"
    );
    let mut values = vec![0f32; 2 * 64];
    values[5] = f32::NAN;
    let nan = Tensor::<4>::from_data(TensorData::new(values, [1, 2, 8, 8]), &device);
    let sampler = DiffusionReconstruction::new(ddim(), 2);
    assert_err!(
        sampler.reconstruct(&zero_network, &op, nan, &mut seeded_rng(0)),
        ReconError::Core(CoreError::NonFinite { .. }),
        "measurement"
    );
    let wrong = Tensor::<4>::zeros([1, 2, 8, 4], &device);
    assert_err!(
        sampler.reconstruct(&zero_network, &op, wrong, &mut seeded_rng(0)),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "measurement"
    );
}

#[test]
fn projectors_reject_bad_geometry_and_mismatched_sinograms() {
    let device = test_device();
    assert_err!(
        ParallelBeamProjector::new(1, &[0.0], FbpFilter::Ramp, &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "size"
    );
    assert_err!(
        ParallelBeamProjector::new(8, &[], FbpFilter::Ramp, &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "angles_degrees"
    );
    assert_err!(
        ParallelBeamProjector::new(8, &[0.0, f64::INFINITY], FbpFilter::Ramp, &device),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "angles_degrees"
    );
    let op =
        ParallelBeamProjector::new(8, &[0.0, 45.0, 90.0], FbpFilter::SheppLogan, &device).unwrap();
    // A non-square image, and a sinogram whose view count disagrees with the angles.
    assert_err!(
        op.forward(Tensor::<4>::zeros([1, 1, 8, 6], &device)),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "image"
    );
    let four_views = Tensor::<4>::zeros([1, 1, 4, 8], &device);
    assert_err!(
        op.adjoint(four_views.clone()),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "measurement"
    );
    assert_err!(
        op.baseline(four_views),
        ReconError::Core(CoreError::ShapeMismatch { .. }),
        "measurement"
    );
}

#[test]
fn low_dose_rejects_bad_settings_and_negative_line_integrals() {
    let device = test_device();
    let sinogram = Tensor::<2>::ones([1, 4], &device);
    let mut rng = seeded_rng(0);
    assert_err!(
        LowDoseConfig::new(0.0).simulate(sinogram.clone(), &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "incident_photons"
    );
    let dense = LowDoseConfig { incident_photons: 1e4, attenuation: f64::NAN };
    assert_err!(
        dense.simulate(sinogram.clone(), &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "attenuation"
    );
    let negative = sinogram.mul_scalar(-1.0);
    assert_err!(
        LowDoseConfig::new(1e4).simulate(negative, &mut rng),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "sinogram"
    );
}

#[test]
fn samplers_reject_bad_settings() {
    let device = test_device();
    let op = KSpaceOperator::new(&[8, 8], 1, SamplingMask::full(8, 8).unwrap(), &device).unwrap();
    let y = op.forward(disc_image(8, &device)).unwrap();
    let run = |sampler: &dyn Reconstruct<4>| {
        sampler.reconstruct(&zero_network, &op, y.clone(), &mut seeded_rng(0))
    };
    let bad_weight =
        DiffusionReconstruction::new(ddim(), 2).with_consistency(DataConsistency::soft(1.5));
    assert_err!(run(&bad_weight), ReconError::Core(CoreError::InvalidConfig { .. }), "weight");
    let no_iterations = DiffusionReconstruction::new(ddim(), 2)
        .with_consistency(DataConsistency::hard().with_iterations(0));
    assert_err!(
        run(&no_iterations),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "iterations"
    );
    let bad_noise = DiffusionReconstruction::new(ddim(), 2)
        .with_consistency(DataConsistency::hard().with_noise_std(-1.0));
    assert_err!(run(&bad_noise), ReconError::Core(CoreError::InvalidConfig { .. }), "noise_std");
    let sigma = SchedulerConfig::from_name("euler").unwrap();
    assert_err!(
        run(&DiffusionReconstruction::new(sigma, 2)),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "scheduler"
    );
    assert_err!(
        run(&PosteriorSampling::new(ddim(), 2, 0.0)),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "step_size"
    );
    let few = SdeSamplerConfig::new(ScoreSde::vp())
        .with_steps(10)
        .with_corrector(Some(LangevinCorrectorConfig::new()));
    assert_err!(
        run(&ScoreReconstruction::new(few)),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "steps"
    );
    let sampler = DiffusionReconstruction::new(ddim(), 2);
    assert_err!(
        reconstruct_ensemble(&sampler, 0, &zero_network, &op, y.clone(), &mut seeded_rng(0)),
        ReconError::Core(CoreError::InvalidConfig { .. }),
        "members"
    );
}

//! The reconstruction samplers and the data-consistency steps: oracle priors return the
//! truth, hard consistency reproduces every sampled k-space value, and the low-dose
//! simulation has the Poisson statistics it claims.

use crate::common::{disc_image, oracle};
use burn::tensor::{Tensor, TensorData};
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, CoreError, seeded_rng};
use medgen_diffusion::{
    DdimSchedulerConfig, DdpmSchedulerConfig, LangevinCorrectorConfig, SchedulerConfig, ScoreSde,
    SdeSamplerConfig,
};
use medgen_recon::sampler::Reconstruct;
use medgen_recon::{
    DataConsistency, DiffusionReconstruction, FbpFilter, KSpaceOperator, LowDoseConfig, MaskKind,
    MeasurementOperator, ParallelBeamProjector, PosteriorSampling, SamplingMask,
    ScoreReconstruction, complex, reconstruct_ensemble,
};
use medgen_testing::{host, max_abs_diff, test_device};

fn zero_network(x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>) -> Result<Tensor<4>, CoreError> {
    Ok(x.zeros_like())
}

/// A prior that knows nothing useful but has a non-zero score: `ε̂ = x_t`.
fn identity_network(
    x: Tensor<4>,
    _t: Tensor<1>,
    _c: &Condition<4>,
) -> Result<Tensor<4>, CoreError> {
    Ok(x)
}

fn ddim() -> SchedulerConfig {
    SchedulerConfig::Ddim(DdimSchedulerConfig::new().with_clip_sample(false))
}

fn ddpm() -> SchedulerConfig {
    SchedulerConfig::Ddpm(DdpmSchedulerConfig::new().with_clip_sample(false))
}

fn score_pc(steps: usize) -> SdeSamplerConfig {
    SdeSamplerConfig::new(ScoreSde::vp())
        .with_steps(steps)
        .with_corrector(Some(LangevinCorrectorConfig::new()))
}

#[test]
fn every_sampler_returns_the_truth_from_fully_sampled_kspace() {
    let device = test_device();
    let truth = disc_image(16, &device).repeat_dim(0, 2);
    let op =
        KSpaceOperator::new(&[16, 16], 1, SamplingMask::full(16, 16).unwrap(), &device).unwrap();
    let y = op.forward(truth.clone()).unwrap();
    let samplers: Vec<Box<dyn Reconstruct<4>>> = vec![
        Box::new(DiffusionReconstruction::new(ddim(), 10)),
        Box::new(DiffusionReconstruction::new(ddpm(), 10)),
        Box::new(ScoreReconstruction::new(score_pc(30))),
    ];
    for sampler in samplers {
        let out =
            sampler.reconstruct(&identity_network, &op, y.clone(), &mut seeded_rng(0)).unwrap();
        let err = max_abs_diff(out.image, truth.clone());
        assert!(err < 1e-4, "{}: {err}", sampler.name());
        assert!(out.nfe >= 10, "{}: nfe {}", sampler.name(), out.nfe);
    }
}

#[test]
fn an_oracle_prior_recovers_the_truth_from_undersampled_data() {
    let device = test_device();
    let truth = disc_image(16, &device);
    let mask = MaskKind::Equispaced { acceleration: 4.0, center_fraction: 0.08 }
        .sample(16, 16, &mut seeded_rng(1))
        .unwrap();
    let op = KSpaceOperator::new(&[16, 16], 1, mask, &device).unwrap();
    let y = op.forward(truth.clone()).unwrap();
    let schedule = DdimSchedulerConfig::new().init().unwrap().schedule().clone();
    let network = oracle(truth.clone(), schedule);
    // The zero-filled baseline is far from the truth; the oracle-prior reconstruction is not.
    let baseline_err = max_abs_diff(op.baseline(y.clone()).unwrap(), truth.clone());
    assert!(baseline_err > 0.1, "zero-filled error {baseline_err}");
    for sampler in [
        DiffusionReconstruction::new(ddim(), 20),
        DiffusionReconstruction::new(ddim(), 20).with_consistency(DataConsistency::soft(0.5)),
    ] {
        let out = sampler.reconstruct(&network, &op, y.clone(), &mut seeded_rng(2)).unwrap();
        let err = max_abs_diff(out.image, truth.clone());
        assert!(
            err < 1e-3,
            "{}: {err}",
            <DiffusionReconstruction as Reconstruct<4>>::name(&sampler)
        );
    }
    let dps = PosteriorSampling::new(ddim(), 20, 1.0);
    let out = dps.reconstruct(&network, &op, y, &mut seeded_rng(3)).unwrap();
    let err = max_abs_diff(out.image, truth);
    assert!(err < 1e-3, "DPS: {err}");
    assert_eq!(out.nfe, 20);
}

#[test]
fn hard_consistency_reproduces_every_sampled_kspace_value() {
    let device = test_device();
    let mask = MaskKind::Random { acceleration: 4.0, center_fraction: 0.08 }
        .sample(16, 16, &mut seeded_rng(4))
        .unwrap();
    let op = KSpaceOperator::new(&[16, 16], 2, mask.clone(), &device).unwrap();
    let truth: Tensor<4> = gaussian_noise([2, 2, 16, 16], &mut seeded_rng(5), &device).unwrap();
    let y = op.forward(truth).unwrap();
    // A prior that knows nothing (predicts zero noise) still leaves the data exactly measured.
    let sampler = DiffusionReconstruction::new(ddpm(), 8);
    let out = sampler.reconstruct(&zero_network, &op, y.clone(), &mut seeded_rng(6)).unwrap();
    let measured = op.forward(out.image.clone()).unwrap();
    let scale = host::<f32, 4, _>(out.image.clone()).iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = max_abs_diff(measured, y.clone());
    assert!(err < 1e-5 * scale.max(1.0), "{err} at image scale {scale}");
    // ... and not trivially: the unmeasured k-space is not zero.
    let full =
        KSpaceOperator::new(&[16, 16], 2, SamplingMask::full(16, 16).unwrap(), &device).unwrap();
    let k: Vec<f32> = host(full.forward(out.image).unwrap());
    let unsampled = mask
        .values()
        .iter()
        .enumerate()
        .filter(|(_, m)| !**m)
        .map(|(i, _)| k[i].abs())
        .fold(0.0f32, f32::max);
    assert!(unsampled > 1e-2, "the unsampled k-space was left empty");
}

#[test]
fn conjugate_gradient_consistency_fits_a_sparse_view_sinogram() {
    let device = test_device();
    let angles = medgen_recon::ct::evenly_spaced_angles(8);
    let op = ParallelBeamProjector::new(16, &angles, FbpFilter::Ramp, &device).unwrap();
    let y = op.forward(disc_image(16, &device)).unwrap();
    let start = Tensor::<4>::zeros([1, 1, 16, 16], &device);
    let residual = |x: Tensor<4>| {
        let r = op.forward(x).unwrap().sub(y.clone());
        f64::from(r.powi_scalar(2).sum().sqrt().into_scalar::<f32>())
    };
    let before = residual(start.clone());
    let gradient = DataConsistency::soft(1.0).with_iterations(20);
    let cg = DataConsistency::hard().with_iterations(20);
    let after_gradient = residual(gradient.apply(&op, start.clone(), &y, 1.0).unwrap());
    let after_cg = residual(cg.apply(&op, start, &y, 1.0).unwrap());
    assert!(after_gradient < 0.5 * before, "{after_gradient} vs {before}");
    assert!(after_cg < 0.1 * after_gradient, "{after_cg} vs {after_gradient}");
}

#[test]
fn noise_aware_weights_shrink_with_the_measurement_noise() {
    let exact = DataConsistency::hard();
    assert_eq!(exact.effective_weight(0.3), 1.0);
    let noisy = DataConsistency::hard().with_noise_std(0.5);
    assert!((noisy.effective_weight(0.25) - 0.5).abs() < 1e-12);
    assert!(noisy.effective_weight(100.0) > 0.99);
    assert!(noisy.effective_weight(1e-4) < 1e-3);
}

#[test]
fn an_ensemble_is_certain_where_the_data_determine_the_image() {
    let device = test_device();
    let truth = disc_image(16, &device);
    let op =
        KSpaceOperator::new(&[16, 16], 1, SamplingMask::full(16, 16).unwrap(), &device).unwrap();
    let y = op.forward(truth.clone()).unwrap();
    let sampler = DiffusionReconstruction::new(ddpm(), 5);
    let out = reconstruct_ensemble(&sampler, 3, &zero_network, &op, y, &mut seeded_rng(7)).unwrap();
    assert_eq!(out.members.dims(), [3, 1, 16, 16]);
    assert!(max_abs_diff(out.mean, truth) < 1e-4);
    assert!(host::<f32, 4, _>(out.variance).iter().all(|&v| v < 1e-7));
    // Undersampled: the members disagree somewhere.
    let mask = MaskKind::Random { acceleration: 4.0, center_fraction: 0.08 }
        .sample(16, 16, &mut seeded_rng(8))
        .unwrap();
    let op = KSpaceOperator::new(&[16, 16], 1, mask, &device).unwrap();
    let y = op.forward(disc_image(16, &device)).unwrap();
    let out = reconstruct_ensemble(&sampler, 3, &zero_network, &op, y, &mut seeded_rng(9)).unwrap();
    assert!(host::<f32, 4, _>(out.variance).iter().any(|&v| v > 1e-3));
}

#[test]
fn low_dose_counts_have_poisson_statistics() {
    let device = test_device();
    let n = 20_000;
    let line_integral = 50.0f32; // p = 0.02 · 50 = 1
    let sinogram = Tensor::<2>::from_data(TensorData::new(vec![line_integral; n], [1, n]), &device);
    let config = LowDoseConfig::new(1e4);
    let noisy: Vec<f64> = host(config.simulate(sinogram, &mut seeded_rng(10)).unwrap());
    let mean = noisy.iter().sum::<f64>() / n as f64;
    let variance = noisy.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    // p̂ = p ± O(1/I₀) and var(p̂) ≈ e^p / I₀, in sinogram units divided by the attenuation².
    assert!((mean - 50.0).abs() < 0.1, "mean {mean}");
    let expected = 1f64.exp() / 1e4 / 0.02f64.powi(2);
    assert!((variance / expected - 1.0).abs() < 0.05, "variance {variance} vs {expected}");
}

#[test]
fn complex_helpers_split_join_and_take_magnitudes() {
    let device = test_device();
    let z = Tensor::<4>::from_data(TensorData::new(vec![3.0f32, -4.0], [1, 2, 1, 1]), &device);
    assert_eq!(host::<f32, 4, _>(complex::magnitude(z.clone())), vec![5.0]);
    let (re, im) = complex::split(z.clone());
    assert_eq!(max_abs_diff(complex::join(re, im), z), 0.0);
}

#[test]
fn posterior_sampling_differentiates_through_a_unet_on_either_device() {
    let device = test_device();
    let unet = medgen_nn::UNetConfig::new(1, 1)
        .with_base_channels(8)
        .with_channel_mults(vec![1])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(4);
    let build = |d: &burn::tensor::Device| {
        medgen_core::init_seeded(d, &mut seeded_rng(0), |d| unet.init(d)).unwrap()
    };
    let (plain, tracked) = (build(&device), build(&device.clone().autodiff()));
    let mask = MaskKind::Random { acceleration: 2.0, center_fraction: 0.1 }
        .sample(8, 8, &mut seeded_rng(1))
        .unwrap();
    let op = KSpaceOperator::new(&[8, 8], 1, mask, &device).unwrap();
    let y = op.forward(Tensor::<4>::ones([1, 1, 8, 8], &device)).unwrap();
    let run = |network: &dyn medgen_core::TimeConditionedNetwork<4>, step_size: f64| {
        PosteriorSampling::new(ddim(), 2, step_size)
            .reconstruct(network, &op, y.clone(), &mut seeded_rng(2))
            .unwrap()
            .image
    };
    // The same gradient whether the module's parameters are tracked or not ...
    assert!(max_abs_diff(run(&plain, 1.0), run(&tracked, 1.0)) < 1e-5);
    // ... and the gradient step matters.
    assert!(max_abs_diff(run(&plain, 1.0), run(&plain, 1e-6)) > 1e-2);
}

#[test]
fn a_low_dose_scan_is_noisier_than_a_routine_one() {
    let device = test_device();
    let angles = medgen_recon::ct::evenly_spaced_angles(32);
    let op = ParallelBeamProjector::new(16, &angles, FbpFilter::SheppLogan, &device).unwrap();
    // Attenuation in [0, 1]: the disc image mapped from [−1, 1].
    let image = disc_image(16, &device).clamp(0.0, 1.0);
    let clean = op.baseline(op.forward(image.clone()).unwrap()).unwrap();
    let error = |photons: f64, seed: u64| {
        let scan =
            LowDoseConfig::new(photons).acquire(&op, image.clone(), &mut seeded_rng(seed)).unwrap();
        max_abs_diff(scan, clean.clone())
    };
    let (routine, low) = (error(1e7, 11), error(1e3, 11));
    assert!(routine < 0.05, "routine dose error {routine}");
    assert!(low > 4.0 * routine, "low dose {low} vs routine {routine}");
}

//! Whole 10- and 25-step trajectories of the DPM-Solver++, Euler-ancestral, PNDM and
//! rectified-flow schedulers against diffusers and MONAI (`tests/fixtures/schedulers.json`,
//! written by `tests/fixtures/make_scheduler_fixtures.py`).
//!
//! Every case replays the peer's loop with the same analytic network, start sample and (for
//! the stochastic samplers) the same per-step noise, and compares the timesteps, the noise
//! levels and the sample after *every* step, to `1e-5 · max(1, |reference|)`. The
//! deterministic cases are replayed a second time through the generic [`sample`] loop and
//! the object-safe [`Scheduler`] trait, which must give the same final sample.

use std::collections::HashMap;

use medgen_core::burn::tensor::{Device, Tensor, TensorData};
use medgen_core::{Condition, GuidanceConfig, seeded_rng};
use medgen_diffusion::{
    BetaSchedule, DpmAlgorithm, DpmSolverMultistepConfig, DpmSolverType, EulerAncestralConfig,
    FinalSigmas, PndmConfig, PredictionType, RFlowConfig, Scheduler, TimestepSpacing, sample,
    timestep_transform,
};
use medgen_testing::test_device;
use serde::Deserialize;
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Fixture {
    shape: Vec<usize>,
    dpm_solver: Vec<Case>,
    euler_ancestral: Vec<Case>,
    pndm: Vec<Case>,
    rflow: Vec<Case>,
    rflow_timestep_transform: Vec<Transform>,
}

#[derive(Deserialize)]
struct Case {
    config: HashMap<String, Value>,
    steps: usize,
    timesteps: Vec<f64>,
    #[serde(default)]
    sigmas: Vec<f64>,
    #[serde(default)]
    init_noise_sigma: Option<f64>,
    #[serde(default)]
    spatial: Vec<usize>,
    start: Vec<f32>,
    noise: Vec<Vec<f32>>,
    samples: Vec<Vec<f32>>,
    #[serde(default)]
    pred_original_samples: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct Transform {
    t: f64,
    numel: usize,
    base: usize,
    spatial_dim: usize,
    value: f64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schedulers.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schedulers.json"))
        .expect("valid schedulers.json")
}

impl Case {
    fn str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }
    fn f64(&self, key: &str) -> Option<f64> {
        self.config.get(key).and_then(Value::as_f64)
    }
    fn usize(&self, key: &str) -> Option<usize> {
        self.config.get(key).and_then(Value::as_u64).map(|v| v as usize)
    }
    fn bool(&self, key: &str) -> Option<bool> {
        self.config.get(key).and_then(Value::as_bool)
    }
    fn prediction(&self) -> PredictionType {
        match self.str("prediction_type") {
            Some("v_prediction") => PredictionType::VPrediction,
            Some("sample") => PredictionType::Sample,
            _ => PredictionType::Epsilon,
        }
    }
    fn spacing(&self, default: TimestepSpacing) -> TimestepSpacing {
        match self.str("timestep_spacing") {
            Some("trailing") => TimestepSpacing::Trailing,
            Some("leading") => TimestepSpacing::Leading,
            Some("linspace") => TimestepSpacing::Linspace,
            _ => default,
        }
    }
    fn beta_schedule(&self) -> BetaSchedule {
        match self.str("beta_schedule") {
            Some("scaled_linear") => BetaSchedule::ScaledLinear,
            Some("squaredcos_cap_v2") => BetaSchedule::SquaredCosCapV2,
            _ => BetaSchedule::Linear,
        }
    }
    fn label(&self) -> String {
        format!("{:?} with {} steps", self.config, self.steps)
    }
}

fn tensor(values: &[f32], shape: &[usize], device: &Device) -> Tensor<4> {
    let dims: [usize; 4] = shape.try_into().unwrap();
    Tensor::from_data(TensorData::new(values.to_vec(), dims), device)
}

/// `a(t) = exp(−(1e-4 t + (0.02 − 1e-4) t²/2000))`, as the fixture script defines it.
fn alpha_bar(t: f64) -> f64 {
    (-(1e-4 * t + (0.02 - 1e-4) * t * t / 2000.0)).exp()
}

/// The fixture script's noise-predicting network.
fn vp_model(x: Tensor<4>, t: f64) -> Tensor<4> {
    let a = alpha_bar(t);
    let gain = (1.0 - a).sqrt() / (0.25 * a + 1.0 - a);
    x.clone().mul_scalar(gain).add(x.add_scalar(t / 100.0).sin().mul_scalar(0.05))
}

/// The fixture script's velocity network for rectified flow.
fn rflow_model(x: Tensor<4>, t: f64) -> Tensor<4> {
    let tau = t / 1000.0;
    let gain = ((1.0 - tau) * 0.25 - tau) / ((1.0 - tau).powi(2) * 0.25 + tau * tau);
    x.clone().mul_scalar(gain).add(x.add_scalar(t / 100.0).sin().mul_scalar(0.05))
}

fn assert_close(got: Tensor<4>, expected: &[f32], what: &str) {
    let got = got.try_into_vec_as::<f32>().unwrap();
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let (g, e) = (f64::from(g), f64::from(e));
        assert!(
            (g - e).abs() <= TOLERANCE * e.abs().max(1.0),
            "{what}: element {i} is {g}, the peer has {e}"
        );
    }
}

fn assert_levels(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: number of levels");
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() <= 1e-6 * e.abs().max(1.0), "{what}: {got:?} vs {expected:?}");
    }
}

fn dpm_config(case: &Case) -> DpmSolverMultistepConfig {
    let mut config = DpmSolverMultistepConfig::new()
        .with_prediction_type(case.prediction())
        .with_beta_schedule(case.beta_schedule())
        .with_timestep_spacing(case.spacing(TimestepSpacing::Linspace));
    if let Some(v) = case.f64("beta_start") {
        config = config.with_beta_start(v);
    }
    if let Some(v) = case.f64("beta_end") {
        config = config.with_beta_end(v);
    }
    if let Some(v) = case.usize("solver_order") {
        config = config.with_solver_order(v);
    }
    if let Some(v) = case.usize("steps_offset") {
        config = config.with_steps_offset(v);
    }
    if let Some(v) = case.bool("use_karras_sigmas") {
        config = config.with_use_karras_sigmas(v);
    }
    if let Some(v) = case.bool("lower_order_final") {
        config = config.with_lower_order_final(v);
    }
    if let Some(v) = case.bool("euler_at_final") {
        config = config.with_euler_at_final(v);
    }
    if case.str("final_sigmas_type") == Some("sigma_min") {
        config = config.with_final_sigmas_type(FinalSigmas::SigmaMin);
    }
    if case.str("solver_type") == Some("heun") {
        config = config.with_solver_type(DpmSolverType::Heun);
    }
    if case.str("algorithm_type") == Some("sde-dpmsolver++") {
        config = config.with_algorithm_type(DpmAlgorithm::SdeDpmSolverPlusPlus);
    }
    if let Some(v) = case.bool("thresholding") {
        config = config.with_thresholding(v);
    }
    if let Some(v) = case.f64("dynamic_thresholding_ratio") {
        config = config.with_dynamic_thresholding_ratio(v);
    }
    if let Some(v) = case.f64("sample_max_value") {
        config = config.with_sample_max_value(v);
    }
    config
}

fn euler_config(case: &Case) -> EulerAncestralConfig {
    EulerAncestralConfig::new()
        .with_prediction_type(case.prediction())
        .with_timestep_spacing(case.spacing(TimestepSpacing::Linspace))
        .with_steps_offset(case.usize("steps_offset").unwrap_or(0))
}

fn pndm_config(case: &Case) -> PndmConfig {
    PndmConfig::new()
        .with_prediction_type(case.prediction())
        .with_skip_prk_steps(case.bool("skip_prk_steps").unwrap_or(false))
        .with_set_alpha_to_one(case.bool("set_alpha_to_one").unwrap_or(false))
        .with_steps_offset(case.usize("steps_offset").unwrap_or(0))
}

fn rflow_config(case: &Case) -> RFlowConfig {
    let numel = case.spatial.iter().product::<usize>();
    RFlowConfig::new()
        .with_use_discrete_timesteps(case.bool("use_discrete_timesteps").unwrap_or(true))
        .with_use_timestep_transform(case.bool("use_timestep_transform").unwrap_or(false))
        .with_base_img_size_numel(case.usize("base_img_size_numel").unwrap_or(32 * 32 * 32))
        .with_spatial_dim(case.usize("spatial_dim").unwrap_or(3))
        .with_steps_offset(case.usize("steps_offset").unwrap_or(0))
        .with_input_img_size_numel(Some(numel))
}

/// Runs `scheduler` through the generic sampling loop with `model` and returns the sample.
fn through_trait(
    scheduler: &mut dyn Scheduler<4>,
    start: Tensor<4>,
    model: fn(Tensor<4>, f64) -> Tensor<4>,
) -> Tensor<4> {
    let network = move |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
        // Test oracle: the (uniform) time is read back to evaluate the analytic network.
        let time = f64::from(t.slice(0..1).into_scalar::<f32>());
        Ok(model(x, time))
    };
    sample(
        &network,
        scheduler,
        start,
        &Condition::none(),
        &GuidanceConfig::new(),
        &mut seeded_rng(0),
    )
    .unwrap()
    .sample
}

#[test]
fn dpm_solver_multistep_follows_diffusers_step_by_step() {
    let fixture = fixture();
    let device = test_device();
    assert_eq!(fixture.dpm_solver.len(), 36);
    for case in &fixture.dpm_solver {
        let label = case.label();
        let mut scheduler = dpm_config(case).init().unwrap();
        scheduler.set_timesteps(case.steps).unwrap();
        let times: Vec<f64> = scheduler.integer_timesteps().iter().map(|&t| t as f64).collect();
        assert_eq!(times, case.timesteps, "{label}: timesteps");
        assert_levels(scheduler.sigmas(), &case.sigmas, &label);
        let mut x = tensor(&case.start, &fixture.shape, &device);
        for (i, step) in scheduler.steps().into_iter().enumerate() {
            let output = vp_model(x.clone(), step.time);
            let noise = case.noise.get(i).map(|n| tensor(n, &fixture.shape, &device));
            x = scheduler.step(output, step, x, noise).unwrap().prev_sample;
            assert_close(x.clone(), &case.samples[i], &format!("{label}, step {i}"));
        }
        if case.noise.is_empty() {
            let mut boxed: Box<dyn Scheduler<4>> = Box::new(dpm_config(case).init().unwrap());
            boxed.set_timesteps(case.steps).unwrap();
            let start = tensor(&case.start, &fixture.shape, &device);
            let end = through_trait(boxed.as_mut(), start, vp_model);
            assert_close(end, case.samples.last().unwrap(), &format!("{label} (trait)"));
        }
    }
}

#[test]
fn euler_ancestral_follows_diffusers_step_by_step() {
    let fixture = fixture();
    let device = test_device();
    assert_eq!(fixture.euler_ancestral.len(), 8);
    for case in &fixture.euler_ancestral {
        let label = case.label();
        let mut scheduler = euler_config(case).init().unwrap();
        scheduler.set_timesteps(case.steps).unwrap();
        assert_levels(scheduler.sigmas(), &case.sigmas, &label);
        let expected_sigma = case.init_noise_sigma.unwrap();
        assert!((scheduler.init_noise_sigma() - expected_sigma).abs() < 1e-4 * expected_sigma);
        let mut x = tensor(&case.start, &fixture.shape, &device);
        let steps = scheduler.steps();
        let times: Vec<f64> = steps.iter().map(|s| s.time).collect();
        assert_levels(&times, &case.timesteps, &format!("{label}: timesteps"));
        for (i, step) in steps.into_iter().enumerate() {
            let input = x.clone().div_scalar((step.sigma * step.sigma + 1.0).sqrt());
            let output = vp_model(input, step.time);
            let noise = tensor(&case.noise[i], &fixture.shape, &device);
            x = scheduler.step(output, step, x, noise).unwrap().prev_sample;
            assert_close(x.clone(), &case.samples[i], &format!("{label}, step {i}"));
        }
    }
}

#[test]
fn pndm_follows_diffusers_step_by_step() {
    let fixture = fixture();
    let device = test_device();
    assert_eq!(fixture.pndm.len(), 8);
    for case in &fixture.pndm {
        let label = case.label();
        let mut scheduler = pndm_config(case).init().unwrap();
        scheduler.set_timesteps(case.steps).unwrap();
        let times: Vec<f64> = scheduler.integer_timesteps().iter().map(|&t| t as f64).collect();
        assert_eq!(times, case.timesteps, "{label}: timesteps");
        let mut x = tensor(&case.start, &fixture.shape, &device);
        let timesteps = scheduler.integer_timesteps().to_vec();
        for (i, t) in timesteps.into_iter().enumerate() {
            let output = vp_model(x.clone(), t as f64);
            x = scheduler.step(output, t, x).unwrap().prev_sample;
            assert_close(x.clone(), &case.samples[i], &format!("{label}, evaluation {i}"));
        }
        let mut boxed: Box<dyn Scheduler<4>> = Box::new(pndm_config(case).init().unwrap());
        boxed.set_timesteps(case.steps).unwrap();
        let start = tensor(&case.start, &fixture.shape, &device);
        let end = through_trait(boxed.as_mut(), start, vp_model);
        assert_close(end, case.samples.last().unwrap(), &format!("{label} (trait)"));
    }
}

#[test]
fn rectified_flow_follows_monai_step_by_step() {
    let fixture = fixture();
    let device = test_device();
    assert_eq!(fixture.rflow.len(), 10);
    for case in &fixture.rflow {
        let label = case.label();
        let mut scheduler = rflow_config(case).init().unwrap();
        Scheduler::<4>::set_timesteps(&mut scheduler, case.steps).unwrap();
        assert_eq!(scheduler.times(), case.timesteps.as_slice(), "{label}: timesteps");
        let mut x = tensor(&case.start, &fixture.shape, &device);
        for (i, step) in scheduler.steps().into_iter().enumerate() {
            let output = rflow_model(x.clone(), step.time);
            let out = scheduler.step(output, step, x).unwrap();
            assert_close(
                out.pred_original_sample,
                &case.pred_original_samples[i],
                &format!("{label}, x0 at step {i}"),
            );
            x = out.prev_sample;
            assert_close(x.clone(), &case.samples[i], &format!("{label}, step {i}"));
        }
        let start = tensor(&case.start, &fixture.shape, &device);
        let end = through_trait(&mut scheduler, start, rflow_model);
        assert_close(end, case.samples.last().unwrap(), &format!("{label} (trait)"));
    }
}

#[test]
fn rectified_flow_timestep_shift_matches_monai() {
    for case in fixture().rflow_timestep_transform {
        let got = timestep_transform(case.t, case.numel, case.base, 1.0, 1000, case.spatial_dim);
        assert!((got - case.value).abs() < 1e-9 * case.value.max(1.0), "{got} vs {}", case.value);
    }
}

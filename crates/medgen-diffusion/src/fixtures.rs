//! diffusers' reference values (`tests/fixtures/diffusion.json`), loaded for the unit tests.

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;

/// The whole fixture file.
#[derive(Debug, Deserialize)]
pub(crate) struct DiffusersRefs {
    pub num_train_timesteps: usize,
    pub schedules: HashMap<String, ScheduleRef>,
    pub ddim_timesteps_25: HashMap<String, Vec<usize>>,
    pub shape: Vec<usize>,
    pub x: Vec<f32>,
    pub model_output: Vec<f32>,
    pub ddim_steps: Vec<DdimStepRef>,
    pub ddpm_steps: Vec<DdpmStepRef>,
}

/// Betas and `alphas_cumprod` of one schedule.
#[derive(Debug, Deserialize)]
pub(crate) struct ScheduleRef {
    pub betas: Vec<f64>,
    pub alphas_cumprod: Vec<f64>,
}

/// One `DDIMScheduler.step` with its configuration.
#[derive(Debug, Deserialize)]
pub(crate) struct DdimStepRef {
    pub beta_schedule: String,
    pub prediction_type: String,
    pub timestep_spacing: String,
    pub steps_offset: usize,
    pub set_alpha_to_one: bool,
    pub num_inference_steps: usize,
    pub t: usize,
    pub eta: f64,
    pub prev_sample: Vec<f32>,
    pub pred_original_sample: Vec<f32>,
}

/// One `DDPMScheduler` posterior at timestep `t`.
#[derive(Debug, Deserialize)]
pub(crate) struct DdpmStepRef {
    pub variance_type: String,
    pub t: usize,
    pub pred_original_sample: Vec<f32>,
    pub posterior_mean: Vec<f32>,
    pub variance: f64,
}

impl DiffusersRefs {
    /// Reads the fixture shipped with the crate.
    pub(crate) fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/diffusion.json");
        let text = std::fs::read_to_string(path).expect("fixture diffusion.json");
        serde_json::from_str(&text).expect("valid diffusion.json")
    }

    /// `values` as a `[1, 2, 3, 3]` tensor of the fixture's shape.
    pub(crate) fn tensor(&self, values: &[f32], device: &Device) -> Tensor<4> {
        let shape: [usize; 4] = self.shape.clone().try_into().expect("rank-4 fixture");
        Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
    }
}

/// Parses a diffusers option string with the crate's serde names.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(serde_json::Value::String(name.into())).expect("known diffusers name")
}

/// The largest absolute difference between a tensor and expected values.
pub(crate) fn max_abs_error<const D: usize>(got: Tensor<D>, expected: &[f32]) -> f32 {
    let got = got.into_data().try_to_vec::<f32>().expect("f32 tensor");
    assert_eq!(got.len(), expected.len());
    got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

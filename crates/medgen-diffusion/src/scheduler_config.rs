//! Choosing a scheduler by name at run time, as diffusers' `from_config` and candle's
//! `build` do: a [`SchedulerConfig`] holds one scheduler's configuration and
//! [`SchedulerConfig::build`] returns it as a `Box<dyn Scheduler<D>>` with its timesteps set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ddim::DdimSchedulerConfig;
use crate::ddpm::DdpmSchedulerConfig;
use crate::dpm_solver::{DpmAlgorithm, DpmSolverMultistepConfig};
use crate::error::{DiffusionError, Result};
use crate::euler_ancestral::EulerAncestralConfig;
use crate::pndm::PndmConfig;
use crate::prediction::PredictionType;
use crate::rectified_flow::RFlowConfig;
use crate::scheduler::Scheduler;
use crate::sigma_scheduler::{SigmaSchedulerConfig, SigmaSolver};

/// The configuration of any reverse-process scheduler, serialisable, so that an experiment
/// file or a command-line flag names the sampler.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "scheduler", rename_all = "snake_case")]
pub enum SchedulerConfig {
    /// Ancestral DDPM sampling (diffusers' `DDPMScheduler`).
    Ddpm(DdpmSchedulerConfig),
    /// DDIM, deterministic for `η = 0` (diffusers' `DDIMScheduler`).
    Ddim(DdimSchedulerConfig),
    /// A probability-flow ODE solver on the Euler sigma grid: Euler, Heun (diffusers'
    /// `EulerDiscreteScheduler`, `HeunDiscreteScheduler`) or k-diffusion's DPM-Solver++ 2M.
    Sigma(SigmaSchedulerConfig),
    /// DPM-Solver++ 1–3M and its SDE variant (diffusers' `DPMSolverMultistepScheduler`).
    DpmSolver(DpmSolverMultistepConfig),
    /// Ancestral Euler (diffusers' `EulerAncestralDiscreteScheduler`).
    EulerAncestral(EulerAncestralConfig),
    /// PRK + PLMS, or PLMS alone (diffusers' `PNDMScheduler`).
    Pndm(PndmConfig),
    /// Rectified flow with Euler steps (MONAI's `RFlowScheduler`); the network predicts
    /// `x₀ − ε`.
    #[serde(rename = "rflow")]
    RFlow(RFlowConfig),
}

impl SchedulerConfig {
    /// The names [`SchedulerConfig::from_name`] accepts (diffusers' class names are accepted
    /// too, e.g. `DDIMScheduler`).
    pub const NAMES: [&'static str; 18] = [
        "ddpm",
        "ddim",
        "euler",
        "euler-karras",
        "heun",
        "heun-karras",
        "k-dpm++2m",
        "k-dpm++2m-karras",
        "dpm++2m",
        "dpm++2m-karras",
        "dpm++3m",
        "dpm++3m-karras",
        "dpm++2m-sde",
        "dpm++2m-sde-karras",
        "euler-ancestral",
        "pndm",
        "plms",
        "rflow",
    ];

    /// The default configuration of the scheduler called `name` (one of [`Self::NAMES`] or a
    /// diffusers class name, case-insensitive).
    ///
    /// # Errors
    /// An `InvalidConfig` error naming `scheduler` (and listing the known names) for an
    /// unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        let sigma = |solver, karras| {
            Ok(Self::Sigma(
                SigmaSchedulerConfig::new().with_solver(solver).with_use_karras_sigmas(karras),
            ))
        };
        let dpm = |order, algorithm, karras| {
            Ok(Self::DpmSolver(
                DpmSolverMultistepConfig::new()
                    .with_solver_order(order)
                    .with_algorithm_type(algorithm)
                    .with_use_karras_sigmas(karras),
            ))
        };
        let (ode, sde) = (DpmAlgorithm::DpmSolverPlusPlus, DpmAlgorithm::SdeDpmSolverPlusPlus);
        match name.to_ascii_lowercase().as_str() {
            "ddpm" | "ddpmscheduler" => Ok(Self::Ddpm(DdpmSchedulerConfig::new())),
            "ddim" | "ddimscheduler" => Ok(Self::Ddim(DdimSchedulerConfig::new())),
            "euler" | "eulerdiscretescheduler" => sigma(SigmaSolver::Euler, false),
            "euler-karras" => sigma(SigmaSolver::Euler, true),
            "heun" | "heundiscretescheduler" => sigma(SigmaSolver::Heun, false),
            "heun-karras" => sigma(SigmaSolver::Heun, true),
            "k-dpm++2m" => sigma(SigmaSolver::DpmSolverPlusPlus2M, false),
            "k-dpm++2m-karras" => sigma(SigmaSolver::DpmSolverPlusPlus2M, true),
            "dpm++2m" | "dpmsolvermultistepscheduler" => dpm(2, ode, false),
            "dpm++2m-karras" => dpm(2, ode, true),
            "dpm++3m" => dpm(3, ode, false),
            "dpm++3m-karras" => dpm(3, ode, true),
            "dpm++2m-sde" => dpm(2, sde, false),
            "dpm++2m-sde-karras" => dpm(2, sde, true),
            "euler-ancestral" | "euler_a" | "eulerancestraldiscretescheduler" => {
                Ok(Self::EulerAncestral(EulerAncestralConfig::new()))
            }
            "pndm" | "pndmscheduler" => Ok(Self::Pndm(PndmConfig::new())),
            "plms" => Ok(Self::Pndm(PndmConfig::new().with_skip_prk_steps(true))),
            "rflow" | "rflowscheduler" => Ok(Self::RFlow(RFlowConfig::new())),
            _ => Err(DiffusionError::config(
                "scheduler",
                format!("unknown name `{name}`; known: {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// The short name of this scheduler (one of [`Self::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ddpm(_) => "ddpm",
            Self::Ddim(_) => "ddim",
            Self::Sigma(c) => match (c.solver, c.use_karras_sigmas) {
                (SigmaSolver::Euler, false) => "euler",
                (SigmaSolver::Euler, true) => "euler-karras",
                (SigmaSolver::Heun, false) => "heun",
                (SigmaSolver::Heun, true) => "heun-karras",
                (SigmaSolver::DpmSolverPlusPlus2M, false) => "k-dpm++2m",
                (SigmaSolver::DpmSolverPlusPlus2M, true) => "k-dpm++2m-karras",
            },
            Self::DpmSolver(c) => {
                let sde = c.algorithm_type == DpmAlgorithm::SdeDpmSolverPlusPlus;
                match (c.solver_order, sde, c.use_karras_sigmas) {
                    (2, false, false) => "dpm++2m",
                    (2, false, true) => "dpm++2m-karras",
                    (3, false, false) => "dpm++3m",
                    (3, false, true) => "dpm++3m-karras",
                    (2, true, false) => "dpm++2m-sde",
                    (2, true, true) => "dpm++2m-sde-karras",
                    _ => "dpm-solver++",
                }
            }
            Self::EulerAncestral(_) => "euler-ancestral",
            Self::Pndm(c) if c.skip_prk_steps => "plms",
            Self::Pndm(_) => "pndm",
            Self::RFlow(_) => "rflow",
        }
    }

    /// The number of training timesteps `T` of the configured schedule.
    pub fn num_train_timesteps(&self) -> usize {
        match self {
            Self::Ddpm(c) => c.num_train_timesteps,
            Self::Ddim(c) => c.num_train_timesteps,
            Self::Sigma(c) => c.num_train_timesteps,
            Self::DpmSolver(c) => c.num_train_timesteps,
            Self::EulerAncestral(c) => c.num_train_timesteps,
            Self::Pndm(c) => c.num_train_timesteps,
            Self::RFlow(c) => c.num_train_timesteps,
        }
    }

    /// The same scheduler for a network that predicts `prediction_type`.
    pub fn with_prediction_type(self, prediction_type: PredictionType) -> Self {
        match self {
            Self::Ddpm(c) => Self::Ddpm(c.with_prediction_type(prediction_type)),
            Self::Ddim(c) => Self::Ddim(c.with_prediction_type(prediction_type)),
            Self::Sigma(c) => Self::Sigma(c.with_prediction_type(prediction_type)),
            Self::DpmSolver(c) => Self::DpmSolver(c.with_prediction_type(prediction_type)),
            Self::EulerAncestral(c) => {
                Self::EulerAncestral(c.with_prediction_type(prediction_type))
            }
            Self::Pndm(c) => Self::Pndm(c.with_prediction_type(prediction_type)),
            Self::RFlow(c) => Self::RFlow(c.with_prediction_type(prediction_type)),
        }
    }

    /// Validates the configuration, builds the scheduler and sets `num_inference_steps`
    /// timesteps.
    ///
    /// # Errors
    /// The scheduler's configuration errors and [`DiffusionError::InvalidStepCount`].
    pub fn build<const D: usize>(
        &self,
        num_inference_steps: usize,
    ) -> Result<Box<dyn Scheduler<D>>> {
        let mut scheduler: Box<dyn Scheduler<D>> = match self {
            Self::Ddpm(c) => Box::new(c.init()?),
            Self::Ddim(c) => Box::new(c.init()?),
            Self::Sigma(c) => Box::new(c.init()?),
            Self::DpmSolver(c) => Box::new(c.init()?),
            Self::EulerAncestral(c) => Box::new(c.init()?),
            Self::Pndm(c) => Box::new(c.init()?),
            Self::RFlow(c) => Box::new(c.init()?),
        };
        scheduler.set_timesteps(num_inference_steps)?;
        Ok(scheduler)
    }
}

impl SchedulerConfig {
    /// Parses a scheduler specification: a name ([`Self::from_name`]) or a JSON object that
    /// names a scheduler and overrides some of its fields, e.g.
    /// `{"scheduler": "dpm++2m-karras", "thresholding": true}` — the named default
    /// configuration with `thresholding` set. Field names are those of the scheduler's
    /// configuration (diffusers' and MONAI's names).
    ///
    /// # Errors
    /// An `InvalidConfig` error naming `scheduler` for an unknown name, text that is not a JSON
    /// object or lacks a `"scheduler"` string, or naming the field for a field the scheduler
    /// does not have or a value of the wrong type.
    pub fn parse_spec(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        if !spec.starts_with('{') {
            return Self::from_name(spec);
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(spec)
            .map_err(|e| DiffusionError::config("scheduler", format!("not a JSON object: {e}")))?;
        let name = object.get("scheduler").and_then(|v| v.as_str()).ok_or_else(|| {
            DiffusionError::config("scheduler", "the JSON object needs a \"scheduler\" name")
        })?;
        let base = Self::from_name(name)?;
        let mut merged = serde_json::to_value(&base)
            .map_err(|e| DiffusionError::config("scheduler", e.to_string()))?;
        let fields = merged.as_object_mut().ok_or_else(|| {
            DiffusionError::config("scheduler", "the configuration is not a JSON object")
        })?;
        for (key, value) in object {
            if key == "scheduler" {
                continue;
            }
            if !fields.contains_key(&key) {
                return Err(DiffusionError::config(
                    key.as_str(),
                    format!("`{}` has no such field", base.name()),
                ));
            }
            fields.insert(key, value);
        }
        serde_json::from_value(merged).map_err(|e| DiffusionError::config(base.name(), e))
    }
}

impl FromStr for SchedulerConfig {
    type Err = DiffusionError;

    /// [`SchedulerConfig::parse_spec`]: a name or a JSON object of overrides.
    fn from_str(spec: &str) -> Result<Self> {
        Self::parse_spec(spec)
    }
}

impl fmt::Display for SchedulerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::Timestep;

    #[test]
    fn every_name_round_trips_and_builds_a_scheduler_with_its_steps() {
        for name in SchedulerConfig::NAMES {
            let config: SchedulerConfig = name.parse().unwrap();
            assert_eq!(config.name(), name);
            let scheduler = config.build::<4>(10).unwrap();
            let steps = scheduler.timesteps();
            // Heun evaluates twice per interval except the last one; PNDM's Runge-Kutta
            // warm-up takes four evaluations for each of its three intervals, PLMS alone
            // evaluates the first interval twice.
            let expected = match name {
                "heun" | "heun-karras" => 19,
                "pndm" => 19,
                "plms" => 11,
                _ => 10,
            };
            assert_eq!(steps.len(), expected, "{name}");
            let discrete = matches!(steps[0], Timestep::Discrete(_));
            assert_eq!(discrete, matches!(name, "ddpm" | "ddim" | "pndm" | "plms"), "{name}");
        }
        assert_eq!(SchedulerConfig::from_name("DDIMScheduler").unwrap().name(), "ddim");
    }

    #[test]
    fn a_json_spec_overrides_fields_of_the_named_default() {
        let config: SchedulerConfig =
            r#"{"scheduler": "dpm++2m-karras", "thresholding": true, "solver_order": 3}"#
                .parse()
                .unwrap();
        let SchedulerConfig::DpmSolver(dpm) = config else { panic!("not DPM-Solver") };
        assert!(dpm.thresholding && dpm.use_karras_sigmas);
        assert_eq!(dpm.solver_order, 3);
        assert_eq!(dpm.dynamic_thresholding_ratio, 0.995);
        let error = r#"{"scheduler": "ddim", "thresholdin": true}"#
            .parse::<SchedulerConfig>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("thresholdin"), "{error}");
        let error = r#"{"scheduler": "ddim", "clip_sample": "high"}"#
            .parse::<SchedulerConfig>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("ddim"), "{error}");
        assert!(r#"{"solver_order": 3}"#.parse::<SchedulerConfig>().is_err());
        assert!("{not json".parse::<SchedulerConfig>().is_err());
    }

    #[test]
    fn unknown_names_and_step_counts_are_typed_errors() {
        let err = SchedulerConfig::from_name("lms").unwrap_err();
        assert!(err.to_string().contains("scheduler"), "{err}");
        assert!(err.to_string().contains("dpm++2m"), "{err}");
        let ddim = SchedulerConfig::from_name("ddim").unwrap();
        assert!(matches!(ddim.build::<4>(0), Err(DiffusionError::InvalidStepCount { .. })));
    }

    #[test]
    fn a_config_is_a_file() {
        let config = SchedulerConfig::from_name("dpm++2m-karras")
            .unwrap()
            .with_prediction_type(PredictionType::VPrediction);
        let json = serde_json::to_string(&config).unwrap();
        let back: SchedulerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), "dpm++2m-karras");
        assert!(json.contains("\"scheduler\":\"dpm_solver\""), "{json}");
        let rflow = serde_json::to_string(&SchedulerConfig::from_name("rflow").unwrap()).unwrap();
        assert!(rflow.contains("\"scheduler\":\"rflow\""), "{rflow}");
    }
}

//! Choosing a scheduler by name at run time, as diffusers' `from_config` and candle's
//! `build` do: a [`SchedulerConfig`] holds one scheduler's configuration and
//! [`SchedulerConfig::build`] returns it as a `Box<dyn Scheduler<D>>` with its timesteps set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ddim::DdimSchedulerConfig;
use crate::ddpm::DdpmSchedulerConfig;
use crate::error::{DiffusionError, Result};
use crate::prediction::PredictionType;
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
    /// A probability-flow ODE solver on a sigma grid: Euler, Heun or DPM-Solver++ 2M
    /// (diffusers' `EulerDiscreteScheduler`, `HeunDiscreteScheduler`,
    /// `DPMSolverMultistepScheduler`).
    Sigma(SigmaSchedulerConfig),
}

impl SchedulerConfig {
    /// The names [`SchedulerConfig::from_name`] accepts (diffusers' class names are accepted
    /// too, e.g. `DDIMScheduler`).
    pub const NAMES: [&'static str; 8] = [
        "ddpm",
        "ddim",
        "euler",
        "euler-karras",
        "heun",
        "heun-karras",
        "dpm++2m",
        "dpm++2m-karras",
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
        match name.to_ascii_lowercase().as_str() {
            "ddpm" | "ddpmscheduler" => Ok(Self::Ddpm(DdpmSchedulerConfig::new())),
            "ddim" | "ddimscheduler" => Ok(Self::Ddim(DdimSchedulerConfig::new())),
            "euler" | "eulerdiscretescheduler" => sigma(SigmaSolver::Euler, false),
            "euler-karras" => sigma(SigmaSolver::Euler, true),
            "heun" | "heundiscretescheduler" => sigma(SigmaSolver::Heun, false),
            "heun-karras" => sigma(SigmaSolver::Heun, true),
            "dpm++2m" | "dpmsolvermultistepscheduler" => {
                sigma(SigmaSolver::DpmSolverPlusPlus2M, false)
            }
            "dpm++2m-karras" => sigma(SigmaSolver::DpmSolverPlusPlus2M, true),
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
                (SigmaSolver::DpmSolverPlusPlus2M, false) => "dpm++2m",
                (SigmaSolver::DpmSolverPlusPlus2M, true) => "dpm++2m-karras",
            },
        }
    }

    /// The number of training timesteps `T` of the configured schedule.
    pub fn num_train_timesteps(&self) -> usize {
        match self {
            Self::Ddpm(c) => c.num_train_timesteps,
            Self::Ddim(c) => c.num_train_timesteps,
            Self::Sigma(c) => c.num_train_timesteps,
        }
    }

    /// The same scheduler for a network that predicts `prediction_type`.
    pub fn with_prediction_type(self, prediction_type: PredictionType) -> Self {
        match self {
            Self::Ddpm(c) => Self::Ddpm(c.with_prediction_type(prediction_type)),
            Self::Ddim(c) => Self::Ddim(c.with_prediction_type(prediction_type)),
            Self::Sigma(c) => Self::Sigma(c.with_prediction_type(prediction_type)),
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
        };
        scheduler.set_timesteps(num_inference_steps)?;
        Ok(scheduler)
    }
}

impl FromStr for SchedulerConfig {
    type Err = DiffusionError;

    fn from_str(name: &str) -> Result<Self> {
        Self::from_name(name)
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
            // Heun evaluates twice per interval except the last one.
            let expected = if name.starts_with("heun") { 19 } else { 10 };
            assert_eq!(steps.len(), expected, "{name}");
            let discrete = matches!(steps[0], Timestep::Discrete(_));
            assert_eq!(discrete, name == "ddpm" || name == "ddim", "{name}");
        }
        assert_eq!(SchedulerConfig::from_name("DDIMScheduler").unwrap().name(), "ddim");
    }

    #[test]
    fn unknown_names_and_step_counts_are_typed_errors() {
        let err = SchedulerConfig::from_name("plms").unwrap_err();
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
        assert!(json.contains("\"scheduler\":\"sigma\""), "{json}");
    }
}

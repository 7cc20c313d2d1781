//! AnoDDPM-style partial diffusion (Wyatt et al., CVPR-W 2022): noise a test image only part
//! of the way, to level `t_λ`, with Gaussian or multi-octave simplex noise, and let a DDPM
//! trained on healthy images only denoise it back. Anatomy survives the partial noising and
//! is restored; a lesion, which the model has never seen, is replaced by healthy tissue, so
//! the residual `|x − x̂|` lights it up.
//!
//! ```text
//! x_{t_λ} = √ᾱ_{t_λ} x + √(1−ᾱ_{t_λ}) ε,                      ε ~ Gaussian or simplex
//! x_{t'}  = μ̃_θ(x_t, t) + σ_t ε',   t = t_λ > … > 0          (ε' of the same kind; none at t = 0)
//! a       = G_s * mean_c |x − x̂₀|,  score = pool(a)
//! ```
//!
//! with `μ̃_θ`, `σ_t` the scheduler's posterior ([`DdpmScheduler::posterior`]) for the jump
//! between successive timesteps, and `G_s` an optional Gaussian smoothing. The reverse process
//! visits every timestep `t_λ, t_λ−1, …, 0` (as AnoDDPM does) or `k` evenly spaced ones.

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::noise::NoiseKind;
use medgen_core::{Condition, SeededRng, TimeConditionedNetwork};
use medgen_diffusion::{DdpmScheduler, DdpmSchedulerConfig, DiffusionError, StepStd};

use super::detector::{AnomalyDetector, AnomalyMaps};
use super::map::{check_smoothing, residual_map, smooth_maps};
use crate::error::{AppsError, Result};
use crate::images::check_images;

/// Settings of partial-diffusion anomaly detection (see the [module documentation](self)).
#[derive(Config, Debug, PartialEq)]
pub struct PartialDiffusionConfig {
    /// The noise level `t_λ` the test image is noised to, a training timestep in `1..T`
    /// (AnoDDPM uses 250 of 1000).
    #[config(default = 250)]
    pub t_lambda: usize,
    /// The noise of the forward and reverse process; it should match the training noise.
    #[config(default = "NoiseKind::Gaussian")]
    pub noise: NoiseKind,
    /// `None` visits every timestep `t_λ, …, 0`; `Some(k)` visits `k ≥ 1` evenly spaced ones
    /// from `t_λ` down to 0 (`k = 1` jumps straight to `x̂₀`).
    #[config(default = "None")]
    pub num_inference_steps: Option<usize>,
    /// Standard deviation of the Gaussian smoothing of the map, in pixels (0: none).
    #[config(default = 0.0)]
    pub smoothing_sigma: f64,
}

impl PartialDiffusionConfig {
    /// The reverse-process timesteps for a schedule of `num_train_timesteps`, strictly
    /// decreasing from `t_λ` to 0.
    ///
    /// # Errors
    /// Configuration errors naming `t_lambda` (outside `1..T`), `num_inference_steps`
    /// (0 or more than `t_λ + 1`), `smoothing_sigma` and the noise settings.
    pub fn timesteps(&self, num_train_timesteps: usize) -> Result<Vec<usize>> {
        self.noise.validate()?;
        let t = self.t_lambda;
        if t == 0 || t >= num_train_timesteps {
            return Err(AppsError::Diffusion(DiffusionError::TimestepOutOfRange {
                timestep: t,
                num_train_timesteps,
            }));
        }
        check_smoothing(self.smoothing_sigma)?;
        Ok(match self.num_inference_steps {
            None => (0..=t).rev().collect(),
            Some(k) if k == 0 || k > t + 1 => {
                return Err(AppsError::config(
                    "num_inference_steps",
                    format!("must lie in 1..={} (t_lambda + 1), got {k}", t + 1),
                ));
            }
            Some(1) => vec![t],
            Some(k) => (0..k)
                .map(|i| ((t as f64) * (k - 1 - i) as f64 / (k - 1) as f64).round() as usize)
                .collect(),
        })
    }
}

/// A DDPM noise predictor trained on healthy images, used as an anomaly detector by partial
/// diffusion (see the [module documentation](self)).
#[derive(Clone, Debug)]
pub struct PartialDiffusionDetector<N> {
    network: N,
    scheduler: DdpmScheduler,
    config: PartialDiffusionConfig,
    item_shape: Vec<usize>,
}

impl<N> PartialDiffusionDetector<N> {
    /// A detector for `network` (unconditional, trained on healthy images with the noise
    /// schedule, prediction type and noise kind of `scheduler` and `config`) on items of shape
    /// `item_shape`.
    ///
    /// # Errors
    /// Invalid scheduler or detector settings (see [`PartialDiffusionConfig::timesteps`]).
    pub fn new(
        network: N,
        scheduler: &DdpmSchedulerConfig,
        config: PartialDiffusionConfig,
        item_shape: &[usize],
    ) -> Result<Self> {
        let mut ddpm = scheduler.init()?;
        let timesteps = config.timesteps(ddpm.schedule().num_train_timesteps())?;
        ddpm.set_custom_timesteps(&timesteps)?;
        medgen_core::check::ensure_non_empty(item_shape, "item_shape")?;
        Ok(Self { network, scheduler: ddpm, config, item_shape: item_shape.to_vec() })
    }

    /// The settings.
    pub fn config(&self) -> &PartialDiffusionConfig {
        &self.config
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The item shape the detector takes, borrowed.
    pub(crate) fn item_shape_slice(&self) -> &[usize] {
        &self.item_shape
    }

    /// The reverse-process timesteps, from `t_λ` down to 0.
    pub fn timesteps(&self) -> &[usize] {
        self.scheduler.timesteps()
    }

    /// The pseudo-healthy reconstruction `x̂₀` of `images` and the network evaluations spent
    /// (see the [module documentation](self)).
    ///
    /// With `known = Some(mask)` (`[1 or N, 1, ...]`, 1 where the image is to be kept), the
    /// reverse process is a RePaint-style inpainting: after every step the kept region is
    /// replaced by the image noised to the new level, so only the rest is reconstructed, from
    /// its surroundings (patch-level detection).
    ///
    /// # Errors
    /// Image shape and NaN errors, and the network's and scheduler's errors.
    pub fn reconstruct<const D: usize>(
        &self,
        images: Tensor<D>,
        known: Option<&Tensor<D>>,
        rng: &mut SeededRng,
    ) -> Result<(Tensor<D>, usize)>
    where
        N: TimeConditionedNetwork<D>,
    {
        check_images(&images, &self.item_shape, "images")?;
        let schedule = self.scheduler.schedule();
        let noise_kind = &self.config.noise;
        let noised = |level: Option<usize>, rng: &mut SeededRng| -> Result<Tensor<D>> {
            let Some(t) = level else { return Ok(images.clone()) };
            let alpha = schedule.alpha_cumprod(t)?;
            let noise = noise_kind.sample_like(&images, rng)?;
            Ok(images.clone().mul_scalar(alpha.sqrt()).add(noise.mul_scalar((1.0 - alpha).sqrt())))
        };
        let batch = images.dims()[0];
        let device = images.device();
        let none = Condition::none();
        let mut x = noised(Some(self.config.t_lambda), rng)?;
        let mut nfe = 0;
        for &t in self.scheduler.timesteps() {
            let time = Tensor::<1>::full([batch], t as f32, &device);
            let output = self.network.evaluate(x.clone(), time, &none)?;
            nfe += 1;
            let posterior = self.scheduler.posterior(output, t, x)?;
            x = if t > 0 {
                let noise = noise_kind.sample_like(&posterior.mean, rng)?;
                match posterior.std {
                    StepStd::Constant(std) => posterior.mean.add(noise.mul_scalar(std)),
                    StepStd::PerElement(std) => posterior.mean.add(noise.mul(std)),
                }
            } else {
                posterior.mean
            };
            if let Some(mask) = known {
                let level = self.scheduler.previous_timestep(t)?;
                let kept = noised(level, rng)?;
                x = x.clone().add(kept.sub(x).mul(mask.clone()));
            }
        }
        // The last step (from t = 0) lands on the clean level: x is the estimate of x₀.
        Ok((x, nfe))
    }
}

impl<N: TimeConditionedNetwork<D>, const D: usize> AnomalyDetector<D>
    for PartialDiffusionDetector<N>
{
    fn name(&self) -> String {
        format!("ddpm-{} t={}", self.config.noise.name(), self.config.t_lambda)
    }

    fn item_shape(&self) -> &[usize] {
        &self.item_shape
    }

    fn detect(&self, images: Tensor<D>, rng: &mut SeededRng) -> Result<AnomalyMaps<D>> {
        let (reconstructions, nfe) = self.reconstruct(images.clone(), None, rng)?;
        let maps = residual_map(images, reconstructions.clone())?;
        let maps = smooth_maps(maps, self.config.smoothing_sigma)?;
        Ok(AnomalyMaps { maps, reconstructions: Some(reconstructions), nfe })
    }
}

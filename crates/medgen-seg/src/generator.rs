//! The generative samplers over SDF maps behind an SDF segmenter: conditional flow matching
//! (default) and DDIM diffusion, through one interface so both can be compared on one data
//! set.

use burn::config::Config;
use burn::prelude::*;
use medgen_core::noise::gaussian_noise;
use medgen_core::ode::{FixedStepMethod, OdeSolver};
use medgen_core::{Condition, CoreError, TimeConditionedNetwork};
use medgen_diffusion::{
    DdimScheduler, DdimSchedulerConfig, DenoisingLoss, DenoisingLossConfig, GuidanceConfig,
    PredictionType,
};
use medgen_flow::matching::{FlowMatchingLoss, FlowMatchingLossConfig, sample_flow};
use rand::Rng;

use crate::error::Result;

/// Flow matching over SDF maps (FlowSDF): the path from noise `m̃₀ ~ N(0, I)` (`t = 0`) to
/// the target SDF `m̃₁` (`t = 1`), e.g. `Ψ_t = t m̃₁ + (1 − t) m̃₀` with velocity
/// `u = m̃₁ − m̃₀` (I-CFM / OT-CFM) or Lipman's path with `σ_min`; trained with the
/// conditional flow-matching loss of medgen-flow and sampled by integrating
/// `dm̃/dt = v_θ(m̃, t, x)` with a fixed-step solver.
#[derive(Config, Debug, PartialEq)]
pub struct FlowSdfConfig {
    /// The path and the coupling of noise and targets (default I-CFM, `σ = 0`: the straight
    /// path `Ψ_t = t m̃₁ + (1 − t) m̃₀` with independent noise). Minibatch OT coupling
    /// (`FlowMatchingLossConfig::exact_optimal_transport`) pairs noise with the targets of
    /// *other* images of the batch, which may let the network read the object's position
    /// from the noise rather than from the image; for image-conditioned segmentation the
    /// independent coupling is the safer default.
    #[config(default = "FlowMatchingLossConfig::conditional(0.0)")]
    pub loss: FlowMatchingLossConfig,
    /// The ODE method used at inference (FlowSDF uses Euler with as few as 3 steps).
    #[config(default = "FixedStepMethod::Euler")]
    pub method: FixedStepMethod,
    /// The network sees the flow time as `time_scale · t`, in the range of diffusion
    /// timesteps that the U-Net's sinusoidal embedding resolves well.
    #[config(default = 1000.0)]
    pub time_scale: f64,
}

/// Diffusion over SDF maps: DDPM training with medgen-diffusion's denoising loss and DDIM
/// sampling (`η = 0`, deterministic given the initial noise), with diffusers' options.
#[derive(Config, Debug)]
pub struct DiffusionSdfConfig {
    /// The DDIM scheduler; its `prediction_type` is also the training target (default `x₀`
    /// prediction, with `x̂₀` clipped to `[−1, 1]`, the range of normalised SDFs).
    #[config(default = "DdimSchedulerConfig::new().with_prediction_type(PredictionType::Sample)")]
    pub scheduler: DdimSchedulerConfig,
    /// Min-SNR-γ loss weighting (`None`: uniform).
    #[config(default = "None")]
    pub min_snr_gamma: Option<f64>,
}

/// Which generative model an SDF segmenter uses.
#[derive(Config, Debug)]
pub enum SdfGeneratorConfig {
    /// Conditional flow matching (the default).
    FlowMatching(FlowSdfConfig),
    /// DDPM training, DDIM sampling.
    Diffusion(DiffusionSdfConfig),
}

impl Default for SdfGeneratorConfig {
    fn default() -> Self {
        Self::FlowMatching(FlowSdfConfig::new())
    }
}

impl SdfGeneratorConfig {
    /// Validates the settings and builds the generator.
    pub fn init(&self) -> Result<SdfGenerator> {
        match self {
            Self::FlowMatching(config) => {
                let scale = config.time_scale;
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(CoreError::config(
                        "time_scale",
                        format!("must be finite and > 0, got {scale}"),
                    )
                    .into());
                }
                Ok(SdfGenerator::Flow {
                    loss: config.loss.init()?,
                    method: config.method,
                    time_scale: scale,
                })
            }
            Self::Diffusion(config) => {
                let scheduler = config.scheduler.init()?;
                let loss = DenoisingLossConfig::new()
                    .with_prediction_type(config.scheduler.prediction_type)
                    .with_min_snr_gamma(config.min_snr_gamma)
                    .init(scheduler.schedule().clone())?;
                Ok(SdfGenerator::Diffusion { scheduler: Box::new(scheduler), loss: Box::new(loss) })
            }
        }
    }
}

/// SDF maps drawn by an [`SdfGenerator`].
#[derive(Clone, Debug)]
pub struct GeneratedSdf<const D: usize> {
    /// The sampled SDFs `[N, K, *spatial]`.
    pub sdf: Tensor<D>,
    /// Network evaluations used (NFE).
    pub nfe: usize,
}

/// A built [`SdfGeneratorConfig`]: the training loss and the sampler of one generative
/// model over SDF maps, for any image-conditioned [`TimeConditionedNetwork`] `v_θ(m̃, t, x)`
/// (the image `x` enters as [`Condition::image`]).
#[derive(Clone, Debug)]
pub enum SdfGenerator {
    /// Conditional flow matching.
    Flow {
        /// The flow-matching loss (path and coupling).
        loss: FlowMatchingLoss,
        /// The fixed-step ODE method.
        method: FixedStepMethod,
        /// The factor applied to `t ∈ [0, 1]` before the network sees it.
        time_scale: f64,
    },
    /// DDPM/DDIM diffusion.
    Diffusion {
        /// The DDIM scheduler (timesteps set per call to [`SdfGenerator::sample`]).
        scheduler: Box<DdimScheduler>,
        /// The denoising loss.
        loss: Box<DenoisingLoss>,
    },
}

/// A network seen with its time multiplied by a constant.
struct ScaledTime<'a, N: ?Sized> {
    network: &'a N,
    scale: f64,
}

impl<const D: usize, N: TimeConditionedNetwork<D> + ?Sized> TimeConditionedNetwork<D>
    for ScaledTime<'_, N>
{
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> medgen_core::Result<Tensor<D>> {
        self.network.evaluate(x_t, t.mul_scalar(self.scale), condition)
    }
}

impl SdfGenerator {
    /// One training loss of `network` on `images` `[N, C_cond, *spatial]` and their target
    /// SDFs `sdf` `[N, K, *spatial]` (values in `[−1, 1]`), random draws from `rng`:
    /// flow matching `(1/N) Σ ½‖v_θ(Ψ_t, t, x) − u_t‖²`, or the denoising loss.
    ///
    /// # Errors
    /// Shape mismatches between `images` and `sdf` (batch or spatial size), NaN/Inf inputs,
    /// and the network's errors.
    pub fn training_loss<const D: usize, N, R>(
        &self,
        network: &N,
        images: Tensor<D>,
        sdf: Tensor<D>,
        rng: &mut R,
    ) -> Result<Tensor<1>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng + ?Sized,
    {
        check_pair(&images, &sdf)?;
        medgen_core::check::ensure_finite(&images, "images")?;
        let condition = Condition::none().with_image(images);
        match self {
            Self::Flow { loss, time_scale, .. } => {
                let scaled = ScaledTime { network, scale: *time_scale };
                Ok(loss.training_loss(&scaled, sdf, &condition, rng)?)
            }
            Self::Diffusion { loss, .. } => {
                medgen_core::check::ensure_finite(&sdf, "target SDFs")?;
                Ok(loss.training_loss(network, sdf, &condition, rng)?)
            }
        }
    }

    /// One SDF sample per image of `images` (`[N, C_cond, *spatial]`) with `classes` SDF
    /// channels, from noise drawn from `rng`, in `steps` solver steps (flow: `steps` steps of
    /// the ODE method over `t ∈ [0, 1]`; diffusion: `steps` DDIM steps).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for `steps = 0` or `classes = 0` (and more DDIM steps than
    /// training timesteps), [`CoreError::NonFinite`] for NaN/Inf images, and the network's
    /// errors.
    pub fn sample<const D: usize, N, R>(
        &self,
        network: &N,
        images: Tensor<D>,
        classes: usize,
        steps: usize,
        rng: &mut R,
    ) -> Result<GeneratedSdf<D>>
    where
        N: TimeConditionedNetwork<D> + ?Sized,
        R: Rng,
    {
        if steps == 0 || classes == 0 {
            return Err(CoreError::config(
                "steps/classes",
                format!("must be at least 1, got {steps} steps and {classes} classes"),
            )
            .into());
        }
        let mut shape = images.dims();
        medgen_core::check::ensure_non_empty(&shape, "images")?;
        medgen_core::check::ensure_finite(&images, "images")?;
        shape[1] = classes;
        let device = images.device();
        let condition = Condition::none().with_image(images);
        match self {
            Self::Flow { method, time_scale, .. } => {
                let scaled = ScaledTime { network, scale: *time_scale };
                let solver = match method {
                    FixedStepMethod::Euler => OdeSolver::Euler { steps },
                    FixedStepMethod::Midpoint => OdeSolver::Midpoint { steps },
                    FixedStepMethod::Heun => OdeSolver::Heun { steps },
                    FixedStepMethod::Rk4 => OdeSolver::Rk4 { steps },
                };
                let out = sample_flow(&scaled, shape, &condition, &solver, rng, &device)?;
                Ok(GeneratedSdf { sdf: out.sample, nfe: out.nfe })
            }
            Self::Diffusion { scheduler, .. } => {
                let mut scheduler = DdimScheduler::clone(scheduler);
                scheduler.set_timesteps(steps)?;
                let initial =
                    gaussian_noise(shape, rng, &device)?.mul_scalar(scheduler.init_noise_sigma());
                let out = medgen_diffusion::sample(
                    network,
                    &mut scheduler,
                    initial,
                    &condition,
                    &GuidanceConfig::new(),
                    rng,
                )?;
                Ok(GeneratedSdf { sdf: out.sample, nfe: out.nfe })
            }
        }
    }
}

/// Checks that `images` and `sdf` share the batch and spatial sizes.
pub(crate) fn check_pair<const D: usize>(images: &Tensor<D>, sdf: &Tensor<D>) -> Result<()> {
    let (i, s) = (images.dims(), sdf.dims());
    if D < 3 || i[0] != s[0] || i[2..] != s[2..] {
        return Err(
            CoreError::shape("target SDFs", "the images' batch and spatial sizes", &s).into()
        );
    }
    medgen_core::check::ensure_non_empty(&s, "target SDFs")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegError;
    use crate::encoding::{masks_to_sdf, sdf_to_masks};
    use medgen_core::seeded_rng;
    use medgen_flow::matching::ProbabilityPath;
    use medgen_sdf::SdfConfig;
    use medgen_testing::test_device;

    fn reference(device: &Device) -> (Tensor<4>, Tensor<4>, SdfConfig) {
        let mask: Vec<f32> = (0..2 * 8 * 8)
            .map(|i| {
                let (n, y, x) = (i / 64, (i / 8) % 8, i % 8);
                f32::from(u8::from((2..6 - n).contains(&y) && (1 + n..7).contains(&x)))
            })
            .collect();
        let masks = Tensor::<4>::from_data(TensorData::new(mask, [2, 1, 8, 8]), device);
        let config = SdfConfig::truncated_normalized(3.0);
        (masks.clone(), masks_to_sdf(masks, &config).unwrap(), config)
    }

    #[test]
    fn oracle_flow_reproduces_the_reference_mask_for_any_step_count() {
        let device = test_device();
        let (masks, target, config) = reference(&device);
        let want = masks.try_into_vec_as::<f32>().unwrap();
        for (path, sigma_min) in [
            (ProbabilityPath::Linear { sigma: 0.0 }, 0.0),
            (ProbabilityPath::Target { sigma_min: 1e-3 }, 1e-3),
        ] {
            // Heun also evaluates at t = 1, where the field of the σ_min = 0 path is singular.
            let methods: &[FixedStepMethod] = if sigma_min > 0.0 {
                &[FixedStepMethod::Euler, FixedStepMethod::Heun]
            } else {
                &[FixedStepMethod::Euler]
            };
            for &method in methods {
                let generator = SdfGeneratorConfig::FlowMatching(
                    FlowSdfConfig::new()
                        .with_loss(FlowMatchingLossConfig::new().with_path(path))
                        .with_method(method),
                )
                .init()
                .unwrap();
                // The true conditional velocity toward m̃₁ at (x, t):
                // (m̃₁ − (1 − σ_min) x) / (1 − (1 − σ_min) t); the network sees 1000 t.
                let oracle = |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
                    let t = t.div_scalar(1000.0).mul_scalar(1.0 - sigma_min).reshape([2, 1, 1, 1]);
                    let denominator = t.neg().add_scalar(1.0);
                    Ok(target.clone().sub(x.mul_scalar(1.0 - sigma_min)).div(denominator))
                };
                for steps in [1, 2, 3, 10] {
                    let images = Tensor::<4>::zeros([2, 1, 8, 8], &device);
                    let out = generator
                        .sample(&oracle, images, 1, steps, &mut seeded_rng(steps as u64))
                        .unwrap();
                    let factor = if method == FixedStepMethod::Heun { 2 } else { 1 };
                    assert_eq!(out.nfe, steps * factor);
                    let got =
                        sdf_to_masks(out.sdf, &config).unwrap().try_into_vec_as::<f32>().unwrap();
                    assert_eq!(got, want, "{path:?} {method:?} {steps} steps");
                }
            }
        }
    }

    #[test]
    fn oracle_ddim_reproduces_the_reference_mask() {
        let device = test_device();
        let (masks, target, config) = reference(&device);
        let generator = SdfGeneratorConfig::Diffusion(DiffusionSdfConfig::new()).init().unwrap();
        let oracle = |_x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(target.clone());
        for steps in [1, 3, 10] {
            let images = Tensor::<4>::zeros([2, 1, 8, 8], &device);
            let out = generator.sample(&oracle, images, 1, steps, &mut seeded_rng(1)).unwrap();
            assert_eq!(out.nfe, steps);
            let got = sdf_to_masks(out.sdf, &config).unwrap();
            assert_eq!(
                got.try_into_vec_as::<f32>().unwrap(),
                masks.clone().try_into_vec_as::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let generator = SdfGeneratorConfig::default().init().unwrap();
        let zero = |x: Tensor<4>, _t: Tensor<1>, _c: &Condition<4>| Ok(x.zeros_like());
        let images = Tensor::<4>::zeros([1, 1, 4, 4], &device);
        let mut rng = seeded_rng(0);
        assert!(matches!(
            generator.sample(&zero, images.clone(), 1, 0, &mut rng),
            Err(SegError::Core(CoreError::InvalidConfig { .. }))
        ));
        let nan = Tensor::<4>::full([1, 1, 4, 4], f32::NAN, &device);
        assert!(matches!(
            generator.sample(&zero, nan.clone(), 1, 3, &mut rng),
            Err(SegError::Core(CoreError::NonFinite { .. }))
        ));
        let sdf = Tensor::<4>::zeros([1, 1, 4, 5], &device);
        assert!(matches!(
            generator.training_loss(&zero, images.clone(), sdf, &mut rng),
            Err(SegError::Core(CoreError::ShapeMismatch { .. }))
        ));
        let bad = SdfGeneratorConfig::FlowMatching(FlowSdfConfig::new().with_time_scale(0.0));
        assert!(bad.init().is_err());
        let ddim = SdfGeneratorConfig::Diffusion(DiffusionSdfConfig::new()).init().unwrap();
        assert!(ddim.sample(&zero, images, 1, 5000, &mut rng).is_err());
    }
}

//! A diffusion model ready to sample, as diffusers' `DDPMPipeline`/`DDIMPipeline` and MONAI's
//! `DiffusionInferer` package it: a trained network, the scheduler to sample it with (chosen
//! by name, [`SchedulerConfig`]), the number of steps, the guidance and the shape of one
//! sample. It implements medgen-core's [`Sample`], the sampling verb every family shares.

use burn::tensor::{Device, Tensor};
use medgen_core::TimeConditionedNetwork;
use medgen_core::noise::gaussian_noise;
use medgen_core::{Condition, GuidanceConfig, Sample, Samples, SeededRng};

use crate::error::{DiffusionError, Result};
use crate::sampling::{SamplingOutput, sample};
use crate::scheduler_config::SchedulerConfig;

/// `x_T ~ N(0, σ_T² I)` of shape `[n, *sample_shape]` from the caller's generator, then the
/// reverse process with the configured scheduler in `num_inference_steps` steps
/// ([`crate::sampling::sample`], guided by `guidance`).
#[derive(Debug)]
pub struct DiffusionPipeline<N> {
    network: N,
    scheduler: SchedulerConfig,
    num_inference_steps: usize,
    guidance: GuidanceConfig,
    sample_shape: Vec<usize>,
}

impl<N> DiffusionPipeline<N> {
    /// Packages `network` with `scheduler`, `num_inference_steps` and the shape of one
    /// sample (`[C, H, W]` for images, `[C, D, H, W]` for volumes); no guidance (`w = 1`).
    ///
    /// # Errors
    /// [`DiffusionError::InvalidStepCount`] unless `1 ≤ num_inference_steps ≤ T`; an
    /// `InvalidConfig` error naming
    /// `sample_shape` when it is empty or holds a zero.
    pub fn new(
        network: N,
        scheduler: SchedulerConfig,
        num_inference_steps: usize,
        sample_shape: &[usize],
    ) -> Result<Self> {
        let num_train_timesteps = scheduler.num_train_timesteps();
        if !(1..=num_train_timesteps).contains(&num_inference_steps) {
            return Err(DiffusionError::InvalidStepCount {
                requested: num_inference_steps,
                num_train_timesteps,
            });
        }
        if sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(DiffusionError::config(
                "sample_shape",
                format!("needs positive sizes [C, spatial...], got {sample_shape:?}"),
            ));
        }
        Ok(Self {
            network,
            scheduler,
            num_inference_steps,
            guidance: GuidanceConfig::new(),
            sample_shape: sample_shape.to_vec(),
        })
    }

    /// The same pipeline with classifier-free `guidance`.
    pub fn with_guidance(mut self, guidance: GuidanceConfig) -> Self {
        self.guidance = guidance;
        self
    }

    /// The same pipeline sampling in `num_inference_steps` steps.
    pub fn with_num_inference_steps(mut self, num_inference_steps: usize) -> Self {
        self.num_inference_steps = num_inference_steps;
        self
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The scheduler configuration.
    pub fn scheduler(&self) -> &SchedulerConfig {
        &self.scheduler
    }

    /// The shape of one sample (without the batch axis).
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// Runs the reverse process from a given `x_T` (already scaled by the scheduler's
    /// `init_noise_sigma`), returning the final sample, the last `x̂₀` and the NFE.
    ///
    /// # Errors
    /// Those of [`SchedulerConfig::build`] and [`crate::sampling::sample`].
    pub fn sample_from<const D: usize>(
        &self,
        x_t: Tensor<D>,
        condition: &Condition<D>,
        rng: &mut SeededRng,
    ) -> Result<SamplingOutput<D>>
    where
        N: TimeConditionedNetwork<D>,
    {
        let mut scheduler = self.scheduler.build::<D>(self.num_inference_steps)?;
        sample(&self.network, scheduler.as_mut(), x_t, condition, &self.guidance, rng)
    }
}

impl<const D: usize, N: TimeConditionedNetwork<D>> Sample<D> for DiffusionPipeline<N> {
    type Error = DiffusionError;

    /// Draws `x_T = σ_T ε`, `ε ~ N(0, I)` of shape `[n, *sample_shape]` from `rng` and runs
    /// the reverse process; `nfe` is the number of scheduler steps (a guided step counts
    /// once).
    fn sample(
        &self,
        n: usize,
        condition: &Condition<D>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Samples<D>> {
        let shape = medgen_core::check::batch_shape(n, &self.sample_shape, "sample_shape")?;
        let mut scheduler = self.scheduler.build::<D>(self.num_inference_steps)?;
        let x_t = gaussian_noise(shape, rng, device)?.mul_scalar(scheduler.init_noise_sigma());
        let output =
            sample(&self.network, scheduler.as_mut(), x_t, condition, &self.guidance, rng)?;
        Ok(Samples { samples: output.sample, nfe: output.nfe })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddim::DdimSchedulerConfig;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    /// The DDIM oracle of the data set `{x₀ = 0}`: ε̂ = x_t / √(1 − ᾱ_t) recovers 0 exactly.
    fn zero_data_oracle()
    -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> medgen_core::Result<Tensor<4>> {
        let abar = DdimSchedulerConfig::new().init().unwrap().schedule().alphas_cumprod().to_vec();
        move |x: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
            let t = t.slice(0..1).into_scalar::<f32>() as usize;
            Ok(x.div_scalar((1.0 - abar[t]).sqrt()))
        }
    }

    #[test]
    fn samples_have_the_shape_and_nfe_and_are_reproducible() {
        let device = test_device();
        let config = SchedulerConfig::Ddim(DdimSchedulerConfig::new().with_clip_sample(false));
        let pipeline = DiffusionPipeline::new(zero_data_oracle(), config, 12, &[1, 3, 3]).unwrap();
        let draw =
            |seed| pipeline.sample(4, &Condition::none(), &mut seeded_rng(seed), &device).unwrap();
        let a = draw(5);
        assert_eq!(a.samples.dims(), [4, 1, 3, 3]);
        assert_eq!(a.nfe, 12);
        let largest = a.samples.clone().abs().max().into_scalar::<f32>();
        assert!(largest < 1e-3, "{largest}");
        let b = draw(5);
        assert_eq!(
            a.samples.try_into_vec_as::<f32>().unwrap(),
            b.samples.try_into_vec_as::<f32>().unwrap()
        );
    }

    #[test]
    fn bad_configurations_are_typed_errors() {
        let device = test_device();
        let ddim = || SchedulerConfig::from_name("ddim").unwrap();
        assert!(matches!(
            DiffusionPipeline::new(zero_data_oracle(), ddim(), 0, &[1, 2, 2]),
            Err(DiffusionError::InvalidStepCount { .. })
        ));
        let err = DiffusionPipeline::new(zero_data_oracle(), ddim(), 5, &[1, 0, 2])
            .err()
            .expect("a zero size is an error");
        assert!(err.to_string().contains("sample_shape"), "{err}");
        // A 3D shape for 2D samples.
        let pipeline =
            DiffusionPipeline::new(zero_data_oracle(), ddim(), 5, &[1, 2, 2, 2]).unwrap();
        let err = pipeline.sample(1, &Condition::none(), &mut seeded_rng(0), &device).unwrap_err();
        assert!(err.to_string().contains("sample_shape"), "{err}");
        // Guidance without a condition to drop.
        let guided = DiffusionPipeline::new(zero_data_oracle(), ddim(), 5, &[1, 2, 2])
            .unwrap()
            .with_guidance(GuidanceConfig::new().with_scale(3.0));
        assert!(matches!(
            guided.sample(1, &Condition::none(), &mut seeded_rng(0), &device),
            Err(DiffusionError::Core(medgen_core::CoreError::GuidanceWithoutCondition { .. }))
        ));
    }
}

//! Weakly supervised lesion localisation by counterfactuals (after Sanchez et al., 2022): a
//! class-conditional diffusion model trained with classifier-free guidance on image-level
//! labels only (healthy / lesion) answers "what would this patient look like if healthy?";
//! the difference to the original is the lesion evidence.
//!
//! With DDIM's `n` inference timesteps `t_0 > … > t_{n−1}` and `k = ⌊n · strength⌋`:
//!
//! ```text
//! x_s  = DDIM-inversion of x over the k lowest timesteps, conditioned on the patient's label y
//! x̃    = DDIM (η = 0) from x_s over the same k timesteps, conditioned on the target class,
//!        with classifier-free guidance ε̂ = ε(∅) + w (ε(target) − ε(∅))
//! a    = G_s * mean_c |x − x̃|
//! ```
//!
//! The noise level (`strength`) and the guidance scale `w` trade fidelity against change: a
//! low level keeps the patient's anatomy but may not remove a large lesion, a large `w`
//! removes more but also alters healthy tissue. An image of the target class itself should
//! change little (its inversion is undone exactly for `w = 1`).

use burn::config::Config;
use burn::tensor::{Int, Tensor, TensorData};
use medgen_core::{Condition, GuidanceConfig, SeededRng, TimeConditionedNetwork};
use medgen_diffusion::{
    DdimInverseScheduler, DdimSchedulerConfig, TimestepWindow, img2img_steps, sample,
};

use crate::anomaly::{check_smoothing, residual_map, smooth_maps};
use crate::error::{AppsError, Result};
use crate::images::check_images;

/// Settings of a counterfactual run (see the [module documentation](self)).
#[derive(Config, Debug, PartialEq)]
pub struct CounterfactualConfig {
    /// DDIM inference steps `n` over the whole schedule.
    #[config(default = 50)]
    pub num_inference_steps: usize,
    /// The fraction `k / n` of them encoded and decoded (the noise level), in `(0, 1]`.
    #[config(default = 0.5)]
    pub strength: f64,
    /// The classifier-free guidance scale `w ≥ 1` of the decoding.
    #[config(default = 3.0)]
    pub guidance_scale: f64,
    /// The class the counterfactual is decoded under (0: healthy).
    #[config(default = 0)]
    pub target_class: usize,
    /// Standard deviation of the Gaussian smoothing of the difference map, in pixels.
    #[config(default = 0.0)]
    pub smoothing_sigma: f64,
}

/// The result of [`CounterfactualExplainer::explain`].
#[derive(Clone, Debug)]
pub struct CounterfactualOutput<const D: usize> {
    /// The DDIM latents `x_s` at the chosen noise level, `[N, C, ...]`.
    pub latents: Tensor<D>,
    /// The counterfactual images `x̃`, `[N, C, ...]`.
    pub counterfactuals: Tensor<D>,
    /// The difference maps `a`, `[N, 1, ...]`.
    pub maps: Tensor<D>,
    /// Network evaluations (inversion, then guided decoding at two per step).
    pub nfe: usize,
}

/// Counterfactual explanations with a class-conditional noise predictor (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct CounterfactualExplainer<N> {
    network: N,
    scheduler: DdimSchedulerConfig,
    config: CounterfactualConfig,
    num_classes: usize,
    item_shape: Vec<usize>,
}

impl<N> CounterfactualExplainer<N> {
    /// An explainer for `network` (trained with class-label conditions in `0..num_classes`
    /// and condition dropout, on the noise schedule of `scheduler`) on items of shape
    /// `item_shape`.
    ///
    /// # Errors
    /// Configuration errors naming `num_inference_steps`, `strength`, `guidance_scale`,
    /// `target_class` or `smoothing_sigma`, and invalid scheduler settings.
    pub fn new(
        network: N,
        scheduler: DdimSchedulerConfig,
        config: CounterfactualConfig,
        num_classes: usize,
        item_shape: &[usize],
    ) -> Result<Self> {
        let mut ddim = scheduler.init()?;
        ddim.set_timesteps(config.num_inference_steps)?;
        img2img_steps(config.num_inference_steps, config.strength)?;
        if !(config.guidance_scale.is_finite() && config.guidance_scale >= 1.0) {
            return Err(AppsError::config(
                "guidance_scale",
                format!("must be finite and >= 1, got {}", config.guidance_scale),
            ));
        }
        if config.target_class >= num_classes {
            return Err(AppsError::config(
                "target_class",
                format!("must lie in 0..{num_classes}, got {}", config.target_class),
            ));
        }
        check_smoothing(config.smoothing_sigma)?;
        medgen_core::check::ensure_non_empty(item_shape, "item_shape")?;
        Ok(Self { network, scheduler, config, num_classes, item_shape: item_shape.to_vec() })
    }

    /// The settings.
    pub fn config(&self) -> &CounterfactualConfig {
        &self.config
    }

    /// Counterfactuals of `images` (`[N, ...item_shape]`) whose image-level labels are
    /// `labels` (one per image, in `0..num_classes`).
    ///
    /// # Errors
    /// Image shape and NaN errors, a configuration error naming `labels` (wrong count or a
    /// class out of range), and the sampler's errors.
    pub fn explain<const D: usize>(
        &self,
        images: Tensor<D>,
        labels: &[usize],
        rng: &mut SeededRng,
    ) -> Result<CounterfactualOutput<D>>
    where
        N: TimeConditionedNetwork<D>,
    {
        check_images(&images, &self.item_shape, "images")?;
        let batch = images.dims()[0];
        if labels.len() != batch || labels.iter().any(|&l| l >= self.num_classes) {
            return Err(AppsError::config(
                "labels",
                format!("need {batch} labels in 0..{}, got {labels:?}", self.num_classes),
            ));
        }
        let device = images.device();
        let classes = |values: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(values, [batch]), &device)
        };
        let own = Condition::none().with_class(classes(labels.iter().map(|&l| l as i64).collect()));
        let target =
            Condition::none().with_class(classes(vec![self.config.target_class as i64; batch]));
        let n = self.config.num_inference_steps;
        let k = img2img_steps(n, self.config.strength)?.max(1);
        let mut ddim = self.scheduler.init()?;
        ddim.set_timesteps(n)?;
        let mut inverse = DdimInverseScheduler::new(ddim.clone());
        let plain = GuidanceConfig::new();
        let encoded = sample(
            &self.network,
            &mut TimestepWindow::new(&mut inverse, 0, Some(k)),
            images.clone(),
            &own,
            &plain,
            rng,
        )?;
        let guidance = GuidanceConfig::new().with_scale(self.config.guidance_scale);
        let decoded = sample(
            &self.network,
            &mut TimestepWindow::new(&mut ddim, n - k, None),
            encoded.sample.clone(),
            &target,
            &guidance,
            rng,
        )?;
        let maps = residual_map(images, decoded.sample.clone())?;
        let maps = smooth_maps(maps, self.config.smoothing_sigma)?;
        Ok(CounterfactualOutput {
            latents: encoded.sample,
            counterfactuals: decoded.sample,
            maps,
            nfe: encoded.nfe + decoded.nfe,
        })
    }
}

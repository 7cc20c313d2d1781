//! Likelihood-based anomaly maps from the DDPM variational bound: the per-pixel bits a healthy
//! model needs to explain an image. Lesions are unlikely under a model of healthy anatomy, so
//! their pixels carry a large share of the bound.
//!
//! ```text
//! a_p = mean_c Σ_{t ∈ S} L_t[p]        (bits; L_t = KL(q(x_{t−1}|x_t, x₀) ‖ p_θ(x_{t−1}|x_t)), L_0 the decoder NLL)
//! ```
//!
//! over a chosen set `S` of timesteps ([`variational_bound`] with per-element maps); with every
//! timestep and the prior term, `Σ_p a_p / P` is the image's bound in bits/dim.

use burn::tensor::Tensor;
use medgen_core::{Condition, SeededRng, TimeConditionedNetwork};
use medgen_diffusion::DdpmSchedulerConfig;
use medgen_diffusion::variational_bound::variational_bound;

use super::detector::{AnomalyDetector, AnomalyMaps};
use super::map::{check_smoothing, smooth_maps};
use crate::error::{AppsError, Result};
use crate::images::check_images;

/// Anomaly maps from the variational-bound terms of a DDPM (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct LikelihoodDetector<N> {
    network: N,
    scheduler: DdpmSchedulerConfig,
    timesteps: Vec<usize>,
    smoothing_sigma: f64,
    item_shape: Vec<usize>,
}

impl<N> LikelihoodDetector<N> {
    /// Maps from the bound terms at `timesteps` (training timesteps of `scheduler`'s
    /// schedule; low ones resolve fine detail) of `network`, smoothed by `smoothing_sigma`
    /// pixels, for items of shape `item_shape`.
    ///
    /// # Errors
    /// A configuration error naming `timesteps` (empty, or outside the schedule) or
    /// `smoothing_sigma`, and invalid scheduler settings.
    pub fn new(
        network: N,
        scheduler: DdpmSchedulerConfig,
        timesteps: Vec<usize>,
        smoothing_sigma: f64,
        item_shape: &[usize],
    ) -> Result<Self> {
        let total = scheduler.init()?.schedule().num_train_timesteps();
        if timesteps.is_empty() || timesteps.iter().any(|&t| t >= total) {
            return Err(AppsError::config(
                "timesteps",
                format!("need at least one timestep, each in 0..{total}, got {timesteps:?}"),
            ));
        }
        check_smoothing(smoothing_sigma)?;
        medgen_core::check::ensure_non_empty(item_shape, "item_shape")?;
        Ok(Self { network, scheduler, timesteps, smoothing_sigma, item_shape: item_shape.to_vec() })
    }
}

impl<N: TimeConditionedNetwork<D>, const D: usize> AnomalyDetector<D> for LikelihoodDetector<N> {
    fn name(&self) -> String {
        format!("ddpm-likelihood ({} terms)", self.timesteps.len())
    }

    fn item_shape(&self) -> &[usize] {
        &self.item_shape
    }

    fn detect(&self, images: Tensor<D>, rng: &mut SeededRng) -> Result<AnomalyMaps<D>> {
        check_images(&images, &self.item_shape, "images")?;
        let scheduler = self.scheduler.init()?;
        let bound = variational_bound(
            &self.network,
            &scheduler,
            images,
            &Condition::none(),
            &self.timesteps,
            true,
            rng,
        )?;
        let mut maps = bound.maps.into_iter();
        let first = maps
            .next()
            .ok_or_else(|| AppsError::config("timesteps", "need at least one timestep"))?;
        let sum = maps.fold(first, Tensor::add);
        let maps = smooth_maps(sum.mean_dim(1), self.smoothing_sigma)?;
        Ok(AnomalyMaps { maps, reconstructions: None, nfe: bound.nfe })
    }
}

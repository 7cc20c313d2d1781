//! Reconstruction baselines: any autoencoder trained on healthy images (AE, VAE, the first
//! stage of latent diffusion) reconstructs a lesion as healthy tissue, and the residual marks
//! it:
//!
//! ```text
//! x̂ = D(E(x)),   a = G_s * mean_c |x − x̂|
//! ```

use burn::tensor::Tensor;
use medgen_core::{Autoencoder, SeededRng};

use super::detector::{AnomalyDetector, AnomalyMaps};
use super::map::{check_smoothing, residual_map, smooth_maps};
use crate::error::{AppsError, Result};
use crate::images::check_images;

/// Residual maps of an [`Autoencoder`] with data rank `D` and latent rank `L` (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct ReconstructionDetector<A, const L: usize> {
    name: String,
    autoencoder: A,
    smoothing_sigma: f64,
    item_shape: Vec<usize>,
}

impl<A, const L: usize> ReconstructionDetector<A, L> {
    /// A detector named `name` (e.g. `vae`) for `autoencoder` on items of shape `item_shape`,
    /// smoothing maps by `smoothing_sigma` pixels.
    ///
    /// # Errors
    /// A configuration error naming `smoothing_sigma`, and an empty item shape.
    pub fn new(
        name: impl Into<String>,
        autoencoder: A,
        smoothing_sigma: f64,
        item_shape: &[usize],
    ) -> Result<Self> {
        check_smoothing(smoothing_sigma)?;
        medgen_core::check::ensure_non_empty(item_shape, "item_shape")?;
        Ok(Self {
            name: name.into(),
            autoencoder,
            smoothing_sigma,
            item_shape: item_shape.to_vec(),
        })
    }

    /// The autoencoder.
    pub fn autoencoder(&self) -> &A {
        &self.autoencoder
    }
}

impl<A, const D: usize, const L: usize> AnomalyDetector<D> for ReconstructionDetector<A, L>
where
    A: Autoencoder<D, L>,
    A::Error: std::error::Error + Send + Sync + 'static,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    fn item_shape(&self) -> &[usize] {
        &self.item_shape
    }

    fn detect(&self, images: Tensor<D>, _rng: &mut SeededRng) -> Result<AnomalyMaps<D>> {
        check_images(&images, &self.item_shape, "images")?;
        let model = |e| AppsError::model("autoencoder", e);
        let latents = self.autoencoder.encode(images.clone()).map_err(model)?;
        let reconstructions = self.autoencoder.decode(latents).map_err(model)?;
        let maps = residual_map(images, reconstructions.clone())?;
        let maps = smooth_maps(maps, self.smoothing_sigma)?;
        Ok(AnomalyMaps { maps, reconstructions: Some(reconstructions), nfe: 0 })
    }
}

//! The anomaly-detector trait every method implements.

use burn::tensor::Tensor;
use medgen_core::SeededRng;

use crate::error::Result;

/// The anomaly maps of a batch, with what produced them.
#[derive(Clone, Debug)]
pub struct AnomalyMaps<const D: usize> {
    /// One map per image, `[N, 1, ...]`: larger means more anomalous.
    pub maps: Tensor<D>,
    /// The pseudo-healthy reconstructions `x̂` (`[N, C, ...]`) where the method makes them.
    pub reconstructions: Option<Tensor<D>>,
    /// Network evaluations spent (for every image of the batch together).
    pub nfe: usize,
}

/// An unsupervised anomaly detector: a model of healthy anatomy that turns a batch of images
/// `[N, C, ...]` into per-pixel anomaly maps. Object safe, so methods can be compared in one
/// table (`Vec<Box<dyn AnomalyDetector<4>>>`).
pub trait AnomalyDetector<const D: usize> {
    /// A short name for tables (e.g. `ddpm-simplex t=250`).
    fn name(&self) -> String;

    /// The item shape `[C, H, W]` (or `[C, D, H, W]`) the model takes.
    fn item_shape(&self) -> &[usize];

    /// The anomaly maps of `images` (`[N, ...item_shape]`, data scale `[−1, 1]`), drawing any
    /// noise from `rng`.
    ///
    /// # Errors
    /// A shape error for images of another item shape, a non-finite error for NaN/Inf
    /// pixels, and the model's errors.
    fn detect(&self, images: Tensor<D>, rng: &mut SeededRng) -> Result<AnomalyMaps<D>>;
}

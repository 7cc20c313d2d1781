//! Options of the Euclidean distance transform.

use burn::config::Config;
use medgen_core::CoreError;

use crate::error::Result;

/// What the transform returns when the mask has no zero (background) element, so that no
/// element has a nearest background element.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NoBackground {
    /// Every distance is `+∞` (the distance to an empty set), and every index is
    /// `(-1, 0, …, 0)`. The default.
    Infinity,
    /// Exactly what scipy 1.17 returns: the distance from element `x` to the virtual point
    /// `(-1, 0, …, 0)` just outside the array, `√(((x₀ + 1)·s₀)² + Σ_{a>0} (x_a·s_a)²)`, and
    /// every index `(-1, 0, …, 0)`. An artefact of scipy's implementation, offered only for
    /// number-for-number comparisons.
    Scipy,
}

/// Options of [`distance_transform_edt`](crate::distance_transform_edt) and its batched
/// tensor version.
#[derive(Config, Debug, PartialEq)]
pub struct EdtOptions {
    /// Spacing of the samples along each axis (voxel size): one value for every axis, or a
    /// single value for all axes, each finite and `> 0`. `None` is unit spacing. Distances
    /// are `√(Σ_a (s_a·Δ_a)²)` for index offsets `Δ`.
    pub sampling: Option<Vec<f64>>,
    /// Also return, for every element, the index of its nearest zero element (scipy's
    /// `return_indices`). Ties between equally near elements are broken arbitrarily.
    #[config(default = false)]
    pub return_indices: bool,
    /// What a mask without zero elements gives.
    #[config(default = "NoBackground::Infinity")]
    pub no_background: NoBackground,
    /// Number of worker threads (`None`: every available core). Arrays under 32 768
    /// elements always run on the calling thread. Must be `>= 1`.
    pub threads: Option<usize>,
}

impl Default for EdtOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl EdtOptions {
    /// The number of worker threads to use, or [`CoreError::InvalidConfig`] for `Some(0)`.
    pub(crate) fn checked_threads(&self) -> Result<usize> {
        match self.threads {
            Some(0) => Err(CoreError::config("threads", "must be at least 1").into()),
            requested => Ok(super::parallel::thread_count(requested)),
        }
    }
}

//! # medgen-seg
//!
//! Segmentation by generative models over signed distance maps (FlowSDF, arXiv 2405.18087).
//!
//! A mask `m` of each class is represented by its truncated, normalised SDF `m̃ ∈ [−1, 1]`
//! ([`masks_to_sdf`]); an image-conditioned network `v_θ(m̃_t, t, x)` learns to carry noise
//! `m̃₀ ~ N(0, I)` to `m̃₁ ~ q(m̃ | x)` — by conditional flow matching on the path
//! `Ψ_t = t m̃₁ + (1 − t) m̃₀` (or Lipman's path with `σ_min`, or with minibatch OT
//! coupling), or by diffusion ([`SdfGenerator`]); masks are read back as `m = 1{m̃ ≤ 0}`.
//! Sampling `K` times gives an implicit ensemble whose mean, majority, variance and entropy
//! ([`EnsembleStats`]) capture annotation ambiguity.
//!
//! - [`SdfSegmenterConfig`] / [`SdfSegmenter`]: the U-Net, the generator, inference
//!   ([`SdfSegmenter::segment`], patch-based [`SdfSegmenter::segment_volume`]).
//! - [`SegmentationDataset`]: (image, mask) pairs with cached SDFs, seeded augmentation
//!   ([`AugmentConfig`]) applied consistently, random (3D) patches with positional channels.
//! - [`SegmentationTrainingConfig`] and [`fit_segmenter`] / [`segmentation_step`]: training
//!   with medgen-core's [`Trainer`](medgen_train::Trainer) (EMA, clipping,
//!   checkpoints, progress).
//! - [`PatchConfig`], [`PatchStitcher`], [`predict_by_patches`]: overlapping patches with
//!   blended stitching.
//! - [`AmbiguousPhantoms`]: phantoms with several simulated annotations per image, and
//!   [`uncertainty_error_correlation`] / [`boundary_uncertainty`] to measure calibration.

mod ambiguity;
mod augment;
mod dataset;
mod encoding;
mod ensemble;
pub mod error;
mod generator;
mod patches;
mod segmenter;
mod training;

pub use ambiguity::{
    AmbiguousPhantoms, BoundaryUncertainty, boundary_uncertainty, uncertainty_error_correlation,
};
pub use augment::{AugmentConfig, Augmentation, ImageInterpolation};
pub use dataset::{SegmentationBatch, SegmentationDataset};
pub use encoding::{masks_to_sdf, sdf_to_masks};
pub use ensemble::EnsembleStats;
pub use error::{Result, SegError};
pub use generator::{
    DiffusionSdfConfig, FlowSdfConfig, GeneratedSdf, SdfGenerator, SdfGeneratorConfig,
};
pub use patches::{
    PatchBlend, PatchConfig, PatchStitcher, crop, crop_per_item, positional_channels,
    predict_by_patches,
};
pub use segmenter::{SdfSegmenter, SdfSegmenterConfig, Segmentation};
pub use training::{SegmentationTrainingConfig, fit_segmenter, segmentation_step};

//! # medgen-sdf
//!
//! Exact Euclidean distance transforms and signed distance functions of binary masks, for
//! segmentation by generative models over SDFs (`medgen-seg`) and for distance-based metrics
//! (Hausdorff distance, surface distances, in `medgen-metrics`). It depends on `medgen-core`
//! only.
//!
//! - [`distance_transform_edt`]: `scipy.ndimage.distance_transform_edt` semantics (for every
//!   non-zero element, the Euclidean distance to the nearest zero element, with optional
//!   per-axis voxel spacing and nearest-element indices), any rank, linear time
//!   (Felzenszwalb & Huttenlocher's lower envelope of parabolas, one axis at a time), on
//!   several threads. [`distance_transform_edt_tensor`] does the same for a batch of masks
//!   `[N, H, W]` or `[N, D, H, W]` in a tensor on any device.
//! - [`signed_distance`] and [`mask_from_sdf`]: mask ↔ SDF with an explicit
//!   [`SignConvention`] (default negative inside, `mask = sdf <= 0`), [`Truncation`] at `±τ`
//!   and normalisation to `[−1, 1]`; the round trip is exact. [`signed_distance_tensor`] and
//!   [`mask_from_sdf_tensor`] work on `[N, 1, H, W]` / `[N, 1, D, H, W]` batches.
//!
//! The transforms run on the host in `f64`; the tensor entry points read the masks back once
//! and upload the result once (distance transforms are sequential scans that GPUs do not
//! speed up at these sizes).
//!
//! ```
//! use medgen_sdf::{SdfConfig, mask_from_sdf, signed_distance};
//! // A 4 × 4 mask with a 2 × 2 square inside.
//! let mut mask = vec![false; 16];
//! for i in [5, 6, 9, 10] {
//!     mask[i] = true;
//! }
//! let config = SdfConfig::truncated_normalized(2.0);
//! let sdf = signed_distance(&mask, &[4, 4], &config).unwrap();
//! assert_eq!(sdf[5], -0.5); // inside, one pixel from the outside, τ = 2
//! assert_eq!(sdf[0], 2f64.sqrt() / 2.0); // outside, √2 from the square's corner
//! assert_eq!(mask_from_sdf(&sdf, 0.0, config.sign).unwrap(), mask);
//! ```

#[cfg(test)]
mod brute_force;
pub mod edt;
pub mod error;
pub mod mask;
mod sampling;
pub mod sdf;

pub use edt::{
    EdtOptions, EdtResult, EdtTensors, NoBackground, distance_transform_edt,
    distance_transform_edt_tensor,
};
pub use error::{Result, SdfError};
pub use mask::{read_binary_mask, read_values};
pub use sdf::{
    SdfConfig, SignConvention, Truncation, mask_from_sdf, mask_from_sdf_tensor, signed_distance,
    signed_distance_tensor,
};

//! Parallel-beam CT: the Radon transform and its exact adjoint, filtered back-projection, and
//! low-dose simulation in the sinogram domain.
//!
//! The geometry is scikit-image's `radon(image, theta, circle=True)`: a square `S × S` image,
//! zero outside its inscribed circle, `S` detector bins per view, rotation about pixel
//! `(⌊S/2⌋, ⌊S/2⌋)`, angles in degrees. Sinograms are stored as images `[N, 1, V, S]` (one
//! row per view; scikit-image returns the transpose `[S, V]`).

pub mod dose;
pub mod fbp;
pub mod projector;

pub use dose::LowDoseConfig;
pub use fbp::{FbpFilter, FilteredBackProjection};
pub use projector::{ParallelBeamProjector, evenly_spaced_angles};

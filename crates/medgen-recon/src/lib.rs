//! # medgen-recon
//!
//! Diffusion-based reconstruction for inverse problems in medical imaging: sample a trained
//! diffusion prior while enforcing consistency with measured data.
//!
//! - Measurement models ([`MeasurementOperator`]: `A`, `Aᴴ`, the classical baseline):
//!   - [`mri`]: single-coil k-space `y = M ⊙ F_c x` ([`KSpaceOperator`]) with fastMRI's
//!     random and equispaced Cartesian masks, variable-density and radial-like masks
//!     ([`MaskKind`]); the zero-filled reconstruction as baseline; 2D and 3D.
//!   - [`ct`]: the parallel-beam Radon transform with its exact adjoint
//!     ([`ParallelBeamProjector`], scikit-image's geometry), filtered back-projection with
//!     Ram-Lak and Shepp-Logan filters, and low-dose simulation from Poisson photon counts.
//! - [`fourier`]: the centred orthonormal FFT on the device and on the host (`rustfft`);
//!   [`complex`] images as two channels.
//! - [`consistency`]: hard (projection) and soft (gradient) data consistency, noise-aware.
//! - [`sampler`]: DDPM/DDIM with data consistency, score-SDE predictor–corrector with data
//!   consistency, diffusion posterior sampling, and ensembles with pixelwise variance; all
//!   behind the object-safe [`Reconstruct`] trait.
//!
//! Images are `[N, C, *S]` tensors on any Burn device; the operators are tensor operations
//! (matrix products and gathers), so they run where the network runs and autodiff
//! differentiates through them.

pub mod complex;
pub mod consistency;
pub mod ct;
pub mod error;
pub mod fourier;
pub mod mri;
pub mod operator;
pub mod sampler;

mod sparse;

pub use consistency::{ConsistencyMethod, DataConsistency};
pub use ct::{FbpFilter, FilteredBackProjection, LowDoseConfig, ParallelBeamProjector};
pub use error::{ReconError, Result};
pub use fourier::CenteredFft;
pub use mri::{KSpaceOperator, MaskKind, SamplingMask};
pub use operator::{IntensityMap, MeasurementOperator, check_measurement};
pub use sampler::diffusion::DiffusionReconstruction;
pub use sampler::ensemble::{EnsembleOutput, reconstruct_ensemble};
pub use sampler::posterior::PosteriorSampling;
pub use sampler::score::ScoreReconstruction;
pub use sampler::{Reconstruct, ReconstructionOutput};

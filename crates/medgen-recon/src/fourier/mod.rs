//! Fourier transforms for k-space: the centred orthonormal DFT on the device and its host
//! counterpart.
//!
//! - [`CenteredFft`] applies `F_c = fftshift ∘ DFT_ortho ∘ ifftshift` along every spatial
//!   axis of a complex image on the device, as one dense matrix product per axis
//!   (`O(L)` work per output element). At the sizes diffusion priors run at (≤ 256 per side)
//!   this is a handful of matrix products that every Burn backend runs fast, that autodiff
//!   differentiates (posterior sampling needs `∇ₓ‖y − A x̂₀‖²` through the transform), and
//!   whose output is deterministic on every device. `burn-signal`'s FFT kernels would need a
//!   per-backend custom-op registration that medgen's backend-free crates cannot do.
//! - [`host`] runs the same transform on the host with the maintained `rustfft` crate
//!   (`O(L log L)`); it is the independent check of the device transform, and builds the CT
//!   reconstruction filters.

pub mod dft;
pub mod host;

pub use dft::CenteredFft;

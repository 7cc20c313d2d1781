//! Image quality: SSIM (scikit-image semantics), MS-SSIM, PSNR, MSE and MAE, on host arrays
//! and on batches of tensors.

mod batch;
mod ms_ssim;
mod pair;
mod pixel_error;
mod separable;
mod ssim;
mod ssim_2d;
mod window;

pub use batch::{mae_batch, ms_ssim_batch, mse_batch, psnr_batch, ssim_batch};
pub use ms_ssim::{MS_SSIM_WEIGHTS, ms_ssim};
pub use pixel_error::{mae, mse, psnr};
pub use ssim::{SsimConfig, ssim};
pub use window::SsimWindow;

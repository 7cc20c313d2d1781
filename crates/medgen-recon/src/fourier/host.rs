//! The centred orthonormal FFT on the host, with `rustfft`.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use crate::error::{ReconError, Result};

/// A 1D FFT of `values` in place: `X[k] = Σ_n x[n] e^{∓2πi kn/L}` (− forward, + inverse),
/// unnormalised (numpy's `fft`; the inverse here omits numpy's `1/L`).
pub fn fft_in_place(values: &mut [Complex<f64>], inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let plan = if inverse {
        planner.plan_fft_inverse(values.len())
    } else {
        planner.plan_fft_forward(values.len())
    };
    plan.process(values);
}

/// The centred orthonormal 2D FFT of a row-major `[H, W]` complex image on the host,
/// `fftshift(fft2(ifftshift(x), norm="ortho"))` (or its inverse with `inverse`):
/// each axis is rolled by `⌊L/2⌋` (`−⌊L/2⌋` first), transformed and scaled by `1/√L`.
///
/// # Errors
/// A shape error naming `image` unless it holds `H · W` values.
pub fn fft2c(
    image: &[Complex<f64>],
    shape: [usize; 2],
    inverse: bool,
) -> Result<Vec<Complex<f64>>> {
    let [height, width] = shape;
    if image.len() != height * width || image.is_empty() {
        return Err(ReconError::config(
            "image",
            format!("expected {height}×{width} values, got {}", image.len()),
        ));
    }
    let mut out = image.to_vec();
    // Rows (along W), then columns (along H).
    let mut line = vec![Complex::new(0.0, 0.0); width.max(height)];
    for r in 0..height {
        let row = &mut out[r * width..(r + 1) * width];
        transform_line(row, &mut line[..width], inverse);
    }
    let mut column = vec![Complex::new(0.0, 0.0); height];
    for c in 0..width {
        for r in 0..height {
            column[r] = out[r * width + c];
        }
        transform_line(&mut column, &mut line[..height], inverse);
        for r in 0..height {
            out[r * width + c] = column[r];
        }
    }
    Ok(out)
}

/// One centred orthonormal line transform, using `scratch` (same length) for the shifts.
fn transform_line(values: &mut [Complex<f64>], scratch: &mut [Complex<f64>], inverse: bool) {
    let len = values.len();
    let shift = len / 2;
    // ifftshift: scratch[m] = x[(m + ⌊L/2⌋) mod L].
    for (m, slot) in scratch.iter_mut().enumerate() {
        *slot = values[(m + shift) % len];
    }
    fft_in_place(scratch, inverse);
    let scale = 1.0 / (len as f64).sqrt();
    // fftshift: out[k] = X[(k − ⌊L/2⌋) mod L].
    for (k, slot) in values.iter_mut().enumerate() {
        *slot = scratch[(k + len - shift) % len] * scale;
    }
}

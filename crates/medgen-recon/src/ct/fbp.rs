//! Filtered back-projection, scikit-image's `iradon` (linear interpolation, `circle=True`).

use burn::tensor::{Device, Tensor, TensorData};
use rustfft::num_complex::Complex;

use crate::ct::projector::check_geometry;
use crate::error::Result;
use crate::fourier::host::fft_in_place;
use crate::operator::check_batch_shape;
use crate::sparse::EllMatrix;

/// The reconstruction filter of filtered back-projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FbpFilter {
    /// Ram-Lak: the ramp `|ω|`, built as the DFT of the band-limited spatial kernel
    /// `h[0] = 1/4`, `h[n] = −1/(π n)²` for odd `n`, 0 for even `n` (Kak & Slaney, eq. 61),
    /// which removes the DC bias of sampling `|ω|` directly.
    Ramp,
    /// Shepp-Logan: the ramp times `sinc`, `|ω| · sin(ω/2)/(ω/2)` (with `ω = 2π k/P`), which
    /// damps the highest frequencies and so the noise.
    SheppLogan,
}

/// Filtered back-projection for a parallel-beam geometry (`S × S` images, `V` views):
///
/// 1. each view's projection, zero-padded to `Ŝ = ⌈√2 S⌉` bins (centred) and then to
///    `P = max(64, 2^⌈log₂ 2Ŝ⌉)`, is filtered, `q = F⁻¹(H · F p)`, `H` the filter's response;
///    the first `Ŝ` samples are kept;
/// 2. `f(i, j) = π/(2V) Σ_v q_v(t)`, `t = (j − m) cos θ_v − (i − m) sin θ_v`, `m = ⌊S/2⌋`,
///    linearly interpolated on the detector grid `k − ⌊Ŝ/2⌋` (zero off the grid); pixels
///    outside the inscribed circle are zero.
///
/// Filtering by a real, even response is a circular convolution with `h = F⁻¹ H`; with
/// `P ≥ 2Ŝ` none of it wraps, so step 1 is one `[S] → [Ŝ]` matrix product per view
/// (`h` built on the host with `rustfft`), and step 2 a sparse matrix: both run on the device.
#[derive(Clone, Debug)]
pub struct FilteredBackProjection {
    size: usize,
    views: usize,
    padded: usize,
    /// `[S, Ŝ]`: `filtered = projection · filter_matrix`.
    filter_matrix: Tensor<2>,
    backprojection: EllMatrix,
}

impl FilteredBackProjection {
    /// The reconstruction of `size × size` images from views at `angles_degrees`.
    ///
    /// # Errors
    /// `InvalidConfig` naming `size` (below 2) or `angles_degrees` (empty or not finite).
    pub fn new(
        size: usize,
        angles_degrees: &[f64],
        filter: FbpFilter,
        device: &Device,
    ) -> Result<Self> {
        check_geometry(size, angles_degrees)?;
        let views = angles_degrees.len();
        let padded = (std::f64::consts::SQRT_2 * size as f64).ceil() as usize;
        let pad_before = padded / 2 - size / 2;
        let fft_len = 64usize.max((2 * padded).next_power_of_two());
        let kernel = filter_kernel(fft_len, filter);
        let mut matrix = vec![0f32; size * padded];
        for j in 0..size {
            for k in 0..padded {
                let lag = (k as i64 - (j + pad_before) as i64).rem_euclid(fft_len as i64);
                matrix[j * padded + k] = kernel[lag as usize] as f32;
            }
        }
        let filter_matrix = Tensor::from_data(TensorData::new(matrix, [size, padded]), device);

        let radius = (size / 2) as f64;
        let scale = std::f64::consts::PI / (2.0 * views as f64);
        let mut triplets = Vec::new();
        let last = (padded - 1) as f64;
        for (v, angle) in angles_degrees.iter().enumerate() {
            let (sin, cos) = angle.to_radians().sin_cos();
            for i in 0..size {
                for j in 0..size {
                    let (xpr, ypr) = (i as f64 - radius, j as f64 - radius);
                    if xpr * xpr + ypr * ypr > radius * radius {
                        continue;
                    }
                    let u = ypr * cos - xpr * sin + (padded / 2) as f64;
                    if !(0.0..=last).contains(&u) {
                        continue;
                    }
                    let k0 = u.floor();
                    let w = u - k0;
                    let pixel = (i * size + j) as u32;
                    let bin = v * padded + k0 as usize;
                    triplets.push((pixel, bin as u32, scale * (1.0 - w)));
                    if w > 0.0 {
                        triplets.push((pixel, (bin + 1) as u32, scale * w));
                    }
                }
            }
        }
        let backprojection =
            EllMatrix::from_triplets(size * size, views * padded, triplets, device);
        Ok(Self { size, views, padded, filter_matrix, backprojection })
    }

    /// The filtered back-projection of sinograms `[N, 1, V, S]`, as images `[N, 1, S, S]`.
    ///
    /// # Errors
    /// A shape error naming `measurement` for another shape.
    pub fn reconstruct(&self, sinogram: Tensor<4>) -> Result<Tensor<4>> {
        check_batch_shape(&sinogram, &[1, self.views, self.size], "measurement")?;
        let batch = sinogram.dims()[0];
        let filtered = sinogram
            .reshape([batch * self.views, self.size])
            .matmul(self.filter_matrix.clone())
            .reshape([batch, self.views * self.padded]);
        Ok(self.backprojection.apply(filtered).reshape([batch, 1, self.size, self.size]))
    }
}

/// The spatial kernel `h = F⁻¹ H` of length `len` (circular, real and even) of `filter`, with
/// `H = 2 Re F(f)` the ramp from the spatial kernel `f` (and the Shepp-Logan window).
fn filter_kernel(len: usize, filter: FbpFilter) -> Vec<f64> {
    let mut spatial = vec![Complex::new(0.0, 0.0); len];
    spatial[0].re = 0.25;
    for (n, value) in spatial.iter_mut().enumerate().skip(1) {
        // The distance to index 0 around the circle; odd distances carry −1/(π n)².
        let distance = n.min(len - n);
        if distance % 2 == 1 {
            value.re = -1.0 / (std::f64::consts::PI * distance as f64).powi(2);
        }
    }
    fft_in_place(&mut spatial, false);
    let mut response: Vec<Complex<f64>> =
        spatial.iter().map(|z| Complex::new(2.0 * z.re, 0.0)).collect();
    if filter == FbpFilter::SheppLogan {
        for (k, value) in response.iter_mut().enumerate().skip(1) {
            // numpy's fftfreq: k/len for k < len/2, (k − len)/len above.
            let frequency =
                if k < len.div_ceil(2) { k as f64 } else { k as f64 - len as f64 } / len as f64;
            let omega = std::f64::consts::PI * frequency;
            *value *= omega.sin() / omega;
        }
    }
    fft_in_place(&mut response, true);
    response.iter().map(|z| z.re / len as f64).collect()
}

//! The centred orthonormal DFT as dense matrix products on the device.

use burn::tensor::{Device, Tensor, TensorData};

use crate::complex;
use crate::error::{ReconError, Result};

/// The centred orthonormal DFT matrix of length `L` (symmetric), real and imaginary parts:
///
/// `F[k, n] = exp(−2πi (k − c)(n − c) / L) / √L`, `c = ⌊L/2⌋`,
///
/// which is `fftshift(fft(ifftshift(x), norm="ortho"))` written as a matrix (the shifts move
/// index `c` to 0 and back). `F` is unitary: `F⁻¹ = Fᴴ = conj(F)`.
fn centred_dft_matrix(len: usize) -> (Vec<f32>, Vec<f32>) {
    let centre = (len / 2) as i64;
    let scale = 1.0 / (len as f64).sqrt();
    let mut re = Vec::with_capacity(len * len);
    let mut im = Vec::with_capacity(len * len);
    for k in 0..len as i64 {
        for n in 0..len as i64 {
            // Reduce the phase index modulo L in integers so large sizes keep f64 accuracy.
            let phase = ((k - centre) * (n - centre)).rem_euclid(len as i64) as f64;
            let angle = -2.0 * std::f64::consts::PI * phase / len as f64;
            re.push((angle.cos() * scale) as f32);
            im.push((angle.sin() * scale) as f32);
        }
    }
    (re, im)
}

/// The DFT matrix of one axis on the device.
#[derive(Clone, Debug)]
struct AxisDft {
    len: usize,
    re: Tensor<2>,
    im: Tensor<2>,
}

/// The centred orthonormal `d`-dimensional DFT of complex images on the device, applied along
/// the trailing spatial axes of `[N, 2, *S]` tensors (channel 0 real, channel 1 imaginary):
///
/// `X = F_c x`, `(F_c x)[k] = Σ_n x[n] Π_a exp(−2πi (k_a − c_a)(n_a − c_a)/L_a) / √L_a`,
///
/// with `c_a = ⌊L_a/2⌋` (numpy's `fftshift(fftn(ifftshift(x), norm="ortho"))`, fastMRI's
/// `fft2c`). It is unitary, so the inverse is the adjoint: `F_c⁻¹ = F_cᴴ`.
#[derive(Clone, Debug)]
pub struct CenteredFft {
    axes: Vec<AxisDft>,
}

impl CenteredFft {
    /// Builds the transform for spatial shape `spatial` (`[H, W]` for images, `[D, H, W]` for
    /// volumes) on `device`.
    ///
    /// # Errors
    /// An `InvalidConfig` error naming `spatial` when it is empty or has a zero length.
    pub fn new(spatial: &[usize], device: &Device) -> Result<Self> {
        if spatial.is_empty() || spatial.contains(&0) {
            return Err(ReconError::config(
                "spatial",
                format!("needs at least one axis and no zero length, got {spatial:?}"),
            ));
        }
        let axes = spatial
            .iter()
            .map(|&len| {
                let (re, im) = centred_dft_matrix(len);
                AxisDft {
                    len,
                    re: Tensor::from_data(TensorData::new(re, [len, len]), device),
                    im: Tensor::from_data(TensorData::new(im, [len, len]), device),
                }
            })
            .collect();
        Ok(Self { axes })
    }

    /// The spatial shape the transform was built for.
    pub fn spatial_shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.len).collect()
    }

    /// `F_c x` of complex images `x` `[N, 2, *S]`.
    ///
    /// # Errors
    /// A shape error unless `x` is `[N, 2, *S]` with `S` the transform's spatial shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>> {
        self.transform(x, false)
    }

    /// `F_cᴴ X = F_c⁻¹ X` of complex k-space `X` `[N, 2, *S]`.
    ///
    /// # Errors
    /// As [`CenteredFft::forward`].
    pub fn inverse<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>> {
        self.transform(x, true)
    }

    fn transform<const D: usize>(&self, x: Tensor<D>, inverse: bool) -> Result<Tensor<D>> {
        complex::check_complex(&x, &self.spatial_shape(), "complex image")?;
        let (mut re, mut im) = complex::split(x);
        for (offset, axis) in self.axes.iter().enumerate() {
            let dim = 2 + offset;
            let (r, i) = apply_along(re, im, axis, dim, inverse);
            re = r;
            im = i;
        }
        Ok(complex::join(re, im))
    }
}

/// Multiplies the complex signal `re + i·im` by the axis's DFT matrix along `dim`
/// (`conj(F)` for the inverse). `F` is symmetric, so `x Fᵀ = x F`.
fn apply_along<const D: usize>(
    re: Tensor<D>,
    im: Tensor<D>,
    axis: &AxisDft,
    dim: usize,
    inverse: bool,
) -> (Tensor<D>, Tensor<D>) {
    let last = D - 1;
    let flat = |t: Tensor<D>| {
        let moved = t.swap_dims(dim, last);
        let dims = moved.dims();
        (moved.reshape([-1, axis.len as i32]), dims)
    };
    let (re2, dims) = flat(re);
    let (im2, _) = flat(im);
    let f_im = if inverse { axis.im.clone().neg() } else { axis.im.clone() };
    let out_re = re2.clone().matmul(axis.re.clone()).sub(im2.clone().matmul(f_im.clone()));
    let out_im = re2.matmul(f_im).add(im2.matmul(axis.re.clone()));
    let back = |t: Tensor<2>| t.reshape(dims).swap_dims(dim, last);
    (back(out_re), back(out_im))
}

//! Fixtures shared by the medgen-recon test suites: the peers' reference values and oracle
//! priors.

#![allow(dead_code, unreachable_pub)]

use burn::tensor::{Device, Tensor, TensorData};
use medgen_core::{Condition, CoreError};
use medgen_diffusion::NoiseSchedule;
use serde::Deserialize;

/// One scikit-image case of `ct.json`.
#[derive(Debug, Deserialize)]
pub struct CtCase {
    pub size: usize,
    pub theta_degrees: Vec<f64>,
    pub image: Vec<f32>,
    /// `[views, detectors]`.
    pub sinogram: Vec<f32>,
    pub fbp_ramp: Vec<f32>,
    pub fbp_shepp_logan: Vec<f32>,
}

#[derive(Debug, Deserialize)]
pub struct CtFixture {
    pub cases: Vec<CtCase>,
}

/// One numpy `fft2c` case of `mri.json`.
#[derive(Debug, Deserialize)]
pub struct FftCase {
    pub shape: Vec<usize>,
    pub image_real: Vec<f64>,
    pub image_imag: Vec<f64>,
    pub kspace_real: Vec<f64>,
    pub kspace_imag: Vec<f64>,
}

/// fastMRI's deterministic mask quantities.
#[derive(Debug, Deserialize)]
pub struct MaskCase {
    pub num_cols: usize,
    pub center_fraction: f64,
    pub acceleration: f64,
    pub center_start: usize,
    pub center_len: usize,
    pub equispaced_offset0: Vec<u8>,
}

#[derive(Debug, Deserialize)]
pub struct MriFixture {
    pub fft2c: Vec<FftCase>,
    pub masks: Vec<MaskCase>,
}

fn read(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn ct_fixture() -> CtFixture {
    serde_json::from_str(&read("ct.json")).unwrap()
}

pub fn mri_fixture() -> MriFixture {
    serde_json::from_str(&read("mri.json")).unwrap()
}

/// A `[1, 1, H, W]` image from row-major values.
pub fn image(values: &[f32], height: usize, width: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, 1, height, width]), device)
}

/// A complex `[1, 2, H, W]` image from real and imaginary parts.
pub fn complex_image(re: &[f64], im: &[f64], shape: [usize; 2], device: &Device) -> Tensor<4> {
    let mut values: Vec<f32> = re.iter().map(|&v| v as f32).collect();
    values.extend(im.iter().map(|&v| v as f32));
    Tensor::from_data(TensorData::new(values, [1, 2, shape[0], shape[1]]), device)
}

/// The real inner product `⟨a, b⟩ = Σ a_i b_i` in f64.
pub fn inner<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f64 {
    let a: Vec<f64> = medgen_testing::host(a);
    let b: Vec<f64> = medgen_testing::host(b);
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// An oracle ε-prediction network that knows the clean image `x0`:
/// `ε̂ = (x_t − √ᾱ_t x₀) / √(1−ᾱ_t)`, so its `x̂₀` is `x0` exactly. `x0` is moved to the
/// input's device context (plain or autodiff).
pub fn oracle(
    x0: Tensor<4>,
    schedule: NoiseSchedule,
) -> impl Fn(Tensor<4>, Tensor<1>, &Condition<4>) -> Result<Tensor<4>, CoreError> {
    move |x_t: Tensor<4>, t: Tensor<1>, _c: &Condition<4>| {
        let step = t.narrow(0, 0, 1).into_scalar::<f32>().round() as usize;
        let alpha = schedule.alphas_cumprod()[step];
        let x0 = if x_t.is_autodiff() { x0.clone().autodiff() } else { x0.clone() };
        Ok(x_t.sub(x0.mul_scalar(alpha.sqrt())).div_scalar((1.0 - alpha).sqrt()))
    }
}

/// A Shepp-Logan-like test image: two ellipses inside the inscribed circle, `[1, 1, S, S]`.
pub fn disc_image(size: usize, device: &Device) -> Tensor<4> {
    let c = (size / 2) as f64;
    let r = size as f64 / 2.0;
    let mut values = vec![0f32; size * size];
    for i in 0..size {
        for j in 0..size {
            let (y, x) = ((i as f64 - c) / r, (j as f64 - c) / r);
            let mut v = 0.0;
            if (x / 0.7).powi(2) + (y / 0.85).powi(2) <= 1.0 {
                v += 0.8;
            }
            if ((x - 0.2) / 0.2).powi(2) + ((y + 0.1) / 0.3).powi(2) <= 1.0 {
                v -= 0.5;
            }
            values[i * size + j] = v as f32;
        }
    }
    image(&values, size, size, device)
}

//! Spherical linear interpolation between latents (e.g. between two DDIM-inverted images).

use burn::tensor::Tensor;

use crate::error::{DiffusionError, Result};

/// Above this `|cos θ|` the two latents are treated as parallel and interpolated linearly.
const PARALLEL_COSINE: f64 = 0.9995;

/// Per-item spherical interpolation of `a` and `b` (`[N, ...]`, same shape, any rank):
///
/// `slerp(a, b; s) = sin((1−s)θ)/sin θ · a + sin(sθ)/sin θ · b`,
/// `cos θ = ⟨a, b⟩ / (‖a‖ ‖b‖)` over each item,
///
/// falling back to `(1−s) a + s b` where `|cos θ| > 0.9995`. Gaussian latents keep their norm
/// along the arc, unlike with linear interpolation. Runs on the device.
///
/// Fails with a shape error when `a` and `b` differ or are empty, and with `InvalidConfig` for
/// a non-finite `s`.
pub fn slerp<const D: usize>(a: Tensor<D>, b: Tensor<D>, s: f64) -> Result<Tensor<D>> {
    let dims = a.dims();
    medgen_core::check::ensure_non_empty(&dims, "slerp input")?;
    medgen_core::check::ensure_shape(&b.dims(), &dims, "slerp end point")?;
    if !s.is_finite() {
        return Err(DiffusionError::config("slerp fraction", format!("must be finite, got {s}")));
    }
    let items = dims[0];
    let size = dims[1..].iter().product();
    let (fa, fb): (Tensor<2>, Tensor<2>) = (a.reshape([items, size]), b.reshape([items, size]));
    let norm = |x: &Tensor<2>| x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-30);
    let cosine =
        fa.clone().mul(fb.clone()).sum_dim(1).div(norm(&fa).mul(norm(&fb))).clamp(-1.0, 1.0);
    let parallel = cosine.clone().abs().greater_elem(PARALLEL_COSINE);
    let theta = cosine.acos();
    let sin_theta = theta.clone().sin().clamp_min(1e-12);
    let weight_a = theta
        .clone()
        .mul_scalar(1.0 - s)
        .sin()
        .div(sin_theta.clone())
        .mask_fill(parallel.clone(), 1.0 - s);
    let weight_b = theta.mul_scalar(s).sin().div(sin_theta).mask_fill(parallel, s);
    Ok(fa.mul(weight_a).add(fb.mul(weight_b)).reshape(dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use medgen_testing::test_device;

    #[test]
    fn slerp_follows_the_great_circle() {
        let device = test_device();
        // Item 0: orthogonal unit vectors; item 1: parallel vectors (linear fallback).
        let a = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 2.0, 0.0], [2, 1, 1, 2]),
            &device,
        );
        let b = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 4.0, 0.0], [2, 1, 1, 2]),
            &device,
        );
        let got = slerp(a.clone(), b.clone(), 1.0 / 3.0)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let angle = std::f32::consts::FRAC_PI_2 / 3.0;
        assert!((got[0] - angle.cos()).abs() < 1e-5);
        assert!((got[1] - angle.sin()).abs() < 1e-5);
        assert!((got[2] - (2.0 + 2.0 / 3.0)).abs() < 1e-5);
        let ends = slerp(a.clone(), b.clone(), 0.0).unwrap();
        assert!(ends.sub(a.clone()).abs().max().into_scalar::<f32>() < 1e-6);
        let wrong = Tensor::<4>::zeros([1, 1, 1, 2], &device);
        assert!(slerp(a.clone(), wrong, 0.5).is_err());
        assert!(slerp(a, b, f64::NAN).is_err());
    }
}

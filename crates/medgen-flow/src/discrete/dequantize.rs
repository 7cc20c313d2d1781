//! Uniform dequantisation of 8-bit images and bits per dimension.

use burn::tensor::{Tensor, TensorData};
use medgen_core::CoreError;
use medgen_core::check::ensure_finite;
use rand::{Rng, RngExt};

use crate::error::Result;

/// The number of discrete levels of 8-bit data.
pub const LEVELS: f64 = 256.0;

/// Uniform dequantisation of integer-valued data `x ∈ {0, …, 255}` (any real values in
/// `[0, 256)` are accepted) into the flow's input space:
///
/// ```text
/// y = (x + u) / 256 − ½,     u ~ U[0, 1)ⁿ (drawn on the host from `rng`),   y ∈ [−½, ½)
/// ```
///
/// Shapes: any `[N, …]` in and out. The map `x + u ↦ y` has Jacobian `256^{−D}` per item, so
/// `log P(x) ≥ E_u[log p(y)] − D ln 256` for `D` values per item
/// ([`bits_per_dim`] applies it).
///
/// # Errors
/// Empty or non-finite input, or values outside `[0, 256)` (reads the extremes to the host).
pub fn dequantize<const D: usize, R: Rng + ?Sized>(x: Tensor<D>, rng: &mut R) -> Result<Tensor<D>> {
    let dims = x.dims();
    medgen_core::check::ensure_non_empty(&dims, "dequantisation input")?;
    ensure_finite(&x, "dequantisation input")?;
    let low = x.clone().min().into_scalar::<f32>();
    let high = x.clone().max().into_scalar::<f32>();
    if low < 0.0 || f64::from(high) >= LEVELS {
        return Err(CoreError::config(
            "dequantisation input",
            format!("values must lie in [0, 256), got [{low}, {high}]"),
        )
        .into());
    }
    let count: usize = dims.iter().product();
    let noise: Vec<f32> = (0..count).map(|_| rng.random::<f32>()).collect();
    let u = Tensor::<D>::from_data(TensorData::new(noise, dims), &x.device());
    Ok(x.add(u).div_scalar(LEVELS).sub_scalar(0.5))
}

/// Bits per dimension of the discrete data from the model's log-density of its dequantised
/// version `y` ([`dequantize`]), with `D` values per item:
///
/// ```text
/// bpd = −(log p(y) − D ln 256) / (D ln 2)
/// ```
///
/// Shapes: `[N]` → `[N]`. Fails with [`CoreError::InvalidConfig`] naming `dims_per_item`
/// for `D = 0` (the quotient would be NaN or infinite).
pub fn bits_per_dim(log_prob_dequantized: Tensor<1>, dims_per_item: usize) -> Result<Tensor<1>> {
    if dims_per_item == 0 {
        return Err(CoreError::config("dims_per_item", "must be positive").into());
    }
    let d = dims_per_item as f64;
    Ok(log_prob_dequantized
        .sub_scalar(d * LEVELS.ln())
        .neg()
        .div_scalar(d * std::f64::consts::LN_2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::host;
    use medgen_core::seeded_rng;
    use medgen_testing::test_device;

    #[test]
    fn dequantised_values_stay_in_their_cell() {
        let device = test_device();
        let x = Tensor::<2>::from_floats([[0.0, 255.0, 17.0]], &device);
        let y = host(dequantize(x, &mut seeded_rng(1)).unwrap());
        for (v, level) in y.iter().zip([0.0, 255.0, 17.0]) {
            let cell = (v + 0.5) * 256.0 - level;
            assert!((0.0..1.0).contains(&cell), "{v} outside cell {level}");
        }
        let bad = Tensor::<2>::from_floats([[-1.0, 3.0]], &device);
        assert!(dequantize(bad, &mut seeded_rng(1)).is_err());
        // bpd of log p = 0 is ln 256 / ln 2 = 8 bits.
        let bpd = host(bits_per_dim(Tensor::zeros([1], &device), 3).unwrap());
        assert!((bpd[0] - 8.0).abs() < 1e-6);
    }
}

//! The standard normal base density `p₀ = N(0, I)` of continuous flows.

use burn::tensor::Tensor;

use super::vjp::per_item_sum;

/// `log N(z; 0, I) = −½ ‖z‖² − (M/2) ln 2π` per item, for `z: [N, ...]` with `M` elements per
/// item; returns `[N]`.
pub fn standard_normal_log_prob<const D: usize>(z: Tensor<D>) -> Tensor<1> {
    let m = z.dims().iter().skip(1).product::<usize>() as f64;
    per_item_sum(z.square())
        .mul_scalar(-0.5)
        .sub_scalar(0.5 * m * (2.0 * std::f64::consts::PI).ln())
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn matches_closed_form() {
        let z = Tensor::<2>::from_floats([[0.0, 0.0], [1.0, -2.0]], &test_device());
        let got = standard_normal_log_prob(z).try_into_vec_as::<f32>().unwrap();
        let c = -(2.0 * std::f32::consts::PI).ln();
        assert!((got[0] - c).abs() < 1e-5);
        assert!((got[1] - (c - 2.5)).abs() < 1e-5);
    }
}

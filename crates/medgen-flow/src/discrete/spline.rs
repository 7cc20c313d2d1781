//! The monotonic rational-quadratic spline of neural spline flows (Durkan et al. 2019).

use burn::tensor::Tensor;
use burn::tensor::activation::{softmax, softplus};
use medgen_core::CoreError;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The fixed hyper-parameters of a rational-quadratic spline on `[−B, B]` with identity tails.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RqSpline {
    /// Number of bins `K ≥ 2`.
    pub bins: usize,
    /// Tail bound `B > 0`: the spline maps `[−B, B]` onto itself, identity outside.
    pub tail_bound: f64,
    /// Minimal bin width, as a fraction of `2B` (`K · min < 1`).
    pub min_bin_width: f64,
    /// Minimal bin height, as a fraction of `2B` (`K · min < 1`).
    pub min_bin_height: f64,
    /// Minimal derivative at the inner knots (`> 0`).
    pub min_derivative: f64,
}

impl Default for RqSpline {
    fn default() -> Self {
        Self {
            bins: 8,
            tail_bound: 3.0,
            min_bin_width: 1e-3,
            min_bin_height: 1e-3,
            min_derivative: 1e-3,
        }
    }
}

/// Unconstrained spline parameters for `M` scalars: widths and heights `[M, K]`, inner-knot
/// derivatives `[M, K − 1]`.
#[derive(Clone, Debug)]
pub struct RqSplineParams {
    /// Unnormalised bin widths `ŵ`.
    pub widths: Tensor<2>,
    /// Unnormalised bin heights `ĥ`.
    pub heights: Tensor<2>,
    /// Unconstrained inner derivatives `d̂`.
    pub derivatives: Tensor<2>,
}

/// Knot positions `[M, K + 1]` from `−B` to `B` with bin sizes
/// `2B · (min + (1 − K·min) · softmax(raw))`.
fn knots(raw: Tensor<2>, min: f64, bound: f64) -> Tensor<2> {
    let [m, k] = raw.dims();
    let device = raw.device();
    let sizes = softmax(raw, 1).mul_scalar(1.0 - k as f64 * min).add_scalar(min);
    let inner = sizes.narrow(1, 0, k - 1).cumsum(1).mul_scalar(2.0 * bound).sub_scalar(bound);
    Tensor::cat(
        vec![Tensor::full([m, 1], -bound, &device), inner, Tensor::full([m, 1], bound, &device)],
        1,
    )
}

impl RqSpline {
    /// Checks every field; returns a config error naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| Err(CoreError::config(name, reason).into());
        if self.bins < 2 {
            return bad("bins", format!("must be at least 2, got {}", self.bins));
        }
        if !(self.tail_bound.is_finite() && self.tail_bound > 0.0) {
            return bad("tail_bound", format!("must be positive, got {}", self.tail_bound));
        }
        let k = self.bins as f64;
        for (name, value) in
            [("min_bin_width", self.min_bin_width), ("min_bin_height", self.min_bin_height)]
        {
            if !(value.is_finite() && value >= 0.0 && value * k < 1.0) {
                return bad(name, format!("must lie in [0, 1/K), got {value}"));
            }
        }
        if !(self.min_derivative.is_finite() && self.min_derivative > 0.0) {
            return bad(
                "min_derivative",
                format!(
                    "must be positive (zero would not be invertible), got {}",
                    self.min_derivative
                ),
            );
        }
        Ok(())
    }

    /// Unconstrained parameters per transformed scalar: `3K − 1`.
    pub fn params_per_dim(&self) -> usize {
        3 * self.bins - 1
    }

    /// Splits a conditioner output `[M, 3K − 1]` into widths, heights and derivatives.
    pub fn split(&self, raw: Tensor<2>) -> RqSplineParams {
        let k = self.bins;
        RqSplineParams {
            widths: raw.clone().narrow(1, 0, k),
            heights: raw.clone().narrow(1, k, k),
            derivatives: raw.narrow(1, 2 * k, k - 1),
        }
    }

    /// Applies the spline (or its inverse) to `x` `[M, 1]`, one spline per row, returning the
    /// result `[M, 1]` and `log|dy/dx|` (or `log|dx/dy|`) `[M, 1]`.
    ///
    /// In bin `k` with knots `(x_k, y_k)`, sizes `w_k, h_k`, slope `s_k = h_k / w_k`, knot
    /// derivatives `δ_k, δ_{k+1}` (1 at `±B`) and `ξ = (x − x_k) / w_k`:
    ///
    /// ```text
    /// y = y_k + h_k [s_k ξ² + δ_k ξ(1−ξ)] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]
    /// dy/dx = s_k² [δ_{k+1} ξ² + 2 s_k ξ(1−ξ) + δ_k (1−ξ)²] / [s_k + (δ_{k+1} + δ_k − 2 s_k) ξ(1−ξ)]²
    /// ```
    ///
    /// The inverse solves the quadratic `a ξ² + b ξ + c = 0` for `ξ ∈ [0, 1]` with the stable
    /// root `ξ = 2c / (−b − √(b² − 4ac))`. Outside `[−B, B]` the map is the identity.
    pub fn apply(
        &self,
        x: Tensor<2>,
        params: RqSplineParams,
        inverse: bool,
    ) -> (Tensor<2>, Tensor<2>) {
        let k = self.bins;
        let bound = self.tail_bound;
        let device = x.device();
        let [m, _] = params.widths.dims();
        let knots_x = knots(params.widths, self.min_bin_width, bound);
        let knots_y = knots(params.heights, self.min_bin_height, bound);
        let inner = softplus(params.derivatives, 1.0).add_scalar(self.min_derivative);
        let ones = Tensor::<2>::ones([m, 1], &device);
        let derivs = Tensor::cat(vec![ones.clone(), inner, ones], 1);

        let inside =
            x.clone().greater_equal_elem(-bound).bool_and(x.clone().lower_equal_elem(bound));
        let v = x.clone().clamp(-bound, bound);
        // One-hot bin of v among the knots of the searched axis.
        let searched = if inverse { &knots_y } else { &knots_x };
        let ge = v.clone().expand([m, k]).greater_equal(searched.clone().narrow(1, 0, k)).float();
        let ge_next =
            Tensor::cat(vec![ge.clone().narrow(1, 1, k - 1), Tensor::zeros([m, 1], &device)], 1);
        let onehot = ge.sub(ge_next);
        let pick = |t: Tensor<2>| onehot.clone().mul(t).sum_dim(1);
        let diff = |t: &Tensor<2>| t.clone().narrow(1, 1, k).sub(t.clone().narrow(1, 0, k));
        let xk = pick(knots_x.clone().narrow(1, 0, k));
        let wk = pick(diff(&knots_x));
        let yk = pick(knots_y.clone().narrow(1, 0, k));
        let hk = pick(diff(&knots_y));
        let dk = pick(derivs.clone().narrow(1, 0, k));
        let dk1 = pick(derivs.narrow(1, 1, k));
        let sk = hk.clone().div(wk.clone());
        let curvature = dk1.clone().add(dk.clone()).sub(sk.clone().mul_scalar(2.0));

        let xi = if inverse {
            let dy = v.sub(yk.clone());
            let a =
                dy.clone().mul(curvature.clone()).add(hk.clone().mul(sk.clone().sub(dk.clone())));
            let b = hk.clone().mul(dk.clone()).sub(dy.clone().mul(curvature.clone()));
            let c = sk.clone().mul(dy).neg();
            let disc = b.clone().square().sub(a.mul(c.clone()).mul_scalar(4.0)).clamp_min(0.0);
            c.mul_scalar(2.0).div(b.neg().sub(disc.sqrt()))
        } else {
            v.sub(xk.clone()).div(wk.clone())
        }
        .clamp(0.0, 1.0);
        let one_minus = xi.clone().neg().add_scalar(1.0);
        let xi_1m = xi.clone().mul(one_minus.clone());
        let denom = sk.clone().add(curvature.mul(xi_1m.clone()));
        let dnum = sk.clone().square().mul(
            dk1.mul(xi.clone().square())
                .add(sk.clone().mul(xi_1m.clone()).mul_scalar(2.0))
                .add(dk.clone().mul(one_minus.square())),
        );
        let log_det = dnum.log().sub(denom.clone().log().mul_scalar(2.0));
        let (out, log_det) = if inverse {
            (xk.add(xi.mul(wk)), log_det.neg())
        } else {
            let num = hk.mul(sk.mul(xi.clone().square()).add(dk.mul(xi_1m)));
            (yk.add(num.div(denom)), log_det)
        };
        (
            x.mask_where(inside.clone(), out),
            Tensor::zeros([m, 1], &device).mask_where(inside, log_det),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, host};
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn derivative_and_inverse_match_autodiff_with_uneven_bins() {
        let device = autodiff_device();
        device.seed(11);
        let spline = RqSpline { bins: 6, tail_bound: 2.0, ..RqSpline::default() };
        let m = 64;
        let raw = Tensor::<2>::random(
            [m, spline.params_per_dim()],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let values: Vec<f32> = (0..m).map(|i| -2.6 + 5.2 * i as f32 / (m - 1) as f32).collect();
        let x = Tensor::<2>::from_data(TensorData::new(values, [m, 1]), &device).require_grad();
        let (y, log_det) = spline.apply(x.clone(), spline.split(raw.clone()), false);
        let grads = y.clone().sum().backward();
        let slope = host(x.grad(&grads).unwrap());
        for (s, l) in slope.iter().zip(host(log_det.clone())) {
            assert!((s.ln() - l).abs() < 1e-4, "log dy/dx {} vs {l}", s.ln());
        }
        let (back, inv_log_det) = spline.apply(y.detach(), spline.split(raw), true);
        // f32 rounding of y (≈ 1e-7 · |y|) is amplified by 1/slope in flat bins: the round
        // trip is exact to 1e-5 relative to that conditioning.
        let xs = host(x.detach());
        for ((a, b), s) in xs.iter().zip(host(back)).zip(&slope) {
            let tol = 1e-5 * s.recip().max(1.0);
            assert!((a - b).abs() < tol, "{a} vs {b} (slope {s})");
        }
        for (a, b) in host(log_det).iter().zip(host(inv_log_det)) {
            assert!((a + b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}

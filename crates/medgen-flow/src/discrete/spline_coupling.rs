//! Rational-quadratic spline coupling on vectors (neural spline flows).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::layer::{FlowLayer, ensure_event_shape, sum_per_item};
use super::mask::VectorMask;
use super::spline::RqSpline;
use crate::error::Result;
use medgen_nn::{Mlp, MlpConfig};

/// Configuration of a [`SplineCoupling`] on `[N, d]` vectors.
#[derive(Config, Debug)]
pub struct SplineCouplingConfig {
    /// Features `d ≥ 2`.
    pub dim: usize,
    /// Hidden width of the conditioner MLP.
    pub hidden: usize,
    /// Hidden layers of the conditioner MLP.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// Which features condition the others.
    #[config(default = "VectorMask::Half")]
    pub mask: VectorMask,
    /// Swap the conditioning and transformed features.
    #[config(default = false)]
    pub flip: bool,
    /// Bins `K ≥ 2`.
    #[config(default = 8)]
    pub bins: usize,
    /// Tail bound `B`: the spline acts on `[−B, B]`, identity outside.
    #[config(default = 3.0)]
    pub tail_bound: f64,
    /// Minimal bin width (fraction of `2B`).
    #[config(default = 1e-3)]
    pub min_bin_width: f64,
    /// Minimal bin height (fraction of `2B`).
    #[config(default = 1e-3)]
    pub min_bin_height: f64,
    /// Minimal inner-knot derivative.
    #[config(default = 1e-3)]
    pub min_derivative: f64,
}

impl SplineCouplingConfig {
    /// The spline hyper-parameters of this configuration.
    pub fn spline(&self) -> RqSpline {
        RqSpline {
            bins: self.bins,
            tail_bound: self.tail_bound,
            min_bin_width: self.min_bin_width,
            min_bin_height: self.min_bin_height,
            min_derivative: self.min_derivative,
        }
    }

    /// Builds the layer; fails on `d < 2`, a zero hidden width or invalid spline settings.
    pub fn init(&self, device: &Device) -> Result<SplineCoupling> {
        let spline = self.spline();
        spline.validate()?;
        let mask = self.mask.build(self.dim, self.flip, device)?;
        let net = MlpConfig::uniform(
            self.dim,
            self.hidden,
            self.hidden_layers,
            self.dim * spline.params_per_dim(),
        )
        .init(device)?;
        Ok(SplineCoupling {
            net,
            mask,
            bins: spline.bins,
            tail_bound: spline.tail_bound,
            min_bin_width: spline.min_bin_width,
            min_bin_height: spline.min_bin_height,
            min_derivative: spline.min_derivative,
        })
    }
}

/// Coupling with an elementwise rational-quadratic spline ([`RqSpline`]): the conditioner
/// `MLP(m ⊙ x)` gives `3K − 1` spline parameters per feature, and
///
/// ```text
/// y = m ⊙ x + (1 − m) ⊙ RQS_θ(x),   log|det J| = Σ_i (1 − m_i) log|RQS_θ'(x_i)|
/// ```
///
/// Shapes: `[N, d]`; log-determinants `[N]`.
#[derive(Module, Debug)]
pub struct SplineCoupling {
    /// The conditioner `d → d (3K − 1)`.
    pub net: Mlp,
    /// The mask `[1, d]` (1 = conditioning; fixed).
    pub mask: Tensor<2>,
    /// Bins `K`.
    pub bins: usize,
    /// Tail bound `B`.
    pub tail_bound: f64,
    /// Minimal bin width.
    pub min_bin_width: f64,
    /// Minimal bin height.
    pub min_bin_height: f64,
    /// Minimal derivative.
    pub min_derivative: f64,
}

impl SplineCoupling {
    /// The spline hyper-parameters.
    pub fn spline(&self) -> RqSpline {
        RqSpline {
            bins: self.bins,
            tail_bound: self.tail_bound,
            min_bin_width: self.min_bin_width,
            min_bin_height: self.min_bin_height,
            min_derivative: self.min_derivative,
        }
    }

    fn apply(&self, x: Tensor<2>, inverse: bool) -> Result<(Tensor<2>, Tensor<1>)> {
        let d = self.mask.dims()[1];
        ensure_event_shape(&x, &[d], "spline coupling input")?;
        let n = x.dims()[0];
        let spline = self.spline();
        let mask = self.mask.clone();
        let raw =
            self.net.forward(x.clone().mul(mask.clone())).reshape([n * d, spline.params_per_dim()]);
        let (y, log_det) = spline.apply(x.clone().reshape([n * d, 1]), spline.split(raw), inverse);
        let free = mask.clone().neg().add_scalar(1.0);
        let y = y.reshape([n, d]).mul(free.clone()).add(x.mul(mask));
        Ok((y, sum_per_item(log_det.reshape([n, d]).mul(free))))
    }
}

impl FlowLayer<2> for SplineCoupling {
    fn forward(&self, x: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.apply(x, false)
    }

    fn inverse(&self, y: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        self.apply(y, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, host, test_input};

    #[test]
    fn spline_coupling_is_exact_inside_and_outside_the_tails() {
        let device = autodiff_device();
        let layer = SplineCouplingConfig::new(4, 8)
            .with_bins(5)
            .with_tail_bound(1.5)
            .init(&device)
            .unwrap();
        // test_input spans about [−2, 2]: some values fall in the identity tails.
        check_layer(&layer, test_input([3, 4], &device), 1e-4);
    }

    #[test]
    fn spline_is_monotone_and_identity_outside() {
        let device = autodiff_device();
        // Half mask on d = 2: feature 0 conditions, feature 1 is transformed.
        let layer = SplineCouplingConfig::new(2, 8).init(&device).unwrap();
        let grid: Vec<f32> = (0..81).flat_map(|i| [0.3, -4.0 + 0.1 * i as f32]).collect();
        let x = Tensor::<2>::from_data(burn::tensor::TensorData::new(grid, [81, 2]), &device);
        let y = host(layer.forward(x).unwrap().0);
        let first: Vec<f64> = (0..81).map(|i| y[2 * i]).collect();
        let second: Vec<f64> = (0..81).map(|i| y[2 * i + 1]).collect();
        assert!(first.iter().all(|v| (v - 0.3).abs() < 1e-6));
        assert!(second.windows(2).all(|w| w[1] > w[0]));
        for (i, v) in second.iter().enumerate() {
            let x = -4.0 + 0.1 * i as f64;
            if x.abs() > 3.0 + 1e-4 {
                assert!((v - x).abs() < 1e-5, "tail at {x}: {v}");
            }
        }
    }

    #[test]
    fn invalid_spline_settings_are_errors() {
        let device = autodiff_device();
        let base = SplineCouplingConfig::new(2, 8);
        assert!(base.clone().with_bins(1).init(&device).is_err());
        assert!(base.clone().with_tail_bound(0.0).init(&device).is_err());
        assert!(base.clone().with_min_derivative(0.0).init(&device).is_err());
        assert!(base.with_min_bin_width(0.2).init(&device).is_err());
    }
}

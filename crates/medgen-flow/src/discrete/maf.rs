//! Masked autoregressive flow (Papamakarios et al. 2017).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::affine_coupling::validate_clamp;
use super::layer::{FlowLayer, ensure_event_shape, sum_per_item};
use super::made::{Made, MadeConfig};
use crate::error::Result;

/// Configuration of a [`MaskedAutoregressive`] layer.
#[derive(Config, Debug)]
pub struct MaskedAutoregressiveConfig {
    /// Features `d ≥ 2`.
    pub dim: usize,
    /// Hidden width of the MADE (`≥ d − 1`).
    pub hidden: usize,
    /// Hidden layers of the MADE.
    #[config(default = 2)]
    pub hidden_layers: usize,
    /// Autoregressive order `d, …, 1` instead of `1, …, d`.
    #[config(default = false)]
    pub reverse_order: bool,
    /// Soft clamp `c > 0` of the log-scale `α = c · tanh(α̂ / c)`.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
}

/// One MAF layer, an affine autoregressive map from data to noise:
///
/// ```text
/// [μ, α̂] = MADE(x),  α = c·tanh(α̂ / c)      (μ_i, α_i depend on x_{<i} only)
/// forward:  z_i = (x_i − μ_i) · exp(−α_i)      log|det J| = −Σ α_i   (one pass)
/// inverse:  x_i = z_i · exp(α_i) + μ_i         sequential: d passes of the MADE
/// ```
///
/// Density evaluation is parallel; sampling costs `d` network evaluations. Shapes: `[N, d]`;
/// log-determinants `[N]`.
#[derive(Module, Debug)]
pub struct MaskedAutoregressive {
    /// The MADE producing `[μ, α̂]` (`d → 2d`, first `d` columns `μ`).
    pub made: Made,
    /// The soft clamp `c`.
    pub scale_clamp: f64,
}

impl MaskedAutoregressiveConfig {
    /// Builds the layer; fails on `d < 2`, a too small hidden width or a bad clamp.
    pub fn init(&self, device: &Device) -> Result<MaskedAutoregressive> {
        validate_clamp(self.scale_clamp)?;
        let made = MadeConfig::new(self.dim, self.hidden)
            .with_hidden_layers(self.hidden_layers)
            .with_outputs_per_dim(2)
            .with_reverse_order(self.reverse_order)
            .init(device)?;
        Ok(MaskedAutoregressive { made, scale_clamp: self.scale_clamp })
    }
}

impl MaskedAutoregressive {
    /// `(μ, α)` for the conditioning input `x`, each `[N, d]`.
    fn shift_and_log_scale(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [n, d] = x.dims();
        // Output blocks are feature-major: column 2i is μ_i, column 2i + 1 is α̂_i.
        let out = self.made.forward(x).reshape([n, d, 2]);
        let mu = out.clone().narrow(2, 0, 1).reshape([n, d]);
        let c = self.scale_clamp;
        let alpha = out.narrow(2, 1, 1).reshape([n, d]).div_scalar(c).tanh().mul_scalar(c);
        (mu, alpha)
    }
}

impl FlowLayer<2> for MaskedAutoregressive {
    fn forward(&self, x: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        ensure_event_shape(&x, &[self.made.dim()], "MAF input")?;
        let (mu, alpha) = self.shift_and_log_scale(x.clone());
        let z = x.sub(mu).mul(alpha.clone().neg().exp());
        Ok((z, sum_per_item(alpha).neg()))
    }

    fn inverse(&self, z: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        let d = self.made.dim();
        ensure_event_shape(&z, &[d], "MAF inverse input")?;
        // After pass k every feature of degree ≤ k + 1 is exact; d passes fix all of them,
        // and the last pass's α is evaluated at the exact x.
        let mut x = z.zeros_like();
        let mut alpha = z.zeros_like();
        for _ in 0..d {
            let (mu, a) = self.shift_and_log_scale(x);
            x = z.clone().mul(a.clone().exp()).add(mu);
            alpha = a;
        }
        Ok((x, sum_per_item(alpha)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, jacobians, test_input};

    #[test]
    fn maf_is_exact_and_autoregressive() {
        let device = autodiff_device();
        for reverse in [false, true] {
            let layer = MaskedAutoregressiveConfig::new(4, 12)
                .with_reverse_order(reverse)
                .init(&device)
                .unwrap();
            let x = test_input([3, 4], &device);
            check_layer(&layer, x.clone(), 1e-4);
            // z_i depends on x_j only for j earlier in the order: a triangular Jacobian.
            let jac = jacobians(|h| layer.forward(h).unwrap().0, &x);
            for i in 0..4 {
                for j in 0..4 {
                    let later = if reverse { j < i } else { j > i };
                    if later {
                        assert_eq!(jac[0][i * 4 + j], 0.0, "dz_{i}/dx_{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn too_small_made_is_an_error() {
        let device = autodiff_device();
        assert!(MaskedAutoregressiveConfig::new(4, 2).init(&device).is_err());
        assert!(MaskedAutoregressiveConfig::new(1, 8).init(&device).is_err());
    }
}

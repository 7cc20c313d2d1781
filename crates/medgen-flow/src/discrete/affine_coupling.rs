//! Affine coupling on vectors (RealNVP, Dinh et al. 2017), and the coupling formula shared
//! with the image variant.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use super::layer::{FlowLayer, ensure_event_shape, sum_per_item};
use super::mask::VectorMask;
use crate::error::Result;
use medgen_nn::{Mlp, MlpConfig};

/// Configuration of an [`AffineCoupling`] on `[N, d]` vectors.
#[derive(Config, Debug)]
pub struct AffineCouplingConfig {
    /// Feature count `d ≥ 2`.
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
    /// Soft clamp `c > 0` of the log-scale: `s = c · tanh(ŝ / c) ∈ (−c, c)`.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
}

/// Checks a soft-clamp bound `c` (finite, positive).
pub(crate) fn validate_clamp(c: f64) -> Result<()> {
    if c.is_finite() && c > 0.0 {
        Ok(())
    } else {
        Err(CoreError::config("scale_clamp", format!("must be positive and finite, got {c}"))
            .into())
    }
}

/// The masked affine map of a coupling layer, on any rank `D` (axis 1 = features/channels).
///
/// From the conditioner output `o = [t̂, ŝ]` (split in halves along axis 1) and the mask `m`
/// (1 = conditioning):
///
/// ```text
/// s = (1 − m) ⊙ c·tanh(ŝ / c),   t = (1 − m) ⊙ t̂
/// forward:  y = x ⊙ exp(s) + t          log|det J| = Σ s
/// inverse:  x = (y − t) ⊙ exp(−s)       log|det J⁻¹| = −Σ s
/// ```
///
/// `m ⊙ y = m ⊙ x`, so the conditioner sees the same input `m ⊙ x` in both directions.
pub(crate) fn affine_couple<const D: usize>(
    x: Tensor<D>,
    conditioner_out: Tensor<D>,
    mask: Tensor<D>,
    clamp: f64,
    inverse: bool,
) -> (Tensor<D>, Tensor<1>) {
    let width = conditioner_out.dims()[1] / 2;
    let free = mask.neg().add_scalar(1.0);
    let shift = conditioner_out.clone().narrow(1, 0, width).mul(free.clone());
    let log_scale = conditioner_out
        .narrow(1, width, width)
        .div_scalar(clamp)
        .tanh()
        .mul_scalar(clamp)
        .mul(free);
    let log_det = sum_per_item(log_scale.clone());
    if inverse {
        (x.sub(shift).mul(log_scale.neg().exp()), log_det.neg())
    } else {
        (x.mul(log_scale.exp()).add(shift), log_det)
    }
}

/// RealNVP affine coupling on vectors: `[t̂, ŝ] = MLP(m ⊙ x)` (`d → 2d`), then the masked
/// affine map with soft-clamped log-scale:
///
/// ```text
/// s = (1 − m) ⊙ c·tanh(ŝ / c),  t = (1 − m) ⊙ t̂,  y = x ⊙ exp(s) + t,  log|det J| = Σ s
/// ```
///
/// Shapes: `x`, `y` `[N, d]`; log-determinants `[N]`.
#[derive(Module, Debug)]
pub struct AffineCoupling {
    /// The conditioner `d → 2d`.
    pub net: Mlp,
    /// The mask `[1, d]` (1 = conditioning); rebuilt by `init`, not trained.
    pub mask: Tensor<2>,
    /// The soft clamp `c` of the log-scale.
    pub scale_clamp: f64,
}

impl AffineCouplingConfig {
    /// Builds the layer; fails on `d < 2`, a zero hidden width or a bad clamp.
    pub fn init(&self, device: &Device) -> Result<AffineCoupling> {
        validate_clamp(self.scale_clamp)?;
        let mask = self.mask.build(self.dim, self.flip, device)?;
        let net = MlpConfig::uniform(self.dim, self.hidden, self.hidden_layers, 2 * self.dim)
            .init(device)?;
        Ok(AffineCoupling { net, mask, scale_clamp: self.scale_clamp })
    }
}

impl AffineCoupling {
    fn apply(&self, x: Tensor<2>, inverse: bool) -> Result<(Tensor<2>, Tensor<1>)> {
        let dim = self.mask.dims()[1];
        ensure_event_shape(&x, &[dim], "affine coupling input")?;
        let mask = self.mask.clone();
        let out = self.net.forward(x.clone().mul(mask.clone()));
        Ok(affine_couple(x, out, mask, self.scale_clamp, inverse))
    }
}

impl FlowLayer<2> for AffineCoupling {
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
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, test_input};
    use crate::error::FlowError;

    #[test]
    fn inverse_and_log_det_match_brute_force() {
        let device = autodiff_device();
        for (mask, flip) in [(VectorMask::Half, false), (VectorMask::Alternating, true)] {
            let layer = AffineCouplingConfig::new(4, 8)
                .with_mask(mask)
                .with_flip(flip)
                .init(&device)
                .unwrap();
            check_layer(&layer, test_input([3, 4], &device), 1e-4);
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = autodiff_device();
        assert!(AffineCouplingConfig::new(4, 8).with_scale_clamp(0.0).init(&device).is_err());
        assert!(AffineCouplingConfig::new(1, 8).init(&device).is_err());
        let layer = AffineCouplingConfig::new(4, 8).init(&device).unwrap();
        let err = layer.forward(Tensor::zeros([2, 3], &device)).unwrap_err();
        assert!(matches!(err, FlowError::Core(CoreError::ShapeMismatch { .. })));
    }
}

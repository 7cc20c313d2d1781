//! Clipping of gradients by their global norm, as PyTorch's `clip_grad_norm_`.
//!
//! Burn's own `GradientClippingConfig::Norm` clips each parameter's gradient separately; the
//! recipes medgen reproduces (DDPM, diffusers, most GAN code) clip the norm of all gradients
//! taken together, which keeps the direction of the update. That is what this module does.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use medgen_core::error::{CoreError, Result};

/// Added to the norm before dividing, as in PyTorch.
const NORM_EPS: f32 = 1e-6;

/// The global gradient norm `sqrt(Σ_p ‖g_p‖²)` over the float parameters `p` of `module` that
/// have a gradient in `grads`, as a one-element tensor on the gradients' device (no read-back).
///
/// Returns `None` when no parameter of `module` has a gradient.
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(grad) = self.grads.get::<D>(param.id) else {
                return;
            };
            let squares = grad.square().sum();
            self.total = Some(match self.total.take() {
                None => squares,
                Some(total) => {
                    let device = total.device();
                    total.add(squares.to_device(&device))
                }
            });
        }
    }
    let mut visitor = SquaredNorm { grads, total: None };
    module.visit(&mut visitor);
    visitor.total.map(Tensor::sqrt)
}

/// Scales the gradients of `module` so that their global norm is at most `max_norm`.
///
/// With `total = sqrt(Σ_p ‖g_p‖²)` (see [`grad_norm`]): if `total > max_norm`, every gradient
/// is multiplied by `max_norm / (total + 1e-6)`; otherwise they are returned unchanged.
/// Returns the gradients and `total` (before clipping), e.g. for logging and for
/// [`DivergenceGuard::check_grad_norm`](crate::DivergenceGuard::check_grad_norm).
///
/// Deciding whether to clip needs `total` on the host: this reads back one scalar per call
/// (a device synchronisation), as PyTorch does when it reports the norm. If `total` is NaN or
/// infinite the gradients are returned unchanged, so that a divergence guard can report it
/// rather than the update silently turning every weight into NaN.
///
/// Fails with [`CoreError::InvalidConfig`] unless `max_norm` is positive and finite.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    mut grads: GradientsParams,
    max_norm: f32,
) -> Result<(GradientsParams, f32)> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(CoreError::config(
            "max_norm",
            format!("must be positive and finite, got {max_norm}"),
        ));
    }
    let Some(total) = grad_norm(module, &grads) else {
        return Ok((grads, 0.0));
    };
    let total = total.into_scalar::<f32>();
    if total.is_finite() && total > max_norm {
        scale_grads(module, &mut grads, f64::from(max_norm / (total + NORM_EPS)));
    }
    Ok((grads, total))
}

/// Multiplies the gradient of every float parameter of `module` by `factor`, in place.
fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, grad.mul_scalar(self.factor));
            }
        }
    }
    module.visit(&mut Scale { grads, factor });
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use medgen_testing::test_device;

    /// A Linear 2 → 1 and the gradients of `sum(linear([[1, 2]]))`: dW = [[1], [2]], db = [1],
    /// so the global norm is √6.
    fn linear_and_grads() -> (Linear, GradientsParams) {
        let device = test_device().autodiff();
        let linear = LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
        let loss = linear.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        (linear, grads)
    }

    fn grad_values(linear: &Linear, grads: &GradientsParams) -> Vec<f32> {
        let w = grads.get::<2>(linear.weight.id).unwrap();
        let b = grads.get::<1>(linear.bias.as_ref().unwrap().id).unwrap();
        let mut v = w.try_into_vec_as::<f32>().unwrap();
        v.extend(b.try_into_vec_as::<f32>().unwrap());
        v
    }

    #[test]
    fn clips_to_max_norm_like_torch() {
        let (linear, grads) = linear_and_grads();
        let (clipped, total) = clip_grad_norm(&linear, grads, 1.0).unwrap();
        assert!((total - 6f32.sqrt()).abs() < 1e-5, "{total}");
        let scale = 1.0 / (6f32.sqrt() + 1e-6);
        let got = grad_values(&linear, &clipped);
        for (g, e) in got.iter().zip([1.0, 2.0, 1.0]) {
            assert!((g - e * scale).abs() < 1e-6, "{got:?}");
        }
        let norm = grad_norm(&linear, &clipped).unwrap().into_scalar::<f32>();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn small_gradients_are_unchanged() {
        let (linear, grads) = linear_and_grads();
        let (same, total) = clip_grad_norm(&linear, grads, 10.0).unwrap();
        assert!((total - 6f32.sqrt()).abs() < 1e-5);
        assert_eq!(grad_values(&linear, &same), vec![1.0, 2.0, 1.0]);
    }

    #[test]
    fn invalid_max_norm_is_rejected() {
        let (linear, grads) = linear_and_grads();
        assert!(matches!(
            clip_grad_norm(&linear, grads, 0.0),
            Err(CoreError::InvalidConfig { .. })
        ));
        let (linear, grads) = linear_and_grads();
        assert!(clip_grad_norm(&linear, grads, f32::NAN).is_err());
        let (no_grads, total) = clip_grad_norm(&linear, GradientsParams::new(), 1.0).unwrap();
        assert!(no_grads.is_empty());
        assert_eq!(total, 0.0);
    }
}

//! Putting a model back on the autodiff graph: the inverse of Burn's `Module::valid`.
//!
//! [`Trainer::inference_model`](crate::Trainer::inference_model) returns the EMA weights off
//! autodiff, ready for sampling. A second stage that trains *through* that model (a ControlNet
//! on a frozen base, a classifier on a frozen denoiser, an adapter) needs the same weights on
//! the autodiff form of their device, so that gradients flow through them to the new module;
//! [`on_autodiff`] makes that copy. Whether the copy's own parameters are then updated is up
//! to the second stage (freeze them with `Module::no_grad`, or wrap them in a module that
//! does, as `ControlledUNet` does).

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

/// `model` with every float parameter detached and moved to the autodiff form of its device,
/// values unchanged: `θ' = autodiff(detach(θ))`, each a fresh leaf that requires gradients.
/// Integer and boolean parameters (buffers) are kept as they are.
pub fn on_autodiff<M: Module>(model: M) -> M {
    model.map(&mut OnAutodiff)
}

/// The mapper behind [`on_autodiff`].
struct OnAutodiff;

impl ModuleMapper for OnAutodiff {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        Param::from_tensor(param.val().detach().autodiff())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use medgen_testing::test_device;

    #[test]
    fn the_copy_keeps_the_values_and_carries_gradients() {
        let device = test_device();
        let plain: Linear = LinearConfig::new(3, 2).init(&device);
        let weights = plain.weight.val().into_data();
        let trainable = on_autodiff(plain);
        let w = trainable.weight.val();
        assert!(w.is_autodiff() && w.is_require_grad());
        assert_eq!(w.clone().into_data(), weights);
        let x = Tensor::<2>::ones([4, 3], &device.clone().autodiff());
        let grads = trainable.forward(x).sum().backward();
        let grad = trainable.weight.val().grad(&grads).expect("a gradient for the weight");
        // d(Σ x Wᵀ)/dW = Σ over the batch of x = 4 for every entry of W.
        let grad: Vec<f32> = grad.into_data().convert::<f32>().try_to_vec().unwrap();
        assert!(grad.iter().all(|&g| (g - 4.0).abs() < 1e-6), "{grad:?}");
        assert_eq!(trainable.num_params(), 3 * 2 + 2);
    }
}

//! Classifier-free guidance for flow matching.

use burn::tensor::Tensor;
use medgen_core::{Condition, CoreError, TimeConditionedNetwork};

use crate::error::Result;

/// The classifier-free-guidance combination of a conditional velocity `v_c` and an
/// unconditional one `v_∅` (same shape):
///
/// `v = v_∅ + w (v_c − v_∅)`
///
/// (`w = 1`: conditional, `w = 0`: unconditional, `w > 1`: guided).
pub fn guided_velocity<const D: usize>(
    conditional: Tensor<D>,
    unconditional: Tensor<D>,
    scale: f64,
) -> Tensor<D> {
    let difference = conditional.sub(unconditional.clone());
    unconditional.add(difference.mul_scalar(scale))
}

/// A network evaluated with classifier-free guidance, itself a [`TimeConditionedNetwork`]:
/// `evaluate(x, t, c) = v_∅ + w (v_c − v_∅)` with `v_c = v_θ(x, t, c)` and
/// `v_∅ = v_θ(x, t, ∅)` ([`Condition::to_null`]: class/embedding replaced by the learned null
/// condition, an image condition kept), computed in one network call on the doubled batch
/// `[x; x]`. Pass it to [`sample_flow`](super::sample_flow) or any ODE solver.
///
/// The network must have been trained with condition dropout
/// ([`FlowMatchingLossConfig::condition_drop_prob`](super::FlowMatchingLossConfig) `> 0`).
#[derive(Debug)]
pub struct ClassifierFreeGuidance<'a, N: ?Sized> {
    network: &'a N,
    scale: f64,
}

impl<'a, N: ?Sized> ClassifierFreeGuidance<'a, N> {
    /// Guides `network` with scale `w` (finite, `≥ 0`).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] for a negative or non-finite scale.
    pub fn new(network: &'a N, scale: f64) -> Result<Self> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(CoreError::config(
                "guidance scale",
                format!("must be finite and >= 0, got {scale}"),
            )
            .into());
        }
        Ok(Self { network, scale })
    }

    /// The guidance scale `w`.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl<const D: usize, N> TimeConditionedNetwork<D> for ClassifierFreeGuidance<'_, N>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    /// `v_∅ + w (v_c − v_∅)`; fails with [`CoreError::InvalidConfig`] if `w ≠ 1` and the
    /// condition has no class or embedding part to drop.
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> medgen_core::Result<Tensor<D>> {
        if self.scale == 1.0 {
            return self.network.evaluate(x_t, t, condition);
        }
        if !condition.has_droppable_part() {
            return Err(CoreError::config(
                "guidance scale",
                format!(
                    "w = {} needs a class or embedding condition to drop",
                    self.scale
                ),
            ));
        }
        let n = x_t.dims()[0];
        let both = condition.cat(&condition.to_null(n, &x_t.device()))?;
        let output = self.network.evaluate(
            Tensor::cat(vec![x_t.clone(), x_t], 0),
            Tensor::cat(vec![t.clone(), t], 0),
            &both,
        )?;
        let conditional = output.clone().narrow(0, 0, n);
        let unconditional = output.narrow(0, n, n);
        Ok(guided_velocity(conditional, unconditional, self.scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;
    use medgen_core::test_device;

    #[test]
    fn combination_formula() {
        let device = test_device();
        let conditional = Tensor::<2>::from_floats([[3.0, -1.0]], &device);
        let unconditional = Tensor::<2>::from_floats([[1.0, 1.0]], &device);
        let guided = guided_velocity(conditional, unconditional, 2.5);
        // 1 + 2.5·(3 − 1) = 6 and 1 + 2.5·(−1 − 1) = −4.
        assert_eq!(guided.try_into_vec_as::<f32>().unwrap(), vec![6.0, -4.0]);
    }

    #[test]
    fn guided_network_combines_its_two_branches() {
        // v_θ(x, t, c) = x + keep · (class + 1): v_c − v_∅ = class + 1.
        let network = |x: Tensor<2>, _t: Tensor<1>, c: &Condition<2>| {
            let n = x.dims()[0];
            let class = c.class.clone().expect("class").float().add_scalar(1.0);
            let keep = c
                .keep
                .clone()
                .unwrap_or_else(|| Tensor::ones([n], &x.device()));
            Ok(x.add(class.mul(keep).reshape([n as i64, 1])))
        };
        let device = test_device();
        let x = Tensor::<2>::from_floats([[0.5, 0.0], [1.0, 2.0]], &device);
        let condition = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 2], &device));
        let guided = ClassifierFreeGuidance::new(&network, 3.0).unwrap();
        let v = guided
            .evaluate(x, Tensor::zeros([2], &device), &condition)
            .unwrap();
        assert_eq!(
            v.try_into_vec_as::<f32>().unwrap(),
            vec![3.5, 3.0, 10.0, 11.0]
        );
        let unconditioned = Condition::none();
        let x = Tensor::<2>::zeros([2, 2], &device);
        assert!(
            guided
                .evaluate(x, Tensor::zeros([2], &device), &unconditioned)
                .is_err()
        );
        assert!(ClassifierFreeGuidance::new(&network, -1.0).is_err());
        assert!(ClassifierFreeGuidance::new(&network, f64::NAN).is_err());
    }
}

//! Stopping a training run as soon as its loss or gradients stop being finite.

use burn::tensor::Tensor;

use medgen_core::error::{CoreError, Result};

/// Watches the loss and the gradient norm of a training run and turns the first NaN or ±Inf
/// into [`CoreError::Diverged`], naming the step, the quantity, its value and the last step
/// at which everything was finite.
///
/// A diverged run otherwise keeps going, writes NaN weights into its checkpoints and samples;
/// stopping at once keeps the last good checkpoint the newest one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DivergenceGuard {
    last_finite_step: Option<usize>,
}

impl DivergenceGuard {
    /// A guard that has seen no step yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Passes `loss` through if it is finite, else fails with [`CoreError::Diverged`]
    /// (`what` = `"loss"`).
    pub fn check_loss(&mut self, step: usize, loss: f32) -> Result<f32> {
        self.check(step, "loss", loss)
    }

    /// Reads the one-element `loss` tensor back to the host (a device synchronisation) and
    /// checks it as [`DivergenceGuard::check_loss`] does. Returns the loss value.
    pub fn check_loss_tensor(&mut self, step: usize, loss: &Tensor<1>) -> Result<f32> {
        let value = loss.clone().into_scalar::<f32>();
        self.check_loss(step, value)
    }

    /// Passes the global gradient norm through if it is finite, else fails with
    /// [`CoreError::Diverged`] (`what` = `"gradient norm"`). The norm is what
    /// [`clip_grad_norm`](crate::clip_grad_norm) returns.
    pub fn check_grad_norm(&mut self, step: usize, norm: f32) -> Result<f32> {
        self.check(step, "gradient norm", norm)
    }

    /// The last step at which every checked value was finite.
    pub fn last_finite_step(&self) -> Option<usize> {
        self.last_finite_step
    }

    fn check(&mut self, step: usize, what: &str, value: f32) -> Result<f32> {
        if value.is_finite() {
            if self.last_finite_step.is_none_or(|last| last < step) {
                self.last_finite_step = Some(step);
            }
            return Ok(value);
        }
        let last = match self.last_finite_step {
            Some(last) => format!("last finite at step {last}"),
            None => "no finite step before".to_string(),
        };
        Err(CoreError::Diverged { step, what: format!("{what} (= {value}; {last})") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn finite_values_pass_and_nan_fails_with_the_step() {
        let mut guard = DivergenceGuard::new();
        assert_eq!(guard.check_loss(0, 0.5).unwrap(), 0.5);
        assert_eq!(guard.check_grad_norm(0, 3.0).unwrap(), 3.0);
        assert_eq!(guard.check_loss(1, 0.4).unwrap(), 0.4);
        let err = guard.check_loss(2, f32::NAN).unwrap_err();
        match &err {
            CoreError::Diverged { step, what } => {
                assert_eq!(*step, 2);
                assert!(what.starts_with("loss") && what.contains("step 1"), "{what}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = guard.check_grad_norm(3, f32::INFINITY).unwrap_err();
        assert!(
            matches!(err, CoreError::Diverged { step: 3, ref what } if what.contains("gradient norm"))
        );
        assert_eq!(guard.last_finite_step(), Some(1));
    }

    #[test]
    fn tensor_losses_are_read_back() {
        let device = test_device();
        let mut guard = DivergenceGuard::new();
        let ok = Tensor::<1>::from_floats([0.25], &device);
        assert_eq!(guard.check_loss_tensor(7, &ok).unwrap(), 0.25);
        let bad = Tensor::<1>::from_floats([f32::NEG_INFINITY], &device);
        assert!(matches!(
            guard.check_loss_tensor(8, &bad),
            Err(CoreError::Diverged { step: 8, .. })
        ));
    }
}

//! Classifier-free guidance (Ho & Salimans, 2022) and its rescale (Lin et al., 2024): the one
//! guidance wrapper of every family that samples through a [`TimeConditionedNetwork`]
//! (diffusion, flow matching, SDF segmentation).
//!
//! With `y(x, c)` the network output under condition `c` and `y(x, ∅)` under the learned null
//! condition ([`Condition::to_null`]: class, embedding or context dropped, an image kept),
//!
//! `ŷ = y(x, ∅) + w · (y(x, c) − y(x, ∅))`,
//!
//! optionally rescaled towards the conditional output's per-item standard deviation
//! ([`rescale_noise_cfg`]). `w = 1` is plain conditional evaluation (one call on `N` items);
//! any other `w` evaluates both branches in one call on the doubled batch `[x; x]`.

use burn::config::Config;
use burn::tensor::Tensor;

use crate::check::ensure_shape;
use crate::condition::Condition;
use crate::error::{CoreError, Result};
use crate::network::TimeConditionedNetwork;

/// The guidance of one sampling run (diffusers' `guidance_scale` and `guidance_rescale`).
#[derive(Config, Debug, PartialEq)]
pub struct GuidanceConfig {
    /// The guidance scale `w ≥ 0` (diffusers' `guidance_scale`; 1 disables guidance).
    #[config(default = 1.0)]
    pub scale: f64,
    /// The rescale factor `φ ∈ [0, 1]` (diffusers' `guidance_rescale`; 0 disables it).
    #[config(default = 0.0)]
    pub rescale: f64,
}

impl GuidanceConfig {
    /// Whether guidance changes the network output (`w ≠ 1`).
    pub fn is_active(&self) -> bool {
        self.scale != 1.0
    }

    /// Checks `w` and `φ`, and that an active guidance has a class, embedding or context to
    /// drop.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `guidance.scale` (negative or not finite) or
    /// `guidance.rescale` (outside `[0, 1]`); [`CoreError::GuidanceWithoutCondition`] when
    /// `w ≠ 1` and `condition` has nothing to drop.
    pub fn validate<const D: usize>(&self, condition: &Condition<D>) -> Result<()> {
        self.validate_values()?;
        if self.is_active() && !condition.has_droppable_part() {
            return Err(CoreError::GuidanceWithoutCondition { scale: self.scale });
        }
        Ok(())
    }

    fn validate_values(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale >= 0.0) {
            return Err(CoreError::config(
                "guidance.scale",
                format!("must be finite and non-negative, got {}", self.scale),
            ));
        }
        if !(0.0..=1.0).contains(&self.rescale) {
            return Err(CoreError::config(
                "guidance.rescale",
                format!("must lie in [0, 1], got {}", self.rescale),
            ));
        }
        Ok(())
    }

    /// Combines the conditional and the null output (`[N, ...]` each) into the guided one,
    /// `y_∅ + w (y_c − y_∅)`, rescaled when `φ > 0`.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] naming `unconditional` when the two shapes differ.
    pub fn combine<const D: usize>(
        &self,
        conditional: Tensor<D>,
        unconditional: Tensor<D>,
    ) -> Result<Tensor<D>> {
        ensure_shape(&unconditional.dims(), &conditional.dims(), "unconditional")?;
        let guided = unconditional
            .clone()
            .add(conditional.clone().sub(unconditional).mul_scalar(self.scale));
        if self.rescale > 0.0 {
            rescale_noise_cfg(guided, conditional, self.rescale)
        } else {
            Ok(guided)
        }
    }
}

/// diffusers' `rescale_noise_cfg`: with `s(·)` the per-item standard deviation over all
/// non-batch axes (Bessel-corrected, as `torch.std`),
///
/// `ŷ' = φ · ŷ · s(y_c)/s(ŷ) + (1 − φ) · ŷ`,
///
/// which counters the over-exposure of large guidance scales. Shapes `[N, ...]`, alike.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] naming `conditional` when its shape differs from `guided`'s,
/// and [`CoreError::InvalidConfig`] naming `rescale` outside `[0, 1]`.
pub fn rescale_noise_cfg<const D: usize>(
    guided: Tensor<D>,
    conditional: Tensor<D>,
    rescale: f64,
) -> Result<Tensor<D>> {
    ensure_shape(&conditional.dims(), &guided.dims(), "conditional")?;
    if !(0.0..=1.0).contains(&rescale) {
        return Err(CoreError::config("rescale", format!("must lie in [0, 1], got {rescale}")));
    }
    let ratio = per_item_std(conditional).div(per_item_std(guided.clone()));
    let rescaled = guided.clone().mul(ratio);
    Ok(rescaled.mul_scalar(rescale).add(guided.mul_scalar(1.0 - rescale)))
}

/// The Bessel-corrected standard deviation of each item of `x` (`[N, ...]`), shaped
/// `[N, 1, …, 1]` to broadcast back over the item.
fn per_item_std<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let items = dims[0];
    let flat: Tensor<2> = x.reshape([items, dims[1..].iter().product()]);
    let mut shape = [1; D];
    shape[0] = items;
    flat.var(1).sqrt().reshape(shape)
}

/// A network evaluated with classifier-free guidance, itself a [`TimeConditionedNetwork`]:
/// `evaluate(x, t, c) = GuidanceConfig::combine(y(x, t, c), y(x, t, ∅))`, both branches in
/// one network call on the doubled batch. Every sampler takes it where it takes a network.
///
/// The network must have been trained with condition dropout (a learned null condition).
#[derive(Debug)]
pub struct ClassifierFreeGuidance<'a, N: ?Sized> {
    network: &'a N,
    guidance: GuidanceConfig,
}

impl<'a, N: ?Sized> ClassifierFreeGuidance<'a, N> {
    /// Guides `network` as `guidance` says.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `guidance.scale` or `guidance.rescale` for values
    /// out of range.
    pub fn new(network: &'a N, guidance: GuidanceConfig) -> Result<Self> {
        guidance.validate_values()?;
        Ok(Self { network, guidance })
    }

    /// The guidance applied.
    pub fn guidance(&self) -> &GuidanceConfig {
        &self.guidance
    }
}

impl<const D: usize, N> TimeConditionedNetwork<D> for ClassifierFreeGuidance<'_, N>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    /// `y_∅ + w (y_c − y_∅)` (rescaled when `φ > 0`); a plain call when `w = 1`.
    ///
    /// # Errors
    /// [`CoreError::GuidanceWithoutCondition`] when `w ≠ 1` and the condition has no class or
    /// embedding part to drop; [`CoreError::ShapeMismatch`] naming `guided network output`
    /// when the doubled call does not return `2N` items; the network's errors.
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        if !self.guidance.is_active() {
            return self.network.evaluate(x_t, t, condition);
        }
        self.guidance.validate(condition)?;
        let n = x_t.dims()[0];
        let both = condition.cat(&condition.to_null(n, &x_t.device()))?;
        let output = self.network.evaluate(
            Tensor::cat(vec![x_t.clone(), x_t], 0),
            Tensor::cat(vec![t.clone(), t], 0),
            &both,
        )?;
        let dims = output.dims();
        if dims[0] != 2 * n {
            return Err(CoreError::shape(
                "guided network output",
                format!("{} items (the conditional and null halves together)", 2 * n),
                &dims,
            ));
        }
        let conditional = output.clone().narrow(0, 0, n);
        let unconditional = output.narrow(0, n, n);
        self.guidance.combine(conditional, unconditional)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, TensorData};
    use medgen_testing::test_device;

    #[test]
    fn combine_extrapolates_from_the_null_branch() {
        let device = test_device();
        let cond = Tensor::<4>::full([1, 1, 1, 2], 2.0, &device);
        let uncond = Tensor::<4>::full([1, 1, 1, 2], 1.0, &device);
        let guided = GuidanceConfig::new().with_scale(3.0).combine(cond, uncond).unwrap();
        let values = guided.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values, vec![4.0, 4.0]);
    }

    #[test]
    fn rescale_matches_the_formula() {
        let device = test_device();
        let cond_values = vec![1.0f32, -1.0, 2.0, 0.0];
        let guided_values = vec![4.0f32, -2.0, 6.0, 0.0];
        let cond =
            Tensor::<4>::from_data(TensorData::new(cond_values.clone(), [1, 1, 2, 2]), &device);
        let guided =
            Tensor::<4>::from_data(TensorData::new(guided_values.clone(), [1, 1, 2, 2]), &device);
        let std = |v: &[f32]| {
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / (v.len() - 1) as f32).sqrt()
        };
        let ratio = std(&cond_values) / std(&guided_values);
        let got =
            rescale_noise_cfg(guided, cond, 0.7).unwrap().into_data().try_to_vec::<f32>().unwrap();
        for (g, v) in got.iter().zip(&guided_values) {
            let expected = 0.7 * v * ratio + 0.3 * v;
            assert!((g - expected).abs() < 1e-5);
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let device = test_device();
        let none = Condition::<4>::none();
        let err = GuidanceConfig::new().with_scale(5.0).validate(&none);
        assert!(matches!(err, Err(CoreError::GuidanceWithoutCondition { .. })));
        assert!(GuidanceConfig::new().validate(&none).is_ok());
        let labelled = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
        let guided = GuidanceConfig::new().with_scale(5.0);
        assert!(guided.validate(&labelled).is_ok());
        let negative = GuidanceConfig::new().with_scale(-1.0).validate(&labelled);
        assert!(negative.unwrap_err().to_string().contains("guidance.scale"));
        let rescale = GuidanceConfig::new().with_scale(2.0).with_rescale(1.5).validate(&labelled);
        assert!(rescale.unwrap_err().to_string().contains("guidance.rescale"));
    }

    #[test]
    fn guided_network_combines_its_two_branches_in_one_call() {
        // y(x, t, c) = x + keep · (class + 1): y_c − y_∅ = class + 1.
        let calls = std::cell::Cell::new(0);
        let network = |x: Tensor<2>, _t: Tensor<1>, c: &Condition<2>| {
            calls.set(calls.get() + 1);
            let n = x.dims()[0];
            let class = c.class.clone().expect("class").float().add_scalar(1.0);
            let keep = c.keep.clone().unwrap_or_else(|| Tensor::ones([n], &x.device()));
            Ok(x.add(class.mul(keep).reshape([n as i64, 1])))
        };
        let device = test_device();
        let x = Tensor::<2>::from_floats([[0.5, 0.0], [1.0, 2.0]], &device);
        let condition = Condition::none().with_class(Tensor::<1, Int>::from_ints([0, 2], &device));
        let guided =
            ClassifierFreeGuidance::new(&network, GuidanceConfig::new().with_scale(3.0)).unwrap();
        let v = guided.evaluate(x, Tensor::zeros([2], &device), &condition).unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(v.try_into_vec_as::<f32>().unwrap(), vec![3.5, 3.0, 10.0, 11.0]);
        let x = Tensor::<2>::zeros([2, 2], &device);
        assert!(matches!(
            guided.evaluate(x, Tensor::zeros([2], &device), &Condition::none()),
            Err(CoreError::GuidanceWithoutCondition { .. })
        ));
        let bad =
            |scale| ClassifierFreeGuidance::new(&network, GuidanceConfig::new().with_scale(scale));
        assert!(bad(-1.0).is_err());
        assert!(bad(f64::NAN).is_err());
    }
}

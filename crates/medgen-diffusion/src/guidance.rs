//! Classifier-free guidance (Ho & Salimans, 2022) and its rescale (Lin et al., 2024).

use burn::config::Config;
use burn::tensor::Tensor;
use medgen_core::{Condition, TimeConditionedNetwork};

use crate::error::{DiffusionError, Result};

/// Classifier-free guidance at sampling time:
///
/// `ŷ = y(x, ∅) + w · (y(x, c) − y(x, ∅))`,
///
/// optionally rescaled towards the conditional output's per-item standard deviation
/// (diffusers' `guidance_rescale`, [`rescale_noise_cfg`]). `w = 1` is plain conditional
/// sampling and costs one network evaluation per step; any other `w` evaluates the conditional
/// and the null branch in one batch of `2N`.
#[derive(Config, Debug, PartialEq)]
pub struct GuidanceConfig {
    /// The guidance scale `w ≥ 0` (diffusers' `guidance_scale`).
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

    /// Checks `w` and `φ`, and that an active guidance has a class or embedding condition to
    /// drop ([`DiffusionError::GuidanceWithoutCondition`] otherwise).
    pub fn validate<const D: usize>(&self, condition: &Condition<D>) -> Result<()> {
        if !(self.scale.is_finite() && self.scale >= 0.0) {
            return Err(DiffusionError::config(
                "guidance scale",
                format!("must be finite and non-negative, got {}", self.scale),
            ));
        }
        if !(0.0..=1.0).contains(&self.rescale) {
            return Err(DiffusionError::config(
                "guidance rescale",
                format!("must lie in [0, 1], got {}", self.rescale),
            ));
        }
        if self.is_active() && !condition.has_droppable_part() {
            return Err(DiffusionError::GuidanceWithoutCondition { scale: self.scale });
        }
        Ok(())
    }

    /// Combines the conditional and the null output (`[N, ...]` each) into the guided one.
    pub fn combine<const D: usize>(
        &self,
        conditional: Tensor<D>,
        unconditional: Tensor<D>,
    ) -> Tensor<D> {
        let guided = unconditional.clone().add(
            conditional
                .clone()
                .sub(unconditional)
                .mul_scalar(self.scale),
        );
        if self.rescale > 0.0 {
            rescale_noise_cfg(guided, conditional, self.rescale)
        } else {
            guided
        }
    }
}

/// Evaluates `network` at `x` (`[N, ...]`), times `t` (`[N]`) and `condition`, with guidance:
/// one call on the unchanged batch when guidance is inactive, else one call on the batch
/// `[x; x]` with `[c; ∅]` whose halves are combined by [`GuidanceConfig::combine`]. Call
/// [`GuidanceConfig::validate`] first; `null_pair` is `condition.cat(condition.to_null(..))`,
/// built once per sampling run.
pub(crate) fn guided_evaluate<const D: usize, N>(
    network: &N,
    x: Tensor<D>,
    t: Tensor<1>,
    condition: &Condition<D>,
    null_pair: Option<&Condition<D>>,
    guidance: &GuidanceConfig,
) -> Result<Tensor<D>>
where
    N: TimeConditionedNetwork<D> + ?Sized,
{
    let Some(pair) = null_pair else {
        return Ok(network.evaluate(x, t, condition)?);
    };
    let mut expected = x.dims().to_vec();
    let batch = expected[0];
    expected[0] = 2 * batch;
    let output = network.evaluate(
        Tensor::cat(vec![x.clone(), x], 0),
        Tensor::cat(vec![t.clone(), t], 0),
        pair,
    )?;
    let dims = output.dims();
    if dims[0] != 2 * batch {
        return Err(DiffusionError::ModelOutputShape {
            sample: expected,
            got: dims.to_vec(),
            hint: " (a guided call evaluates the conditional and null halves together)".into(),
        });
    }
    let conditional = output.clone().narrow(0, 0, batch);
    let unconditional = output.narrow(0, batch, batch);
    Ok(guidance.combine(conditional, unconditional))
}

/// diffusers' `rescale_noise_cfg`: with `s(·)` the per-item standard deviation over all
/// non-batch axes (Bessel-corrected, as `torch.std`),
///
/// `ŷ' = φ · ŷ · s(y_c)/s(ŷ) + (1 − φ) · ŷ`,
///
/// which counters the over-exposure of large guidance scales. Shapes `[N, ...]`, alike.
pub fn rescale_noise_cfg<const D: usize>(
    guided: Tensor<D>,
    conditional: Tensor<D>,
    rescale: f64,
) -> Tensor<D> {
    let ratio = per_item_std(conditional).div(per_item_std(guided.clone()));
    let rescaled = guided.clone().mul(ratio);
    rescaled
        .mul_scalar(rescale)
        .add(guided.mul_scalar(1.0 - rescale))
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, TensorData};
    use medgen_core::test_device;

    #[test]
    fn combine_extrapolates_from_the_null_branch() {
        let device = test_device();
        let cond = Tensor::<4>::full([1, 1, 1, 2], 2.0, &device);
        let uncond = Tensor::<4>::full([1, 1, 1, 2], 1.0, &device);
        let guided = GuidanceConfig::new().with_scale(3.0).combine(cond, uncond);
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
        let guided = Tensor::<4>::from_data(
            TensorData::new(guided_values.clone(), [1, 1, 2, 2]),
            &device,
        );
        let std = |v: &[f32]| {
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / (v.len() - 1) as f32).sqrt()
        };
        let ratio = std(&cond_values) / std(&guided_values);
        let got = rescale_noise_cfg(guided, cond, 0.7)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
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
        assert!(matches!(
            err,
            Err(DiffusionError::GuidanceWithoutCondition { .. })
        ));
        assert!(GuidanceConfig::new().validate(&none).is_ok());
        let labelled = Condition::<4>::none().with_class(Tensor::<1, Int>::zeros([2], &device));
        assert!(
            GuidanceConfig::new()
                .with_scale(5.0)
                .validate(&labelled)
                .is_ok()
        );
        assert!(
            GuidanceConfig::new()
                .with_scale(-1.0)
                .validate(&labelled)
                .is_err()
        );
        assert!(
            GuidanceConfig::new()
                .with_scale(2.0)
                .with_rescale(1.5)
                .validate(&labelled)
                .is_err()
        );
    }
}

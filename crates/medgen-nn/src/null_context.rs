//! The learned null context of classifier-free guidance with cross-attention, and the context
//! the attention blocks of one forward pass attend to.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Bool, Device, Tensor};

use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`NullContext`].
#[derive(Config, Debug)]
pub struct NullContextConfig {
    /// Width `E` of the context tokens (the network's `cross_attention_dim`).
    pub cross_attention_dim: usize,
}

/// The context tokens and key-padding mask the cross-attention blocks of one forward pass
/// attend to, after the null context has been substituted (see [`NullContext::resolve`]).
///
/// `tokens` `[N, L, E]`; `mask` `[N, L]` with `true` = attend (`None`: attend to all).
#[derive(Clone, Debug)]
pub struct AttentionContext {
    /// Context tokens `[N, L, E]`.
    pub tokens: Tensor<3>,
    /// Key-padding mask `[N, L]`, `true` = attend; `None` attends to every token.
    pub mask: Option<Tensor<2, Bool>>,
}

/// A learned null context token `∅ ∈ R^E` (a parameter `[1, 1, E]`, zeros at init) that
/// replaces the context of the items classifier-free guidance drops:
///
/// ```text
/// a_n      = 1 if item n has an unmasked token (or no mask), else 0
/// k_n      = keep_n · a_n                                   (keep_n = 1 when absent)
/// tokens_n = ∅ + k_n · (c_n − ∅)                            (∅ broadcast over the L tokens)
/// mask_n   = mask_n ∨ (k_n = 0)
/// ```
///
/// A dropped item thus attends to `L` copies of `∅`, which is exactly attention to the single
/// token `∅` (equal keys get equal weights, and the values are equal). `keep` is meant to be
/// 0 or 1; a fractional value interpolates the tokens linearly and keeps the item's mask. With
/// neither `keep` nor a mask the context passes through untouched.
#[derive(Module, Debug)]
pub struct NullContext {
    /// The null token `[1, 1, E]`.
    pub token: Param<Tensor<3>>,
}

impl NullContextConfig {
    /// Builds the null context on `device`; fails on a zero width.
    pub fn init(&self, device: &Device) -> Result<NullContext> {
        if self.cross_attention_dim == 0 {
            return Err(CoreError::config("cross_attention_dim", "must be positive"));
        }
        Ok(NullContext { token: Initializer::Zeros.init([1, 1, self.cross_attention_dim], device) })
    }
}

impl NullContext {
    /// The context width `E`.
    pub fn cross_attention_dim(&self) -> usize {
        self.token.lazy_shape()[2]
    }

    /// Resolves the context of `condition` for a batch of `batch` items as the type's formula
    /// says.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `condition.context` when it is absent (a network
    /// built with `cross_attention_dim` needs one; use `Condition::to_null` for the unconditional
    /// branch); the shape errors of [`Condition::check_context`]; a shape error naming
    /// `condition.keep` unless it is `[N]`.
    pub fn resolve<const D: usize>(
        &self,
        condition: &Condition<D>,
        batch: usize,
    ) -> Result<AttentionContext> {
        let width = self.cross_attention_dim();
        if condition.check_context(width, batch)?.is_none() {
            return Err(CoreError::config(
                "condition.context",
                format!(
                    "the network was built with `cross_attention_dim` and needs a context [N, L, {width}] \
                     (use Condition::to_null for the unconditional branch)"
                ),
            ));
        }
        let context = condition.context.clone().expect("checked above");
        if let Some(keep) = &condition.keep
            && keep.dims() != [batch]
        {
            return Err(CoreError::shape(
                "condition.keep",
                format!("[N] = [{batch}]"),
                &keep.dims(),
            ));
        }
        let attended = condition.context_mask.as_ref().map(|m| m.clone().any_dim(1).float());
        let keep = match (condition.keep.clone(), attended) {
            (None, None) => {
                return Ok(AttentionContext { tokens: context, mask: None });
            }
            (Some(k), None) => k.unsqueeze_dim::<2>(1),
            (None, Some(a)) => a,
            (Some(k), Some(a)) => k.unsqueeze_dim::<2>(1).mul(a),
        };
        let [n, tokens, e] = context.dims();
        let null = self.token.val().expand([n, tokens, e]);
        let mixed = context.sub(null.clone()).mul(keep.clone().unsqueeze_dim::<3>(2)).add(null);
        let mask = condition.context_mask.clone().map(|m| {
            let dropped = keep.equal_elem(0.0).expand([n, tokens]);
            m.bool_or(dropped)
        });
        Ok(AttentionContext { tokens: mixed, mask })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_testing::test_device;

    #[test]
    fn dropped_and_fully_masked_items_get_the_null_token() {
        let device = test_device();
        let mut null = NullContextConfig::new(2).init(&device).unwrap();
        null.token = Param::from_tensor(Tensor::from_floats([[[5.0, 6.0]]], &device));
        let context = Tensor::<3>::from_floats(
            [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [2.0, 2.0]], [[7.0, 7.0], [8.0, 8.0]]],
            &device,
        );
        let mask = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], &device).bool();
        let condition =
            Condition::<4>::none().with_context(context.clone()).with_context_mask(mask);
        let condition =
            Condition { keep: Some(Tensor::from_floats([1.0, 1.0, 0.0], &device)), ..condition };
        let resolved = null.resolve(&condition, 3).unwrap();
        let tokens = resolved.tokens.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(tokens, vec![1., 2., 3., 4., 5., 6., 5., 6., 5., 6., 5., 6.]);
        let mask = resolved.mask.unwrap().float().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(mask, vec![1., 0., 1., 1., 1., 1.]);

        // Neither keep nor mask: the context passes through.
        let plain = null.resolve(&Condition::<4>::none().with_context(context), 3).unwrap();
        assert!(plain.mask.is_none());
    }

    #[test]
    fn bad_contexts_are_typed_errors() {
        let device = test_device();
        let null = NullContextConfig::new(2).init(&device).unwrap();
        assert_eq!(null.cross_attention_dim(), 2);
        let missing = null.resolve(&Condition::<4>::none(), 2);
        assert!(
            matches!(missing, Err(CoreError::InvalidConfig { ref name, .. }) if name == "condition.context")
        );
        let wide = Condition::<4>::none().with_context(Tensor::zeros([2, 3, 4], &device));
        assert!(
            matches!(null.resolve(&wide, 2), Err(CoreError::ShapeMismatch { ref what, .. }) if what == "condition.context")
        );
        let ok = Condition::<4>::none().with_context(Tensor::zeros([2, 3, 2], &device));
        assert!(null.resolve(&ok, 3).is_err());
        let bad_mask = ok.clone().with_context_mask(Tensor::<2>::ones([2, 2], &device).bool());
        assert!(
            matches!(null.resolve(&bad_mask, 2), Err(CoreError::ShapeMismatch { ref what, .. }) if what == "condition.context_mask")
        );
        assert!(NullContextConfig::new(0).init(&device).is_err());
    }
}

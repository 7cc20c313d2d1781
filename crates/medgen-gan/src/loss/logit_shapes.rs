//! Validation of the `[N, P]` logit tensors the losses take.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::ensure_non_empty;

use crate::error::Result;

/// Fails with [`CoreError::Empty`] if `logits` (`[N, P]`) has no item or no patch.
pub(crate) fn ensure_logits(logits: &Tensor<2>, what: &str) -> Result<()> {
    Ok(ensure_non_empty(&logits.dims(), what)?)
}

/// Checks real and fake logits: both non-empty, with the same number of patches `P` (the
/// batch sizes may differ: each expectation is a mean over its own batch).
pub(crate) fn ensure_logit_pair(real: &Tensor<2>, fake: &Tensor<2>) -> Result<()> {
    ensure_logits(real, "real logits")?;
    ensure_logits(fake, "fake logits")?;
    let (p_real, fake_dims) = (real.dims()[1], fake.dims());
    if fake_dims[1] != p_real {
        return Err(CoreError::shape(
            "fake logits",
            format!("[N, {p_real}] (the patch count of the real logits)"),
            &fake_dims,
        )
        .into());
    }
    Ok(())
}

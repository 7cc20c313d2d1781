//! Which parts of a [`Condition`] a network accepts.

use medgen_core::Condition;

use crate::error::{GanError, Result};

/// Fails with [`GanError::ConditionMismatch`] if `condition` carries any part: `network` is
/// unconditional.
pub(crate) fn reject_condition<const D: usize>(
    condition: &Condition<D>,
    network: &'static str,
) -> Result<()> {
    if condition.is_empty() {
        Ok(())
    } else {
        Err(GanError::ConditionMismatch {
            network,
            reason: "this network is unconditional; pass Condition::none()".into(),
        })
    }
}

/// Fails with [`GanError::ConditionMismatch`] if the condition has an image part or a keep
/// mask, or has (or lacks) a class / embedding part against what `network` was built for.
pub(crate) fn check_parts<const D: usize>(
    condition: &Condition<D>,
    network: &'static str,
    wants_class: bool,
    wants_embedding: bool,
) -> Result<()> {
    let mismatch = |reason: String| GanError::ConditionMismatch { network, reason };
    if condition.image.is_some() {
        return Err(mismatch("an image condition is not used by this network".into()));
    }
    if condition.keep.is_some() {
        return Err(mismatch("keep masks (classifier-free guidance) are not used by GANs".into()));
    }
    for (present, wanted, part) in [
        (condition.class.is_some(), wants_class, "class labels"),
        (condition.embedding.is_some(), wants_embedding, "a covariate embedding"),
    ] {
        if present != wanted {
            let verb = if wanted { "needs" } else { "was not built for" };
            return Err(mismatch(format!("this network {verb} {part}")));
        }
    }
    Ok(())
}

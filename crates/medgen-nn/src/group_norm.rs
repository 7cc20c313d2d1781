//! Validated construction of Burn's group norm (whose own `init` panics on a bad group count).

use burn::nn::GroupNormConfig;

use medgen_core::error::{CoreError, Result};

/// A [`GroupNormConfig`] for `channels` channels in `groups` groups, or
/// [`CoreError::InvalidConfig`] unless `groups ≥ 1` divides `channels ≥ 1`.
///
/// Group norm normalises each of the `groups` channel groups of each item over its channels
/// and spatial positions: `y = (x − μ_g) / √(σ²_g + 10⁻⁵) · γ_c + β_c`.
pub(crate) fn group_norm_config(groups: usize, channels: usize) -> Result<GroupNormConfig> {
    if groups == 0 || channels == 0 || !channels.is_multiple_of(groups) {
        return Err(CoreError::config(
            "groups",
            format!("{groups} groups must divide {channels} channels (both positive)"),
        ));
    }
    Ok(GroupNormConfig::new(groups, channels))
}

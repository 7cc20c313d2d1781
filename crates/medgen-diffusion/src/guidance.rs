//! Classifier-free guidance, as medgen-core defines it once for every family
//! ([`medgen_core::guidance`]): re-exported here so that diffusion users find it next to the
//! samplers that take it.

pub use medgen_core::guidance::{ClassifierFreeGuidance, GuidanceConfig, rescale_noise_cfg};

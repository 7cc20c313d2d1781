//! Signed distance functions (SDFs) of binary masks, with an explicit sign convention,
//! truncation and normalisation, and the masks they describe.

mod config;
mod host;
mod tensor;

pub use config::{SdfConfig, SignConvention, Truncation};
pub use host::{mask_from_sdf, signed_distance};
pub use tensor::{mask_from_sdf_tensor, signed_distance_tensor};

//! Exact Euclidean distance transform (EDT) with `scipy.ndimage.distance_transform_edt`
//! semantics, on host arrays of any rank ([`distance_transform_edt`]) and on batches of masks
//! in tensors ([`distance_transform_edt_tensor`]).

mod envelope;
mod host;
mod options;
mod panel;
pub(crate) mod parallel;
mod passes;
pub(crate) mod separable;
mod sweep;
mod tensor;

pub(crate) use host::validate;
pub use host::{EdtResult, distance_transform_edt};
pub use options::{EdtOptions, NoBackground};
pub use tensor::{EdtTensors, distance_transform_edt_tensor};

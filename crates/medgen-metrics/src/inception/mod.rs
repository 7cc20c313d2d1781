//! pytorch-fid's InceptionV3 feature network in Burn.
//!
//! [`InceptionV3`] reproduces `pytorch_fid.inception.InceptionV3` (the TensorFlow
//! 2015-12-05 Inception graph with pytorch-fid's `FIDInceptionA/C/E_1/E_2` patches): bilinear
//! resizing to 299 × 299, `x ↦ 2x − 1`, and the four output blocks of feature dimension
//! 64 / 192 / 768 / 2048. Its parameter paths equal the keys of the standard weight file
//! [`FID_WEIGHTS_FILE`], which [`InceptionV3::load_pytorch_weights`] reads from a local path
//! (nothing is downloaded). It implements [`FeatureExtractor`](crate::FeatureExtractor), so
//! [`fid`](crate::fid) and [`kid_with_extractor`](crate::kid_with_extractor) take it
//! directly.
//!
//! ```no_run
//! use burn::tensor::{Device, Distribution, Tensor};
//! use medgen_metrics::inception::InceptionV3Config;
//! use medgen_metrics::{FrechetOptions, fid};
//!
//! let device = Device::default();
//! let net = InceptionV3Config::new()
//!     .init_pretrained("pt_inception-2015-12-05-6726825d.pth", &device)
//!     .unwrap();
//! let real = Tensor::<4>::random([8, 3, 64, 64], Distribution::Default, &device);
//! let fake = Tensor::<4>::random([8, 3, 64, 64], Distribution::Default, &device);
//! let fd = fid(&net, real, fake, 4, &FrechetOptions::new()).unwrap();
//! println!("FID {}", fd.distance);
//! ```

mod basic_conv;
mod inception_a;
mod inception_b;
mod inception_c;
mod inception_d;
mod inception_e;
mod network;
mod pooling;
mod weights;

#[cfg(test)]
mod pth_writer;
#[cfg(test)]
mod tests;

pub use basic_conv::{BATCH_NORM_EPSILON, BasicConv2d};
pub use inception_a::InceptionA;
pub use inception_b::InceptionB;
pub use inception_c::InceptionC;
pub use inception_d::InceptionD;
pub use inception_e::InceptionE;
pub use network::{
    FID_FEATURE_DIMS, FID_INPUT_SIZE, FID_NUM_CLASSES, InceptionV3, InceptionV3Config,
    MIN_INPUT_SIZE,
};
pub use pooling::{max_pool_3x3_same, max_pool_3x3_stride2, tf_avg_pool_3x3};
pub use weights::FID_WEIGHTS_FILE;

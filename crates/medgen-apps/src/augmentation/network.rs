//! The downstream classifier of an augmentation study: a small convolutional network with
//! global max pooling, so that one lesion-sized response anywhere decides the class.
//!
//! ```text
//! h₁ = ReLU(Conv3x3(x))                 [N, w, *S]
//! h₂ = ReLU(Conv3x3, stride 2 (h₁))     [N, 2w, *S/2]
//! h₃ = ReLU(Conv3x3(h₂))                [N, 2w, *S/2]
//! logits = Linear(max_spatial h₃)       [N, K]
//! ```
//!
//! 2D or 3D (medgen-nn's `SpatialConv`), any input size.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Int, Tensor};
use medgen_core::CoreError;
use medgen_nn::{SpatialConv, SpatialConvConfig};

use crate::error::{AppsError, Result};

/// Configuration of a [`LesionClassifier`].
#[derive(Config, Debug, PartialEq)]
pub struct LesionClassifierConfig {
    /// Spatial axes: 2 (`[N, C, H, W]`) or 3 (`[N, C, D, H, W]`).
    pub spatial_dims: usize,
    /// Input channels `C`.
    pub in_channels: usize,
    /// Classes `K ≥ 2` (0 is healthy).
    pub num_classes: usize,
    /// Width `w` of the first layer.
    #[config(default = 16)]
    pub width: usize,
}

/// The classifier (see the [module documentation](self)).
#[derive(Module, Debug)]
pub struct LesionClassifier {
    /// `C → w`.
    pub conv1: SpatialConv,
    /// `w → 2w`, stride 2.
    pub conv2: SpatialConv,
    /// `2w → 2w`.
    pub conv3: SpatialConv,
    /// `2w → K`.
    pub head: Linear,
    /// Classes `K`.
    pub num_classes: usize,
    /// Input channels `C`.
    pub in_channels: usize,
    /// Spatial axes (2 or 3).
    pub spatial_dims: usize,
}

impl LesionClassifierConfig {
    /// Builds the classifier on `device` (an autodiff device to train it).
    ///
    /// # Errors
    /// A configuration error naming `num_classes` (< 2), `width` or `in_channels` (0), and
    /// `spatial_dims` outside {2, 3}.
    pub fn init(&self, device: &Device) -> Result<LesionClassifier> {
        if self.num_classes < 2 {
            return Err(AppsError::config(
                "num_classes",
                format!("need at least 2, got {}", self.num_classes),
            ));
        }
        if self.width == 0 || self.in_channels == 0 {
            return Err(AppsError::config("width/in_channels", "must be positive"));
        }
        let w = self.width;
        let conv = |c_in: usize, c_out: usize, stride: usize| {
            SpatialConvConfig::new(self.spatial_dims, [c_in, c_out])
                .with_stride(stride)
                .init(device)
        };
        Ok(LesionClassifier {
            conv1: conv(self.in_channels, w, 1)?,
            conv2: conv(w, 2 * w, 2)?,
            conv3: conv(2 * w, 2 * w, 1)?,
            head: LinearConfig::new(2 * w, self.num_classes).init(device),
            num_classes: self.num_classes,
            in_channels: self.in_channels,
            spatial_dims: self.spatial_dims,
        })
    }
}

impl LesionClassifier {
    /// The logits `[N, K]` of images `x` `[N, C, *S]`.
    ///
    /// # Errors
    /// A rank error for images of another spatial rank, a shape error for another channel
    /// count or an empty batch.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<2>> {
        let dims = x.dims();
        if D != self.spatial_dims + 2 {
            return Err(CoreError::InvalidRank {
                what: "images".into(),
                expected: self.spatial_dims + 2,
                got: D,
            }
            .into());
        }
        medgen_core::check::ensure_batch(&x, "images")?;
        if dims[1] != self.in_channels {
            return Err(CoreError::shape(
                "images",
                format!("{} channels", self.in_channels),
                &dims,
            )
            .into());
        }
        let h = relu(self.conv1.forward(x));
        let h = relu(self.conv2.forward(h));
        let h = relu(self.conv3.forward(h));
        let channels = h.dims()[1];
        let pooled = h
            .reshape([dims[0] as i32, channels as i32, -1])
            .max_dim(2)
            .reshape([dims[0], channels]);
        Ok(self.head.forward(pooled))
    }

    /// `log p(y_n | x_n)` per item, `[N]`, for labels `[N]` in `0..K` (not checked here).
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn log_prob<const D: usize>(
        &self,
        x: Tensor<D>,
        labels: Tensor<1, Int>,
    ) -> Result<Tensor<1>> {
        let batch = x.dims()[0];
        let log_probs = log_softmax(self.forward(x)?, 1);
        Ok(log_probs.gather(1, labels.reshape([batch, 1])).reshape([batch]))
    }
}

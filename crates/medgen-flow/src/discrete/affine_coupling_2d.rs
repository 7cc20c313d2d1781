//! Affine coupling on images (RealNVP / Glow), with checkerboard or channel masks.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::affine_coupling::{affine_couple, validate_clamp};
use super::conv_net::{ConvNet, ConvNetConfig};
use super::layer::{FlowLayer, ensure_event_shape};
use super::mask::ImageMask;
use crate::error::Result;

/// Configuration of an [`AffineCoupling2d`] on `[N, C, H, W]` images.
#[derive(Config, Debug)]
pub struct AffineCoupling2dConfig {
    /// Channels `C`.
    pub channels: usize,
    /// Height `H` (the mask is built for this size).
    pub height: usize,
    /// Width `W`.
    pub width: usize,
    /// Hidden channels of the conditioner.
    pub hidden: usize,
    /// Checkerboard or channel mask.
    #[config(default = "ImageMask::Channel")]
    pub mask: ImageMask,
    /// Swap the conditioning and transformed parts.
    #[config(default = false)]
    pub flip: bool,
    /// Soft clamp `c > 0` of the log-scale: `s = c · tanh(ŝ / c)`.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
}

/// RealNVP affine coupling on images: `[t̂, ŝ] = ConvNet(m ⊙ x)` (`C → 2C` channels), then
///
/// ```text
/// s = (1 − m) ⊙ c·tanh(ŝ / c),  t = (1 − m) ⊙ t̂,  y = x ⊙ exp(s) + t,  log|det J| = Σ s
/// ```
///
/// Shapes: `[N, C, H, W]` in and out; log-determinants `[N]`.
#[derive(Module, Debug)]
pub struct AffineCoupling2d {
    /// The conditioner `C → 2C`.
    pub net: ConvNet,
    /// The mask `[1, C, H, W]` (1 = conditioning); rebuilt by `init`, not trained.
    pub mask: Tensor<4>,
    /// The soft clamp `c`.
    pub scale_clamp: f64,
}

impl AffineCoupling2dConfig {
    /// Builds the layer; fails on empty shapes, a channel mask with `C < 2`, a zero hidden
    /// width or a bad clamp.
    pub fn init(&self, device: &Device) -> Result<AffineCoupling2d> {
        validate_clamp(self.scale_clamp)?;
        let mask = self.mask.build([self.channels, self.height, self.width], self.flip, device)?;
        let net = ConvNetConfig::new(self.channels, 2 * self.channels, self.hidden).init(device)?;
        Ok(AffineCoupling2d { net, mask, scale_clamp: self.scale_clamp })
    }
}

impl AffineCoupling2d {
    fn apply(&self, x: Tensor<4>, inverse: bool) -> Result<(Tensor<4>, Tensor<1>)> {
        let [_, c, h, w] = self.mask.dims();
        ensure_event_shape(&x, &[c, h, w], "image affine coupling input")?;
        let mask = self.mask.clone();
        let out = self.net.forward(x.clone().mul(mask.clone()));
        Ok(affine_couple(x, out, mask, self.scale_clamp, inverse))
    }
}

impl FlowLayer<4> for AffineCoupling2d {
    fn forward(&self, x: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        self.apply(x, false)
    }

    fn inverse(&self, y: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        self.apply(y, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, test_input};

    #[test]
    fn checkerboard_and_channel_couplings_are_exact() {
        let device = autodiff_device();
        for (mask, flip) in [(ImageMask::Checkerboard, false), (ImageMask::Channel, true)] {
            let layer = AffineCoupling2dConfig::new(2, 4, 4, 8)
                .with_mask(mask)
                .with_flip(flip)
                .init(&device)
                .unwrap();
            check_layer(&layer, test_input([2, 2, 4, 4], &device), 1e-4);
        }
    }

    #[test]
    fn wrong_image_size_is_an_error() {
        let device = autodiff_device();
        let layer = AffineCoupling2dConfig::new(2, 4, 4, 8).init(&device).unwrap();
        assert!(layer.forward(Tensor::zeros([1, 2, 4, 6], &device)).is_err());
    }
}

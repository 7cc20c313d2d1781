//! The convolutional conditioner network of the image coupling layers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use medgen_core::CoreError;

use crate::error::Result;

/// Configuration of a [`ConvNet`].
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// Input channels `C_in`.
    pub in_channels: usize,
    /// Output channels `C_out`.
    pub out_channels: usize,
    /// Hidden channels `h`.
    pub hidden: usize,
}

/// The Glow/RealNVP coupling network:
/// `y = Conv3×3(ReLU(Conv1×1(ReLU(Conv3×3(x)))))` with `C_in → h → h → C_out` channels and
/// "same" padding.
///
/// Shapes: `x` `[N, C_in, H, W]` → `y` `[N, C_out, H, W]`.
#[derive(Module, Debug)]
pub struct ConvNet {
    /// `C_in → h`, 3×3.
    pub conv_in: Conv2d,
    /// `h → h`, 1×1.
    pub conv_mid: Conv2d,
    /// `h → C_out`, 3×3.
    pub conv_out: Conv2d,
}

impl ConvNetConfig {
    /// Builds the network; fails on a zero channel count.
    pub fn init(&self, device: &Device) -> Result<ConvNet> {
        for (name, value) in [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("hidden", self.hidden),
        ] {
            if value == 0 {
                return Err(CoreError::config(name, "must be positive").into());
            }
        }
        let conv = |channels: [usize; 2], k: usize| {
            Conv2dConfig::new(channels, [k, k]).with_padding(PaddingConfig2d::Same).init(device)
        };
        Ok(ConvNet {
            conv_in: conv([self.in_channels, self.hidden], 3),
            conv_mid: conv([self.hidden, self.hidden], 1),
            conv_out: conv([self.hidden, self.out_channels], 3),
        })
    }
}

impl ConvNet {
    /// Applies the network: `[N, C_in, H, W]` → `[N, C_out, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = relu(self.conv_in.forward(x));
        let h = relu(self.conv_mid.forward(h));
        self.conv_out.forward(h)
    }
}

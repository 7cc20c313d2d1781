//! One step of flow of Glow: ActNorm, invertible 1×1 convolution, affine coupling.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::act_norm::{ActNorm, ActNormConfig};
use super::affine_coupling_2d::{AffineCoupling2d, AffineCoupling2dConfig};
use super::inv_conv::{InvConv1x1, InvConv1x1Config};
use super::layer::FlowLayer;
use super::mask::ImageMask;
use crate::error::Result;

/// Configuration of a [`GlowStep`] on `[N, C, H, W]`.
#[derive(Config, Debug)]
pub struct GlowStepConfig {
    /// Channels `C`.
    pub channels: usize,
    /// Height `H`.
    pub height: usize,
    /// Width `W`.
    pub width: usize,
    /// Hidden channels of the coupling network.
    pub hidden: usize,
    /// The coupling mask.
    #[config(default = "ImageMask::Channel")]
    pub mask: ImageMask,
    /// Flip the coupling mask.
    #[config(default = false)]
    pub flip: bool,
    /// Soft clamp of the coupling log-scale.
    #[config(default = 2.0)]
    pub scale_clamp: f64,
}

/// `y = Coupling(InvConv1x1(ActNorm(x)))`, with the sum of the three log-determinants.
/// Shapes: `[N, C, H, W]` in and out, log-determinants `[N]`.
#[derive(Module, Debug)]
pub struct GlowStep {
    /// Activation normalisation.
    pub act_norm: ActNorm,
    /// Channel mixing.
    pub inv_conv: InvConv1x1,
    /// Affine coupling.
    pub coupling: AffineCoupling2d,
}

impl GlowStepConfig {
    /// Builds the step; see the layer configurations for the errors.
    pub fn init(&self, device: &Device) -> Result<GlowStep> {
        Ok(GlowStep {
            act_norm: ActNormConfig::new(self.channels).init(device)?,
            inv_conv: InvConv1x1Config::new(self.channels).init(device)?,
            coupling: AffineCoupling2dConfig::new(
                self.channels,
                self.height,
                self.width,
                self.hidden,
            )
            .with_mask(self.mask)
            .with_flip(self.flip)
            .with_scale_clamp(self.scale_clamp)
            .init(device)?,
        })
    }
}

impl GlowStep {
    /// Initialises the ActNorm from the batch `x` it receives (see
    /// [`ActNorm::initialize`]).
    ///
    /// # Errors
    /// As [`ActNorm::initialize`].
    pub fn initialize(self, x: Tensor<4>) -> Result<Self> {
        Ok(Self { act_norm: self.act_norm.initialize(x)?, ..self })
    }
}

impl FlowLayer<4> for GlowStep {
    fn forward(&self, x: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        let (h, a) = self.act_norm.forward(x)?;
        let (h, b) = self.inv_conv.forward(h)?;
        let (y, c) = self.coupling.forward(h)?;
        Ok((y, a.add(b).add(c)))
    }

    fn inverse(&self, y: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        let (h, c) = self.coupling.inverse(y)?;
        let (h, b) = self.inv_conv.inverse(h)?;
        let (x, a) = self.act_norm.inverse(h)?;
        Ok((x, a.add(b).add(c)))
    }
}

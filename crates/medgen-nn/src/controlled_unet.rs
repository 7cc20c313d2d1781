//! A frozen U-Net steered by a ControlNet, as one time-conditioned network.

use burn::module::Module;
use burn::tensor::Tensor;

use super::controlnet::{ControlNet, check_scale};
use super::unet::UNet;
use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};
use medgen_core::network::TimeConditionedNetwork;

/// A frozen base [`UNet`] with a trainable [`ControlNet`] adding its residuals, at
/// conditioning scale `s` (diffusers' `controlnet_conditioning_scale`, default 1):
///
/// ```text
/// (down, mid) = ControlNet(x_t, t, c, control; s)
/// y           = UNet(x_t, t, c; skips + down, middle + mid)
/// ```
///
/// It implements [`TimeConditionedNetwork`], so every sampler (and classifier-free guidance,
/// which keeps the control image in both branches) takes it. The control image is
/// `Condition::control`; the rest of the condition goes to both networks.
///
/// [`ControlledUNet::new`] freezes the base (`Module::no_grad`: its parameters require no
/// gradient, so an optimiser leaves them alone), while gradients still flow through it to the
/// ControlNet. Training this module trains the ControlNet only.
///
/// # Example
/// ```
/// use medgen_core::burn::tensor::{Device, Tensor};
/// use medgen_core::{Condition, CoreError, TimeConditionedNetwork};
/// use medgen_nn::{ControlNetConfig, ControlledUNet, UNetConfig};
///
/// let device = Device::default();
/// let config = UNetConfig::new(1, 1)
///     .with_base_channels(8)
///     .with_channel_mults(vec![1, 2])
///     .with_num_res_blocks(1)
///     .with_attention_resolutions(vec![])
///     .with_middle_attention(false)
///     .with_groups(4);
/// let base = config.init(&device)?; // in practice: a trained U-Net
/// // A ControlNet reading a 1-channel mask, its encoder copied from the base.
/// let controlnet = ControlNetConfig::new(1).init_from_unet(&base, &device)?;
/// let net = ControlledUNet::new(base, controlnet)?.with_conditioning_scale(0.8)?;
///
/// let x = Tensor::<4>::zeros([2, 1, 8, 8], &device);
/// let t = Tensor::<1>::from_floats([10.0, 20.0], &device);
/// let condition = Condition::none().with_control(Tensor::<4>::ones([2, 1, 8, 8], &device));
/// let y = net.evaluate(x, t, &condition)?;
/// assert_eq!(y.dims(), [2, 1, 8, 8]);
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Module, Debug)]
pub struct ControlledUNet {
    base: UNet,
    controlnet: ControlNet,
    conditioning_scale: f64,
}

impl ControlledUNet {
    /// Freezes `base` and pairs it with `controlnet` at conditioning scale 1.
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `controlnet` when it was not built for `base`'s
    /// layout (spatial rank, input and conditioning-image channels, context width, skip and
    /// middle channels).
    pub fn new(base: UNet, controlnet: ControlNet) -> Result<Self> {
        let view = base.encoder_view();
        let fits = controlnet.spatial_dims() == base.spatial_dims()
            && controlnet.in_channels() == base.in_channels()
            && controlnet.cond_image_channels() == base.cond_image_channels()
            && controlnet.cross_attention_dim() == base.cross_attention_dim()
            && controlnet.skip_channels() == view.skip_channels()
            && controlnet.middle_channels() == view.middle_channels();
        if !fits {
            return Err(CoreError::config(
                "controlnet",
                format!(
                    "was not built for this U-Net: skip channels {:?} vs the U-Net's {:?} \
                     (spatial dims, input, image and context channels must match too)",
                    controlnet.skip_channels(),
                    view.skip_channels()
                ),
            ));
        }
        Ok(Self { base: base.no_grad(), controlnet, conditioning_scale: 1.0 })
    }

    /// The same network at conditioning scale `scale` (0 gives the base U-Net exactly).
    ///
    /// # Errors
    /// [`CoreError::InvalidConfig`] naming `conditioning_scale` when it is not finite.
    pub fn with_conditioning_scale(mut self, scale: f64) -> Result<Self> {
        check_scale(scale)?;
        self.conditioning_scale = scale;
        Ok(self)
    }

    /// The conditioning scale `s`.
    pub fn conditioning_scale(&self) -> f64 {
        self.conditioning_scale
    }

    /// The frozen base U-Net.
    pub fn base(&self) -> &UNet {
        &self.base
    }

    /// The ControlNet.
    pub fn controlnet(&self) -> &ControlNet {
        &self.controlnet
    }

    /// Takes the pair apart: `(base, controlnet)` (the base stays frozen).
    pub fn into_parts(self) -> (UNet, ControlNet) {
        (self.base, self.controlnet)
    }

    /// Evaluates the controlled network (see the type's formula).
    ///
    /// # Errors
    /// The errors of [`ControlNet::forward`] and [`UNet::forward_with_control`].
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        let residuals =
            self.controlnet.forward(x.clone(), t.clone(), condition, self.conditioning_scale)?;
        self.base.forward_with_control(x, t, condition, residuals)
    }
}

impl<const D: usize> TimeConditionedNetwork<D> for ControlledUNet {
    /// [`ControlledUNet::forward`].
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        self.forward(x_t, t, condition)
    }
}

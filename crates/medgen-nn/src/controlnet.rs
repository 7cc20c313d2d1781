//! ControlNet (Zhang et al., 2023): a trainable copy of the U-Net encoder that reads a control
//! image and returns residuals for a frozen U-Net's skip connections and middle block.

use burn::config::Config;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};

use super::attention::AttentionBlock;
use super::condition_embedding::ConditionEmbedding;
use super::control_residuals::ControlResiduals;
use super::controlnet_conditioning::{
    ControlNetConditioningEmbedding, ControlNetConditioningEmbeddingConfig,
};
use super::downsample::Downsample;
use super::null_context::NullContext;
use super::resblock::ResBlock;
use super::spatial_conv::{SpatialConv, SpatialConvConfig};
use super::spatial_transformer::SpatialTransformer;
use super::timestep::TimeEmbedding;
use super::unet::{UNet, UNetConfig};
use super::unet_block::UNetBlock;
use super::unet_encoder::{EncoderView, UNetEncoderParts};
use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};

/// Configuration of a [`ControlNet`] beside the [`UNetConfig`] of the U-Net it controls
/// (MONAI's `ControlNet` arguments that the U-Net does not have).
#[derive(Config, Debug)]
pub struct ControlNetConfig {
    /// Channels `C_hint` of the control image (MONAI's `conditioning_embedding_in_channels`).
    pub conditioning_embedding_in_channels: usize,
    /// Channels of the conditioning embedding's stages (MONAI's
    /// `conditioning_embedding_num_channels`): `K` entries make the control image `2^(K−1)`
    /// times larger than the sample on every axis. The default, one stage, takes a control image
    /// of the sample's size (pixel-space diffusion).
    #[config(default = "vec![16]")]
    pub conditioning_embedding_num_channels: Vec<usize>,
}

/// MONAI's `ControlNet` / diffusers' `ControlNetModel` for medgen's [`UNet`]:
///
/// ```text
/// e, context         as in the U-Net (same condition, same null condition)
/// h_0 = Conv3x3([x_t ; image]) + CondEmbedding(control)                 (skip 0)
/// h_1 … h_S          the U-Net's encoder levels and downsamplers        (skips 1..S)
/// h_mid              the U-Net's middle block
/// down_i = s · ZeroConv1x1_i(h_i),   mid = s · ZeroConv1x1_mid(h_mid)
/// ```
///
/// The encoder has the U-Net's layout (build it with [`ControlNetConfig::init`] from the
/// U-Net's configuration, or copy a trained U-Net's encoder with
/// [`ControlNetConfig::init_from_unet`]); the zero convolutions start at zero, so a fresh
/// ControlNet leaves the U-Net's output unchanged. The control image is read from
/// `Condition::control`, `[N, C_hint, *spatial · 2^(K−1)]`. [`ControlledUNet`] adds the
/// residuals to a frozen U-Net and is what samplers evaluate.
///
/// [`ControlledUNet`]: crate::ControlledUNet
#[derive(Module, Debug)]
pub struct ControlNet {
    time_embed: TimeEmbedding,
    condition_embed: ConditionEmbedding,
    null_context: Option<NullContext>,
    input_conv: SpatialConv,
    controlnet_cond_embedding: ControlNetConditioningEmbedding,
    encoder: Vec<Vec<UNetBlock>>,
    downsamplers: Vec<Downsample>,
    middle_in: ResBlock,
    middle_attention: Option<AttentionBlock>,
    middle_transformer: Option<SpatialTransformer>,
    middle_out: ResBlock,
    controlnet_down_blocks: Vec<SpatialConv>,
    controlnet_mid_block: SpatialConv,
    spatial_dims: usize,
    in_channels: usize,
    cond_image_channels: usize,
    size_multiple: usize,
}

impl ControlNetConfig {
    /// A ControlNet with freshly initialised weights for a U-Net built from `unet`.
    ///
    /// # Errors
    /// The configuration errors of [`UNetConfig::init`], and [`CoreError::InvalidConfig`]
    /// naming `conditioning_embedding_in_channels` (zero) or
    /// `conditioning_embedding_num_channels` (empty or with a zero entry).
    pub fn init(&self, unet: &UNetConfig, device: &Device) -> Result<ControlNet> {
        // Parameters are initialised lazily: the decoder built here is dropped undrawn.
        self.assemble(unet.init(device)?.into_encoder(), device)
    }

    /// A ControlNet whose encoder is a copy of `base`'s (MONAI's `copy_weights_to_controlnet`,
    /// diffusers' `ControlNetModel.from_unet`): the same values under new parameter ids, all
    /// trainable, whatever `base`'s gradient settings; the conditioning embedding and the zero
    /// convolutions are new.
    ///
    /// # Errors
    /// As [`ControlNetConfig::init`] for the ControlNet's own fields.
    pub fn init_from_unet(&self, base: &UNet, device: &Device) -> Result<ControlNet> {
        let copy = base.clone().to_device(device).map(&mut FreshParams);
        self.assemble(copy.into_encoder(), device)
    }

    fn assemble(&self, parts: UNetEncoderParts, device: &Device) -> Result<ControlNet> {
        if self.conditioning_embedding_in_channels == 0 {
            return Err(CoreError::config(
                "conditioning_embedding_in_channels",
                "must be positive",
            ));
        }
        let s = parts.spatial_dims;
        let base_channels = parts.input_conv.channels()[1];
        let controlnet_cond_embedding = ControlNetConditioningEmbeddingConfig::new(
            s,
            self.conditioning_embedding_in_channels,
            base_channels,
        )
        .with_num_channels(self.conditioning_embedding_num_channels.clone())
        .init(device)?;
        let zero_conv = |c: usize| {
            SpatialConvConfig::new(s, [c, c])
                .with_kernel_size(1)
                .with_padding(0)
                .init(device)
                .map(SpatialConv::zeroed)
        };
        let view = view_of(&parts);
        let controlnet_down_blocks =
            view.skip_channels().into_iter().map(zero_conv).collect::<Result<Vec<_>>>()?;
        let controlnet_mid_block = zero_conv(view.middle_channels())?;
        let UNetEncoderParts {
            time_embed,
            condition_embed,
            null_context,
            input_conv,
            encoder,
            downsamplers,
            middle_in,
            middle_attention,
            middle_transformer,
            middle_out,
            spatial_dims,
            in_channels,
            cond_image_channels,
            size_multiple,
        } = parts;
        Ok(ControlNet {
            time_embed,
            condition_embed,
            null_context,
            input_conv,
            controlnet_cond_embedding,
            encoder,
            downsamplers,
            middle_in,
            middle_attention,
            middle_transformer,
            middle_out,
            controlnet_down_blocks,
            controlnet_mid_block,
            spatial_dims,
            in_channels,
            cond_image_channels,
            size_multiple,
        })
    }
}

/// Gives every float parameter a new id (and makes it trainable), keeping its value.
struct FreshParams;

impl ModuleMapper for FreshParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        Param::from_tensor(param.val().detach())
    }
}

fn view_of(parts: &UNetEncoderParts) -> EncoderView<'_> {
    EncoderView {
        time_embed: &parts.time_embed,
        condition_embed: &parts.condition_embed,
        null_context: parts.null_context.as_ref(),
        input_conv: &parts.input_conv,
        encoder: &parts.encoder,
        downsamplers: &parts.downsamplers,
        middle_in: &parts.middle_in,
        middle_attention: parts.middle_attention.as_ref(),
        middle_transformer: parts.middle_transformer.as_ref(),
        middle_out: &parts.middle_out,
        spatial_dims: parts.spatial_dims,
        in_channels: parts.in_channels,
        cond_image_channels: parts.cond_image_channels,
        size_multiple: parts.size_multiple,
    }
}

impl ControlNet {
    fn view(&self) -> EncoderView<'_> {
        EncoderView {
            time_embed: &self.time_embed,
            condition_embed: &self.condition_embed,
            null_context: self.null_context.as_ref(),
            input_conv: &self.input_conv,
            encoder: &self.encoder,
            downsamplers: &self.downsamplers,
            middle_in: &self.middle_in,
            middle_attention: self.middle_attention.as_ref(),
            middle_transformer: self.middle_transformer.as_ref(),
            middle_out: &self.middle_out,
            spatial_dims: self.spatial_dims,
            in_channels: self.in_channels,
            cond_image_channels: self.cond_image_channels,
            size_multiple: self.size_multiple,
        }
    }

    /// Computes the residuals for the U-Net evaluated at `(x_t, t, condition)`, scaled by
    /// `conditioning_scale` (see the type's formula).
    ///
    /// # Errors
    /// The input errors of [`UNet::forward`] (the ControlNet takes the same `x_t`, `t` and
    /// condition); [`CoreError::InvalidConfig`] naming `condition.control` when the control
    /// image is missing and [`CoreError::ShapeMismatch`] naming it unless it is
    /// `[N, C_hint, *spatial · 2^(K−1)]`; [`CoreError::InvalidConfig`] naming
    /// `conditioning_scale` when it is not finite.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
        conditioning_scale: f64,
    ) -> Result<ControlResiduals<D>> {
        check_scale(conditioning_scale)?;
        let view = self.view();
        view.check_inputs(&x, &t, condition)?;
        let Some(control) = condition.control.clone() else {
            return Err(CoreError::config(
                "condition.control",
                "a ControlNet needs a control image (Condition::with_control)",
            ));
        };
        let mut expected = x.dims();
        expected[1] = self.controlnet_cond_embedding.in_channels();
        let factor = self.controlnet_cond_embedding.downsampling_factor();
        for size in &mut expected[2..] {
            *size *= factor;
        }
        if control.dims() != expected {
            return Err(CoreError::shape(
                "condition.control",
                format!("{expected:?}"),
                &control.dims(),
            ));
        }
        let hint = self.controlnet_cond_embedding.forward(control);
        let add_hint = move |h: Tensor<D>| -> Result<Tensor<D>> { Ok(h.add(hint.clone())) };
        let encoded = view.encode(x, t, condition, Some(&add_hint))?;
        let down = encoded
            .skips
            .into_iter()
            .zip(&self.controlnet_down_blocks)
            .map(|(h, conv)| conv.forward(h).mul_scalar(conditioning_scale))
            .collect();
        let mid = self.controlnet_mid_block.forward(encoded.middle).mul_scalar(conditioning_scale);
        Ok(ControlResiduals { down, mid })
    }

    /// The zero convolutions, one per skip connection of the U-Net (in push order).
    pub fn controlnet_down_blocks(&self) -> &[SpatialConv] {
        &self.controlnet_down_blocks
    }

    /// Mutable access to the zero convolutions of the skips (e.g. to load or perturb them).
    pub fn controlnet_down_blocks_mut(&mut self) -> &mut [SpatialConv] {
        &mut self.controlnet_down_blocks
    }

    /// The zero convolution of the middle block.
    pub fn controlnet_mid_block(&self) -> &SpatialConv {
        &self.controlnet_mid_block
    }

    /// Mutable access to the zero convolution of the middle block.
    pub fn controlnet_mid_block_mut(&mut self) -> &mut SpatialConv {
        &mut self.controlnet_mid_block
    }

    /// The conditioning embedding of the control image.
    pub fn controlnet_cond_embedding(&self) -> &ControlNetConditioningEmbedding {
        &self.controlnet_cond_embedding
    }

    /// The channels of the skip connections it produces residuals for (push order).
    pub fn skip_channels(&self) -> Vec<usize> {
        self.view().skip_channels()
    }

    /// Number of spatial axes (2 or 3).
    pub fn spatial_dims(&self) -> usize {
        self.spatial_dims
    }

    /// Channels of the sample `x_t`.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Channels of the conditioning image concatenated to `x_t` (0 when none).
    pub fn cond_image_channels(&self) -> usize {
        self.cond_image_channels
    }

    /// The width `E` of the context tokens, for a copy of a U-Net built with `cross_attention_dim`.
    pub fn cross_attention_dim(&self) -> Option<usize> {
        self.null_context.as_ref().map(NullContext::cross_attention_dim)
    }

    /// The channels of the middle block's output.
    pub fn middle_channels(&self) -> usize {
        self.view().middle_channels()
    }
}

/// Fails unless the conditioning scale is finite.
pub(crate) fn check_scale(scale: f64) -> Result<()> {
    if scale.is_finite() {
        Ok(())
    } else {
        Err(CoreError::config("conditioning_scale", format!("must be finite, got {scale}")))
    }
}

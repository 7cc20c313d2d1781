//! The encoder half of the U-Net (input checks, embeddings, input convolution, encoder levels
//! and middle block), written once for the U-Net and for the ControlNet that copies it.

use burn::tensor::Tensor;

use super::attention::AttentionBlock;
use super::condition_embedding::ConditionEmbedding;
use super::downsample::Downsample;
use super::null_context::{AttentionContext, NullContext};
use super::resblock::ResBlock;
use super::spatial_conv::SpatialConv;
use super::spatial_transformer::SpatialTransformer;
use super::timestep::TimeEmbedding;
use super::unet_block::UNetBlock;
use medgen_core::check::ensure_non_empty;
use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};

/// Borrowed parts of a U-Net encoder (the U-Net's own, or a ControlNet's trainable copy).
pub(crate) struct EncoderView<'a> {
    pub(crate) time_embed: &'a TimeEmbedding,
    pub(crate) condition_embed: &'a ConditionEmbedding,
    pub(crate) null_context: Option<&'a NullContext>,
    pub(crate) input_conv: &'a SpatialConv,
    pub(crate) encoder: &'a [Vec<UNetBlock>],
    pub(crate) downsamplers: &'a [Downsample],
    pub(crate) middle_in: &'a ResBlock,
    pub(crate) middle_attention: Option<&'a AttentionBlock>,
    pub(crate) middle_transformer: Option<&'a SpatialTransformer>,
    pub(crate) middle_out: &'a ResBlock,
    pub(crate) spatial_dims: usize,
    pub(crate) in_channels: usize,
    pub(crate) cond_image_channels: usize,
    pub(crate) size_multiple: usize,
}

/// What the encoder hands to the decoder: the embedding, the resolved context, the middle
/// block's output and the skip connections (input convolution, every encoder block and every
/// downsampler, in that order).
pub(crate) struct Encoded<const D: usize> {
    pub(crate) emb: Tensor<2>,
    pub(crate) context: Option<AttentionContext>,
    pub(crate) middle: Tensor<D>,
    pub(crate) skips: Vec<Tensor<D>>,
}

impl EncoderView<'_> {
    /// Checks the inputs, embeds time and condition, and runs the encoder and the middle block;
    /// `after_input` (a ControlNet's embedded hint) is added to the input convolution's output.
    pub(crate) fn encode<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
        after_input: Option<&dyn Fn(Tensor<D>) -> Result<Tensor<D>>>,
    ) -> Result<Encoded<D>> {
        let batch = self.check_inputs(&x, &t, condition)?;
        let emb = self.time_embed.forward(t);
        let emb = match self.condition_embed.forward(condition, batch)? {
            Some(c) => emb.add(c),
            None => emb,
        };
        let context = self.null_context.map(|n| n.resolve(condition, batch)).transpose()?;
        let x = match &condition.image {
            Some(image) => Tensor::cat(vec![x, image.clone()], 1),
            None => x,
        };

        let mut h = self.input_conv.forward(x);
        if let Some(add) = after_input {
            h = add(h)?;
        }
        let mut skips = vec![h.clone()];
        for (level, blocks) in self.encoder.iter().enumerate() {
            for block in blocks {
                h = block.forward(h, emb.clone(), context.as_ref());
                skips.push(h.clone());
            }
            if let Some(down) = self.downsamplers.get(level) {
                h = down.forward(h);
                skips.push(h.clone());
            }
        }

        h = self.middle_in.forward(h, emb.clone());
        if let Some(attention) = self.middle_attention {
            h = attention.forward(h);
        }
        if let (Some(transformer), Some(context)) = (self.middle_transformer, &context) {
            h = transformer.forward(h, context);
        }
        h = self.middle_out.forward(h, emb.clone());
        Ok(Encoded { emb, context, middle: h, skips })
    }

    /// The channels of the skip connections, in the order [`Encoded::skips`] holds them.
    pub(crate) fn skip_channels(&self) -> Vec<usize> {
        let mut channels = vec![self.input_conv.channels()[1]];
        for (level, blocks) in self.encoder.iter().enumerate() {
            for block in blocks {
                channels.push(block.res.conv_out.channels()[1]);
            }
            if let Some(down) = self.downsamplers.get(level) {
                channels.push(down.conv.channels()[1]);
            }
        }
        channels
    }

    /// The channels of the middle block's output.
    pub(crate) fn middle_channels(&self) -> usize {
        self.middle_out.conv_out.channels()[1]
    }

    /// Validates the inputs' ranks and shapes (host metadata only) and returns the batch size.
    pub(crate) fn check_inputs<const D: usize>(
        &self,
        x: &Tensor<D>,
        t: &Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<usize> {
        let rank = self.spatial_dims + 2;
        if D != rank {
            return Err(CoreError::InvalidRank { what: "x_t".into(), expected: rank, got: D });
        }
        let dims = x.dims();
        ensure_non_empty(&dims, "x_t")?;
        let batch = dims[0];
        let multiple = self.size_multiple;
        if dims[1] != self.in_channels || dims[2..].iter().any(|n| !n.is_multiple_of(multiple)) {
            return Err(CoreError::shape(
                "x_t",
                format!(
                    "[N, {}, *spatial] with spatial sizes multiples of {multiple}",
                    self.in_channels
                ),
                &dims,
            ));
        }
        if t.dims() != [batch] {
            return Err(CoreError::shape("t", format!("[N] = [{batch}]"), &t.dims()));
        }
        condition.ensure_batch_size(batch)?;
        if self.null_context.is_none() && condition.context.is_some() {
            return Err(CoreError::config(
                "condition.context",
                "the network was built without `cross_attention_dim` (no cross-attention)",
            ));
        }
        if self.null_context.is_none() && condition.context_mask.is_some() {
            return Err(CoreError::config(
                "condition.context_mask",
                "the network was built without `cross_attention_dim` (no cross-attention)",
            ));
        }
        match (&condition.image, self.cond_image_channels) {
            (None, 0) => {}
            (Some(_), 0) => {
                return Err(CoreError::config(
                    "condition.image",
                    "the network was built with cond_image_channels = 0",
                ));
            }
            (None, c) => {
                return Err(CoreError::config(
                    "condition.image",
                    format!("the network needs a conditioning image with {c} channels"),
                ));
            }
            (Some(image), c) => {
                let mut expected = dims;
                expected[1] = c;
                if image.dims() != expected {
                    return Err(CoreError::shape(
                        "condition.image",
                        format!("{expected:?}"),
                        &image.dims(),
                    ));
                }
            }
        }
        Ok(batch)
    }
}

/// The encoder half of a U-Net, owned: what a ControlNet copies.
pub(crate) struct UNetEncoderParts {
    pub(crate) time_embed: TimeEmbedding,
    pub(crate) condition_embed: ConditionEmbedding,
    pub(crate) null_context: Option<NullContext>,
    pub(crate) input_conv: SpatialConv,
    pub(crate) encoder: Vec<Vec<UNetBlock>>,
    pub(crate) downsamplers: Vec<Downsample>,
    pub(crate) middle_in: ResBlock,
    pub(crate) middle_attention: Option<AttentionBlock>,
    pub(crate) middle_transformer: Option<SpatialTransformer>,
    pub(crate) middle_out: ResBlock,
    pub(crate) spatial_dims: usize,
    pub(crate) in_channels: usize,
    pub(crate) cond_image_channels: usize,
    pub(crate) size_multiple: usize,
}

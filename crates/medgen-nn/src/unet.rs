//! The time-conditioned U-Net (DDPM / improved-DDPM / guided-diffusion design) for 2D images
//! and 3D volumes, with class, vector and image conditioning.

use burn::config::Config;
use burn::module::Module;
use burn::nn::GroupNorm;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::attention::{AttentionBlock, AttentionBlockConfig};
use super::condition_embedding::{ConditionEmbedding, ConditionEmbeddingConfig};
use super::control_residuals::ControlResiduals;
use super::downsample::{Downsample, DownsampleConfig};
use super::group_norm::group_norm_config;
use super::null_context::{NullContext, NullContextConfig};
use super::resblock::{ResBlock, ResBlockConfig};
use super::spatial_conv::{SpatialConv, SpatialConvConfig, check_spatial_dims};
use super::spatial_transformer::{SpatialTransformer, SpatialTransformerConfig};
use super::timestep::{TimeEmbedding, TimeEmbeddingConfig};
use super::unet_block::UNetBlock;
use super::unet_encoder::{Encoded, EncoderView, UNetEncoderParts};
use super::upsample::{Upsample, UpsampleConfig};
use medgen_core::condition::Condition;
use medgen_core::error::{CoreError, Result};
use medgen_core::network::TimeConditionedNetwork;

/// The most levels a [`UNetConfig`] may have (a 3D input would need sides of `2^15` voxels).
const MAX_LEVELS: usize = 16;

/// The most channels a level may have (a guard against overflow in the channel arithmetic).
const MAX_CHANNELS: usize = 1 << 20;

/// Configuration of a [`UNet`]; `UNetConfig::new(in_channels, out_channels)` with the defaults
/// is the [benchmark](UNetConfig::benchmark) architecture.
///
/// With `B = base_channels`, level `l` (`l = 0..L`, `L = channel_mults.len()`) works at
/// downsampling factor `2^l` with `B · channel_mults[l]` channels. The time embedding has
/// width `4B` (sinusoidal features of width `B`).
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Channels of the sample `x_t`.
    pub in_channels: usize,
    /// Channels of the output.
    pub out_channels: usize,
    /// Number of spatial axes: 2 (`[N, C, H, W]`) or 3 (`[N, C, D, H, W]`).
    #[config(default = 2)]
    pub spatial_dims: usize,
    /// Base channel count `B` (even: it is also the sinusoidal width).
    #[config(default = 32)]
    pub base_channels: usize,
    /// Channel multiplier of each level (non-empty); the spatial size is halved between levels.
    #[config(default = "vec![1, 2, 2]")]
    pub channel_mults: Vec<usize>,
    /// Residual blocks per encoder level (the decoder has one more per level).
    #[config(default = 2)]
    pub num_res_blocks: usize,
    /// Downsampling factors (`2^l` for level `l`) of the levels whose blocks are followed by
    /// self-attention, as in guided-diffusion's internal `attention_resolutions`. For a 32x32
    /// input, factor 4 means attention at resolution 8.
    #[config(default = "vec![4]")]
    pub attention_resolutions: Vec<usize>,
    /// Whether the middle block is `(res, attention, res)` rather than `(res, res)`.
    #[config(default = true)]
    pub middle_attention: bool,
    /// Attention heads (must divide the channels of every level with attention).
    #[config(default = 1)]
    pub num_heads: usize,
    /// Dropout probability inside residual blocks, in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Groups of every group norm (must divide `B · m` for every multiplier `m`).
    #[config(default = 8)]
    pub groups: usize,
    /// Number of classes, for class conditioning with a learned null class (classifier-free
    /// guidance).
    pub num_classes: Option<usize>,
    /// Width of a conditioning vector `[N, E_c]` (covariates), projected into the time
    /// embedding, with a learned null vector.
    pub embedding_dim: Option<usize>,
    /// Channels of a conditioning image concatenated to `x_t` on the channel axis (0: none).
    #[config(default = 0)]
    pub cond_image_channels: usize,
    /// Longest period of the sinusoidal time features.
    #[config(default = 10000.0)]
    pub max_period: f64,
    /// Width `E` of the context tokens (MONAI's `cross_attention_dim`); `Some(E)` turns on
    /// cross-attention conditioning (MONAI's `with_conditioning=True`): the attention blocks at
    /// `attention_resolutions` (and in the middle, with `middle_attention`) become
    /// [`SpatialTransformer`]s attending to `Condition::context` `[N, L, E]`, and the network
    /// learns a null context for classifier-free guidance. `None` (the default) is the plain
    /// U-Net. (There is no separate `with_conditioning` flag, so configurations saved before
    /// these options existed still load; [`UNetConfig::has_cross_attention`] reads it.)
    #[config(default = "None")]
    pub cross_attention_dim: Option<usize>,
    /// Channels per head of the spatial transformers (MONAI's `num_head_channels`; must divide
    /// the channels of every level with a transformer); `None` uses `num_heads` heads. The
    /// self-attention blocks of a network without cross-attention always use `num_heads`.
    #[config(default = "None")]
    pub num_head_channels: Option<usize>,
    /// Transformer blocks per spatial transformer (MONAI's `transformer_num_layers`); `None`
    /// means 1, MONAI's default.
    #[config(default = "None")]
    pub transformer_num_layers: Option<usize>,
}

/// A time-conditioned U-Net, `f_θ(x_t, t, c)`, in 2D or 3D from one design:
///
/// ```text
/// e   = TimeMLP(sinusoidal(t)) + ClassEmb(y; keep) + VecEmb(v; keep)        [N, 4B]
/// h   = Conv3x3([x_t ; image])                                                 (skip)
/// encoder, level l = 0..L:  num_res_blocks × (ResBlock(e) [+ Attention])      (skip each)
///                           Downsample (stride-2 conv), except after the last   (skip)
/// middle:                   ResBlock, Attention, ResBlock
/// decoder, level l = L−1..0: (num_res_blocks + 1) × (ResBlock([h ; skip], e) [+ Attention])
///                           Upsample (nearest ×2, Conv3x3), except after level 0
/// y   = Conv3x3(SiLU(GN(h)))
/// ```
///
/// The skip scheme is DDPM's: the input convolution's output and every encoder block and
/// downsample output are pushed, and every decoder block pops one and concatenates it on
/// channels. Blocks: [`ResBlock`] (adaptive group norm), [`AttentionBlock`], [`Downsample`],
/// [`Upsample`], [`ConditionEmbedding`].
///
/// With `cross_attention_dim` set (MONAI's `with_conditioning`), every "Attention" above is a
/// [`SpatialTransformer`] (self-attention, cross-attention to the context resolved by
/// [`NullContext`], feed-forward) instead.
/// [`UNet::forward_with_control`] adds a ControlNet's residuals to the skips and to the middle
/// block's output.
///
/// Shapes: `x_t` `[N, C_in, *spatial]` with every spatial size divisible by `2^(L−1)`, `t`
/// `[N]`, output `[N, C_out, *spatial]`. Parameters are initialised by Burn's defaults from
/// the device's generator; build through `medgen_core::init_seeded` so that they come from
/// your seeded generator.
///
/// # Example
/// ```
/// use medgen_core::burn::tensor::{Device, Tensor};
/// use medgen_nn::UNetConfig;
/// use medgen_core::{Condition, CoreError};
///
/// let device = Device::default();
/// let unet = UNetConfig::new(1, 1)
///     .with_base_channels(8)
///     .with_channel_mults(vec![1, 2])
///     .with_attention_resolutions(vec![2])
///     .with_groups(4)
///     .init(&device)?;
/// let x = Tensor::<4>::zeros([2, 1, 8, 8], &device);
/// let t = Tensor::<1>::from_floats([10.0, 20.0], &device);
/// let y = unet.forward(x, t, &Condition::none())?;
/// assert_eq!(y.dims(), [2, 1, 8, 8]);
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Module, Debug)]
pub struct UNet {
    time_embed: TimeEmbedding,
    condition_embed: ConditionEmbedding,
    null_context: Option<NullContext>,
    input_conv: SpatialConv,
    encoder: Vec<Vec<UNetBlock>>,
    downsamplers: Vec<Downsample>,
    middle_in: ResBlock,
    middle_attention: Option<AttentionBlock>,
    middle_transformer: Option<SpatialTransformer>,
    middle_out: ResBlock,
    decoder: Vec<Vec<UNetBlock>>,
    upsamplers: Vec<Upsample>,
    out_norm: GroupNorm,
    out_conv: SpatialConv,
    spatial_dims: usize,
    in_channels: usize,
    out_channels: usize,
    cond_image_channels: usize,
    size_multiple: usize,
}

impl UNetConfig {
    /// A small U-Net for `channels`-channel 2D images of 32 × 32 or 64 × 64 pixels that
    /// trains in minutes on a CPU: base width 16, widths `16 · [1, 2, 2]`, one residual
    /// block per level, no attention, 8 groups (the quickstart's network).
    pub fn small(channels: usize) -> Self {
        Self::new(channels, channels)
            .with_base_channels(16)
            .with_channel_mults(vec![1, 2, 2])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![])
            .with_middle_attention(false)
            .with_groups(8)
    }

    /// The benchmark U-Net, 1,742,881 parameters: 1 → 1 channels, 2D, `B = 32`, multipliers
    /// (1, 2, 2), 2 residual blocks per level, 8 groups, single-head attention at factor 4
    /// (resolution 8 of a 32x32 input) and in the middle, no dropout, no conditioning.
    ///
    /// The count, by part (`E = 128`; a residual block `c_in → c_out` has
    /// `2c_in + (9c_in c_out + c_out) + (2E c_out + 2c_out) + 2c_out + (9c_out² + c_out)`
    /// `+ [c_in ≠ c_out](c_in c_out + c_out)` parameters, an attention block over `c` channels
    /// `2c + (3c² + 3c) + (c² + c)`):
    ///
    /// | part | parameters |
    /// |---|---|
    /// | time MLP: Linear(32,128), Linear(128,128) | 4,224 + 16,512 = 20,736 |
    /// | input conv 1 → 32 | 320 |
    /// | level 0: 2 × Res(32,32) + Down(32) | 2 × 26,880 + 9,248 = 63,008 |
    /// | level 1: Res(32,64) + Res(64,64) + Down(64) | 74,240 + 90,624 + 36,928 = 201,792 |
    /// | level 2: 2 × (Res(64,64) + Attn(64)) | 2 × (90,624 + 16,768) = 214,784 |
    /// | middle: Res(64,64), Attn(64), Res(64,64) | 198,016 |
    /// | decoder level 2: 3 × (Res(128,64) + Attn(64)) + Up(64) | 3 × (135,872 + 16,768) + 36,928 = 494,848 |
    /// | decoder level 1: 2 × Res(128,64) + Res(96,64) + Up(64) | 2 × 135,872 + 115,328 + 36,928 = 424,000 |
    /// | decoder level 0: Res(96,32) + 2 × Res(64,32) | 48,544 + 2 × 38,240 = 125,024 |
    /// | output GN(32) + conv 32 → 1 | 64 + 289 = 353 |
    /// | **total** | **1,742,881** |
    pub fn benchmark() -> Self {
        Self::new(1, 1)
            .with_spatial_dims(2)
            .with_base_channels(32)
            .with_channel_mults(vec![1, 2, 2])
            .with_num_res_blocks(2)
            .with_attention_resolutions(vec![4])
            .with_middle_attention(true)
            .with_num_heads(1)
            .with_dropout(0.0)
            .with_groups(8)
            .with_num_classes(None)
            .with_embedding_dim(None)
            .with_cond_image_channels(0)
    }

    /// Checks every field; [`UNetConfig::init`] calls it first.
    pub fn validate(&self) -> Result<()> {
        check_spatial_dims(self.spatial_dims)?;
        let io = [self.in_channels, self.out_channels, self.cond_image_channels.saturating_add(1)];
        if io.iter().any(|&c| c == 0 || c > MAX_CHANNELS) {
            return Err(CoreError::config(
                "in_channels/out_channels/cond_image_channels",
                format!("must lie in 1..={MAX_CHANNELS} (0 allowed for cond_image_channels)"),
            ));
        }
        if self.base_channels < 2 || !self.base_channels.is_multiple_of(2) {
            return Err(CoreError::config(
                "base_channels",
                format!(
                    "must be even and positive (it is the sinusoidal width), got {}",
                    self.base_channels
                ),
            ));
        }
        if self.channel_mults.is_empty() || self.channel_mults.contains(&0) {
            return Err(CoreError::config(
                "channel_mults",
                "must be non-empty with positive entries",
            ));
        }
        if self.channel_mults.len() > MAX_LEVELS {
            return Err(CoreError::config("channel_mults", format!("at most {MAX_LEVELS} levels")));
        }
        if self.num_res_blocks == 0 {
            return Err(CoreError::config("num_res_blocks", "must be at least 1"));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(CoreError::config(
                "dropout",
                format!("must lie in [0, 1), got {}", self.dropout),
            ));
        }
        if !(self.max_period.is_finite() && self.max_period > 1.0) {
            return Err(CoreError::config(
                "max_period",
                format!("must be finite and > 1, got {}", self.max_period),
            ));
        }
        if self.num_classes == Some(0) || self.embedding_dim == Some(0) {
            return Err(CoreError::config(
                "num_classes/embedding_dim",
                "must be positive when set",
            ));
        }
        if self.cross_attention_dim == Some(0) {
            return Err(CoreError::config("cross_attention_dim", "must be positive when set"));
        }
        if self.has_cross_attention()
            && self.attention_resolutions.is_empty()
            && !self.middle_attention
        {
            return Err(CoreError::config(
                "cross_attention_dim",
                "cross-attention needs attention sites: set `attention_resolutions` or \
                 `middle_attention`",
            ));
        }
        if self.transformer_num_layers == Some(0) {
            return Err(CoreError::config("transformer_num_layers", "must be at least 1"));
        }
        let levels = self.channel_mults.len();
        for &factor in &self.attention_resolutions {
            if !factor.is_power_of_two() || factor.trailing_zeros() as usize >= levels {
                return Err(CoreError::config(
                    "attention_resolutions",
                    format!("{factor} is not the downsampling factor 2^l of a level l < {levels}"),
                ));
            }
        }
        for (level, &mult) in self.channel_mults.iter().enumerate() {
            let channels =
                self.base_channels.checked_mul(mult).filter(|&c| c <= MAX_CHANNELS).ok_or_else(
                    || {
                        CoreError::config(
                            "channel_mults",
                            format!("level {level} would have more than {MAX_CHANNELS} channels"),
                        )
                    },
                )?;
            if self.groups == 0 || !channels.is_multiple_of(self.groups) {
                return Err(CoreError::config(
                    "groups",
                    format!(
                        "{} groups must divide the {channels} channels of level {level}",
                        self.groups
                    ),
                ));
            }
            let attends =
                self.has_attention(level) || (self.middle_attention && level + 1 == levels);
            if attends && self.has_cross_attention() {
                self.transformer(channels).heads()?;
            } else if attends && (self.num_heads == 0 || !channels.is_multiple_of(self.num_heads)) {
                return Err(CoreError::config(
                    "num_heads",
                    format!(
                        "{} heads must divide the {channels} channels of level {level}",
                        self.num_heads
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the blocks of `level` are followed by attention.
    fn has_attention(&self, level: usize) -> bool {
        self.attention_resolutions.contains(&(1 << level))
    }

    /// Whether the network has cross-attention (MONAI's `with_conditioning`): whether
    /// `cross_attention_dim` is set.
    pub fn has_cross_attention(&self) -> bool {
        self.cross_attention_dim.is_some()
    }

    /// The spatial transformer over `channels` channels of a network with cross-attention.
    fn transformer(&self, channels: usize) -> SpatialTransformerConfig {
        SpatialTransformerConfig::new(
            self.spatial_dims,
            channels,
            self.cross_attention_dim.unwrap_or(0),
        )
        .with_num_heads(self.num_heads)
        .with_num_head_channels(self.num_head_channels)
        .with_num_layers(self.transformer_num_layers.unwrap_or(1))
        .with_groups(self.groups)
    }

    /// Builds the U-Net on `device` after [validating](UNetConfig::validate) the configuration.
    pub fn init(&self, device: &Device) -> Result<UNet> {
        self.validate()?;
        let s = self.spatial_dims;
        let base = self.base_channels;
        let emb_dim = 4 * base;
        let levels = self.channel_mults.len();
        let res = |c_in: usize, c_out: usize| {
            ResBlockConfig::new(s, c_in, c_out, emb_dim)
                .with_groups(self.groups)
                .with_dropout(self.dropout)
        };
        let attention = |channels: usize| {
            AttentionBlockConfig::new(s, channels)
                .with_num_heads(self.num_heads)
                .with_groups(self.groups)
        };
        let cross = self.has_cross_attention();
        let block = |c_in: usize, c_out: usize, level: usize| {
            let attends = self.has_attention(level);
            let attn = (attends && !cross).then(|| attention(c_out));
            let transformer = (attends && cross).then(|| self.transformer(c_out));
            UNetBlock::init(&res(c_in, c_out), attn.as_ref(), transformer.as_ref(), device)
        };

        let mut skip_channels = vec![base];
        let mut ch = base;
        let mut encoder = Vec::with_capacity(levels);
        let mut downsamplers = Vec::with_capacity(levels - 1);
        for (level, &mult) in self.channel_mults.iter().enumerate() {
            let out = base * mult;
            let mut blocks = Vec::with_capacity(self.num_res_blocks);
            for _ in 0..self.num_res_blocks {
                blocks.push(block(ch, out, level)?);
                ch = out;
                skip_channels.push(ch);
            }
            encoder.push(blocks);
            if level + 1 < levels {
                downsamplers.push(DownsampleConfig::new(s, ch).init(device)?);
                skip_channels.push(ch);
            }
        }

        let middle_in = res(ch, ch).init(device)?;
        let middle_attention =
            (self.middle_attention && !cross).then(|| attention(ch).init(device)).transpose()?;
        let middle_transformer = (self.middle_attention && cross)
            .then(|| self.transformer(ch).init(device))
            .transpose()?;
        let middle_out = res(ch, ch).init(device)?;

        let mut decoder = Vec::with_capacity(levels);
        let mut upsamplers = Vec::with_capacity(levels - 1);
        for (level, &mult) in self.channel_mults.iter().enumerate().rev() {
            let out = base * mult;
            let mut blocks = Vec::with_capacity(self.num_res_blocks + 1);
            for _ in 0..=self.num_res_blocks {
                let skip =
                    skip_channels.pop().expect("the encoder pushes one skip per decoder block");
                blocks.push(block(ch + skip, out, level)?);
                ch = out;
            }
            decoder.push(blocks);
            if level > 0 {
                upsamplers.push(UpsampleConfig::new(s, ch).init(device)?);
            }
        }

        Ok(UNet {
            time_embed: TimeEmbeddingConfig::new(base, emb_dim)
                .with_max_period(self.max_period)
                .init(device)?,
            condition_embed: ConditionEmbeddingConfig::new(emb_dim)
                .with_num_classes(self.num_classes)
                .with_embedding_dim(self.embedding_dim)
                .init(device)?,
            null_context: self
                .cross_attention_dim
                .map(|e| NullContextConfig::new(e).init(device))
                .transpose()?,
            input_conv: SpatialConvConfig::new(
                s,
                [self.in_channels + self.cond_image_channels, base],
            )
            .init(device)?,
            encoder,
            downsamplers,
            middle_in,
            middle_attention,
            middle_transformer,
            middle_out,
            decoder,
            upsamplers,
            out_norm: group_norm_config(self.groups, ch)?.init(device),
            out_conv: SpatialConvConfig::new(s, [ch, self.out_channels]).init(device)?,
            spatial_dims: s,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            cond_image_channels: self.cond_image_channels,
            size_multiple: 1 << (levels - 1),
        })
    }
}

impl UNet {
    /// Evaluates `f_θ(x_t, t, c)`: `x_t` `[N, C_in, *spatial]`, `t` `[N]` → `[N, C_out, *spatial]`.
    ///
    /// Fails with a typed error (never panics) when the rank is not `spatial_dims + 2`, the
    /// channels differ from `in_channels`, a spatial size is not a multiple of `2^(L−1)`, the
    /// batch is empty, `t` or a condition part has another batch size, or a condition part is
    /// missing, unexpected or misshapen (a context must be `[N, L, cross_attention_dim]`, its
    /// mask `[N, L]`). `condition.keep` switches the class, vector and context parts to their
    /// learned nulls (it has nothing to act on in a network without them; a conditioning image
    /// is always used; `condition.control` is ignored, it is read by a ControlNet). Values are
    /// not inspected (that would read them back to the host): NaN in gives NaN out, and class
    /// labels are clamped to `0..num_classes`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        let encoded = self.encoder_view().encode(x, t, condition, None)?;
        Ok(self.decode(encoded))
    }

    /// Evaluates the network with a ControlNet's residuals added (diffusers'
    /// `down_block_additional_residuals` and `mid_block_additional_residual`):
    ///
    /// ```text
    /// skip_i ← skip_i + down_i        for every skip connection i (in push order)
    /// middle ← middle + mid
    /// ```
    ///
    /// # Errors
    /// The errors of [`UNet::forward`]; [`CoreError::ShapeMismatch`] naming
    /// `control.down_residuals` when their number differs from the number of skips, naming
    /// `control.down_residuals[i]` or `control.mid_residual` when a shape differs from the
    /// tensor it is added to.
    pub fn forward_with_control<const D: usize>(
        &self,
        x: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
        control: ControlResiduals<D>,
    ) -> Result<Tensor<D>> {
        let mut encoded = self.encoder_view().encode(x, t, condition, None)?;
        let ControlResiduals { down, mid } = control;
        if down.len() != encoded.skips.len() {
            return Err(CoreError::shape(
                "control.down_residuals",
                format!("{} residuals, one per skip connection", encoded.skips.len()),
                &[down.len()],
            ));
        }
        for (i, (skip, residual)) in encoded.skips.iter_mut().zip(down).enumerate() {
            if residual.dims() != skip.dims() {
                return Err(CoreError::shape(
                    format!("control.down_residuals[{i}]"),
                    format!("{:?}", skip.dims()),
                    &residual.dims(),
                ));
            }
            *skip = skip.clone().add(residual);
        }
        if mid.dims() != encoded.middle.dims() {
            return Err(CoreError::shape(
                "control.mid_residual",
                format!("{:?}", encoded.middle.dims()),
                &mid.dims(),
            ));
        }
        encoded.middle = encoded.middle.add(mid);
        Ok(self.decode(encoded))
    }

    /// The decoder: skips popped in reverse push order, then the output head.
    fn decode<const D: usize>(&self, encoded: Encoded<D>) -> Tensor<D> {
        let Encoded { emb, context, middle: mut h, mut skips } = encoded;
        for (index, blocks) in self.decoder.iter().enumerate() {
            for block in blocks {
                let skip = skips.pop().expect("the encoder pushes one skip per decoder block");
                h = block.forward(Tensor::cat(vec![h, skip], 1), emb.clone(), context.as_ref());
            }
            if let Some(up) = self.upsamplers.get(index) {
                h = up.forward(h);
            }
        }
        self.out_conv.forward(silu(self.out_norm.forward(h)))
    }

    /// The encoder half, borrowed (shared with the ControlNet's copy).
    pub(crate) fn encoder_view(&self) -> EncoderView<'_> {
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

    /// Takes the U-Net apart into its encoder half (for a ControlNet), dropping the decoder.
    pub(crate) fn into_encoder(self) -> UNetEncoderParts {
        UNetEncoderParts {
            time_embed: self.time_embed,
            condition_embed: self.condition_embed,
            null_context: self.null_context,
            input_conv: self.input_conv,
            encoder: self.encoder,
            downsamplers: self.downsamplers,
            middle_in: self.middle_in,
            middle_attention: self.middle_attention,
            middle_transformer: self.middle_transformer,
            middle_out: self.middle_out,
            spatial_dims: self.spatial_dims,
            in_channels: self.in_channels,
            cond_image_channels: self.cond_image_channels,
            size_multiple: self.size_multiple,
        }
    }

    /// The width `E` of the context tokens, for a network built with `cross_attention_dim`.
    pub fn cross_attention_dim(&self) -> Option<usize> {
        self.null_context.as_ref().map(NullContext::cross_attention_dim)
    }

    /// The learned null context, for a network built with `cross_attention_dim`.
    pub fn null_context(&self) -> Option<&NullContext> {
        self.null_context.as_ref()
    }

    /// The channels of the skip connections, in push order (input convolution, then every
    /// encoder block and downsampler): what a ControlNet's down residuals must match.
    pub fn skip_channels(&self) -> Vec<usize> {
        self.encoder_view().skip_channels()
    }

    /// Number of spatial axes (2 or 3).
    pub fn spatial_dims(&self) -> usize {
        self.spatial_dims
    }

    /// Channels of the sample `x_t`.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Channels of the output.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Channels of the conditioning image (0 when the network takes none).
    pub fn cond_image_channels(&self) -> usize {
        self.cond_image_channels
    }

    /// Every spatial size of `x_t` must be a multiple of this (`2^(L−1)`).
    pub fn size_multiple(&self) -> usize {
        self.size_multiple
    }
}

impl<const D: usize> TimeConditionedNetwork<D> for UNet {
    /// [`UNet::forward`]; implemented for `D = 4` (2D networks) and `D = 5` (3D networks), and
    /// returning [`CoreError::InvalidRank`] when `D` does not match the network.
    fn evaluate(
        &self,
        x_t: Tensor<D>,
        t: Tensor<1>,
        condition: &Condition<D>,
    ) -> Result<Tensor<D>> {
        self.forward(x_t, t, condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::{Distribution, Gradients, Int};
    use medgen_core::check::ensure_finite;
    use medgen_testing::{test_device, testing_on_wgpu};

    /// Two levels (8 and 16 channels), one residual block per level, two-head attention at
    /// factor 2 and in the middle: every code path, few parameters.
    fn tiny(spatial_dims: usize) -> UNetConfig {
        UNetConfig::new(2, 3)
            .with_spatial_dims(spatial_dims)
            .with_base_channels(8)
            .with_channel_mults(vec![1, 2])
            .with_num_res_blocks(1)
            .with_attention_resolutions(vec![2])
            .with_num_heads(2)
            .with_groups(4)
    }

    fn conditional() -> UNetConfig {
        tiny(2).with_num_classes(Some(3)).with_embedding_dim(Some(2)).with_cond_image_channels(1)
    }

    fn normal<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        a.sub(b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn benchmark_preset_has_pinned_parameter_count() {
        let unet = UNetConfig::benchmark().init(&test_device()).unwrap();
        assert_eq!(unet.num_params(), 1_742_881);
        // The defaults are the benchmark.
        let defaults = UNetConfig::new(1, 1).init(&test_device()).unwrap();
        assert_eq!(defaults.num_params(), 1_742_881);
    }

    #[test]
    fn forward_shapes_in_2d_and_3d() {
        let device = test_device();
        let t = Tensor::<1>::from_floats([3.0, 500.0], &device);
        let unet = tiny(2).init(&device).unwrap();
        let y = unet.forward(normal([2, 2, 4, 6], &device), t.clone(), &Condition::none()).unwrap();
        assert_eq!(y.dims(), [2, 3, 4, 6]);
        let unet = tiny(3).init(&device).unwrap();
        let y = unet.evaluate(normal([2, 2, 2, 4, 2], &device), t, &Condition::none()).unwrap();
        assert_eq!(y.dims(), [2, 3, 2, 4, 2]);
    }

    /// Sums `0 · g` and `|g|` over every parameter's gradient (two scalars read back): the
    /// first is finite iff every gradient is; every parameter must have one.
    struct GradientProbe<'a> {
        grads: &'a Gradients,
        zeros: Vec<Tensor<1>>,
        magnitudes: Vec<Tensor<1>>,
        missing: usize,
    }

    impl ModuleVisitor for GradientProbe<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match param.val().grad(self.grads) {
                Some(g) => {
                    self.zeros.push(g.clone().mul_scalar(0.0).sum());
                    self.magnitudes.push(g.abs().sum());
                }
                None => self.missing += 1,
            }
        }
    }

    fn check_gradients<const D: usize>(config: UNetConfig, x: [usize; D], class: bool) {
        let device = test_device().autodiff();
        let unet = config.init(&device).unwrap();
        let n = x[0];
        let mut condition = Condition::<D>::none();
        if class {
            let mut image_dims = x;
            image_dims[1] = 1;
            condition = condition
                .with_class(Tensor::<1, Int>::arange(0..n as i64, &device))
                .with_embedding(normal([n, 2], &device))
                .with_image(normal(image_dims, &device));
            condition.keep = Some(Tensor::from_floats([1.0, 0.0], &device));
        }
        let t = Tensor::<1>::from_floats([10.0, 250.0], &device);
        let y = unet.forward(normal(x, &device), t, &condition).unwrap();
        let grads = y.powi_scalar(2).mean().backward();
        let mut probe =
            GradientProbe { grads: &grads, zeros: Vec::new(), magnitudes: Vec::new(), missing: 0 };
        unet.visit(&mut probe);
        assert_eq!(probe.missing, 0, "parameters without a gradient");
        assert!(ensure_finite(&Tensor::cat(probe.zeros, 0), "gradients").is_ok());
        let total = Tensor::cat(probe.magnitudes, 0).sum().into_scalar::<f32>();
        assert!(total > 0.0, "all gradients are zero");
    }

    #[test]
    fn backward_gives_finite_gradients_in_2d() {
        check_gradients(conditional(), [2, 2, 4, 4], true);
    }

    #[test]
    fn backward_gives_finite_gradients_in_3d() {
        check_gradients(tiny(3), [2, 2, 2, 2, 4], false);
    }

    #[test]
    fn conditioning_changes_the_output_and_keep_zero_is_the_null_condition() {
        let device = test_device();
        let unet = conditional().init(&device).unwrap();
        let x = normal([2, 2, 4, 4], &device);
        let t = Tensor::<1>::from_floats([100.0, 100.0], &device);
        let image = normal([2, 1, 4, 4], &device);
        let condition = |labels: [i32; 2], vector: Tensor<2>, image: Tensor<4>| {
            Condition::<4>::none()
                .with_class(Tensor::from_ints(labels, &device))
                .with_embedding(vector)
                .with_image(image)
        };
        let e1 = normal([2, 2], &device);
        let e2 = normal([2, 2], &device);
        let run = |c: &Condition<4>| unet.forward(x.clone(), t.clone(), c).unwrap();

        let base = condition([0, 1], e1.clone(), image.clone());
        let y = run(&base);
        let changed = [
            condition([2, 2], e1.clone(), image.clone()),
            condition([0, 1], e2.clone(), image.clone()),
            condition([0, 1], e1.clone(), image.clone().mul_scalar(-1.0)),
        ];
        for (part, other) in ["class", "embedding", "image"].iter().zip(&changed) {
            let diff = max_abs_diff(y.clone(), run(other));
            assert!(diff > 1e-4, "{part} does not change the output ({diff})");
        }

        // keep = 0 ignores labels and vectors: it is the learned null condition.
        let null_a = run(&base.to_null(2, &device));
        let null_b = run(&condition([2, 0], e2, image.clone()).to_null(2, &device));
        assert!(max_abs_diff(null_a.clone(), null_b) < 1e-5);
        assert!(max_abs_diff(y.clone(), null_a.clone()) > 1e-4);

        // The mask acts per item.
        let mixed = Condition { keep: Some(Tensor::from_floats([1.0, 0.0], &device)), ..base };
        let y_mixed = run(&mixed);
        let first = |y: Tensor<4>| y.narrow(0, 0, 1);
        let second = |y: Tensor<4>| y.narrow(0, 1, 1);
        assert!(max_abs_diff(first(y_mixed.clone()), first(y)) < 1e-5);
        assert!(max_abs_diff(second(y_mixed), second(null_a)) < 1e-5);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let unet = conditional().init(&device).unwrap();
        let t = Tensor::<1>::from_floats([1.0, 2.0], &device);
        let good = Condition::<4>::none()
            .with_class(Tensor::from_ints([0, 1], &device))
            .with_embedding(Tensor::zeros([2, 2], &device))
            .with_image(Tensor::zeros([2, 1, 4, 4], &device));
        let x = Tensor::<4>::zeros([2, 2, 4, 4], &device);
        assert!(unet.forward(x.clone(), t.clone(), &good).is_ok());

        let volume = Tensor::<5>::zeros([2, 2, 4, 4, 4], &device);
        assert!(matches!(
            unet.evaluate(volume, t.clone(), &Condition::none()),
            Err(CoreError::InvalidRank { .. })
        ));
        let shape_error = |x: Tensor<4>, t: Tensor<1>, c: &Condition<4>| {
            matches!(unet.forward(x, t, c), Err(CoreError::ShapeMismatch { .. }))
        };
        assert!(shape_error(Tensor::zeros([2, 3, 4, 4], &device), t.clone(), &good));
        assert!(shape_error(Tensor::zeros([2, 2, 4, 5], &device), t.clone(), &good));
        assert!(shape_error(x.clone(), Tensor::zeros([3], &device), &good));
        let wrong_image = good.clone().with_image(Tensor::zeros([2, 1, 4, 2], &device));
        assert!(shape_error(x.clone(), t.clone(), &wrong_image));
        let wrong_vector = good.clone().with_embedding(Tensor::zeros([2, 3], &device));
        assert!(shape_error(x.clone(), t.clone(), &wrong_vector));
        let wrong_batch = good.clone().with_class(Tensor::from_ints([0, 1, 2], &device));
        assert!(unet.forward(x.clone(), t.clone(), &wrong_batch).is_err());
        assert!(matches!(
            unet.forward(Tensor::zeros([0, 2, 4, 4], &device), Tensor::zeros([0], &device), &good),
            Err(CoreError::Empty { .. })
        ));

        let config_error = |c: &Condition<4>| {
            matches!(unet.forward(x.clone(), t.clone(), c), Err(CoreError::InvalidConfig { .. }))
        };
        let no_class = Condition { class: None, ..good.clone() };
        let no_image = Condition { image: None, ..good.clone() };
        assert!(config_error(&no_class));
        assert!(config_error(&no_image));
        let plain = tiny(2).init(&device).unwrap();
        assert!(matches!(plain.forward(x, t, &good), Err(CoreError::InvalidConfig { .. })));
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = test_device();
        for config in [
            tiny(4),
            tiny(2).with_channel_mults(vec![]),
            tiny(2).with_channel_mults(vec![1, 0]),
            tiny(2).with_groups(3),
            tiny(2).with_num_heads(3),
            tiny(2).with_attention_resolutions(vec![4]),
            tiny(2).with_attention_resolutions(vec![3]),
            tiny(2).with_base_channels(7).with_groups(7).with_num_heads(1),
            tiny(2).with_num_res_blocks(0),
            tiny(2).with_dropout(1.5),
            tiny(2).with_num_classes(Some(0)),
            tiny(2).with_max_period(0.5),
            tiny(2).with_channel_mults(vec![1; 17]),
            tiny(2).with_channel_mults(vec![1, usize::MAX]),
            UNetConfig::new(0, 1),
            tiny(2).with_cond_image_channels(usize::MAX),
        ] {
            assert!(
                matches!(config.init(&device), Err(CoreError::InvalidConfig { .. })),
                "{config:?} was accepted"
            );
        }
    }

    /// Runs `a` on the flex device and `b` on `device_b` on the same random input; returns the
    /// largest absolute difference of the outputs.
    #[cfg(feature = "flex")]
    fn max_output_difference<const D: usize>(
        a: &UNet,
        b: &UNet,
        device_b: &Device,
        dims: [usize; D],
    ) -> f32 {
        let flex = Device::flex();
        let x = normal(dims, &flex);
        let t = Tensor::<1>::from_floats([42.0], &flex);
        let none = Condition::none();
        let reference = a.forward(x.clone(), t.clone(), &none).unwrap();
        let other = b.forward(x.to_device(device_b), t.to_device(device_b), &none).unwrap();
        max_abs_diff(reference, other.to_device(&flex))
    }

    /// Builds a tiny U-Net on the flex CPU device, and runs it there and on the test device
    /// (wgpu when `MEDGEN_TEST_DEVICE` says so). On CPU-only runs the second model is a copy
    /// reloaded from the first one's serialised record into a freshly initialised network.
    #[cfg(feature = "flex")]
    #[test]
    fn flex_and_the_test_device_agree() {
        use burn::store::ModuleRecord;
        let flex = Device::flex();
        for spatial_dims in [2, 3] {
            let config = tiny(spatial_dims);
            let model = config.init(&flex).unwrap();
            let (other, device) = if testing_on_wgpu() {
                let device = test_device();
                (model.clone().to_device(&device), device)
            } else {
                let bytes = model.clone().into_record().into_bytes().unwrap();
                let record = ModuleRecord::from_bytes(bytes).unwrap();
                let fresh = config.init(&flex).unwrap();
                (fresh.load_record(record), flex.clone())
            };
            let diff = if spatial_dims == 2 {
                max_output_difference(&model, &other, &device, [1, 2, 4, 4])
            } else {
                max_output_difference(&model, &other, &device, [1, 2, 2, 2, 4])
            };
            assert!(diff < 1e-4, "{spatial_dims}D: max |difference| {diff}");
        }
    }
}

//! A chain of 2D or 3D convolutions with optional 2x nearest upsampling: the convolutional
//! encoder and decoder of the autoencoders, from one design.

use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use medgen_nn::{SpatialConv, SpatialConvConfig, upsample_nearest2x};

use medgen_core::CoreError;

use crate::error::Result;

/// `h ← SiLU(conv_i(up_i(h)))` for every layer but the last, which has no activation; `up_i`
/// is [`upsample_nearest2x`] where `upsample_before[i]` and the identity otherwise. Strided
/// convolutions (stride 2) halve the spatial size.
///
/// Encoder (channels `c₀ … c_{L−1}`, [`ConvStack::encoder`]): a 3x3 convolution `C → c₀`,
/// then per further level a stride-2 3x3 convolution `c_{l−1} → c_l` and a 3x3 convolution
/// `c_l → c_l`, then a 3x3 convolution `c_{L−1} → C_out`: `[N, C, *n] → [N, C_out, *n/2^{L−1}]`.
///
/// Decoder ([`ConvStack::decoder`]): the mirror image, with nearest upsampling before the
/// convolution that changes the width: `[N, C_in, *m] → [N, C_out, *m·2^{L−1}]`.
#[derive(Module, Debug)]
pub struct ConvStack {
    /// The convolutions, in order.
    pub layers: Vec<SpatialConv>,
    /// Whether to upsample by 2 before each convolution.
    pub upsample_before: Vec<bool>,
}

/// One planned layer: channels, stride, upsample-before.
type LayerPlan = ([usize; 2], usize, bool);

impl ConvStack {
    /// The encoder described on [`ConvStack`], for `spatial_dims ∈ {2, 3}`.
    pub fn encoder(
        spatial_dims: usize,
        in_channels: usize,
        channels: &[usize],
        out_channels: usize,
        device: &Device,
    ) -> Result<Self> {
        let (first, last) = channel_ends(channels)?;
        let mut plan: Vec<LayerPlan> = vec![([in_channels, first], 1, false)];
        for w in channels.windows(2) {
            plan.push(([w[0], w[1]], 2, false));
            plan.push(([w[1], w[1]], 1, false));
        }
        plan.push(([last, out_channels], 1, false));
        Self::build(spatial_dims, &plan, device)
    }

    /// The decoder described on [`ConvStack`], for `spatial_dims ∈ {2, 3}`.
    pub fn decoder(
        spatial_dims: usize,
        in_channels: usize,
        channels: &[usize],
        out_channels: usize,
        device: &Device,
    ) -> Result<Self> {
        let (first, last) = channel_ends(channels)?;
        let mut plan: Vec<LayerPlan> = vec![([in_channels, last], 1, false)];
        for w in channels.windows(2).rev() {
            plan.push(([w[1], w[1]], 1, false));
            plan.push(([w[1], w[0]], 1, true));
        }
        plan.push(([first, out_channels], 1, false));
        Self::build(spatial_dims, &plan, device)
    }

    fn build(spatial_dims: usize, plan: &[LayerPlan], device: &Device) -> Result<Self> {
        if let Some(&([c_in, c_out], ..)) = plan.iter().find(|(c, ..)| c[0] == 0 || c[1] == 0) {
            return Err(CoreError::config(
                "channels",
                format!("every layer needs at least one channel, got {c_in} → {c_out}"),
            )
            .into());
        }
        let mut layers = Vec::with_capacity(plan.len());
        for &(channels, stride, _) in plan {
            layers.push(
                SpatialConvConfig::new(spatial_dims, channels).with_stride(stride).init(device)?,
            );
        }
        let upsample_before = plan.iter().map(|p| p.2).collect();
        Ok(Self { layers, upsample_before })
    }

    /// Applies the stack to `x` `[N, C_in, *spatial]` (rank checked by the caller).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, (layer, &up)) in self.layers.iter().zip(&self.upsample_before).enumerate() {
            if up {
                h = upsample_nearest2x(h);
            }
            h = layer.forward(h);
            if i < last {
                h = silu(h);
            }
        }
        h
    }
}

/// The first and last widths of a non-empty channel list.
fn channel_ends(channels: &[usize]) -> Result<(usize, usize)> {
    match (channels.first(), channels.last()) {
        (Some(&first), Some(&last)) => Ok((first, last)),
        _ => Err(CoreError::config("channels", "needs at least one level").into()),
    }
}

//! The residuals a ControlNet adds to a U-Net.

use burn::tensor::Tensor;

/// A ControlNet's output (diffusers' `down_block_res_samples` and `mid_block_res_sample`):
/// one residual per skip connection of the U-Net, in the order the U-Net pushes its skips
/// (input convolution, then every encoder block and downsampler), and one for the middle
/// block's output, each already multiplied by the conditioning scale:
///
/// `down_i = s · ZeroConv_i(h_i)`, `mid = s · ZeroConv_mid(h_mid)`.
///
/// Shapes: `down_i` like the U-Net's skip `i` (`[N, C_i, *spatial / 2^level]`), `mid` like
/// its middle block's output.
#[derive(Clone, Debug)]
pub struct ControlResiduals<const D: usize> {
    /// Residuals added to the skip connections, in push order.
    pub down: Vec<Tensor<D>>,
    /// Residual added to the middle block's output.
    pub mid: Tensor<D>,
}

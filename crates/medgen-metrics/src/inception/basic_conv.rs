//! `BasicConv2d`: the convolution + batch norm + ReLU unit every Inception layer is built of.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Batch-norm `ε` of the TensorFlow Inception graph the FID weights come from (torchvision's
/// `BasicConv2d` uses the same value).
pub const BATCH_NORM_EPSILON: f64 = 1e-3;

/// `y = ReLU(BN(W ⋆ x))`: a bias-free convolution followed by batch normalisation (running
/// statistics, `ε = 10⁻³`) and a ReLU, as torchvision's `BasicConv2d`.
///
/// With the running mean `m`, variance `v`, scale `γ` and shift `β` of each output channel,
/// `BN(z) = γ (z − m) / √(v + ε) + β`. Shapes: `[N, C_in, H, W]` → `[N, C_out, H', W']` with
/// `H' = ⌊(H + 2 p_h − k_h) / s⌋ + 1` (likewise `W'`).
///
/// Parameter names follow PyTorch's state dict: `conv.weight` (`[C_out, C_in, k_h, k_w]`),
/// `bn.weight`/`bn.bias` (Burn's `bn.gamma`/`bn.beta`), `bn.running_mean`, `bn.running_var`.
#[derive(Module, Debug)]
pub struct BasicConv2d {
    conv: Conv2d,
    bn: BatchNorm,
}

impl BasicConv2d {
    /// A unit with `channels = [C_in, C_out]`, kernel `[k_h, k_w]`, stride `s` (both axes)
    /// and zero padding `[p_h, p_w]`, randomly initialised (Burn's defaults) on `device`.
    pub fn new(
        channels: [usize; 2],
        kernel: [usize; 2],
        stride: usize,
        padding: [usize; 2],
        device: &Device,
    ) -> Self {
        let [ph, pw] = padding;
        let conv = Conv2dConfig::new(channels, kernel)
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(false)
            .init(device);
        let bn = BatchNormConfig::new(channels[1]).with_epsilon(BATCH_NORM_EPSILON).init(device);
        Self { conv, bn }
    }

    /// A `k × k` unit with stride 1 and no padding (the most common shape).
    pub fn square(channels: [usize; 2], kernel: usize, device: &Device) -> Self {
        Self::new(channels, [kernel, kernel], 1, [0, 0], device)
    }

    /// `ReLU(BN(W ⋆ x))`: `[N, C_in, H, W]` → `[N, C_out, H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

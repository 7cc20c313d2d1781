//! `Mixed_5b`–`Mixed_5d`: pytorch-fid's `FIDInceptionA` block.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::basic_conv::BasicConv2d;
use super::pooling::tf_avg_pool_3x3;

/// The 35 × 35 Inception block (`FIDInceptionA`): four parallel branches concatenated along
/// the channels,
///
/// `y = [b₁ₓ₁(x), b₅ₓ₅(x), b₃ₓ₃dbl(x), b_pool(avg₃ₓ₃(x))]`,
///
/// with `b₁ₓ₁`: 1×1 → 64; `b₅ₓ₅`: 1×1 → 48, 5×5 → 64; `b₃ₓ₃dbl`: 1×1 → 64, 3×3 → 96,
/// 3×3 → 96; `b_pool`: 3×3 average pooling without the padded zeros, then 1×1 →
/// `pool_features`. Shapes: `[N, C_in, H, W]` → `[N, 224 + pool_features, H, W]`.
#[derive(Module, Debug)]
pub struct InceptionA {
    branch1x1: BasicConv2d,
    branch5x5_1: BasicConv2d,
    branch5x5_2: BasicConv2d,
    branch3x3dbl_1: BasicConv2d,
    branch3x3dbl_2: BasicConv2d,
    branch3x3dbl_3: BasicConv2d,
    branch_pool: BasicConv2d,
}

impl InceptionA {
    /// A randomly initialised block reading `in_channels` channels.
    pub fn new(in_channels: usize, pool_features: usize, device: &Device) -> Self {
        Self {
            branch1x1: BasicConv2d::square([in_channels, 64], 1, device),
            branch5x5_1: BasicConv2d::square([in_channels, 48], 1, device),
            branch5x5_2: BasicConv2d::new([48, 64], [5, 5], 1, [2, 2], device),
            branch3x3dbl_1: BasicConv2d::square([in_channels, 64], 1, device),
            branch3x3dbl_2: BasicConv2d::new([64, 96], [3, 3], 1, [1, 1], device),
            branch3x3dbl_3: BasicConv2d::new([96, 96], [3, 3], 1, [1, 1], device),
            branch_pool: BasicConv2d::square([in_channels, pool_features], 1, device),
        }
    }

    /// `[N, C_in, H, W]` → `[N, 224 + pool_features, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b5 = self.branch5x5_2.forward(self.branch5x5_1.forward(x.clone()));
        let b3 = self
            .branch3x3dbl_3
            .forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone())));
        let pool = self.branch_pool.forward(tf_avg_pool_3x3(x));
        Tensor::cat(vec![b1, b5, b3, pool], 1)
    }
}

//! `Mixed_6a`: torchvision's `InceptionB` grid-reduction block (35 × 35 → 17 × 17).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::basic_conv::BasicConv2d;
use super::pooling::max_pool_3x3_stride2;

/// The first grid reduction (`InceptionB`):
///
/// `y = [b₃ₓ₃(x), b₃ₓ₃dbl(x), maxpool₃ₓ₃/₂(x)]`,
///
/// with `b₃ₓ₃`: 3×3 stride 2 → 384; `b₃ₓ₃dbl`: 1×1 → 64, 3×3 → 96, 3×3 stride 2 → 96.
/// Shapes: `[N, C_in, H, W]` → `[N, 480 + C_in, ⌊(H − 3)/2⌋ + 1, ⌊(W − 3)/2⌋ + 1]`.
#[derive(Module, Debug)]
pub struct InceptionB {
    branch3x3: BasicConv2d,
    branch3x3dbl_1: BasicConv2d,
    branch3x3dbl_2: BasicConv2d,
    branch3x3dbl_3: BasicConv2d,
}

impl InceptionB {
    /// A randomly initialised block reading `in_channels` channels.
    pub fn new(in_channels: usize, device: &Device) -> Self {
        Self {
            branch3x3: BasicConv2d::new([in_channels, 384], [3, 3], 2, [0, 0], device),
            branch3x3dbl_1: BasicConv2d::square([in_channels, 64], 1, device),
            branch3x3dbl_2: BasicConv2d::new([64, 96], [3, 3], 1, [1, 1], device),
            branch3x3dbl_3: BasicConv2d::new([96, 96], [3, 3], 2, [0, 0], device),
        }
    }

    /// `[N, C_in, H, W]` → `[N, 480 + C_in, ⌊(H − 3)/2⌋ + 1, ⌊(W − 3)/2⌋ + 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b3 = self.branch3x3.forward(x.clone());
        let dbl = self
            .branch3x3dbl_3
            .forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone())));
        Tensor::cat(vec![b3, dbl, max_pool_3x3_stride2(x)], 1)
    }
}

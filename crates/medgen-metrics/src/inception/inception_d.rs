//! `Mixed_7a`: torchvision's `InceptionD` grid-reduction block (17 × 17 → 8 × 8).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::basic_conv::BasicConv2d;
use super::pooling::max_pool_3x3_stride2;

/// The second grid reduction (`InceptionD`):
///
/// `y = [b₃ₓ₃(x), b₇ₓ₇ₓ₃(x), maxpool₃ₓ₃/₂(x)]`,
///
/// with `b₃ₓ₃`: 1×1 → 192, 3×3 stride 2 → 320; `b₇ₓ₇ₓ₃`: 1×1 → 192, 1×7 → 192, 7×1 → 192,
/// 3×3 stride 2 → 192. Shapes: `[N, C_in, H, W]` → `[N, 512 + C_in, ⌊(H − 3)/2⌋ + 1,
/// ⌊(W − 3)/2⌋ + 1]`.
#[derive(Module, Debug)]
pub struct InceptionD {
    branch3x3_1: BasicConv2d,
    branch3x3_2: BasicConv2d,
    branch7x7x3_1: BasicConv2d,
    branch7x7x3_2: BasicConv2d,
    branch7x7x3_3: BasicConv2d,
    branch7x7x3_4: BasicConv2d,
}

impl InceptionD {
    /// A randomly initialised block reading `in_channels` channels.
    pub fn new(in_channels: usize, device: &Device) -> Self {
        Self {
            branch3x3_1: BasicConv2d::square([in_channels, 192], 1, device),
            branch3x3_2: BasicConv2d::new([192, 320], [3, 3], 2, [0, 0], device),
            branch7x7x3_1: BasicConv2d::square([in_channels, 192], 1, device),
            branch7x7x3_2: BasicConv2d::new([192, 192], [1, 7], 1, [0, 3], device),
            branch7x7x3_3: BasicConv2d::new([192, 192], [7, 1], 1, [3, 0], device),
            branch7x7x3_4: BasicConv2d::new([192, 192], [3, 3], 2, [0, 0], device),
        }
    }

    /// `[N, C_in, H, W]` → `[N, 512 + C_in, ⌊(H − 3)/2⌋ + 1, ⌊(W − 3)/2⌋ + 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b3 = self.branch3x3_2.forward(self.branch3x3_1.forward(x.clone()));
        let b7 =
            [&self.branch7x7x3_1, &self.branch7x7x3_2, &self.branch7x7x3_3, &self.branch7x7x3_4]
                .iter()
                .fold(x.clone(), |h, unit| unit.forward(h));
        Tensor::cat(vec![b3, b7, max_pool_3x3_stride2(x)], 1)
    }
}

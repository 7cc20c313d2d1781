//! `Mixed_6b`–`Mixed_6e`: pytorch-fid's `FIDInceptionC` block (factorised 7 × 7).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::basic_conv::BasicConv2d;
use super::pooling::tf_avg_pool_3x3;

/// The 17 × 17 Inception block with factorised 7 × 7 convolutions (`FIDInceptionC`), `c =
/// channels_7x7`:
///
/// `y = [b₁ₓ₁(x), b₇ₓ₇(x), b₇ₓ₇dbl(x), b_pool(avg₃ₓ₃(x))]`,
///
/// with `b₁ₓ₁`: 1×1 → 192; `b₇ₓ₇`: 1×1 → c, 1×7 → c, 7×1 → 192; `b₇ₓ₇dbl`: 1×1 → c, 7×1 → c,
/// 1×7 → c, 7×1 → c, 1×7 → 192; `b_pool`: 3×3 average pooling without the padded zeros, then
/// 1×1 → 192. Shapes: `[N, C_in, H, W]` → `[N, 768, H, W]`.
#[derive(Module, Debug)]
pub struct InceptionC {
    branch1x1: BasicConv2d,
    branch7x7_1: BasicConv2d,
    branch7x7_2: BasicConv2d,
    branch7x7_3: BasicConv2d,
    branch7x7dbl_1: BasicConv2d,
    branch7x7dbl_2: BasicConv2d,
    branch7x7dbl_3: BasicConv2d,
    branch7x7dbl_4: BasicConv2d,
    branch7x7dbl_5: BasicConv2d,
    branch_pool: BasicConv2d,
}

/// A `1 × 7` (`wide`) or `7 × 1` unit with "same" padding.
fn seven(channels: [usize; 2], wide: bool, device: &Device) -> BasicConv2d {
    if wide {
        BasicConv2d::new(channels, [1, 7], 1, [0, 3], device)
    } else {
        BasicConv2d::new(channels, [7, 1], 1, [3, 0], device)
    }
}

impl InceptionC {
    /// A randomly initialised block reading `in_channels` channels.
    pub fn new(in_channels: usize, channels_7x7: usize, device: &Device) -> Self {
        let c = channels_7x7;
        Self {
            branch1x1: BasicConv2d::square([in_channels, 192], 1, device),
            branch7x7_1: BasicConv2d::square([in_channels, c], 1, device),
            branch7x7_2: seven([c, c], true, device),
            branch7x7_3: seven([c, 192], false, device),
            branch7x7dbl_1: BasicConv2d::square([in_channels, c], 1, device),
            branch7x7dbl_2: seven([c, c], false, device),
            branch7x7dbl_3: seven([c, c], true, device),
            branch7x7dbl_4: seven([c, c], false, device),
            branch7x7dbl_5: seven([c, 192], true, device),
            branch_pool: BasicConv2d::square([in_channels, 192], 1, device),
        }
    }

    /// `[N, C_in, H, W]` → `[N, 768, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b7 = [&self.branch7x7_1, &self.branch7x7_2, &self.branch7x7_3]
            .iter()
            .fold(x.clone(), |h, unit| unit.forward(h));
        let dbl = [
            &self.branch7x7dbl_1,
            &self.branch7x7dbl_2,
            &self.branch7x7dbl_3,
            &self.branch7x7dbl_4,
            &self.branch7x7dbl_5,
        ]
        .iter()
        .fold(x.clone(), |h, unit| unit.forward(h));
        let pool = self.branch_pool.forward(tf_avg_pool_3x3(x));
        Tensor::cat(vec![b1, b7, dbl, pool], 1)
    }
}

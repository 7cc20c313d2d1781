//! `Mixed_7b`/`Mixed_7c`: pytorch-fid's `FIDInceptionE_1` and `FIDInceptionE_2` blocks.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::basic_conv::BasicConv2d;
use super::pooling::{max_pool_3x3_same, tf_avg_pool_3x3};

/// The 8 × 8 Inception block with expanded filter banks (`FIDInceptionE_1` when
/// `max_pool` is false, `FIDInceptionE_2` when it is true):
///
/// `y = [b₁ₓ₁(x), b₁ₓ₃(h), b₃ₓ₁(h), b₁ₓ₃(g), b₃ₓ₁(g), b_pool(pool₃ₓ₃(x))]`,
///
/// with `b₁ₓ₁`: 1×1 → 320; `h = ` 1×1 → 384 of `x`, then 1×3 → 384 and 3×1 → 384 in
/// parallel; `g = ` 1×1 → 448, 3×3 → 384 of `x`, then 1×3 → 384 and 3×1 → 384 in parallel;
/// `pool₃ₓ₃` is 3×3 stride-1 average pooling without the padded zeros (`E_1`) or max pooling
/// (`E_2`, an oddity of the TensorFlow graph that pytorch-fid reproduces), then 1×1 → 192.
/// Shapes: `[N, C_in, H, W]` → `[N, 2048, H, W]`.
#[derive(Module, Debug)]
pub struct InceptionE {
    branch1x1: BasicConv2d,
    branch3x3_1: BasicConv2d,
    branch3x3_2a: BasicConv2d,
    branch3x3_2b: BasicConv2d,
    branch3x3dbl_1: BasicConv2d,
    branch3x3dbl_2: BasicConv2d,
    branch3x3dbl_3a: BasicConv2d,
    branch3x3dbl_3b: BasicConv2d,
    branch_pool: BasicConv2d,
    max_pool: bool,
}

impl InceptionE {
    /// A randomly initialised block reading `in_channels` channels; `max_pool` selects the
    /// `FIDInceptionE_2` pool branch.
    pub fn new(in_channels: usize, max_pool: bool, device: &Device) -> Self {
        let wide = |c: [usize; 2]| BasicConv2d::new(c, [1, 3], 1, [0, 1], device);
        let tall = |c: [usize; 2]| BasicConv2d::new(c, [3, 1], 1, [1, 0], device);
        Self {
            branch1x1: BasicConv2d::square([in_channels, 320], 1, device),
            branch3x3_1: BasicConv2d::square([in_channels, 384], 1, device),
            branch3x3_2a: wide([384, 384]),
            branch3x3_2b: tall([384, 384]),
            branch3x3dbl_1: BasicConv2d::square([in_channels, 448], 1, device),
            branch3x3dbl_2: BasicConv2d::new([448, 384], [3, 3], 1, [1, 1], device),
            branch3x3dbl_3a: wide([384, 384]),
            branch3x3dbl_3b: tall([384, 384]),
            branch_pool: BasicConv2d::square([in_channels, 192], 1, device),
            max_pool,
        }
    }

    /// `[N, C_in, H, W]` → `[N, 2048, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let h = self.branch3x3_1.forward(x.clone());
        let g = self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone()));
        let pooled = if self.max_pool { max_pool_3x3_same(x) } else { tf_avg_pool_3x3(x) };
        Tensor::cat(
            vec![
                b1,
                self.branch3x3_2a.forward(h.clone()),
                self.branch3x3_2b.forward(h),
                self.branch3x3dbl_3a.forward(g.clone()),
                self.branch3x3dbl_3b.forward(g),
                self.branch_pool.forward(pooled),
            ],
            1,
        )
    }
}

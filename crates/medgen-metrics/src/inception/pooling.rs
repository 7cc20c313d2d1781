//! The three fixed pooling operations of the FID Inception network.

use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};

/// `3 × 3` average pooling, stride 1, padding 1, averaging only over the pixels inside the
/// image (`count_include_pad = False`, TensorFlow's behaviour that pytorch-fid patches in):
/// `y_ij = (1/|W_ij|) Σ_{(k,l) ∈ W_ij} x_kl` with `W_ij` the in-image part of the window.
/// Shape preserving: `[N, C, H, W]` → `[N, C, H, W]`.
pub fn tf_avg_pool_3x3(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(
        x,
        AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false),
    )
}

/// `3 × 3` max pooling, stride 1, padding 1 (padding never wins): `[N, C, H, W]` →
/// `[N, C, H, W]`. The pool branch of the last FID block (`FIDInceptionE_2`).
pub fn max_pool_3x3_same(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([1, 1]).with_padding([1, 1]))
}

/// `3 × 3` max pooling, stride 2, no padding: `[N, C, H, W]` →
/// `[N, C, ⌊(H − 3)/2⌋ + 1, ⌊(W − 3)/2⌋ + 1]`.
pub fn max_pool_3x3_stride2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]))
}

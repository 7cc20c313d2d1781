//! Where the benchmark U-Net's training step spends its time, one operator at a time, on
//! Burn's `flex` CPU backend (`Device::flex()`).
//!
//! The shapes are the U-Net's own (`UNetConfig::benchmark()`, batch 16, 1×32×32 input): the
//! 3×3 convolutions of its three levels (32 channels at 32×32, 64 at 16×16, 64 at 8×8), its
//! group norms and SiLUs at the largest activation. For each convolution the bench times the
//! three products a training step needs, with the throughput in floating-point operations
//! (`2·N·C_out·H·W·C_in·9` per product), so that they compare with each other and with a
//! peak `gemm`:
//!
//! - `conv_forward`: `y = conv2d(x, w)`;
//! - `conv_input_grad`: `∂L/∂x = conv_transpose2d(∂L/∂y, w)`, the route Burn's autodiff takes;
//! - `conv_weight_grad`: `∂L/∂w` by `burn::tensor::module::conv2d_weight_backward` (Burn's
//!   route: a convolution of the batch-swapped input with the batch-swapped output gradient);
//! - `conv_weight_grad_im2col`: the same `∂L/∂w` as one matrix product
//!   `∂L/∂y_{[C_out, N·HW]} · unfold(x)ᵀ_{[N·HW, C_in·9]}` (the route PyTorch's CPU kernels
//!   take), checked against Burn's route before timing; the ratio of the two is what a backend
//!   fix could win;
//! - `matmul`: a plain `[C_out, N·HW] × [N·HW, C_in·9]` product of the same size, the ceiling;
//! - `group_norm`, `silu`, `add`: the element-wise work of a ResBlock at 16×32×32×32.
//!
//! ```sh
//! cargo bench --bench train_ops
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medgen::burn::module::Module;
use medgen::burn::nn::GroupNormConfig;
use medgen::burn::tensor::activation::silu;
use medgen::burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward, unfold4d};
use medgen::burn::tensor::ops::{ConvOptions, ConvTransposeOptions, UnfoldOptions};
use medgen::burn::tensor::{Device, Tensor};
use medgen::core::noise::gaussian_noise;
use medgen::core::seeded_rng;

/// A 3×3, stride-1, padding-1 convolution of the benchmark U-Net: batch, channels, side.
struct ConvShape {
    batch: usize,
    channels: usize,
    side: usize,
}

impl ConvShape {
    fn label(&self) -> String {
        format!("{}x{}x{}x{}", self.batch, self.channels, self.side, self.side)
    }

    /// Floating-point operations of one product: `2·N·C_out·H·W·C_in·9`.
    fn flops(&self) -> u64 {
        (2 * self.batch * self.channels * self.side * self.side * self.channels * 9) as u64
    }
}

const SHAPES: [ConvShape; 3] = [
    ConvShape { batch: 16, channels: 32, side: 32 },
    ConvShape { batch: 16, channels: 64, side: 16 },
    ConvShape { batch: 16, channels: 64, side: 8 },
];

fn conv_options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

fn first_value(t: Tensor<4>) -> f32 {
    t.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>()
}

/// `∂L/∂w = ∂L/∂y · unfold(x)ᵀ`, reshaped to `[C_out, C_in, 3, 3]`.
fn weight_grad_im2col(x: &Tensor<4>, grad: &Tensor<4>) -> Tensor<4> {
    let [n, c_in, _, _] = x.dims();
    let [_, c_out, h, w] = grad.dims();
    // [N, C_in·9, HW] → [C_in·9, N·HW]
    let columns = unfold4d(x.clone(), [3, 3], UnfoldOptions::new([1, 1], [1, 1], [1, 1]))
        .swap_dims(0, 1)
        .reshape([c_in * 9, n * h * w]);
    // [N, C_out, H, W] → [C_out, N·HW]
    let grad = grad.clone().swap_dims(0, 1).reshape([c_out, n * h * w]);
    grad.matmul(columns.transpose()).reshape([c_out, c_in, 3, 3])
}

fn convolutions(c: &mut Criterion) {
    let device = Device::flex();
    let mut rng = seeded_rng(11);
    let mut group = c.benchmark_group("train_ops");
    for shape in &SHAPES {
        let dims = [shape.batch, shape.channels, shape.side, shape.side];
        let x = gaussian_noise(dims, &mut rng, &device).expect("x");
        let grad = gaussian_noise(dims, &mut rng, &device).expect("grad");
        let weight = gaussian_noise([shape.channels, shape.channels, 3, 3], &mut rng, &device)
            .expect("weight");
        let label = shape.label();
        group.throughput(Throughput::Elements(shape.flops()));

        group.bench_function(format!("conv_forward/{label}"), |b| {
            b.iter(|| first_value(conv2d(x.clone(), weight.clone(), None, conv_options())));
        });
        group.bench_function(format!("conv_input_grad/{label}"), |b| {
            b.iter(|| {
                first_value(conv_transpose2d(
                    grad.clone(),
                    weight.clone(),
                    None,
                    ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1),
                ))
            });
        });
        let burn_route =
            conv2d_weight_backward(x.clone(), weight.clone(), grad.clone(), conv_options());
        let im2col_route = weight_grad_im2col(&x, &grad);
        let scale = burn_route.clone().abs().max().into_scalar::<f32>();
        let difference = burn_route.sub(im2col_route).abs().max().into_scalar::<f32>();
        assert!(
            difference <= 1e-4 * scale,
            "the two weight-gradient routes disagree: {difference} (scale {scale})"
        );
        group.bench_function(format!("conv_weight_grad/{label}"), |b| {
            b.iter(|| {
                first_value(conv2d_weight_backward(
                    x.clone(),
                    weight.clone(),
                    grad.clone(),
                    conv_options(),
                ))
            });
        });
        group.bench_function(format!("conv_weight_grad_im2col/{label}"), |b| {
            b.iter(|| first_value(weight_grad_im2col(&x, &grad)));
        });
        let n_hw = shape.batch * shape.side * shape.side;
        let a = gaussian_noise([shape.channels, n_hw], &mut rng, &device).expect("a");
        let bm = gaussian_noise([n_hw, shape.channels * 9], &mut rng, &device).expect("b");
        group.bench_function(format!("matmul/{label}"), |b| {
            b.iter(|| {
                black_box(a.clone().matmul(bm.clone()).slice([0..1, 0..1]).into_scalar::<f32>())
            });
        });
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let device = Device::flex();
    let mut rng = seeded_rng(12);
    let dims = [16, 32, 32, 32];
    let x = gaussian_noise(dims, &mut rng, &device).expect("x");
    let y = gaussian_noise(dims, &mut rng, &device).expect("y");
    let norm = GroupNormConfig::new(8, 32).init(&device);
    let elements: u64 = dims.iter().product::<usize>() as u64;
    let mut group = c.benchmark_group("train_ops");
    group.throughput(Throughput::Elements(elements));
    group.bench_function("group_norm/16x32x32x32", |b| {
        b.iter(|| first_value(norm.forward(x.clone())));
    });
    group.bench_function("silu/16x32x32x32", |b| b.iter(|| first_value(silu(x.clone()))));
    group.bench_function("add/16x32x32x32", |b| b.iter(|| first_value(x.clone().add(y.clone()))));
    group.finish();
    black_box(norm.num_params());
}

criterion_group! {
    name = train_ops;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = convolutions, elementwise
}
criterion_main!(train_ops);

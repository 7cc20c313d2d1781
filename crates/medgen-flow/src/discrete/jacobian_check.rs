//! Test helpers: brute-force Jacobians by autodiff, column by column, and their
//! log-determinants on the host in f64.

use burn::tensor::{Device, Tensor, TensorData};

use super::layer::FlowLayer;

/// Host values of a tensor as f64.
pub(crate) fn host<const D: usize>(x: Tensor<D>) -> Vec<f64> {
    x.try_into_vec_as::<f32>().expect("readable tensor").into_iter().map(f64::from).collect()
}

/// `log |det A|` of a row-major `n × n` matrix by LU with partial pivoting.
pub(crate) fn log_abs_det(mut a: Vec<f64>, n: usize) -> f64 {
    let mut total = 0.0;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .expect("non-empty");
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
        }
        let p = a[col * n + col];
        total += p.abs().ln();
        for row in col + 1..n {
            let factor = a[row * n + col] / p;
            for k in col..n {
                a[row * n + k] -= factor * a[col * n + k];
            }
        }
    }
    total
}

/// Per-item Jacobians `∂f(x)_i/∂x_j` of a map applied item-wise to `x` (`[N, …]` with `d`
/// values per item), by one backward pass per output coordinate; `x` lives on an autodiff
/// device. Returns `N` row-major `d × d` matrices.
pub(crate) fn jacobians<const D: usize>(
    f: impl Fn(Tensor<D>) -> Tensor<D>,
    x: &Tensor<D>,
) -> Vec<Vec<f64>> {
    let dims = x.dims();
    let n = dims[0];
    let d: usize = dims[1..].iter().product();
    let mut out = vec![vec![0.0; d * d]; n];
    for row in 0..d {
        let input = x.clone().detach().require_grad();
        let y = f(input.clone()).reshape([n, d]);
        let grads = y.narrow(1, row, 1).sum().backward();
        let g = host(input.grad(&grads).expect("gradient").reshape([n, d]));
        for (item, jac) in out.iter_mut().enumerate() {
            jac[row * d..(row + 1) * d].copy_from_slice(&g[item * d..(item + 1) * d]);
        }
    }
    out
}

/// Checks that `layer.forward`'s log-determinant matches the brute-force Jacobian to `tol`
/// and that `inverse ∘ forward` is the identity to `1e-5` (scaled by the magnitude of `x`),
/// with inverse log-determinant `= −forward`.
pub(crate) fn check_layer<const D: usize, L: FlowLayer<D>>(layer: &L, x: Tensor<D>, tol: f64) {
    let (y, log_det) = layer.forward(x.clone()).expect("forward");
    let (back, inv_log_det) = layer.inverse(y.clone()).expect("inverse");
    let (xs, backs) = (host(x.clone()), host(back));
    let scale = xs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (a, b) in xs.iter().zip(&backs) {
        assert!((a - b).abs() <= 1e-5 * scale, "round trip {a} vs {b}");
    }
    let (fwd, inv) = (host(log_det), host(inv_log_det));
    for (a, b) in fwd.iter().zip(&inv) {
        assert!((a + b).abs() < 1e-4, "inverse log-det {b} vs forward {a}");
    }
    let n = x.dims()[0];
    let d = x.dims()[1..].iter().product();
    let jac = jacobians(|h| layer.forward(h).expect("forward").0, &x);
    for item in 0..n {
        let brute = log_abs_det(jac[item].clone(), d);
        assert!(
            (brute - fwd[item]).abs() < tol,
            "item {item}: log|det J| {} vs brute force {brute}",
            fwd[item]
        );
    }
}

/// A deterministic, non-trivial input `[shape]` on `device` (values in about `[−2, 2]`).
pub(crate) fn test_input<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    let count: usize = shape.iter().product();
    let values: Vec<f32> =
        (0..count).map(|i| ((i as f32 * 0.7297).sin() * 1.9) + 0.05 * (i % 3) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The test device with autodiff (for brute-force Jacobians).
pub(crate) fn autodiff_device() -> Device {
    medgen_testing::test_device().autodiff()
}

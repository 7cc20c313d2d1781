//! Separable filtering over the valid region ("valid" convolution) of row-major arrays.

/// Filters `input` (row-major, `shape`) with the 1-D kernel `weights` along every axis,
/// keeping only the outputs whose window lies inside the array: each axis of length `n`
/// shrinks to `n − k + 1`. Returns the filtered values and their shape.
///
/// `out[i] = Σ_{t_0..t_r} w_{t_0} ⋯ w_{t_r} · in[i + t]`: exactly what scipy's correlation
/// filters give on the interior, which is all that SSIM keeps after its crop.
/// Callers guarantee `k <= n` on every axis.
pub(crate) fn filter_valid(
    input: &[f64],
    shape: &[usize],
    weights: &[f64],
) -> (Vec<f64>, Vec<usize>) {
    let mut values = input.to_vec();
    let mut shape = shape.to_vec();
    // The last (contiguous) axis first: it shrinks the data before the strided passes.
    for axis in (0..shape.len()).rev() {
        values = filter_axis(&values, &shape, axis, weights);
        shape[axis] -= weights.len() - 1;
    }
    (values, shape)
}

/// One valid 1-D correlation pass along `axis`.
fn filter_axis(input: &[f64], shape: &[usize], axis: usize, weights: &[f64]) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let n = shape[axis];
    let m = n - weights.len() + 1;
    let mut out = vec![0.0; outer * m * inner];
    for (o, block) in out.chunks_exact_mut(m * inner).enumerate() {
        let source = &input[o * n * inner..(o + 1) * n * inner];
        if inner == 1 {
            // Contiguous axis: shift the whole line per tap (vectorises over the line).
            for (t, &w) in weights.iter().enumerate() {
                axpy(block, w, &source[t..t + m]);
            }
        } else {
            // Strided axis: one output line at a time, so it stays in cache across taps.
            for (i, line) in block.chunks_exact_mut(inner).enumerate() {
                for (t, &w) in weights.iter().enumerate() {
                    axpy(line, w, &source[(i + t) * inner..(i + t + 1) * inner]);
                }
            }
        }
    }
    out
}

/// `y += w · x` element-wise.
pub(crate) fn axpy(y: &mut [f64], w: f64, x: &[f64]) {
    for (a, b) in y.iter_mut().zip(x) {
        *a += w * b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_two_dimensional_correlation() {
        let shape = [4, 5];
        let input: Vec<f64> = (0..20).map(|i| ((i * 7) % 5) as f64 + 0.1 * i as f64).collect();
        let w = [0.2, 0.5, 0.3];
        let (out, out_shape) = filter_valid(&input, &shape, &w);
        assert_eq!(out_shape, vec![2, 3]);
        for i in 0..2 {
            for j in 0..3 {
                let mut expected = 0.0;
                for a in 0..3 {
                    for b in 0..3 {
                        expected += w[a] * w[b] * input[(i + a) * 5 + j + b];
                    }
                }
                assert!((out[i * 3 + j] - expected).abs() < 1e-12);
            }
        }
    }
}

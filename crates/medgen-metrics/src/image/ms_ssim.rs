//! Multi-scale structural similarity (MS-SSIM).

use medgen_core::CoreError;

use super::pair::{check_pair, check_shape};
use super::ssim::{SsimConfig, ssim_parts_unchecked};
use crate::error::Result;

/// The weights of the five scales of Wang, Simoncelli & Bovik (2003).
pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/// Multi-scale SSIM of `a` and `b` (row-major, `shape` = `[H, W]` or `[D, H, W]`) over the
/// five scales of [`MS_SSIM_WEIGHTS`] `w`:
///
/// `MS-SSIM = Π_{j<5} max(cs_j, 0)^{w_j} · max(SSIM_5, 0)^{w_5}`,
///
/// with `cs_j` the mean contrast-structure term and `SSIM_5` the mean [`ssim`](crate::ssim)
/// at scale `j`, each computed with `config` on the interior of that scale (as
/// [`ssim`](crate::ssim)); between scales the images are averaged over `2 × 2` (`2 × 2 × 2`)
/// blocks, dropping an odd last row (as `avg_pool` without padding). Negative terms are
/// clamped to 0 as pytorch-msssim does.
///
/// # Errors
/// As [`ssim`](crate::ssim), and [`CoreError::InvalidConfig`] if the coarsest scale
/// (every side divided by 16) is smaller than the window.
pub fn ms_ssim(a: &[f64], b: &[f64], shape: &[usize], config: &SsimConfig) -> Result<f64> {
    check_pair(a, b)?;
    check_shape(shape, a.len())?;
    let kernel = config.kernel()?;
    let levels = MS_SSIM_WEIGHTS.len();
    let coarsest = shape.iter().map(|s| s >> (levels - 1)).min().unwrap_or(0);
    if coarsest < kernel.len() {
        return Err(CoreError::config(
            "window",
            format!(
                "MS-SSIM needs every side >= {} (the {}-sample window at 1/16 scale), got {shape:?}",
                kernel.len() << (levels - 1),
                kernel.len()
            ),
        )
        .into());
    }
    let (mut x, mut y, mut dims) = (a.to_vec(), b.to_vec(), shape.to_vec());
    let mut result = 1.0;
    for (level, weight) in MS_SSIM_WEIGHTS.iter().enumerate() {
        let parts = ssim_parts_unchecked(&x, &y, &dims, &kernel, config);
        let term = if level + 1 == levels { parts.ssim } else { parts.contrast_structure };
        result *= term.max(0.0).powf(*weight);
        if level + 1 < levels {
            let (next, next_dims) = downsample(&x, &dims);
            x = next;
            y = downsample(&y, &dims).0;
            dims = next_dims;
        }
    }
    Ok(result)
}

/// Averages `values` (row-major, `shape`) over non-overlapping blocks of 2 along every axis,
/// dropping a trailing odd sample: one pairwise-averaging pass per axis.
fn downsample(values: &[f64], shape: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let mut values = values.to_vec();
    let mut shape = shape.to_vec();
    for axis in 0..shape.len() {
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let (n, m) = (shape[axis], shape[axis] / 2);
        let mut out = Vec::with_capacity(outer * m * inner);
        for block in values.chunks_exact(n * inner) {
            for pair in block[..2 * m * inner].chunks_exact(2 * inner) {
                let (even, odd) = pair.split_at(inner);
                out.extend(even.iter().zip(odd).map(|(x, y)| 0.5 * (x + y)));
            }
        }
        values = out;
        shape[axis] = m;
    }
    (values, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ssim::ssim;

    #[test]
    fn downsample_averages_blocks() {
        let values: Vec<f64> = (0..15).map(f64::from).collect();
        let (out, shape) = downsample(&values, &[3, 5]);
        assert_eq!(shape, vec![1, 2]);
        assert_eq!(out, vec![(0.0 + 1.0 + 5.0 + 6.0) / 4.0, (2.0 + 3.0 + 7.0 + 8.0) / 4.0]);
    }

    #[test]
    fn equals_the_product_of_single_scale_terms() {
        // Uniform 3-tap window: the coarsest of 5 scales of 48 × 48 is 3 × 3.
        let config = SsimConfig::uniform(1.0).with_win_size(3);
        let n = 48;
        let a: Vec<f64> = (0..n * n).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
        let b: Vec<f64> =
            a.iter().enumerate().map(|(i, v)| 0.8 * v + 0.1 * ((i % 7) as f64 / 7.0)).collect();
        let value = ms_ssim(&a, &b, &[n, n], &config).unwrap();
        assert!((ms_ssim(&a, &a, &[n, n], &config).unwrap() - 1.0).abs() < 1e-12);
        // Recompute independently: SSIM at the coarsest scale and cs from the definition.
        let (mut x, mut y, mut dims) = (a.clone(), b.clone(), vec![n, n]);
        let mut expected = 1.0;
        for (level, w) in MS_SSIM_WEIGHTS.iter().enumerate() {
            if level == 4 {
                expected *= ssim(&x, &y, &dims, &config).unwrap().max(0.0).powf(*w);
            } else {
                let parts = crate::image::ssim::ssim_parts(&x, &y, &dims, &config).unwrap();
                expected *= parts.contrast_structure.max(0.0).powf(*w);
                let next = downsample(&x, &dims);
                y = downsample(&y, &dims).0;
                x = next.0;
                dims = next.1;
            }
        }
        assert!((value - expected).abs() < 1e-12);
        assert!(value < 1.0 && value > 0.0);
        assert!(ms_ssim(&a[..40 * 40], &b[..40 * 40], &[40, 40], &config).is_err());
    }
}

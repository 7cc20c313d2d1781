//! Squeeze (space-to-depth) and the channel split of multi-scale flows.

use burn::tensor::Tensor;

use super::layer::FlowLayer;
use crate::error::{FlowError, Result};

/// Space-to-depth by a factor 2 (RealNVP's squeeze): `[N, C, H, W] → [N, 4C, H/2, W/2]`,
///
/// ```text
/// y[n, 4c + 2a + b, i, j] = x[n, c, 2i + a, 2j + b]      (a, b ∈ {0, 1})
/// ```
///
/// a permutation of the entries, so `log|det J| = 0`. The inverse is depth-to-space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Squeeze;

impl Squeeze {
    /// Checks that `H` and `W` are even and the batch is non-empty.
    fn check(x: &Tensor<4>) -> Result<()> {
        let [n, c, h, w] = x.dims();
        medgen_core::check::ensure_non_empty(&[n, c, h, w], "squeeze input")?;
        for (what, size) in [("squeeze input height", h), ("squeeze input width", w)] {
            if !size.is_multiple_of(2) {
                return Err(FlowError::IndivisibleSize { what: what.into(), size, factor: 2 });
            }
        }
        Ok(())
    }

    /// The inverse shape check: channels divisible by 4.
    fn check_inverse(y: &Tensor<4>) -> Result<()> {
        let dims = y.dims();
        medgen_core::check::ensure_non_empty(&dims, "unsqueeze input")?;
        if !dims[1].is_multiple_of(4) {
            return Err(FlowError::IndivisibleSize {
                what: "unsqueeze input channels".into(),
                size: dims[1],
                factor: 4,
            });
        }
        Ok(())
    }
}

impl FlowLayer<4> for Squeeze {
    fn forward(&self, x: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        Self::check(&x)?;
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let y = x.reshape([n, c, h / 2, 2, w / 2, 2]).permute([0, 1, 3, 5, 2, 4]).reshape([
            n,
            4 * c,
            h / 2,
            w / 2,
        ]);
        Ok((y, Tensor::zeros([n], &device)))
    }

    fn inverse(&self, y: Tensor<4>) -> Result<(Tensor<4>, Tensor<1>)> {
        Self::check_inverse(&y)?;
        let [n, c4, h, w] = y.dims();
        let device = y.device();
        let x = y.reshape([n, c4 / 4, 2, 2, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([
            n,
            c4 / 4,
            2 * h,
            2 * w,
        ]);
        Ok((x, Tensor::zeros([n], &device)))
    }
}

/// Glow's multi-scale split along channels: `[N, C, H, W] → ([N, ⌈C/2⌉, H, W], [N, ⌊C/2⌋, H, W])`;
/// the second part is factored out to the base density.
///
/// # Errors
/// `C < 2` (nothing would be left to factor out).
pub fn split_channels(x: Tensor<4>) -> Result<(Tensor<4>, Tensor<4>)> {
    let c = x.dims()[1];
    if c < 2 {
        return Err(FlowError::IndivisibleSize {
            what: "channels to split".into(),
            size: c,
            factor: 2,
        });
    }
    let keep = c - c / 2;
    Ok((x.clone().narrow(1, 0, keep), x.narrow(1, keep, c / 2)))
}

/// The inverse of [`split_channels`]: concatenation along channels.
///
/// Fails with [`medgen_core::CoreError::ShapeMismatch`] naming `factored` unless both
/// halves share batch size and spatial size.
pub fn merge_channels(kept: Tensor<4>, factored: Tensor<4>) -> Result<Tensor<4>> {
    let ([n, _, h, w], [fn_, fc, fh, fw]) = (kept.dims(), factored.dims());
    if (fn_, fh, fw) != (n, h, w) {
        return Err(medgen_core::CoreError::shape(
            "factored",
            format!("[{n}, C, {h}, {w}] like the kept half"),
            &[fn_, fc, fh, fw],
        )
        .into());
    }
    Ok(Tensor::cat(vec![kept, factored], 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discrete::jacobian_check::{autodiff_device, check_layer, host, test_input};

    #[test]
    fn squeeze_moves_each_pixel_to_its_documented_place() {
        let device = autodiff_device();
        let x = test_input([1, 2, 4, 6], &device);
        let xs = host(x.clone());
        let y = host(Squeeze.forward(x.clone()).unwrap().0);
        for c in 0..2 {
            for a in 0..2 {
                for b in 0..2 {
                    for i in 0..2 {
                        for j in 0..3 {
                            let src = (c * 4 + 2 * i + a) * 6 + 2 * j + b;
                            let dst = ((4 * c + 2 * a + b) * 2 + i) * 3 + j;
                            assert_eq!(y[dst], xs[src]);
                        }
                    }
                }
            }
        }
        check_layer(&Squeeze, x, 1e-5);
    }

    #[test]
    fn odd_sizes_and_tiny_splits_are_typed_errors() {
        let device = autodiff_device();
        assert!(matches!(
            Squeeze.forward(Tensor::zeros([1, 1, 3, 4], &device)),
            Err(FlowError::IndivisibleSize { size: 3, .. })
        ));
        assert!(Squeeze.inverse(Tensor::zeros([1, 3, 2, 2], &device)).is_err());
        assert!(split_channels(Tensor::zeros([1, 1, 2, 2], &device)).is_err());
        let (kept, out) = split_channels(Tensor::zeros([1, 5, 2, 2], &device)).unwrap();
        assert_eq!((kept.dims()[1], out.dims()[1]), (3, 2));
    }
}

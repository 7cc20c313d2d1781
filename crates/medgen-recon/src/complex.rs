//! Complex images as two channels: `[N, 2, *S]`, channel 0 the real part, channel 1 the
//! imaginary part (fastMRI's trailing complex axis, moved to the channel axis so complex
//! images are ordinary image tensors for the networks).

use burn::tensor::Tensor;
use medgen_core::CoreError;

use crate::error::Result;

/// Checks that `x` is `[N, 2, *spatial]` with `N ≥ 1`, naming `what` otherwise.
pub(crate) fn check_complex<const D: usize>(
    x: &Tensor<D>,
    spatial: &[usize],
    what: &str,
) -> Result<()> {
    let dims = x.dims();
    let mut expected = vec![dims[0].max(1), 2];
    expected.extend_from_slice(spatial);
    if dims.len() != expected.len() || dims[0] == 0 || dims[1..] != expected[1..] {
        return Err(CoreError::ShapeMismatch {
            what: what.to_string(),
            expected: format_shape(&expected),
            got: dims.to_vec(),
        }
        .into());
    }
    Ok(())
}

/// `[N, C, *S]` written with `N` for the free batch size.
pub(crate) fn format_shape(expected: &[usize]) -> String {
    let rest: Vec<String> = expected[1..].iter().map(ToString::to_string).collect();
    format!("[N, {}]", rest.join(", "))
}

/// The real and imaginary channels of `[N, 2, *S]` as two `[N, 1, *S]` tensors.
pub fn split<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    (x.clone().narrow(1, 0, 1), x.narrow(1, 1, 1))
}

/// `[N, 2, *S]` from real and imaginary parts `[N, 1, *S]`.
pub fn join<const D: usize>(re: Tensor<D>, im: Tensor<D>) -> Tensor<D> {
    Tensor::cat(vec![re, im], 1)
}

/// The complex image `x + 0i` of a real image `[N, 1, *S]`.
pub fn from_real<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let zeros = x.zeros_like();
    join(x, zeros)
}

/// The magnitude `|z| = √(re² + im²)` of `[N, 2, *S]`, as `[N, 1, *S]`.
pub fn magnitude<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    let (re, im) = split(z);
    re.powi_scalar(2).add(im.powi_scalar(2)).sqrt()
}

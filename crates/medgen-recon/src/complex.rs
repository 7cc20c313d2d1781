//! Complex images as two channels: `[N, 2, *S]`, channel 0 the real part, channel 1 the
//! imaginary part (fastMRI's trailing complex axis, moved to the channel axis so complex
//! images are ordinary image tensors for the networks).

use crate::error::Result;
use burn::tensor::Tensor;

/// Checks that `x` is `[N, 2, *spatial]` with `N ≥ 1`, naming `what` otherwise.
pub(crate) fn check_complex<const D: usize>(
    x: &Tensor<D>,
    spatial: &[usize],
    what: &str,
) -> Result<()> {
    let mut per_item = vec![2];
    per_item.extend_from_slice(spatial);
    crate::operator::check_batch_shape(x, &per_item, what)
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

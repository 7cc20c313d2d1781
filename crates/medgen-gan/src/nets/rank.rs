//! Rank and shape checks of network inputs, and the static-rank reinterpretation used to
//! dispatch one design to 2D or 3D Burn layers.

use burn::tensor::Tensor;
use medgen_core::CoreError;
use medgen_core::check::ensure_non_empty;

use crate::error::Result;

/// Reinterprets a tensor whose rank is `R` at run time as a `Tensor<R>` (same shape, no data
/// movement).
///
/// # Panics
/// If `D != R`; callers check the rank first with [`check_image_input`].
pub(crate) fn with_rank<const D: usize, const R: usize>(x: Tensor<D>) -> Tensor<R> {
    assert_eq!(D, R, "tensor rank does not match the layer");
    let shape = x.shape();
    x.reshape(shape)
}

/// Fails with [`CoreError::InvalidConfig`] unless `spatial_dims ∈ {2, 3}`.
pub(crate) fn check_spatial_dims(spatial_dims: usize) -> Result<()> {
    if spatial_dims == 2 || spatial_dims == 3 {
        Ok(())
    } else {
        Err(CoreError::config("spatial_dims", format!("must be 2 or 3, got {spatial_dims}")).into())
    }
}

/// Fails with [`CoreError::InvalidConfig`] if `value` is zero.
pub(crate) fn check_positive(value: usize, name: &str) -> Result<()> {
    if value == 0 { Err(CoreError::config(name, "must be positive").into()) } else { Ok(()) }
}

/// Checks a network input `[N, C, spatial…]`: rank `spatial_dims + 2`, no empty axis,
/// `channels` channels, and every spatial size accepted by `size_ok` (whose requirement
/// `size_rule` is quoted in the error).
pub(crate) fn check_image_input<const D: usize>(
    x: &Tensor<D>,
    spatial_dims: usize,
    channels: usize,
    what: &str,
    size_ok: impl Fn(usize) -> bool,
    size_rule: &str,
) -> Result<()> {
    if D != spatial_dims + 2 {
        return Err(CoreError::InvalidRank {
            what: what.into(),
            expected: spatial_dims + 2,
            got: D,
        }
        .into());
    }
    let dims = x.dims();
    ensure_non_empty(&dims, what)?;
    if dims[1] != channels || !dims[2..].iter().all(|&n| size_ok(n)) {
        return Err(CoreError::shape(
            what,
            format!("[N, {channels}, spatial…] with every spatial size {size_rule}"),
            &dims,
        )
        .into());
    }
    Ok(())
}

/// `[N, C, s, …, s]` of rank `D` (for reshaping a flat projection into a feature map).
pub(crate) fn cube_shape<const D: usize>(batch: usize, channels: usize, side: usize) -> [usize; D] {
    let mut shape = [side; D];
    shape[0] = batch;
    shape[1] = channels;
    shape
}

/// `image_size / 2^halvings`, or [`CoreError::InvalidConfig`] unless `image_size` is a
/// positive multiple of the stride product `2^halvings`.
pub(crate) fn side_after_halvings(image_size: usize, halvings: usize) -> Result<usize> {
    let factor = u32::try_from(halvings)
        .ok()
        .and_then(|h| 1usize.checked_shl(h))
        .filter(|f| *f <= image_size && image_size.is_multiple_of(*f));
    match factor {
        Some(f) => Ok(image_size / f),
        None => Err(CoreError::config(
            "image_size",
            format!("{image_size} is not a positive multiple of the stride product 2^{halvings}"),
        )
        .into()),
    }
}
